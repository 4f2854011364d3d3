/* SPDX-License-Identifier: MIT */
/* test_queue.c — a stage's queue (engine/queue.h): higher priority first and FIFO within
 * one, across every priority; the bound (a non-blocking put refused, a blocking one
 * parked until a get admits it, in its priority's place, or until its ctx ends); the
 * hand-off to a parked get; pause (puts fill, gets park, resume wakes them); close (puts
 * refused, parked putters told, gets drain then end, paused or not); many putters and
 * getters on 1 and 2 procs lose and duplicate nothing. */
#include <errno.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <weft/weft.h>

#include "engine/queue.h"
#include "jobs/jobs.h"
#include "testutil.h"

static struct weftd_jobs *g_t;

/* A job of priority prio whose payload is tag (the tests read the order from it). */
static struct weftd_job *job(int prio, const char *tag)
{
	struct weftd_job *j;

	assert_int_equal(weftd_job_create(g_t, &(struct weftd_job_init){ .pipeline = "p",
		.payload = tag, .len = strlen(tag), .priority = prio }, &j), 0);
	return j;
}

static const char *tag(struct weftd_job *j)
{
	const void *p;
	size_t len;

	weftd_job_payload(j, &p, &len);
	return p;
}

/* Get one job without parking and check its tag; unref it. */
static void expect(struct eng_queue *q, const char *want)
{
	struct weftd_job *j;

	assert_int_equal(eng_queue_try_get(q, &j), 0);
	assert_string_equal(tag(j), want);
	weftd_job_unref(j);
}

static void order_main(void *arg)
{
	struct eng_queue *q;
	struct weftd_job *j;
	char t[32];

	assert_int_equal(eng_queue_new(1000, &q), 0);
	/* one priority: FIFO (the fast case, as before) */
	for (int i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "a%d", i);
		assert_int_equal(eng_queue_put(q, job(0, t), false, NULL), 0);
	}
	for (int i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "a%d", i);
		expect(q, t);
	}
	assert_int_equal(eng_queue_try_get(q, &j), -EAGAIN);
	/* mixed: higher first, FIFO within one, the extremes and both signs */
	assert_int_equal(eng_queue_put(q, job(0, "z0"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(-100, "min0"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(5, "p0"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(100, "max0"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(5, "p1"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(-1, "m0"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(0, "z1"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(63, "w0"), false, NULL), 0); /* word edges */
	assert_int_equal(eng_queue_put(q, job(64, "w1"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(-37, "w2"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(100, "max1"), false, NULL), 0);
	assert_int_equal(eng_queue_len(q), 11);
	const char *want[] = { "max0", "max1", "w1", "w0", "p0", "p1", "z0", "z1", "m0", "w2", "min0" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		expect(q, want[i]);
	/* every priority, inserted lowest first, several each and rings grown past their
	 * first size: out highest first, FIFO within each */
	for (int k = 0; k < 3; k++)
		for (int p = WEFTD_PRIORITY_MIN; p <= WEFTD_PRIORITY_MAX; p++) {
			snprintf(t, sizeof(t), "%d/%d", p, k);
			assert_int_equal(eng_queue_put(q, job(p, t), false, NULL), 0);
		}
	for (int k = 0; k < 150; k++) { /* a ring of one priority past 64 entries */
		snprintf(t, sizeof(t), "big%d", k);
		assert_int_equal(eng_queue_put(q, job(-50, t), false, NULL), 0);
		if (k == 40) { /* wrap the ring: take the head of it meanwhile */
			for (int p = WEFTD_PRIORITY_MAX; p > -50; p--)
				for (int n = 0; n < 3; n++) {
					snprintf(t, sizeof(t), "%d/%d", p, n);
					expect(q, t);
				}
			for (int n = 0; n < 3; n++) {
				snprintf(t, sizeof(t), "-50/%d", n);
				expect(q, t);
			}
			for (int n = 0; n < 10; n++) {
				snprintf(t, sizeof(t), "big%d", n);
				expect(q, t);
			}
		}
	}
	for (int n = 10; n < 150; n++) {
		snprintf(t, sizeof(t), "big%d", n);
		expect(q, t);
	}
	for (int p = -51; p >= WEFTD_PRIORITY_MIN; p--)
		for (int n = 0; n < 3; n++) {
			snprintf(t, sizeof(t), "%d/%d", p, n);
			expect(q, t);
		}
	assert_int_equal(eng_queue_len(q), 0);
	eng_queue_free(q);
}

static void test_order(void **state)
{
	assert_int_equal(weft_run(order_main, NULL, &(struct weft_opts){ .procs = 1 }), 0);
}

/* ---- bound, hand-off, pause, close ------------------------------------------------ */

struct putter {
	struct eng_queue *q;
	struct weftd_job *j;
	weft_ctx *ctx;
	int r;
	weft_event done;
};

static void put_fiber(void *arg)
{
	struct putter *p = arg;

	p->r = eng_queue_put(p->q, p->j, true, p->ctx);
	weft_event_set(&p->done, 0);
}

struct getter {
	struct eng_queue *q;
	struct weftd_job *j;
	int r;
	weft_event done;
};

static void get_fiber(void *arg)
{
	struct getter *g = arg;

	g->r = eng_queue_get(g->q, &g->j);
	weft_event_set(&g->done, 0);
}

/* Let the other fibers run until they are parked (no clock: a few turns suffice on one
 * proc; the events below are what the assertions wait for). */
static void settle(void)
{
	for (int i = 0; i < 50; i++)
		weft_yield();
}

static void bound_main(void *arg)
{
	struct eng_queue *q;
	struct weftd_job *j;
	struct putter p1 = { 0 }, p2 = { 0 }, pc = { 0 };
	struct getter g = { 0 };

	assert_int_equal(eng_queue_new(2, &q), 0);
	assert_int_equal(eng_queue_put(q, job(0, "a"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(0, "b"), false, NULL), 0);
	j = job(50, "busy");
	assert_int_equal(eng_queue_put(q, j, false, NULL), -EAGAIN); /* full: busy */
	weftd_job_unref(j);
	/* blocking puts park (backpressure), in order; the high one is admitted in its
	 * priority's place when a get frees a slot */
	p1 = (struct putter){ .q = q, .j = job(9, "hi") };
	weft_event_init(&p1.done);
	p2 = (struct putter){ .q = q, .j = job(0, "c") };
	weft_event_init(&p2.done);
	assert_int_equal(weft_go(put_fiber, &p1), 0);
	settle();
	assert_int_equal(weft_go(put_fiber, &p2), 0);
	settle();
	assert_false(weft_event_is_set(&p1.done, NULL));
	/* a putter whose ctx ends leaves nothing behind */
	pc = (struct putter){ .q = q, .j = job(0, "gone") };
	weft_event_init(&pc.done);
	assert_int_equal(weft_ctx_with_cancel(NULL, &pc.ctx), 0);
	assert_int_equal(weft_go(put_fiber, &pc), 0);
	settle();
	weft_ctx_cancel(pc.ctx);
	weft_event_wait(NULL, &pc.done);
	assert_int_equal(pc.r, -ECANCELED);
	weftd_job_unref(pc.j);
	weft_ctx_unref(pc.ctx);
	expect(q, "a"); /* admits hi */
	weft_event_wait(NULL, &p1.done);
	assert_int_equal(p1.r, 0);
	assert_false(weft_event_is_set(&p2.done, NULL));
	assert_int_equal(eng_queue_len(q), 2);
	expect(q, "hi");
	weft_event_wait(NULL, &p2.done);
	assert_int_equal(p2.r, 0);
	expect(q, "b");
	expect(q, "c");
	/* a parked get is handed the next put */
	g = (struct getter){ .q = q };
	weft_event_init(&g.done);
	assert_int_equal(weft_go(get_fiber, &g), 0);
	settle();
	assert_false(weft_event_is_set(&g.done, NULL));
	assert_int_equal(eng_queue_put(q, job(0, "handed"), false, NULL), 0);
	weft_event_wait(NULL, &g.done);
	assert_int_equal(g.r, 0);
	assert_string_equal(tag(g.j), "handed");
	weftd_job_unref(g.j);
	assert_int_equal(eng_queue_len(q), 0);
	/* paused: puts fill up to the bound, a get parks until the resume, which gives it
	 * the highest priority queued meanwhile */
	eng_queue_pause(q, true);
	g = (struct getter){ .q = q };
	weft_event_init(&g.done);
	assert_int_equal(weft_go(get_fiber, &g), 0);
	settle();
	assert_int_equal(eng_queue_put(q, job(0, "low"), false, NULL), 0);
	assert_int_equal(eng_queue_put(q, job(1, "high"), false, NULL), 0);
	j = job(0, "over");
	assert_int_equal(eng_queue_put(q, j, false, NULL), -EAGAIN);
	weftd_job_unref(j);
	/* a get coming while jobs wait in a paused queue parks too */
	struct getter g2 = { .q = q };
	weft_event_init(&g2.done);
	assert_int_equal(weft_go(get_fiber, &g2), 0);
	settle();
	assert_false(weft_event_is_set(&g.done, NULL));
	assert_false(weft_event_is_set(&g2.done, NULL));
	assert_int_equal(eng_queue_len(q), 2);
	eng_queue_pause(q, false);
	weft_event_wait(NULL, &g.done);
	weft_event_wait(NULL, &g2.done);
	assert_int_equal(g.r, 0);
	assert_int_equal(g2.r, 0);
	/* both woken (which runs first is the scheduler's): one each */
	assert_true((!strcmp(tag(g.j), "high") && !strcmp(tag(g2.j), "low")) ||
		    (!strcmp(tag(g.j), "low") && !strcmp(tag(g2.j), "high")));
	weftd_job_unref(g.j);
	weftd_job_unref(g2.j);
	assert_int_equal(eng_queue_put(q, job(0, "low"), false, NULL), 0);
	/* close: parked putters told, puts refused, gets drain (paused too), then -EPIPE */
	assert_int_equal(eng_queue_put(q, job(0, "last"), false, NULL), 0);
	p1 = (struct putter){ .q = q, .j = job(0, "never") };
	weft_event_init(&p1.done);
	assert_int_equal(weft_go(put_fiber, &p1), 0);
	settle();
	eng_queue_pause(q, true);
	assert_int_equal(eng_queue_close(q), 0);
	assert_int_equal(eng_queue_close(q), -EPIPE);
	weft_event_wait(NULL, &p1.done);
	assert_int_equal(p1.r, -EPIPE);
	weftd_job_unref(p1.j);
	j = job(0, "late");
	assert_int_equal(eng_queue_put(q, j, false, NULL), -EPIPE);
	weftd_job_unref(j);
	assert_int_equal(eng_queue_get(q, &j), 0);
	assert_string_equal(tag(j), "low");
	weftd_job_unref(j);
	assert_int_equal(eng_queue_get(q, &j), 0);
	assert_string_equal(tag(j), "last");
	weftd_job_unref(j);
	assert_int_equal(eng_queue_get(q, &j), -EPIPE);
	eng_queue_free(q);
	/* a get parked on an empty queue ends when it closes */
	assert_int_equal(eng_queue_new(1, &q), 0);
	g = (struct getter){ .q = q };
	weft_event_init(&g.done);
	assert_int_equal(weft_go(get_fiber, &g), 0);
	settle();
	eng_queue_close(q);
	weft_event_wait(NULL, &g.done);
	assert_int_equal(g.r, -EPIPE);
	eng_queue_free(q);
}

static void test_bound_pause_close(void **state)
{
	assert_int_equal(weft_run(bound_main, NULL, &(struct weft_opts){ .procs = 1 }), 0);
}

/* ---- many at once ------------------------------------------------------------------ */

#define NPUT 4
#define NGET 4
#define PER (TEST_SCALE(20000))

struct many {
	struct eng_queue *q;
	weft_wg puts, gets;
	atomic_uchar seen[NPUT][20000]; /* each job got once */
	atomic_uint_fast64_t got;
};

struct many_put {
	struct many *m;
	int id;
};

static void many_put(void *arg)
{
	struct many_put *mp = arg;
	char t[32];

	for (int i = 0; i < PER; i++) {
		snprintf(t, sizeof(t), "%d %d", mp->id, i);
		assert_int_equal(eng_queue_put(mp->m->q, job(0, t), true, NULL), 0);
	}
	weft_wg_done(&mp->m->puts);
}

static void many_get(void *arg)
{
	struct many *m = arg;
	struct weftd_job *j;
	int who, seq;

	while (eng_queue_get(m->q, &j) == 0) {
		assert_int_equal(sscanf(tag(j), "%d %d", &who, &seq), 2);
		assert_int_equal(atomic_fetch_add(&m->seen[who][seq], 1), 0);
		atomic_fetch_add(&m->got, 1);
		weftd_job_unref(j);
	}
	weft_wg_done(&m->gets);
}

static void many_main(void *arg)
{
	static struct many m;
	struct many_put mp[NPUT];

	assert_int_equal(eng_queue_new(16, &m.q), 0);
	weft_wg_init(&m.puts);
	weft_wg_init(&m.gets);
	weft_wg_add(&m.gets, NGET);
	for (int i = 0; i < NGET; i++)
		assert_int_equal(weft_go(many_get, &m), 0);
	weft_wg_add(&m.puts, NPUT);
	for (int i = 0; i < NPUT; i++) {
		mp[i] = (struct many_put){ &m, i };
		assert_int_equal(weft_go(many_put, &mp[i]), 0);
	}
	weft_wg_wait(NULL, &m.puts);
	eng_queue_close(m.q);
	weft_wg_wait(NULL, &m.gets);
	assert_int_equal(atomic_load(&m.got), (uint64_t)NPUT * PER);
	for (int i = 0; i < NPUT; i++)
		for (int k = 0; k < PER; k++)
			assert_int_equal(atomic_load(&m.seen[i][k]), 1);
	eng_queue_free(m.q);
	memset(&m, 0, sizeof(m)); /* static: the second run starts afresh */
}

static void test_many(void **state)
{
	assert_int_equal(weft_run(many_main, NULL, &(struct weft_opts){ .procs = g_procs }), 0);
}

static int setup(void **state)
{
	return weftd_jobs_new(&(struct weftd_retention){ 10, WEFT_SEC, UINT64_MAX }, NULL, &g_t);
}

static int teardown(void **state)
{
	weftd_jobs_free(g_t);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order), cmocka_unit_test(test_bound_pause_close),
		BOTH(test_many),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
