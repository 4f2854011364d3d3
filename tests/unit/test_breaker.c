/* SPDX-License-Identifier: MIT */
/* test_breaker.c — circuit breaker transitions (closed → open → half-open →
 * closed/open), probe limits, stale reports, the failure classifier and a
 * shared breaker hammered from fibers on all procs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <weft/weft.h>

#include "testutil.h"


/* Transitions as letters: "CO" = closed to open. */
struct log {
	char s[64];
	int n;
};

static void on_change(weft_breaker *b, enum weft_breaker_state from, enum weft_breaker_state to,
		      void *arg)
{
	static const char l[] = "COH";
	struct log *lg = arg;
	lg->s[lg->n++] = l[from];
	lg->s[lg->n++] = l[to];
	lg->s[lg->n++] = ' ';
}

static void nap(int64_t ns)
{
	struct timespec ts = { ns / WEFT_SEC, ns % WEFT_SEC };
	nanosleep(&ts, NULL);
}

static int call(weft_breaker *b, int result)
{
	uint64_t t;
	int r = weft_breaker_allow(b, &t);
	if (r == 0)
		weft_breaker_done(b, t, result);
	return r;
}

static void test_transitions(void **state)
{
	struct log lg = { 0 };
	weft_breaker *b;
	struct weft_breaker_opts o = { .failure_threshold = 3, .cooldown_ns = 40 * WEFT_MSEC,
				       .on_change = on_change, .arg = &lg };
	assert_int_equal(weft_breaker_new(&o, &b), 0);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_CLOSED);
	/* two failures, a success: the count of consecutive failures resets */
	assert_int_equal(call(b, -EIO), 0);
	assert_int_equal(call(b, -EIO), 0);
	assert_int_equal(call(b, 0), 0);
	assert_int_equal(call(b, -EIO), 0);
	assert_int_equal(call(b, -EIO), 0);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_CLOSED);
	assert_int_equal(call(b, -EIO), 0); /* third in a row */
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_OPEN);
	assert_int_equal(call(b, 0), -EBUSY);
	/* cool-down passes: one probe at a time */
	nap(50 * WEFT_MSEC);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_HALF_OPEN);
	uint64_t t;
	assert_int_equal(weft_breaker_allow(b, &t), 0);
	assert_int_equal(call(b, 0), -EBUSY);
	weft_breaker_done(b, t, 0);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_CLOSED);
	/* open again; this time the probe fails: open for another cool-down */
	for (int i = 0; i < 3; i++)
		assert_int_equal(call(b, -EIO), 0);
	nap(50 * WEFT_MSEC);
	assert_int_equal(call(b, -ETIMEDOUT), 0);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_OPEN);
	assert_int_equal(call(b, 0), -EBUSY);
	assert_string_equal(lg.s, "CO OH HC CO OH HO ");

	struct weft_breaker_stats st;
	weft_breaker_stats(b, &st);
	assert_int_equal(st.opened, 3);
	assert_int_equal(st.admitted, 11);
	assert_int_equal(st.refused, 3);
	assert_int_equal(st.successes, 2);
	assert_int_equal(st.failures, 9);
	weft_breaker_reset(b);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_CLOSED);
	assert_string_equal(lg.s, "CO OH HC CO OH HO OC ");
	weft_breaker_free(b);
}

/* half_open_probes = 2: two probes at once, a third refused, two successes
 * needed to close. */
static void test_half_open_probes(void **state)
{
	weft_breaker *b;
	struct weft_breaker_opts o = { .failure_threshold = 1, .cooldown_ns = 20 * WEFT_MSEC,
				       .half_open_probes = 2 };
	assert_int_equal(weft_breaker_new(&o, &b), 0);
	assert_int_equal(call(b, -EIO), 0);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_OPEN);
	nap(30 * WEFT_MSEC);
	uint64_t t1, t2, t3;
	assert_int_equal(weft_breaker_allow(b, &t1), 0);
	assert_int_equal(weft_breaker_allow(b, &t2), 0);
	assert_int_equal(weft_breaker_allow(b, &t3), -EBUSY);
	weft_breaker_done(b, t1, 0);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_HALF_OPEN);
	assert_int_equal(weft_breaker_allow(b, &t3), -EBUSY); /* 1 ok + 1 in flight = 2 */
	weft_breaker_done(b, t2, 0);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_CLOSED);
	weft_breaker_free(b);
}

/* A slow call admitted while closed reports after the breaker opened and
 * went half-open: its result must not decide the probe. */
static void test_stale_report(void **state)
{
	weft_breaker *b;
	struct weft_breaker_opts o = { .failure_threshold = 1, .cooldown_ns = 20 * WEFT_MSEC };
	assert_int_equal(weft_breaker_new(&o, &b), 0);
	uint64_t slow, probe;
	assert_int_equal(weft_breaker_allow(b, &slow), 0);
	assert_int_equal(call(b, -EIO), 0); /* opens */
	nap(30 * WEFT_MSEC);
	assert_int_equal(weft_breaker_allow(b, &probe), 0);
	assert_int_equal(weft_breaker_done(b, slow, 0), 0); /* stale success: ignored */
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_HALF_OPEN);
	weft_breaker_done(b, probe, -EIO);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_OPEN);
	weft_breaker_free(b);
}

/* The classifier: the caller's own cancellation is not the callee's fault. */
static bool not_cancel(int r, void *arg)
{
	return r < 0 && r != -ECANCELED;
}

static void test_is_failure(void **state)
{
	weft_breaker *b;
	struct weft_breaker_opts o = { .failure_threshold = 2, .is_failure = not_cancel };
	assert_int_equal(weft_breaker_new(&o, &b), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(call(b, -ECANCELED), 0);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_CLOSED);
	assert_int_equal(call(b, -EIO), 0);
	assert_int_equal(call(b, -EIO), 0);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_OPEN);
	weft_breaker_free(b);
}

static void test_invalid(void **state)
{
	weft_breaker *b;
	uint64_t t;
	assert_int_equal(weft_breaker_new(NULL, NULL), -EINVAL);
	assert_int_equal(weft_breaker_new(&(struct weft_breaker_opts){ .cooldown_ns = -1 }, &b), -EINVAL);
	assert_int_equal(weft_breaker_allow(NULL, &t), -EINVAL);
	assert_int_equal(weft_breaker_done(NULL, 1, 0), -EINVAL);
	assert_int_equal(weft_breaker_new(NULL, &b), 0); /* defaults: 5 failures, 30 s */
	for (int i = 0; i < 4; i++)
		call(b, -EIO);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_CLOSED);
	call(b, -EIO);
	assert_int_equal(weft_breaker_state(b), WEFT_BREAKER_OPEN);
	assert_int_equal(weft_breaker_call(NULL, b, NULL, NULL), -EINVAL);
	assert_null(weft_breaker_free(b));
	assert_null(weft_breaker_free(NULL));
}

/* Many fibers on all procs share one breaker through weft_breaker_call; the
 * callee fails 1 call in 3 and yields. Every call is either admitted or
 * refused, and every admitted one is counted once as success or failure. */
struct hammer {
	weft_breaker *b;
	atomic_int calls, ran;
	weft_wg wg;
};

static int callee(weft_ctx *ctx, void *arg)
{
	struct hammer *h = arg;
	int n = atomic_fetch_add(&h->ran, 1);
	weft_yield();
	return n % 3 == 0 ? -EIO : 0;
}

static void hammer_fiber(void *arg)
{
	struct hammer *h = arg;
	for (int i = 0; i < TEST_SCALE(2000); i++) {
		int r = weft_breaker_call(NULL, h->b, callee, h);
		assert_true(r == 0 || r == -EIO || r == -EBUSY);
		atomic_fetch_add(&h->calls, 1);
	}
	weft_wg_done(&h->wg);
}

static void hammer_main(void *arg)
{
	struct hammer *h = arg;
	weft_wg_init(&h->wg);
	weft_wg_add(&h->wg, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(weft_go(hammer_fiber, h), 0);
	assert_int_equal(weft_wg_wait(NULL, &h->wg), 0);
}

static void test_shared(void **state)
{
	struct hammer h = { 0 };
	struct weft_breaker_opts o = { .failure_threshold = 2, .cooldown_ns = 50 * WEFT_USEC,
				       .half_open_probes = 2 };
	assert_int_equal(weft_breaker_new(&o, &h.b), 0);
	struct weft_opts wo = { .procs = g_procs };
	assert_int_equal(weft_run(hammer_main, &h, &wo), 0);
	struct weft_breaker_stats st;
	weft_breaker_stats(h.b, &st);
	assert_int_equal(atomic_load(&h.calls), 8 * TEST_SCALE(2000));
	assert_int_equal(st.admitted + st.refused, (uint64_t)atomic_load(&h.calls));
	assert_int_equal(st.admitted, (uint64_t)atomic_load(&h.ran));
	assert_int_equal(st.successes + st.failures, st.admitted);
	weft_breaker_free(h.b);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_half_open_probes),
		cmocka_unit_test(test_stale_report),
		cmocka_unit_test(test_is_failure),
		cmocka_unit_test_prestate_setup_teardown(test_shared, set_procs, NULL, (void *)1),
		cmocka_unit_test_prestate_setup_teardown(test_shared, set_procs, NULL, (void *)2),
	};
	return cmocka_run_group_tests_name("breaker", table, NULL, NULL);
}
