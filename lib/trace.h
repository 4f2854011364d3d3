/* SPDX-License-Identifier: MIT */
/* trace.h — the scheduler's side of weft/trace.h (private to lib/).
 *
 * A proc's ring: events_per_proc slots of 16 words, written only by the proc's own
 * thread. Writing event i overwrites event i - size. A slot's words are stored with
 * release and read with acquire (plain moves on x86-64). The proc moves head (claimed)
 * before writing a slot's words and done (published) after: a reader copies the events
 * below done, then re-reads head (h2) and keeps only the events from h2 - size on. A
 * reader that saw any word of a later event in a slot also sees the head moved before
 * it, so what it keeps was never touched while it copied.
 *
 * Hooks: WEFT__TRACE(p, call) in the scheduler, one line each: one acquire load (a plain load on x86-64) of
 * p->trace and one branch when off; the call (out of line, cold) when on. */
#ifndef WEFT_TRACE_PRIV_H
#define WEFT_TRACE_PRIV_H

#include <stdatomic.h>
#include <stdint.h>
#include <weft/trace.h>

#define WEFT__TRACE_WORDS 16

struct weft__trace_slot {
	_Atomic uint64_t w[WEFT__TRACE_WORDS]; /* ts, type|proc|aux, fiber, arg, arg2, text */
};

struct weft__trace_ring {
	_Atomic uint64_t head;         /* events ever claimed (moves before the words) */
	_Atomic uint64_t done;         /* events ever written whole (moves after them) */
	uint64_t mask;                 /* slots - 1 */
	struct weft__trace_slot *slots;
	unsigned proc;
	/* the owner's own state */
	uint64_t ring_sub, ring_done;  /* io_uring totals at the last RING event */
	uint64_t spans;                /* span ids handed out here */
	/* the collector's */
	uint64_t read;                 /* events read (or lost) so far */
};

struct weft__trace {
	unsigned nprocs;
	uint64_t size;                 /* slots per ring */
	atomic_bool running;           /* started, and not yet stopped */
	atomic_bool stopping;          /* a stop is collecting the rest */
	atomic_bool collecting;        /* a collect runs (one at a time) */
	struct weft__trace_ring rings[];
};

struct weft_proc;
struct weft_fiber;
struct weft_sched;

#define WEFT__TRACE(p, call)                                                                  \
	do {                                                                                  \
		struct weft__trace_ring *tr_ =                                                \
			atomic_load_explicit(&(p)->trace, memory_order_acquire);              \
		if (__builtin_expect(tr_ != NULL, 0))                                         \
			weft__trace_##call;                                                   \
	} while (0)

/* The hooks (tr_ is the proc's ring, in scope from WEFT__TRACE). */
void weft__trace_switch(struct weft__trace_ring *tr, struct weft_fiber *from, struct weft_fiber *to);
void weft__trace_park(struct weft__trace_ring *tr, struct weft_fiber *f, const char *reason);
void weft__trace_wake(struct weft__trace_ring *tr, struct weft_proc *p, struct weft_fiber *f);
void weft__trace_steal(struct weft__trace_ring *tr, struct weft_fiber *f, unsigned victim);
void weft__trace_ring_counts(struct weft__trace_ring *tr, struct weft_proc *p);

/* weft_run's end: free s's rings (no proc runs any more). */
void weft__trace_free(struct weft_sched *s);
void weft__trace_free_rings(struct weft__trace *t);

#endif
