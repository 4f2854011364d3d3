/* SPDX-License-Identifier: MIT */
/* event.c — one-shot events (weft/event.h).
 *
 * One word is both the lock and the state: UNSET (unlocked), LOCKED, SET.
 * The setter locks, writes the value, fires every queued waiter and then
 * publishes SET with a single release store, its last access to the event.
 * So a fiber that sees SET (the fast path, weft_event_is_set, or a woken
 * wait) knows the setter is done with the storage and may free it at once;
 * and once SET, the queue is empty for good and nobody takes the lock again.
 */
#include <string.h>

#include "internal.h"

enum { UNSET, LOCKED, SET };

/* may_alias: the storage is an unsigned char array in the caller's struct */
struct __attribute__((may_alias)) event {
	atomic_int state;              /* UNSET, LOCKED or SET (final) */
	int value;                     /* written while LOCKED, read once SET */
	struct weft__waitq q;          /* parked waiters, guarded by LOCKED */
};
_Static_assert(sizeof(struct event) <= sizeof(weft_event), "weft_event too small");
_Static_assert(_Alignof(struct event) <= _Alignof(weft_event), "weft_event misaligned");

#define EV(ev) ((struct event *)(ev))

/* Lock e unless it is set. Returns true when locked, false when SET. */
static bool lock_unset(struct event *e)
{
	for (;;) {
		int exp = UNSET;
		if (atomic_compare_exchange_weak_explicit(&e->state, &exp, LOCKED, memory_order_acquire,
							  memory_order_acquire))
			return true;
		if (exp == SET)
			return false;
		weft__cpu_relax();
	}
}

static void unlock(struct event *e, int state)
{
	atomic_store_explicit(&e->state, state, memory_order_release);
}

void weft_event_init(weft_event *ev)
{
	if (ev)
		memset(ev, 0, sizeof(*ev));
}

int weft_event_set(weft_event *ev, int value)
{
	if (!ev)
		return -EINVAL;
	struct event *e = EV(ev);
	if (!lock_unset(e))
		return 0;
	e->value = value;
	struct weft__waiter *w;
	while ((w = weft__waitq_pop(&e->q)))
		weft__waiter_fire(w, value); /* loses only to the waiter's ctx */
	unlock(e, SET); /* the last touch: waiters may free e from here on */
	return 1;
}

bool weft_event_is_set(const weft_event *ev, int *ret_value)
{
	if (!ev)
		return false;
	struct event *e = EV(ev);
	if (atomic_load_explicit(&e->state, memory_order_acquire) != SET)
		return false;
	if (ret_value)
		*ret_value = e->value;
	return true;
}

int weft_event_wait(weft_ctx *ctx, weft_event *ev)
{
	if (!ev)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	struct event *e = EV(ev);
	if (atomic_load_explicit(&e->state, memory_order_acquire) == SET)
		return e->value;
	struct weft__waiter w;
	weft__waiter_init(&w);
	if (!lock_unset(e))
		return e->value;
	weft__waitq_push(&e->q, &w);
	unlock(e, UNSET);
	int r = weft__wait(ctx, &w, "event");
	/* Unhook, unless set: the setter unhooked every waiter before SET, so
	 * this also waits out a setter still firing the others. */
	if (lock_unset(e)) {
		weft__waitq_remove(&e->q, &w);
		unlock(e, UNSET);
	}
	return r;
}
