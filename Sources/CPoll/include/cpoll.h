// epoll for the HTTP module's poller: the Glibc Swift module does not export <sys/epoll.h>, and epoll_event is a
// packed struct on x86-64, so Swift sees only these plain-argument wrappers. Each returns what the system call
// returns (-1 with errno set on failure).
#ifndef CPOLL_H
#define CPOLL_H

#include <stdint.h>

enum {
    CPOLL_READABLE = 0x001,  // EPOLLIN
    CPOLL_WRITABLE = 0x004,  // EPOLLOUT
    CPOLL_ERROR = 0x008,     // EPOLLERR
    CPOLL_HANGUP = 0x010,    // EPOLLHUP
};

// epoll_create1(EPOLL_CLOEXEC).
int cpoll_create(void);

// Registers (add != 0) or re-arms (add == 0) fd for one event of interest (CPOLL_READABLE | CPOLL_WRITABLE), with
// EPOLLONESHOT; the event carries token.
int cpoll_arm(int epoll_fd, int fd, uint32_t interest, uint64_t token, int add);

// EPOLL_CTL_DEL.
int cpoll_remove(int epoll_fd, int fd);

// epoll_wait without timeout for at most capacity events (capacity <= 256): token and event bits of each.
int cpoll_wait(int epoll_fd, uint64_t *tokens, uint32_t *events, int capacity);

#endif
