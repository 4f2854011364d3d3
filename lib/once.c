/* SPDX-License-Identifier: MIT */
/* once.c — run a function exactly once (Go's sync.Once).
 *
 * The done state is read with one acquire load on the fast path. Callers
 * that find fn running park on the once's queue and are woken, all at once,
 * after fn returned and the done state was published.
 */
#include "internal.h"

#define NEW 0
#define RUNNING 1
#define DONE 2

#define OLOCK(o) ((weft__lock *)&(o)->lock)
#define Q(o) ((struct weft__waitq *)&(o)->head)
#define STATE(o) ((atomic_int *)&(o)->state)

_Static_assert(sizeof(atomic_int) == sizeof(int), "once state layout");

int weft_once_do(weft_once *once, weft_fn fn, void *arg)
{
	if (!once || !fn)
		return -EINVAL;
	if (WEFT__LIKELY(atomic_load_explicit(STATE(once), memory_order_acquire) == DONE))
		return 0;
	weft__lock_acquire(OLOCK(once));
	int st = atomic_load_explicit(STATE(once), memory_order_relaxed);
	if (st == NEW) {
		atomic_store_explicit(STATE(once), RUNNING, memory_order_relaxed);
		weft__lock_release(OLOCK(once));
		fn(arg);
		weft__lock_acquire(OLOCK(once));
		atomic_store_explicit(STATE(once), DONE, memory_order_release);
		struct weft__waiter *w;
		while ((w = weft__waitq_pop(Q(once))))
			weft__waiter_fire(w, 0);
		weft__lock_release(OLOCK(once));
		return 1;
	}
	if (st == DONE) {
		weft__lock_release(OLOCK(once));
		return 0;
	}
	if (!weft__self()) {
		weft__lock_release(OLOCK(once));
		return -EPERM;
	}
	struct weft__waiter w;
	weft__waiter_init(&w);
	weft__waitq_push(Q(once), &w);
	weft__lock_release(OLOCK(once));
	weft__wait(NULL, &w, "once"); /* background ctx: only fn's end wakes us */
	weft__lock_barrier(OLOCK(once));
	return 0;
}
