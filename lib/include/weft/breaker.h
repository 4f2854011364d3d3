/* SPDX-License-Identifier: MIT */
/* weft/breaker.h — circuit breaker (closed / open / half-open).
 *
 * CLOSED:    calls go through; `failure_threshold` consecutive failures open it.
 * OPEN:      calls are refused with -EBUSY without running; after
 *            `cooldown_ns` the next call attempt moves it to HALF_OPEN.
 * HALF_OPEN: at most `half_open_probes` calls run at a time (the rest are
 *            refused); one failure re-opens it for another cool-down, and
 *            `half_open_probes` successes close it.
 * Results of calls admitted before the latest state change are ignored, so
 * a slow call from an old closed period cannot re-open a fresh breaker.
 *
 * Thread-safe: share one breaker between fibers on any procs.
 *
 *   weft_breaker *b;
 *   weft_breaker_new(&(struct weft_breaker_opts){ .failure_threshold = 5,
 *                    .cooldown_ns = 30 * WEFT_SEC }, &b);
 *   int r = weft_breaker_call(ctx, b, call_backend, req);  // -EBUSY while open
 */
#ifndef WEFT_BREAKER_H
#define WEFT_BREAKER_H

#include <stdbool.h>
#include <stdint.h>
#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_breaker weft_breaker;

enum weft_breaker_state { WEFT_BREAKER_CLOSED = 0, WEFT_BREAKER_OPEN, WEFT_BREAKER_HALF_OPEN };

struct weft_breaker_opts {
	unsigned failure_threshold; /* consecutive failures that open it; 0 = 5 */
	int64_t cooldown_ns;        /* time open before probing; 0 = 30 s */
	unsigned half_open_probes;  /* concurrent probes allowed, and successes
	                               needed to close; 0 = 1 */
	/* Which results are failures; NULL = every negative value. Say false for
	 * errors that are not the callee's fault (-ECANCELED from the caller's ctx). */
	bool (*is_failure)(int result, void *arg);
	/* Called on each state change, under the breaker's lock, in order: it must
	 * be short, must not park and must not call into this breaker. */
	void (*on_change)(weft_breaker *b, enum weft_breaker_state from,
			  enum weft_breaker_state to, void *arg);
	void *arg;                  /* for is_failure and on_change */
};

/* opts NULL = all defaults. Returns 0 with *ret owned by the caller, or
 * -EINVAL, -ENOMEM. */
WEFT_EXPORT int weft_breaker_new(const struct weft_breaker_opts *opts, weft_breaker **ret);
/* NULL ok; returns NULL. No call may still be in flight. */
WEFT_EXPORT weft_breaker *weft_breaker_free(weft_breaker *b);

/* Ask to make a call. 0: go ahead, and report the outcome with
 * weft_breaker_done(b, *ret_ticket, result) exactly once; -EBUSY: refused
 * (open, or half-open with all probe slots taken); -EINVAL. Never blocks. */
WEFT_EXPORT int weft_breaker_allow(weft_breaker *b, uint64_t *ret_ticket);
/* Report the result of an admitted call (a negative errno is a failure per
 * opts.is_failure). Never blocks. Returns 0 (also for a ticket from an
 * earlier state, which is counted but not evidence), -EINVAL for NULL. */
WEFT_EXPORT int weft_breaker_done(weft_breaker *b, uint64_t ticket, int result);

/* allow + fn(ctx, arg) + done. Returns fn's result, or -EBUSY without calling
 * fn. Parks only if fn does. */
WEFT_EXPORT int weft_breaker_call(weft_ctx *ctx, weft_breaker *b,
				  int (*fn)(weft_ctx *ctx, void *arg), void *arg);

/* The state now (an OPEN breaker whose cool-down has passed reads HALF_OPEN). */
WEFT_EXPORT enum weft_breaker_state weft_breaker_state(weft_breaker *b);
/* Back to CLOSED with clean counters (operator action). */
WEFT_EXPORT void weft_breaker_reset(weft_breaker *b);

struct weft_breaker_stats {
	uint64_t admitted, refused, successes, failures, opened; /* since creation */
	unsigned consecutive_failures;
};
WEFT_EXPORT void weft_breaker_stats(weft_breaker *b, struct weft_breaker_stats *ret);

#ifdef __cplusplus
}
#endif
#endif
