/* SPDX-License-Identifier: MIT */
/* test_retry.c — the backoff schedule (exact without jitter, bounded and
 * spread with jitter, deterministic per seed) and the retry loop (attempts,
 * classifier, elapsed budget, prompt abort on cancellation). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <weft/weft.h>

#include "testutil.h"


static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* ---- the pure schedule ---- */
static void test_schedule_none_exact(void **state)
{
	static const struct {
		int64_t initial, max;
		double mult;
		int64_t want[7];
	} t[] = {
		{ 100, 1000, 2.0, { 100, 200, 400, 800, 1000, 1000, 1000 } },
		{ 1000, 0, 1.5, { 1000, 1500, 2250, 3375, 5063, 7594, 11391 } },
		{ 7, 0, 1.0, { 7, 7, 7, 7, 7, 7, 7 } },
		{ 250 * WEFT_MSEC, 5 * WEFT_SEC, 3.0,
		  { 250 * WEFT_MSEC, 750 * WEFT_MSEC, 2250 * WEFT_MSEC, 5 * WEFT_SEC, 5 * WEFT_SEC,
		    5 * WEFT_SEC, 5 * WEFT_SEC } },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct weft_retry_policy p = { .initial_ns = t[i].initial, .max_ns = t[i].max,
					       .multiplier = t[i].mult, .jitter = WEFT_JITTER_NONE };
		for (unsigned k = 0; k < 7; k++)
			assert_int_equal(weft_backoff_delay(&p, k, NULL), t[i].want[k]);
	}
}

static void test_schedule_saturates(void **state)
{
	struct weft_retry_policy p = { .initial_ns = WEFT_MSEC, .max_ns = 30 * WEFT_SEC,
				       .multiplier = 2.0 };
	assert_int_equal(weft_backoff_delay(&p, 1000000, NULL), 30 * WEFT_SEC);
	p.max_ns = 0; /* no cap: saturates at a huge but positive value */
	int64_t d = weft_backoff_delay(&p, 4000000000u, NULL);
	assert_true(d > 1000 * WEFT_SEC * 3600);
	assert_true(d <= INT64_MAX / 2);
}

/* Draw many samples: every one within AWS's bounds, and the spread reaches
 * both ends (a generator stuck at one value, or a wrong formula, fails). */
static void check_jitter(enum weft_jitter j, unsigned retry, int64_t lo, int64_t hi, double mean)
{
	struct weft_retry_policy p = { .initial_ns = 1000, .max_ns = 50000, .multiplier = 2.0,
				       .jitter = j };
	uint64_t rng = 42;
	int64_t mn = INT64_MAX, mx = 0;
	double sum = 0;
	const int n = 20000;
	for (int i = 0; i < n; i++) {
		int64_t d = weft_backoff_delay(&p, retry, &rng);
		assert_true(d >= lo && d <= hi);
		mn = d < mn ? d : mn;
		mx = d > mx ? d : mx;
		sum += (double)d;
	}
	double span = (double)(hi - lo);
	assert_true((double)(mn - lo) < span * 0.01);
	assert_true((double)(hi - mx) < span * 0.01);
	assert_true(sum / n > mean * 0.97 && sum / n < mean * 1.03);
}

static void test_schedule_full_jitter(void **state)
{
	check_jitter(WEFT_JITTER_FULL, 3, 0, 8000, 4000);      /* base 8000 */
	check_jitter(WEFT_JITTER_FULL, 10, 0, 50000, 25000);   /* capped */
}

static void test_schedule_equal_jitter(void **state)
{
	check_jitter(WEFT_JITTER_EQUAL, 3, 4000, 8000, 6000);
	check_jitter(WEFT_JITTER_EQUAL, 10, 25000, 50000, 37500);
}

static void test_schedule_deterministic(void **state)
{
	struct weft_retry_policy p = { .initial_ns = WEFT_MSEC, .max_ns = WEFT_SEC,
				       .multiplier = 2.0, .jitter = WEFT_JITTER_FULL };
	uint64_t a = 7, b = 7, c = 8;
	int same_c = 0;
	for (unsigned k = 0; k < 10; k++) {
		int64_t da = weft_backoff_delay(&p, k, &a), db = weft_backoff_delay(&p, k, &b);
		assert_int_equal(da, db);
		same_c += weft_backoff_delay(&p, k, &c) == da;
	}
	assert_true(same_c < 3);
}

static void test_schedule_invalid(void **state)
{
	uint64_t rng = 1;
	static const struct weft_retry_policy bad[] = {
		{ .initial_ns = 0, .multiplier = 2.0 },
		{ .initial_ns = 10, .multiplier = 0.5 },
		{ .initial_ns = 10, .multiplier = 2.0, .max_ns = -1 },
		{ .initial_ns = 10, .multiplier = 2.0, .jitter = (enum weft_jitter)7 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(weft_backoff_delay(&bad[i], 0, &rng), -EINVAL);
	assert_int_equal(weft_backoff_delay(NULL, 0, &rng), -EINVAL);
	struct weft_retry_policy p = { .initial_ns = 10, .multiplier = 2.0, .jitter = WEFT_JITTER_FULL };
	assert_int_equal(weft_backoff_delay(&p, 0, NULL), -EINVAL);
	/* outside a fiber the loop refuses */
	assert_int_equal(weft_retry(NULL, &p, (weft_retry_fn)1, NULL, NULL), -EPERM);
}

/* ---- the loop ---- */
struct flaky {
	int fail_times;            /* fail this many times, then succeed */
	int err;                   /* with this error */
	atomic_int calls;
	struct weft_retry_policy p;
	struct weft_retry_info info;
	int ret;
	weft_ctx *ctx;
	int64_t took;
};

static int flaky_fn(weft_ctx *ctx, void *arg)
{
	struct flaky *f = arg;
	int n = atomic_fetch_add(&f->calls, 1);
	return n < f->fail_times ? f->err : 42;
}

static void retry_main(void *arg)
{
	struct flaky *f = arg;
	int64_t t0 = weft_now();
	f->ret = weft_retry(f->ctx, &f->p, flaky_fn, f, &f->info);
	f->took = weft_now() - t0;
}

static bool only_eio(int err, void *arg)
{
	(void)arg;
	return err == -EIO;
}

static void test_retry_loop(void **state)
{
	static const struct {
		int fail_times, err;
		unsigned attempts;
		bool classify;
		int want_ret, want_calls;
	} t[] = {
		{ 0, -EIO, 4, false, 42, 1 },          /* first try succeeds */
		{ 2, -EIO, 4, false, 42, 3 },          /* succeeds on the third */
		{ 3, -EIO, 4, false, 42, 4 },          /* on the last allowed */
		{ 10, -EIO, 4, false, -EIO, 4 },       /* attempts spent */
		{ 10, -EIO, 1, false, -EIO, 1 },       /* one try, no retry */
		{ 10, -EINVAL, 4, true, -EINVAL, 1 },  /* permanent error: no retry */
		{ 2, -EIO, 4, true, 42, 3 },           /* transient per classifier */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct flaky f = { .fail_times = t[i].fail_times, .err = t[i].err };
		f.p = (struct weft_retry_policy){ .attempts = t[i].attempts, .initial_ns = WEFT_MSEC,
						  .max_ns = 4 * WEFT_MSEC, .multiplier = 2.0,
						  .jitter = WEFT_JITTER_EQUAL, .seed = 5 };
		if (t[i].classify)
			f.p.classify = only_eio;
		run(retry_main, &f);
		assert_int_equal(f.ret, t[i].want_ret);
		assert_int_equal(atomic_load(&f.calls), t[i].want_calls);
		assert_int_equal(f.info.attempts, t[i].want_calls);
		assert_int_equal(f.info.last_err, t[i].want_calls > 1 || t[i].want_ret < 0 ? t[i].err : 0);
	}
}

/* The sleeps follow the schedule: 3 retries of 10+20+40 ms take >= 70 ms. */
static void test_retry_sleeps(void **state)
{
	struct flaky f = { .fail_times = 3, .err = -EAGAIN };
	f.p = (struct weft_retry_policy){ .attempts = 4, .initial_ns = 10 * WEFT_MSEC,
					  .multiplier = 2.0 };
	run(retry_main, &f);
	assert_int_equal(f.ret, 42);
	assert_true(f.took >= 70 * WEFT_MSEC);
	assert_true(f.took < 70 * WEFT_MSEC + 500 * WEFT_MSEC);
	assert_true(f.info.elapsed_ns >= 70 * WEFT_MSEC);
}

/* Unlimited attempts bounded by the elapsed budget: 20 ms delays in 100 ms
 * leave room for the first try and at most 5 retries, none starting late. */
static void test_retry_max_elapsed(void **state)
{
	struct flaky f = { .fail_times = 1000000, .err = -EIO };
	f.p = (struct weft_retry_policy){ .attempts = 0, .initial_ns = 20 * WEFT_MSEC,
					  .multiplier = 1.0, .max_elapsed_ns = 100 * WEFT_MSEC };
	run(retry_main, &f);
	assert_int_equal(f.ret, -EIO);
	assert_true(f.info.attempts >= 2 && f.info.attempts <= 6);
	/* one delay past the budget at most, plus room for a loaded machine's late wake-up
	 * (a 20 ms slack failed once with four test suites sharing two cores) */
	assert_true(f.info.elapsed_ns <= 100 * WEFT_MSEC + 20 * WEFT_MSEC + 80 * WEFT_MSEC);
}

/* Cancelling the ctx cuts a 10 s backoff sleep short at once. */
static void canceller(void *arg)
{
	weft_sleep(NULL, 30 * WEFT_MSEC);
	weft_ctx_cancel(arg);
}

static void cancel_main(void *arg)
{
	struct flaky *f = arg;
	assert_int_equal(weft_ctx_with_cancel(NULL, &f->ctx), 0);
	assert_int_equal(weft_go(canceller, f->ctx), 0);
	retry_main(f);
	f->ctx = weft_ctx_unref(f->ctx);
}

static void test_retry_cancel(void **state)
{
	struct flaky f = { .fail_times = 1000, .err = -EIO };
	f.p = (struct weft_retry_policy){ .attempts = 5, .initial_ns = 10 * WEFT_SEC, .multiplier = 2.0 };
	run(cancel_main, &f);
	assert_int_equal(f.ret, -ECANCELED);
	assert_int_equal(f.info.attempts, 1);
	assert_int_equal(f.info.last_err, -EIO);
	assert_true(f.took >= 25 * WEFT_MSEC && f.took < WEFT_SEC);
}

/* A deadline does the same with -ETIMEDOUT; a ctx already done makes no try. */
static void deadline_main(void *arg)
{
	struct flaky *f = arg;
	assert_int_equal(weft_ctx_with_timeout(NULL, 40 * WEFT_MSEC, &f->ctx), 0);
	retry_main(f);
	assert_int_equal(f->ret, -ETIMEDOUT);
	int calls = atomic_load(&f->calls);
	assert_int_equal(weft_retry(f->ctx, &f->p, flaky_fn, f, &f->info), -ETIMEDOUT);
	assert_int_equal(atomic_load(&f->calls), calls);
	assert_int_equal(f->info.attempts, 0);
	f->ctx = weft_ctx_unref(f->ctx);
}

static void test_retry_deadline(void **state)
{
	struct flaky f = { .fail_times = 1000, .err = -EIO };
	f.p = (struct weft_retry_policy){ .attempts = 0, .initial_ns = 10 * WEFT_SEC, .multiplier = 2.0 };
	run(deadline_main, &f);
	assert_true(f.took < WEFT_SEC);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_schedule_none_exact),
		cmocka_unit_test(test_schedule_saturates),
		cmocka_unit_test(test_schedule_full_jitter),
		cmocka_unit_test(test_schedule_equal_jitter),
		cmocka_unit_test(test_schedule_deterministic),
		cmocka_unit_test(test_schedule_invalid),
		BOTH(test_retry_loop),
		BOTH(test_retry_sleeps),
		BOTH(test_retry_max_elapsed),
		BOTH(test_retry_cancel),
		BOTH(test_retry_deadline),
	};
	return cmocka_run_group_tests_name("retry", table, NULL, NULL);
}
