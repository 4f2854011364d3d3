/* backoff.c — see backoff.h. */
#include <math.h>

#include "backoff.h"

uint64_t weftd_backoff_ns(const struct weftd_retry *r, uint32_t attempt, uint64_t rnd)
{
	double d = (double)r->initial_ns;

	for (uint32_t i = 1; i < attempt && d < (double)r->max_ns; i++)
		d *= r->multiplier;
	if (d > (double)r->max_ns)
		d = (double)r->max_ns;
	uint64_t base = (uint64_t)d;
	switch (r->jitter) {
	case WEFTD_JITTER_FULL:
		return base ? rnd % (base + 1) : 0;
	case WEFTD_JITTER_EQUAL:
		return base / 2 + (base / 2 ? rnd % (base / 2 + 1) : 0);
	default:
		return base;
	}
}

void weftd_bucket_init(struct weftd_bucket *b, const struct weftd_rate_limit *rl, int64_t now_ns)
{
	*b = (struct weftd_bucket){ .last_ns = now_ns };
	if (rl->count && rl->per_ns) {
		b->rate_per_ns = (double)rl->count / (double)rl->per_ns;
		b->burst = rl->burst ? rl->burst : 1;
		b->tokens = b->burst;
	}
}

int64_t weftd_bucket_reserve(struct weftd_bucket *b, int64_t now_ns)
{
	int64_t wait = 0;

	if (b->rate_per_ns == 0)
		return 0;
	weft__lock_acquire(&b->lock);
	if (now_ns > b->last_ns) {
		b->tokens += (double)(now_ns - b->last_ns) * b->rate_per_ns;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last_ns = now_ns;
	}
	b->tokens -= 1;
	if (b->tokens < 0)
		wait = (int64_t)ceil(-b->tokens / b->rate_per_ns);
	weft__lock_release(&b->lock);
	return wait;
}
