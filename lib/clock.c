/* SPDX-License-Identifier: MIT */
/* clock.c — weft_now and fiber sleeps on the per-proc timer heap. */
#include "internal.h"

int64_t weft_now(void)
{
	return weft__now();
}

static void sleep_fire(struct weft__timer *t)
{
	weft__waiter_fire(t->arg, 0);
}

int weft_sleep_until(weft_ctx *ctx, int64_t deadline_ns)
{
	if (!weft__self())
		return -EPERM;
	int r = weft_ctx_err(ctx);
	if (r < 0)
		return r;
	if (deadline_ns <= weft__now()) {
		weft_yield();
		return weft_ctx_err(ctx);
	}
	struct weft__waiter w;
	struct weft__timer t;
	weft__waiter_init(&w);
	r = weft__timer_add(&t, deadline_ns, sleep_fire, &w);
	if (r < 0)
		return r;
	r = weft__wait(ctx, &w, "sleep");
	weft__timer_del(&t);
	return r;
}

int weft_sleep(weft_ctx *ctx, int64_t ns)
{
	if (ns <= 0) {
		int r = weft_yield();
		return r < 0 ? r : weft_ctx_err(ctx);
	}
	return weft_sleep_until(ctx, weft__now() + ns);
}
