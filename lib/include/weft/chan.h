/* SPDX-License-Identifier: MIT */
/* weft/chan.h — channels and select (Go's chan, with errors instead of panics).
 *
 * A channel carries fixed-size elements (copied in and out). cap 0 is a
 * rendezvous: a send completes only when a receiver takes the value. All
 * operations work between fibers on any procs; blocking ones park the fiber
 * and take a context first (NULL = never cancelled).
 *
 * Semantics of the Go spec: send on a closed channel and closing twice return
 * -EPIPE; receiving on a closed channel yields the buffered values, then
 * -EPIPE ("closed and drained", Go's ok == false); closing wakes every blocked
 * receiver and sender; a NULL channel blocks forever (until ctx is done) and
 * its select cases are never chosen.
 *
 * Channels are reference counted: weft_chan_new returns one reference;
 * weft_chan_ref/unref share it between owners.
 */
#ifndef WEFT_CHAN_H
#define WEFT_CHAN_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_chan weft_chan;

/* elem_size 1..65536 bytes; cap 0 = unbuffered. Returns 0, -EINVAL, -ENOMEM. */
WEFT_EXPORT int weft_chan_new(size_t elem_size, size_t cap, weft_chan **ret);
WEFT_EXPORT weft_chan *weft_chan_ref(weft_chan *ch);
/* Drop a reference (NULL ok); returns NULL. Freed at the last one, closed or not. */
WEFT_EXPORT weft_chan *weft_chan_unref(weft_chan *ch);

/* Copy *elem into the channel, parking while it is full (or until a receiver
 * comes, unbuffered). Returns 0, -EPIPE (closed), or ctx's error. Fiber only:
 * outside a fiber it returns -EPERM where it would have to park. */
WEFT_EXPORT int weft_chan_send(weft_ctx *ctx, weft_chan *ch, const void *elem);
/* Take one element into *elem (may be NULL to discard). Returns 0, -EPIPE
 * (closed and drained), or ctx's error. Fiber only. */
WEFT_EXPORT int weft_chan_recv(weft_ctx *ctx, weft_chan *ch, void *elem);
/* Never block: -EAGAIN when the operation would have to wait. Any thread. */
WEFT_EXPORT int weft_chan_try_send(weft_chan *ch, const void *elem);
WEFT_EXPORT int weft_chan_try_recv(weft_chan *ch, void *elem);
/* Close: 0, or -EPIPE if already closed, -EINVAL for NULL. Any thread. */
WEFT_EXPORT int weft_chan_close(weft_chan *ch);
/* Elements buffered now, and the buffer's capacity (0: unbuffered); -EINVAL
 * for NULL. Any thread; len is a snapshot. */
WEFT_EXPORT ssize_t weft_chan_len(weft_chan *ch);
WEFT_EXPORT ssize_t weft_chan_cap(weft_chan *ch);
/* Closed yet? false for NULL. Any thread. */
WEFT_EXPORT bool weft_chan_closed(weft_chan *ch);
/* The element size given to weft_chan_new (0 for NULL), so generic code
 * (the patterns of weft/patterns.h) can size its buffers. */
WEFT_EXPORT size_t weft_chan_elem_size(weft_chan *ch);

/* Receive until the channel is closed and drained, calling fn(elem, arg) for
 * each value (Go's `for v := range ch`). fn returning non-zero stops early
 * with that value. Returns 0 when drained, fn's value, or ctx's error. */
WEFT_EXPORT int weft_chan_range(weft_ctx *ctx, weft_chan *ch, int (*fn)(void *elem, void *arg),
				void *arg, void *elem_buf);

/* ---- select ---- */
enum weft_sel_op { WEFT_SEL_RECV = 0, WEFT_SEL_SEND = 1 };

struct weft_sel {
	weft_chan *ch;        /* NULL: the case is never chosen */
	enum weft_sel_op op;
	void *elem;           /* recv: where to store (may be NULL); send: what to send */
	int res;              /* out, for the chosen case: 0, or -EPIPE (closed) */
};

/* Wait until one case can proceed and perform it; when several can, one is
 * chosen uniformly at random. Returns the chosen index (its .res says 0 or
 * -EPIPE), -EAGAIN when nonblock and none is ready (Go's default case), or
 * ctx's error (ctx's done is the implicit extra case). n <= 64.
 * Fiber only unless nonblock. */
WEFT_EXPORT int weft_select(weft_ctx *ctx, struct weft_sel *cases, size_t n, bool nonblock);

#ifdef __cplusplus
}
#endif
#endif
