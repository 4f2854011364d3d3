/* SPDX-License-Identifier: MIT */
/* retry.c — exponential backoff schedule and the retry loop. */
#include "internal.h"
#include "rand.h"
#include <weft/retry.h>

uint64_t weft_rand64(uint64_t *rng)
{
	return weft__rand64(rng);
}

/* uniform in [0, n] without modulo bias worth mentioning (Lemire's multiply) */
static int64_t uniform_upto(uint64_t *rng, int64_t n)
{
	unsigned __int128 m = (unsigned __int128)weft__rand64(rng) * ((uint64_t)n + 1);
	return (int64_t)(m >> 64);
}

static bool policy_ok(const struct weft_retry_policy *p)
{
	return p && p->initial_ns > 0 && p->max_ns >= 0 && p->multiplier >= 1.0 &&
	       p->max_elapsed_ns >= 0 && (unsigned)p->jitter <= WEFT_JITTER_EQUAL;
}

/* initial * multiplier^retry, capped; computed in double so that a huge
 * retry count saturates instead of overflowing */
static int64_t base_delay(const struct weft_retry_policy *p, unsigned retry)
{
	int64_t cap = p->max_ns ? p->max_ns : INT64_MAX / 2;
	/* multiplier^retry by squaring (no libm; O(log retry)) */
	double f = 1.0, b = p->multiplier;
	for (unsigned e = retry; e; e >>= 1) {
		if (e & 1)
			f *= b;
		b *= b;
	}
	double d = (double)p->initial_ns * f;
	if (!(d < (double)cap)) /* also catches inf */
		return cap;
	/* round to the nearest ns so that exact schedules (x2, x1.5) stay exact */
	return (int64_t)(d + 0.5);
}

int64_t weft_backoff_delay(const struct weft_retry_policy *p, unsigned retry, uint64_t *rng)
{
	if (!policy_ok(p) || (p->jitter != WEFT_JITTER_NONE && !rng))
		return -EINVAL;
	int64_t base = base_delay(p, retry);
	switch (p->jitter) {
	case WEFT_JITTER_NONE:
		return base;
	case WEFT_JITTER_FULL:
		return uniform_upto(rng, base);
	case WEFT_JITTER_EQUAL:
		return base / 2 + uniform_upto(rng, base - base / 2);
	}
	return -EINVAL;
}

int weft_retry(weft_ctx *ctx, const struct weft_retry_policy *p, weft_retry_fn fn, void *arg,
	       struct weft_retry_info *ret_info)
{
	struct weft_retry_info info = { 0 };
	if (!policy_ok(p) || !fn)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	uint64_t rng = p->seed ? p->seed : (uint64_t)weft__now() ^ (uint64_t)(uintptr_t)&info;
	int64_t start = weft__now();
	int r;
	for (;;) {
		r = weft_ctx_err(ctx);
		if (r < 0)
			break;
		info.attempts++;
		r = fn(ctx, arg);
		if (r >= 0)
			break;
		info.last_err = r;
		if (p->classify && !p->classify(r, p->classify_arg))
			break;
		if (p->attempts && info.attempts >= p->attempts)
			break;
		int64_t d = weft_backoff_delay(p, info.attempts - 1, &rng);
		int64_t at = weft__now() + d;
		if (p->max_elapsed_ns && at - start > p->max_elapsed_ns)
			break;
		int s = weft_sleep_until(ctx, at);
		if (s < 0) {
			r = s;
			break;
		}
	}
	info.elapsed_ns = weft__now() - start;
	if (ret_info)
		*ret_info = info;
	return r;
}
