#include "cpoll.h"

#include <sys/epoll.h>

_Static_assert(CPOLL_READABLE == EPOLLIN && CPOLL_WRITABLE == EPOLLOUT && CPOLL_ERROR == EPOLLERR &&
                   CPOLL_HANGUP == EPOLLHUP,
               "event bits");

int cpoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cpoll_arm(int epoll_fd, int fd, uint32_t interest, uint64_t token, int add) {
    struct epoll_event event = {.events = interest | EPOLLONESHOT, .data = {.u64 = token}};
    return epoll_ctl(epoll_fd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event);
}

int cpoll_remove(int epoll_fd, int fd) { return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, 0); }

int cpoll_wait(int epoll_fd, uint64_t *tokens, uint32_t *events, int capacity) {
    struct epoll_event ready[256];
    if (capacity > 256) capacity = 256;
    int count = epoll_wait(epoll_fd, ready, capacity, -1);
    for (int i = 0; i < count; i++) {
        tokens[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}
