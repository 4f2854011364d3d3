/* SPDX-License-Identifier: MIT */
/* weft/patterns.h — the channel patterns of the Go concurrency guides:
 * worker pool, pipeline stage, fan-out, fan-in (merge), tee, bridge,
 * or-channel and or-done. (Pub-sub: weft/pubsub.h.)
 *
 * Common rules:
 *   - Channels carry fixed-size elements; a pattern uses the element size of
 *     the channels it is given (weft_chan_elem_size) and returns -EINVAL when
 *     channels that must match differ.
 *   - Every pattern runs in fibers it spawns (so the calls themselves never
 *     park and are fiber only: -EPERM elsewhere). Those fibers hold their own
 *     references to the channels and to ctx, so the caller may drop its own
 *     at once.
 *   - Output channels are CLOSED by the pattern when it is finished: when its
 *     input(s) are closed and drained, or when ctx is done (then pending
 *     values are abandoned). Downstream code therefore just ranges over the
 *     output until -EPIPE, as in Go.
 *   - Errors: -EINVAL (bad arguments), -ENOMEM, -EPERM (not a fiber). On
 *     -EINVAL/-EPERM nothing was spawned. On -ENOMEM while spawning the n-th
 *     fiber of a group, the ones already running carry on and the output is
 *     closed when they end.
 */
#ifndef WEFT_PATTERNS_H
#define WEFT_PATTERNS_H

#include <stddef.h>
#include <stdint.h>
#include <weft/chan.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- pipeline stage and fan-out ------------------------------------------
 * fn maps one input element to one output element. Return 0 to send *out
 * downstream, > 0 to drop this element (a filter), < 0 to end this stage
 * fiber (as if in were closed: an error path the caller reports itself). */
typedef int (*weft_stage_fn)(weft_ctx *ctx, const void *in, void *out, void *arg);

/* Spawn one fiber: for each value received from in, fn(ctx, value, &res,
 * arg), then send res to out. out is closed when in is closed and drained,
 * ctx is done, or fn stops the stage. Returns 0. */
WEFT_EXPORT int weft_stage_go(weft_ctx *ctx, weft_chan *in, weft_chan *out, weft_stage_fn fn,
			      void *arg);
/* Fan-out: n (1..1024) such fibers on the same in and out; out is closed when
 * the last of them ends. Values reach out in no particular order. Returns 0. */
WEFT_EXPORT int weft_fanout_go(weft_ctx *ctx, weft_chan *in, weft_chan *out, unsigned n,
			       weft_stage_fn fn, void *arg);

/* ---- fan-in -----------------------------------------------------------------
 * Merge: forward every value of ins[0..n-1] (n >= 1, same element size as
 * out) to out, one fiber per input; out is closed once every input is closed
 * and drained (or ctx is done). Order is preserved per input only. */
WEFT_EXPORT int weft_merge(weft_ctx *ctx, weft_chan *const *ins, size_t n, weft_chan *out);

/* ---- tee ------------------------------------------------------------------
 * Send every value of in to both out1 and out2 (same element size), one value
 * at a time: the next value is read only when both outputs took the current
 * one (whichever is ready first gets it first). Both are closed at the end. */
WEFT_EXPORT int weft_tee(weft_ctx *ctx, weft_chan *in, weft_chan *out1, weft_chan *out2);

/* ---- bridge -----------------------------------------------------------------
 * chans carries weft_chan * elements (element size sizeof(weft_chan *)); each
 * received channel is drained into out in turn, then the next one is read.
 * Ownership: every channel sent on chans transfers one reference to the
 * bridge, which drops it once that channel is drained. out is closed when
 * chans is closed and the last inner channel drained (or ctx is done). */
WEFT_EXPORT int weft_bridge(weft_ctx *ctx, weft_chan *chans, weft_chan *out);

/* ---- or-channel -------------------------------------------------------------
 * *ret (a new channel, element size 1, unbuffered, owned by the caller) is
 * closed as soon as any of dones[0..n-1] (n >= 1) is closed or yields a
 * value, or ctx is done. Any n: above 64 the inputs are combined in a tree
 * of or-channels, as in the Go guide. */
WEFT_EXPORT int weft_or(weft_ctx *ctx, weft_chan *const *dones, size_t n, weft_chan **ret);

/* ---- or-done ----------------------------------------------------------------
 * *ret (a new channel with in's element size, unbuffered, owned by the
 * caller) yields in's values until in is closed, done (may be NULL) is closed
 * or yields a value, or ctx is done; then it is closed. Lets a consumer range
 * over a channel it does not control and still stop on its own signal. */
WEFT_EXPORT int weft_or_done(weft_ctx *ctx, weft_chan *done, weft_chan *in, weft_chan **ret);

/* ---- worker pool ------------------------------------------------------------
 * A fixed number of workers read jobs from a bounded channel and write
 * results to a results channel. Graceful close: weft_workpool_close() closes
 * the jobs channel; workers drain what is queued, finish, and the last one
 * closes the results channel; weft_workpool_wait() then returns. */
typedef struct weft_workpool weft_workpool;

/* One job: fill *result (result_size bytes) and return 0 to emit it, > 0 to
 * emit nothing for this job, < 0 for a failed job (counted; nothing emitted). */
typedef int (*weft_workpool_fn)(weft_ctx *ctx, const void *job, void *result, void *arg);

struct weft_workpool_opts {
	unsigned workers;      /* 1..1024 */
	size_t job_size;       /* bytes per job (1..65536) */
	size_t queue;          /* jobs channel capacity (0 = unbuffered) */
	size_t result_size;    /* bytes per result; 0 = no results channel */
	size_t results_queue;  /* results channel capacity */
	weft_workpool_fn fn;
	void *arg;
};

/* Start the workers under ctx (ctx done: workers stop after their current
 * job, queued jobs are abandoned, results closed). Returns 0 with *ret owned
 * by the caller, -EINVAL, -ENOMEM, -EPERM. */
WEFT_EXPORT int weft_workpool_new(weft_ctx *ctx, const struct weft_workpool_opts *o,
				  weft_workpool **ret);
/* Queue one job (copied), parking while the queue is full (backpressure).
 * Returns 0, -EPIPE after close, or ctx's error. Fiber only. */
WEFT_EXPORT int weft_workpool_submit(weft_ctx *ctx, weft_workpool *p, const void *job);
/* The jobs / results channels (borrowed: valid until weft_workpool_free).
 * Results is NULL when result_size is 0. */
WEFT_EXPORT weft_chan *weft_workpool_jobs(weft_workpool *p);
WEFT_EXPORT weft_chan *weft_workpool_results(weft_workpool *p);
/* No more jobs: close the jobs channel (idempotent). Never parks. */
WEFT_EXPORT int weft_workpool_close(weft_workpool *p);
/* Park until every worker has ended. Returns 0 or ctx's error. A consumer of
 * the results channel must keep draining it meanwhile if it is bounded. */
WEFT_EXPORT int weft_workpool_wait(weft_ctx *ctx, weft_workpool *p);
struct weft_workpool_stats {
	uint64_t done, failed, skipped; /* jobs by outcome of fn */
};
WEFT_EXPORT void weft_workpool_stats(weft_workpool *p, struct weft_workpool_stats *ret);
/* Close, wait for the workers (background ctx) and free. NULL ok; returns
 * NULL; never refuses. Outside a fiber it cannot wait: the workers finish the
 * queued jobs in the background and the last one frees the pool. */
WEFT_EXPORT weft_workpool *weft_workpool_free(weft_workpool *p);

#ifdef __cplusplus
}
#endif
#endif
