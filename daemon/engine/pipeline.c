/* SPDX-License-Identifier: MIT */
/* pipeline.c — a pipeline's lifetime, the pipeline set, the reload diff (see engine.h, engine_impl.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions/actor.h"
#include "engine/engine_impl.h"
#include "engine/periodic.h"
#include "jobs/journal.h"

struct cfgref *eng_cfgref_unref(struct cfgref *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
		weftd_config_free(c->cfg);
		free(c);
	}
	return NULL;
}

struct weftd_pipe *eng_pipe_unref(struct weftd_pipe *p)
{
	if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return NULL;
	if (p->store->free)
		p->store->free(p->sst);
	eng_sched_free(p->sched);
	for (size_t i = 0; i < p->nstages; i++) {
		weft_ratelimit_free(p->stages[i].rl);
		weftd_actor_free(p->stages[i].actor);
		eng_queue_free(p->stages[i].q);
		free(p->stages[i].workers);
	}
	eng_cfgref_unref(p->cref);
	free(p);
	return NULL;
}

int eng_pipe_new(struct weftd_engine *e, struct cfgref *cref, const struct weftd_pipeline *cfg,
		    struct weftd_pipe **ret, char *err, size_t errlen)
{
	struct weftd_pipe *p = calloc(1, sizeof(*p) + cfg->nstages * sizeof(p->stages[0]));
	int r;

	if (!p)
		return -ENOMEM;
	atomic_init(&p->refs, 1);
	p->eng = e;
	p->cref = cref;
	atomic_fetch_add(&cref->refs, 1);
	p->cfg = cfg;
	p->nstages = cfg->nstages;
	p->store = &eng_local_store; /* eng_pipe_start may choose another (engine.h) */
	p->sst = p;
	/* scheduled jobs count against the first stage's bound: a schedule as large */
	if (eng_sched_new(cfg->stages[0].queue, &p->sched) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < cfg->nstages; i++) {
		struct weftd_stage_rt *s = &p->stages[i];
		s->cfg = &cfg->stages[i];
		s->pipe = p;
		s->index = (uint32_t)i;
		weftd_retry_policy(&s->cfg->retry, &s->retry);
		if ((r = weftd_ratelimit_new(&s->cfg->rate_limit, &s->rl)) < 0)
			goto fail_nomem;
		r = weftd_actor_new_at(cref->cfg, cfg, i, &s->actor, err, errlen);
		if (r < 0)
			goto fail;
		s->instant = weftd_actor_instant(s->actor);
		r = eng_queue_new(s->cfg->queue, &s->q);
		if (r < 0)
			goto fail_nomem;
		s->workers = calloc(s->cfg->workers, sizeof(*s->workers));
		if (!s->workers)
			goto fail_nomem;
	}
	*ret = p;
	return 0;
fail_nomem:
	r = -ENOMEM;
	snprintf(err, errlen, "out of memory");
fail:
	eng_pipe_unref(p);
	return r;
}

struct pipeset *eng_set_unref(struct pipeset *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		for (size_t i = 0; i < s->n; i++)
			eng_pipe_unref(s->pipes[i]);
		free(s->pipes);
		free(s);
	}
	return NULL;
}

struct pipeset *eng_set_get(struct weftd_engine *e)
{
	struct pipeset *s;

	weftd_spin_lock(&e->set_lock);
	s = e->set;
	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	weftd_spin_unlock(&e->set_lock);
	return s;
}

struct weftd_pipe *eng_set_find(struct pipeset *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->pipes[i]->cfg->name, name) == 0)
			return s->pipes[i];
	return NULL;
}

/* Under the set lock, without a reference on the set: a reload swaps the set under the
 * same lock before it drops the old one (two atomic operations less per submit). */
struct weftd_pipe *eng_find_pipe(struct weftd_engine *e, const char *name)
{
	struct weftd_pipe *p;

	weftd_spin_lock(&e->set_lock);
	p = e->set ? eng_set_find(e->set, name) : NULL;
	if (p)
		pipe_ref(p);
	weftd_spin_unlock(&e->set_lock);
	return p;
}

/* ---- pause, retire ------------------------------------------------------------------ */

void eng_pipe_pause(struct weftd_pipe *p, bool paused)
{
	atomic_store(&p->paused, paused);
	for (size_t i = 0; i < p->nstages; i++)
		eng_queue_pause(p->stages[i].q, paused);
	eng_sched_pause(p->sched, paused);
}

/* A retired pipeline's scheduled (or retrying) job j: to the pipeline running under its
 * name now (its schedule, the same due time), or cancelled when there is none. */
static void resettle(struct weftd_job *j, void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_job_cargo *cg = weftd_job_cargo(j);
	struct weftd_pipe *np = eng_find_pipe(e, weftd_job_info(j)->pipeline);

	if (np && np != cg->pipe) {
		struct weftd_pipe *old = cg->pipe;
		cg->pipe = np; /* not in flight: the cargo is ours; the reference moves */
		eng_pipe_unref(old);
		if (eng_place(np, j, true) == 0) {
			weftd_job_unref(j);
			return;
		}
	} else {
		eng_pipe_unref(np);
	}
	if (weftd_jobs_finish(e->jobs, j, WEFTD_JOB_CANCELED, NULL, 0,
			      atomic_load(&e->stopping) ? "canceled by shutdown"
							 : "canceled: its pipeline was removed"))
		eng_job_ended(e);
	weftd_job_unref(j);
}

/* A paused pipeline retired by a reload: the jobs waiting in its first queue have not
 * started, and would run as it drains; they go to its replacement (paused too) instead.
 * Stops at the first that finds no room there (it and the rest drain here). */
static void move_queued(struct weftd_pipe *p)
{
	struct weftd_stage_rt *s0 = &p->stages[0];
	struct weftd_pipe *np = eng_find_pipe(p->eng, p->cfg->name);
	struct weftd_job *j;

	while (np && np != p && eng_queue_try_get(s0->q, &j) == 0) {
		struct weftd_job_cargo *cg = weftd_job_cargo(j);
		atomic_fetch_sub_explicit(&SST(s0)->queued, 1, memory_order_relaxed);
		if (weftd_job_state_terminal(weftd_job_state(j))) {
			weftd_job_unref(j); /* cancelled while queued */
			continue;
		}
		/* queued, held by no worker: the cargo is ours; the job's reference moves */
		cg->pipe = pipe_ref(np);
		eng_pipe_unref(p);
		if (eng_queue_at(np, 0, j, false) == 0) {
			weftd_job_unref(j); /* the old queue's */
			continue;
		}
		cg->pipe = pipe_ref(p);
		eng_pipe_unref(np);
		atomic_fetch_add_explicit(&SST(s0)->queued, 1, memory_order_relaxed);
		if (eng_queue_put(s0->q, j, false, NULL) < 0) { /* its slot was free just now */
			atomic_fetch_sub_explicit(&SST(s0)->queued, 1, memory_order_relaxed);
			if (weftd_jobs_finish(p->eng->jobs, j, WEFTD_JOB_CANCELED, NULL, 0,
					      "canceled: no room left after a reload"))
				eng_job_ended(p->eng);
			weftd_job_unref(j);
		}
		break;
	}
	eng_pipe_unref(np);
}

void eng_pipe_retire(struct weftd_pipe *p)
{
	eng_sched_close(p->sched, resettle, p->eng);
	if (atomic_load(&p->paused) && !atomic_load(&p->eng->stopping))
		move_queued(p);
	eng_queue_close(p->stages[0].q);
	if (p->store->close)
		p->store->close(p->sst);
}

/* ---- reload ---------------------------------------------------------------------- */

struct build_arg {
	struct weftd_engine *e;
	struct cfgref *cref;
	struct pipeset *old, *set;
	char *err;
	size_t errlen;
};

/* The new set: unchanged pipelines are the running ones, the others built anew (actors
 * resolve paths and dlopen: a weft_blocking thread). */
static int build_set(void *arg)
{
	struct build_arg *a = arg;
	const struct weftd_config *cfg = a->cref->cfg;
	struct pipeset *s = calloc(1, sizeof(*s));

	if (!s || !(s->pipes = calloc(cfg->npipelines, sizeof(*s->pipes)))) {
		free(s);
		snprintf(a->err, a->errlen, "out of memory");
		return -ENOMEM;
	}
	atomic_init(&s->refs, 1);
	for (size_t i = 0; i < cfg->npipelines; i++) {
		const struct weftd_pipeline *pc = &cfg->pipelines[i];
		struct weftd_pipe *old = eng_set_find(a->old, pc->name);
		int r;
		if (old && weftd_pipeline_equal(old->cfg, pc)) {
			s->pipes[s->n++] = pipe_ref(old);
			continue;
		}
		r = eng_pipe_new(a->e, a->cref, pc, &s->pipes[s->n], a->err, a->errlen);
		if (r < 0) {
			eng_set_unref(s);
			return r;
		}
		/* a changed pipeline's replacement inherits its pause (no fiber runs yet) */
		if (old && atomic_load(&old->paused))
			eng_pipe_pause(s->pipes[s->n], true);
		s->n++;
	}
	a->set = s;
	return 0;
}

static bool in_set(struct pipeset *s, struct weftd_pipe *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->pipes[i] == p)
			return true;
	return false;
}

int weftd_engine_reload(struct weftd_engine *e, struct weftd_config *cfg,
			struct weftd_reload_stats *ret, char *err, size_t errlen)
{
	struct cfgref *cref = calloc(1, sizeof(*cref));
	struct cfgref **crefs = realloc(e->crefs, (e->ncrefs + 1) * sizeof(*crefs));
	struct build_arg a = { .e = e, .err = err, .errlen = errlen };
	struct weftd_reload_stats st = { 0 };
	int r;

	if (crefs)
		e->crefs = crefs;
	if (!cref || !crefs) {
		free(cref);
		weftd_config_free(cfg);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	atomic_init(&cref->refs, 1);
	cref->cfg = cfg;
	a.cref = cref;
	a.old = eng_set_get(e);
	r = weft_blocking(build_set, &a);
	if (r < 0) {
		eng_set_unref(a.old);
		eng_cfgref_unref(cref);
		return r;
	}
	/* workers of the new pipelines first, so the swap publishes running pipelines */
	for (size_t i = 0; i < a.set->n; i++) {
		if (in_set(a.old, a.set->pipes[i])) {
			st.unchanged++;
			continue;
		}
		if (eng_set_find(a.old, a.set->pipes[i]->cfg->name))
			st.changed++;
		else
			st.added++;
		r = eng_pipe_start(a.set->pipes[i]);
		if (r < 0) {
			/* the started workers of this set end when its queues close */
			for (size_t k = 0; k < a.set->n; k++)
				if (!in_set(a.old, a.set->pipes[k]))
					eng_pipe_retire(a.set->pipes[k]);
			eng_set_unref(a.set);
			eng_set_unref(a.old);
			eng_cfgref_unref(cref);
			snprintf(err, errlen, "starting workers: %s", strerror(-r));
			return r;
		}
	}
	e->crefs[e->ncrefs++] = cref;
	atomic_fetch_add(&cref->refs, 1);
	weftd_spin_lock(&e->set_lock);
	struct pipeset *prev = e->set;
	struct cfgref *prev_cref = e->cref;
	e->set = a.set;
	e->cref = cref;
	weftd_spin_unlock(&e->set_lock);
	weftd_jobs_set_retention(e->jobs, &cfg->daemon.retention);
	if (e->jn) /* the journal keeps the same ended jobs as the table */
		weftd_journal_set_retention(e->jn, &cfg->daemon.retention);
	/* a pause that came while the new set was built reached the old pipeline only */
	for (size_t i = 0; i < a.set->n; i++) {
		struct weftd_pipe *np = a.set->pipes[i], *op = eng_set_find(a.old, np->cfg->name);
		if (op && op != np && atomic_load(&op->paused) != atomic_load(&np->paused))
			eng_pipe_pause(np, atomic_load(&op->paused));
	}
	/* retired pipelines (changed or removed) drain: their in-flight jobs finish under the
	 * old settings, their workers end when the queues are empty */
	for (size_t i = 0; i < a.old->n; i++)
		if (!in_set(a.set, a.old->pipes[i])) {
			if (!eng_set_find(a.set, a.old->pipes[i]->cfg->name))
				st.removed++;
			eng_pipe_retire(a.old->pipes[i]);
		}
	eng_set_unref(prev);
	eng_set_unref(a.old);
	eng_cfgref_unref(prev_cref);
	eng_periodic_reload(e); /* schedule: entries, unchanged pipelines' too */
	if (ret)
		*ret = st;
	return 0;
}
