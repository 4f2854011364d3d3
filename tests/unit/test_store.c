/* SPDX-License-Identifier: MIT */
/* test_store.c — the engine's store interface (engine.h, struct weftd_store_ops): a
 * pipeline configured with `broker:` runs on the store set with weftd_engine_set_store,
 * here a fake one in memory (a channel per stage, a log of what the workers asked), so
 * that the one worker loop is checked without Redis: transient jobs (weftd_store_job)
 * run the stage's actor; finish, advance and retry are the store's with the right
 * arguments; an attempt count carried in from the store goes on; the job's deadline cuts
 * an attempt (attempt_deadline) and ends the job expired; the figures count store jobs;
 * the store's paused answer is the pipeline's; a stop closes the store (parked gets
 * end). Local pipelines beside it keep the local store. Run with 1 and 2 procs. */
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
#include "testutil.h"
#include "daemon_testutil.h"

#define NSTAGES 2

/* One job handed to a stage. */
struct item {
	char id[17];
	char *in;
	size_t len;
	uint32_t attempts;
	int64_t deadline_ms;
};

/* What the workers asked of the store, for one job id. */
struct rec {
	char id[17];
	int state;                     /* finish's, -1: none yet */
	char out[64];
	uint32_t attempts, retries, advances;
	char why[160];
};

struct fake {
	weft_ctx *ctx;                 /* close cancels it */
	weft_chan *ch[NSTAGES];
	weft_mutex mu;
	struct rec recs[64];
	size_t nrecs;
	bool paused;
	bool opened, closed, freed;
};

static struct fake g_fake;

static struct rec *rec_of(struct fake *f, const char *id)
{
	for (size_t i = 0; i < f->nrecs; i++)
		if (strcmp(f->recs[i].id, id) == 0)
			return &f->recs[i];
	assert_true(f->nrecs < 64);
	struct rec *r = &f->recs[f->nrecs++];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->state = -1;
	return r;
}

static void *f_open(void *arg, const struct weftd_pipeline *cfg)
{
	struct fake *f = arg;

	assert_string_equal(cfg->name, "b");
	f->opened = true;
	return f;
}

static void f_close(void *st)
{
	struct fake *f = st;

	f->closed = true;
	weft_ctx_cancel(f->ctx);
}

static void f_free(void *st)
{
	((struct fake *)st)->freed = true;
}

static int f_get(void *st, struct weftd_pipe *p, uint32_t k, struct weftd_job **ret, void **tok)
{
	struct fake *f = st;
	struct item *it;

	if (weft_chan_recv(f->ctx, f->ch[k], &it) < 0)
		return -EPIPE;
	int r = weftd_store_job(p, it->id, (unsigned char *)it->in, it->len, it->attempts, it->deadline_ms, ret);
	assert_int_equal(r, 0);
	*tok = it;
	return 0;
}

static bool f_finish(void *st, uint32_t k, struct weftd_job *j, void *tok, enum weftd_job_state state,
		     char *out, size_t out_len, const char *why, uint32_t attempts, int64_t now_ns)
{
	struct fake *f = st;
	struct item *it = tok;

	weft_mutex_lock(NULL, &f->mu);
	struct rec *r = rec_of(f, it->id);
	r->state = (int)state;
	r->attempts = attempts;
	snprintf(r->out, sizeof(r->out), "%.*s", out ? (int)out_len : 0, out ? out : "");
	if (why)
		snprintf(r->why, sizeof(r->why), "%s", why);
	weft_mutex_unlock(&f->mu);
	free(out);
	return true;
}

static void f_release(void *st, uint32_t k, struct weftd_job *j, void *tok)
{
	free(tok);
	weftd_job_unref(j);
}

/* on to the next stage: a new item (the store's own hand-over) */
static int f_advance(void *st, uint32_t k, struct weftd_job *j, void *tok, char *out, size_t out_len)
{
	struct fake *f = st;
	struct item *it = tok, *nx = calloc(1, sizeof(*nx));

	assert_non_null(nx);
	weft_mutex_lock(NULL, &f->mu);
	rec_of(f, it->id)->advances++;
	weft_mutex_unlock(&f->mu);
	memcpy(nx->id, it->id, sizeof(nx->id));
	nx->in = out ? out : calloc(1, 1);
	nx->len = out ? out_len : 0;
	assert_int_equal(weft_chan_send(NULL, f->ch[k + 1], &nx), 0);
	f_release(st, k, j, tok);
	return 0;
}

static int f_retry(void *st, uint32_t k, struct weftd_job *j, void *tok, uint32_t attempt, int64_t delay_ns,
		   const char *why)
{
	struct fake *f = st;
	struct item *it = tok;

	weft_mutex_lock(NULL, &f->mu);
	struct rec *r = rec_of(f, it->id);
	r->retries++;
	snprintf(r->why, sizeof(r->why), "%s", why);
	weft_mutex_unlock(&f->mu);
	return -EAGAIN; /* the worker sleeps the backoff out (0 here) */
}

static bool f_paused(void *st)
{
	return ((struct fake *)st)->paused;
}

static const struct weftd_store_ops fake_ops = {
	.open = f_open, .close = f_close, .free = f_free, .get = f_get, .finish = f_finish,
	.advance = f_advance, .retry = f_retry, .release = f_release, .paused = f_paused,
	.attempt_deadline = true,
};

static void put(struct fake *f, uint32_t k, const char *id, const char *in, uint32_t attempts, int64_t dl)
{
	struct item *it = calloc(1, sizeof(*it));

	assert_non_null(it);
	snprintf(it->id, sizeof(it->id), "%s", id);
	it->in = strdup(in);
	it->len = strlen(in);
	it->attempts = attempts;
	it->deadline_ms = dl;
	assert_int_equal(weft_chan_send(NULL, f->ch[k], &it), 0);
}

/* The record of id once finished (waits; no fixed sleep). */
static struct rec finished(struct fake *f, const char *id)
{
	for (int i = 0; i < 20000; i++) {
		weft_mutex_lock(NULL, &f->mu);
		struct rec r = *rec_of(f, id);
		weft_mutex_unlock(&f->mu);
		if (r.state >= 0)
			return r;
		weft_sleep(NULL, WEFT_MSEC);
	}
	fail_msg("job %s never finished", id);
	return (struct rec){ .state = -1 };
}

struct figs {
	bool paused;
	uint64_t done, failed, expired, done0, done1, retried1;
};

static void fig_fn(const struct weftd_pipeline_figures *p, void *arg)
{
	struct figs *g = arg;

	*g = (struct figs){ .paused = p->paused, .done = p->done, .failed = p->failed, .expired = p->expired,
			    .done0 = p->stages[0].done, .done1 = p->stages[1].done,
			    .retried1 = p->stages[1].retried };
}

static void store_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct fake *f = &g_fake;
	struct figs g;

	assert_int_equal(weft_ctx_with_cancel(NULL, &f->ctx), 0);
	for (int k = 0; k < NSTAGES; k++)
		assert_int_equal(weft_chan_new(sizeof(struct item *), 16, &f->ch[k]), 0);
	weftd_engine_set_store(e, &fake_ops, f);
	assert_int_equal(weftd_engine_start(e), 0);
	assert_true(f->opened);

	/* two stages: upper, then fail 2 times (retry attempts 3, no backoff) */
	put(f, 0, "0000000000000001", "ab", 0, 0);
	struct rec r = finished(f, "0000000000000001");
	assert_int_equal(r.state, WEFTD_JOB_DONE);
	assert_string_equal(r.out, "AB");
	assert_int_equal(r.advances, 1);
	assert_int_equal(r.retries, 2);
	assert_int_equal(r.attempts, 3);
	assert_non_null(strstr(r.why, "stage f: attempt 2/3")); /* the last retry's why */

	/* attempts carried in from the store (a retry's, a take-over's) go on counting:
	 * at stage f, 2 made before: this is attempt 3, which passes (times: 2) */
	put(f, 1, "0000000000000002", "x", 2, 0);
	r = finished(f, "0000000000000002");
	assert_int_equal(r.state, WEFTD_JOB_DONE);
	assert_int_equal(r.attempts, 3);
	assert_int_equal(r.retries, 0);

	/* the job's deadline cuts an attempt before the stage's timeout: expired */
	int64_t t0 = unix_ms();
	put(f, 0, "0000000000000004", "slow", 0, t0 + 150);
	r = finished(f, "0000000000000004");
	assert_int_equal(r.state, WEFTD_JOB_EXPIRED);
	assert_string_equal(r.why, "deadline passed");
	assert_true(unix_ms() - t0 < 5000); /* not the 30 s sleep below */

	assert_int_equal(weftd_engine_figures(e, "b", fig_fn, &g), 0);
	assert_int_equal(g.done, 2);
	assert_int_equal(g.expired, 1);
	assert_int_equal(g.done0, 1); /* "slow" never passed stage 0 */
	assert_int_equal(g.done1, 2);
	assert_int_equal(g.retried1, 2);
	assert_false(g.paused);
	f->paused = true; /* the store's answer is the pipeline's */
	assert_int_equal(weftd_engine_figures(e, "b", fig_fn, &g), 0);
	assert_true(g.paused);

	/* the local pipeline beside it runs on its queues as before */
	struct weftd_job *lj;
	assert_int_equal(weftd_engine_submit(e, "loc", "q", 1, getuid(), NULL, &lj), 0);
	assert_int_equal(weftd_jobs_wait(NULL, &lj, 1, 10 * WEFT_SEC), 0);
	assert_int_equal(weftd_job_state(lj), WEFTD_JOB_DONE);
	weftd_job_unref(lj);

	/* stop closes the store: the workers parked in get end */
	weftd_engine_stop(e);
	assert_true(f->closed);
	for (int k = 0; k < NSTAGES; k++)
		weft_chan_unref(f->ch[k]);
	weft_ctx_unref(f->ctx);
}

static void test_store(void **state)
{
	struct weftd_engine *e;
	char err[256];

	(void)state;
	memset(&g_fake, 0, sizeof(g_fake));
	weft_mutex_init(&g_fake.mu);
	/* stage u sleeps 30 s on the input "slow" (its 60 s default timeout is not reached: the deadline cuts it) */
	assert_int_equal(weftd_engine_new(conf("daemon:\n  brokers:\n    main: {redis: \"unix:///nonexistent\"}\n"
					       "pipelines:\n"
					       "  b:\n    broker: main\n    stages:\n"
					       "      - {name: u, exec: [sh, -c, 'read x; [ \"$x\" = slow ] && sleep 30; echo -n $x | tr a-z A-Z'], workers: 2}\n"
					       "      - {name: f, builtin: fail, params: {message: boom, times: 2}, workers: 2,\n"
					       "         retry: {attempts: 3, initial: 0s}}\n"
					       "  loc:\n    stages: [{name: n, builtin: noop}]\n"),
					  &e, err, sizeof(err)),
			 0);
	assert_int_equal(weft_run(store_main, e, &(struct weft_opts){ .procs = g_procs }), 0);
	weftd_engine_free(e);
	assert_true(g_fake.freed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
