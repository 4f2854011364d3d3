/* SPDX-License-Identifier: MIT */
/* wg.c — wait groups. */
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(int) == sizeof(weft__lock), "wg lock layout");
_Static_assert(sizeof(((weft_wg *)0)->head) * 2 == sizeof(struct weft__waitq), "wg queue layout");

#define WG_LOCK(wg) ((weft__lock *)&(wg)->lock)
#define WG_Q(wg) ((struct weft__waitq *)&(wg)->head)

void weft_wg_init(weft_wg *wg)
{
	memset(wg, 0, sizeof(*wg));
}

int weft_wg_add(weft_wg *wg, long delta)
{
	if (!wg)
		return -EINVAL;
	weft__lock_acquire(WG_LOCK(wg));
	if (wg->count + delta < 0) {
		weft__lock_release(WG_LOCK(wg));
		return -EINVAL;
	}
	wg->count += delta;
	if (wg->count == 0) {
		struct weft__waiter *w;
		while ((w = weft__waitq_pop(WG_Q(wg))))
			weft__waiter_fire(w, 0);
	}
	weft__lock_release(WG_LOCK(wg));
	return 0;
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
	if (wg->count == 0) {
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
