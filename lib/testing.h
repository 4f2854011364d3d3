/* SPDX-License-Identifier: MIT */
/* testing.h — knobs for libweft's own tests, outside the public API and ABI.
 * Only the library and its tests (built with -Ilib) include this; programs
 * have no way to set these, and no environment variable does either.
 */
#ifndef WEFT_TESTING_H
#define WEFT_TESTING_H

#include <stdbool.h>
#include <weft/ctx.h>
#include <weft/sched.h>

struct weft__test_opts {
	bool no_msg_ring;   /* cross-proc wake-ups through the eventfd path only */
	bool no_waitid_op;  /* weft_waitid's pidfd fallback, even where the kernel
	                       has IORING_OP_WAITID */
	bool no_epoll_pwait2; /* the epoll back end waits with epoll_wait (milliseconds), as
	                         under a seccomp profile older than epoll_pwait2 */
	/* Called by weft_ctx_unref on a fiber of this scheduler when a cancellable
	 * context's last reference is gone, before it takes its parent's lock to
	 * unlink itself: a test runs the parent's cancel exactly there (a cancel
	 * that took a reference on such a child ran on freed memory). */
	void (*ctx_unref_last)(weft_ctx *c, void *arg);
	void *ctx_unref_arg;
};

/* weft_run with test knobs (t may be NULL). Same contract as weft_run. */
int weft__run_test(weft_fn main_fn, void *arg, const struct weft_opts *opts,
		   const struct weft__test_opts *t);

#endif
