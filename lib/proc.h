/* SPDX-License-Identifier: MIT */
/* proc.h — what the scheduler's modules share (private to lib/):
 *   sched.c  making fibers runnable, switching, parking, spawning, the
 *            scheduler loop;
 *   runq.c   local, global and inbox queues, stealing;
 *   idle.c   procs sleeping in their ring and waking them;
 *   ring.c   the io_uring: set-up, submit, reap, wake-up messages;
 *   timer.c  the clock and the timer heaps;
 *   run.c    weft_run, procs' threads, introspection.
 * The owner's run-queue fast paths are inline here: they are on every
 * switch, spawn and wake-up.
 */
#ifndef WEFT_PROC_H
#define WEFT_PROC_H

#include "internal.h"

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

static inline void owner_add(atomic_long *v, long d)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + d, memory_order_relaxed);
}

/* ---- run queues (runq.c) ---------------------------------------------------- */

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

/* Fibers of a mass wake-up (a cancelled context's thousands of waiters) are
 * cold: their headers and stack frames were last touched when they parked or
 * when the canceller won them, and a proc running them one after the other
 * waits for each line in turn, every return into a frame being a miss (most
 * of a woken fiber's cost). So while such fibers are queued (p->cold), each
 * take from the queue fetches ahead: the header of the fiber FETCH_HEADER
 * places on (its first touch of the fiber's page, whose page walk then
 * overlaps the fibers before it), and the stack of the one FETCH_STACK places
 * on, from its saved stack pointer up to the header (its header having
 * arrived meanwhile). Near, not far: every fiber's frames sit at the same
 * offsets in their pages, so they compete for the same few L1 sets, and a
 * fetch a hundred fibers ahead is evicted before its fiber runs (fetching a
 * whole chunk of 128 at once saved nothing measurable). Off under the
 * sanitizers: it reads another fiber's header, and their frames differ. */
#define FETCH_HEADER 6
#define FETCH_STACK 2
#define FETCH_STACK_MAX 1024 /* deeper: the header only */

static WEFT__INLINE void runq_fetch_ahead(struct weft_proc *p, uint32_t h)
{
#ifndef WEFT__SWITCH_HOOKS
	if (WEFT__LIKELY(!p->cold))
		return;
	p->cold--;
	uint32_t t = atomic_load_explicit(&p->rq_tail, memory_order_relaxed);
	if (t - h > FETCH_HEADER) {
		char *f = (char *)atomic_load_explicit(&p->rq[(h + FETCH_HEADER) % WEFT__RUNQ_SIZE],
						      memory_order_relaxed);
		__builtin_prefetch(f, 1, 3);
		__builtin_prefetch(f + 64, 1, 3); /* the hot fields' second line */
	}
	if (t - h > FETCH_STACK) {
		struct weft_fiber *f = atomic_load_explicit(&p->rq[(h + FETCH_STACK) % WEFT__RUNQ_SIZE],
							    memory_order_relaxed);
		/* a thief may run f meanwhile: sp is only a hint, read once */
		char *sp = (char *)((uintptr_t)__atomic_load_n(&f->ctx.sp, __ATOMIC_RELAXED) & ~(uintptr_t)63);
		if (sp < (char *)f && (char *)f - sp <= FETCH_STACK_MAX)
			for (char *a = sp; a < (char *)f; a += 64)
				__builtin_prefetch(a, 1, 3);
	}
#else
	(void)p;
	(void)h;
#endif
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
	runq_fetch_ahead(p, h + 1);
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

static inline bool runq_empty(struct weft_proc *p)
{
	return atomic_load(&p->rq_head) == atomic_load(&p->rq_tail) && !atomic_load(&p->runnext);
}

/* The local queue is full: move half of it and f to the global queue.
 * False when a thief made room meanwhile (then retry the local queue). */
bool weft__runq_put_slow(struct weft_proc *p, struct weft_fiber *f);

/* Queue f on p (the calling proc): in runnext when next (the fiber it
 * displaces goes to the tail), else at the tail; a full queue spills half of
 * itself to the global queue. It and weft__runq_get are here, not in
 * runq.c, so that the scheduler sees into them: a call it cannot see into
 * costs every switch a save and restore of registers. */
static inline void weft__runq_put(struct weft_proc *p, struct weft_fiber *f, bool next)
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
		if (weft__runq_put_slow(p, f))
			return;
}

/* The owner took its last queued fiber: the queue drained, unless the
 * fiber leaving (a yield) is about to join it again. */
static inline void note_drain(struct weft_proc *p)
{
	if (p->after != WEFT__AFTER_YIELD)
		owner_inc(&p->drains);
}

/* The owner takes the queue's head, leaving runnext. NULL: the queue is empty.
 * Out of line (weft__runq_get, inlined in every switch, keeps its own copy of the
 * head-taking loop): the scheduler loop's fairness turn, every G0_EVERY-th switch. */
struct weft_fiber *weft__runq_get_head(struct weft_proc *p);

/* The owner takes its next fiber: runnext first, then the head. NULL: empty. */
static inline struct weft_fiber *weft__runq_get(struct weft_proc *p)
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
			runq_fetch_ahead(p, h + 1);
			return f;
		}
	}
}

/* Append the n fibers head..tail (linked by next) to the global queue. */
void weft__gq_push(struct weft_sched *s, struct weft_fiber *head, struct weft_fiber *tail, unsigned n);
/* Append chunk c (whole, c->taken == 0) to the global queue, which frees it once emptied. */
void weft__gq_push_chunk(struct weft_sched *s, struct weft__fiber_chunk *c);
/* Take up to max fibers from the global queue: returns one, queues the rest locally. */
struct weft_fiber *weft__gq_get(struct weft_proc *p, unsigned max);
/* Fibers that must run on p (pinned, I/O cancel): anyone pushes, p pops. */
void weft__inbox_push(struct weft_proc *p, struct weft_fiber *f);
struct weft_fiber *weft__inbox_pop(struct weft_proc *p);
/* Steal from v if its backlog has aged; else lower *due to when it might have. */
struct weft_fiber *weft__steal_from(struct weft_proc *p, struct weft_proc *v, int64_t *due);

/* ---- idle procs (idle.c) ------------------------------------------------------ */

/* After publishing work, before looking for parked procs. A proc going to
 * sleep sets its parked flag, then increments npidle, then looks for work.
 * Both sides doing a read-modify-write of npidle orders them: either the
 * waker sees the proc parked, or the proc sees the work. (An RMW rather than
 * a fence, which ThreadSanitizer does not model.) */
static inline int weft__sync_with_sleepers(struct weft_sched *s)
{
	return atomic_fetch_add(&s->npidle, 0);
}

/* Wake q if it sleeps in its ring (a napping q too when nappers). self: the
 * calling proc if it belongs to q's scheduler, else NULL. */
bool weft__wake_proc(struct weft_proc *self, struct weft_proc *q, bool nappers);
/* New work exists somewhere: wake one idle proc to look for it. */
void weft__wakep(struct weft_sched *s, struct weft_proc *self);
/* Wake every proc but the caller's (stop). */
void weft__wake_all(struct weft_sched *s);
/* Sleep in the ring until a completion, a wake-up or the next timer. */
void weft__proc_sleep(struct weft_proc *p);
/* Wait in the ring until `until` at most, not counted idle (see runq.c). */
void weft__proc_nap(struct weft_proc *p, int64_t until);

/* ---- the ring (ring.c) ------------------------------------------------------- */

int weft__ring_setup(struct weft_proc *p);
/* Fill s->feat from the kernel's probe and p0's set-up flags. */
void weft__ring_probe(struct weft_sched *s);
/* Submit the prepared SQEs (and with events, collect deferred completions). */
int weft__ring_submit(struct weft_proc *p, bool events);
/* Handle every completion in the ring; returns how many. */
unsigned weft__ring_reap(struct weft_proc *p);
/* Submit what is prepared and wait in the ring for a completion (a wake-up is
 * one), until the next timer or `until` (INT64_MAX: no limit). */
void weft__ring_wait(struct weft_proc *p, int64_t until);
/* Wake q from its ring: MSG_RING from self's ring, else q's eventfd. */
void weft__ring_send_wake(struct weft_proc *self, struct weft_proc *q);

/* ---- timers (timer.c) -------------------------------------------------------- */

void weft__timers_fire(struct weft_proc *p, int64_t now);
/* Run p's timers due at now (on p's scheduler stack). */
static inline void weft__timers_run(struct weft_proc *p, int64_t now)
{
	if (atomic_load_explicit(&p->next_timer, memory_order_relaxed) <= now)
		weft__timers_fire(p, now);
}

/* ---- the scheduler (sched.c) ------------------------------------------------- */

/* Settle p's share of the live count; the last fiber's end stops the scheduler. */
void weft__live_settle(struct weft_proc *p);
void weft__stop_all(struct weft_sched *s);
/* Make a new fiber running fn(arg) on p (the calling proc) and queue it. */
int weft__spawn(struct weft_proc *p, weft_fn fn, void *arg, const struct weft_go_opts *o,
		struct weft_fiber **ret);
/* Run fibers on p until the scheduler stops. */
void weft__proc_loop(struct weft_proc *p);
const char *weft__fiber_name_of(const void *header);

#endif
