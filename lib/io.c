/* SPDX-License-Identifier: MIT */
/* io.c — fiber-blocking I/O over the running proc's io_uring.
 *
 * An operation lives on the waiting fiber's stack. While it is in flight the
 * fiber's home is the proc whose ring carries it: a context cancellation
 * readies the fiber there, where it can issue the ASYNC_CANCEL on the same
 * ring (single issuer) and wait for the original completion, so buffers are
 * never abandoned to the kernel.
 */
#include <fcntl.h>
#include <linux/stat.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "epoll.h"
#include "proc.h"

struct weft__io_op {
	struct weft__waiter w;
	int res;
	bool done;     /* completion seen (written on the ring's proc) */
	bool wait_cqe; /* the fiber, cancelled, now waits only for the completion */
};

void weft__io_complete(struct weft_proc *p, struct weft__io_op *op, int res)
{
	p->inflight--;
	op->res = res;
	op->done = true;
	if (weft__waiter_claim(&op->w)) {
		struct weft_fiber *f = op->w.fiber;
		if (!f->pinned)
			atomic_store_explicit(&f->home, NULL, memory_order_release);
		weft__waiter_wake(&op->w, res);
	} else if (op->wait_cqe) {
		weft__ready(op->w.fiber);
	}
}

/* Park until the prepared sqe completes or ctx is done (then cancel it). */
static int io_wait(struct weft_proc *p, struct io_uring_sqe *sqe, weft_ctx *ctx)
{
	struct weft__io_op op = { .res = 0 };
	struct weft_fiber *f = p->cur;
	weft__waiter_init(&op.w);
	io_uring_sqe_set_data(sqe, &op);
	p->inflight++;
	if (!f->pinned)
		atomic_store_explicit(&f->home, p, memory_order_release);
	int r = weft__wait(ctx, &op.w, "io");
	if (op.done)
		return op.res;
	/* ctx won; we run on p (our home), the operation is still in the ring */
	sqe = weft__sqe(p);
	io_uring_prep_cancel(sqe, &op, 0);
	io_uring_sqe_set_data64(sqe, WEFT__UD_IGNORE);
	op.wait_cqe = true;
	while (!op.done)
		weft__park("io-cancel");
	if (!f->pinned)
		atomic_store_explicit(&f->home, NULL, memory_order_release);
	return op.res >= 0 ? op.res : r;
}

/* Under the epoll back end the call is io_epoll.c's (call), once we know a
 * fiber makes it. */
#define EPOLL_OR(call)                                   \
	do {                                             \
		struct weft_proc *p_ = weft__proc();     \
		if (!p_ || !p_->cur)                     \
			return -EPERM;                   \
		if (p_->sched->epoll)                    \
			return (call);                   \
	} while (0)

#define IO_BEGIN(ctx)                                    \
	struct weft_proc *p = weft__proc();              \
	if (!p || !p->cur)                               \
		return -EPERM;                           \
	int cerr = weft_ctx_err(ctx);                    \
	if (cerr < 0)                                    \
		return cerr;                             \
	struct io_uring_sqe *sqe = weft__sqe(p)

int weft_read(weft_ctx *ctx, int fd, void *buf, size_t len, int64_t off)
{
	EPOLL_OR(weft__ep_readv(ctx, fd, &(struct iovec){ buf, len }, 1, off));
	IO_BEGIN(ctx);
	io_uring_prep_read(sqe, fd, buf, (unsigned)len, (uint64_t)off);
	return io_wait(p, sqe, ctx);
}

int weft_write(weft_ctx *ctx, int fd, const void *buf, size_t len, int64_t off)
{
	EPOLL_OR(weft__ep_writev(ctx, fd, &(struct iovec){ (void *)buf, len }, 1, off));
	IO_BEGIN(ctx);
	io_uring_prep_write(sqe, fd, buf, (unsigned)len, (uint64_t)off);
	return io_wait(p, sqe, ctx);
}

int weft_readv(weft_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	EPOLL_OR(weft__ep_readv(ctx, fd, iov, iovcnt, off));
	IO_BEGIN(ctx);
	io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
	return io_wait(p, sqe, ctx);
}

int weft_writev(weft_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	EPOLL_OR(weft__ep_writev(ctx, fd, iov, iovcnt, off));
	IO_BEGIN(ctx);
	io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
	return io_wait(p, sqe, ctx);
}

int weft_write_all(weft_ctx *ctx, int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		int r = weft_write(ctx, fd, (const char *)buf + done, len - done, -1);
		if (r < 0)
			return r;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return (int)done;
}

int weft_recv(weft_ctx *ctx, int fd, void *buf, size_t len, int flags)
{
	EPOLL_OR(weft__ep_recvmsg(ctx, fd, &(struct msghdr){ .msg_iov = &(struct iovec){ buf, len }, .msg_iovlen = 1 }, flags));
	IO_BEGIN(ctx);
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	return io_wait(p, sqe, ctx);
}

int weft_send(weft_ctx *ctx, int fd, const void *buf, size_t len, int flags)
{
	EPOLL_OR(weft__ep_sendmsg(ctx, fd, &(struct msghdr){ .msg_iov = &(struct iovec){ (void *)buf, len }, .msg_iovlen = 1 }, flags));
	IO_BEGIN(ctx);
	io_uring_prep_send(sqe, fd, buf, len, flags | MSG_NOSIGNAL);
	return io_wait(p, sqe, ctx);
}

int weft_sendmsg(weft_ctx *ctx, int fd, const struct msghdr *msg, int flags)
{
	EPOLL_OR(weft__ep_sendmsg(ctx, fd, msg, flags));
	IO_BEGIN(ctx);
	io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags | MSG_NOSIGNAL);
	return io_wait(p, sqe, ctx);
}

int weft_recvmsg(weft_ctx *ctx, int fd, struct msghdr *msg, int flags)
{
	EPOLL_OR(weft__ep_recvmsg(ctx, fd, msg, flags));
	IO_BEGIN(ctx);
	io_uring_prep_recvmsg(sqe, fd, msg, (unsigned)flags);
	return io_wait(p, sqe, ctx);
}

int weft_accept(weft_ctx *ctx, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	EPOLL_OR(weft__ep_accept(ctx, fd, addr, addrlen, flags));
	IO_BEGIN(ctx);
	io_uring_prep_accept(sqe, fd, addr, addrlen, flags | SOCK_CLOEXEC);
	return io_wait(p, sqe, ctx);
}

int weft_connect(weft_ctx *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	EPOLL_OR(weft__ep_connect(ctx, fd, addr, addrlen));
	IO_BEGIN(ctx);
	io_uring_prep_connect(sqe, fd, addr, addrlen);
	return io_wait(p, sqe, ctx);
}

int weft_openat(weft_ctx *ctx, int dfd, const char *path, int flags, mode_t mode)
{
	EPOLL_OR(weft__ep_openat(ctx, dfd, path, flags, mode));
	IO_BEGIN(ctx);
	io_uring_prep_openat(sqe, dfd, path, flags | O_CLOEXEC, mode);
	return io_wait(p, sqe, ctx);
}

int weft_close(weft_ctx *ctx, int fd)
{
	EPOLL_OR(weft_ctx_err(ctx) < 0 ? weft_ctx_err(ctx) : close(fd) < 0 ? -errno : 0);
	IO_BEGIN(ctx);
	io_uring_prep_close(sqe, fd);
	return io_wait(p, sqe, NULL); /* a close is never left half done */
}

int weft_fsync(weft_ctx *ctx, int fd, unsigned flags)
{
	EPOLL_OR(weft__ep_fsync(ctx, fd, flags));
	IO_BEGIN(ctx);
	io_uring_prep_fsync(sqe, fd, flags);
	return io_wait(p, sqe, ctx);
}

int weft_poll(weft_ctx *ctx, int fd, unsigned events)
{
	EPOLL_OR(weft__ep_poll(ctx, fd, events));
	IO_BEGIN(ctx);
	io_uring_prep_poll_add(sqe, fd, events);
	return io_wait(p, sqe, ctx);
}

int weft_splice(weft_ctx *ctx, int fd_in, int64_t off_in, int fd_out, int64_t off_out, unsigned len,
		unsigned flags)
{
	EPOLL_OR(weft__ep_splice(ctx, fd_in, off_in, fd_out, off_out, len, flags));
	IO_BEGIN(ctx);
	io_uring_prep_splice(sqe, fd_in, off_in, fd_out, off_out, len, flags);
	return io_wait(p, sqe, ctx);
}

int weft_statx(weft_ctx *ctx, int dfd, const char *path, int flags, unsigned mask, struct statx *ret)
{
	EPOLL_OR(weft__ep_statx(ctx, dfd, path, flags, mask, ret));
	IO_BEGIN(ctx);
	io_uring_prep_statx(sqe, dfd, path, flags, mask, ret);
	return io_wait(p, sqe, ctx);
}

int weft_nop(weft_ctx *ctx)
{
	EPOLL_OR(weft_ctx_err(ctx) < 0 ? weft_ctx_err(ctx) : weft_yield());
	IO_BEGIN(ctx);
	io_uring_prep_nop(sqe);
	return io_wait(p, sqe, ctx);
}

int weft_io_timeout(weft_ctx *ctx, int64_t ns)
{
	EPOLL_OR(weft_sleep(ctx, ns));
	IO_BEGIN(ctx);
	struct __kernel_timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	int r = io_wait(p, sqe, ctx);
	return r == -ETIME ? 0 : r;
}

#define WEFT__OP_WAITID 50 /* kernel 6.7; not in liburing 2.3 */

static bool have_waitid(void)
{
	struct weft_proc *p = weft__proc();
	return p && p->sched->feat.waitid;
}

int weft_waitid(weft_ctx *ctx, idtype_t idtype, id_t id, siginfo_t *info, int options)
{
	if (!weft__self())
		return -EPERM;
	if (have_waitid()) {
		IO_BEGIN(ctx);
		io_uring_prep_rw(WEFT__OP_WAITID, sqe, (int)id, NULL, (unsigned)idtype, 0);
		sqe->file_index = (unsigned)options;
		sqe->addr2 = (uint64_t)(uintptr_t)info;
		return io_wait(p, sqe, ctx);
	}
	/* older kernels: wait for the pidfd to become readable, then reap without blocking */
	int pidfd = idtype == P_PIDFD ? (int)id : (int)syscall(SYS_pidfd_open, (pid_t)id, 0);
	if (pidfd < 0)
		return -errno;
	int r = (options & WNOHANG) ? 0 : weft_poll(ctx, pidfd, POLLIN);
	if (r >= 0)
		r = waitid(P_PIDFD, (id_t)pidfd, info, options | WNOHANG) < 0 ? -errno : 0;
	if (idtype != P_PIDFD)
		close(pidfd);
	return r;
}
