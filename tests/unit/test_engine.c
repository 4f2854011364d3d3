/* SPDX-License-Identifier: MIT */
/* test_engine.c — the engine's lifecycle hooks: reload swaps the pipeline set (unchanged
 * pipelines kept, changed ones rebuilt while their in-flight jobs finish under the old
 * settings, removed ones gone for new jobs, added ones running), a reload that cannot be
 * built changes nothing, and a stuck attempt is cancelled by the supervisor's heartbeat
 * check and retried, counted per stage; a refused submit says why with its errno; the
 * drain's wait for the last job; back-pressure of a full first queue. Run with 1 and 2 procs. */
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

#include "config/config.h"
#include "engine/engine.h"
#include "engine/supervisor.h"
#include "jobs/journal.h"
#include "job_copy.h"
#include "server/render.h"
#include "testutil.h"
#include "daemon_testutil.h"


/* Submit and wait; returns the job (a reference) or NULL with *ret_r set. */
static struct weftd_job *run_job(struct weftd_engine *e, const char *pipe, const char *payload,
				 int *ret_r)
{
	struct weftd_job *j;
	int r = weftd_engine_submit(e, pipe, payload, strlen(payload), getuid(), NULL, &j);
	*ret_r = r;
	if (r < 0)
		return NULL;
	assert_int_equal(weftd_jobs_wait(NULL, &j, 1, 10 * WEFT_SEC), 0);
	return j;
}

static void assert_output(struct weftd_job *j, const char *want)
{
	assert_non_null(j);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_DONE);
	struct job_copy c = job_copy(j);
	assert_int_equal(c.output_len, strlen(want));
	assert_memory_equal(c.output, want, strlen(want));
}

#define CONF_A \
	"pipelines:\n" \
	"  keep:\n    stages:\n      - {name: u, builtin: upper}\n" \
	"  shout:\n    stages:\n      - {name: e, builtin: echo, params: {text: one}}\n" \
	"  gone:\n    stages:\n      - {name: u, builtin: upper}\n" \
	"  slow:\n    stages:\n      - {name: s, builtin: sleep, params: {duration: 300ms}}\n" \
	"      - {name: e, builtin: echo, params: {text: old}}\n"
#define CONF_B \
	"pipelines:\n" \
	"  keep:\n    stages:\n      - {name: u, builtin: upper}\n" \
	"  shout:\n    stages:\n      - {name: e, builtin: echo, params: {text: two}}\n" \
	"  added:\n    stages:\n      - {name: e, builtin: echo, params: {text: new}}\n" \
	"  slow:\n    stages:\n      - {name: s, builtin: sleep, params: {duration: 10ms}}\n" \
	"      - {name: e, builtin: echo, params: {text: new}}\n"

static void reload_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_reload_stats st;
	struct weftd_job *j, *inflight;
	char err[512];
	int r;

	assert_int_equal(weftd_engine_start(e), 0);
	j = run_job(e, "keep", "a", &r);
	assert_output(j, "A");
	weftd_job_unref(j);
	assert_int_equal(weftd_engine_submit(e, "slow", "x", 1, getuid(), NULL, &inflight), 0);
	weft_sleep(NULL, 50 * WEFT_MSEC); /* running its first stage under the old settings */

	assert_int_equal(weftd_engine_reload(e, conf(CONF_B), &st, err, sizeof(err)), 0);
	assert_int_equal(st.unchanged, 1);
	assert_int_equal(st.changed, 2);
	assert_int_equal(st.added, 1);
	assert_int_equal(st.removed, 1);
	j = run_job(e, "shout", "x", &r);
	assert_output(j, "two");
	weftd_job_unref(j);
	j = run_job(e, "added", "x", &r);
	assert_output(j, "new");
	weftd_job_unref(j);
	assert_null(run_job(e, "gone", "x", &r));
	assert_int_equal(r, -ENOENT);
	j = run_job(e, "keep", "b", &r);
	assert_output(j, "B");
	weftd_job_unref(j);
	/* the in-flight job finished in its old pipeline, the new one runs the new stages */
	assert_int_equal(weftd_jobs_wait(NULL, &inflight, 1, 10 * WEFT_SEC), 0);
	assert_output(inflight, "old");
	weftd_job_unref(inflight);
	j = run_job(e, "slow", "x", &r);
	assert_output(j, "new");
	weftd_job_unref(j);

	/* a file that cannot be built (an exec path that does not exist): nothing changes */
	r = weftd_engine_reload(e, conf("pipelines:\n  shout:\n    stages:\n"
					"      - {name: x, exec: [/nonexistent/weft-test-cmd]}\n"),
				&st, err, sizeof(err));
	assert_true(r < 0);
	assert_non_null(strstr(err, "shout"));
	j = run_job(e, "added", "x", &r);
	assert_output(j, "new");
	weftd_job_unref(j);
	weftd_engine_stop(e);
}

static void test_reload(void **state)
{
	struct weftd_engine *e;
	char err[256];
	struct weft_opts o = { .procs = g_procs };

	assert_int_equal(weftd_engine_new(conf(CONF_A), &e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(reload_main, e, &o), 0);
	weftd_engine_free(e);
}

struct hb_test {
	struct weftd_engine *e;
	struct weftd_sup *sup;
};

static void hb_main(void *arg)
{
	struct hb_test *t = arg;
	struct weftd_buf b;
	int r;

	assert_int_equal(weftd_sup_start(t->sup), 0);
	weftd_engine_set_sup(t->e, t->sup);
	assert_int_equal(weftd_engine_start(t->e), 0);
	struct weftd_job *j = run_job(t->e, "stuck", "x", &r);
	assert_non_null(j);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_FAILED);
	assert_int_equal(job_copy(j).attempts, 2);
	assert_non_null(strstr(job_copy(j).error, "heartbeat"));
	weftd_job_unref(j);
	j = run_job(t->e, "beating", "y", &r);
	assert_output(j, "y");
	weftd_job_unref(j);
	weftd_buf_init(&b, NULL, 0);
	assert_int_equal(weftd_render_stats(&b, t->e, NULL), 0);
	char *txt = strndup(b.data, b.len); /* the buffer is not a C string */
	weftd_buf_done(&b);
	assert_non_null(strstr(txt, "\"heartbeat_timeouts\":2"));
	assert_non_null(strstr(txt, "\"heartbeat_timeouts\":0"));
	free(txt);
	weftd_engine_stop(t->e);
	weftd_sup_stop(t->sup);
}

static void test_heartbeat_retry(void **state)
{
	struct hb_test t;
	char err[256];
	struct weft_opts o = { .procs = g_procs };
	struct weftd_sup_opts so = { .heartbeat_interval_ns = 20 * WEFT_MSEC,
				     .heartbeat_timeout_ns = 10 * WEFT_SEC };

	assert_int_equal(weftd_engine_new(conf("pipelines:\n"
		"  stuck:\n    stages:\n"
		"      - {name: s, builtin: sleep, params: {duration: 30s, beat: false},\n"
		"         heartbeat_timeout: 200ms, retry: {attempts: 2, initial: 1ms, max: 1ms}}\n"
		"  beating:\n    stages:\n"
		"      - {name: s, builtin: sleep, params: {duration: 500ms}, heartbeat_timeout: 200ms}\n"),
		&t.e, err, sizeof(err)), 0);
	assert_int_equal(weftd_sup_new(&so, &t.sup), 0);
	assert_int_equal(weft_run(hb_main, &t, &o), 0);
	weftd_engine_free(t.e);
	weftd_sup_free(t.sup);
}

/* ---- counters are kept per proc and added up when read ---- */
#define COUNT_SUBMITTERS 16
#define COUNT_JOBS 64 /* per submitter */

struct count_test {
	struct weftd_engine *e;
	weft_wg wg;
};

static void count_submitter(void *arg)
{
	struct count_test *t = arg;
	struct weftd_job *jobs[COUNT_JOBS];
	for (int i = 0; i < COUNT_JOBS; i++)
		assert_int_equal(weftd_engine_submit(t->e, "two", "x", 1, getuid(), NULL, &jobs[i]), 0);
	assert_int_equal(weftd_jobs_wait(NULL, jobs, COUNT_JOBS, 10 * WEFT_SEC), 0);
	for (int i = 0; i < COUNT_JOBS; i++)
		weftd_job_unref(jobs[i]);
	weft_wg_done(&t->wg);
}

static void count_main(void *arg)
{
	struct count_test *t = arg;
	struct weftd_buf b;
	char want[64];

	assert_int_equal(weftd_engine_start(t->e), 0);
	weft_wg_init(&t->wg);
	weft_wg_add(&t->wg, COUNT_SUBMITTERS);
	for (int i = 0; i < COUNT_SUBMITTERS; i++)
		weft_go(count_submitter, t);
	weft_wg_wait(NULL, &t->wg);
	weftd_buf_init(&b, NULL, 0);
	assert_int_equal(weftd_render_stats(&b, t->e, "two"), 0);
	char *txt = strndup(b.data, b.len); /* the buffer is not a C string */
	weftd_buf_done(&b);
	snprintf(want, sizeof(want), "\"submitted\":%d,\"done\":%d,", COUNT_SUBMITTERS * COUNT_JOBS,
		 COUNT_SUBMITTERS * COUNT_JOBS);
	assert_non_null(strstr(txt, want));
	snprintf(want, sizeof(want), "\"latency_us\":{\"count\":%d,", COUNT_SUBMITTERS * COUNT_JOBS);
	assert_non_null(strstr(txt, want)); /* the pipeline's, then each stage's */
	assert_non_null(strstr(strstr(txt, want) + 1, want));
	assert_non_null(strstr(txt, "\"queued\":0,\"running\":0,"));
	assert_null(strstr(txt, "\"queued\":-"));
	free(txt);
	weftd_engine_stop(t->e);
}

static void test_counts_add_up(void **state)
{
	struct count_test t;
	char err[256];
	struct weft_opts o = { .procs = g_procs };

	assert_int_equal(weftd_engine_new(conf("pipelines:\n"
		"  two:\n    stages:\n"
		"      - {name: a, builtin: upper, workers: 4}\n"
		"      - {name: b, builtin: echo, workers: 4}\n"), &t.e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(count_main, &t, &o), 0);
	weftd_engine_free(t.e);
}

/* Every refusal is a negative errno (the server maps it to a protocol code). */
static void refusals_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *a, *b, *c = NULL;

	assert_int_equal(weftd_engine_start(e), 0);
	assert_int_equal(weftd_engine_submit(e, "nope", "x", 1, getuid(), NULL, &c), -ENOENT);
	assert_int_equal(weftd_engine_submit(e, "slow", "a", 1, getuid(), NULL, &a), 0);
	while (weftd_job_state(a) != WEFTD_JOB_RUNNING) /* the one worker holds it */
		weft_sleep(NULL, WEFT_MSEC);
	assert_int_equal(weftd_engine_submit(e, "slow", "b", 1, getuid(), NULL, &b), 0); /* the queue's one slot */
	assert_int_equal(weftd_engine_submit(e, "slow", "c", 1, getuid(), NULL, &c), -EAGAIN);
	weftd_engine_set_intake(e, false);
	assert_int_equal(weftd_engine_submit(e, "slow", "c", 1, getuid(), NULL, &c), -ESHUTDOWN);
	assert_null(c);
	weftd_engine_stop(e);
	assert_int_equal(weftd_job_state(a), WEFTD_JOB_CANCELED);
	assert_int_equal(weftd_job_state(b), WEFTD_JOB_CANCELED);
	weftd_job_unref(a);
	weftd_job_unref(b);
}

static void test_submit_refusals(void **state)
{
	struct weftd_engine *e;
	char err[256];
	struct weft_opts o = { .procs = g_procs };

	assert_int_equal(weftd_engine_new(conf("pipelines:\n  slow:\n    stages:\n"
		"      - {name: s, builtin: sleep, params: {duration: 10s}, workers: 1, queue: 1}\n"),
		&e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(refusals_main, e, &o), 0);
	weftd_engine_free(e);
}

/* Back-pressure: a first stage whose queue is full refuses a submit with -EAGAIN, counts
 * it as busy, keeps no trace of the refused job, and takes submits again as soon as a
 * worker drains one slot; nothing on a clock decides it, only the queue. */
struct bp_figs {
	uint64_t busy, submitted;
	int64_t queued;
};

static void bp_fig(const struct weftd_pipeline_figures *p, void *arg)
{
	struct bp_figs *f = arg;
	f->busy = p->busy;
	f->submitted = p->submitted;
	f->queued = p->stages[0].queued;
}

static struct bp_figs bp_read(struct weftd_engine *e)
{
	struct bp_figs f = { 0 };
	assert_int_equal(weftd_engine_figures(e, "slow", bp_fig, &f), 0);
	return f;
}

static size_t bp_jobs(struct weftd_engine *e)
{
	struct weftd_jobs_counts c;
	weftd_jobs_counts(weftd_engine_jobs(e), &c);
	return c.total;
}

static void bp_wait_running(struct weftd_job *j)
{
	while (weftd_job_state(j) != WEFTD_JOB_RUNNING) /* the one worker takes it */
		weft_sleep(NULL, WEFT_MSEC);
}

static void backpressure_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *a, *b, *c, *d = NULL, *x = NULL;

	assert_int_equal(weftd_engine_start(e), 0);
	assert_int_equal(weftd_engine_submit(e, "slow", "a", 1, getuid(), NULL, &a), 0);
	bp_wait_running(a);
	assert_int_equal(weftd_engine_submit(e, "slow", "b", 1, getuid(), NULL, &b), 0);
	assert_int_equal(weftd_engine_submit(e, "slow", "c", 1, getuid(), NULL, &c), 0); /* queue: 2 */
	struct bp_figs f = bp_read(e);
	assert_int_equal(f.queued, 2);
	assert_int_equal(f.busy, 0);
	assert_int_equal(bp_jobs(e), 3);
	/* full: refused, counted as busy, the job not kept */
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(weftd_engine_submit(e, "slow", "d", 1, getuid(), NULL, &d), -EAGAIN);
		assert_null(d);
		f = bp_read(e);
		assert_int_equal(f.busy, i);
		assert_int_equal(f.queued, 2);
		assert_int_equal(f.submitted, 3);
		assert_int_equal(bp_jobs(e), 3);
	}
	/* one slot drained (a ends, the worker takes b): exactly one more fits */
	assert_true(weftd_engine_cancel(e, a, "test"));
	bp_wait_running(b);
	assert_int_equal(weftd_engine_submit(e, "slow", "d", 1, getuid(), NULL, &d), 0);
	assert_int_equal(weftd_engine_submit(e, "slow", "x", 1, getuid(), NULL, &x), -EAGAIN);
	assert_null(x);
	f = bp_read(e);
	assert_int_equal(f.busy, 4);
	assert_int_equal(f.queued, 2);
	assert_int_equal(f.submitted, 4);
	weftd_engine_stop(e);
	struct weftd_job *all[] = { a, b, c, d };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(weftd_job_state(all[i]), WEFTD_JOB_CANCELED);
		weftd_job_unref(all[i]);
	}
}

static void test_backpressure(void **state)
{
	struct weftd_engine *e;
	char err[256];
	struct weft_opts o = { .procs = g_procs };

	assert_int_equal(weftd_engine_new(conf("pipelines:\n  slow:\n    stages:\n"
		"      - {name: s, builtin: sleep, params: {duration: 10s}, workers: 1, queue: 2}\n"),
		&e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(backpressure_main, e, &o), 0);
	weftd_engine_free(e);
}

/* weftd_engine_wait_idle ends with the last job, times out with its ctx, and sees a
 * cancel of the last job. */
static void cancel_later(void *arg)
{
	struct weftd_engine *e = ((void **)arg)[0];
	struct weftd_job *j = ((void **)arg)[1];

	weft_sleep(NULL, 20 * WEFT_MSEC);
	assert_true(weftd_engine_cancel(e, j, "canceled by client"));
}

static void idle_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job *jobs[4], *stuck;
	weft_ctx *ctx;

	assert_int_equal(weftd_engine_start(e), 0);
	assert_int_equal(weftd_engine_wait_idle(e, NULL), 0); /* no job at all */
	for (int i = 0; i < 4; i++)
		assert_int_equal(weftd_engine_submit(e, "slow", "x", 1, getuid(), NULL, &jobs[i]), 0);
	assert_int_equal(weftd_engine_wait_idle(e, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(weftd_job_state(jobs[i]), WEFTD_JOB_DONE);
		weftd_job_unref(jobs[i]);
	}
	assert_int_equal(weftd_engine_submit(e, "stuck", "x", 1, getuid(), NULL, &stuck), 0);
	assert_int_equal(weft_ctx_with_timeout(NULL, 20 * WEFT_MSEC, &ctx), 0);
	assert_int_equal(weftd_engine_wait_idle(e, ctx), -ETIMEDOUT);
	weft_ctx_unref(ctx);
	void *args[2] = { e, stuck };
	weft_go(cancel_later, args);
	assert_int_equal(weftd_engine_wait_idle(e, NULL), 0);
	assert_int_equal(weftd_job_state(stuck), WEFTD_JOB_CANCELED);
	weftd_job_unref(stuck);
	weftd_engine_stop(e);
}

static void test_wait_idle(void **state)
{
	struct weftd_engine *e;
	char err[256];
	struct weft_opts o = { .procs = g_procs };

	assert_int_equal(weftd_engine_new(conf("pipelines:\n"
		"  slow:\n    stages:\n"
		"      - {name: s, builtin: sleep, params: {duration: 30ms}, workers: 2}\n"
		"  stuck:\n    stages:\n"
		"      - {name: s, builtin: sleep, params: {duration: 10s}}\n"),
		&e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(idle_main, e, &o), 0);
	weftd_engine_free(e);
}

/* ---- submits that meet a reload while the journal holds them ----
 * The journal's sync (its test hook) is held shut, so each submit parks in its accept;
 * meanwhile a reload removes "gone" and changes "shout". Released, the submit to the
 * removed pipeline is refused -ENOENT (not -ESHUTDOWN: the daemon still takes jobs) and
 * journaled as finished; the one to the changed pipeline moves to the new one. */
static struct {
	atomic_bool held;   /* a sync is waiting at the gate */
	atomic_bool open;
} g_gate;

static int gate_writev(void *arg, int fd, const struct iovec *iov, int cnt, int64_t off)
{
	return weft_writev(NULL, fd, iov, cnt, off);
}

static int gate_sync(void *arg, int fd)
{
	atomic_store(&g_gate.held, true);
	while (!atomic_load(&g_gate.open))
		weft_sleep(NULL, 100 * WEFT_USEC);
	return 0; /* this test checks routing, not durability */
}

static const struct weftd_journal_io gate_io = { .writev = gate_writev, .sync = gate_sync };

struct racing {
	struct weftd_engine *e;
	const char *pipe;
	int r;
	struct weftd_job *j;
	weft_wg *wg;
};

static void racing_submit(void *arg)
{
	struct racing *s = arg;
	s->r = weftd_engine_submit(s->e, s->pipe, "x", 1, getuid(), NULL, &s->j);
	weft_wg_done(s->wg);
}

static void submit_reload_main(void *arg)
{
	struct weftd_engine *e = ((void **)arg)[0];
	struct weftd_journal *jn = ((void **)arg)[1];
	struct weftd_reload_stats st;
	char err[512];
	weft_wg wg = WEFT_WG_INIT;
	struct racing gone = { e, "gone", 1, NULL, &wg }, shout = { e, "shout", 1, NULL, &wg };

	assert_int_equal(weftd_engine_start(e), 0);
	assert_int_equal(weftd_journal_start(jn), 0);
	weft_wg_add(&wg, 2);
	assert_int_equal(weft_go(racing_submit, &gone), 0);
	assert_int_equal(weft_go(racing_submit, &shout), 0);
	int64_t end = weft_now() + 10 * WEFT_SEC;
	while (!atomic_load(&g_gate.held)) { /* both accepts queued in the writer's batch */
		assert_true(weft_now() < end);
		weft_sleep(NULL, 100 * WEFT_USEC);
	}
	weft_sleep(NULL, 5 * WEFT_MSEC); /* the second accept joins the pending list */
	assert_int_equal(gone.r, 1);
	assert_int_equal(weftd_engine_reload(e, conf(CONF_B), &st, err, sizeof(err)), 0);
	assert_int_equal(st.removed, 1);
	atomic_store(&g_gate.open, true);
	assert_int_equal(weft_wg_wait(NULL, &wg), 0);
	assert_int_equal(gone.r, -ENOENT);
	assert_int_equal(shout.r, 0);
	assert_int_equal(weftd_jobs_wait(NULL, &shout.j, 1, 10 * WEFT_SEC), 0);
	assert_output(shout.j, "two");
	weftd_job_unref(shout.j);
	assert_int_equal(weftd_engine_wait_idle(e, NULL), 0);
	weftd_engine_stop(e);
	assert_int_equal(weftd_journal_close(jn), 0);
	struct weftd_journal_stats js;
	weftd_journal_stats(jn, &js);
	assert_int_equal(js.live, 0); /* the refused one was closed in the journal too */
}

static void test_submit_meets_reload(void **state)
{
	struct weftd_engine *e;
	struct weftd_journal *jn;
	char err[256], dir[] = "/tmp/weft-engine-XXXXXX", cmd[64];
	struct weft_opts o = { .procs = g_procs };

	memset(&g_gate, 0, sizeof(g_gate));
	assert_non_null(mkdtemp(dir));
	struct weftd_journal_opts jo = { .dir = dir, .mode = WEFTD_DURABILITY_BATCH, .io = &gate_io };
	assert_int_equal(weftd_journal_open(&jo, &jn, err, sizeof(err)), 0);
	assert_int_equal(weftd_engine_new(conf(CONF_A), &e, err, sizeof(err)), 0);
	weftd_engine_set_journal(e, jn);
	void *args[2] = { e, jn };
	assert_int_equal(weft_run(submit_reload_main, args, &o), 0);
	weftd_engine_free(e);
	weftd_journal_free(jn);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- replay: the journal's unfinished jobs are "in the table at once" ---- */
static void replay_write_main(void *arg)
{
	struct weftd_journal *jn = arg;
	assert_int_equal(weftd_journal_start(jn), 0);
	assert_int_equal(weftd_journal_accept(jn, "r1", "keep", "ab", 2, 1, getuid()), 0);
	assert_int_equal(weftd_journal_accept(jn, "r2", "keep", "cd", 2, 2, getuid()), 0);
	assert_int_equal(weftd_journal_close(jn), 0);
}

static void replay_main(void *arg)
{
	struct weftd_engine *e = ((void **)arg)[0];
	struct weftd_journal *jn = ((void **)arg)[1];
	assert_int_equal(weftd_engine_start(e), 0);
	assert_int_equal(weftd_journal_start(jn), 0);
	assert_int_equal(weftd_engine_replay(e), 2);
	struct weftd_job *j[2];
	j[0] = weftd_jobs_get(weftd_engine_jobs(e), "r1", 2);
	j[1] = weftd_jobs_get(weftd_engine_jobs(e), "r2", 2);
	assert_non_null(j[0]); /* before the replay fiber ran: in the table at once */
	assert_non_null(j[1]);
	assert_int_equal(weftd_jobs_wait(NULL, j, 2, 10 * WEFT_SEC), 0);
	assert_output(j[0], "AB");
	assert_output(j[1], "CD");
	weftd_job_unref(j[0]);
	weftd_job_unref(j[1]);
	assert_int_equal(weftd_engine_wait_idle(e, NULL), 0);
	weftd_engine_stop(e);
	assert_int_equal(weftd_journal_close(jn), 0);
}

static void test_replay_in_table(void **state)
{
	struct weftd_engine *e;
	struct weftd_journal *jn;
	char err[256], dir[] = "/tmp/weft-engine-XXXXXX", cmd[64];
	struct weft_opts o = { .procs = g_procs };

	assert_non_null(mkdtemp(dir));
	struct weftd_journal_opts jo = { .dir = dir, .mode = WEFTD_DURABILITY_BATCH };
	assert_int_equal(weftd_journal_open(&jo, &jn, err, sizeof(err)), 0);
	assert_int_equal(weft_run(replay_write_main, jn, &o), 0);
	weftd_journal_free(jn);
	assert_int_equal(weftd_journal_open(&jo, &jn, err, sizeof(err)), 0);
	assert_int_equal(weftd_engine_new(conf(CONF_A), &e, err, sizeof(err)), 0);
	weftd_engine_set_journal(e, jn);
	void *args[2] = { e, jn };
	assert_int_equal(weft_run(replay_main, args, &o), 0);
	weftd_engine_free(e);
	weftd_journal_free(jn);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_reload),
		BOTH(test_heartbeat_retry),
		BOTH(test_counts_add_up),
		BOTH(test_submit_refusals),
		BOTH(test_backpressure),
		BOTH(test_wait_idle),
		BOTH(test_submit_meets_reload),
		BOTH(test_replay_in_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
