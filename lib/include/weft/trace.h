/* SPDX-License-Identifier: MIT */
/* weft/trace.h — the scheduler's execution trace (Go's runtime/trace, in C).
 *
 * While a trace runs, every proc writes fixed-size events into a ring buffer of its own:
 * which fiber runs on it and when (switches), why a fiber parks, which fiber made
 * another runnable, what was stolen from which proc, its io_uring submission and
 * completion counts, and the spans a program marks (weft_trace_begin/end). A proc writes
 * only its own ring, with plain stores; a reader (weft_trace_collect) copies the new
 * events of every ring while the procs go on running, and drops the ones a proc overwrote
 * meanwhile (a full ring keeps the newest events and counts the lost ones). Memory is
 * bounded: procs x events_per_proc x 128 bytes, allocated at the first start and kept
 * until weft_run returns.
 *
 * Off (the default), each hook in the scheduler costs one load and one predictable
 * branch. Usage:
 *
 *	weft_trace_start(NULL);
 *	while (tracing) {
 *		weft_sleep(ctx, 50 * WEFT_MSEC);
 *		weft_trace_collect(on_event, out);   // the new events, per proc in order
 *	}
 *	weft_trace_stop(on_event, out);               // and what was written before it
 */
#ifndef WEFT_TRACE_H
#define WEFT_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <weft/sched.h>

enum weft_trace_type {
	/* fiber starts running on proc: fiber (0: the proc's scheduler loop), arg: the fiber
	 * that ran before (0: the scheduler loop), text: the new fiber's name */
	WEFT_TRACE_SWITCH = 1,
	/* fiber parks; text: the wait reason ("chan recv", "mutex", ...) */
	WEFT_TRACE_PARK,
	/* fiber was made runnable by fiber arg (0: the scheduler loop, a completion or a
	 * timer) running on proc */
	WEFT_TRACE_WAKE,
	/* proc stole fiber (and maybe more) from proc aux */
	WEFT_TRACE_STEAL,
	/* proc's io_uring totals since start-up: arg submitted, arg2 completed (written when
	 * they changed, at most once per scheduler pass) */
	WEFT_TRACE_RING,
	/* a span began on fiber: arg its id (what weft_trace_begin returned); text: its name,
	 * a NUL, then its args ("key=value,key=value") */
	WEFT_TRACE_SPAN_BEGIN,
	/* the span arg ended on fiber */
	WEFT_TRACE_SPAN_END,
	/* only from weft_trace_collect: arg events of proc were overwritten before they could
	 * be read (the ring was full) */
	WEFT_TRACE_LOST,
};

#define WEFT_TRACE_TEXT 88 /* bytes of an event's text, the NULs included */

/* One event, as weft_trace_collect hands it over (a copy). */
struct weft_trace_event {
	int64_t ts_ns;             /* CLOCK_MONOTONIC, as weft_now() */
	uint16_t type;             /* enum weft_trace_type */
	uint16_t proc;             /* the proc that wrote it */
	uint32_t aux;
	uint64_t fiber;            /* the fiber it is about (weft_fiber_id), 0: none */
	uint64_t arg, arg2;
	char text[WEFT_TRACE_TEXT]; /* NUL-terminated (span: name NUL args NUL) */
};

struct weft_trace_opts {
	unsigned events_per_proc;  /* ring size, rounded up to a power of two; 0: 16384.
	                              Only the first start of a scheduler sets it (the rings
	                              stay until weft_run returns) */
};

/* Called once per event, in each proc's order (procs one after the other; events of two
 * procs are not merged by time). A negative return stops the collection and is returned
 * by weft_trace_collect. It may not park nor call weft_trace_* itself. */
typedef int (*weft_trace_fn)(void *arg, const struct weft_trace_event *ev);

/* Start tracing the calling fiber's scheduler. o may be NULL. Returns 0, -EBUSY when a
 * trace already runs (one at a time), -ENOMEM, -EINVAL (events_per_proc over 2^24), or
 * -EPERM outside weft_run. Events written before the start are never collected. */
WEFT_EXPORT int weft_trace_start(const struct weft_trace_opts *o);
/* Stop writing events, hand what was written since the last collect to fn (NULL: drop
 * it), then let the next trace start. Call it from the fiber that collects. Returns the
 * number of events handed over (as weft_trace_collect), -ENOENT when no trace runs,
 * -EPERM outside weft_run. Never parks. */
WEFT_EXPORT long weft_trace_stop(weft_trace_fn fn, void *arg);
/* Is a trace running? (For a caller that would format a span's args only then.) Any
 * thread; false outside weft_run. */
WEFT_EXPORT bool weft_trace_enabled(void);

/* Hand the events written since the last collect (since the start, the first time) to
 * fn while the trace runs, without stopping any proc. Events a proc
 * overwrote before they were read come out as one WEFT_TRACE_LOST event. One collector
 * at a time (the fiber that started the trace). Returns the number of events handed, fn's
 * negative return, or -EPERM outside weft_run, -ENOENT when no trace runs. Never parks. */
WEFT_EXPORT long weft_trace_collect(weft_trace_fn fn, void *arg);

/* Mark a span of the calling fiber's work (a request, a job's attempt): name and args
 * ("key=value,key=value"; NULL: none) are copied, truncated to fit WEFT_TRACE_TEXT bytes
 * together. Returns the span's id for weft_trace_end, or 0 when no trace runs (then
 * nothing is written, and weft_trace_end(0) does nothing). A span may end on another
 * proc than it began on (the fiber moved): readers match begin and end by id. */
WEFT_EXPORT uint64_t weft_trace_begin(const char *name, const char *args);
WEFT_EXPORT void weft_trace_end(uint64_t span);

#endif
