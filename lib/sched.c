/* sched.c — procs, run queues, parking and the scheduler loop (Go's GMP).
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
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

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

int64_t weft__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint32_t fastrand(struct weft_proc *p)
{
	/* xorshift32: victim choice only needs to be cheap and spread out */
	uint32_t x = p->rand;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return p->rand = x;
}

/* Per-proc counters are written only by their proc: a plain load and store,
 * not a locked add (which costs more than a context switch). */
#define STAT_INC(p, field)                                                                     \
	atomic_store_explicit(&(p)->st.field,                                                  \
			      atomic_load_explicit(&(p)->st.field, memory_order_relaxed) + 1,  \
			      memory_order_relaxed)

/* A fiber-to-fiber switch goes through the scheduler loop every G0_EVERY-th time
 * (prime: a period shared with the program's own loops would starve one fiber). */
#define G0_EVERY 61

static inline void owner_inc(_Atomic uint32_t *v)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* ---- global queue --------------------------------------------------------- */

static void gq_push_batch(struct weft_sched *s, struct weft_fiber *head, struct weft_fiber *tail, unsigned n)
{
	pthread_mutex_lock(&s->gq_lock);
	tail->next = NULL;
	if (s->gq_tail)
		s->gq_tail->next = head;
	else
		s->gq_head = head;
	s->gq_tail = tail;
	atomic_fetch_add(&s->gq_len, n);
	pthread_mutex_unlock(&s->gq_lock);
}

/* Take up to max fibers from the global queue: returns one, queues the rest locally. */
static struct weft_fiber *gq_get(struct weft_proc *p, unsigned max);

/* ---- local run queue (Go's runqput / runqget / runqgrab) ------------------ */

static WEFT__INLINE bool runq_put_local(struct weft_proc *p, struct weft_fiber *f)
{
	uint32_t h = atomic_load_explicit(&p->rq_head, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&p->rq_tail, memory_order_relaxed);
	if (t - h >= WEFT__RUNQ_SIZE)
		return false;
	atomic_store_explicit(&p->rq[t % WEFT__RUNQ_SIZE], f, memory_order_relaxed);
	atomic_store_explicit(&p->rq_tail, t + 1, memory_order_release);
	return true;
}

/* The local queue is full: move half of it and f to the global queue. */
static bool runq_put_slow(struct weft_proc *p, struct weft_fiber *f)
{
	struct weft_fiber *batch[WEFT__RUNQ_SIZE / 2 + 1];
	uint32_t h = atomic_load_explicit(&p->rq_head, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&p->rq_tail, memory_order_relaxed);
	uint32_t n = (t - h) / 2;
	if (n != WEFT__RUNQ_SIZE / 2)
		return false; /* a thief made room meanwhile */
	for (uint32_t i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(&p->rq[(h + i) % WEFT__RUNQ_SIZE], memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&p->rq_head, &h, h + n, memory_order_release,
						     memory_order_relaxed))
		return false;
	batch[n] = f;
	for (uint32_t i = 0; i < n; i++)
		batch[i]->next = batch[i + 1];
	gq_push_batch(p->sched, batch[0], batch[n], n + 1);
	return true;
}

static void runq_put(struct weft_proc *p, struct weft_fiber *f, bool next)
{
	if (next) {
		struct weft_fiber *old;
		if (p->solo) {
			old = atomic_load_explicit(&p->runnext, memory_order_relaxed);
			atomic_store_explicit(&p->runnext, f, memory_order_relaxed);
		} else {
			old = atomic_exchange_explicit(&p->runnext, f, memory_order_acq_rel);
		}
		if (!(f = old))
			return;
	}
	while (!runq_put_local(p, f))
		if (runq_put_slow(p, f))
			return;
}

/* A lone proc has no thieves: plain loads and stores take from its queue. */
static WEFT__INLINE struct weft_fiber *runq_get_solo(struct weft_proc *p)
{
	struct weft_fiber *f = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	if (f) {
		atomic_store_explicit(&p->runnext, NULL, memory_order_relaxed);
		return f;
	}
	uint32_t h = atomic_load_explicit(&p->rq_head, memory_order_relaxed);
	if (h == atomic_load_explicit(&p->rq_tail, memory_order_relaxed))
		return NULL;
	f = atomic_load_explicit(&p->rq[h % WEFT__RUNQ_SIZE], memory_order_relaxed);
	atomic_store_explicit(&p->rq_head, h + 1, memory_order_relaxed);
	return f;
}

/* A lone proc's yield: f joins the tail as the head leaves (runnext first). */
static WEFT__INLINE struct weft_fiber *runq_rotate_solo(struct weft_proc *p, struct weft_fiber *f)
{
	struct weft_fiber *n = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&p->rq_head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&p->rq_tail, memory_order_relaxed);
	if (n) {
		if (t - h >= WEFT__RUNQ_SIZE)
			return NULL; /* no room for f: the scheduler loop spills it */
		atomic_store_explicit(&p->runnext, NULL, memory_order_relaxed);
	} else {
		if (h == t)
			return NULL;
		n = atomic_load_explicit(&p->rq[h % WEFT__RUNQ_SIZE], memory_order_relaxed);
		atomic_store_explicit(&p->rq_head, h + 1, memory_order_relaxed);
	}
	atomic_store_explicit(&p->rq[t % WEFT__RUNQ_SIZE], f, memory_order_relaxed);
	atomic_store_explicit(&p->rq_tail, t + 1, memory_order_relaxed);
	return n;
}

/* The owner took its last queued fiber: the queue drained, unless the
 * fiber leaving (a yield) is about to join it again. */
static inline void note_drain(struct weft_proc *p)
{
	if (p->after != WEFT__AFTER_YIELD)
		owner_inc(&p->drains);
}

static struct weft_fiber *runq_get(struct weft_proc *p)
{
	if (p->solo)
		return runq_get_solo(p);
	struct weft_fiber *f = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	if (f && (f = atomic_exchange_explicit(&p->runnext, NULL, memory_order_acq_rel))) {
		if (atomic_load_explicit(&p->rq_head, memory_order_relaxed) ==
		    atomic_load_explicit(&p->rq_tail, memory_order_relaxed))
			note_drain(p);
		return f;
	}
	for (;;) {
		uint32_t h = atomic_load_explicit(&p->rq_head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&p->rq_tail, memory_order_relaxed);
		if (t == h)
			return NULL;
		f = atomic_load_explicit(&p->rq[h % WEFT__RUNQ_SIZE], memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&p->rq_head, &h, h + 1, memory_order_release,
							  memory_order_relaxed)) {
			if (h + 1 == t) /* only the owner pushes, and runnext was empty */
				note_drain(p);
			return f;
		}
	}
}

static bool runq_empty(struct weft_proc *p)
{
	return atomic_load(&p->rq_head) == atomic_load(&p->rq_tail) && !atomic_load(&p->runnext);
}

/* Take half of victim's queue into batch; runnext too when steal_next. */
static uint32_t runq_grab(struct weft_proc *v, struct weft_fiber **batch, bool steal_next)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&v->rq_head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&v->rq_tail, memory_order_acquire);
		uint32_t n = t - h;
		n -= n / 2;
		if (n == 0) {
			if (!steal_next)
				return 0;
			struct weft_fiber *f = atomic_exchange_explicit(&v->runnext, NULL, memory_order_acq_rel);
			if (!f)
				return 0;
			batch[0] = f;
			return 1;
		}
		if (n > WEFT__RUNQ_SIZE / 2)
			continue; /* read h and t inconsistently; retry */
		for (uint32_t i = 0; i < n; i++)
			batch[i] = atomic_load_explicit(&v->rq[(h + i) % WEFT__RUNQ_SIZE], memory_order_relaxed);
		if (atomic_compare_exchange_strong_explicit(&v->rq_head, &h, h + n, memory_order_release,
							    memory_order_relaxed))
			return n;
	}
}

static struct weft_fiber *runq_steal(struct weft_proc *p, struct weft_proc *v, bool steal_next)
{
	struct weft_fiber *batch[WEFT__RUNQ_SIZE / 2];
	uint32_t n = runq_grab(v, batch, steal_next);
	if (!n)
		return NULL;
	atomic_fetch_add_explicit(&p->st.steals, n, memory_order_relaxed);
	for (uint32_t i = 1; i < n; i++)
		runq_put(p, batch[i], false);
	return batch[0];
}

static struct weft_fiber *gq_get(struct weft_proc *p, unsigned max)
{
	struct weft_sched *s = p->sched;
	if (!atomic_load_explicit(&s->gq_len, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&s->gq_lock);
	unsigned len = atomic_load(&s->gq_len);
	unsigned n = len / s->nprocs + 1;
	if (n > len)
		n = len;
	if (n > max)
		n = max;
	struct weft_fiber *first = NULL;
	for (unsigned i = 0; i < n; i++) {
		struct weft_fiber *f = s->gq_head;
		s->gq_head = f->next;
		if (!s->gq_head)
			s->gq_tail = NULL;
		f->next = NULL;
		if (!first)
			first = f;
		else
			runq_put(p, f, false);
	}
	atomic_fetch_sub(&s->gq_len, n);
	pthread_mutex_unlock(&s->gq_lock);
	return first;
}

/* ---- inbox: fibers that must run on one proc ------------------------------ */

static void inbox_push(struct weft_proc *p, struct weft_fiber *f)
{
	f->next = NULL;
	weft__lock_acquire(&p->inbox_lock);
	if (p->inbox_tail)
		p->inbox_tail->next = f;
	else
		p->inbox_head = f;
	p->inbox_tail = f;
	atomic_fetch_add(&p->inbox_len, 1);
	weft__lock_release(&p->inbox_lock);
}

static struct weft_fiber *inbox_pop(struct weft_proc *p)
{
	if (!atomic_load_explicit(&p->inbox_len, memory_order_relaxed))
		return NULL;
	weft__lock_acquire(&p->inbox_lock);
	struct weft_fiber *f = p->inbox_head;
	if (f) {
		p->inbox_head = f->next;
		if (!p->inbox_head)
			p->inbox_tail = NULL;
		atomic_fetch_sub(&p->inbox_len, 1);
	}
	weft__lock_release(&p->inbox_lock);
	return f;
}

/* ---- waking parked procs --------------------------------------------------- */

static void send_wake(struct weft_proc *self, struct weft_proc *q)
{
	struct weft_sched *s = q->sched;
	if (self && self->sched == s && s->feat.msg_ring && !s->opts.no_msg_ring) {
		struct io_uring_sqe *sqe = weft__sqe(self);
		io_uring_prep_msg_ring(sqe, q->ring.ring_fd, 0, WEFT__UD_WAKE, 0);
		/* our own completion only matters if it failed: then use the eventfd */
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)q | 1);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		weft__ring_flush(self);
		STAT_INC(self, wake_msg);
		return;
	}
	eventfd_write(q->efd, 1);
	atomic_fetch_add_explicit(&q->st.wake_efd, 1, memory_order_relaxed); /* not our proc's */
}

/* After publishing work, before looking for parked procs. A proc going to
 * sleep sets its parked flag, then increments npidle, then looks for work.
 * Both sides doing a read-modify-write of npidle orders them: either the
 * waker sees the proc parked, or the proc sees the work. (An RMW rather than
 * a fence, which ThreadSanitizer does not model.) */
static int sync_with_sleepers(struct weft_sched *s)
{
	return atomic_fetch_add(&s->npidle, 0);
}

/* Wake q if it is asleep in its ring; a napping q too when nappers (a nap
 * ends by itself, so only work meant for q itself needs to end it early). */
static bool wake_proc(struct weft_proc *self, struct weft_proc *q, bool nappers)
{
	int st = atomic_load(&q->parked);
	if ((st == 1 || (st == 2 && nappers)) && atomic_compare_exchange_strong(&q->parked, &st, 0)) {
		send_wake(self, q);
		return true;
	}
	return false;
}

/* New work exists somewhere: wake one idle proc to look for it. Always
 * through the read-modify-write of sync_with_sleepers: a plain load of
 * npidle could miss a proc going to sleep, and work on self's queue is not
 * safe either while self runs a fiber that never yields. */
static void wakep(struct weft_sched *s, struct weft_proc *self)
{
	if (s->nprocs == 1 && self)
		return; /* the only proc is the one running this */
	if (sync_with_sleepers(s) <= 0)
		return;
	unsigned start = self ? self->id + 1 : 0;
	for (unsigned i = 0; i < s->nprocs; i++) {
		struct weft_proc *q = s->procs[(start + i) % s->nprocs];
		if (q != self && wake_proc(self, q, false))
			return;
	}
}

static void wake_all(struct weft_sched *s)
{
	struct weft_proc *self = weft__proc();
	sync_with_sleepers(s);
	for (unsigned i = 0; i < s->nprocs; i++)
		if (s->procs[i] != self)
			wake_proc(self && self->sched == s ? self : NULL, s->procs[i], true);
}

/* ---- making fibers runnable ------------------------------------------------ */

/* at_tail: queue behind the others instead of in runnext (yields, completions) */
static void make_runnable(struct weft_fiber *f, bool at_tail)
{
	struct weft_proc *p = weft__proc();
	struct weft_sched *s = f->sched;
	struct weft_proc *home = atomic_load_explicit(&f->home, memory_order_acquire);
	if (home) {
		inbox_push(home, f);
		if (home != p) {
			sync_with_sleepers(s);
			wake_proc(p && p->sched == s ? p : NULL, home, true);
		}
		return;
	}
	if (!p || p->sched != s) {
		gq_push_batch(s, f, f, 1);
		wakep(s, NULL);
		return;
	}
	runq_put(p, f, !at_tail && p->cur);
	/* Work beyond what this proc runs next: let an idle proc steal it
	 * (a poll wakes one for its whole batch, when it is done). */
	if (!p->batching && atomic_load_explicit(&p->rq_tail, memory_order_relaxed) !=
				    atomic_load_explicit(&p->rq_head, memory_order_relaxed))
		wakep(s, p);
}

void weft__ready(struct weft_fiber *f)
{
	int st = atomic_load(&f->pstate);
	for (;;) {
		if (st == WEFT__PARKED) {
			if (atomic_compare_exchange_weak(&f->pstate, &st, WEFT__RUNNING))
				break;
		} else if (st == WEFT__RUNNING || st == WEFT__PARKING) {
			/* still on its way out: its park() will return at once */
			if (atomic_compare_exchange_weak(&f->pstate, &st, WEFT__NOTIFIED))
				return;
		} else {
			return; /* already notified */
		}
	}
	make_runnable(f, false);
}

/* ---- switching --------------------------------------------------------------- */

static void stop_all(struct weft_sched *s)
{
	atomic_store(&s->stop, true);
	wake_all(s);
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

static inline void owner_add(atomic_long *v, long d)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + d, memory_order_relaxed);
}

static void live_spawned(struct weft_proc *p)
{
	if (WEFT__UNLIKELY(atomic_load_explicit(&p->live_credit, memory_order_relaxed) == 0)) {
		atomic_fetch_add_explicit(&p->sched->live, LIVE_BATCH, memory_order_relaxed);
		owner_add(&p->live_credit, LIVE_BATCH);
	}
	owner_add(&p->live_credit, -1);
}

static void live_settle(struct weft_proc *p)
{
	long n = atomic_load_explicit(&p->live_credit, memory_order_relaxed) +
		 atomic_load_explicit(&p->live_exits, memory_order_relaxed);
	if (!n)
		return;
	atomic_store_explicit(&p->live_credit, 0, memory_order_relaxed);
	atomic_store_explicit(&p->live_exits, 0, memory_order_relaxed);
	if (atomic_fetch_sub(&p->sched->live, n) == n)
		stop_all(p->sched);
}

static void fiber_free(struct weft_proc *p, struct weft_fiber *f)
{
	struct weft_sched *s = f->sched;
	struct weft__stack st = f->stack;
	weft__stack_check(&st, f->name);
	atomic_store_explicit(&f->magic, 0, memory_order_release);
	weft__ctx_done(&f->ctx);
	weft__stack_put(p->stack_cache, &st);
	bool was_main = f == s->main;
	if (was_main)
		atomic_store(&s->main_done, true);
	owner_add(&p->live_exits, 1);
	if (was_main && s->opts.return_with_main)
		stop_all(s);
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
	return runq_get(p);
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
	atomic_store(&f->pstate, WEFT__DEAD);
	p->after = WEFT__AFTER_EXIT;
	p->after_fiber = f;
	struct weft_fiber *next = pick_next_fast(p);
	STAT_INC(p, switches);
	p->cur = next;
	weft__ctx_switch_final(&f->ctx, next ? &next->ctx : &p->g0);
}

/* ---- spawning --------------------------------------------------------------- */

#define ID_BATCH 256

static int spawn(struct weft_proc *p, weft_fn fn, void *arg, const struct weft_go_opts *o,
		 struct weft_fiber **ret)
{
	struct weft_sched *s = p->sched;
	struct weft__stack st;
	int r = weft__stack_get(p->stack_cache, o ? o->stack_size : 0, &st);
	if (r < 0)
		return r;
	struct weft_fiber *f = (struct weft_fiber *)((char *)st.hi - WEFT__STACK_HEADER);
	memset(f, 0, sizeof(*f));
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
	int r = spawn(p, fn, arg, opts, NULL);
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

/* ---- the ring ------------------------------------------------------------------ */

struct io_uring_sqe *weft__sqe(struct weft_proc *p)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
	while (!sqe) {
		weft__ring_flush(p);
		sqe = io_uring_get_sqe(&p->ring);
	}
	p->sq_pending++;
	return sqe;
}

/* The prepared SQEs are about to go to the kernel. */
static void count_submitted(struct weft_proc *p)
{
	atomic_fetch_add_explicit(&p->st.io_sub, p->sq_pending, memory_order_relaxed);
	p->sq_pending = 0;
}

/* Submit the prepared SQEs (and with events, collect deferred completions). */
static int submit(struct weft_proc *p, bool events)
{
	count_submitted(p);
	int r = events ? io_uring_submit_and_get_events(&p->ring) : io_uring_submit(&p->ring);
	return r < 0 ? r : 0;
}

int weft__ring_flush(struct weft_proc *p)
{
	return p->sq_pending ? submit(p, false) : 0;
}

static void arm_eventfd(struct weft_proc *p)
{
	struct io_uring_sqe *sqe = weft__sqe(p);
	io_uring_prep_read(sqe, p->efd, &p->efd_buf, sizeof(p->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, WEFT__UD_EVENTFD);
}

static unsigned reap(struct weft_proc *p)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&p->ring, head, cqe) {
		uint64_t ud = cqe->user_data;
		int res = cqe->res;
		n++;
		if (ud == WEFT__UD_WAKE || ud == WEFT__UD_IGNORE)
			continue;
		if (ud == WEFT__UD_EVENTFD) {
			arm_eventfd(p);
		} else if (ud & 1) {
			/* a MSG_RING wake-up failed: fall back to the eventfd */
			eventfd_write(((struct weft_proc *)(uintptr_t)(ud & ~(uint64_t)1))->efd, 1);
		} else {
			atomic_fetch_add_explicit(&p->st.io_done, 1, memory_order_relaxed);
			weft__io_complete(p, (struct weft__io_op *)(uintptr_t)ud, res);
		}
	}
	io_uring_cq_advance(&p->ring, n);
	return n;
}

/* ---- timers ------------------------------------------------------------------------- */

enum { TIMER_IDLE, TIMER_PENDING, TIMER_FIRING };

static void heap_set(struct weft_proc *p, size_t i, struct weft__timer *t)
{
	p->heap[i] = t;
	t->index = (long)i;
}

static void heap_up(struct weft_proc *p, size_t i)
{
	struct weft__timer *t = p->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (p->heap[parent]->when <= t->when)
			break;
		heap_set(p, i, p->heap[parent]);
		i = parent;
	}
	heap_set(p, i, t);
}

static void heap_down(struct weft_proc *p, size_t i)
{
	struct weft__timer *t = p->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= p->nheap)
			break;
		if (c + 1 < p->nheap && p->heap[c + 1]->when < p->heap[c]->when)
			c++;
		if (t->when <= p->heap[c]->when)
			break;
		heap_set(p, i, p->heap[c]);
		i = c;
	}
	heap_set(p, i, t);
}

static void heap_remove(struct weft_proc *p, struct weft__timer *t)
{
	size_t i = (size_t)t->index;
	struct weft__timer *last = p->heap[--p->nheap];
	t->index = -1;
	if (i < p->nheap) {
		heap_set(p, i, last);
		heap_down(p, i);
		heap_up(p, (size_t)last->index);
	}
	atomic_store(&p->next_timer, p->nheap ? p->heap[0]->when : INT64_MAX);
}

int weft__timer_add(struct weft__timer *t, int64_t when, void (*fn)(struct weft__timer *), void *arg)
{
	struct weft_proc *p = weft__proc();
	if (!p)
		return -EPERM;
	t->when = when;
	t->fn = fn;
	t->arg = arg;
	t->proc = p;
	atomic_store(&t->state, TIMER_PENDING);
	weft__lock_acquire(&p->tlock);
	if (p->nheap == p->heap_cap) {
		size_t cap = p->heap_cap ? p->heap_cap * 2 : 64;
		struct weft__timer **h = realloc(p->heap, cap * sizeof(*h));
		if (!h) {
			weft__lock_release(&p->tlock);
			atomic_store(&t->state, TIMER_IDLE);
			return -ENOMEM;
		}
		p->heap = h;
		p->heap_cap = cap;
	}
	heap_set(p, p->nheap++, t);
	heap_up(p, p->nheap - 1);
	atomic_store(&p->next_timer, p->heap[0]->when);
	weft__lock_release(&p->tlock);
	return 0;
}

bool weft__timer_del(struct weft__timer *t)
{
	struct weft_proc *p = t->proc;
	if (!p)
		return false;
	weft__lock_acquire(&p->tlock);
	if (t->index >= 0 && atomic_load(&t->state) == TIMER_PENDING) {
		heap_remove(p, t);
		atomic_store(&t->state, TIMER_IDLE);
		weft__lock_release(&p->tlock);
		return true;
	}
	weft__lock_release(&p->tlock);
	while (atomic_load(&t->state) == TIMER_FIRING)
		weft__cpu_relax();
	return false;
}

static void run_timers(struct weft_proc *p, int64_t now)
{
	if (atomic_load_explicit(&p->next_timer, memory_order_relaxed) > now)
		return;
	for (;;) {
		weft__lock_acquire(&p->tlock);
		if (!p->nheap || p->heap[0]->when > now) {
			weft__lock_release(&p->tlock);
			return;
		}
		struct weft__timer *t = p->heap[0];
		heap_remove(p, t);
		atomic_store(&t->state, TIMER_FIRING);
		weft__lock_release(&p->tlock);
		t->fn(t);
		atomic_store_explicit(&t->state, TIMER_IDLE, memory_order_release);
	}
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
		submit(p, true);
	p->batching = true;
	reap(p);
	run_timers(p, p->now_cache);
	p->batching = false;
	if (atomic_load_explicit(&p->rq_tail, memory_order_relaxed) -
		    atomic_load_explicit(&p->rq_head, memory_order_relaxed) >= 2)
		wakep(p->sched, p);
}

/* Work this proc has at hand, without looking at the ring. */
static bool local_work(struct weft_proc *p)
{
	return !runq_empty(p) || atomic_load_explicit(&p->inbox_len, memory_order_relaxed) ||
	       atomic_load_explicit(&p->sched->gq_len, memory_order_relaxed);
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

/* Submit what is prepared and wait in the ring for a completion (a wake-up is
 * one), until the next timer or `until` (INT64_MAX: no limit). */
static void ring_wait(struct weft_proc *p, int64_t until)
{
	int64_t next = atomic_load(&p->next_timer);
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	if (next < until)
		until = next;
	if (until != INT64_MAX) {
		int64_t d = until - weft__now();
		if (d < 0)
			d = 0;
		ts.tv_sec = d / 1000000000;
		ts.tv_nsec = d % 1000000000;
		tsp = &ts;
	}
	count_submitted(p);
	io_uring_submit_and_wait_timeout(&p->ring, &cqe, 1, tsp, NULL);
}

/* Sleep in the ring until a completion, a wake-up or the next timer. */
static void proc_sleep(struct weft_proc *p)
{
	struct weft_sched *s = p->sched;
	live_settle(p);
	if (atomic_load(&s->stop))
		return;
	atomic_store(&p->parked, 1);
	atomic_fetch_add(&s->npidle, 1); /* pairs with sync_with_sleepers */
	if (!any_work(p) && !trim_stacks(s, p) && !any_work(p)) {
		STAT_INC(p, parks);
		ring_wait(p, INT64_MAX);
	}
	atomic_store(&p->parked, 0);
	atomic_fetch_sub(&s->npidle, 1);
}

/* ---- stealing, with patience --------------------------------------------------
 * Stealing a fiber costs its cache lines (header, first frame, whatever it
 * shares with its siblings) crossing to another core: more than running a
 * short fiber. So a thief takes only a backlog: fibers queued on a victim
 * that has not once emptied its queue for STEAL_PATIENCE_NS. A victim that
 * keeps emptying its queue (a spawner of short fibers, a ping-pong pair)
 * is keeping up and is left alone; one stuck on a long fiber, or with more
 * runnable fibers than it can turn over (CPU-bound yielders), is not. The
 * thief naps meanwhile, without being counted idle, so the victim's wakep
 * does not pay a wake-up for it. */
#define STEAL_PATIENCE_NS (20 * 1000)

/* Steal from v if its backlog has aged; else lower *due to when it might have. */
static struct weft_fiber *steal_from(struct weft_proc *p, struct weft_proc *v, int64_t *due)
{
	struct weft__steal_watch *w = &p->watch[v->id];
	if (runq_empty(v)) {
		w->since = 0;
		return NULL;
	}
	uint32_t d = atomic_load_explicit(&v->drains, memory_order_relaxed);
	if (!w->since || w->drains != d) {
		w->since = p->now_cache;
		w->drains = d;
	}
	int64_t when = w->since + STEAL_PATIENCE_NS;
	if (p->now_cache < when) {
		if (when < *due)
			*due = when;
		return NULL;
	}
	w->since = 0;
	return runq_steal(p, v, true);
}

/* Wait in the ring until `until` at most: a victim's backlog may have aged by
 * then. Not counted in npidle, so wakep passes a napper by; work meant for
 * this proc alone (its inbox, stop) still wakes it. */
static void proc_nap(struct weft_proc *p, int64_t until)
{
	struct weft_sched *s = p->sched;
	live_settle(p);
	atomic_store(&p->parked, 2);
	if (!atomic_load(&p->inbox_len) && !atomic_load(&s->gq_len) && !atomic_load(&s->stop)) {
		STAT_INC(p, naps);
		ring_wait(p, until);
	}
	atomic_store(&p->parked, 0);
}

static struct weft_fiber *find_runnable(struct weft_proc *p)
{
	struct weft_sched *s = p->sched;
	for (;;) {
		struct weft_fiber *f;
		poll_ring(p, !local_work(p));
		if (atomic_load_explicit(&s->stop, memory_order_relaxed))
			return NULL;
		if (p->until_g0 == 0 && (f = gq_get(p, 1)))
			return f;
		/* The inbox and the local queue take turns: a fiber pinned here
		 * that keeps yielding must not starve the queue (nor a fiber
		 * waiting in runnext, which no idle proc was woken for). */
		if ((++p->passes & 1) ? (f = inbox_pop(p)) || (f = runq_get(p))
				      : (f = runq_get(p)) || (f = inbox_pop(p)))
			return f;
		if ((f = gq_get(p, WEFT__RUNQ_SIZE / 2)))
			return f;
		/* Nothing to run but operations the lazy poll left unsubmitted: they often
		 * complete at once (a nop, a send into a socket with room), so submit and
		 * collect before looking elsewhere. Going to sleep to submit them would
		 * count this proc idle, and the others would pay wake-ups for it. */
		if (p->sq_pending) {
			submit(p, true);
			continue;
		}
		int64_t due = INT64_MAX;
		unsigned start = fastrand(p) % s->nprocs;
		for (unsigned i = 0; i < s->nprocs; i++) {
			struct weft_proc *v = s->procs[(start + i) % s->nprocs];
			if (v != p && (f = steal_from(p, v, &due)))
				return f;
		}
		if (due != INT64_MAX)
			proc_nap(p, due);
		else
			proc_sleep(p);
	}
}

static void proc_loop(struct weft_proc *p)
{
	for (;;) {
		struct weft_fiber *f = find_runnable(p);
		if (!f)
			return;
		if (p->sq_pending) /* left by a lazy poll */
			submit(p, false);
		p->until_g0 = p->until_g0 > 1 ? p->until_g0 - 1 : G0_EVERY;
		atomic_fetch_add_explicit(&p->st.ticks, 1, memory_order_relaxed);
		p->cur = f;
		weft__ctx_switch(&p->g0, &f->ctx);
		after_switch(p);
	}
}

/* ---- procs: setup and teardown ------------------------------------------------------- */

static int ring_setup(struct weft_proc *p)
{
	struct weft_sched *s = p->sched;
	unsigned entries = s->opts.ring_entries ? s->opts.ring_entries : 256;
	struct io_uring_params prm;
	/* best first; SUBMIT_ALL (5.18) keeps a batch going past a bad entry */
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		0,
	};
	int r = -EINVAL;
	if (s->opts.sqpoll) {
		memset(&prm, 0, sizeof(prm));
		prm.flags = IORING_SETUP_SQPOLL;
		prm.sq_thread_idle = 50;
		r = io_uring_queue_init_params(entries, &p->ring, &prm);
		if (r == 0)
			p->ring_flags = prm.flags;
	} else {
		for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
			memset(&prm, 0, sizeof(prm));
			prm.flags = tries[i];
			r = io_uring_queue_init_params(entries, &p->ring, &prm);
			if (r == 0) {
				p->ring_flags = tries[i];
				break;
			}
		}
	}
	if (r < 0)
		return r;
	p->ring_ok = true;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0)
		return -errno;
	arm_eventfd(p);
	weft__ring_flush(p);
	return 0;
}

static int proc_start(struct weft_proc *p)
{
	tls_proc = p;
	weft__ctx_init_thread(&p->g0);
	weft__stack_sigaltstack_setup();
	int r = weft__stack_cache_new(p->sched->stacks, &p->stack_cache);
	if (r == 0)
		r = ring_setup(p);
	return r;
}

static void proc_stop(struct weft_proc *p)
{
	if (p->stack_cache)
		weft__stack_cache_free(p->stack_cache);
	p->stack_cache = NULL;
	if (p->ring_ok)
		io_uring_queue_exit(&p->ring);
	p->ring_ok = false;
	if (p->efd >= 0)
		close(p->efd);
	p->efd = -EBADF;
	tls_proc = NULL;
}

static void *proc_thread(void *arg)
{
	struct weft_proc *p = arg;
	struct weft_sched *s = p->sched;
	int r = proc_start(p);
	pthread_mutex_lock(&s->start_lock);
	if (r < 0 && !s->start_err)
		s->start_err = r;
	s->started++;
	pthread_cond_broadcast(&s->start_cond);
	while (s->started != UINT32_MAX && !s->start_err)
		pthread_cond_wait(&s->start_cond, &s->start_lock);
	r = s->start_err;
	pthread_mutex_unlock(&s->start_lock);
	if (r == 0)
		proc_loop(p);
	/* rings and eventfds are closed by weft_run after every proc has
	 * stopped: another proc may still be waking this one */
	return NULL;
}

static void probe_features(struct weft_sched *s)
{
	struct io_uring_probe *pr = io_uring_get_probe();
	if (pr) {
		s->feat.msg_ring = io_uring_opcode_supported(pr, IORING_OP_MSG_RING);
		s->feat.waitid = pr->last_op >= 50 && io_uring_opcode_supported(pr, 50);
		s->feat.futex = pr->last_op >= 51 && io_uring_opcode_supported(pr, 51);
		io_uring_free_probe(pr);
	}
	/* test-only knob: exercise weft_waitid's pidfd fallback on a new kernel */
	if (getenv("WEFT_TEST_NO_WAITID_OP"))
		s->feat.waitid = false;
	unsigned flags = s->procs[0]->ring_flags; /* the others tried the same list */
	s->feat.single_issuer = flags & IORING_SETUP_SINGLE_ISSUER;
	s->feat.defer_taskrun = flags & IORING_SETUP_DEFER_TASKRUN;
	s->feat.coop_taskrun = flags & IORING_SETUP_COOP_TASKRUN;
	s->feat.sqpoll = flags & IORING_SETUP_SQPOLL;
}

static void sched_free(struct weft_sched *s)
{
	if (!s)
		return;
	for (unsigned i = 0; s->procs && i < s->nprocs; i++) {
		if (s->procs[i])
			free(s->procs[i]->heap);
		free(s->procs[i]);
	}
	free(s->procs);
	if (s->stacks)
		weft__stack_pool_free(s->stacks);
	pthread_mutex_destroy(&s->gq_lock);
	pthread_mutex_destroy(&s->start_lock);
	pthread_cond_destroy(&s->start_cond);
	pthread_mutex_destroy(&s->blocking_lock);
	free(s);
}

static const char *fiber_name_of(const void *header)
{
	const struct weft_fiber *f = header;
	return f->name;
}

static struct weft_sched *sched_new(const struct weft_opts *opts)
{
	struct weft_sched *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (opts)
		s->opts = *opts;
	s->nprocs = s->opts.procs ? s->opts.procs : (unsigned)get_nprocs();
	if (s->nprocs > WEFT__MAX_PROCS)
		s->nprocs = WEFT__MAX_PROCS;
	atomic_store(&s->next_id, 1);
	pthread_mutex_init(&s->gq_lock, NULL);
	pthread_mutex_init(&s->start_lock, NULL);
	pthread_cond_init(&s->start_cond, NULL);
	pthread_mutex_init(&s->blocking_lock, NULL);
	s->procs = calloc(s->nprocs, sizeof(*s->procs));
	if (!s->procs)
		goto fail;
	for (unsigned i = 0; i < s->nprocs; i++) {
		struct weft_proc *p = aligned_alloc(64, (sizeof(*p) + 63) & ~(size_t)63);
		if (!p)
			goto fail;
		memset(p, 0, sizeof(*p));
		p->sched = s;
		p->id = i;
		p->solo = s->nprocs == 1;
		p->efd = -EBADF;
		p->rand = 0x9e3779b9u * (i + 1);
		atomic_store(&p->next_timer, INT64_MAX);
		s->procs[i] = p;
	}
	if (weft__stack_pool_new(&s->stacks, s->opts.stack_size, s->opts.stack_mode) < 0)
		goto fail;
	return s;
fail:
	sched_free(s);
	return NULL;
}

int weft_run(weft_fn main_fn, void *arg, const struct weft_opts *opts)
{
	if (!main_fn)
		return -EINVAL;
	if (tls_proc)
		return -EBUSY;
	struct weft_sched *s = sched_new(opts);
	if (!s)
		return -ENOMEM;
	weft__stack_overflow_handler_install(fiber_name_of);
	struct weft_proc *p0 = s->procs[0];
	int r = proc_start(p0);
	p0->now_cache = weft__now();
	unsigned nthreads = 0;
	s->started = 1;
	for (unsigned i = 1; r == 0 && i < s->nprocs; i++) {
		if (pthread_create(&s->procs[i]->thread, NULL, proc_thread, s->procs[i]) != 0) {
			r = -EAGAIN;
			break;
		}
		nthreads++;
	}
	pthread_mutex_lock(&s->start_lock);
	while (s->started < nthreads + 1)
		pthread_cond_wait(&s->start_cond, &s->start_lock);
	if (r < 0 && !s->start_err)
		s->start_err = r;
	r = s->start_err;
	s->started = UINT32_MAX;
	pthread_cond_broadcast(&s->start_cond);
	pthread_mutex_unlock(&s->start_lock);
	if (r == 0) {
		probe_features(s);
		r = spawn(p0, main_fn, arg, &(struct weft_go_opts){ .name = "main" }, &s->main);
		if (r == 0)
			proc_loop(p0);
		else {
			atomic_store(&s->stop, true);
			wake_all(s);
		}
	}
	for (unsigned i = 1; i <= nthreads; i++)
		pthread_join(s->procs[i]->thread, NULL);
	weft__blocking_shutdown(s);
	for (unsigned i = 0; i < s->nprocs; i++)
		proc_stop(s->procs[i]);
	sched_free(s);
	return r;
}

/* ---- introspection --------------------------------------------------------------------- */

weft_fiber *weft_self(void)
{
	return weft__self();
}

int weft_proc_id(void)
{
	struct weft_proc *p = weft__proc();
	return p ? (int)p->id : -EPERM;
}

int weft_nprocs(void)
{
	struct weft_proc *p = weft__proc();
	return p ? (int)p->sched->nprocs : -EPERM;
}

uint64_t weft_fiber_id(const weft_fiber *f)
{
	return f ? f->id : 0;
}

const char *weft_fiber_name(const weft_fiber *f)
{
	return f ? f->name : "";
}

void weft_set_name(const char *name)
{
	struct weft_fiber *f = weft__self();
	if (f)
		snprintf(f->name, sizeof(f->name), "%s", name ? name : "");
}

int weft_sched_stats(struct weft_sched_stats *ret)
{
	struct weft_proc *self = weft__proc();
	if (!ret)
		return -EINVAL;
	if (!self)
		return -EPERM;
	struct weft_sched *s = self->sched;
	memset(ret, 0, sizeof(*ret));
	long live = atomic_load(&s->live);
	for (unsigned i = 0; i < s->nprocs; i++) {
		struct weft__proc_stats *st = &s->procs[i]->st;
		live -= atomic_load_explicit(&s->procs[i]->live_credit, memory_order_relaxed) +
			atomic_load_explicit(&s->procs[i]->live_exits, memory_order_relaxed);
		ret->fibers_spawned += atomic_load_explicit(&st->spawned, memory_order_relaxed);
		ret->switches += atomic_load_explicit(&st->switches, memory_order_relaxed);
		ret->steals += atomic_load_explicit(&st->steals, memory_order_relaxed);
		ret->parks += atomic_load_explicit(&st->parks, memory_order_relaxed);
		ret->naps += atomic_load_explicit(&st->naps, memory_order_relaxed);
		ret->wakeups_msg_ring += atomic_load_explicit(&st->wake_msg, memory_order_relaxed);
		ret->wakeups_eventfd += atomic_load_explicit(&st->wake_efd, memory_order_relaxed);
		ret->io_submitted += atomic_load_explicit(&st->io_sub, memory_order_relaxed);
		ret->io_completed += atomic_load_explicit(&st->io_done, memory_order_relaxed);
		ret->ticks[i] = atomic_load_explicit(&st->ticks, memory_order_relaxed);
	}
	/* exact when the procs are quiet; a snapshot of moving parts otherwise */
	ret->fibers_live = live > 0 ? (uint64_t)live : 0;
	return 0;
}

int weft_features(struct weft_features *ret)
{
	struct weft_proc *p = weft__proc();
	if (!ret)
		return -EINVAL;
	if (!p)
		return -EPERM;
	*ret = p->sched->feat;
	return 0;
}

struct dump_arg {
	int fd;
	int n;
	int64_t now;
};

static void dump_one(void *header, void *arg)
{
	static const char *const names[] = { "running", "parking", "parked", "waking", "dead" };
	struct weft_fiber *f = header;
	struct dump_arg *d = arg;
	if (atomic_load_explicit(&f->magic, memory_order_acquire) != WEFT__FIBER_MAGIC)
		return;
	int st = atomic_load(&f->pstate);
	const char *why = atomic_load_explicit(&f->wait_reason, memory_order_relaxed);
	dprintf(d->fd, "fiber %llu '%s' %s%s%s age_ms=%lld\n", (unsigned long long)f->id, f->name,
		names[st < 5 ? st : 4], why ? " on " : "", why ? why : "",
		(long long)((d->now - f->created_ns) / 1000000));
	d->n++;
}

int weft_dump_fibers(int fd)
{
	struct weft_proc *p = weft__proc();
	if (!p)
		return -EPERM;
	struct dump_arg d = { .fd = fd, .now = weft__now() };
	weft__stack_pool_foreach(p->sched->stacks, dump_one, &d);
	return d.n;
}
