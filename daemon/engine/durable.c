/* SPDX-License-Identifier: MIT */
/* durable.c — the engine's side of the journal (jobs/journal.h): what it records of a job
 * and when, and the replay at start-up. Every hook is a no-op without a journal
 * (durability: none). See engine_impl.h for each hook's contract. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine_impl.h"
#include "jobs/journal.h"
#include "util/log.h"

/* What durability means per stage ("at least once", README.md "Durability"): a job's
 * ACCEPT is durable before `submit` answers; each stage's completion is recorded (STAGE,
 * with the next stage's input) as the job moves on, written at once and synced with the
 * next group commit; a restart resumes a live job at the last stage recorded. So a stage
 * runs again after a crash only when it completed after the last record that reached
 * the file: never once its STAGE (or END) record was written, whatever kills the daemon
 * short of losing the page cache (power loss: up to the last sync). */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int eng_dur_accept(struct weftd_engine *e, struct weftd_job *j)
{
	const struct weftd_job_info *ji = weftd_job_info(j);
	struct weftd_jrec r;
	int x;

	if (!e->jn)
		return 0;
	r = (struct weftd_jrec){
		.type = WEFTD_JREC_ACCEPT2, .id = ji->id, .id_len = strlen(ji->id),
		.pipeline = ji->pipeline, .pipeline_len = strlen(ji->pipeline),
		.submitted_ns = (uint64_t)ji->created_ms * 1000000u, .owner = ji->owner,
		.priority = ji->priority, .run_at_ms = weftd_job_run_at_ms(j),
		.deadline_ms = ji->deadline_ms,
		.key = ji->key, .key_len = ji->key ? ji->key_len : 0,
	};
	weftd_job_payload(j, &r.payload, &r.payload_len);
	x = weftd_journal_accept_rec(e->jn, &r);
	if (x < 0)
		weftd_err("journal: job %s not accepted: %s", ji->id, strerror(-x));
	return x;
}

/* Record r for job j, logging a failure (the job goes on: at-least-once). */
static int record(struct weftd_engine *e, struct weftd_jrec *r, const char *id)
{
	int x;

	r->id = id;
	r->id_len = strlen(id);
	x = weftd_journal_record(e->jn, r);
	if (x < 0 && x != -ESHUTDOWN)
		weftd_warn("journal: job %s: recording its %s failed: %s", id,
			   r->type == WEFTD_JREC_STAGE ? "stage" : r->type == WEFTD_JREC_END ? "end" :
			   r->type == WEFTD_JREC_RETRY ? "retry" :
			   r->type == WEFTD_JREC_REDRIVE ? "re-drive" : "deletion", strerror(-x));
	return x;
}

void eng_dur_refused(struct weftd_engine *e, struct weftd_job *j)
{
	struct weftd_jrec r = { .type = WEFTD_JREC_PURGE };

	if (e->jn)
		record(e, &r, weftd_job_info(j)->id);
}

struct stage_rec {
	struct weftd_engine *e;
	struct weftd_job *j;
	struct weftd_jrec r;
};

static void stage_read(const struct weftd_job_snap *s, void *arg)
{
	struct stage_rec *a = arg;
	const struct weftd_job_cargo *cg = weftd_job_cargo(a->j);

	a->r.stage = s->stage_index;
	a->r.stage_name = s->stage;
	a->r.stage_name_len = s->stage ? strlen(s->stage) : 0;
	a->r.payload = cg->input;
	a->r.payload_len = cg->input_len;
	record(a->e, &a->r, s->info->id); /* encoded (copied) here: never parks */
}

void eng_dur_stage(struct weftd_engine *e, struct weftd_job *j)
{
	struct stage_rec a = { e, j, { .type = WEFTD_JREC_STAGE } };

	if (e->jn)
		weftd_job_read(j, stage_read, &a);
}

static void retry_read(const struct weftd_job_snap *s, void *arg)
{
	struct stage_rec *a = arg;

	a->r.attempts = s->attempts;
	a->r.run_at_ms = s->run_at_ms;
	stage_read(s, arg);
}

void eng_dur_retry(struct weftd_engine *e, struct weftd_job *j)
{
	struct stage_rec a = { e, j, { .type = WEFTD_JREC_RETRY } };

	if (e->jn)
		weftd_job_read(j, retry_read, &a);
}

struct redrive_at {
	uint32_t stage;
	char name[256];
};

static void redrive_read(const struct weftd_job_snap *s, void *arg)
{
	struct redrive_at *a = arg;

	a->stage = s->stage_index;
	snprintf(a->name, sizeof(a->name), "%s", s->stage ? s->stage : "");
}

int eng_dur_redrive(struct weftd_engine *e, struct weftd_job *j)
{
	const struct weftd_job_cargo *cg = weftd_job_cargo(j);
	struct weftd_jrec r = { .type = WEFTD_JREC_REDRIVE };
	struct redrive_at a;

	if (!e->jn)
		return 0;
	weftd_job_read(j, redrive_read, &a);
	r.stage = a.stage;
	r.stage_name = a.name;
	r.stage_name_len = strlen(a.name);
	r.payload = cg->input;
	r.payload_len = cg->input_len;
	return record(e, &r, weftd_job_info(j)->id);
}

void eng_dur_purge(struct weftd_engine *e, struct weftd_job *j)
{
	struct weftd_jrec r = { .type = WEFTD_JREC_PURGE };

	if (e->jn)
		record(e, &r, weftd_job_info(j)->id);
}

int eng_dur_paused(struct weftd_engine *e, const char *pipeline, bool paused)
{
	int x;

	if (!e->jn)
		return 0;
	x = weftd_journal_set_paused(e->jn, pipeline, paused);
	if (x < 0)
		weftd_err("journal: recording that %s is %s: %s", pipeline,
			  paused ? "paused" : "resumed", strerror(-x));
	return x;
}

static void end_read(const struct weftd_job_snap *s, void *arg)
{
	struct stage_rec *a = arg;
	const struct weftd_job_cargo *cg = weftd_job_cargo(a->j);
	struct weftd_jrec r = {
		.type = WEFTD_JREC_END,
		.state = s->state == WEFTD_JOB_DONE ? WEFTD_JREC_DONE : s->state == WEFTD_JOB_FAILED ?
			WEFTD_JREC_FAILED : s->state == WEFTD_JOB_EXPIRED ? WEFTD_JREC_EXPIRED :
			WEFTD_JREC_CANCELED,
		.stage = s->stage_index, .stage_name = s->stage,
		.stage_name_len = s->stage ? strlen(s->stage) : 0, .attempts = s->attempts,
		.started_ms = s->started_ms, .finished_ms = s->finished_ms,
		.output = s->output, .output_len = s->output ? s->output_len : 0,
		.error = s->error, .error_len = s->error ? strlen(s->error) : 0,
		.log = s->log, .log_len = s->log ? s->log_len : 0,
	};
	/* a dead letter keeps the input it failed with, for a re-drive (the table keeps it in
	 * the cargo, which nobody holds in flight once the job has ended) */
	if (s->state == WEFTD_JOB_FAILED)
		r.output = cg->input, r.output_len = cg->input_len;
	if (!r.finished_ms)
		r.finished_ms = wall_ms();
	record(a->e, &r, s->info->id); /* encoded (copied) under the job's lock: never parks */
}

/* The journal's record of a final state (the jobs table's finish hook), with what status
 * shows of it, for the retention. Jobs cancelled by the shutdown stay unfinished in the
 * journal: they resume at the next start. */
void eng_dur_finish(struct weftd_job *j, void *arg)
{
	struct stage_rec a = { arg, j, { 0 } };
	enum weftd_job_state st = weftd_job_state(j);

	if (!a.e->jn || (st == WEFTD_JOB_CANCELED && atomic_load(&a.e->stopping)))
		return;
	weftd_job_read(j, end_read, &a);
}

/* ---- replay ----------------------------------------------------------------------
 * At start-up: paused pipelines pause again (before any job is placed, so nothing starts
 * there); retained jobs come back as they ended (status, output, error, log; their keys);
 * live jobs come back under their ids, priorities, keys and due times, at the stage they
 * had reached with that stage's input, and a fiber places them (queue or schedule). */

struct replay_item {
	struct weftd_job *j;
	struct weftd_pipe *p;
};

struct replay {
	struct weftd_engine *e;
	struct replay_item *items;
	size_t n, cap, lost, finished;
};

static int replay_pause(const char *pipeline, void *arg)
{
	struct weftd_engine *e = arg;
	struct weftd_pipe *p = eng_find_pipe(e, pipeline);

	if (!p) {
		weftd_notice("journal: paused pipeline %s is gone: its pause is forgotten", pipeline);
		return 0;
	}
	eng_pipe_pause(p, true); /* already recorded: no eng_dur_paused */
	eng_pipe_unref(p);
	weftd_notice("pipeline %s paused (as it was before the restart)", pipeline);
	return 0;
}

/* The stage of p a live job resumes at: the one recorded, by index when its name still
 * matches, else by name (the pipeline changed between runs); stage 0 (with the payload)
 * when p has none of that name. */
static int resume_stage(struct weftd_pipe *p, const struct weftd_journal_job *jj)
{
	if (!jj->at_stage)
		return 0;
	if (jj->stage < p->nstages && (!jj->stage_name ||
				       strcmp(p->stages[jj->stage].cfg->name, jj->stage_name) == 0))
		return (int)jj->stage;
	for (size_t k = 0; jj->stage_name && k < p->nstages; k++)
		if (strcmp(p->stages[k].cfg->name, jj->stage_name) == 0)
			return (int)k;
	weftd_warn("journal: job %s: stage %s is gone from pipeline %s: resumes at its first stage",
		   jj->id, jj->stage_name ? jj->stage_name : "?", p->cfg->name);
	return -1;
}

static enum weftd_job_state job_state_of(enum weftd_jrec_state st)
{
	return st == WEFTD_JREC_DONE	? WEFTD_JOB_DONE
	       : st == WEFTD_JREC_FAILED	? WEFTD_JOB_FAILED
	       : st == WEFTD_JREC_EXPIRED ? WEFTD_JOB_EXPIRED
					  : WEFTD_JOB_CANCELED;
}

static int replay_finished(struct replay *rp, struct weftd_job *j, struct weftd_pipe *p,
			   const struct weftd_journal_job *jj)
{
	const char *name = NULL;
	struct weftd_job_end end;
	int k = -1, x = 0;

	for (size_t i = 0; jj->stage_name && i < p->nstages; i++)
		if (strcmp(p->stages[i].cfg->name, jj->stage_name) == 0)
			name = p->stages[i].cfg->name, k = (int)i; /* owned by the pipeline */
	end = (struct weftd_job_end){
		.state = job_state_of(jj->state), .output = jj->output, .output_len = jj->output_len,
		.error = jj->error, .log = jj->log, .log_len = jj->log_len, .stage = jj->stage,
		.attempts = jj->attempts, .stage_name = name, .started_ms = jj->started_ms,
		.finished_ms = jj->finished_ms,
	};
	if (end.state == WEFTD_JOB_FAILED) {
		/* END's output of a dead letter is the input it failed with: the cargo's again,
		 * for a re-drive from that stage */
		if (k > 0)
			x = weftd_job_restore_stage(j, (uint32_t)k, name, jj->output, jj->output_len);
		end.output = NULL;
		end.output_len = 0;
	}
	if (x == 0) {
		weftd_jobs_insert(rp->e->jobs, j);
		x = weftd_jobs_restore_finished(rp->e->jobs, j, &end);
		if (x < 0)
			weftd_jobs_remove(rp->e->jobs, j);
		else
			rp->finished++;
	}
	weftd_job_unref(j);
	return x == -ENOMEM ? x : 0;
}

static int replay_one(const struct weftd_journal_job *jj, void *arg)
{
	struct replay *rp = arg;
	struct weftd_engine *e = rp->e;
	struct weftd_pipe *p = eng_find_pipe(e, jj->pipeline);
	struct weftd_job *j;
	int k, x;

	if (!p) {
		if (jj->finished) { /* nothing to show it under any more */
			struct weftd_jrec r = { .type = WEFTD_JREC_PURGE, .id = jj->id, .id_len = strlen(jj->id) };
			weftd_journal_record(e->jn, &r);
			return 0;
		}
		weftd_warn("journal: job %s: pipeline %s is gone: closed as lost", jj->id, jj->pipeline);
		weftd_journal_finish(e->jn, jj->id, WEFTD_JREC_LOST);
		rp->lost++;
		return 0;
	}
	if (!jj->finished && rp->n == rp->cap) {
		size_t cap = rp->cap ? 2 * rp->cap : 64;
		struct replay_item *it = realloc(rp->items, cap * sizeof(*it));
		if (!it)
			goto nomem;
		rp->items = it;
		rp->cap = cap;
	}
	/* the same id as before the restart: clients may be asking for it */
	struct weftd_job_init in = {
		.id = jj->id, .owner = jj->owner, .pipeline = p->cfg->name, .pipe = p,
		.payload = jj->payload, .len = jj->payload_len, .priority = jj->priority,
		.key = jj->key, .key_len = jj->key_len,
		.run_at_ms = jj->finished || jj->at_stage ? 0 : jj->run_at_ms,
		.deadline_ms = jj->deadline_ms,
		.created_ms = (int64_t)(jj->submitted_ns / 1000000u),
	};
	if (in.priority < WEFTD_PRIORITY_MIN || in.priority > WEFTD_PRIORITY_MAX)
		in.priority = 0;
	if (in.key && (in.key_len == 0 || in.key_len > WEFTD_JOB_KEY_MAX))
		in.key = NULL, in.key_len = 0;
	x = weftd_job_create(e->jobs, &in, &j);
	if (x < 0)
		goto nomem; /* the pipe's reference is ours still */
	if (jj->finished)
		return replay_finished(rp, j, p, jj);
	k = resume_stage(p, jj);
	if (k > 0 && weftd_job_restore_stage(j, (uint32_t)k, p->stages[k].cfg->name, jj->input,
					     jj->input_len) < 0) {
		weftd_job_unref(j);
		return -ENOMEM;
	}
	/* retrying: back into the schedule with its attempts and due time (at the stage
	 * recorded only: a stage moved elsewhere starts its attempts afresh) */
	if (jj->retry_attempts && k >= 0 && (uint32_t)k == jj->stage)
		weftd_job_restore_retry(j, jj->retry_attempts, jj->retry_due_ms);
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
		/* its deadline passed while the daemon was down: expired, never run */
		if (eng_deadline_passed(it->j)) {
			eng_expire(rp->e, it->j);
		/* blocking: more jobs than the queue holds wait for room */
		} else if (eng_place(it->p, it->j, true) < 0) {
			if (weftd_jobs_finish(rp->e->jobs, it->j, WEFTD_JOB_CANCELED, NULL, 0,
					      "canceled by shutdown"))
				eng_job_ended(rp->e);
		} else if (eng_deadline_watch(rp->e, it->j) < 0) {
			eng_expire(rp->e, it->j);
		}
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
	weftd_journal_paused(e->jn, replay_pause, e);
	rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->e = e;
	r = weftd_journal_replay(e->jn, replay_one, rp);
	if (r < 0)
		weftd_err("journal replay: %s (%zu jobs resumed so far)", strerror(-r), rp->n);
	if (rp->lost)
		weftd_notice("journal: %zu unfinished jobs of removed pipelines closed as lost", rp->lost);
	if (rp->finished)
		weftd_notice("journal: %zu finished jobs restored (retention)", rp->finished);
	/* in the table at once (status, wait, the drain count them); placed by a fiber */
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
