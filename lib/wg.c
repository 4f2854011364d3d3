/* SPDX-License-Identifier: MIT */
/* wg.c — wait groups. */
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(int) == sizeof(weft__lock), "wg lock layout");
_Static_assert(sizeof(((weft_wg *)0)->head) * 2 == sizeof(struct weft__waitq), "wg queue layout");

#define WG_LOCK(wg) ((weft__lock *)&(wg)->lock)
#define WG_Q(wg) ((struct weft__waitq *)&(wg)->head)
#define COUNT(wg) ((_Atomic long *)&(wg)->count)
_Static_assert(sizeof(_Atomic long) == sizeof(long), "wg count layout");

void weft_wg_init(weft_wg *wg)
{
	memset(wg, 0, sizeof(*wg));
}

/* The counter is changed with a CAS, outside the lock, while it stays above
 * 0: a wait group that thousands of fibers leave at once (weft_ctx_cancel's
 * fan-out) costs one atomic each, not a lock handed between procs. The
 * change that brings it to 0 is made under the lock, with the wake-ups: a
 * waiter reads the counter under the lock, so it has either queued before
 * (and is woken) or sees 0 once the waker is done with the wait group, and
 * may free it at once. */
/* The first CAS goes on a guess rather than a load: under contention
 * (thousands of fibers ending on two procs at once) a load fetches the line
 * shared and the CAS fetches it again to own it, two trips between the cores
 * instead of one; a wrong guess costs a failed CAS on a line it then owns.
 * The guess is the count this proc last left in a wait group: right when one
 * proc counts down alone. Nothing is decided on a guess. */
static bool add_fast(weft_wg *wg, long delta, int *ret)
{
	struct weft_proc *p = weft__proc();
	bool guess = p != NULL;
	long c = guess ? p->wg_hint : atomic_load_explicit(COUNT(wg), memory_order_relaxed);
	for (;;) {
		if (guess && c + delta <= 0) {
			c = atomic_load_explicit(COUNT(wg), memory_order_relaxed);
			guess = false;
		}
		if (c + delta < 0) {
			*ret = -EINVAL;
			return true;
		}
		if (c + delta == 0 && delta)
			return false; /* the last one: under the lock */
		if (atomic_compare_exchange_weak_explicit(COUNT(wg), &c, c + delta, memory_order_acq_rel,
							  memory_order_relaxed)) {
			if (p)
				p->wg_hint = c + delta;
			*ret = 0;
			return true;
		}
		guess = false; /* c is the count now */
	}
}

int weft_wg_add(weft_wg *wg, long delta)
{
	if (!wg)
		return -EINVAL;
	int r;
	if (WEFT__LIKELY(add_fast(wg, delta, &r)))
		return r;
	weft__lock_acquire(WG_LOCK(wg));
	long c = atomic_load_explicit(COUNT(wg), memory_order_relaxed);
	while (c + delta >= 0 &&
	       !atomic_compare_exchange_weak_explicit(COUNT(wg), &c, c + delta, memory_order_acq_rel,
						      memory_order_relaxed))
		;
	r = c + delta < 0 ? -EINVAL : 0;
	if (c + delta == 0) {
		struct weft__waiter *w;
		while ((w = weft__waitq_pop(WG_Q(wg))))
			weft__waiter_fire(w, 0);
	}
	weft__lock_release(WG_LOCK(wg));
	return r;
}

int weft_wg_done(weft_wg *wg)
{
	return weft_wg_add(wg, -1);
}

int weft_wg_wait(weft_ctx *ctx, weft_wg *wg)
{
	if (!wg)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	struct weft__waiter w;
	weft__waiter_init(&w);
	weft__lock_acquire(WG_LOCK(wg));
	if (atomic_load_explicit(COUNT(wg), memory_order_acquire) == 0) {
		weft__lock_release(WG_LOCK(wg));
		return 0;
	}
	weft__waitq_push(WG_Q(wg), &w);
	weft__lock_release(WG_LOCK(wg));
	int r = weft__wait(ctx, &w, "wg");
	/* also when woken: the waker still holds the lock (weft__lock_barrier) */
	weft__lock_acquire(WG_LOCK(wg));
	weft__waitq_remove(WG_Q(wg), &w);
	weft__lock_release(WG_LOCK(wg));
	return r;
}
