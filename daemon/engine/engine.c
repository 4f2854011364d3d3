/* SPDX-License-Identifier: MIT */
/* engine.c — the engine's life: new, start, stop, free, hooks (see engine.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "engine/periodic.h"
#include "jobs/journal.h"

static void job_release(void *pipe)
{
	eng_pipe_unref(pipe);
}

int weftd_engine_new(struct weftd_config *cfg, struct weftd_engine **ret, char *err, size_t errlen)
{
	struct weftd_engine *e = calloc(1, sizeof(*e));
	struct pipeset *s = NULL;
	int r = -ENOMEM;

	if (!e)
		goto fail_cfg;
	e->cref = calloc(1, sizeof(*e->cref));
	if (!e->cref) {
		free(e);
		goto fail_cfg;
	}
	atomic_init(&e->cref->refs, 2); /* e->cref and e->crefs[0] */
	e->cref->cfg = cfg;
	e->crefs = malloc(sizeof(*e->crefs));
	if (!e->crefs) {
		free(e->cref);
		free(e);
		goto fail_cfg;
	}
	e->crefs[e->ncrefs++] = e->cref;
	weft_wg_init(&e->wg);
	weft_mutex_init(&e->idle_lock);
	weft_cond_init(&e->idle);
	atomic_init(&e->intake_open, true);
	r = weftd_jobs_new(&cfg->daemon.retention, job_release, &e->jobs);
	if (r < 0)
		goto fail;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->pipes = calloc(cfg->npipelines, sizeof(*s->pipes)))) {
		r = -ENOMEM;
		goto fail;
	}
	atomic_init(&s->refs, 1);
	for (size_t i = 0; i < cfg->npipelines; i++) {
		r = eng_pipe_new(e, e->cref, &cfg->pipelines[i], &s->pipes[i], err, errlen);
		if (r < 0)
			goto fail;
		s->n++;
	}
	e->set = s;
	*ret = e;
	return 0;
fail:
	if (r == -ENOMEM && err && errlen && !err[0])
		snprintf(err, errlen, "out of memory");
	if (s && !s->pipes)
		free(s);
	else
		eng_set_unref(s);
	weftd_jobs_free(e->jobs);
	eng_cfgref_unref(e->cref);
	eng_cfgref_unref(e->crefs[0]);
	free(e->crefs);
	free(e);
	return r;
fail_cfg:
	weftd_config_free(cfg);
	snprintf(err, errlen, "out of memory");
	return r;
}

struct weftd_jobs *weftd_engine_jobs(struct weftd_engine *e)
{
	return e->jobs;
}

const struct weftd_config *weftd_engine_config(struct weftd_engine *e)
{
	const struct weftd_config *c;

	weftd_spin_lock(&e->set_lock);
	c = e->cref->cfg;
	weftd_spin_unlock(&e->set_lock);
	return c; /* valid until the engine is freed: configs are kept (see crefs) */
}

static void sweeper_main(void *arg)
{
	struct weftd_engine *e = arg;

	while (weft_sleep(e->ctx, WEFT_SEC) == 0)
		weftd_jobs_expire(e->jobs, weft_now());
	weft_wg_done(&e->wg);
}

int weftd_engine_start(struct weftd_engine *e)
{
	struct pipeset *s = eng_set_get(e);
	int r;

	r = weft_ctx_with_cancel(NULL, &e->ctx);
	if (r == 0)
		r = eng_deadlines_new(&e->dl);
	for (size_t i = 0; r == 0 && i < s->n; i++)
		r = eng_pipe_start(s->pipes[i]);
	eng_set_unref(s);
	if (r == 0) {
		weft_wg_add(&e->wg, 1);
		r = weft_go_opts(sweeper_main, e, &(struct weft_go_opts){ .name = "retention" });
		if (r < 0)
			weft_wg_done(&e->wg);
	}
	if (r == 0) {
		weft_wg_add(&e->wg, 1);
		r = weft_go_opts(eng_deadlines_main, e, &(struct weft_go_opts){ .name = "deadlines" });
		if (r < 0)
			weft_wg_done(&e->wg);
	}
	return r;
}

void weftd_engine_stop(struct weftd_engine *e)
{
	struct pipeset *s = eng_set_get(e);

	weftd_engine_set_intake(e, false);
	atomic_store(&e->stopping, true);
	/* Cancel every live job; queued ones end at once, running ones through their ctx. */
	weftd_jobs_cancel_all(e->jobs, "canceled by shutdown");
	eng_job_ended(e);
	for (size_t i = 0; i < s->n; i++)
		eng_pipe_retire(s->pipes[i]);
	weft_ctx_cancel(e->ctx);
	eng_set_unref(s);
	weft_wg_wait(NULL, &e->wg);
}

struct weftd_engine *weftd_engine_free(struct weftd_engine *e)
{
	if (!e)
		return NULL;
	weftd_jobs_free(e->jobs);
	eng_periodic_free(e->per);
	eng_deadlines_free(e->dl);
	eng_set_unref(e->set);
	weft_ctx_unref(e->ctx);
	eng_cfgref_unref(e->cref);
	for (size_t i = 0; i < e->ncrefs; i++)
		eng_cfgref_unref(e->crefs[i]);
	free(e->crefs);
	free(e);
	return NULL;
}

/* ---- idle: the drain's wait -------------------------------------------------------- */

/* Jobs in the table not yet final, those waiting in a schedule aside. */
static size_t live_jobs(struct weftd_engine *e)
{
	struct weftd_jobs_counts c;
	struct pipeset *s = eng_set_get(e);
	size_t scheduled = 0;

	for (size_t i = 0; s && i < s->n; i++)
		scheduled += eng_sched_len(s->pipes[i]->sched);
	eng_set_unref(s);
	weftd_jobs_counts(e->jobs, &c);
	/* the gauges lag the table by a moment either way: never below zero */
	return c.total - c.finished > scheduled ? c.total - c.finished - scheduled : 0;
}

/* The ender changes the count (under the table's lock), then reads idle_waiters; the
 * waiter raises idle_waiters, then reads the count: with a full fence on both sides one of
 * them sees the other's write, so the last end is never missed. */
void eng_job_ended(struct weftd_engine *e)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&e->idle_waiters, memory_order_relaxed) == 0 || live_jobs(e) > 0)
		return;
	weft_mutex_lock(NULL, &e->idle_lock); /* the waiter checks and parks under it */
	weft_cond_broadcast(&e->idle);
	weft_mutex_unlock(&e->idle_lock);
}

int weftd_engine_wait_idle(struct weftd_engine *e, weft_ctx *ctx)
{
	int r = 0;

	weft_mutex_lock(NULL, &e->idle_lock);
	atomic_fetch_add(&e->idle_waiters, 1);
	atomic_thread_fence(memory_order_seq_cst);
	while (r == 0 && live_jobs(e) > 0)
		r = weft_cond_wait(ctx, &e->idle, &e->idle_lock);
	if (r < 0 && live_jobs(e) == 0)
		r = 0;
	atomic_fetch_sub(&e->idle_waiters, 1);
	weft_mutex_unlock(&e->idle_lock);
	return r;
}

bool weftd_engine_cancel(struct weftd_engine *e, struct weftd_job *j, const char *reason)
{
	enum weftd_job_state st = weftd_job_state(j);
	bool live;

	/* A scheduled (or retrying) job leaves its schedule first, then ends: never counted
	 * neither live nor scheduled (a drain's wait would see one job fewer than there are). */
	if (st == WEFTD_JOB_SCHEDULED || st == WEFTD_JOB_RETRYING)
		eng_sched_remove(j);
	live = weftd_job_cancel(e->jobs, j, reason);
	if (live)
		eng_job_ended(e); /* a queued job ends here, a running one by its worker */
	return live;
}

/* ---- hooks ---------------------------------------------------------------------- */

void weftd_engine_set_sup(struct weftd_engine *e, struct weftd_sup *sup)
{
	e->sup = sup;
}

void weftd_engine_set_store(struct weftd_engine *e, const struct weftd_store_ops *ops, void *arg)
{
	e->rstore = ops;
	e->rstore_arg = arg;
}

void weftd_engine_set_keeper(struct weftd_engine *e, struct weftd_keeper *k)
{
	e->keeper = k;
}

void weftd_engine_set_journal(struct weftd_engine *e, struct weftd_journal *jn)
{
	e->jn = jn;
	weftd_jobs_set_on_finish(e->jobs, jn ? eng_dur_finish : NULL, e);
}
