/* SPDX-License-Identifier: MIT */
/* test_schedule.c — a pipeline's schedule (engine/schedule.h) driven by hand: jobs come
 * out by due time (FIFO among equal times) over many random due times, whatever was
 * removed from the middle (a cancel) never comes out, nothing comes out early, the bound
 * answers busy unless forced, close hands every job left to its callback. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <weft/weft.h>

#include "engine/schedule.h"
#include "jobs/jobs.h"
#include "testutil.h"

#define N 5000

static struct weftd_jobs *g_t;

/* A job whose payload is its number. */
static struct weftd_job *job(int n)
{
	struct weftd_job *j;
	char t[16];

	snprintf(t, sizeof(t), "%d", n);
	assert_int_equal(weftd_job_create(g_t, &(struct weftd_job_init){ .pipeline = "p",
		.payload = t, .len = strlen(t) }, &j), 0);
	return j;
}

static int num(struct weftd_job *j)
{
	const void *p;
	size_t len;

	weftd_job_payload(j, &p, &len);
	return atoi(p);
}

static void drop(struct weftd_job *j, void *arg)
{
	(*(int *)arg)++;
	weftd_job_unref(j);
}

static void order_main(void *arg)
{
	static int64_t due[N];
	static struct weftd_job *jobs[N];
	static bool removed[N];
	struct eng_sched *s;
	struct weftd_job *j;
	uint64_t rnd = 42;
	int64_t last_due = 0;
	int last_n = -1, out = 0, nremoved = 0, left = 0;

	assert_int_equal(eng_sched_new(N, &s), 0);
	for (int i = 0; i < N; i++) {
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		due[i] = 1000000 + (int64_t)((rnd >> 33) % 500); /* many equal times */
		jobs[i] = job(i);
		assert_int_equal(eng_sched_add(s, jobs[i], due[i], false), 0);
	}
	assert_int_equal(eng_sched_len(s), N);
	j = job(-1);
	assert_int_equal(eng_sched_add(s, j, 5, false), -EAGAIN); /* full */
	weftd_job_unref(j);
	/* cancel every seventh: out of the heap at once */
	for (int i = 0; i < N; i += 7) {
		assert_true(eng_sched_remove(jobs[i]));
		assert_false(eng_sched_remove(jobs[i]));
		removed[i] = true;
		nremoved++;
	}
	assert_int_equal(eng_sched_len(s), N - nremoved);
	/* nothing before its time */
	assert_int_equal(eng_sched_take_due(s, 999999, &j), -EAGAIN);
	for (int64_t now = 1000000; now <= 1000500; now += 50) {
		while (eng_sched_take_due(s, now, &j) == 0) {
			int n = num(j);
			assert_false(removed[n]);
			assert_true(due[n] <= now);
			assert_true(due[n] >= last_due);
			if (due[n] == last_due)
				assert_true(n > last_n); /* FIFO among equal due times */
			last_due = due[n];
			last_n = n;
			out++;
			weftd_job_unref(j);
		}
		if (eng_sched_len(s))
			assert_true(last_due <= now);
	}
	assert_int_equal(out, N - nremoved);
	assert_int_equal(eng_sched_len(s), 0);
	/* forced past the bound; close hands over what is left; closed refuses */
	for (int i = 0; i < N + 3; i++) {
		j = job(i);
		assert_int_equal(eng_sched_add(s, j, 10, true), 0);
		weftd_job_unref(j);
	}
	eng_sched_close(s, drop, &left);
	assert_int_equal(left, N + 3);
	j = job(0);
	assert_int_equal(eng_sched_add(s, j, 10, true), -EPIPE);
	assert_false(eng_sched_remove(j));
	weftd_job_unref(j);
	eng_sched_free(s);
	for (int i = 0; i < N; i++)
		weftd_job_unref(jobs[i]);
}

static void test_order(void **state)
{
	assert_int_equal(weft_run(order_main, NULL, &(struct weft_opts){ .procs = 1 }), 0);
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
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_order) };
	return cmocka_run_group_tests(tests, setup, teardown);
}
