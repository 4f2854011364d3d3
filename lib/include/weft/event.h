/* SPDX-License-Identifier: MIT */
/* weft/event.h — a one-shot event in caller storage (Go's "close(done)").
 *
 * An event starts unset; weft_event_set() sets it once with an int value and
 * wakes every fiber waiting in weft_event_wait(); later waits return at once.
 * It needs no allocation: embed it in a struct or put it on a fiber's stack.
 *
 *   weft_event done;
 *   weft_event_init(&done);
 *   ... hand &done to whoever finishes the work; they call
 *   weft_event_set(&done, 0) ...
 *   int r = weft_event_wait(ctx, &done);
 *
 * Lifetime: the storage must stay valid until every weft_event_wait() on it
 * has returned and no weft_event_set() on it can still begin. Whoever has
 * seen the event set (a wait returned its value, or weft_event_is_set()
 * returned true) knows the setter no longer touches the storage: a fiber
 * waiting on an event on its own stack may return and reuse the stack while
 * the setter goes on waking the others elsewhere. A waiter that gave up (ctx
 * done) and wants to free the storage must first make sure the setter can no
 * longer reach it (typically: the setter calls set under a lock, and the
 * waiter unhooks the event under the same lock).
 */
#ifndef WEFT_EVENT_H
#define WEFT_EVENT_H

#include <stdbool.h>
#include <weft/ctx.h>
#include <weft/sched.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The layout is public only so that an event fits in caller storage; its
 * fields are private. */
typedef struct weft_event {
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
	_Alignas(8) unsigned char opaque_[32];
#else
	unsigned char opaque_[32] __attribute__((aligned(8))); /* C99 has no _Alignas */
#endif
} weft_event;

/* Initialise ev unset. Also resets an event that nobody waits on any more. */
WEFT_EXPORT void weft_event_init(weft_event *ev);

/* Set ev with value (any int; by convention 0 or a negative errno) and wake
 * every waiter. Any thread, fiber or not; never blocks. Returns 1 if this
 * call set the event, 0 if it was already set (the value is then unchanged),
 * -EINVAL for NULL. */
WEFT_EXPORT int weft_event_set(weft_event *ev, int value);

/* Is ev set? Any thread. Writes its value to *ret_value when set and
 * ret_value is not NULL. */
WEFT_EXPORT bool weft_event_is_set(const weft_event *ev, int *ret_value);

/* Park the calling fiber until ev is set; returns the value it was set with.
 * If ctx ends first, returns ctx's error (-ECANCELED or -ETIMEDOUT) and the
 * fiber is no longer registered on ev. NULL ctx: wait for ever.
 * Fiber only (-EPERM elsewhere); -EINVAL for a NULL ev. */
WEFT_EXPORT int weft_event_wait(weft_ctx *ctx, weft_event *ev);

#ifdef __cplusplus
}
#endif
#endif
