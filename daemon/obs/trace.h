/* SPDX-License-Identifier: MIT */
/* trace.h — the scheduler trace (weft/trace.h) as Chrome trace-event JSON: what the `trace`
 * op (PROTOCOL.md), GET /debug/trace (http.h) and `weftctl trace` give, to open in
 * Perfetto (ui.perfetto.dev) or chrome://tracing unchanged.
 *
 * The JSON (the "JSON Object Format" of the Trace Event Format document):
 *   {"traceEvents":[...],"displayTimeUnit":"ns","otherData":{...}}
 *   one track (tid N, named "proc N") per proc, in process 1 ("weftd"):
 *     X "fiber name" (cat fiber)   a fiber's run slice on that proc, args.fiber its id
 *     i "park: reason" (cat park)  a fiber parked (args.fiber, args.reason)
 *     i "wake" (cat wake)          args.fiber made runnable by args.by (0: the scheduler:
 *                                  an I/O completion, a timer) running on this proc
 *     i "steal" (cat steal)        args.fiber taken from args.from_proc
 *     C "ring proc N"              io_uring totals: args.submitted, args.completed
 *   spans (async b/e pairs matched by id, cat span): a job's attempt at a stage is named
 *     after the stage, with args pipeline, stage, job, attempt
 *   i "lost" (global)               args.events a proc overwrote before they were read
 * Timestamps are microseconds since the trace started. otherData: seconds, procs, events,
 * lost and dropped (events left out past the size limit).
 *
 * Memory is bounded: the library's rings (procs x 16384 x 128 bytes) and the JSON, which
 * stops taking events at WEFTD_TRACE_MAX_BYTES (64 MiB: the rest are counted as dropped;
 * a busy daemon fills that in a few seconds). */
#ifndef WEFTD_OBS_TRACE_H
#define WEFTD_OBS_TRACE_H

#include <stdint.h>
#include <weft/weft.h>

#include "proto/buf.h"

#define WEFTD_TRACE_SECONDS_MAX 60            /* a trace's length: 1..60 seconds */
#define WEFTD_TRACE_MAX_BYTES   (64u << 20)   /* of JSON, then events are dropped */
#define WEFTD_TRACE_PROCS_MAX   64
#define WEFTD_TRACE_OPEN_SPANS  1024          /* spans whose end can be named (below) */

/* The writer's state: the run slice open on each proc, the counts (about 100 KiB: on the
 * heap, not a fiber's stack). */
struct weftd_trace_json {
	struct weftd_buf *b;
	size_t max_bytes;
	int64_t t0;                   /* weft_now() at the start: ts 0 */
	unsigned nprocs;
	uint64_t events, lost, dropped;
	struct {
		uint64_t fiber;       /* running since start, 0: none known */
		int64_t start;
		char name[32];
	} cur[WEFTD_TRACE_PROCS_MAX];
	/* the names of open spans: an end event must repeat its begin's name (Perfetto
	 * keys an async track by name and id), and the library's end event carries only the
	 * id. Direct-mapped by id: an end whose begin was overwritten (or came before the
	 * trace) is left out, and the viewer shows that span as not ended. */
	struct {
		uint64_t id;
		char name[WEFT_TRACE_TEXT];
	} open[WEFTD_TRACE_OPEN_SPANS];
};

/* Open the document in b (the caller may have written a response's start before): the
 * process and proc track names. key: the member name to write it under (inside an open
 * object), or NULL for a bare document. */
void weftd_trace_json_begin(struct weftd_trace_json *tj, struct weftd_buf *b, const char *key,
			    unsigned nprocs, int64_t t0, size_t max_bytes);
/* One event (a weft_trace_fn: returns 0; b's error ends nothing, it is reported at end). */
int weftd_trace_json_event(void *tj, const struct weft_trace_event *ev);
/* Close the slices still open at t_end and the document. Returns b's error or 0. */
int weftd_trace_json_end(struct weftd_trace_json *tj, int64_t t_end, unsigned seconds);

/* Trace the calling fiber's scheduler for seconds (1..WEFTD_TRACE_SECONDS_MAX), writing
 * the JSON into out as it is collected (every 100 ms), under key (see _begin). Parks for
 * the duration; a ctx done early ends the trace there. Returns 0, -EBUSY (a trace runs
 * already: one at a time), -EINVAL (seconds), -ENOMEM. Fiber only. */
int weftd_trace_run(weft_ctx *ctx, unsigned seconds, struct weftd_buf *out, const char *key);

/* The `trace` op: {"id":..,"ok":true,"trace":{<the document>}} for request id into out.
 * The signature of server.h's weftd_op_handler_args (arg unused); the trace ends early when
 * args->conn_ctx is done (the client went away). A trace already running answers `conflict`. */
struct weftd_request;
int weftd_trace_answer(void *arg, const struct weftd_request *args, const char *id,
		       struct weftd_buf *out, char *err, size_t errlen);

#endif
