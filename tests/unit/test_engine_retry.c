/* SPDX-License-Identifier: MIT */
/* test_engine_retry.c — issue 17: retries off the worker. A failed attempt with attempts
 * left parks the job in its pipeline's schedule (retrying, its due time shown, counted)
 * and the stage's only worker takes the next job at once; the job comes back to its stage
 * with its attempt count and fails after the last; cancel ends a retrying job at once;
 * retry (re-drive now) runs its next attempt at once; a pause holds a due retry; a stage
 * whose retries fill its bound keeps the job on its worker (backpressure). Run with 1 and
 * 2 procs. */
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft/weft.h>

#include "config/config.h"
#include "engine/engine.h"
#include "job_copy.h"
#include "testutil.h"
#include "daemon_testutil.h"

struct figs {
	int64_t scheduled, retrying;
	uint64_t retried;
};

static void fig_fn(const struct weftd_pipeline_figures *p, void *arg)
{
	struct figs *f = arg;

	*f = (struct figs){ .scheduled = p->scheduled, .retrying = p->stages[0].retrying,
			    .retried = p->stages[0].retried };
}

static struct figs figs(struct weftd_engine *e, const char *pipe)
{
	struct figs f;

	assert_int_equal(weftd_engine_figures(e, pipe, fig_fn, &f), 0);
	return f;
}

static struct weftd_job *submit(struct weftd_engine *e, const char *pipe, const char *payload)
{
	struct weftd_job *j = NULL;

	assert_int_equal(weftd_engine_submit(e, pipe, payload, strlen(payload), getuid(), NULL, &j), 0);
	return j;
}

/* Wait (no fixed sleep) until j is in state st with at least `attempts` attempts made. */
static void wait_state(struct weftd_job *j, enum weftd_job_state st, uint32_t attempts)
{
	for (int i = 0; i < 20000; i++) {
		struct job_copy c = job_copy(j);
		if (c.state == st && c.attempts >= attempts)
			return;
		weft_sleep(NULL, WEFT_MSEC);
	}
	fail_msg("job never reached state %s (attempts %u): %s", weftd_job_state_name(st),
		 attempts, weftd_job_state_name(job_copy(j).state));
}

static void run(void (*fn)(void *), const char *yaml)
{
	struct weftd_engine *e;
	char err[256];

	assert_int_equal(weftd_engine_new(conf(yaml), &e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(fn, e, &(struct weft_opts){ .procs = g_procs }), 0);
	weftd_engine_free(e);
}

/* ---- the worker is free while a job waits for its retry ------------------------- */

static void free_worker_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *bad, *good;
	int64_t t0 = unix_ms(), t1;

	assert_int_equal(weftd_engine_start(e), 0);
	bad = submit(e, "p", "bad");
	wait_state(bad, WEFTD_JOB_RETRYING, 1);
	struct job_copy c = job_copy(bad);
	assert_int_equal(c.attempts, 1);
	/* its due time shown: 3 s after the failure (no jitter) */
	assert_true(c.run_at_ms >= t0 + 3000 && c.run_at_ms <= unix_ms() + 3000);
	struct figs f = figs(e, "p");
	assert_int_equal(f.retrying, 1);
	assert_int_equal(f.scheduled, 0); /* a retry is not a scheduled submit */
	assert_int_equal(f.retried, 1);
	/* the stage's one worker is free: a good job runs at once */
	weft_sleep(NULL, 200 * WEFT_MSEC);
	t1 = unix_ms();
	good = submit(e, "p", "good");
	assert_int_equal(weftd_jobs_wait(NULL, &good, 1, 10 * WEFT_SEC), 0);
	int64_t took = unix_ms() - t1;
	print_message("good job behind a retrying one: %" PRId64 " ms\n", took);
	assert_int_equal(weftd_job_state(good), WEFTD_JOB_DONE);
	assert_true(took < 1500); /* before: the 3 s backoff; the bound is checked
				   * in tests/integration/test_retry_free.sh */
	assert_int_equal(weftd_job_state(bad), WEFTD_JOB_RETRYING);
	/* cancel ends a retrying job at once and frees its place */
	assert_true(weftd_engine_cancel(e, bad, "by test"));
	assert_int_equal(weftd_job_state(bad), WEFTD_JOB_CANCELED);
	assert_int_equal(figs(e, "p").retrying, 0);
	weftd_engine_stop(e);
	weftd_job_unref(bad);
	weftd_job_unref(good);
}

static void test_free_worker(void **state)
{
	(void)state;
	run(free_worker_main, "pipelines:\n  p:\n    stages:\n"
			      "      - name: s\n"
			      "        exec: [sh, -c, 'x=$(cat); test \"$x\" != bad']\n"
			      "        workers: 1\n"
			      "        retry: {attempts: 3, initial: 3s, multiplier: 2, jitter: none}\n");
}

/* ---- attempts carry over; the last fails; retry now; pause holds a due retry ----- */

static void attempts_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *a, *b;

	assert_int_equal(weftd_engine_start(e), 0);
	/* 3 attempts 30 ms apart, then a dead letter naming the last */
	a = submit(e, "quick", "a");
	assert_int_equal(weftd_jobs_wait(NULL, &a, 1, 10 * WEFT_SEC), 0);
	struct job_copy c = job_copy(a);
	assert_int_equal(c.state, WEFTD_JOB_FAILED);
	assert_int_equal(c.attempts, 3);
	assert_non_null(strstr(c.error, "attempt 3/3"));

	/* an hour's backoff: retry (re-drive now) runs the next attempt at once */
	b = submit(e, "slow", "b");
	wait_state(b, WEFTD_JOB_RETRYING, 1);
	assert_int_equal(weftd_engine_retry(e, b, false), 0);
	wait_state(b, WEFTD_JOB_RETRYING, 2);
	assert_true(job_copy(b).run_at_ms > unix_ms() + 3000 * 1000);
	/* a retry that is not waiting in the schedule: a conflict */
	assert_int_equal(weftd_engine_retry(e, a, true), 0); /* a dead letter: re-driven */
	wait_state(a, WEFTD_JOB_FAILED, 3);

	/* paused: a retry falls due and waits; resumed, it runs */
	assert_int_equal(weftd_engine_pause(e, "quick", true), 0);
	weftd_job_unref(a);
	a = submit(e, "quick", "a2");
	weft_sleep(NULL, 300 * WEFT_MSEC);
	/* queued (paused before its first attempt): nothing ran */
	assert_int_equal(job_copy(a).attempts, 0);
	assert_int_equal(weftd_engine_pause(e, "quick", false), 0);
	wait_state(a, WEFTD_JOB_RETRYING, 1);
	assert_int_equal(weftd_engine_pause(e, "quick", true), 0);
	weft_sleep(NULL, 300 * WEFT_MSEC); /* due after 30 ms: held by the pause */
	c = job_copy(a);
	assert_int_equal(c.state, WEFTD_JOB_RETRYING);
	assert_int_equal(c.attempts, 1);
	assert_int_equal(weftd_engine_pause(e, "quick", false), 0);
	assert_int_equal(weftd_jobs_wait(NULL, &a, 1, 10 * WEFT_SEC), 0);
	assert_int_equal(job_copy(a).attempts, 3);

	weftd_engine_stop(e);
	weftd_job_unref(a);
	weftd_job_unref(b);
}

static void test_attempts(void **state)
{
	(void)state;
	run(attempts_main, "pipelines:\n"
			   "  quick:\n    stages:\n"
			   "      - {name: f, builtin: fail, workers: 1,\n"
			   "         retry: {attempts: 3, initial: 30ms, jitter: none}}\n"
			   "  slow:\n    stages:\n"
			   "      - {name: f, builtin: fail, workers: 1,\n"
			   "         retry: {attempts: 5, initial: 1h, max: 2h, jitter: none}}\n");
}

/* ---- a stage whose retries fill its bound keeps the next on its worker ---------- */

static void bound_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *a, *b;

	assert_int_equal(weftd_engine_start(e), 0);
	a = submit(e, "p", "a");
	wait_state(a, WEFTD_JOB_RETRYING, 1);
	b = submit(e, "p", "b");
	wait_state(b, WEFTD_JOB_RETRYING, 1);
	/* both retrying, one in the schedule (the bound: queue 1), one on the worker */
	assert_int_equal(figs(e, "p").retrying, 2);
	assert_int_equal(weftd_engine_retry(e, b, false), -EBUSY); /* not in the schedule */
	/* a cancel ends the one its worker holds too */
	assert_true(weftd_engine_cancel(e, b, "by test"));
	assert_int_equal(weftd_job_state(b), WEFTD_JOB_CANCELED);
	assert_true(weftd_engine_cancel(e, a, "by test"));
	for (int i = 0; i < 5000 && figs(e, "p").retrying; i++)
		weft_sleep(NULL, WEFT_MSEC);
	assert_int_equal(figs(e, "p").retrying, 0);
	weftd_engine_stop(e);
	weftd_job_unref(a);
	weftd_job_unref(b);
}

static void test_bound(void **state)
{
	(void)state;
	run(bound_main, "pipelines:\n  p:\n    stages:\n"
			"      - {name: f, builtin: fail, workers: 1, queue: 1,\n"
			"         retry: {attempts: 5, initial: 1h, max: 2h, jitter: none}}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_free_worker), BOTH(test_attempts), BOTH(test_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
