/* SPDX-License-Identifier: MIT */
/* test_ratelimit.c — token bucket: the burst is served at once, then the
 * rate; allow() refuses when empty; reservations, deadlines, cancellation,
 * many fibers sharing one limiter across procs. Timings have wide margins
 * (noisy shared machine): the lower bounds are the meaningful ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <weft/weft.h>

#include "testutil.h"


static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

static void test_invalid(void **state)
{
	weft_ratelimit *rl = NULL;
	assert_int_equal(weft_ratelimit_new(0, WEFT_SEC, 1, &rl), -EINVAL);
	assert_int_equal(weft_ratelimit_new(1, 0, 1, &rl), -EINVAL);
	assert_int_equal(weft_ratelimit_new(1, WEFT_SEC, 0, &rl), -EINVAL);
	assert_int_equal(weft_ratelimit_new(1, WEFT_SEC, 1, NULL), -EINVAL);
	assert_int_equal(weft_ratelimit_allow(NULL), -EINVAL);
	assert_int_equal(weft_ratelimit_new(1, WEFT_SEC, 3, &rl), 0);
	int64_t at;
	assert_int_equal(weft_ratelimit_reserve(rl, 4, &at), -EINVAL); /* can never be met */
	assert_int_equal(weft_ratelimit_reserve(rl, 0, &at), -EINVAL);
	assert_int_equal(weft_ratelimit_allow_n(rl, 4), -EINVAL); /* can never be met */
	assert_int_equal(weft_ratelimit_allow_n(rl, 0), -EINVAL);
	assert_int_equal(weft_ratelimit_cancel(NULL, 1), -EINVAL);
	assert_int_equal(weft_ratelimit_cancel(rl, 0), -EINVAL);
	assert_int_equal(weft_ratelimit_set(rl, 0, WEFT_SEC, 1), -EINVAL);
	assert_int_equal(weft_ratelimit_wait(NULL, rl), -EPERM); /* not a fiber */
	assert_null(weft_ratelimit_free(rl));
}

/* A full bucket of 10 at 1/s: exactly 10 allowed now, then refused. */
static void test_allow_burst_then_empty(void **state)
{
	weft_ratelimit *rl;
	assert_int_equal(weft_ratelimit_new(1, WEFT_SEC, 10, &rl), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(weft_ratelimit_allow(rl), 0);
	assert_int_equal(weft_ratelimit_allow(rl), -EAGAIN);
	assert_int_equal(weft_ratelimit_allow(rl), -EAGAIN);
	assert_true(weft_ratelimit_tokens(rl) < 0.5);
	weft_ratelimit_free(rl);
}

static void test_allow_n_all_or_none(void **state)
{
	weft_ratelimit *rl;
	assert_int_equal(weft_ratelimit_new(1, 1000 * WEFT_SEC, 5, &rl), 0);
	assert_int_equal(weft_ratelimit_allow_n(rl, 3), 0);
	assert_int_equal(weft_ratelimit_allow_n(rl, 3), -EAGAIN); /* 2 left: takes none */
	assert_int_equal(weft_ratelimit_allow_n(rl, 2), 0);
	assert_int_equal(weft_ratelimit_allow(rl), -EAGAIN);
	weft_ratelimit_free(rl);
}

/* Refill: after 60 ms at 100/s about 6 tokens are back, capped at burst. */
static void refill_main(void *arg)
{
	weft_ratelimit *rl;
	assert_int_equal(weft_ratelimit_new(100, WEFT_SEC, 10, &rl), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(weft_ratelimit_allow(rl), 0);
	assert_int_equal(weft_ratelimit_allow(rl), -EAGAIN);
	weft_sleep(NULL, 60 * WEFT_MSEC);
	double t = weft_ratelimit_tokens(rl);
	assert_true(t >= 5.9 && t <= 10.0);
	weft_sleep(NULL, 150 * WEFT_MSEC);
	assert_true(fabs(weft_ratelimit_tokens(rl) - 10.0) < 1e-9); /* never above burst */
	weft_ratelimit_free(rl);
}

static void test_refill(void **state)
{
	run(refill_main, NULL);
}

/* Reservations go into debt; each one's time is one token period later. */
static void test_reserve_and_cancel(void **state)
{
	weft_ratelimit *rl;
	assert_int_equal(weft_ratelimit_new(10, WEFT_SEC, 2, &rl), 0); /* 100 ms a token */
	int64_t now = weft_now(), a, b, c;
	assert_int_equal(weft_ratelimit_reserve(rl, 2, &a), 0);
	assert_true(a <= weft_now());
	assert_int_equal(weft_ratelimit_reserve(rl, 1, &b), 0);
	assert_true(b >= now + 99 * WEFT_MSEC && b <= weft_now() + 101 * WEFT_MSEC);
	assert_int_equal(weft_ratelimit_reserve(rl, 2, &c), 0);
	assert_true(c >= now + 299 * WEFT_MSEC && c <= weft_now() + 301 * WEFT_MSEC);
	assert_true(weft_ratelimit_tokens(rl) < -2.9);
	assert_int_equal(weft_ratelimit_cancel(rl, 2), 0);
	assert_int_equal(weft_ratelimit_cancel(rl, 1), 0);
	double t = weft_ratelimit_tokens(rl);
	assert_true(t > -0.1 && t < 0.1);
	weft_ratelimit_free(rl);
}

/* The brief's case: 100/s, burst 10, 30 waits take ~200 ms (10 at once,
 * then 20 at 10 ms each). */
struct timed {
	weft_ratelimit *rl;
	int n;
	int64_t took;
	weft_wg wg;
};

static void waiter_n(void *arg)
{
	struct timed *t = arg;
	for (int i = 0; i < t->n; i++)
		assert_int_equal(weft_ratelimit_wait(NULL, t->rl), 0);
	weft_wg_done(&t->wg);
}

static void burst_rate_main(void *arg)
{
	struct timed *t = arg;
	int64_t t0 = weft_now();
	waiter_n(t);
	t->took = weft_now() - t0;
}

static void test_wait_burst_then_rate(void **state)
{
	struct timed t = { .n = 30 };
	weft_wg_init(&t.wg);
	weft_wg_add(&t.wg, 1);
	assert_int_equal(weft_ratelimit_new(100, WEFT_SEC, 10, &t.rl), 0);
	run(burst_rate_main, &t);
	assert_true(t.took >= 195 * WEFT_MSEC);
	assert_true(t.took < 600 * WEFT_MSEC);
	weft_ratelimit_free(t.rl);
}

/* Several fibers on all procs share one limiter: the total still follows the
 * rate (40 tokens at 200/s with burst 1: >= 195 ms). */
static void shared_main(void *arg)
{
	struct timed *t = arg;
	int64_t t0 = weft_now();
	weft_wg_init(&t->wg);
	weft_wg_add(&t->wg, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(weft_go(waiter_n, t), 0);
	assert_int_equal(weft_wg_wait(NULL, &t->wg), 0);
	t->took = weft_now() - t0;
}

static void test_wait_shared(void **state)
{
	struct timed t = { .n = 10 };
	assert_int_equal(weft_ratelimit_new(200, WEFT_SEC, 1, &t.rl), 0);
	run(shared_main, &t);
	assert_true(t.took >= 190 * WEFT_MSEC);
	assert_true(t.took < 800 * WEFT_MSEC);
	weft_ratelimit_free(t.rl);
}

/* A deadline that cannot be met fails at once and takes nothing; a cancel
 * during the wait returns promptly and gives the token back. */
static void cancel_later(void *arg)
{
	weft_sleep(NULL, 30 * WEFT_MSEC);
	weft_ctx_cancel(arg);
}

static void ctx_main(void *arg)
{
	weft_ratelimit *rl;
	assert_int_equal(weft_ratelimit_new(1, WEFT_SEC, 1, &rl), 0);
	assert_int_equal(weft_ratelimit_allow(rl), 0); /* empty: next token in 1 s */

	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, 100 * WEFT_MSEC, &ctx), 0);
	int64_t t0 = weft_now();
	assert_int_equal(weft_ratelimit_wait(ctx, rl), -ETIMEDOUT);
	assert_true(weft_now() - t0 < 50 * WEFT_MSEC);
	assert_true(weft_ratelimit_tokens(rl) > -0.1);
	weft_ctx_unref(ctx);

	assert_int_equal(weft_ctx_with_cancel(NULL, &ctx), 0);
	assert_int_equal(weft_go(cancel_later, ctx), 0);
	t0 = weft_now();
	assert_int_equal(weft_ratelimit_wait(ctx, rl), -ECANCELED);
	int64_t took = weft_now() - t0;
	assert_true(took >= 25 * WEFT_MSEC && took < 500 * WEFT_MSEC);
	assert_true(weft_ratelimit_tokens(rl) > -0.1); /* given back */
	weft_ctx_unref(ctx);
	weft_ratelimit_free(rl);
}

static void test_wait_ctx(void **state)
{
	run(ctx_main, NULL);
}

/* set() changes the rate from now on and clamps to the new burst. */
static void test_set(void **state)
{
	weft_ratelimit *rl;
	assert_int_equal(weft_ratelimit_new(1, WEFT_SEC, 10, &rl), 0);
	assert_int_equal(weft_ratelimit_set(rl, 1, WEFT_SEC, 3), 0);
	assert_true(weft_ratelimit_tokens(rl) <= 3.0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(weft_ratelimit_allow(rl), 0);
	assert_int_equal(weft_ratelimit_allow(rl), -EAGAIN);
	assert_int_equal(weft_ratelimit_set(rl, 1000000, WEFT_SEC, 3), 0); /* 1 µs a token */
	int64_t at;
	assert_int_equal(weft_ratelimit_reserve(rl, 1, &at), 0);
	assert_true(at <= weft_now() + 2 * WEFT_USEC);
	weft_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_allow_burst_then_empty),
		cmocka_unit_test(test_allow_n_all_or_none),
		cmocka_unit_test(test_reserve_and_cancel),
		cmocka_unit_test(test_set),
		BOTH(test_refill),
		BOTH(test_wait_burst_then_rate),
		BOTH(test_wait_shared),
		BOTH(test_wait_ctx),
	};
	return cmocka_run_group_tests_name("ratelimit", table, NULL, NULL);
}
