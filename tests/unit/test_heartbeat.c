/* SPDX-License-Identifier: MIT */
/* test_heartbeat.c — the monitor flags a worker that stops beating within
 * its timeout, never one that beats or is paused, reports recovery, wakes on
 * registration, drives callbacks, and exposes last beats to a supervisor. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

#include "testutil.h"


/* TSan slows fiber switches by orders of magnitude and the machine is
 * shared: a live worker must not look dead, so the many-worker test uses a
 * wider timeout there. */
#ifdef WEFT_SAN_THREAD
#define MANY_TIMEOUT (400 * WEFT_MSEC)
#else
#define MANY_TIMEOUT (100 * WEFT_MSEC)
#endif

static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

static void test_invalid(void **state)
{
	weft_hbmon *m;
	weft_hb *hb;
	assert_int_equal(weft_hbmon_new(NULL, NULL), -EINVAL);
	assert_int_equal(weft_hbmon_new(NULL, &m), 0);
	assert_int_equal(weft_hb_register(m, "x", 0, NULL, &hb), -EINVAL);
	assert_int_equal(weft_hb_register(NULL, "x", 1, NULL, &hb), -EINVAL);
	assert_int_equal(weft_hb_register(m, "x", WEFT_SEC, NULL, &hb), 0);
	struct weft_hb_event ev;
	assert_int_equal(weft_hbmon_wait(NULL, m, &ev), -EPERM); /* not a fiber */
	assert_int_equal(weft_hbmon_run(NULL, m), -EPERM);
	/* freed with a worker registered: the worker keeps it until it leaves */
	assert_null(weft_hbmon_free(m));
	weft_hb_beat(hb);
	weft_hb_pause(hb);
	assert_null(weft_hb_unregister(hb)); /* the last reference: freed here */
	assert_null(weft_hbmon_free(NULL));
	weft_hb_beat(NULL);
	weft_hb_pause(NULL);
}

/* Worker A beats every 10 ms; worker B beats a few times and stops. */
struct two {
	weft_hbmon *m;
	weft_hb *a, *b;
	weft_ctx *ctx;
	_Atomic int64_t b_stopped;
	weft_wg wg;
};

static void beater(void *arg)
{
	struct two *t = arg;
	assert_int_equal(weft_hb_pulse(t->ctx, t->a, 10 * WEFT_MSEC), -ECANCELED);
	weft_wg_done(&t->wg);
}

static void stopper(void *arg)
{
	struct two *t = arg;
	for (int i = 0; i < 3; i++) {
		weft_hb_beat(t->b);
		weft_sleep(NULL, 10 * WEFT_MSEC);
	}
	weft_hb_beat(t->b);
	t->b_stopped = weft_now();
	weft_wg_done(&t->wg);
}

static void stop_main(void *arg)
{
	struct two t = { 0 };
	assert_int_equal(weft_hbmon_new(NULL, &t.m), 0);
	assert_int_equal(weft_hb_register(t.m, "a", 80 * WEFT_MSEC, (void *)1, &t.a), 0);
	assert_int_equal(weft_hb_register(t.m, "b", 80 * WEFT_MSEC, (void *)2, &t.b), 0);
	assert_int_equal(weft_ctx_with_cancel(NULL, &t.ctx), 0);
	weft_wg_init(&t.wg);
	weft_wg_add(&t.wg, 2);
	assert_int_equal(weft_go(beater, &t), 0);
	assert_int_equal(weft_go(stopper, &t), 0);

	struct weft_hb_event ev;
	weft_ctx *w;
	assert_int_equal(weft_ctx_with_timeout(NULL, 2 * WEFT_SEC, &w), 0);
	assert_int_equal(weft_hbmon_wait(w, t.m, &ev), 0);
	int64_t seen = weft_now();
	weft_ctx_unref(w);
	assert_true(ev.missing);
	assert_string_equal(ev.name, "b");
	assert_int_equal(ev.id, weft_hb_id(t.b));
	assert_ptr_equal(ev.user, (void *)2);
	assert_true(ev.late_ns > 80 * WEFT_MSEC);
	assert_int_equal(ev.last_beat, weft_hb_last(t.b));
	assert_true(t.b_stopped != 0);
	assert_true(seen - t.b_stopped >= 80 * WEFT_MSEC);
#ifdef WEFT_SAN_THREAD /* 5-15x slower, and on CI's loaded cores: the slack is for timing only */
	assert_true(seen - t.b_stopped < 2000 * WEFT_MSEC);
#else
	assert_true(seen - t.b_stopped < 400 * WEFT_MSEC); /* detected within the timeout + slack */
#endif
	assert_int_equal(weft_hbmon_missing(t.m), 1);

	/* A keeps beating: nothing more to report for 150 ms (3 timeouts). */
	assert_int_equal(weft_ctx_with_timeout(NULL, 150 * WEFT_MSEC, &w), 0);
	assert_int_equal(weft_hbmon_wait(w, t.m, &ev), -ETIMEDOUT);
	weft_ctx_unref(w);

	/* B comes back: reported as recovered, promptly. */
	int64_t t0 = weft_now();
	weft_hb_beat(t.b);
	assert_int_equal(weft_hbmon_wait(NULL, t.m, &ev), 0);
	assert_false(ev.missing);
	assert_string_equal(ev.name, "b");
	assert_true(weft_now() - t0 < 100 * WEFT_MSEC);
	assert_int_equal(weft_hbmon_missing(t.m), 0);

	weft_ctx_cancel(t.ctx);
	assert_int_equal(weft_wg_wait(NULL, &t.wg), 0); /* nobody beats after unregister */
	weft_ctx_unref(t.ctx);
	weft_hb_unregister(t.a);
	weft_hb_unregister(t.b);
	assert_null(weft_hbmon_free(t.m));
}

static void test_stop_detected(void **state)
{
	run(stop_main, NULL);
}

/* A paused worker is not flagged however long it waits; its next beat
 * resumes monitoring and silence after it is flagged. */
static void pause_main(void *arg)
{
	weft_hbmon *m;
	weft_hb *hb;
	struct weft_hb_event ev;
	weft_ctx *w;
	assert_int_equal(weft_hbmon_new(NULL, &m), 0);
	assert_int_equal(weft_hb_register(m, "idle", 20 * WEFT_MSEC, NULL, &hb), 0);
	weft_hb_pause(hb);
	assert_int_equal(weft_ctx_with_timeout(NULL, 100 * WEFT_MSEC, &w), 0);
	assert_int_equal(weft_hbmon_wait(w, m, &ev), -ETIMEDOUT);
	weft_ctx_unref(w);
	assert_int_equal(weft_hbmon_missing(m), 0);

	/* t0 before the beat: the flag comes 20 ms after the beat, and a fiber preempted
	 * between the beat and a later clock read would see less (a TSan run did) */
	int64_t t0 = weft_now();
	weft_hb_beat(hb);
	assert_int_equal(weft_hbmon_wait(NULL, m, &ev), 0);
	assert_true(ev.missing);
	assert_true(weft_now() - t0 >= 20 * WEFT_MSEC);
	/* pausing a missing worker proves it alive: recovered */
	weft_hb_pause(hb);
	assert_int_equal(weft_hbmon_wait(NULL, m, &ev), 0);
	assert_false(ev.missing);
	weft_hb_unregister(hb);
	weft_hbmon_free(m);
}

static void test_pause(void **state)
{
	run(pause_main, NULL);
}

/* A waiter with nothing to watch sleeps with no deadline; a registration
 * wakes it to watch the newcomer. */
struct late {
	weft_hbmon *m;
	struct weft_hb_event ev;
	int r;
	weft_wg wg;
};

static void late_waiter(void *arg)
{
	struct late *l = arg;
	l->r = weft_hbmon_wait(NULL, l->m, &l->ev);
	weft_wg_done(&l->wg);
}

static void register_main(void *arg)
{
	struct late l = { 0 };
	weft_hb *hb;
	assert_int_equal(weft_hbmon_new(NULL, &l.m), 0);
	weft_wg_init(&l.wg);
	weft_wg_add(&l.wg, 1);
	assert_int_equal(weft_go(late_waiter, &l), 0);
	weft_sleep(NULL, 20 * WEFT_MSEC);
	int64_t t0 = weft_now();
	assert_int_equal(weft_hb_register(l.m, "new", 30 * WEFT_MSEC, NULL, &hb), 0);
	assert_int_equal(weft_wg_wait(NULL, &l.wg), 0);
	assert_int_equal(l.r, 0);
	assert_true(l.ev.missing);
	assert_string_equal(l.ev.name, "new");
	int64_t took = weft_now() - t0;
	assert_true(took >= 30 * WEFT_MSEC && took < 500 * WEFT_MSEC);
	weft_hb_unregister(hb);
	weft_hbmon_free(l.m);
}

static void test_register_wakes(void **state)
{
	run(register_main, NULL);
}

/* The monitor's own timer ended its last planned rescan (the worker beat,
 * then left): parked with nothing to watch, a worker registered later must
 * still wake it. (Its rescan time, left in the past, once let the newcomer go
 * unwatched: a stuck job ran to its end in weftd.) */
struct timed_out {
	weft_hbmon *m;
	struct weft_hb_event ev;
	int r;
	weft_wg wg;
};

static void bounded_waiter(void *arg)
{
	struct timed_out *l = arg;
	weft_ctx *ctx;
	weft_ctx_with_timeout(NULL, 2 * WEFT_SEC, &ctx);
	l->r = weft_hbmon_wait(ctx, l->m, &l->ev);
	weft_ctx_unref(ctx);
	weft_wg_done(&l->wg);
}

static void after_timer_main(void *arg)
{
	struct timed_out l = { 0 };
	weft_hb *hb;
	assert_int_equal(weft_hbmon_new(NULL, &l.m), 0);
	assert_int_equal(weft_hb_register(l.m, "beats", 20 * WEFT_MSEC, NULL, &hb), 0);
	weft_wg_init(&l.wg);
	weft_wg_add(&l.wg, 1);
	assert_int_equal(weft_go(bounded_waiter, &l), 0);
	for (int i = 0; i < 12; i++) { /* the monitor's timer fires and finds it alive */
		weft_sleep(NULL, 5 * WEFT_MSEC);
		weft_hb_beat(hb);
	}
	weft_hb_unregister(hb);
	weft_sleep(NULL, 60 * WEFT_MSEC); /* its last timer found nobody: parked, no timer */
	assert_int_equal(weft_hb_register(l.m, "new", 30 * WEFT_MSEC, NULL, &hb), 0);
	assert_int_equal(weft_wg_wait(NULL, &l.wg), 0);
	assert_int_equal(l.r, 0);
	assert_true(l.ev.missing);
	assert_string_equal(l.ev.name, "new");
	weft_hb_unregister(hb);
	weft_hbmon_free(l.m);
}

static void test_register_after_timer_wake(void **state)
{
	run(after_timer_main, NULL);
}

/* weft_hb_set_timeout: a shorter limit takes effect at once (the monitor,
 * asleep until the old deadline, wakes); it counts as a beat and resumes a
 * paused worker. */
static void set_timeout_main(void *arg)
{
	weft_hbmon *m;
	weft_hb *hb;
	struct weft_hb_event ev;
	struct late l = { 0 };
	assert_int_equal(weft_hbmon_new(NULL, &m), 0);
	assert_int_equal(weft_hb_register(m, "t", 10 * WEFT_SEC, NULL, &hb), 0);
	assert_int_equal(weft_hb_set_timeout(hb, 0), -EINVAL);
	assert_int_equal(weft_hb_set_timeout(NULL, 1), -EINVAL);
	l.m = m;
	weft_wg_init(&l.wg);
	weft_wg_add(&l.wg, 1);
	assert_int_equal(weft_go(late_waiter, &l), 0);
	weft_sleep(NULL, 20 * WEFT_MSEC); /* it sleeps until the 10 s deadline */
	int64_t t0 = weft_now();
	assert_int_equal(weft_hb_set_timeout(hb, 30 * WEFT_MSEC), 0);
	assert_int_equal(weft_wg_wait(NULL, &l.wg), 0);
	int64_t took = weft_now() - t0;
	assert_int_equal(l.r, 0);
	assert_true(l.ev.missing);
	assert_true(took >= 30 * WEFT_MSEC && took < 500 * WEFT_MSEC);

	/* paused, then a new unit of work with its own limit */
	weft_hb_pause(hb);
	assert_int_equal(weft_hbmon_wait(NULL, m, &ev), 0);
	assert_false(ev.missing);
	assert_int_equal(weft_hb_set_timeout(hb, 20 * WEFT_MSEC), 0);
	t0 = weft_now();
	assert_int_equal(weft_hbmon_wait(NULL, m, &ev), 0);
	assert_true(ev.missing);
	assert_true(weft_now() - t0 >= 20 * WEFT_MSEC);
	weft_hb_unregister(hb);
	weft_hbmon_free(m);
}

static void test_set_timeout(void **state)
{
	run(set_timeout_main, NULL);
}

/* Freeing the monitor ends the fibers waiting on it (-ECANCELED), a
 * callback runner too; they never touch it afterwards (ASan). */
struct closing {
	weft_hbmon *m;
	int r_wait, r_run;
	weft_wg wg;
};

static void closing_waiter(void *arg)
{
	struct closing *c = arg;
	struct weft_hb_event ev;
	c->r_wait = weft_hbmon_wait(NULL, c->m, &ev);
	weft_wg_done(&c->wg);
}

static void closing_runner(void *arg)
{
	struct closing *c = arg;
	c->r_run = weft_hbmon_run(NULL, c->m);
	weft_wg_done(&c->wg);
}

static void free_waited_main(void *arg)
{
	struct closing c = { 0 };
	weft_hb *hb;
	assert_int_equal(weft_hbmon_new(NULL, &c.m), 0);
	assert_int_equal(weft_hb_register(c.m, "w", 10 * WEFT_SEC, NULL, &hb), 0);
	weft_wg_init(&c.wg);
	weft_wg_add(&c.wg, 2);
	assert_int_equal(weft_go(closing_waiter, &c), 0);
	assert_int_equal(weft_go(closing_runner, &c), 0);
	weft_sleep(NULL, 10 * WEFT_MSEC); /* both parked until the 10 s deadline */
	assert_null(weft_hbmon_free(c.m));
	assert_int_equal(weft_wg_wait(NULL, &c.wg), 0);
	assert_int_equal(c.r_wait, -ECANCELED);
	assert_int_equal(c.r_run, -ECANCELED);
	weft_hb_unregister(hb);
}

static void test_free_while_waited(void **state)
{
	run(free_waited_main, NULL);
}

/* Many workers, one goes silent: exactly it is reported, via callbacks
 * from weft_hbmon_run; the supervisor's foreach sees every last beat. */
struct many {
	weft_hbmon *m;
	weft_hb *hb[64];
	int n;
	weft_ctx *ctx;
	atomic_int missed, recovered;
	uint64_t missed_id;
	weft_wg wg;
};

static void on_missed(const struct weft_hb_event *ev, void *arg)
{
	struct many *s = arg;
	s->missed_id = ev->id;
	atomic_fetch_add(&s->missed, 1);
}

static void on_recovered(const struct weft_hb_event *ev, void *arg)
{
	atomic_fetch_add(&((struct many *)arg)->recovered, 1);
}

struct worker_arg {
	struct many *s;
	int i;
};

static void many_worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct many *s = wa->s;
	/* worker 0 dies after 30 ms; the others beat per "unit of work" */
	int64_t until = wa->i == 0 ? weft_now() + 30 * WEFT_MSEC : INT64_MAX;
	while (weft_ctx_err(s->ctx) == 0 && weft_now() < until) {
		weft_hb_beat(s->hb[wa->i]);
		weft_sleep(s->ctx, 5 * WEFT_MSEC);
	}
	weft_wg_done(&s->wg);
}

static void monitor_fiber(void *arg)
{
	struct many *s = arg;
	assert_int_equal(weft_hbmon_run(s->ctx, s->m), -ECANCELED);
	weft_wg_done(&s->wg);
}

static void count_info(const struct weft_hb_info *info, void *arg)
{
	int *missing = arg;
	assert_true(info->last_beat > 0 && info->timeout_ns == MANY_TIMEOUT);
	assert_non_null(info->name);
	if (info->missing)
		(*missing)++;
}

static void many_main(void *arg)
{
	struct many *s = arg;
	struct worker_arg wa[64];
	s->n = TEST_SCALE(64) < 4 ? 4 : TEST_SCALE(64);
	struct weft_hbmon_opts o = { .on_missed = on_missed, .on_recovered = on_recovered, .arg = s };
	assert_int_equal(weft_hbmon_new(&o, &s->m), 0);
	assert_int_equal(weft_ctx_with_cancel(NULL, &s->ctx), 0);
	weft_wg_init(&s->wg);
	weft_wg_add(&s->wg, s->n + 1);
	for (int i = 0; i < s->n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "w%d", i);
		assert_int_equal(weft_hb_register(s->m, name, MANY_TIMEOUT, NULL, &s->hb[i]), 0);
		wa[i] = (struct worker_arg){ s, i };
		assert_int_equal(weft_go(many_worker, &wa[i]), 0);
	}
	assert_int_equal(weft_go(monitor_fiber, s), 0);
	weft_sleep(NULL, 30 * WEFT_MSEC + 2 * MANY_TIMEOUT + 50 * WEFT_MSEC);
	int missing = 0;
	assert_int_equal(weft_hbmon_foreach(s->m, count_info, &missing), s->n);
	assert_int_equal(missing, 1);
	assert_int_equal(weft_hbmon_missing(s->m), 1);
	weft_ctx_cancel(s->ctx);
	assert_int_equal(weft_wg_wait(NULL, &s->wg), 0);
	assert_int_equal(atomic_load(&s->missed), 1);
	assert_int_equal(s->missed_id, weft_hb_id(s->hb[0]));
	assert_int_equal(atomic_load(&s->recovered), 0);
	for (int i = 0; i < s->n; i++)
		weft_hb_unregister(s->hb[i]);
	assert_null(weft_hbmon_free(s->m));
	weft_ctx_unref(s->ctx);
}

static void test_many_callbacks(void **state)
{
	struct many s = { 0 };
	run(many_main, &s);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_invalid),
		BOTH(test_stop_detected),
		BOTH(test_pause),
		BOTH(test_register_wakes),
		BOTH(test_register_after_timer_wake),
		BOTH(test_set_timeout),
		BOTH(test_free_while_waited),
		BOTH(test_many_callbacks),
	};
	return cmocka_run_group_tests_name("heartbeat", table, NULL, NULL);
}
