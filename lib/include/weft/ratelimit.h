/* SPDX-License-Identifier: MIT */
/* weft/ratelimit.h — token-bucket rate limiter (Go's x/time/rate).
 *
 * A bucket holds up to `burst` tokens and refills at `events` tokens per
 * `period_ns`; it starts full. Each event takes one token (or n). allow()
 * takes tokens only if they are there now; reserve() always takes them,
 * letting the bucket go into debt, and says when the debt is paid (the time
 * the caller may act); wait() is reserve() plus a sleep until that time.
 * Reservations are served in the order they were made, so waiters are FIFO
 * and the long-run rate never exceeds events/period plus the initial burst.
 *
 * Thread-safe: any fiber on any proc (and plain threads for the
 * non-blocking calls) may share one limiter.
 *
 *   weft_ratelimit *rl;
 *   weft_ratelimit_new(100, WEFT_SEC, 10, &rl);   // 100/s, bursts of 10
 *   while (weft_ratelimit_wait(ctx, rl) == 0) send_one();
 */
#ifndef WEFT_RATELIMIT_H
#define WEFT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_ratelimit weft_ratelimit;

/* events > 0 tokens every period_ns > 0, burst >= 1. Returns 0 with *ret
 * owned by the caller (free with weft_ratelimit_free), -EINVAL, -ENOMEM. */
WEFT_EXPORT int weft_ratelimit_new(uint64_t events, int64_t period_ns, unsigned burst,
				   weft_ratelimit **ret);
/* Free (NULL ok); returns NULL. No fiber may still be waiting on it. */
WEFT_EXPORT weft_ratelimit *weft_ratelimit_free(weft_ratelimit *rl);

/* Change rate and burst from now on (config reload); tokens accrued so far
 * are kept, capped at the new burst. Returns 0 or -EINVAL. Any thread. */
WEFT_EXPORT int weft_ratelimit_set(weft_ratelimit *rl, uint64_t events, int64_t period_ns,
				   unsigned burst);

/* Take one token if one is available now. Never blocks; any thread.
 * Returns 0 (taken), -EAGAIN when the bucket is empty, -EINVAL for NULL. */
WEFT_EXPORT int weft_ratelimit_allow(weft_ratelimit *rl);
/* Same for n tokens at once (all or none); -EINVAL also for n == 0 or
 * n > burst (it could never succeed). */
WEFT_EXPORT int weft_ratelimit_allow_n(weft_ratelimit *rl, unsigned n);

/* Take n tokens now, possibly into debt, and store in *ret_at the monotonic
 * time (weft_now clock) at which the caller may act (<= now when it may act
 * at once). Never blocks; any thread. Returns 0, or -EINVAL (n == 0, n >
 * burst: such a request could never be met, NULL arguments). The caller that
 * then decides not to act gives the tokens back with weft_ratelimit_cancel. */
WEFT_EXPORT int weft_ratelimit_reserve(weft_ratelimit *rl, unsigned n, int64_t *ret_at);
/* Give back n reserved tokens that were not used (capped at burst). Later
 * reservations keep their times: giving back can only make the limiter more
 * generous to future callers, never exceed the rate. Returns 0, or -EINVAL
 * (NULL, n == 0). */
WEFT_EXPORT int weft_ratelimit_cancel(weft_ratelimit *rl, unsigned n);

/* Park until one token (or n) is ours, then return 0. Returns ctx's error if
 * ctx is done first (the tokens are given back), -ETIMEDOUT at once without
 * taking anything if ctx's deadline comes before the tokens would, -EINVAL
 * as for reserve. Fiber only (-EPERM elsewhere). */
WEFT_EXPORT int weft_ratelimit_wait(weft_ctx *ctx, weft_ratelimit *rl);
WEFT_EXPORT int weft_ratelimit_wait_n(weft_ctx *ctx, weft_ratelimit *rl, unsigned n);

/* Tokens available now (negative while in debt). For metrics and tests. */
WEFT_EXPORT double weft_ratelimit_tokens(weft_ratelimit *rl);

#ifdef __cplusplus
}
#endif
#endif
