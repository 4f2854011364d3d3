/* SPDX-License-Identifier: MIT */
/* ratelimit.c — token bucket with debt (reservations), as Go's x/time/rate.
 *
 * State is (tokens, last): the tokens held at time last. Refill is computed
 * lazily from the elapsed time whenever the bucket is touched, so a limiter
 * costs nothing while idle and needs no timer. Tokens are a double so that
 * rates that do not divide the period (3 per second) stay exact enough.
 */
#include <stdlib.h>

#include "internal.h"
#include <weft/ratelimit.h>

struct weft_ratelimit {
	weft__lock lock;
	double ns_per_token;   /* period / events */
	double burst;          /* bucket size */
	double tokens;         /* held at 'last'; negative = debt of reservations */
	int64_t last;          /* monotonic ns of the last refill */
};

static bool args_ok(uint64_t events, int64_t period_ns, unsigned burst)
{
	return events > 0 && period_ns > 0 && burst >= 1;
}

/* Refill up to now. Callers hold the lock. A thread that read the clock
 * before another one took the lock may bring an older now: time never goes
 * back for the bucket. */
static void advance(weft_ratelimit *rl, int64_t now)
{
	if (now <= rl->last)
		return;
	double t = rl->tokens + (double)(now - rl->last) / rl->ns_per_token;
	rl->tokens = t < rl->burst ? t : rl->burst;
	rl->last = now;
}

int weft_ratelimit_new(uint64_t events, int64_t period_ns, unsigned burst, weft_ratelimit **ret)
{
	if (!ret || !args_ok(events, period_ns, burst))
		return -EINVAL;
	weft_ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->ns_per_token = (double)period_ns / (double)events;
	rl->burst = burst;
	rl->tokens = burst;
	rl->last = weft__now();
	*ret = rl;
	return 0;
}

weft_ratelimit *weft_ratelimit_free(weft_ratelimit *rl)
{
	free(rl);
	return NULL;
}

int weft_ratelimit_set(weft_ratelimit *rl, uint64_t events, int64_t period_ns, unsigned burst)
{
	if (!rl || !args_ok(events, period_ns, burst))
		return -EINVAL;
	int64_t now = weft__now();
	weft__lock_acquire(&rl->lock);
	advance(rl, now); /* what accrued so far accrued at the old rate */
	rl->ns_per_token = (double)period_ns / (double)events;
	rl->burst = burst;
	if (rl->tokens > rl->burst)
		rl->tokens = rl->burst;
	weft__lock_release(&rl->lock);
	return 0;
}

int weft_ratelimit_allow_n(weft_ratelimit *rl, unsigned n)
{
	if (!rl || n == 0)
		return -EINVAL;
	int64_t now = weft__now();
	weft__lock_acquire(&rl->lock);
	int r = -EINVAL; /* more than the bucket holds: never */
	if (n <= rl->burst) {
		advance(rl, now);
		r = rl->tokens >= (double)n ? 0 : -EAGAIN;
		if (r == 0)
			rl->tokens -= n;
	}
	weft__lock_release(&rl->lock);
	return r;
}

int weft_ratelimit_allow(weft_ratelimit *rl)
{
	return weft_ratelimit_allow_n(rl, 1);
}

int weft_ratelimit_reserve(weft_ratelimit *rl, unsigned n, int64_t *ret_at)
{
	if (!rl || !ret_at || n == 0)
		return -EINVAL;
	int64_t now = weft__now();
	weft__lock_acquire(&rl->lock);
	if ((double)n > rl->burst) {
		weft__lock_release(&rl->lock);
		return -EINVAL;
	}
	advance(rl, now);
	rl->tokens -= n;
	/* debt is paid back at the refill rate; round up so that the caller
	 * never acts before its token exists */
	int64_t at = rl->last;
	if (rl->tokens < 0)
		at += (int64_t)(-rl->tokens * rl->ns_per_token + 0.999);
	weft__lock_release(&rl->lock);
	*ret_at = at;
	return 0;
}

int weft_ratelimit_cancel(weft_ratelimit *rl, unsigned n)
{
	if (!rl || n == 0)
		return -EINVAL;
	weft__lock_acquire(&rl->lock);
	rl->tokens += n;
	if (rl->tokens > rl->burst)
		rl->tokens = rl->burst;
	weft__lock_release(&rl->lock);
	return 0;
}

int weft_ratelimit_wait_n(weft_ctx *ctx, weft_ratelimit *rl, unsigned n)
{
	if (!weft__self())
		return -EPERM;
	int r = weft_ctx_err(ctx);
	if (r < 0)
		return r;
	int64_t at;
	r = weft_ratelimit_reserve(rl, n, &at);
	if (r < 0)
		return r;
	if (at > weft_ctx_deadline(ctx)) {
		/* Go does the same: fail now rather than sleep into a certain timeout */
		weft_ratelimit_cancel(rl, n);
		return -ETIMEDOUT;
	}
	if (at <= weft__now())
		return 0;
	r = weft_sleep_until(ctx, at);
	if (r < 0)
		weft_ratelimit_cancel(rl, n);
	return r;
}

int weft_ratelimit_wait(weft_ctx *ctx, weft_ratelimit *rl)
{
	return weft_ratelimit_wait_n(ctx, rl, 1);
}

double weft_ratelimit_tokens(weft_ratelimit *rl)
{
	if (!rl)
		return 0;
	int64_t now = weft__now();
	weft__lock_acquire(&rl->lock);
	advance(rl, now);
	double t = rl->tokens;
	weft__lock_release(&rl->lock);
	return t;
}
