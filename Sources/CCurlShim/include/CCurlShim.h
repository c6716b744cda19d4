// Typed, non-variadic wrappers over the libcurl calls ling-bench needs. Swift cannot call the variadic
// curl_easy_setopt/curl_easy_getinfo directly, and keeping every curl type behind `void *` keeps libcurl out of
// BenchClient's public API.
#ifndef CCURLSHIM_H
#define CCURLSHIM_H

#include <stddef.h>

typedef size_t (*lb_write_fn)(char *data, size_t size, size_t count, void *context);

/// Global init (once per process, before any other call). Returns 0 on success.
int lb_global_init(void);

/// A new easy handle, or NULL.
void *lb_easy_new(void);
void lb_easy_free(void *easy);
/// Configures one request. `body` may be NULL for GET; `headers` is an array of `header_count` "Name: value" lines.
/// Returns 0 on success, otherwise the CURLcode of the failing option. The header list is owned by the handle
/// (freed by lb_easy_free); `body` is copied.
int lb_easy_prepare(void *easy, const char *url, const char *body, size_t body_size, const char *const *headers,
                    size_t header_count, lb_write_fn write_fn, void *write_context, long timeout_ms,
                    long connect_timeout_ms);
/// Blocking transfer with the easy interface. Returns the CURLcode.
int lb_easy_perform(void *easy);
/// HTTP status of the finished (or in-progress) transfer, 0 if none.
long lb_easy_status(void *easy);
/// Human-readable text of a CURLcode.
const char *lb_strerror(int code);
/// 1 if the CURLcode is a timeout.
int lb_is_timeout(int code);

void *lb_multi_new(long max_host_connections);
void lb_multi_free(void *multi);
int lb_multi_add(void *multi, void *easy);
int lb_multi_remove(void *multi, void *easy);
/// Drives transfers; stores the number still running. Returns a CURLMcode.
int lb_multi_perform(void *multi, int *running);
/// Waits for activity at most `timeout_ms`. Returns a CURLMcode.
int lb_multi_poll(void *multi, int timeout_ms);
/// Next finished transfer: returns its easy handle and stores its CURLcode, or NULL when none is left.
void *lb_multi_next_done(void *multi, int *result);

/// Configures one download request (HubClient): GET, or HEAD when `head_only`; `header_fn` receives every response
/// header line (of every response when redirects are followed); `resume_from` > 0 sends `Range: bytes=N-`.
/// Transfers slower than `low_speed_bytes` per second for `low_speed_seconds` are aborted (a stalled CDN).
/// Returns 0 or the CURLcode of the failing option.
int lb_easy_prepare_download(void *easy, const char *url, const char *const *headers, size_t header_count,
                             lb_write_fn write_fn, void *write_context, lb_write_fn header_fn, void *header_context,
                             long long resume_from, int follow_redirects, int head_only, long connect_timeout_ms,
                             long low_speed_bytes, long low_speed_seconds);
/// 1 if the CURLcode means the write callback refused the data (a full disk, a cancelled transfer).
int lb_is_write_error(int code);

#endif
