/* SPDX-License-Identifier: MIT */
/* test_engine_deadline.c — issue 17: per-job deadlines. A job not finished by its deadline
 * ends expired wherever it is: queued (a paused pipeline), scheduled, retrying, running
 * (the attempt is cancelled: a sleep ends at once); it leaves its schedule; it is counted;
 * a job done before its deadline stays done. Run with 1 and 2 procs. */
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft/weft.h>

#include "config/config.h"
#include "engine/engine.h"
#include "engine/engine_impl.h" /* the deadline heap's length */
#include "job_copy.h"
#include "testutil.h"
#include "daemon_testutil.h"

struct figs {
	int64_t scheduled, retrying;
	uint64_t expired;
};

static void fig_fn(const struct weftd_pipeline_figures *p, void *arg)
{
	struct figs *f = arg;

	*f = (struct figs){ .scheduled = p->scheduled, .retrying = p->stages[0].retrying,
			    .expired = p->expired };
}

static struct figs figs(struct weftd_engine *e, const char *pipe)
{
	struct figs f;

	assert_int_equal(weftd_engine_figures(e, pipe, fig_fn, &f), 0);
	return f;
}

static struct weftd_job *submit(struct weftd_engine *e, const char *pipe, int64_t run_at,
				int64_t deadline)
{
	struct weftd_job *j = NULL;
	struct weftd_submit_opts o = { .run_at_ms = run_at, .deadline_ms = deadline };

	assert_int_equal(weftd_engine_submit(e, pipe, "x", 1, getuid(), &o, &j), 0);
	return j;
}

static void expect_expired(struct weftd_job *j, int64_t deadline)
{
	assert_int_equal(weftd_jobs_wait(NULL, &j, 1, 10 * WEFT_SEC), 0);
	struct job_copy c = job_copy(j);
	assert_int_equal(c.state, WEFTD_JOB_EXPIRED);
	assert_non_null(strstr(c.error, "expired"));
	assert_true(unix_ms() >= deadline);
	assert_true(unix_ms() < deadline + 5000);
}

/* A figure settles a moment after the job's waiters hear of its end (the counter moves
 * after the job does): wait for it boundedly, then assert it. */
#define FIG_SETTLES(e, pipe, field, want)                                              \
	do {                                                                           \
		for (int i_ = 0; i_ < 500 && figs(e, pipe).field != (want); i_++)       \
			weft_sleep(NULL, 10 * WEFT_MSEC);                              \
		assert_int_equal(figs(e, pipe).field, (want));                         \
	} while (0)

static void deadline_main(void *arg)
{
	struct weftd_engine *e = arg;
	int64_t now = unix_ms();
	struct weftd_job *q, *s, *r, *run, *ok;

	assert_int_equal(weftd_engine_start(e), 0);
	/* queued: its pipeline is paused */
	assert_int_equal(weftd_engine_pause(e, "held", true), 0);
	q = submit(e, "held", 0, now + 200);
	/* scheduled an hour ahead */
	s = submit(e, "held", now + 3600 * 1000, now + 200);
	assert_int_equal(figs(e, "held").scheduled, 1);
	/* retrying, its next attempt an hour ahead */
	r = submit(e, "fail", 0, now + 300);
	/* running: a 10 s sleep */
	run = submit(e, "sleep", 0, now + 300);
	/* done well before its deadline */
	ok = submit(e, "quick", 0, now + 60 * 1000);
	assert_int_equal(weftd_jobs_wait(NULL, &ok, 1, 10 * WEFT_SEC), 0);
	assert_int_equal(weftd_job_state(ok), WEFTD_JOB_DONE);

	expect_expired(q, now + 200);
	expect_expired(s, now + 200);
	FIG_SETTLES(e, "held", scheduled, 0);
	FIG_SETTLES(e, "held", expired, 2);
	expect_expired(r, now + 300);
	assert_int_equal(job_copy(r).attempts, 1);
	/* expired while its worker parks it for a retry, the job is in the schedule for a
	 * moment before the worker sees it ended and takes it out */
	FIG_SETTLES(e, "fail", retrying, 0);
	expect_expired(run, now + 300); /* within 5 s: not after the 10 s sleep */
	FIG_SETTLES(e, "sleep", expired, 1);
	assert_int_equal(weftd_job_state(ok), WEFTD_JOB_DONE);
	/* a deadline already past: expired at once */
	struct weftd_job *late = submit(e, "quick", 0, now - 1000);
	assert_int_equal(weftd_jobs_wait(NULL, &late, 1, 10 * WEFT_SEC), 0);
	assert_int_equal(weftd_job_state(late), WEFTD_JOB_EXPIRED);
	assert_int_equal(job_copy(late).attempts, 0); /* no worker ever saw it */

	weftd_engine_stop(e);
	weftd_job_unref(q);
	weftd_job_unref(s);
	weftd_job_unref(r);
	weftd_job_unref(run);
	weftd_job_unref(ok);
	weftd_job_unref(late);
}

static void test_deadlines(void **state)
{
	static const char yaml[] =
		"pipelines:\n"
		"  held:\n    stages:\n      - {name: s, builtin: noop}\n"
		"  fail:\n    stages:\n"
		"      - {name: f, builtin: fail, retry: {attempts: 5, initial: 1h, max: 2h, jitter: none}}\n"
		"  sleep:\n    stages:\n      - {name: s, builtin: sleep, params: {duration: 10s}}\n"
		"  quick:\n    stages:\n      - {name: s, builtin: noop}\n";
	struct weftd_config *c = NULL;
	struct weftd_engine *e;
	char err[512];

	(void)state;
	if (weftd_config_parse(yaml, strlen(yaml), "test.yaml", &c, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	assert_int_equal(weftd_engine_new(c, &e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(deadline_main, e, &(struct weft_opts){ .procs = g_procs }), 0);
	weftd_engine_free(e);
}

/* Deadlines cost a heap entry, not a fiber: 5,000 jobs that end long before their
 * deadline leave at most about twice the live ones behind (compaction), and 2,000 jobs
 * due the same millisecond all expire. */
static void many_main(void *arg)
{
	struct weftd_engine *e = arg;
	enum { DONE = 5000, HELD = 2000 };
	struct weftd_job **held = calloc(HELD, sizeof(*held));
	int64_t now = unix_ms();

	assert_int_equal(weftd_engine_start(e), 0);
	for (int i = 0; i < DONE; i++) {
		struct weftd_job *j = submit(e, "quick", 0, now + 3600 * 1000);
		assert_int_equal(weftd_jobs_wait(NULL, &j, 1, 10 * WEFT_SEC), 0);
		weftd_job_unref(j);
	}
	assert_true(eng_deadlines_len(e->dl) <= 1024); /* compacted: none of them is live */
	assert_int_equal(weftd_engine_pause(e, "held", true), 0);
	for (int i = 0; i < HELD; i++)
		held[i] = submit(e, "held", 0, now + 400);
	for (int i = 0; i < HELD; i++)
		expect_expired(held[i], now + 400);
	FIG_SETTLES(e, "held", expired, HELD);
	weftd_engine_stop(e);
	for (int i = 0; i < HELD; i++)
		weftd_job_unref(held[i]);
	free(held);
}

static void test_many(void **state)
{
	static const char yaml[] =
		"pipelines:\n"
		"  held:\n    stages:\n      - {name: s, builtin: noop, queue: 4096}\n"
		"  quick:\n    stages:\n      - {name: s, builtin: noop}\n";
	struct weftd_config *c = NULL;
	struct weftd_engine *e;
	char err[512];

	(void)state;
	if (weftd_config_parse(yaml, strlen(yaml), "test.yaml", &c, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	assert_int_equal(weftd_engine_new(c, &e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(many_main, e, &(struct weft_opts){ .procs = g_procs }), 0);
	weftd_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = { BOTH(test_deadlines), BOTH(test_many) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
