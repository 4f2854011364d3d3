/* SPDX-License-Identifier: MIT */
/* test_engine_steer.c — the engine's side of issue 12: scheduled jobs (held, counted, not
 * run early, run when due; an earlier one wakes the timer; cancel ends one at once and
 * frees its place; a full schedule answers busy); priorities through a paused then
 * resumed pipeline; pause holds due jobs and survives a reload; idempotency keys; retry
 * of a dead letter from its failed stage or from the start (one finding no room stays a
 * dead letter), and purge; the payload passed on without a copy; eng_place for the
 * replay. Run with 1 and 2 procs. */
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
#include "engine/engine_impl.h" /* white-box: eng_place, as the replay calls it */
#include "job_copy.h"
#include "testutil.h"
#include "daemon_testutil.h"

struct figs {
	bool paused;
	int64_t scheduled, queued0;
	uint64_t submitted, done0, done1;
};

static void fig_fn(const struct weftd_pipeline_figures *p, void *arg)
{
	struct figs *f = arg;

	*f = (struct figs){ .paused = p->paused, .scheduled = p->scheduled,
			    .queued0 = p->stages[0].queued, .submitted = p->submitted,
			    .done0 = p->stages[0].done,
			    .done1 = p->nstages > 1 ? p->stages[1].done : 0 };
}

static struct figs figs(struct weftd_engine *e, const char *pipe)
{
	struct figs f;

	assert_int_equal(weftd_engine_figures(e, pipe, fig_fn, &f), 0);
	return f;
}

static struct weftd_job *submit(struct weftd_engine *e, const char *pipe, const char *payload,
				const struct weftd_submit_opts *o)
{
	struct weftd_job *j = NULL;

	assert_int_equal(weftd_engine_submit(e, pipe, payload, strlen(payload), getuid(), o, &j), 0);
	return j;
}

static void wait_done(struct weftd_job *j)
{
	assert_int_equal(weftd_jobs_wait(NULL, &j, 1, 20 * WEFT_SEC), 0);
}

static void run(void (*fn)(void *), const char *yaml)
{
	struct weftd_engine *e;
	char err[256];

	assert_int_equal(weftd_engine_new(conf(yaml), &e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(fn, e, &(struct weft_opts){ .procs = g_procs }), 0);
	weftd_engine_free(e);
}

/* ---- scheduled jobs ------------------------------------------------------------- */

static void scheduled_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *late, *soon, *gone, *x = NULL;
	int64_t t0 = unix_ms();

	assert_int_equal(weftd_engine_start(e), 0);
	/* due in an hour: scheduled, counted, holding no worker */
	late = submit(e, "p", "late", &(struct weftd_submit_opts){ .run_at_ms = t0 + 3600 * 1000 });
	assert_int_equal(weftd_job_state(late), WEFTD_JOB_SCHEDULED);
	assert_int_equal(job_copy(late).run_at_ms, t0 + 3600 * 1000);
	assert_int_equal(figs(e, "p").scheduled, 1);
	weft_sleep(NULL, 100 * WEFT_MSEC); /* the timer asleep until the hour: what we test */
	/* an earlier one wakes the timer (it slept until the hour) and runs when due, not
	 * before; the later one still waits */
	soon = submit(e, "p", "soon", &(struct weftd_submit_opts){ .run_at_ms = t0 + 300 });
	assert_int_equal(figs(e, "p").scheduled, 2);
	wait_done(soon);
	assert_int_equal(weftd_job_state(soon), WEFTD_JOB_DONE);
	assert_true(job_copy(soon).started_ms >= t0 + 300);
	assert_true(unix_ms() - t0 < 5000);
	assert_int_equal(weftd_job_state(late), WEFTD_JOB_SCHEDULED);
	assert_int_equal(figs(e, "p").scheduled, 1);
	/* the bound is the first stage's queue (2): full, then busy */
	gone = submit(e, "p", "gone", &(struct weftd_submit_opts){ .run_at_ms = t0 + 3600 * 1000 });
	assert_int_equal(weftd_engine_submit(e, "p", "x", 1, getuid(),
		&(struct weftd_submit_opts){ .run_at_ms = t0 + 3600 * 1000 }, &x), -EAGAIN);
	assert_null(x);
	/* cancel ends a scheduled job at once and frees its place */
	assert_true(weftd_engine_cancel(e, gone, "by test"));
	assert_int_equal(weftd_job_state(gone), WEFTD_JOB_CANCELED);
	assert_int_equal(figs(e, "p").scheduled, 1);
	x = submit(e, "p", "x", &(struct weftd_submit_opts){ .run_at_ms = t0 + 3600 * 1000 });
	/* a due time in the past: queued at once */
	weftd_job_unref(soon);
	soon = submit(e, "p", "past", &(struct weftd_submit_opts){ .run_at_ms = t0 - 1000 });
	wait_done(soon);
	assert_int_equal(weftd_job_state(soon), WEFTD_JOB_DONE);
	/* the stop cancels the scheduled ones */
	weftd_engine_stop(e);
	assert_int_equal(weftd_job_state(late), WEFTD_JOB_CANCELED);
	assert_int_equal(weftd_job_state(x), WEFTD_JOB_CANCELED);
	weftd_job_unref(late);
	weftd_job_unref(soon);
	weftd_job_unref(gone);
	weftd_job_unref(x);
}

static void test_scheduled(void **state)
{
	run(scheduled_main, "pipelines:\n  p:\n    stages:\n"
			    "      - {name: s, builtin: noop, workers: 1, queue: 2}\n");
}

/* A drain's wait does not wait for scheduled jobs (they hold no worker; the stop cancels
 * them), but does for the others, a scheduled one cancelled meanwhile or not. */
static void idle_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *later, *other, *slow;
	const struct weftd_submit_opts o = { .run_at_ms = unix_ms() + 3600 * 1000 };
	weft_ctx *ctx;

	assert_int_equal(weftd_engine_start(e), 0);
	later = submit(e, "p", "later", &o);
	other = submit(e, "p", "other", &o);
	assert_int_equal(weft_ctx_with_timeout(NULL, 5 * WEFT_SEC, &ctx), 0);
	assert_int_equal(weftd_engine_wait_idle(e, ctx), 0);
	weft_ctx_unref(ctx);
	slow = submit(e, "p", "slow", NULL);
	assert_true(weftd_engine_cancel(e, later, "by test"));
	assert_int_equal(weft_ctx_with_timeout(NULL, 20 * WEFT_MSEC, &ctx), 0);
	assert_int_equal(weftd_engine_wait_idle(e, ctx), -ETIMEDOUT); /* slow still runs */
	weft_ctx_unref(ctx);
	assert_int_equal(weftd_engine_wait_idle(e, NULL), 0);
	assert_int_equal(weftd_job_state(slow), WEFTD_JOB_DONE);
	assert_int_equal(weftd_job_state(other), WEFTD_JOB_SCHEDULED);
	weftd_engine_stop(e);
	assert_int_equal(weftd_job_state(other), WEFTD_JOB_CANCELED);
	weftd_job_unref(later);
	weftd_job_unref(other);
	weftd_job_unref(slow);
}

static void test_idle_scheduled(void **state)
{
	run(idle_main, "pipelines:\n  p:\n    stages:\n"
		       "      - {name: s, builtin: sleep, params: {duration: 500ms}}\n");
}

/* ---- priorities and pause ----------------------------------------------------------- */

static void prio_main(void *arg)
{
	struct weftd_engine *e = arg;
	const int prio[] = { 0, -5, 10, 0, 100, -100, 10, 3 };
	const int order[] = { 4, 2, 6, 7, 0, 3, 1, 5 }; /* indexes, by priority then arrival */
	struct weftd_job *j[8], *due;
	int64_t fin[8];

	assert_int_equal(weftd_engine_start(e), 0);
	assert_int_equal(weftd_engine_pause(e, "nope", true), -ENOENT);
	assert_int_equal(weftd_engine_pause(e, "p", true), 0);
	assert_true(figs(e, "p").paused);
	for (int i = 0; i < 8; i++) {
		char t[8];
		snprintf(t, sizeof(t), "%d", i);
		j[i] = submit(e, "p", t, &(struct weftd_submit_opts){ .priority = prio[i] });
	}
	/* a due scheduled job is held too */
	due = submit(e, "p", "due", &(struct weftd_submit_opts){ .run_at_ms = unix_ms() + 50 });
	weft_sleep(NULL, 300 * WEFT_MSEC); /* nothing may start meanwhile: the check is here */
	for (int i = 0; i < 8; i++)
		assert_int_equal(weftd_job_state(j[i]), WEFTD_JOB_QUEUED);
	assert_int_equal(weftd_job_state(due), WEFTD_JOB_SCHEDULED);
	assert_int_equal(figs(e, "p").queued0, 8);
	assert_int_equal(weftd_engine_pause(e, "p", false), 0);
	assert_false(figs(e, "p").paused);
	/* one worker, 20 ms per job: the finishing times give the order */
	for (int i = 0; i < 8; i++) {
		wait_done(j[i]);
		fin[i] = job_copy(j[i]).finished_ms;
	}
	for (int k = 1; k < 8; k++)
		assert_true(fin[order[k - 1]] < fin[order[k]]);
	wait_done(due);
	assert_int_equal(weftd_job_state(due), WEFTD_JOB_DONE);
	for (int i = 0; i < 8; i++)
		weftd_job_unref(j[i]);
	weftd_job_unref(due);
	/* the pause survives a reload that changes the pipeline (and one that does not) */
	struct weftd_reload_stats st;
	char err[256];
	assert_int_equal(weftd_engine_pause(e, "p", true), 0);
	struct weftd_job *held = submit(e, "p", "held", NULL); /* waits in the old pipeline */
	assert_int_equal(weftd_engine_reload(e, conf("pipelines:\n  p:\n    stages:\n"
		"      - {name: s, builtin: sleep, params: {duration: 10ms}, workers: 1}\n"
		"  q:\n    stages:\n      - {name: s, builtin: noop}\n"), &st, err, sizeof(err)), 0);
	assert_int_equal(st.changed, 1);
	assert_true(figs(e, "p").paused);
	assert_false(figs(e, "q").paused);
	due = submit(e, "p", "x", NULL);
	weft_sleep(NULL, 100 * WEFT_MSEC);
	assert_int_equal(weftd_job_state(due), WEFTD_JOB_QUEUED);
	assert_int_equal(weftd_job_state(held), WEFTD_JOB_QUEUED); /* moved over, still held */
	assert_int_equal(figs(e, "p").queued0, 2);
	assert_int_equal(weftd_engine_pause(e, "p", false), 0);
	wait_done(due);
	wait_done(held);
	assert_int_equal(weftd_job_state(held), WEFTD_JOB_DONE);
	weftd_job_unref(due);
	weftd_job_unref(held);
	weftd_engine_stop(e);
}

static void test_priority_pause(void **state)
{
	run(prio_main, "pipelines:\n  p:\n    stages:\n"
		       "      - {name: s, builtin: sleep, params: {duration: 20ms}, workers: 1}\n");
}

/* ---- keys ------------------------------------------------------------------------- */

static void keys_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *a, *b = NULL, *c;
	struct weftd_jobs_counts n;
	const struct weftd_submit_opts k = { .key = "order-1", .key_len = 7 };

	assert_int_equal(weftd_engine_start(e), 0);
	a = submit(e, "p", "a", &k);
	assert_int_equal(weftd_engine_submit(e, "p", "b", 1, getuid(), &k, &b), 1);
	assert_ptr_equal(b, a);
	weftd_job_unref(b);
	wait_done(a);
	/* retained: still a duplicate; another pipeline or key: a new job */
	assert_int_equal(weftd_engine_submit(e, "p", "b", 1, getuid(), &k, &b), 1);
	assert_ptr_equal(b, a);
	weftd_job_unref(b);
	c = submit(e, "q", "c", &k);
	assert_ptr_not_equal(c, a);
	weftd_job_unref(c);
	weftd_jobs_counts(weftd_engine_jobs(e), &n);
	assert_int_equal(n.total, 2);
	assert_int_equal(weftd_engine_submit(e, "p", "x", 1, getuid(),
		&(struct weftd_submit_opts){ .priority = 101 }, &b), -EINVAL);
	weftd_job_unref(a);
	weftd_engine_stop(e);
}

static void test_keys(void **state)
{
	run(keys_main, "pipelines:\n  p:\n    stages:\n      - {name: s, builtin: noop}\n"
		       "  q:\n    stages:\n      - {name: s, builtin: noop}\n");
}

/* ---- dead letters ------------------------------------------------------------------ */

#define DEAD_CONF(second) \
	"pipelines:\n  p:\n    stages:\n" \
	"      - {name: a, builtin: echo, params: {text: from-a}}\n" \
	"      - {name: b, " second "}\n"

static void dead_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_reload_stats st;
	struct weftd_job *j;
	struct job_copy c;
	char err[256];

	assert_int_equal(weftd_engine_start(e), 0);
	j = submit(e, "p", "payload", NULL);
	wait_done(j);
	c = job_copy(j);
	assert_int_equal(c.state, WEFTD_JOB_FAILED);
	assert_int_equal(c.stage_index, 1);
	/* its stage's input is kept */
	assert_int_equal(weftd_job_cargo(j)->input_len, 6);
	assert_memory_equal(weftd_job_cargo(j)->input, "from-a", 6);
	assert_int_equal(weftd_engine_retry(e, j, false), 0); /* fails again: same stage */
	wait_done(j);
	assert_int_equal(job_copy(j).state, WEFTD_JOB_FAILED);
	assert_int_equal(figs(e, "p").done0, 1); /* stage a did not run again */
	/* the stage is fixed by a reload: re-driven at b, stage a not run again */
	assert_int_equal(weftd_engine_reload(e, conf(DEAD_CONF("builtin: upper")), &st, err, sizeof(err)), 0);
	assert_int_equal(weftd_engine_retry(e, j, false), 0);
	assert_int_equal(weftd_engine_retry(e, j, false), -EBUSY);
	assert_int_equal(weftd_engine_purge(e, j), -EBUSY);
	wait_done(j);
	c = job_copy(j);
	assert_int_equal(c.state, WEFTD_JOB_DONE);
	assert_string_equal(c.output, "FROM-A");
	assert_int_equal(figs(e, "p").done0, 0); /* the new pipeline's stage a: never ran */
	assert_int_equal(weftd_engine_retry(e, j, false), -EBUSY); /* done is no dead letter */
	weftd_job_unref(j);
	/* from the start: stage a runs again on the payload */
	assert_int_equal(weftd_engine_reload(e, conf(DEAD_CONF("builtin: fail, params: {message: no}")),
					 &st, err, sizeof(err)), 0);
	j = submit(e, "p", "payload", NULL);
	wait_done(j);
	assert_int_equal(job_copy(j).state, WEFTD_JOB_FAILED);
	assert_int_equal(figs(e, "p").done0, 1);
	assert_int_equal(weftd_engine_retry(e, j, true), 0);
	wait_done(j);
	assert_int_equal(job_copy(j).state, WEFTD_JOB_FAILED);
	assert_int_equal(figs(e, "p").done0, 2);
	/* purge: gone from the table */
	assert_int_equal(weftd_engine_purge(e, j), 0);
	assert_null(weftd_jobs_get(weftd_engine_jobs(e), weftd_job_info(j)->id, WEFTD_JOB_ID_LEN));
	assert_int_equal(weftd_engine_purge(e, j), -EBUSY);
	assert_int_equal(weftd_engine_retry(e, j, false), -EBUSY);
	weftd_job_unref(j);
	/* draining: no re-drive */
	j = submit(e, "p", "payload", NULL);
	wait_done(j);
	weftd_engine_set_intake(e, false);
	assert_int_equal(weftd_engine_retry(e, j, false), -ESHUTDOWN);
	weftd_job_unref(j);
	weftd_engine_stop(e);
}

static void test_dead_letters(void **state)
{
	run(dead_main, DEAD_CONF("builtin: fail, params: {message: no}"));
}

/* A re-drive that finds no room leaves the dead letter as it was. */
static void full_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *x, *y;
	struct weftd_jobs_counts n;
	struct job_copy c;

	assert_int_equal(weftd_engine_start(e), 0);
	x = submit(e, "p", "x", NULL);
	wait_done(x);
	assert_int_equal(weftd_engine_pause(e, "p", true), 0);
	y = submit(e, "p", "y", NULL); /* the queue's one slot */
	assert_int_equal(weftd_engine_retry(e, x, true), -EAGAIN);
	c = job_copy(x);
	assert_int_equal(c.state, WEFTD_JOB_FAILED);
	assert_string_equal(c.error, "stage a: attempt 1/1: no");
	weftd_jobs_counts(weftd_engine_jobs(e), &n);
	assert_int_equal(n.finished, 1); /* retained again, y live */
	assert_int_equal(weftd_engine_pause(e, "p", false), 0);
	wait_done(y);
	assert_int_equal(weftd_engine_retry(e, x, true), 0);
	wait_done(x);
	assert_int_equal(job_copy(x).state, WEFTD_JOB_FAILED);
	weftd_job_unref(x);
	weftd_job_unref(y);
	weftd_engine_stop(e);
}

static void test_retry_full(void **state)
{
	run(full_main, "pipelines:\n  p:\n    stages:\n"
		       "      - {name: a, builtin: fail, params: {message: no}, workers: 1, queue: 1}\n");
}

/* ---- the payload passed on without a copy --------------------------------------- */

/* noop hands the payload on as an alias (in_keep): as the output, as the next stage's
 * input, and dropped by a failed attempt (max_output) without being freed (ASan). */
static void alias_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *j;
	struct job_copy c;

	assert_int_equal(weftd_engine_start(e), 0);
	j = submit(e, "n", "payload", NULL);
	wait_done(j);
	c = job_copy(j);
	assert_int_equal(c.state, WEFTD_JOB_DONE);
	assert_string_equal(c.output, "payload");
	weftd_job_unref(j);
	j = submit(e, "two", "abc", NULL);
	wait_done(j);
	assert_string_equal(job_copy(j).output, "ABC");
	weftd_job_unref(j);
	j = submit(e, "small", "too long", NULL);
	wait_done(j);
	c = job_copy(j);
	assert_int_equal(c.state, WEFTD_JOB_FAILED);
	assert_non_null(strstr(c.error, "max_output"));
	assert_int_equal(weftd_engine_retry(e, j, true), 0);
	wait_done(j);
	assert_int_equal(job_copy(j).state, WEFTD_JOB_FAILED);
	assert_int_equal(weftd_engine_purge(e, j), 0);
	weftd_job_unref(j);
	weftd_engine_stop(e);
}

static void test_alias(void **state)
{
	run(alias_main, "pipelines:\n"
		"  n:\n    stages:\n      - {name: s, builtin: noop}\n"
		"  two:\n    stages:\n      - {name: a, builtin: noop}\n      - {name: b, builtin: upper}\n"
		"  small:\n    stages:\n      - {name: s, builtin: noop, max_output: 4}\n");
}

/* ---- eng_place (replay) ----------------------------------------------------------- */

static void place_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_pipe *p;
	struct weftd_job *j, *s;
	struct weftd_jobs *t = weftd_engine_jobs(e);

	assert_int_equal(weftd_engine_start(e), 0);
	p = eng_find_pipe(e, "p");
	/* a job that had reached stage b resumes there with b's input */
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .id = "00000000000000aa",
		.pipeline = "p", .pipe = pipe_ref(p), .payload = "pay", .len = 3, .priority = 5 }, &j), 0);
	weftd_jobs_insert(t, j);
	assert_int_equal(weftd_job_restore_stage(j, 1, "b", "mid", 3), 0);
	assert_int_equal(eng_place(p, j, true), 0);
	wait_done(j);
	assert_string_equal(job_copy(j).output, "MID");
	assert_int_equal(figs(e, "p").done0, 0);
	weftd_job_unref(j);
	/* a scheduled one goes to the schedule (past the bound when blocking) */
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .pipeline = "p",
		.pipe = pipe_ref(p), .payload = "s", .len = 1, .run_at_ms = unix_ms() + 100 }, &s), 0);
	weftd_jobs_insert(t, s);
	assert_int_equal(eng_place(p, s, true), 0);
	assert_int_equal(figs(e, "p").scheduled, 1);
	wait_done(s);
	assert_string_equal(job_copy(s).output, "FROM-A");
	weftd_job_unref(s);
	eng_pipe_unref(p);
	weftd_engine_stop(e);
}

static void test_place(void **state)
{
	run(place_main, "pipelines:\n  p:\n    stages:\n"
			"      - {name: a, builtin: echo, params: {text: from-a}}\n"
			"      - {name: b, builtin: upper}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_scheduled), BOTH(test_idle_scheduled), BOTH(test_priority_pause), BOTH(test_keys),
		BOTH(test_dead_letters), BOTH(test_retry_full), BOTH(test_alias), BOTH(test_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
