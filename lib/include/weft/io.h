/* SPDX-License-Identifier: MIT */
/* weft/io.h — fiber-blocking I/O on the running proc's io_uring (or, where
 * io_uring is forbidden, its epoll set: see weft_opts.backend in weft/sched.h;
 * the contracts below hold on both, with the differences noted there).
 *
 * Each call prepares one submission on the ring of the proc the fiber runs
 * on and parks the fiber; the scheduler submits all prepared entries once
 * per pass and resumes the fiber when its completion arrives. The result is
 * the operation's (a byte count, a new fd, 0) or a negative errno.
 *
 * Cancellation: when ctx becomes done while the operation is in flight, the
 * operation is cancelled in the kernel (IORING_OP_ASYNC_CANCEL) and the call
 * returns ctx's error (-ECANCELED/-ETIMEDOUT) — unless the operation had
 * already completed, in which case its result is returned. Buffers stay in
 * use until the call returns. All calls are fiber only (-EPERM elsewhere).
 * off = -1 means "the file's current position" for read/write.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

/* idtype_t and siginfo_t (weft_waitid) are POSIX, not ISO C: with -std=c99 or -std=c11
 * glibc hides them unless a feature macro asks. When this header comes before any system
 * header and the program chose none, ask for POSIX.1-2008 here (only in the strict
 * modes: under -std=gnu* glibc's implicit _DEFAULT_SOURCE, which an explicit
 * _POSIX_C_SOURCE would turn off, already has them); when a system header came
 * first, this is too late: weft.pc's Cflags carry -D_DEFAULT_SOURCE for that case (what
 * -std=gnu11 defines anyway), or define _POSIX_C_SOURCE 200809L (or _DEFAULT_SOURCE)
 * yourself. */
#if defined(__STRICT_ANSI__) && !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE) && \
	!defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE) && \
	!defined(_SVID_SOURCE) && !defined(__USE_POSIX)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

struct statx;

WEFT_EXPORT int weft_read(weft_ctx *ctx, int fd, void *buf, size_t len, int64_t off);
WEFT_EXPORT int weft_write(weft_ctx *ctx, int fd, const void *buf, size_t len, int64_t off);
WEFT_EXPORT int weft_readv(weft_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, int64_t off);
WEFT_EXPORT int weft_writev(weft_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, int64_t off);
/* Write all len bytes (looping over short writes); returns len or an error. */
WEFT_EXPORT int weft_write_all(weft_ctx *ctx, int fd, const void *buf, size_t len);

WEFT_EXPORT int weft_recv(weft_ctx *ctx, int fd, void *buf, size_t len, int flags);
WEFT_EXPORT int weft_send(weft_ctx *ctx, int fd, const void *buf, size_t len, int flags);
WEFT_EXPORT int weft_sendmsg(weft_ctx *ctx, int fd, const struct msghdr *msg, int flags);
WEFT_EXPORT int weft_recvmsg(weft_ctx *ctx, int fd, struct msghdr *msg, int flags);
/* Returns the accepted fd (SOCK_CLOEXEC is always added to flags). */
WEFT_EXPORT int weft_accept(weft_ctx *ctx, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
WEFT_EXPORT int weft_connect(weft_ctx *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen);

/* Returns the new fd (O_CLOEXEC is always added). */
WEFT_EXPORT int weft_openat(weft_ctx *ctx, int dfd, const char *path, int flags, mode_t mode);
WEFT_EXPORT int weft_close(weft_ctx *ctx, int fd);
/* flags: 0 or IORING_FSYNC_DATASYNC. */
WEFT_EXPORT int weft_fsync(weft_ctx *ctx, int fd, unsigned flags);
/* Wait until fd is ready for events (POLLIN...); returns the ready mask. */
WEFT_EXPORT int weft_poll(weft_ctx *ctx, int fd, unsigned events);
WEFT_EXPORT int weft_splice(weft_ctx *ctx, int fd_in, int64_t off_in, int fd_out, int64_t off_out,
			    unsigned len, unsigned flags);
WEFT_EXPORT int weft_statx(weft_ctx *ctx, int dfd, const char *path, int flags, unsigned mask,
			   struct statx *ret);
/* A no-op round trip through the ring (benchmarks, tests); under epoll, a yield. */
WEFT_EXPORT int weft_nop(weft_ctx *ctx);
/* An io_uring timeout of ns nanoseconds (under epoll, the proc's timer heap):
 * returns 0 when it expires. */
WEFT_EXPORT int weft_io_timeout(weft_ctx *ctx, int64_t ns);
/* Wait for a child state change like waitid(2) (IORING_OP_WAITID where the
 * kernel has it, else a poll on a pidfd then a non-blocking waitid). */
WEFT_EXPORT int weft_waitid(weft_ctx *ctx, idtype_t idtype, id_t id, siginfo_t *info, int options);

#ifdef __cplusplus
}
#endif
#endif
