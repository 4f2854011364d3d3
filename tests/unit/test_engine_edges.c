/* SPDX-License-Identifier: MIT */
/* test_engine_edges.c — submit and retry paths make mutate found untested (issue 18):
 *   - a drain does not wait for a job scheduled for later (it holds no worker);
 *   - retry (run the next attempt now) of a retrying job whose stage queue is full is
 *     refused with -EAGAIN and leaves the job retrying, due as before, in its schedule (a
 *     later retry takes it); with room, the job is queued and runs its next attempt.
 * Run with 1 and 2 procs. */
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

#include "config/config.h"
#include "engine/engine.h"
#include "job_copy.h"
#include "testutil.h"
#include "daemon_testutil.h"

static char g_dir[64];

static struct weftd_job *submit(struct weftd_engine *e, const char *pipe, const char *payload,
				const struct weftd_submit_opts *o)
{
	struct weftd_job *j = NULL;

	assert_int_equal(weftd_engine_submit(e, pipe, payload, strlen(payload), getuid(), o, &j), 0);
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
	struct job_copy c = job_copy(j);
	fail_msg("job never reached state %s (attempts %u): %s, %u attempts",
		 weftd_job_state_name(st), attempts, weftd_job_state_name(c.state), c.attempts);
}

static void run(void (*fn)(void *), const char *yaml)
{
	struct weftd_engine *e;
	char err[256];

	assert_int_equal(weftd_engine_new(conf(yaml), &e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(fn, e, &(struct weft_opts){ .procs = g_procs }), 0);
	weftd_engine_free(e);
}

/* ---- a drain and a scheduled job ---- */

static void drain_main(void *arg)
{
	struct weftd_engine *e = arg;
	weft_ctx *ctx;

	assert_int_equal(weftd_engine_start(e), 0);
	struct weftd_job *later = submit(e, "p", "x",
		&(struct weftd_submit_opts){ .run_at_ms = unix_ms() + 3600 * 1000 });
	assert_int_equal(weftd_job_state(later), WEFTD_JOB_SCHEDULED);
	struct weftd_job *now = submit(e, "p", "y", NULL);
	assert_int_equal(weftd_jobs_wait(NULL, &now, 1, 10 * WEFT_SEC), 0);
	/* the job due in an hour is no live job: idle at once (10 s: a failure, not a hang) */
	assert_int_equal(weft_ctx_with_timeout(NULL, 10 * WEFT_SEC, &ctx), 0);
	int64_t t0 = weft_now();
	assert_int_equal(weftd_engine_wait_idle(e, ctx), 0);
	assert_true(weft_now() - t0 < 5 * WEFT_SEC);
	weft_ctx_unref(ctx);
	assert_int_equal(weftd_job_state(later), WEFTD_JOB_SCHEDULED);
	weftd_engine_stop(e);
	weftd_job_unref(later);
	weftd_job_unref(now);
}

static void test_drain_skips_scheduled(void **state)
{
	run(drain_main, "pipelines:\n  p:\n    stages:\n"
			"      - {name: s, builtin: noop, workers: 1}\n");
}

/* ---- retry now, with and without room in the stage's queue ---- */

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
}

/* Payload "bad" fails; any other payload is a file to wait for. */
static void retry_main(void *arg)
{
	struct weftd_engine *e = arg;
	char a[96], b[96], c[96];

	snprintf(a, sizeof(a), "%s/a", g_dir);
	snprintf(b, sizeof(b), "%s/b", g_dir);
	snprintf(c, sizeof(c), "%s/c", g_dir);
	assert_int_equal(weftd_engine_start(e), 0);
	struct weftd_job *bad = submit(e, "p", "bad", NULL);
	wait_state(bad, WEFTD_JOB_RETRYING, 1);
	int64_t due = job_copy(bad).run_at_ms;
	/* the one worker busy with ja; jb and jc fill the queue (2) */
	struct weftd_job *ja = submit(e, "p", a, NULL);
	wait_state(ja, WEFTD_JOB_RUNNING, 1);
	struct weftd_job *jb = submit(e, "p", b, NULL);
	struct weftd_job *jc = submit(e, "p", c, NULL);
	/* no room: refused, still retrying as before, still in its schedule */
	assert_int_equal(weftd_engine_retry(e, bad, false), -EAGAIN);
	struct job_copy cp = job_copy(bad);
	assert_int_equal(cp.state, WEFTD_JOB_RETRYING);
	assert_int_equal(cp.attempts, 1);
	assert_int_equal(cp.run_at_ms, due);
	/* room for one (jb runs, jc waits): queued now, behind jc */
	touch(a);
	wait_state(jb, WEFTD_JOB_RUNNING, 1);
	assert_int_equal(weftd_engine_retry(e, bad, false), 0);
	/* it runs its next attempt once the worker is free (and fails again) */
	touch(b);
	touch(c);
	wait_state(bad, WEFTD_JOB_RETRYING, 2);
	struct weftd_job *all[] = { ja, jb, jc };
	assert_int_equal(weftd_jobs_wait(NULL, all, 3, 10 * WEFT_SEC), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(weftd_job_state(all[i]), WEFTD_JOB_DONE);
	assert_true(weftd_engine_cancel(e, bad, "by test"));
	weftd_engine_stop(e);
	weftd_job_unref(bad);
	for (int i = 0; i < 3; i++)
		weftd_job_unref(all[i]);
}

static void test_retry_now_full_queue(void **state)
{
	run(retry_main, "pipelines:\n  p:\n    stages:\n"
			"      - name: s\n"
			"        exec: [sh, -c, 'x=$(cat); if [ \"$x\" = bad ]; then exit 1; fi; "
			"while [ ! -e \"$x\" ]; do sleep 0.01; done']\n"
			"        workers: 1\n"
			"        queue: 2\n"
			"        retry: {attempts: 5, initial: 1h, max: 1h, jitter: none}\n");
}

static int mk_dir(void **state)
{
	strcpy(g_dir, "/tmp/weft-engedges-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	g_procs = (unsigned)(uintptr_t)*state ? (unsigned)(uintptr_t)*state : 1;
	return 0;
}

static int rm_dir(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

#define T(fn, procs) cmocka_unit_test_prestate_setup_teardown(fn, mk_dir, rm_dir, (void *)(procs))

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_drain_skips_scheduled, 1),
		T(test_drain_skips_scheduled, 2),
		T(test_retry_now_full_queue, 1),
		T(test_retry_now_full_queue, 2),
	};
	return cmocka_run_group_tests_name("engine edges", tests, NULL, NULL);
}
