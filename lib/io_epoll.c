/* SPDX-License-Identifier: MIT */
/* io_epoll.c — weft/io.h's calls under the epoll back end (io.c hands over
 * to these). Same contracts as on the ring:
 *  - sockets, pipes, character devices, eventfds, signalfds...: a
 *    non-blocking attempt (MSG_DONTWAIT, RWF_NOWAIT), and on EAGAIN a wait
 *    for readiness (weft__ep_fd_wait) before the next attempt. As on the
 *    ring, an O_NONBLOCK fd waits too; only MSG_DONTWAIT answers -EAGAIN.
 *  - regular files and directories (open, read, write, fsync, statx): on
 *    the weft_blocking pool, with ctx (weft__blocking_ctx).
 *  - timeouts: the proc's timer heap (weft_sleep).
 * A blocking fd with no per-call non-blocking form (accept on a blocking
 * listener; a pipe read on a kernel without RWF_NOWAIT for pipes) is called
 * once poll says it is ready: a second reader racing for the same data may
 * then block its proc's thread until more comes.
 */
#include <fcntl.h>
#include <liburing.h>
#include <linux/stat.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "epoll.h"
#include "proc.h"

enum fd_kind { FK_FILE, FK_SOCKET, FK_STREAM };

static int fd_kind(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
		return FK_FILE;
	return S_ISSOCK(st.st_mode) ? FK_SOCKET : FK_STREAM;
}

static int neg(ssize_t r)
{
	return r < 0 ? -errno : (int)r;
}

/* Ready for events now (no wait)? */
static bool ready_now(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	return poll(&pfd, 1, 0) == 1;
}

/* ---- readiness: attempt, wait, attempt again ------------------------------ */

enum op { OP_READV, OP_WRITEV, OP_RECVMSG, OP_SENDMSG, OP_ACCEPT, OP_SPLICE };

struct attempt {
	enum op op;
	int fd;
	const struct iovec *iov;
	int iovcnt;
	struct msghdr *msg;
	int flags;
	bool nowait_rw;          /* RWF_NOWAIT works on fd (else: poll, then the plain call) */
	struct sockaddr *addr;   /* accept */
	socklen_t *addrlen;
	int fd_out;              /* splice */
	int64_t off_in, off_out;
	unsigned len;
};

/* One non-blocking try: the result, or -EAGAIN to wait for readiness. */
static int try_once(struct attempt *a)
{
	switch (a->op) {
	case OP_READV:
		if (a->nowait_rw) {
			int r = neg(preadv2(a->fd, a->iov, a->iovcnt, -1, RWF_NOWAIT));
			if (r != -EOPNOTSUPP)
				return r;
			a->nowait_rw = false;
		}
		if (!ready_now(a->fd, POLLIN))
			return -EAGAIN;
		return neg(readv(a->fd, a->iov, a->iovcnt));
	case OP_WRITEV:
		if (a->nowait_rw) {
			int r = neg(pwritev2(a->fd, a->iov, a->iovcnt, -1, RWF_NOWAIT));
			if (r != -EOPNOTSUPP)
				return r;
			a->nowait_rw = false;
		}
		if (!ready_now(a->fd, POLLOUT))
			return -EAGAIN;
		return neg(writev(a->fd, a->iov, a->iovcnt));
	case OP_RECVMSG:
		return neg(recvmsg(a->fd, a->msg, a->flags | MSG_DONTWAIT));
	case OP_SENDMSG:
		return neg(sendmsg(a->fd, a->msg, a->flags | MSG_DONTWAIT | MSG_NOSIGNAL));
	case OP_ACCEPT: {
		int fl = fcntl(a->fd, F_GETFL);
		if (fl < 0)
			return -errno;
		if (!(fl & O_NONBLOCK) && !ready_now(a->fd, POLLIN))
			return -EAGAIN;
		return neg(accept4(a->fd, a->addr, a->addrlen, a->flags | SOCK_CLOEXEC));
	}
	case OP_SPLICE: {
		loff_t oi = a->off_in, oo = a->off_out;
		return neg(splice(a->fd, a->off_in < 0 ? NULL : &oi, a->fd_out, a->off_out < 0 ? NULL : &oo,
				  a->len, (unsigned)a->flags | SPLICE_F_NONBLOCK));
	}
	}
	return -EINVAL;
}

static uint32_t wants(const struct attempt *a)
{
	return a->op == OP_WRITEV || a->op == OP_SENDMSG ? EPOLLOUT : EPOLLIN;
}

static int with_readiness(weft_ctx *ctx, struct attempt *a)
{
	struct weft_proc *p = weft__proc();
	int r = weft_ctx_err(ctx);
	if (r < 0)
		return r;
	STAT_INC(p, io_sub);
	for (;;) {
		r = try_once(a);
		if (r != -EAGAIN && r != -EINTR)
			break;
		if (a->flags & MSG_DONTWAIT && (a->op == OP_RECVMSG || a->op == OP_SENDMSG))
			break; /* the caller asked not to wait: as on the ring */
		int wfd = a->fd;
		uint32_t ev = wants(a);
		if (a->op == OP_SPLICE && ready_now(a->fd, POLLIN)) {
			wfd = a->fd_out; /* the input has data: the output is full */
			ev = EPOLLOUT;
		}
		int w = weft__ep_fd_wait(ctx, wfd, ev);
		if (w < 0) {
			r = w;
			break;
		}
	}
	p = weft__proc();
	STAT_INC(p, io_done);
	return r;
}

/* ---- files: on the blocking pool -------------------------------------- */

struct file_call {
	enum { FC_READV, FC_WRITEV, FC_OPENAT, FC_FSYNC, FC_STATX } op;
	int fd;
	const struct iovec *iov;
	int iovcnt;
	int64_t off;
	const char *path;
	int flags;
	mode_t mode;
	unsigned mask;
	struct statx *stx;
};

static int file_run(void *arg)
{
	struct file_call *c = arg;
	switch (c->op) {
	case FC_READV:
		return neg(c->off < 0 ? readv(c->fd, c->iov, c->iovcnt) : preadv(c->fd, c->iov, c->iovcnt, c->off));
	case FC_WRITEV:
		return neg(c->off < 0 ? writev(c->fd, c->iov, c->iovcnt)
				      : pwritev(c->fd, c->iov, c->iovcnt, c->off));
	case FC_OPENAT:
		return neg(openat(c->fd, c->path, c->flags | O_CLOEXEC, c->mode));
	case FC_FSYNC:
		return neg(c->flags & IORING_FSYNC_DATASYNC ? fdatasync(c->fd) : fsync(c->fd));
	case FC_STATX:
		return neg(statx(c->fd, c->path, c->flags, c->mask, c->stx));
	}
	return -EINVAL;
}

static int file_call(weft_ctx *ctx, struct file_call *c)
{
	struct weft_proc *p = weft__proc();
	STAT_INC(p, io_sub);
	int r = weft__blocking_ctx(ctx, file_run, c);
	p = weft__proc();
	STAT_INC(p, io_done);
	return r;
}

/* ---- the calls ---------------------------------------------------------- */

static int rw(weft_ctx *ctx, bool write, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	int r = weft_ctx_err(ctx);
	if (r < 0)
		return r;
	int k = fd_kind(fd);
	if (k < 0)
		return k;
	if (k == FK_FILE) {
		struct file_call c = { .op = write ? FC_WRITEV : FC_READV, .fd = fd, .iov = iov,
				       .iovcnt = iovcnt, .off = off };
		return file_call(ctx, &c);
	}
	if (k == FK_SOCKET) {
		struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
		struct attempt a = { .op = write ? OP_SENDMSG : OP_RECVMSG, .fd = fd, .msg = &m };
		return with_readiness(ctx, &a);
	}
	struct attempt a = { .op = write ? OP_WRITEV : OP_READV, .fd = fd, .iov = iov, .iovcnt = iovcnt,
			     .nowait_rw = true };
	return with_readiness(ctx, &a);
}

int weft__ep_readv(weft_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	return rw(ctx, false, fd, iov, iovcnt, off);
}

int weft__ep_writev(weft_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	return rw(ctx, true, fd, iov, iovcnt, off);
}

int weft__ep_recvmsg(weft_ctx *ctx, int fd, struct msghdr *msg, int flags)
{
	struct attempt a = { .op = OP_RECVMSG, .fd = fd, .msg = msg, .flags = flags };
	return with_readiness(ctx, &a);
}

int weft__ep_sendmsg(weft_ctx *ctx, int fd, const struct msghdr *msg, int flags)
{
	struct attempt a = { .op = OP_SENDMSG, .fd = fd, .msg = (struct msghdr *)msg, .flags = flags };
	return with_readiness(ctx, &a);
}

int weft__ep_accept(weft_ctx *ctx, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	struct attempt a = { .op = OP_ACCEPT, .fd = fd, .addr = addr, .addrlen = addrlen, .flags = flags };
	return with_readiness(ctx, &a);
}

int weft__ep_splice(weft_ctx *ctx, int fd_in, int64_t off_in, int fd_out, int64_t off_out, unsigned len,
		    unsigned flags)
{
	struct attempt a = { .op = OP_SPLICE, .fd = fd_in, .off_in = off_in, .fd_out = fd_out,
			     .off_out = off_out, .len = len, .flags = (int)flags };
	return with_readiness(ctx, &a);
}

/* A blocking socket connects with O_NONBLOCK set for the call: the wait for
 * the handshake then parks the fiber, not the thread. */
int weft__ep_connect(weft_ctx *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	int r = weft_ctx_err(ctx);
	if (r < 0)
		return r;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	while ((r = neg(connect(fd, addr, addrlen))) == -EAGAIN) {
		/* a Unix socket's listener has a full backlog: try again shortly */
		if ((r = weft_sleep(ctx, WEFT_MSEC)) < 0)
			break;
	}
	if (r == -EINPROGRESS) {
		r = weft__ep_fd_wait(ctx, fd, EPOLLOUT);
		int err = 0;
		socklen_t len = sizeof(err);
		if (r >= 0)
			r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ? -errno : -err;
	}
	if (!(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl);
	return r;
}

int weft__ep_openat(weft_ctx *ctx, int dfd, const char *path, int flags, mode_t mode)
{
	struct file_call c = { .op = FC_OPENAT, .fd = dfd, .path = path, .flags = flags, .mode = mode };
	return file_call(ctx, &c);
}

int weft__ep_fsync(weft_ctx *ctx, int fd, unsigned flags)
{
	struct file_call c = { .op = FC_FSYNC, .fd = fd, .flags = (int)flags };
	return file_call(ctx, &c);
}

int weft__ep_statx(weft_ctx *ctx, int dfd, const char *path, int flags, unsigned mask, struct statx *ret)
{
	struct file_call c = { .op = FC_STATX, .fd = dfd, .path = path, .flags = flags, .mask = mask,
			       .stx = ret };
	return file_call(ctx, &c);
}

int weft__ep_poll(weft_ctx *ctx, int fd, unsigned events)
{
	int r = weft_ctx_err(ctx);
	if (r < 0)
		return r;
	struct pollfd pfd = { .fd = fd, .events = (short)events };
	if (poll(&pfd, 1, 0) == 1)
		return pfd.revents & POLLNVAL ? -EBADF : pfd.revents;
	/* POLLIN... and EPOLLIN... share their values */
	r = weft__ep_fd_wait(ctx, fd, events);
	return r < 0 ? r : (int)((unsigned)r & (events | POLLERR | POLLHUP));
}
