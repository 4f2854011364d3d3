/* SPDX-License-Identifier: MIT */
/* idle.c — procs with nothing to run: they sleep (or nap) in their ring, and
 * whoever makes work for them wakes them.
 */
#include "proc.h"

/* ---- waking parked procs --------------------------------------------------- */

/* Wake q if it is asleep in its ring; a napping q too when nappers (a nap
 * ends by itself, so only work meant for q itself needs to end it early). */
bool weft__wake_proc(struct weft_proc *self, struct weft_proc *q, bool nappers)
{
	int st = atomic_load(&q->parked);
	if ((st == 1 || (st == 2 && nappers)) && atomic_compare_exchange_strong(&q->parked, &st, 0)) {
		weft__ring_send_wake(self, q);
		return true;
	}
	return false;
}

/* New work exists somewhere: wake one idle proc to look for it. Always
 * through the read-modify-write of sync_with_sleepers: a plain load of
 * npidle could miss a proc going to sleep, and work on self's queue is not
 * safe either while self runs a fiber that never yields. */
void weft__wakep(struct weft_sched *s, struct weft_proc *self)
{
	if (s->nprocs == 1 && self)
		return; /* the only proc is the one running this */
	if (weft__sync_with_sleepers(s) <= 0)
		return;
	unsigned start = self ? self->id + 1 : 0;
	for (unsigned i = 0; i < s->nprocs; i++) {
		struct weft_proc *q = s->procs[(start + i) % s->nprocs];
		if (q != self && weft__wake_proc(self, q, false))
			return;
	}
}

void weft__wake_all(struct weft_sched *s)
{
	struct weft_proc *self = weft__proc();
	weft__sync_with_sleepers(s);
	for (unsigned i = 0; i < s->nprocs; i++)
		if (s->procs[i] != self)
			weft__wake_proc(self && self->sched == s ? self : NULL, s->procs[i], true);
}

static bool any_work(struct weft_proc *p)
{
	struct weft_sched *s = p->sched;
	if (atomic_load(&s->gq_len) || atomic_load(&p->inbox_len) || atomic_load(&s->stop))
		return true;
	for (unsigned i = 0; i < s->nprocs; i++)
		if (!runq_empty(s->procs[i]))
			return true;
	return false;
}

/* Idle time is when freed stacks give their pages back, at most every
 * 50 ms: madvise costs a TLB shootdown, too dear for every fiber exit. */
static bool trim_stacks(struct weft_sched *s, struct weft_proc *p)
{
	int64_t last = atomic_load_explicit(&s->last_trim, memory_order_relaxed);
	if (p->now_cache - last < 50 * 1000000 ||
	    !atomic_compare_exchange_strong(&s->last_trim, &last, p->now_cache))
		return false;
	return weft__stack_pool_trim(s->stacks) > 0;
}

/* Sleep in the ring until a completion, a wake-up or the next timer. */
void weft__proc_sleep(struct weft_proc *p)
{
	struct weft_sched *s = p->sched;
	weft__live_settle(p);
	if (atomic_load(&s->stop))
		return;
	atomic_store(&p->parked, 1);
	atomic_fetch_add(&s->npidle, 1); /* pairs with sync_with_sleepers */
	if (!any_work(p) && !trim_stacks(s, p) && !any_work(p)) {
		STAT_INC(p, parks);
		weft__ring_wait(p, INT64_MAX);
	}
	atomic_store(&p->parked, 0);
	atomic_fetch_sub(&s->npidle, 1);
}

/* Wait in the ring until `until` at most: a victim's backlog may have aged by
 * then. Not counted in npidle, so wakep passes a napper by; work meant for
 * this proc alone (its inbox, stop) still wakes it. */
void weft__proc_nap(struct weft_proc *p, int64_t until)
{
	struct weft_sched *s = p->sched;
	weft__live_settle(p);
	atomic_store(&p->parked, 2);
	if (!atomic_load(&p->inbox_len) && !atomic_load(&s->gq_len) && !atomic_load(&s->stop)) {
		STAT_INC(p, naps);
		weft__ring_wait(p, until);
	}
	atomic_store(&p->parked, 0);
}
