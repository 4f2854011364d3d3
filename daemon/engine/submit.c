/* submit.c — submit and enqueue (see engine.h, engine_impl.h). */
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

/* Queue a new job (in the table already) on p's first stage. */
int eng_enqueue(struct weftd_pipe *p, struct weftd_job *j, bool block)
{
	struct weftd_stage_rt *s0 = &p->stages[0];
	int r;

	atomic_fetch_add_explicit(&SST(s0)->queued, 1, memory_order_relaxed);
	weftd_job_ref(j); /* the queue's */
	r = block ? weft_chan_send(weftd_job_info(j)->ctx, s0->q, &j) : weft_chan_try_send(s0->q, &j);
	if (r < 0) {
		atomic_fetch_sub_explicit(&SST(s0)->queued, 1, memory_order_relaxed);
		weftd_job_unref(j);
		return r;
	}
	atomic_fetch_add_explicit(&PST(p)->submitted, 1, memory_order_relaxed);
	return 0;
}

int weftd_engine_submit(struct weftd_engine *e, const char *name, const void *payload, size_t len,
			uid_t owner, struct weftd_job **ret)
{
	struct weftd_pipe *p;
	struct weftd_job *j;
	int r;

	if (!atomic_load_explicit(&e->intake_open, memory_order_relaxed)) {
		return -ESHUTDOWN;
	}
	p = eng_find_pipe(e, name);
	if (!p) {
		return -ENOENT;
	}
	r = weftd_job_new(e->jobs, NULL, owner, p->cfg->name, p, payload, len, &j);
	if (r < 0) {
		eng_pipe_unref(p);
		return r;
	}
	/* Durable before anyone hears of it (parks under batch/fsync). */
	r = eng_dur_accept(e, j);
	if (r < 0) {
		weftd_job_unref(j);
		return r;
	}
	/* In the table before the queue: a worker may end the job before we return. */
	weftd_jobs_insert(e->jobs, j);
	r = eng_enqueue(p, j, false);
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
		r = eng_enqueue(p, j, false);
	}
	if (r < 0) {
		if (r == -EAGAIN)
			atomic_fetch_add_explicit(&PST(p)->busy, 1, memory_order_relaxed);
		weftd_jobs_remove(e->jobs, j);
		eng_dur_refused(e, j);
		weftd_job_unref(j); /* frees it and drops the pipe */
		eng_job_ended(e);
		/* a closed queue: the pipeline was removed, or the engine stops */
		return r == -EAGAIN ? -EAGAIN : r == -EPIPE && weftd_engine_intake_open(e) ? -ENOENT : -ESHUTDOWN;
	}
	*ret = j;
	return 0;
}
