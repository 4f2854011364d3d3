/* SPDX-License-Identifier: MIT */
/* worker.c — workers, attempts and retries (see engine.h, engine_impl.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actions/actor.h"
#include "engine/engine_impl.h"
#include "engine/supervisor.h"
#include "util/log.h"

/* ---- retry schedule and rate limit (libweft's) ------------------------------------ */

void weftd_retry_policy(const struct weftd_retry *r, struct weft_retry_policy *ret)
{
	static const enum weft_jitter jitter[] = {
		[WEFTD_JITTER_NONE] = WEFT_JITTER_NONE, [WEFTD_JITTER_FULL] = WEFT_JITTER_FULL,
		[WEFTD_JITTER_EQUAL] = WEFT_JITTER_EQUAL,
	};

	*ret = (struct weft_retry_policy){
		.attempts = r->attempts, .initial_ns = (int64_t)r->initial_ns,
		.max_ns = (int64_t)r->max_ns, .multiplier = r->multiplier,
		.jitter = (unsigned)r->jitter < 3 ? jitter[r->jitter] : WEFT_JITTER_FULL,
	};
}

int64_t weftd_retry_delay(const struct weft_retry_policy *p, uint32_t attempt, uint64_t *rng)
{
	int64_t d;

	if (p->initial_ns <= 0 || attempt == 0)
		return 0; /* "initial: 0s" retries at once */
	d = weft_backoff_delay(p, attempt - 1, rng);
	return d > 0 ? d : 0;
}

int weftd_ratelimit_new(const struct weftd_rate_limit *rl, weft_ratelimit **ret)
{
	*ret = NULL;
	if (!rl->count || !rl->per_ns)
		return 0;
	return weft_ratelimit_new(rl->count, (int64_t)rl->per_ns, rl->burst ? rl->burst : 1, ret);
}

/* ---- workers -------------------------------------------------------------------- */

static void worker_beat(void *arg)
{
	struct weftd_worker *w = arg;
	w->now = weft_now();
	if (w->hb)
		weftd_hb_beat(w->hb);
}

/* End j as canceled (by a client, or because the daemon stops). */
static void end_canceled(struct weftd_stage_rt *s, struct weftd_job *j, void *tok)
{
	struct weftd_pipe *p = s->pipe;
	const char *why = atomic_load(&p->eng->stopping)    ? "canceled by shutdown"
			  : weftd_job_cancel_requested(j) ? "canceled by client"
							  : "canceled";
	if (p->store->finish(p->sst, s->index, j, tok, WEFTD_JOB_CANCELED, NULL, 0, why, weftd_job_attempts(j), 0)) {
		atomic_fetch_add_explicit(&SST(s)->canceled, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&PST(p)->canceled, 1, memory_order_relaxed);
	}
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A span for this attempt in a running trace (weft/trace.h; `weftctl trace`): named after
 * the stage, with the pipeline, stage, job id and attempt as its args. 0 when no trace
 * runs: then nothing is formatted. */
static uint64_t attempt_span(const char *pipeline, const char *stage, const char *job, uint32_t attempt)
{
	char args[WEFT_TRACE_TEXT];

	if (!weft_trace_enabled())
		return 0;
	snprintf(args, sizeof(args), "pipeline=%s,stage=%s,job=%s,attempt=%u", pipeline, stage, job,
		 attempt);
	return weft_trace_begin(stage, args);
}

/* The attempt's timeout (ns, 0: none): the stage's, cut to what is left before the job's
 * deadline when its store asks (attempt_deadline). */
static int64_t attempt_timeout(struct weftd_stage_rt *s, const struct weftd_job_info *ji)
{
	int64_t t = (int64_t)s->cfg->timeout_ns;

	if (s->pipe->store->attempt_deadline && ji->deadline_ms > 0) {
		int64_t left = (ji->deadline_ms - wall_ms()) * WEFT_MSEC;
		if (left < 1)
			left = 1;
		if (!t || left < t)
			t = left;
	}
	return t;
}

static bool past_deadline(struct weftd_stage_rt *s, const struct weftd_job_info *ji)
{
	return s->pipe->store->attempt_deadline && ji->deadline_ms > 0 && wall_ms() >= ji->deadline_ms;
}

/* Run attempts of stage s on j until one succeeds (0, output in *out), the retries are
 * used up (the job is failed here), the job is canceled or expired (ended here) or it
 * waits for its next attempt in its store (-EINPROGRESS: the store holds it). */
static int run_attempts(struct weftd_worker *w, struct weftd_job *j, void *tok, char **out, size_t *out_len)
{
	struct weftd_stage_rt *s = w->stage;
	const struct weftd_stage *cfg = s->cfg;
	struct weftd_pipe *p = s->pipe;
	struct weftd_engine *e = p->eng;
	const struct weftd_job_info *ji = weftd_job_info(j);
	struct weftd_job_cargo *cg = weftd_job_cargo(j);
	/* the id clients know the job by (a broker job's "P/HEX"), for the action and logs */
	const char *id = p->store->job_id ? p->store->job_id(tok) : ji->id;
	char msg[400];
	int r;

	/* a job back from a retry's backoff goes on counting its attempts */
	for (uint32_t attempt = weftd_job_attempts(j) + 1;; attempt++) {
		int64_t t0 = weft_now();
		weft_ctx *actx = NULL;
		bool timed_out = false, hb_lost = false;

		if (weftd_job_begin_attempt(j, s->index, cfg->name, attempt, t0) < 0)
			goto canceled;
		if (s->rl) {
			if (weft_ratelimit_wait(ji->ctx, s->rl) < 0)
				goto canceled;
			t0 = weft_now();
		}
		/* in_movable: a malloc'd cg->input lets noop and echo hand it on as their
		 * output instead of copying it; the payload stays with the job (retry). */
		bool movable = cg->input && !weftd_job_input_is_payload(j);
		/* the payload lives as long as the job: passed on as an alias, not a copy */
		bool keep = cg->input && !movable;
		struct weftd_attempt at = {
			.ctx = ji->ctx, .job_id = id, .pipeline = ji->pipeline, .attempt = attempt,
			.in = cg->input, .in_len = cg->input_len, .beat = worker_beat, .beat_arg = w,
			.in_movable = movable, .in_keep = keep, .keeper = e->keeper,
		};
		/* An attempt ctx of its own (timeout or not): a lost heartbeat cancels it
		 * without cancelling the job, which is then retried. An instant actor runs to
		 * its end without parking or looking at a ctx: nothing could time it out or
		 * cancel it midway, so it runs on the job's ctx, outside the heartbeat watch. */
		if (!s->instant) {
			int64_t tmo = attempt_timeout(s, ji);
			r = tmo ? weft_ctx_with_timeout(ji->ctx, tmo, &actx) : weft_ctx_with_cancel(ji->ctx, &actx);
			if (r < 0) {
				snprintf(at.error, sizeof(at.error), "out of memory");
				goto attempt_failed;
			}
			at.ctx = actx;
			if (w->hb)
				weftd_hb_begin(w->hb, actx, id, (int64_t)cfg->heartbeat_timeout_ns);
		}
		atomic_fetch_add_explicit(&SST(s)->running, 1, memory_order_relaxed);
		uint64_t span = attempt_span(ji->pipeline, cfg->name, id, attempt);
		r = weftd_actor_run(s->actor, &at);
		weft_trace_end(span);
		if (movable && !at.in_movable) { /* moved to at.out: no longer the job's */
			cg->input = NULL;
			cg->input_len = 0;
		}
		atomic_fetch_sub_explicit(&SST(s)->running, 1, memory_order_relaxed);
		hb_lost = !s->instant && w->hb && weftd_hb_end(w->hb);
		worker_beat(w); /* reads the clock into w->now */
		timed_out = r < 0 && actx && weft_ctx_err(actx) == -ETIMEDOUT && weft_ctx_err(ji->ctx) == 0;
		weft_ctx_unref(actx);
		if (at.log)
			weftd_job_set_log(j, at.log, at.log_len);
		if (r == 0) {
			hist_add(&SST(s)->lat, w->now - t0);
			*out = at.out;
			*out_len = at.out_len;
			return 0;
		}
		if (!keep || at.out != (const char *)at.in) /* (weftd_actor_run cleared it) */
			free(at.out);
		if (weft_ctx_err(ji->ctx) < 0)
			goto canceled;
		if (past_deadline(s, ji)) {
			if (p->store->finish(p->sst, s->index, j, tok, WEFTD_JOB_EXPIRED, NULL, 0, "deadline passed",
					     attempt, 0))
				atomic_fetch_add_explicit(&PST(p)->expired, 1, memory_order_relaxed);
			return -ETIMEDOUT;
		}
		if (hb_lost && r < 0) {
			atomic_fetch_add_explicit(&SST(s)->heartbeat_timeouts, 1, memory_order_relaxed);
			snprintf(at.error, sizeof(at.error), "no heartbeat (stuck attempt cancelled)");
		} else if (timed_out) {
			atomic_fetch_add_explicit(&SST(s)->timeouts, 1, memory_order_relaxed);
			snprintf(at.error, sizeof(at.error), "timed out after %" PRIu64 " ms",
				 cfg->timeout_ns / 1000000);
		}
attempt_failed:
		if (!at.error[0])
			snprintf(at.error, sizeof(at.error), "%s", strerror(r < 0 ? -r : EIO));
		/* the last attempt, or a failure the action calls permanent: a dead letter */
		if (attempt >= cfg->retry.attempts || at.permanent) {
			snprintf(msg, sizeof(msg), "stage %s: attempt %u/%u%s: %s", cfg->name, attempt,
				 cfg->retry.attempts, at.permanent ? ", permanent" : "", at.error);
			if (p->store->finish(p->sst, s->index, j, tok, WEFTD_JOB_FAILED, NULL, 0, msg, attempt, 0)) {
				atomic_fetch_add_explicit(&SST(s)->failed, 1, memory_order_relaxed);
				atomic_fetch_add_explicit(&PST(p)->failed, 1, memory_order_relaxed);
				weftd_info("job %s: pipeline %s: failed: %s", id, ji->pipeline, msg);
			}
			return -EIO;
		}
		weftd_debug("job %s: stage %s attempt %u failed: %s", id, cfg->name, attempt, at.error);
		atomic_fetch_add_explicit(&SST(s)->retried, 1, memory_order_relaxed);
		int64_t delay = weftd_retry_delay(&s->retry, attempt, &w->rnd);
		if (weftd_job_retrying(j, wall_ms() + delay / WEFT_MSEC) < 0)
			goto canceled;
		/* The backoff in the store (the local schedule, or the broker's): the worker
		 * takes its next job now. */
		snprintf(msg, sizeof(msg), "stage %s: attempt %u/%u: %s", cfg->name, attempt, cfg->retry.attempts,
			 at.error);
		if (p->store->retry(p->sst, s->index, j, tok, attempt, delay, msg) == 0)
			return -EINPROGRESS;
		/* Or this worker sleeps it out. */
		atomic_fetch_add_explicit(&SST(s)->retrying, 1, memory_order_relaxed);
		r = weft_sleep(ji->ctx, delay);
		atomic_fetch_sub_explicit(&SST(s)->retrying, 1, memory_order_relaxed);
		if (r < 0)
			goto canceled;
	}
canceled:
	end_canceled(s, j, tok);
	return -ECANCELED;
}

/* One job through this worker's stage; consumes the caller's reference. */
static void worker_job(struct weftd_worker *w, struct weftd_job *j, void *tok)
{
	struct weftd_stage_rt *s = w->stage;
	struct weftd_pipe *p = s->pipe;
	char *out = NULL;
	size_t out_len = 0;

	if (weftd_job_state_terminal(weftd_job_state(j)))
		goto drop; /* canceled while queued */
	if (run_attempts(w, j, tok, &out, &out_len) < 0)
		goto drop;
	atomic_fetch_add_explicit(&SST(s)->done, 1, memory_order_relaxed);
	/* The worker holding the job owns its input: nobody else touches it in flight. */
	weftd_job_drop_input(j);
	if (s->index + 1 == p->nstages) {
		/* Counted before the finish wakes the job's waiters, so a client whose wait
		 * returned sees the job in stats; taken back if the job ended otherwise first
		 * (a cancel or a deadline: that path counts it) */
		int64_t lat = w->now - weftd_job_info(j)->created_ns;
		atomic_fetch_add_explicit(&PST(p)->done, 1, memory_order_relaxed);
		hist_add(&PST(p)->lat, lat);
		if (!p->store->finish(p->sst, s->index, j, tok, WEFTD_JOB_DONE, out, out_len, NULL,
				      weftd_job_attempts(j), w->now)) {
			atomic_fetch_sub_explicit(&PST(p)->done, 1, memory_order_relaxed);
			hist_undo(&PST(p)->lat, lat);
		}
		goto drop;
	}
	if (p->store->advance(p->sst, s->index, j, tok, out, out_len) == 0)
		return; /* the store has the reference now */
	end_canceled(s, j, tok);
drop:
	p->store->release(p->sst, s->index, j, tok);
}

static void worker_main(void *arg)
{
	struct weftd_worker *w = arg;
	struct weftd_stage_rt *s = w->stage;
	struct weftd_pipe *p = s->pipe;
	struct weftd_job *v;
	void *tok;
	char what[2 * WEFTD_MAX_NAME + 2];

	/* profiles show job work by pipeline and stage (weft/prof.h: -tagfocus stage=...) */
	weft_label_set("pipeline", p->cfg->name);
	weft_label_set("stage", s->cfg->name);
	if (p->eng->sup) {
		snprintf(what, sizeof(what), "%s/%s", p->cfg->name, s->cfg->name);
		w->hb = weftd_hb_register(p->eng->sup, what);
	}
	for (unsigned n = 1; p->store->get(p->sst, p, s->index, &v, &tok) == 0; n++) {
		worker_job(w, v, tok); /* beats after each attempt */
		/* A receive from a non-empty queue does not park: with a backlog, let the
		 * connections (and their I/O) in now and then. */
		if (n % WORKER_JOBS_PER_TURN == 0)
			weft_yield();
	}
	/* Queue closed and drained: the last worker out closes the next stage's queue, so
	 * a drain flows down the pipeline without losing jobs in between. */
	if (atomic_fetch_sub(&s->live_workers, 1) == 1 && s->index + 1 < p->nstages)
		eng_queue_close(p->stages[s->index + 1].q);
	weftd_hb_unregister(p->eng->sup, w->hb);
	w->hb = NULL;
	weft_wg_done(&p->eng->wg);
	eng_pipe_unref(p);
}

int eng_pipe_start(struct weftd_pipe *p)
{
	struct weftd_engine *e = p->eng;
	char name[32];

	/* a broker pipeline's store, when one was set (engine.h): chosen here, from config */
	if (p->cfg->broker && e->rstore && p->store == &eng_local_store) {
		void *st = e->rstore->open(e->rstore_arg, p->cfg);
		if (!st)
			return -ENOMEM;
		p->sst = st;
		p->store = e->rstore;
	}

	snprintf(name, sizeof(name), "%s/schedule", p->cfg->name);
	pipe_ref(p);
	weft_wg_add(&p->eng->wg, 1);
	if (weft_go_opts(eng_sched_main, p, &(struct weft_go_opts){ .name = name }) < 0) {
		weft_wg_done(&p->eng->wg);
		eng_pipe_unref(p);
		return -ENOMEM;
	}

	for (size_t i = 0; i < p->nstages; i++) {
		struct weftd_stage_rt *s = &p->stages[i];
		for (uint32_t k = 0; k < s->cfg->workers; k++) {
			struct weftd_worker *w = &s->workers[k];
			w->stage = s;
			w->rnd = (uint64_t)weft_now() ^ ((uintptr_t)w * 0x9e3779b97f4a7c15ull);
			snprintf(name, sizeof(name), "%s/%s/%u", p->cfg->name, s->cfg->name, k);
			atomic_fetch_add(&s->live_workers, 1);
			pipe_ref(p);
			weft_wg_add(&p->eng->wg, 1);
			int r = weft_go_opts(worker_main, w, &(struct weft_go_opts){ .name = name });
			if (r < 0) {
				atomic_fetch_sub(&s->live_workers, 1);
				weft_wg_done(&p->eng->wg);
				eng_pipe_unref(p);
				return r;
			}
		}
	}
	return 0;
}
