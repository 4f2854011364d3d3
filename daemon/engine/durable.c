/* durable.c — the engine's side of the journal (jobs/journal.h): what it records of a job
 * and when, and the replay at start-up. Every hook is a no-op without a journal
 * (durability: none). See engine_impl.h for each hook's contract. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "jobs/journal.h"
#include "util/log.h"

int eng_dur_accept(struct weftd_engine *e, struct weftd_job *j)
{
	const struct weftd_job_info *ji = weftd_job_info(j);
	const struct weftd_job_cargo *cg = weftd_job_cargo(j);
	int r;

	if (!e->jn)
		return 0;
	r = weftd_journal_accept(e->jn, ji->id, ji->pipeline, cg->input, cg->input_len,
				 (uint64_t)ji->created_ms * 1000000u, ji->owner);
	if (r < 0)
		weftd_err("journal: job %s not accepted: %s", ji->id, strerror(-r));
	return r;
}

void eng_dur_refused(struct weftd_engine *e, struct weftd_job *j)
{
	if (e->jn)
		weftd_journal_finish(e->jn, weftd_job_info(j)->id, WEFTD_JREC_CANCELED);
}

void eng_dur_stage(struct weftd_engine *e, struct weftd_job *j)
{
	(void)e;
	(void)j; /* not recorded yet: a resumed job restarts at stage 1 */
}

int eng_dur_redrive(struct weftd_engine *e, struct weftd_job *j)
{
	(void)e;
	(void)j;
	return 0;
}

void eng_dur_purge(struct weftd_engine *e, struct weftd_job *j)
{
	(void)e;
	(void)j;
}

int eng_dur_paused(struct weftd_engine *e, const char *pipeline, bool paused)
{
	(void)e;
	(void)pipeline;
	(void)paused;
	return 0;
}

/* The journal's record of a final state (the jobs table's finish hook). Jobs cancelled
 * by the shutdown stay unfinished in the journal: they resume at the next start. */
void eng_dur_finish(struct weftd_job *j, void *arg)
{
	struct weftd_engine *e = arg;
	enum weftd_job_state st = weftd_job_state(j);

	if (!e->jn || (st == WEFTD_JOB_CANCELED && atomic_load(&e->stopping)))
		return;
	weftd_journal_finish(e->jn, weftd_job_info(j)->id, st == WEFTD_JOB_DONE     ? WEFTD_JREC_DONE
					   : st == WEFTD_JOB_FAILED ? WEFTD_JREC_FAILED
								    : WEFTD_JREC_CANCELED);
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
