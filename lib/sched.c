/* SPDX-License-Identifier: MIT */
/* sched.c — the scheduler core (Go's GMP): making fibers runnable, switching,
 * parking, spawning and the scheduler loop.
 *
 * Each proc is an OS thread with a Go-style local run queue (256 slots,
 * lock-free for the owner, thieves take half of a backlog with one CAS), a runnext slot,
 * an inbox for fibers that must run on it, a timer heap and its own
 * io_uring. Fibers switch directly to the next runnable fiber of their proc;
 * the proc's own stack ("g0") runs only when the local queue is empty, every
 * 61st switch (global queue fairness, completions, timers) or to park.
 *
 * Whatever must happen to a fiber after it has switched out (queue it, mark
 * it parked, free it) is done by the next context on the same thread
 * (after_switch), so no other thread can run a fiber whose registers are
 * still being saved.
 *
 * The other parts of the scheduler are listed in proc.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "rand.h"
#include "trace.h"

__thread struct weft_proc *weft__tls_proc __attribute__((tls_model("initial-exec")));
#define tls_proc weft__tls_proc

#if !defined(__x86_64__)
__attribute__((noinline)) struct weft_proc *weft__proc(void)
{
	__asm__ __volatile__("" ::: "memory"); /* not pure: never reused across a switch */
	return tls_proc;
}
#endif

struct weft_fiber *weft__self(void)
{
	struct weft_proc *p = weft__proc();
	return p ? p->cur : NULL;
}

/* ---- making fibers runnable ------------------------------------------------ */

/* at_tail: queue behind the others instead of in runnext (yields, completions) */
static void make_runnable(struct weft_fiber *f, bool at_tail)
{
	struct weft_proc *p = weft__proc();
	struct weft_sched *s = f->sched;
	struct weft_proc *home = atomic_load_explicit(&f->home, memory_order_acquire);
	if (home) {
		weft__inbox_push(home, f);
		if (home != p) {
			weft__sync_with_sleepers(s);
			weft__wake_proc(p && p->sched == s ? p : NULL, home, true);
		}
		return;
	}
	if (!p || p->sched != s) {
		weft__gq_push(s, f, f, 1);
		weft__wakep(s, NULL);
		return;
	}
	weft__runq_put(p, f, !at_tail && p->cur);
	/* Work beyond what this proc runs next: let an idle proc steal it
	 * (a poll wakes one for its whole batch, when it is done). */
	if (!p->batching && atomic_load_explicit(&p->rq_tail, memory_order_relaxed) !=
				    atomic_load_explicit(&p->rq_head, memory_order_relaxed))
		weft__wakep(s, p);
}

bool weft__ready_claim(struct weft_fiber *f)
{
	int st = atomic_load(&f->pstate);
	for (;;) {
		if (st == WEFT__PARKED) {
			if (atomic_compare_exchange_weak(&f->pstate, &st, WEFT__RUNNING))
				return true;
		} else if (st == WEFT__RUNNING || st == WEFT__PARKING) {
			/* still on its way out: its park() will return at once */
			if (atomic_compare_exchange_weak(&f->pstate, &st, WEFT__NOTIFIED))
				return false;
		} else {
			return false; /* already notified */
		}
	}
}

void weft__ready(struct weft_fiber *f)
{
	struct weft_proc *p = weft__proc();
	if (p)
		WEFT__TRACE(p, wake(tr_, p, f));
	if (weft__ready_claim(f))
		make_runnable(f, false);
}

/* A chunk of fibers of s: one push to the global queue, then one wake-up
 * for each idle proc that may take a share. */
static void ready_chunk(struct weft_sched *s, struct weft__fiber_chunk *c)
{
	struct weft_proc *p = weft__proc();
	if (p && p->sched != s)
		p = NULL;
	unsigned n = c->n;
	weft__gq_push_chunk(s, c);
	if (weft__sync_with_sleepers(s) <= 0)
		return;
	unsigned woken = 0, start = p ? p->id + 1 : 0;
	for (unsigned i = 0; i < s->nprocs && woken < n; i++) {
		struct weft_proc *q = s->procs[(start + i) % s->nprocs];
		if (q != p && weft__wake_proc(p, q, true))
			woken++;
	}
}

void weft__batch_flush(struct weft__wake_batch *b)
{
	struct weft__fiber_chunk *c = b->chunk;
	if (c && c->n) {
		ready_chunk(c->f[0]->sched, c);
	} else {
		free(c);
		/* a few: one by one, the first in runnext as any wake-up */
		for (unsigned i = 0; i < b->n; i++)
			make_runnable(b->few[i], false);
	}
	b->chunk = NULL;
	b->n = 0;
}

void weft__batch_add(struct weft__wake_batch *b, struct weft_fiber *f)
{
	/* pinned, or with an operation in a ring: to its own proc's inbox */
	if (atomic_load_explicit(&f->home, memory_order_acquire)) {
		make_runnable(f, false);
		return;
	}
	struct weft_proc *p = weft__proc();
	if (p)
		WEFT__TRACE(p, wake(tr_, p, f));
	if (b->n && f->sched != (b->chunk ? b->chunk->f[0] : b->few[0])->sched)
		weft__batch_flush(b);
	struct weft__fiber_chunk *c = b->chunk;
	if (!c && b->n == WEFT__BATCH_MIN) {
		/* many: into an array (without memory, one by one) */
		if (!(c = malloc(sizeof(*c)))) {
			make_runnable(f, false);
			return;
		}
		c->next = NULL;
		c->taken = 0;
		memcpy(c->f, b->few, sizeof(b->few));
		c->n = b->n;
		b->chunk = c;
	}
	if (c)
		c->f[c->n++] = f;
	else
		b->few[b->n] = f;
	/* the first chunks go out while the waker collects the rest: idle
	 * procs run them meanwhile */
	if (++b->n == WEFT__BATCH_MAX)
		weft__batch_flush(b);
}

/* ---- switching --------------------------------------------------------------- */

void weft__stop_all(struct weft_sched *s)
{
	atomic_store(&s->stop, true);
	weft__wake_all(s);
}

/* ---- counting live fibers ----------------------------------------------------
 * weft_run ends when sched->live reaches 0. One shared counter touched by
 * every spawn on one proc and every exit on another bounces between cores, so
 * a proc reserves spawns in batches and counts exits locally, and settles with
 * the shared count when it runs out of work. The shared count only ever
 * overstates: reservations are added before the spawns they cover, exits
 * subtracted after they happen. So it reaches 0 only once every fiber has
 * ended and every proc has settled, which each does before it sleeps. */
#define LIVE_BATCH 64

static void live_spawned(struct weft_proc *p)
{
	if (WEFT__UNLIKELY(atomic_load_explicit(&p->live_credit, memory_order_relaxed) == 0)) {
		atomic_fetch_add_explicit(&p->sched->live, LIVE_BATCH, memory_order_relaxed);
		owner_add(&p->live_credit, LIVE_BATCH);
	}
	owner_add(&p->live_credit, -1);
}

void weft__live_settle(struct weft_proc *p)
{
	long n = atomic_load_explicit(&p->live_credit, memory_order_relaxed) +
		 atomic_load_explicit(&p->live_exits, memory_order_relaxed);
	if (!n)
		return;
	atomic_store_explicit(&p->live_credit, 0, memory_order_relaxed);
	atomic_store_explicit(&p->live_exits, 0, memory_order_relaxed);
	if (atomic_fetch_sub(&p->sched->live, n) == n)
		weft__stop_all(p->sched);
}

static void fiber_free(struct weft_proc *p, struct weft_fiber *f)
{
	struct weft_sched *s = f->sched;
	struct weft__stack st = f->stack;
	if (WEFT__UNLIKELY(atomic_load_explicit(&f->rb_slot, memory_order_relaxed)))
		weft__rwmutex_fiber_exit(f);
	weft__stack_check(&st, f->name);
	atomic_store_explicit(&f->magic, 0, memory_order_release);
	weft__ctx_done(&f->ctx);
	weft__stack_put(p->stack_cache, &st);
	bool was_main = f == s->main;
	if (was_main)
		atomic_store(&s->main_done, true);
	owner_add(&p->live_exits, 1);
	if (was_main && s->opts.return_with_main)
		weft__stop_all(s);
}

/* Run by the context that a switch lands in, on behalf of the one that left. */
static void after_switch_slow(struct weft_proc *p)
{
	struct weft_fiber *f = p->after_fiber;
	enum weft__after a = p->after;
	p->after = WEFT__AFTER_NONE;
	switch (a) {
	case WEFT__AFTER_NONE:
		break;
	case WEFT__AFTER_PARK: {
		int exp = WEFT__PARKING;
		if (!atomic_compare_exchange_strong(&f->pstate, &exp, WEFT__PARKED)) {
			/* woken while switching out */
			atomic_store(&f->pstate, WEFT__RUNNING);
			make_runnable(f, true);
		}
		break;
	}
	case WEFT__AFTER_YIELD:
		make_runnable(f, true);
		break;
	case WEFT__AFTER_EXIT:
		fiber_free(p, f);
		break;
	}
}

static WEFT__INLINE void after_switch(struct weft_proc *p)
{
	if (p->after != WEFT__AFTER_NONE)
		after_switch_slow(p);
}

/* The next fiber to switch to directly, or NULL to go through g0. */
static struct weft_fiber *pick_next_fast(struct weft_proc *p)
{
	if (WEFT__UNLIKELY(--p->until_g0 == 0) || atomic_load_explicit(&p->inbox_len, memory_order_relaxed))
		return NULL;
	return weft__runq_get(p);
}

/* Leave f for next (NULL: the scheduler loop) with p->after already set. */
static inline void switch_to(struct weft_proc *p, struct weft_fiber *f, struct weft_fiber *next)
{
	STAT_INC(p, switches);
	/* Unguarded stacks: check the depth here, the canary when the fiber
	 * ends. Reading the canary at every switch would commit the stack's
	 * bottom page: a second page per parked fiber. */
	char here; /* where the stack is (the frame address would cost a frame pointer) */
	if (WEFT__UNLIKELY(!f->stack.guarded) && &here < (char *)f->stack.lo + 256)
		weft__stack_overflow(f->name);
	WEFT__TRACE(p, switch(tr_, f, next));
	p->cur = next;
	weft__ctx_switch(&f->ctx, next ? &next->ctx : &p->g0);
	after_switch(weft__proc());
}

static void switch_away(struct weft_proc *p, struct weft_fiber *f, enum weft__after after)
{
	p->after = after;
	p->after_fiber = f;
	switch_to(p, f, pick_next_fast(p));
}

void weft__park(const char *reason)
{
	struct weft_proc *p = weft__proc();
	struct weft_fiber *f = p->cur;
	int exp = WEFT__RUNNING;
	if (!atomic_compare_exchange_strong(&f->pstate, &exp, WEFT__PARKING)) {
		atomic_store(&f->pstate, WEFT__RUNNING); /* consume the early wake */
		return;
	}
	atomic_store_explicit(&f->wait_reason, reason, memory_order_relaxed);
	WEFT__TRACE(p, park(tr_, f, reason));
	switch_away(p, f, WEFT__AFTER_PARK);
	atomic_store_explicit(&f->wait_reason, NULL, memory_order_relaxed);
}

int weft_yield(void)
{
	struct weft_proc *p = weft__proc();
	struct weft_fiber *f;
	if (!p || !(f = p->cur))
		return -EPERM;
	/* A lone proc rotates its queue in place: no thief can take f before
	 * the switch below completes, so f goes to the tail now and the next
	 * context has nothing to do for it. */
	if (p->solo && !atomic_load_explicit(&f->home, memory_order_relaxed)) {
		struct weft_fiber *next = NULL;
		if (WEFT__LIKELY(--p->until_g0) && !atomic_load_explicit(&p->inbox_len, memory_order_relaxed))
			next = runq_rotate_solo(p, f);
		if (WEFT__UNLIKELY(!next)) {
			p->after = WEFT__AFTER_YIELD; /* through the scheduler loop */
			p->after_fiber = f;
		}
		switch_to(p, f, next);
		return 0;
	}
	switch_away(p, f, WEFT__AFTER_YIELD);
	return 0;
}

static void fiber_entry(void *arg)
{
	struct weft_fiber *f = arg;
	after_switch(weft__proc());
	f->fn(f->arg);
	struct weft_proc *p = weft__proc();
	/* a release store, not a locked one: nobody orders a later load after it,
	 * and every locked instruction waits for the page walks in flight */
	atomic_store_explicit(&f->pstate, WEFT__DEAD, memory_order_release);
	p->after = WEFT__AFTER_EXIT;
	p->after_fiber = f;
	struct weft_fiber *next = pick_next_fast(p);
	STAT_INC(p, switches);
	WEFT__TRACE(p, switch(tr_, f, next));
	p->cur = next;
	weft__ctx_switch_final(&f->ctx, next ? &next->ctx : &p->g0);
}

/* ---- spawning --------------------------------------------------------------- */

#define ID_BATCH 256

int weft__spawn(struct weft_proc *p, weft_fn fn, void *arg, const struct weft_go_opts *o,
		 struct weft_fiber **ret)
{
	struct weft_sched *s = p->sched;
	struct weft__stack st;
	int r = weft__stack_get(p->stack_cache, o ? o->stack_size : 0, &st);
	if (r < 0)
		return r;
	struct weft_fiber *f = (struct weft_fiber *)((char *)st.hi - WEFT__STACK_HEADER);
	memset(f, 0, offsetof(struct weft_fiber, rb_rw));
	f->labels.n = 0;
	f->labels.busy = 0;
	f->stack = st;
	f->sched = s;
	f->fn = fn;
	f->arg = arg;
	if (WEFT__UNLIKELY(p->id_next == p->id_end)) { /* a batch: no shared counter per spawn */
		p->id_next = atomic_fetch_add_explicit(&s->next_id, ID_BATCH, memory_order_relaxed);
		p->id_end = p->id_next + ID_BATCH;
	}
	f->id = p->id_next++;
	if (o && o->name)
		snprintf(f->name, sizeof(f->name), "%s", o->name);
	if (o && (o->pin || o->on_proc)) {
		f->pinned = true;
		atomic_store(&f->home, o->on_proc ? s->procs[o->proc] : p);
	}
	r = weft__ctx_init(&f->ctx, st.lo, (size_t)((char *)f - (char *)st.lo), fiber_entry, f);
	if (r < 0) {
		weft__stack_put(p->stack_cache, &st);
		return r;
	}
	f->created_ns = p->now_cache;
	live_spawned(p);
	STAT_INC(p, spawned);
	atomic_store_explicit(&f->magic, WEFT__FIBER_MAGIC, memory_order_release);
	if (ret)
		*ret = f;
	make_runnable(f, false);
	return 0;
}

int weft_go_opts(weft_fn fn, void *arg, const struct weft_go_opts *opts)
{
	struct weft_proc *p = weft__proc();
	if (!fn)
		return -EINVAL;
	if (!p)
		return -EPERM;
	if (opts && opts->on_proc && opts->proc >= p->sched->nprocs)
		return -EINVAL;
	int r = weft__spawn(p, fn, arg, opts, NULL);
	/* A spawner that outruns its proc yields once the local queue is half
	 * full: the new fibers run, and hand back their warm stacks, before
	 * more are made, instead of piling up cold in the global queue. */
	if (r == 0 && p->cur &&
	    atomic_load_explicit(&p->rq_tail, memory_order_relaxed) -
			    atomic_load_explicit(&p->rq_head, memory_order_relaxed) >= WEFT__RUNQ_SIZE / 2)
		weft_yield();
	return r;
}

int weft_go(weft_fn fn, void *arg)
{
	return weft_go_opts(fn, arg, NULL);
}

/* ---- the scheduler loop ------------------------------------------------------------- */

/* Submit what fibers prepared, collect completions, fire due timers. With
 * DEFER_TASKRUN completions are only posted when we enter the kernel, so
 * that costs a syscall while operations are in flight. A lazy poll makes
 * none: the proc has nothing else to run, so it submits what is prepared
 * only once it has looked for other work (find_runnable), and operations
 * merely in flight are collected by the wait it is heading for (a syscall
 * costs a microsecond on some VMs, a third of a request's round trip).
 * Fibers readied here are the proc's own next work: one wake-up for the
 * lot, and only when there are more than it is about to run. */
static void poll_ring(struct weft_proc *p, bool lazy)
{
	bool defer = p->ring_flags & IORING_SETUP_DEFER_TASKRUN;
	p->now_cache = weft__now();
	if (!lazy && (p->sq_pending || (defer && p->inflight)))
		weft__ring_submit(p, true);
	p->batching = true;
	weft__ring_reap(p);
	weft__timers_run(p, p->now_cache);
	p->batching = false;
	WEFT__TRACE(p, ring_counts(tr_, p));
	if (atomic_load_explicit(&p->rq_tail, memory_order_relaxed) -
		    atomic_load_explicit(&p->rq_head, memory_order_relaxed) >= 2)
		weft__wakep(p->sched, p);
}

/* Work this proc has at hand, without looking at the ring. */
static bool local_work(struct weft_proc *p)
{
	return !runq_empty(p) || atomic_load_explicit(&p->inbox_len, memory_order_relaxed) ||
	       atomic_load_explicit(&p->sched->gq_len, memory_order_relaxed);
}

static struct weft_fiber *find_runnable(struct weft_proc *p)
{
	struct weft_sched *s = p->sched;
	for (;;) {
		struct weft_fiber *f;
		poll_ring(p, !local_work(p));
		if (atomic_load_explicit(&s->stop, memory_order_relaxed))
			return NULL;
		/* Every G0_EVERY-th switch: the global queue first, then the local
		 * queue's head before runnext. Two fibers handing the proc to each
		 * other through runnext (a channel ping-pong) would otherwise run
		 * forever ahead of the queue: a timer's fiber among them. */
		if (p->until_g0 == 0 && ((f = weft__gq_get(p, 1)) || (f = weft__runq_get_head(p))))
			return f;
		/* The inbox and the local queue take turns: a fiber pinned here
		 * that keeps yielding must not starve the queue (nor a fiber
		 * waiting in runnext, which no idle proc was woken for). */
		if ((++p->passes & 1) ? (f = weft__inbox_pop(p)) || (f = weft__runq_get(p))
				      : (f = weft__runq_get(p)) || (f = weft__inbox_pop(p)))
			return f;
		if ((f = weft__gq_get(p, WEFT__RUNQ_SIZE / 2)))
			return f;
		/* Nothing to run but operations the lazy poll left unsubmitted: they often
		 * complete at once (a nop, a send into a socket with room), so submit and
		 * collect before looking elsewhere. Going to sleep to submit them would
		 * count this proc idle, and the others would pay wake-ups for it. */
		if (p->sq_pending) {
			weft__ring_submit(p, true);
			continue;
		}
		int64_t due = INT64_MAX;
		unsigned start = weft__rand_below(&p->rand, s->nprocs);
		for (unsigned i = 0; i < s->nprocs; i++) {
			struct weft_proc *v = s->procs[(start + i) % s->nprocs];
			if (v != p && (f = weft__steal_from(p, v, &due))) {
				WEFT__TRACE(p, steal(tr_, f, v->id));
				return f;
			}
		}
		if (due != INT64_MAX)
			weft__proc_nap(p, due);
		else
			weft__proc_sleep(p);
	}
}

void weft__proc_loop(struct weft_proc *p)
{
	for (;;) {
		struct weft_fiber *f = find_runnable(p);
		if (!f)
			return;
		if (p->sq_pending) /* left by a lazy poll */
			weft__ring_submit(p, false);
		p->until_g0 = p->until_g0 > 1 ? p->until_g0 - 1 : G0_EVERY;
		WEFT__TRACE(p, switch(tr_, NULL, f));
		p->cur = f;
		weft__ctx_switch(&p->g0, &f->ctx);
		after_switch(p);
	}
}
