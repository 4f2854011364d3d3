/* SPDX-License-Identifier: MIT */
/* cond.c — condition variables on weft_mutex (Go's sync.Cond).
 *
 * A waiter queues itself on the cond before it releases the mutex, so a
 * signal sent after the release (by a fiber that took the mutex, changed the
 * condition and signalled) always finds it. A signal whose target's context
 * already won moves on to the next waiter: no signal is lost to a
 * cancellation.
 */
#include <string.h>

#include "internal.h"

#define CLOCK_(c) ((weft__lock *)&(c)->lock)
#define Q(c) ((struct weft__waitq *)&(c)->head)

void weft_cond_init(weft_cond *c)
{
	memset(c, 0, sizeof(*c));
}

int weft_cond_wait(weft_ctx *ctx, weft_cond *c, weft_mutex *m)
{
	if (!c || !m)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	struct weft__waiter w;
	weft__waiter_init(&w);
	weft__lock_acquire(CLOCK_(c));
	weft__waitq_push(Q(c), &w);
	weft__lock_release(CLOCK_(c));
	int r = weft_mutex_unlock(m);
	if (r < 0) { /* the caller did not hold m: undo, report */
		weft__lock_acquire(CLOCK_(c));
		weft__waitq_remove(Q(c), &w);
		weft__lock_release(CLOCK_(c));
		if (!weft__waiter_claim(&w))
			weft__park("cond"); /* a signal won meanwhile: take its wake-up */
		return r;
	}
	r = weft__wait(ctx, &w, "cond");
	if (r >= 0)
		weft__lock_barrier(CLOCK_(c));
	if (r < 0) {
		weft__lock_acquire(CLOCK_(c));
		weft__waitq_remove(Q(c), &w);
		weft__lock_release(CLOCK_(c));
	}
	weft_mutex_lock(NULL, m); /* cannot fail: background ctx, in a fiber */
	return r;
}

static int wake(weft_cond *c, bool all)
{
	if (!c)
		return -EINVAL;
	int n = 0;
	struct weft__waiter *w;
	weft__lock_acquire(CLOCK_(c));
	while ((w = weft__waitq_pop(Q(c))))
		if (weft__waiter_fire(w, 0) && (++n, !all))
			break;
	weft__lock_release(CLOCK_(c));
	return n;
}

int weft_cond_signal(weft_cond *c)
{
	return wake(c, false);
}

int weft_cond_broadcast(weft_cond *c)
{
	return wake(c, true);
}
