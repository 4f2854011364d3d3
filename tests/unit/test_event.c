/* SPDX-License-Identifier: MIT */
/* test_event.c — one-shot events (weft/event.h). Scheduling tests run with
 * 1 and 2 procs (table at the bottom). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <weft/weft.h>

#include "testutil.h"

static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* An unset event nobody waits on is all zeroes: a waiter that gave up has
 * left nothing behind. */
static bool pristine(const weft_event *ev)
{
	static const weft_event zero;
	return memcmp(ev, &zero, sizeof(zero)) == 0;
}

/* ---- argument checks and set-before-wait ---- */
static void set_first_main(void *arg)
{
	(void)arg;
	weft_event ev;
	weft_event_init(&ev);
	int v = 1;
	assert_false(weft_event_is_set(&ev, &v));
	assert_int_equal(v, 1);
	assert_int_equal(weft_event_set(&ev, -EPIPE), 1);
	assert_true(weft_event_is_set(&ev, &v));
	assert_int_equal(v, -EPIPE);
	assert_true(weft_event_is_set(&ev, NULL));
	assert_int_equal(weft_event_wait(NULL, &ev), -EPIPE);
	assert_int_equal(weft_event_wait(NULL, &ev), -EPIPE); /* stays set */
	assert_int_equal(weft_event_wait(NULL, NULL), -EINVAL);
}

static void test_set_before_wait(void **state)
{
	(void)state;
	assert_int_equal(weft_event_set(NULL, 0), -EINVAL);
	assert_false(weft_event_is_set(NULL, NULL));
	weft_event_init(NULL); /* no-op */
	weft_event ev;
	weft_event_init(&ev);
	assert_int_equal(weft_event_wait(NULL, &ev), -EPERM); /* not a fiber */
	run(set_first_main, NULL);
}

/* ---- set twice: the first value stays ---- */
static void test_set_twice(void **state)
{
	(void)state;
	weft_event ev;
	weft_event_init(&ev);
	assert_int_equal(weft_event_set(&ev, 7), 1);
	assert_int_equal(weft_event_set(&ev, 8), 0);
	int v = 0;
	assert_true(weft_event_is_set(&ev, &v));
	assert_int_equal(v, 7);
	weft_event_init(&ev); /* reset: nobody waits */
	assert_false(weft_event_is_set(&ev, NULL));
	assert_int_equal(weft_event_set(&ev, 9), 1);
}

/* ---- wait, then set from a fiber on another proc (when there are 2) ---- */
struct pair {
	weft_event ev;
	int waiter_proc;
	int setter_proc;
};

static void setter(void *arg)
{
	struct pair *p = arg;
	weft_sleep(NULL, 2 * 1000 * 1000); /* let the waiter park first */
	p->setter_proc = weft_proc_id();
	assert_int_equal(weft_event_set(&p->ev, 42), 1);
}

static void wait_then_set_main(void *arg)
{
	struct pair *p = arg;
	weft_event_init(&p->ev);
	p->waiter_proc = weft_proc_id();
	unsigned other = (unsigned)(p->waiter_proc + 1) % (unsigned)weft_nprocs();
	assert_int_equal(weft_go_opts(setter, p, &(struct weft_go_opts){ .on_proc = true, .proc = other }), 0);
	assert_int_equal(weft_event_wait(NULL, &p->ev), 42);
	assert_int_equal(p->setter_proc, (int)other);
}

static void test_wait_then_set(void **state)
{
	(void)state;
	struct pair p;
	run(wait_then_set_main, &p);
	assert_true(weft_event_is_set(&p.ev, NULL));
}

/* ---- set from a plain pthread, outside any fiber ---- */
static void *thread_setter(void *arg)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	assert_int_equal(weft_event_set(arg, -ECONNRESET), 1);
	return NULL;
}

static void pthread_main(void *arg)
{
	(void)arg;
	weft_event ev;
	weft_event_init(&ev);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, thread_setter, &ev), 0);
	assert_int_equal(weft_event_wait(NULL, &ev), -ECONNRESET);
	pthread_join(t, NULL);
}

static void test_set_from_pthread(void **state)
{
	(void)state;
	run(pthread_main, NULL);
}

/* ---- many waiters all wake ---- */
struct crowd {
	weft_event ev;
	weft_wg parked, done;
	atomic_int woken;
};

static void crowd_waiter(void *arg)
{
	struct crowd *c = arg;
	weft_wg_done(&c->parked);
	assert_int_equal(weft_event_wait(NULL, &c->ev), 5);
	atomic_fetch_add(&c->woken, 1);
	weft_wg_done(&c->done);
}

static void crowd_main(void *arg)
{
	struct crowd *c = arg;
	long n = TEST_SCALE(500);
	weft_event_init(&c->ev);
	weft_wg_add(&c->parked, n);
	weft_wg_add(&c->done, n);
	for (long i = 0; i < n; i++)
		assert_int_equal(weft_go(crowd_waiter, c), 0);
	assert_int_equal(weft_wg_wait(NULL, &c->parked), 0);
	weft_sleep(NULL, 1000 * 1000); /* most of them parked by now */
	assert_int_equal(weft_event_set(&c->ev, 5), 1);
	assert_int_equal(weft_wg_wait(NULL, &c->done), 0);
	assert_int_equal(atomic_load(&c->woken), n);
}

static void test_many_waiters(void **state)
{
	(void)state;
	struct crowd c = { .woken = 0 };
	weft_wg_init(&c.parked);
	weft_wg_init(&c.done);
	run(crowd_main, &c);
}

/* ---- ctx cancel and deadline: the ctx error, nothing left registered ---- */
static void canceller(void *arg)
{
	weft_sleep(NULL, 2 * 1000 * 1000);
	weft_ctx_cancel(arg);
}

static void ctx_main(void *arg)
{
	(void)arg;
	weft_event ev;
	weft_event_init(&ev);
	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_cancel(NULL, &ctx), 0);
	assert_int_equal(weft_go(canceller, ctx), 0);
	assert_int_equal(weft_event_wait(ctx, &ev), -ECANCELED);
	assert_true(pristine(&ev));
	/* already done: returns at once, registers nothing */
	assert_int_equal(weft_event_wait(ctx, &ev), -ECANCELED);
	assert_true(pristine(&ev));
	weft_ctx_unref(ctx);

	assert_int_equal(weft_ctx_with_timeout(NULL, 2 * 1000 * 1000, &ctx), 0);
	int64_t t0 = weft_now();
	assert_int_equal(weft_event_wait(ctx, &ev), -ETIMEDOUT);
	assert_true(weft_now() - t0 >= 2 * 1000 * 1000);
	assert_true(pristine(&ev));
	weft_ctx_unref(ctx);

	/* the event still works; a set wins over a done ctx */
	assert_int_equal(weft_event_set(&ev, 3), 1);
	assert_int_equal(weft_ctx_with_cancel(NULL, &ctx), 0);
	weft_ctx_cancel(ctx);
	assert_int_equal(weft_event_wait(ctx, &ev), 3);
	weft_ctx_unref(ctx);
}

static void test_ctx(void **state)
{
	(void)state;
	run(ctx_main, NULL);
}

/* ---- stress: set races wait, the event on the waiter's stack ---- */
struct race {
	weft_event ev;
	weft_wg wg;
	int value;
	atomic_int *wrong;
};

static void race_waiter(void *arg)
{
	struct race *r = arg;
	if (weft_event_wait(NULL, &r->ev) != r->value)
		atomic_fetch_add(r->wrong, 1);
	weft_wg_done(&r->wg);
}

static void race_setter(void *arg)
{
	struct race *r = arg;
	if (weft_event_set(&r->ev, r->value) != 1)
		atomic_fetch_add(r->wrong, 1);
	weft_wg_done(&r->wg);
}

static void race_main(void *arg)
{
	atomic_int *wrong = arg;
	long rounds = TEST_SCALE(20000);
	for (long i = 0; i < rounds; i++) {
		struct race r = { .value = (int)i, .wrong = wrong };
		weft_event_init(&r.ev);
		weft_wg_init(&r.wg);
		weft_wg_add(&r.wg, 3);
		assert_int_equal(weft_go(race_waiter, &r), 0);
		assert_int_equal(weft_go(race_setter, &r), 0);
		assert_int_equal(weft_go(race_waiter, &r), 0);
		if (weft_event_wait(NULL, &r.ev) != r.value)
			atomic_fetch_add(wrong, 1);
		assert_int_equal(weft_wg_wait(NULL, &r.wg), 0);
	}
}

static void test_stress(void **state)
{
	(void)state;
	atomic_int wrong = 0;
	run(race_main, &wrong);
	assert_int_equal(atomic_load(&wrong), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_set_before_wait),
		cmocka_unit_test(test_set_twice),
		BOTH(test_wait_then_set),
		BOTH(test_set_from_pthread),
		BOTH(test_many_waiters),
		BOTH(test_ctx),
		cmocka_unit_test_prestate_setup_teardown(test_stress, set_procs, NULL, (void *)2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
