/* SPDX-License-Identifier: MIT */
/* epoll.h — the readiness-based I/O back end, for where io_uring is forbidden
 * (private to lib/). The scheduler reaches it through ring.c's functions,
 * which hand over to these when sched->epoll; io.c's calls hand over to
 * io_epoll.c.
 *
 * Each proc has an epoll set holding its eventfd (cross-proc wake-ups) and
 * the fds its fibers wait on. A fiber waiting for readiness hangs a
 * weft__ep_wait (on its stack) on its proc's slot for the fd and makes that
 * proc its home until the wait ends, as io.c does for a ring operation: the
 * event (reaped on that proc) or a context cancellation (which readies the
 * fiber there) ends it, and the fiber unhooks itself on that same thread.
 * So the slots need no lock, and no wait outlives its fiber's call.
 *
 * An fd is registered EPOLLONESHOT with the union of what its waiters want,
 * keyed by the fd number (never a pointer: a stale event for a closed fd
 * only makes a waiter retry its call).
 */
#ifndef WEFT_EPOLL_H
#define WEFT_EPOLL_H

#include <sys/socket.h>
#include <sys/uio.h>

#include "internal.h"

struct statx;

struct weft__ep_wait {
	struct weft__waiter w;
	uint32_t events;               /* EPOLLIN, EPOLLOUT... wanted */
	uint32_t revents;              /* what the event said */
	bool linked;                   /* on its slot's list (owned by the proc's thread) */
	struct weft__ep_wait *next;
};

struct weft__ep_slot {
	struct weft__ep_wait *head;    /* this proc's waiters on the fd */
	bool added;                    /* registered in the proc's set, as far as we know */
};

/* Set up p's epoll set and eventfd. 0 or -errno. */
int weft__ep_setup(struct weft_proc *p);
/* Close p's set, free its slots (after every proc has stopped). */
void weft__ep_close(struct weft_proc *p);
/* Collect ready events without waiting (nothing to do if p has no waiter). */
unsigned weft__ep_reap(struct weft_proc *p);
/* Wait in epoll until an event, a wake-up, the next timer or `until`. */
void weft__ep_wait(struct weft_proc *p, int64_t until);

/* Park the calling fiber until fd reports one of events (EPOLLIN...; an error
 * or hang-up always counts) or ctx is done. Returns the events seen, or ctx's
 * error, or -errno (-EBADF...). An fd epoll cannot watch (a regular file) is
 * always ready: returns events at once. Fiber only. */
int weft__ep_fd_wait(weft_ctx *ctx, int fd, uint32_t events);

/* weft/io.h's calls under epoll (io_epoll.c); io.c has checked that a
 * fiber calls them. */
int weft__ep_readv(weft_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, int64_t off);
int weft__ep_writev(weft_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, int64_t off);
int weft__ep_recvmsg(weft_ctx *ctx, int fd, struct msghdr *msg, int flags);
int weft__ep_sendmsg(weft_ctx *ctx, int fd, const struct msghdr *msg, int flags);
int weft__ep_accept(weft_ctx *ctx, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int weft__ep_connect(weft_ctx *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen);
int weft__ep_splice(weft_ctx *ctx, int fd_in, int64_t off_in, int fd_out, int64_t off_out, unsigned len,
		    unsigned flags);
int weft__ep_openat(weft_ctx *ctx, int dfd, const char *path, int flags, mode_t mode);
int weft__ep_fsync(weft_ctx *ctx, int fd, unsigned flags);
int weft__ep_statx(weft_ctx *ctx, int dfd, const char *path, int flags, unsigned mask, struct statx *ret);
int weft__ep_poll(weft_ctx *ctx, int fd, unsigned events);

/* weft_blocking with a context: if ctx ends before a helper thread takes the
 * call, it is dropped and ctx's error returned; once taken it runs to the
 * end and its result is returned if it is >= 0 (a new fd is never lost),
 * else ctx's error. (blocking.c) */
int weft__blocking_ctx(weft_ctx *ctx, weft_blocking_fn fn, void *arg);

#endif
