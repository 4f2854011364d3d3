/* submit.c — submit, enqueue, replay (see engine.h, engine_impl.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "jobs/journal.h"
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
	if (e->jn) {
		const struct weftd_job_info *ji = weftd_job_info(j);
		r = weftd_journal_accept(e->jn, ji->id, p->cfg->name, payload, len,
					 (uint64_t)ji->created_ms * 1000000u, owner);
		if (r < 0) {
			weftd_err("journal: job %s not accepted: %s", ji->id, strerror(-r));
			weftd_job_unref(j);
			return r;
		}
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
		if (e->jn)
			weftd_journal_finish(e->jn, weftd_job_info(j)->id, WEFTD_JREC_CANCELED);
		weftd_job_unref(j); /* frees it and drops the pipe */
		eng_job_ended(e);
		/* a closed queue: the pipeline was removed, or the engine stops */
		return r == -EAGAIN ? -EAGAIN : r == -EPIPE && weftd_engine_intake_open(e) ? -ENOENT : -ESHUTDOWN;
	}
	*ret = j;
	return 0;
}

/* ---- replay ---------------------------------------------------------------------- */

struct replay_item {
	struct weftd_job *j;
	struct weftd_pipe *p;
};

struct replay {
	struct weftd_engine *e;
	struct replay_item *items;
	size_t n, cap, lost;
};

static int replay_one(const struct weftd_journal_job *jj, void *arg)
{
	struct replay *rp = arg;
	struct weftd_engine *e = rp->e;
	struct weftd_pipe *p = eng_find_pipe(e, jj->pipeline);
	struct weftd_job *j;

	if (!p) {
		weftd_warn("journal: job %s: pipeline %s is gone: closed as lost", jj->id, jj->pipeline);
		weftd_journal_finish(e->jn, jj->id, WEFTD_JREC_LOST);
		rp->lost++;
		return 0;
	}
	if (rp->n == rp->cap) {
		size_t cap = rp->cap ? 2 * rp->cap : 64;
		struct replay_item *it = realloc(rp->items, cap * sizeof(*it));
		if (!it)
			goto nomem;
		rp->items = it;
		rp->cap = cap;
	}
	/* the same id as before the restart: clients may be asking for it */
	if (weftd_job_new(e->jobs, jj->id, jj->owner, p->cfg->name, p, jj->payload, jj->payload_len, &j) < 0)
		goto nomem;
	rp->items[rp->n++] = (struct replay_item){ j, p };
	return 0;
nomem:
	eng_pipe_unref(p);
	return -ENOMEM;
}

static void replay_main(void *arg)
{
	struct replay *rp = arg;

	for (size_t i = 0; i < rp->n; i++) {
		struct replay_item *it = &rp->items[i];
		/* blocking: more jobs than the queue holds wait for room */
		if (eng_enqueue(it->p, it->j, true) < 0)
			if (weftd_jobs_finish(rp->e->jobs, it->j, WEFTD_JOB_CANCELED, NULL, 0,
					      "canceled by shutdown"))
				eng_job_ended(rp->e);
		weftd_job_unref(it->j);
	}
	weft_wg_done(&rp->e->wg);
	free(rp->items);
	free(rp);
}

long weftd_engine_replay(struct weftd_engine *e)
{
	struct replay *rp;
	int r;

	if (!e->jn)
		return 0;
	rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->e = e;
	r = weftd_journal_replay(e->jn, replay_one, rp);
	if (r < 0)
		weftd_err("journal replay: %s (%zu jobs resumed so far)", strerror(-r), rp->n);
	if (rp->lost)
		weftd_notice("journal: %zu unfinished jobs of removed pipelines closed as lost", rp->lost);
	/* in the table at once (status, wait, the drain count them); queued by a fiber */
	for (size_t i = 0; i < rp->n; i++)
		weftd_jobs_insert(e->jobs, rp->items[i].j);
	long n = (long)rp->n;
	weft_wg_add(&e->wg, 1);
	if (weft_go_opts(replay_main, rp, &(struct weft_go_opts){ .name = "replay" }) < 0) {
		weft_wg_done(&e->wg);
		for (size_t i = 0; i < rp->n; i++) {
			weftd_jobs_finish(e->jobs, rp->items[i].j, WEFTD_JOB_FAILED, NULL, 0,
					  "out of memory at replay");
			weftd_job_unref(rp->items[i].j);
		}
		eng_job_ended(e);
		free(rp->items);
		free(rp);
		return -ENOMEM;
	}
	return n;
}
