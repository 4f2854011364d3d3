/* SPDX-License-Identifier: MIT */
/* mutex.c — fiber-aware mutex with Go's fairness (sync.Mutex).
 *
 * One atomic state word and a spinlock-guarded FIFO of parked waiters:
 *   LOCKED    held
 *   WOKEN     a waiter has been woken and is on its way to retry: unlock
 *             wakes nobody else meanwhile (no thundering herd)
 *   STARVING  unlock hands the mutex to the head waiter, newcomers queue
 *   WAITERS   the queue is not empty (maintained under qlock)
 * Lock and unlock are one CAS when uncontended (state 0 <-> LOCKED). Any
 * other state sends unlock through qlock, and every change of WAITERS or
 * WOKEN by a waiter is made under qlock too, so "the mutex is free but
 * nobody will wake the queue" cannot happen: the waker and the waiter
 * serialise on qlock.
 *
 * A woken waiter retries like a newcomer (barging is what makes a mutex
 * fast); if it loses it goes back to the front of the queue, and once it has
 * waited over 1 ms it sets STARVING. The waiter's first-wait time travels in
 * w->index so that unlock can leave starvation mode when the waiter it hands
 * to did not wait long or was the last one (as Go's waiter does).
 */
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(int) == sizeof(weft__lock), "mutex lock layout");
_Static_assert(sizeof(((weft_mutex *)0)->head) * 2 == sizeof(struct weft__waitq), "mutex queue layout");

#define LOCKED   1u
#define WOKEN    2u
#define STARVING 4u
#define WAITERS  8u

#define R_RETRY   1 /* woken in normal mode: compete again */
#define R_HANDOFF 2 /* starvation mode: the mutex is ours */

#define STARVE_NS (1 * WEFT_MSEC)
#define SPIN_ROUNDS 100
#define SPIN_PAUSES 1

#define QLOCK(m) ((weft__lock *)&(m)->qlock)
#define Q(m) ((struct weft__waitq *)&(m)->head)
#define STATE(m) ((_Atomic unsigned *)&(m)->state)

void weft_mutex_init(weft_mutex *m)
{
	memset(m, 0, sizeof(*m));
}

static inline bool cas(weft_mutex *m, unsigned *s, unsigned n)
{
	return atomic_compare_exchange_weak_explicit(STATE(m), s, n, memory_order_acquire,
						     memory_order_relaxed);
}

int weft_mutex_try_lock(weft_mutex *m)
{
	if (!m)
		return -EINVAL;
	unsigned s = atomic_load_explicit(STATE(m), memory_order_relaxed);
	while (!(s & (LOCKED | STARVING)))
		if (cas(m, &s, s | LOCKED))
			return 0;
	return -EBUSY;
}

static void push_front(struct weft__waitq *q, struct weft__waiter *w)
{
	w->prev = NULL;
	w->next = q->head;
	if (q->head)
		q->head->prev = w;
	else
		q->tail = w;
	q->head = w;
	w->linked = true;
}

/* Spinning only pays when the holder can be running on another proc, and
 * only while nobody is queued in starvation mode. Each round looks first and
 * pauses after: the mutex is free only for the moment between its holder's
 * unlock and its next lock, and a pause before the first look (~40 ns on
 * recent x86) lets that moment pass (mutex_contended_ns 15-20% lower). */
static bool spin_acquire(weft_mutex *m)
{
	struct weft_proc *p = weft__proc();
	if (!p || p->sched->nprocs < 2)
		return false;
	for (int i = 0; i < SPIN_ROUNDS; i++) {
		unsigned s = atomic_load_explicit(STATE(m), memory_order_relaxed);
		if (s & STARVING)
			return false;
		if (!(s & LOCKED) && cas(m, &s, s | LOCKED))
			return true;
		for (int k = 0; k < SPIN_PAUSES; k++)
			weft__cpu_relax();
	}
	return false;
}

/* Under qlock: take m if free, else queue w (at the front if it was woken)
 * and publish WAITERS (and STARVING) in the same CAS. Returns true if taken. */
static bool acquire_or_queue(weft_mutex *m, struct weft__waiter *w, bool woken, bool starve)
{
	unsigned s = atomic_load_explicit(STATE(m), memory_order_relaxed);
	for (;;) {
		unsigned n;
		bool take = !(s & (LOCKED | STARVING));
		if (take) {
			n = s | LOCKED;
			if (woken)
				n &= ~WOKEN;
		} else {
			n = s | WAITERS;
			if (woken)
				n &= ~WOKEN;
			if (starve && (s & LOCKED))
				n |= STARVING;
		}
		if (cas(m, &s, n)) {
			if (!take) {
				if (woken)
					push_front(Q(m), w);
				else
					weft__waitq_push(Q(m), w);
			}
			return take;
		}
	}
}

/* Under qlock: wake the first waiter whose wait is not already over. */
static void wake_one(weft_mutex *m, int result)
{
	struct weft__waiter *w;
	while ((w = weft__waitq_pop(Q(m)))) {
		bool empty = !Q(m)->head;
		if (result == R_HANDOFF && (empty || weft__now() - w->index < STARVE_NS))
			atomic_fetch_and(STATE(m), ~STARVING);
		if (empty)
			atomic_fetch_and(STATE(m), ~WAITERS);
		if (weft__waiter_fire(w, result))
			return;
	}
	/* nobody left to take it */
	atomic_fetch_and(STATE(m), ~(result == R_HANDOFF ? (LOCKED | STARVING) : WOKEN));
}

static int lock_slow(weft_ctx *ctx, weft_mutex *m)
{
	if (spin_acquire(m))
		return 0;
	if (!weft__self())
		return -EPERM;
	struct weft__waiter w;
	bool woken = false;
	int64_t start = 0;
	for (;;) {
		weft__waiter_init(&w);
		bool starve = woken && weft__now() - start > STARVE_NS;
		weft__lock_acquire(QLOCK(m));
		if (acquire_or_queue(m, &w, woken, starve)) {
			weft__lock_release(QLOCK(m));
			return 0;
		}
		if (!start)
			start = weft__now();
		w.index = (long)start;
		weft__lock_release(QLOCK(m));
		int r = weft__wait(ctx, &w, "mutex");
		if (r >= 0)
			weft__lock_barrier(QLOCK(m));
		if (r == R_HANDOFF)
			return 0;
		if (r < 0) {
			weft__lock_acquire(QLOCK(m));
			weft__waitq_remove(Q(m), &w);
			if (!Q(m)->head)
				atomic_fetch_and(STATE(m), ~WAITERS);
			weft__lock_release(QLOCK(m));
			return r;
		}
		/* R_RETRY: we carry WOKEN until we take m or queue again */
		woken = true;
		if (spin_acquire(m) || weft_mutex_try_lock(m) == 0) {
			atomic_fetch_and(STATE(m), ~WOKEN);
			return 0;
		}
		int err = weft_ctx_err(ctx);
		if (err) {
			/* leaving while woken: pass the wake-up on if m is free */
			weft__lock_acquire(QLOCK(m));
			unsigned s = atomic_fetch_and(STATE(m), ~WOKEN) & ~WOKEN;
			if (!(s & LOCKED) && Q(m)->head) {
				atomic_fetch_or(STATE(m), WOKEN);
				wake_one(m, R_RETRY);
			}
			weft__lock_release(QLOCK(m));
			return err;
		}
	}
}

int weft_mutex_lock(weft_ctx *ctx, weft_mutex *m)
{
	if (!m)
		return -EINVAL;
	unsigned s = 0;
	if (WEFT__LIKELY(cas(m, &s, LOCKED)))
		return 0;
	/* free, with waiters queued and one of them woken: barge (as a woken
	 * waiter or a spinner would), one CAS more rather than the slow path */
	if (!(s & (LOCKED | STARVING)) && cas(m, &s, s | LOCKED))
		return 0;
	return lock_slow(ctx, m);
}

int weft_mutex_unlock(weft_mutex *m)
{
	if (!m)
		return -EINVAL;
	unsigned s = LOCKED;
	if (WEFT__LIKELY(atomic_compare_exchange_strong_explicit(STATE(m), &s, 0, memory_order_release,
								 memory_order_relaxed)))
		return 0;
	/* Nobody to wake (no waiters, or one already woken and on its way to
	 * retry): release without qlock, as Go's unlockSlow returns early. The
	 * woken waiter retries with a CAS that sees this release, and a waiter
	 * that clears WOKEN (queueing again or giving up) does it with a CAS
	 * or RMW that this one's CAS sees: one of the two then wakes the queue. */
	for (;;) {
		if (!(s & LOCKED))
			return -EPERM;
		if ((s & STARVING) || ((s & WAITERS) && !(s & WOKEN)))
			break;
		if (atomic_compare_exchange_weak_explicit(STATE(m), &s, s & ~LOCKED, memory_order_release,
							  memory_order_relaxed))
			return 0;
	}
	weft__lock_acquire(QLOCK(m));
	s = atomic_load_explicit(STATE(m), memory_order_relaxed);
	if (!(s & LOCKED)) {
		weft__lock_release(QLOCK(m));
		return -EPERM;
	}
	if (s & STARVING) {
		wake_one(m, R_HANDOFF); /* LOCKED stays set: ownership moves */
	} else {
		/* release first so that newcomers and the woken one can compete */
		for (;;) {
			unsigned n = s & ~LOCKED;
			if (Q(m)->head && !(s & WOKEN))
				n |= WOKEN;
			if (atomic_compare_exchange_weak_explicit(STATE(m), &s, n, memory_order_release,
								  memory_order_relaxed))
				break;
		}
		if (Q(m)->head && !(s & WOKEN))
			wake_one(m, R_RETRY);
	}
	weft__lock_release(QLOCK(m));
	return 0;
}
