/* SPDX-License-Identifier: MIT */
/* submit.c — submit, enqueue, and the operator's moves on jobs: retry and purge of dead
 * letters (see engine.h, engine_impl.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "util/log.h"

void weftd_engine_set_intake(struct weftd_engine *e, bool open)
{
	atomic_store(&e->intake_open, open);
}

bool weftd_engine_intake_open(struct weftd_engine *e)
{
	return atomic_load(&e->intake_open);
}

int eng_queue_at(struct weftd_pipe *p, uint32_t k, struct weftd_job *j, bool block)
{
	struct weftd_stage_rt *s = &p->stages[k];
	int r;

	atomic_fetch_add_explicit(&SST(s)->queued, 1, memory_order_relaxed);
	weftd_job_ref(j); /* the queue's */
	r = eng_queue_put(s->q, j, block, weftd_job_info(j)->ctx);
	if (r < 0) {
		atomic_fetch_sub_explicit(&SST(s)->queued, 1, memory_order_relaxed);
		weftd_job_unref(j);
	}
	return r;
}

/* Queue a new job (in the table already) on p's first stage. */
int eng_enqueue(struct weftd_pipe *p, struct weftd_job *j, bool block)
{
	int r = eng_queue_at(p, 0, j, block);

	if (r == 0)
		atomic_fetch_add_explicit(&PST(p)->submitted, 1, memory_order_relaxed);
	return r;
}

struct stage_at {
	enum weftd_job_state state;
	uint32_t stage;
};

static void read_stage(const struct weftd_job_snap *s, void *arg)
{
	struct stage_at *a = arg;

	a->state = s->state;
	a->stage = s->stage_index;
}

int eng_place(struct weftd_pipe *p, struct weftd_job *j, bool block)
{
	struct stage_at a;

	weftd_job_read(j, read_stage, &a);
	if (a.state == WEFTD_JOB_SCHEDULED)
		return eng_sched_add(p->sched, j, weftd_job_run_at_ms(j), block);
	if (a.state == WEFTD_JOB_RETRYING)
		return eng_sched_add_retry(p, a.stage, j, weftd_job_due_ms(j), block);
	if (a.state != WEFTD_JOB_QUEUED || a.stage >= p->nstages)
		return -EINVAL;
	return eng_queue_at(p, a.stage, j, block);
}

/* A new job: into p's first queue, or its schedule when it is due later. */
static int enqueue_new(struct weftd_pipe *p, struct weftd_job *j, bool later)
{
	int r;

	if (!later)
		return eng_enqueue(p, j, false);
	r = eng_sched_add(p->sched, j, weftd_job_run_at_ms(j), false);
	if (r == 0) {
		atomic_fetch_add_explicit(&PST(p)->submitted, 1, memory_order_relaxed);
		/* counted live since the insert, no longer now: a drain's wait may be done */
		eng_job_ended(p->eng);
	}
	return r;
}

/* The submitted job j refused after eng_dur_accept (and after insert when in_table). */
static void refuse(struct weftd_engine *e, struct weftd_job *j, bool in_table)
{
	if (in_table)
		weftd_jobs_remove(e->jobs, j);
	eng_dur_refused(e, j);
	weftd_job_unref(j); /* frees it and drops the pipe */
	if (in_table)
		eng_job_ended(e);
}

int weftd_engine_submit(struct weftd_engine *e, const char *name, const void *payload, size_t len,
			uid_t owner, const struct weftd_submit_opts *o, struct weftd_job **ret)
{
	static const struct weftd_submit_opts defaults;
	struct weftd_job *j, *dup;
	struct weftd_pipe *p;
	bool later;
	int r;

	if (!o)
		o = &defaults;
	if (!atomic_load_explicit(&e->intake_open, memory_order_relaxed))
		return -ESHUTDOWN;
	/* a duplicate costs a lookup, not a job nor a journal record */
	if (o->key && (*ret = weftd_jobs_find_key(e->jobs, name, o->key, o->key_len)))
		return 1;
	p = eng_find_pipe(e, name);
	if (!p)
		return -ENOENT;
	r = weftd_job_create(e->jobs, &(struct weftd_job_init){
		.owner = owner, .pipeline = p->cfg->name, .pipe = p, .payload = payload, .len = len,
		.priority = o->priority, .key = o->key, .key_len = o->key_len, .run_at_ms = o->run_at_ms,
		.deadline_ms = o->deadline_ms,
	}, &j);
	if (r < 0) {
		eng_pipe_unref(p);
		return r;
	}
	/* read before anyone else can see j (a cancel moves it); a lock only for a run_at */
	later = o->run_at_ms > 0 && weftd_job_state(j) == WEFTD_JOB_SCHEDULED;
	/* Durable before anyone hears of it (parks under batch/fsync). */
	r = eng_dur_accept(e, j);
	if (r < 0) {
		weftd_job_unref(j);
		return r;
	}
	/* In the table before the queue: a worker may end the job before we return. The key
	 * is checked again as the job goes in: a submit racing ours with the same key. */
	if (weftd_jobs_add(e->jobs, j, &dup) == 1) {
		refuse(e, j, false);
		*ret = dup;
		return 1;
	}
	/* A deadline already past: the job ends expired without a worker ever seeing it
	 * (its watcher would race the first worker). */
	if (eng_deadline_passed(j)) {
		atomic_fetch_add_explicit(&PST(p)->submitted, 1, memory_order_relaxed);
		eng_expire(e, j);
		*ret = j;
		return 0;
	}
	r = enqueue_new(p, j, later);
	/* A reload retired p between our lookup and the send (its first queue is closed):
	 * the job moves to the pipeline now running under that name, if any. */
	for (int tries = 0; r == -EPIPE && tries < 8; tries++) {
		struct weftd_pipe *np = eng_find_pipe(e, name);
		if (!np || np == p) {
			eng_pipe_unref(np);
			break;
		}
		weftd_job_cargo(j)->pipe = np; /* the job's reference moves with it */
		eng_pipe_unref(p);
		p = np;
		r = enqueue_new(p, j, later);
	}
	if (r < 0) {
		if (r == -EAGAIN)
			atomic_fetch_add_explicit(&PST(p)->busy, 1, memory_order_relaxed);
		refuse(e, j, true);
		/* a closed queue: the pipeline was removed, or the engine stops */
		return r == -EAGAIN ? -EAGAIN : r == -EPIPE && weftd_engine_intake_open(e) ? -ENOENT : -ESHUTDOWN;
	}
	/* no memory for its watcher: it ends expired now rather than outlive its deadline */
	if (eng_deadline_watch(e, j) < 0)
		eng_expire(e, j);
	*ret = j;
	return 0;
}

/* ---- pause ---------------------------------------------------------------------- */

int weftd_engine_pause(struct weftd_engine *e, const char *pipeline, bool paused)
{
	struct weftd_pipe *p = eng_find_pipe(e, pipeline);
	int r;

	if (!p)
		return -ENOENT;
	/* recorded first: a pause the journal could not keep is not made */
	r = eng_dur_paused(e, p->cfg->name, paused);
	if (r == 0)
		eng_pipe_pause(p, paused);
	eng_pipe_unref(p);
	return r;
}

/* ---- dead letters ----------------------------------------------------------------- */

struct failed_at {
	enum weftd_job_state state;
	const char *stage;             /* its name (owned by its pipeline) */
	char *error;                   /* a copy */
};

static void read_failed(const struct weftd_job_snap *s, void *arg)
{
	struct failed_at *f = arg;

	f->state = s->state;
	f->stage = s->stage;
	f->error = s->error ? strdup(s->error) : NULL;
}

/* The stage of p called name (a retired pipeline's stage may be elsewhere in the new). */
static int stage_named(struct weftd_pipe *p, const char *name)
{
	for (size_t k = 0; name && k < p->nstages; k++)
		if (strcmp(p->stages[k].cfg->name, name) == 0)
			return (int)k;
	return -ENOENT;
}

/* A retrying job j's next attempt now: out of its schedule into its stage's queue (back
 * into the schedule, due as it was, when that queue is full: -EAGAIN). */
static int retry_now(struct weftd_job *j)
{
	struct weftd_job_cargo *cg = weftd_job_cargo(j);
	int64_t due = weftd_job_due_ms(j);
	uint32_t k;
	int r;

	if (!eng_sched_remove(j))
		return -EBUSY; /* due meanwhile, cancelled, or held by a worker */
	weftd_job_ref(j); /* ours while it is in neither */
	r = weftd_job_due(j, &k);
	if (r == 0) {
		struct weftd_pipe *p = cg->pipe; /* nobody holds it in flight: the cargo is ours */
		r = k < p->nstages ? eng_queue_at(p, k, j, false) : -ENOENT;
		if (r < 0 && weftd_job_restore_retry(j, weftd_job_attempts(j), due) == 0 &&
		    eng_sched_add_retry(p, k, j, due, true) < 0)
			r = -ENOENT;
	}
	weftd_job_unref(j);
	return r == -ECANCELED ? -EBUSY : r;
}

int weftd_engine_retry(struct weftd_engine *e, struct weftd_job *j, bool from_start)
{
	struct weftd_job_cargo *cg = weftd_job_cargo(j);
	struct failed_at f;
	struct weftd_pipe *p, *old;
	int k, r;

	if (!weftd_engine_intake_open(e))
		return -ESHUTDOWN;
	if (weftd_job_state(j) == WEFTD_JOB_RETRYING && !from_start)
		return retry_now(j);
	weftd_job_read(j, read_failed, &f);
	if (f.state != WEFTD_JOB_FAILED) {
		free(f.error);
		return -EBUSY;
	}
	p = eng_find_pipe(e, weftd_job_info(j)->pipeline);
	k = !p ? -ENOENT : from_start ? 0 : stage_named(p, f.stage);
	if (k < 0) {
		eng_pipe_unref(p);
		free(f.error);
		return -ENOENT;
	}
	if (from_start) {
		const void *pl;
		size_t len;
		weftd_job_payload(j, &pl, &len);
		r = weftd_jobs_redrive(e->jobs, j, 0, p->stages[0].cfg->name, (unsigned char *)pl, len, true);
	} else {
		r = weftd_jobs_redrive(e->jobs, j, (uint32_t)k, p->stages[k].cfg->name, NULL, 0, false);
	}
	if (r < 0) {
		eng_pipe_unref(p);
		free(f.error);
		return r;
	}
	/* Live again, held by nobody in flight: the cargo is ours. It runs in the pipeline
	 * running now under its name (the job's reference moves there). */
	old = cg->pipe;
	cg->pipe = p;
	eng_pipe_unref(old);
	r = eng_dur_redrive(e, j);
	if (r == 0)
		r = eng_queue_at(p, (uint32_t)k, j, false);
	if (r < 0) {
		/* not re-driven after all: a dead letter again, with its error */
		weftd_jobs_finish(e->jobs, j, WEFTD_JOB_FAILED, NULL, 0, f.error);
		eng_job_ended(e);
		free(f.error);
		return r == -EPIPE ? (weftd_engine_intake_open(e) ? -ENOENT : -ESHUTDOWN) : r;
	}
	free(f.error);
	return 0;
}

int weftd_engine_purge(struct weftd_engine *e, struct weftd_job *j)
{
	int r = weftd_jobs_purge(e->jobs, j);

	if (r == 0)
		eng_dur_purge(e, j);
	return r;
}
