#include "CCurlShim.h"

#include <curl/curl.h>
#include <stdlib.h>

// Per-handle data that must outlive the transfer: the header list. Stored in CURLOPT_PRIVATE.
typedef struct {
    struct curl_slist *headers;
} lb_private;

int lb_global_init(void) { return (int)curl_global_init(CURL_GLOBAL_ALL); }

void *lb_easy_new(void) {
    CURL *easy = curl_easy_init();
    if (easy == NULL) return NULL;
    lb_private *private_data = calloc(1, sizeof(lb_private));
    if (private_data == NULL) {
        curl_easy_cleanup(easy);
        return NULL;
    }
    curl_easy_setopt(easy, CURLOPT_PRIVATE, private_data);
    return easy;
}

static void lb_clear_headers(CURL *easy) {
    lb_private *private_data = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&private_data);
    if (private_data != NULL && private_data->headers != NULL) {
        curl_slist_free_all(private_data->headers);
        private_data->headers = NULL;
    }
}

void lb_easy_free(void *easy) {
    if (easy == NULL) return;
    lb_private *private_data = NULL;
    curl_easy_getinfo((CURL *)easy, CURLINFO_PRIVATE, (char **)&private_data);
    lb_clear_headers((CURL *)easy);
    free(private_data);
    curl_easy_cleanup((CURL *)easy);
}

/// The request's header lines as a curl list (*list; NULL for none). Returns 0, or -1 when out of memory (nothing
/// is left allocated then).
static int lb_header_list(const char *const *headers, size_t header_count, struct curl_slist **list) {
    *list = NULL;
    for (size_t i = 0; i < header_count; i++) {
        struct curl_slist *next = curl_slist_append(*list, headers[i]);
        if (next == NULL) {
            curl_slist_free_all(*list);
            *list = NULL;
            return -1;
        }
        *list = next;
    }
    return 0;
}

#define LB_TRY(call)                              \
    do {                                          \
        CURLcode lb_code = (call);                \
        if (lb_code != CURLE_OK) return (int)lb_code; \
    } while (0)

/// What every request sets first: its header list (kept in the handle's private data, freed with the next request
/// or the handle), URL and body sink, and no signals (the handles run on worker threads).
static CURLcode lb_begin(CURL *easy, struct curl_slist *list, const char *url, lb_write_fn write_fn,
                         void *write_context) {
    lb_private *private_data = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&private_data);
    if (private_data != NULL) private_data->headers = list;
    LB_TRY(curl_easy_setopt(easy, CURLOPT_URL, url));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_fn));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_WRITEDATA, write_context));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
    return CURLE_OK;
}

int lb_easy_prepare(void *handle, const char *url, const char *body, size_t body_size, const char *const *headers,
                    size_t header_count, lb_write_fn write_fn, void *write_context, long timeout_ms,
                    long connect_timeout_ms) {
    CURL *easy = (CURL *)handle;
    lb_clear_headers(easy);
    struct curl_slist *list = NULL;
    if (lb_header_list(headers, header_count, &list) != 0) return (int)CURLE_OUT_OF_MEMORY;
    // Suppress curl's "Expect: 100-continue" round trip on larger bodies.
    struct curl_slist *next = curl_slist_append(list, "Expect:");
    if (next != NULL) list = next;
    LB_TRY(lb_begin(easy, list, url, write_fn, write_context));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms));
    if (body != NULL) {
        LB_TRY(curl_easy_setopt(easy, CURLOPT_POST, 1L));
        LB_TRY(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_size));
        LB_TRY(curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body));
    } else {
        LB_TRY(curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L));
    }
    return 0;
}

int lb_easy_perform(void *easy) { return (int)curl_easy_perform((CURL *)easy); }

long lb_easy_status(void *easy) {
    long status = 0;
    curl_easy_getinfo((CURL *)easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

const char *lb_strerror(int code) { return curl_easy_strerror((CURLcode)code); }

int lb_is_timeout(int code) { return code == CURLE_OPERATION_TIMEDOUT; }

void *lb_multi_new(long max_host_connections) {
    CURLM *multi = curl_multi_init();
    if (multi == NULL) return NULL;
    if (max_host_connections > 0) {
        curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
    }
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, max_host_connections > 0 ? max_host_connections : 1024L);
    return multi;
}

void lb_multi_free(void *multi) { curl_multi_cleanup((CURLM *)multi); }

int lb_multi_add(void *multi, void *easy) { return (int)curl_multi_add_handle((CURLM *)multi, (CURL *)easy); }

int lb_multi_remove(void *multi, void *easy) { return (int)curl_multi_remove_handle((CURLM *)multi, (CURL *)easy); }

int lb_multi_perform(void *multi, int *running) { return (int)curl_multi_perform((CURLM *)multi, running); }

int lb_multi_poll(void *multi, int timeout_ms) {
    return (int)curl_multi_poll((CURLM *)multi, NULL, 0, timeout_ms, NULL);
}

void *lb_multi_next_done(void *multi, int *result) {
    int queued = 0;
    CURLMsg *message;
    while ((message = curl_multi_info_read((CURLM *)multi, &queued)) != NULL) {
        if (message->msg == CURLMSG_DONE) {
            *result = (int)message->data.result;
            return message->easy_handle;
        }
    }
    return NULL;
}

int lb_easy_prepare_download(void *handle, const char *url, const char *const *headers, size_t header_count,
                             lb_write_fn write_fn, void *write_context, lb_write_fn header_fn, void *header_context,
                             long long resume_from, int follow_redirects, int head_only, long connect_timeout_ms,
                             long low_speed_bytes, long low_speed_seconds) {
    CURL *easy = (CURL *)handle;
    lb_clear_headers(easy);
    struct curl_slist *list = NULL;
    if (lb_header_list(headers, header_count, &list) != 0) return (int)CURLE_OUT_OF_MEMORY;
    LB_TRY(lb_begin(easy, list, url, write_fn, write_context));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_fn));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_HEADERDATA, header_context));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 0L));  // large files: no overall limit, the low-speed limit instead
    LB_TRY(curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, low_speed_bytes));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, low_speed_seconds));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, follow_redirects ? 1L : 0L));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L));
    LB_TRY(curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, NULL));  // identity: sizes and hashes are of the raw bytes
    LB_TRY(curl_easy_setopt(easy, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)resume_from));
    if (head_only) {
        LB_TRY(curl_easy_setopt(easy, CURLOPT_NOBODY, 1L));
    } else {
        LB_TRY(curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L));
    }
    return 0;
}

int lb_is_write_error(int code) { return code == CURLE_WRITE_ERROR; }
