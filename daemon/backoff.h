/* backoff.h — retry delays and the token bucket of a stage, as pure arithmetic.
 *
 * The engine sleeps (cancellably) for what these return; keeping the arithmetic free of
 * clocks and fibers makes the schedules unit-testable (tests/unit/test_jobs.c). Written
 * before libweft's weft/retry.h and weft/ratelimit.h were merged; same rules, and the
 * engine could move to them with a local change. */
#ifndef WEFTD_BACKOFF_H
#define WEFTD_BACKOFF_H

#include <stdint.h>

#include "config.h"
#include "internal.h"

/* The delay before attempt `attempt` + 1, after `attempt` (1-based) failed:
 * base = min(max, initial * multiplier^(attempt-1)); jitter none: base; full: uniform in
 * [0, base]; equal: base/2 + uniform in [0, base/2]. rnd is a uniform 64-bit random. */
uint64_t weftd_backoff_ns(const struct weftd_retry *r, uint32_t attempt, uint64_t rnd);

/* A small xorshift generator for jitter (per worker; no shared state). */
static inline uint64_t weftd_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Token bucket: `count` tokens per `per_ns`, at most `burst` saved. Reservations may take
 * the bucket below zero: each caller is told how long to wait for its own token, so
 * concurrent workers queue fairly without polling. */
struct weftd_bucket {
	weft__lock lock;
	double tokens;
	int64_t last_ns;
	double rate_per_ns;         /* 0 = unlimited */
	double burst;
};
void weftd_bucket_init(struct weftd_bucket *b, const struct weftd_rate_limit *rl, int64_t now_ns);
/* Reserve one token at now_ns; returns how many ns to wait before using it (0 = now). */
int64_t weftd_bucket_reserve(struct weftd_bucket *b, int64_t now_ns);

#endif
