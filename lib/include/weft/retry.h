/* SPDX-License-Identifier: MIT */
/* weft/retry.h — retries with exponential backoff and jitter.
 *
 * The schedule follows AWS's "Exponential Backoff And Jitter" (2015): with
 * base = initial * multiplier^retry capped at max,
 *   NONE:  delay = base
 *   FULL:  delay = uniform [0, base]
 *   EQUAL: delay = base/2 + uniform [0, base/2]
 * weft_backoff_delay() is the pure schedule (deterministic given the caller's
 * PRNG state, no global state), for loops that wait on their own terms (the
 * daemon's job retries); weft_retry() is the complete loop: it runs a
 * function until it succeeds, an error is classified as permanent, the
 * attempts or the elapsed-time budget are spent, or the context ends.
 *
 *   struct weft_retry_policy p = WEFT_RETRY_POLICY_DEFAULT;
 *   p.attempts = 5; p.classify = is_transient;
 *   int r = weft_retry(ctx, &p, connect_once, &addr, NULL);
 */
#ifndef WEFT_RETRY_H
#define WEFT_RETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

enum weft_jitter {
	WEFT_JITTER_NONE = 0,  /* exactly the exponential schedule */
	WEFT_JITTER_FULL,      /* uniform in [0, base]: spreads retries most */
	WEFT_JITTER_EQUAL,     /* base/2 + uniform in [0, base/2]: never shorter than half */
};

/* Says whether err (a negative errno from the retried function) is worth
 * another attempt. NULL classifier: every error is retryable. */
typedef bool (*weft_retry_classify_fn)(int err, void *arg);

struct weft_retry_policy {
	unsigned attempts;        /* tries in total, the first included; 0 = unlimited
	                             (then bound it with max_elapsed_ns or ctx) */
	int64_t initial_ns;       /* delay before the second try; > 0 */
	int64_t max_ns;           /* cap on one delay; 0 = no cap */
	double multiplier;        /* growth per retry; >= 1.0 */
	enum weft_jitter jitter;
	int64_t max_elapsed_ns;   /* no retry starts later than this after the first
	                             try started; 0 = no limit */
	weft_retry_classify_fn classify;
	void *classify_arg;
	uint64_t seed;            /* PRNG seed for the jitter; 0 = seeded from the clock */
};

/* 5 tries, 100 ms doubling up to 10 s, full jitter, every error retryable. */
#define WEFT_RETRY_POLICY_DEFAULT                                                          \
	{ .attempts = 5, .initial_ns = 100000000, .max_ns = 10000000000, .multiplier = 2.0,   \
	  .jitter = WEFT_JITTER_FULL }

/* The delay in ns to wait after the retry-th failure (retry 0 is the wait
 * between the first and second try). rng is the caller's PRNG state (any
 * value, 0 included), advanced by each call when jitter is not NONE; it may
 * be NULL only for WEFT_JITTER_NONE. Pure: same policy, retry and *rng give
 * the same delay. Returns the delay (>= 0), or -EINVAL for a bad policy
 * (initial_ns <= 0, multiplier < 1, max_ns < 0, unknown jitter, NULL rng with
 * jitter). Any thread; never blocks. */
WEFT_EXPORT int64_t weft_backoff_delay(const struct weft_retry_policy *p, unsigned retry,
				       uint64_t *rng);

/* Advance the PRNG state used by weft_backoff_delay (wyrand; any initial
 * value is a good seed) and return 64 random bits. Not for cryptography.
 * Exposed so callers can draw from the same stream. Any thread. */
WEFT_EXPORT uint64_t weft_rand64(uint64_t *rng);

/* The retried operation: 0 (or a positive value) on success, a negative errno
 * on failure. It receives the ctx given to weft_retry. */
typedef int (*weft_retry_fn)(weft_ctx *ctx, void *arg);

struct weft_retry_info {
	unsigned attempts;        /* tries made */
	int last_err;             /* the last failure of fn, 0 if none failed */
	int64_t elapsed_ns;       /* from the first try's start to the return */
};

/* Call fn(ctx, arg) until it succeeds, sleeping per the policy between tries.
 * Stops and returns:
 *   fn's result (>= 0) on success;
 *   fn's error when classify says it is not retryable, when p->attempts tries
 *     are spent, or when the next retry would start after max_elapsed_ns;
 *   ctx's error (-ECANCELED/-ETIMEDOUT) when ctx is done before a try or
 *     during a backoff sleep (the sleep is cut short at once);
 *   -EINVAL for a bad policy or NULL fn, -EPERM outside a fiber.
 * If ret_info is not NULL it receives the tally. May park. Fiber only. */
WEFT_EXPORT int weft_retry(weft_ctx *ctx, const struct weft_retry_policy *p, weft_retry_fn fn,
			   void *arg, struct weft_retry_info *ret_info);

#ifdef __cplusplus
}
#endif
#endif
