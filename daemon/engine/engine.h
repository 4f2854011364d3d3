/* SPDX-License-Identifier: MIT */
/* engine.h — pipelines at run time.
 *
 * Each stage of a pipeline is a worker pool: `workers` fibers taking jobs from the stage's
 * bounded queue (capacity `queue`; higher priority first, FIFO within one: queue.h). A
 * worker runs an attempt through the stage's actor under ctx = job ctx + stage timeout;
 * on success the output becomes the next stage's input and the job is put on the next
 * queue (a blocking put: backpressure flows upstream); after the last stage the job is
 * done. A failed attempt is retried per stage.retry with exponential backoff and jitter
 * (state retrying, sleep cancellable by the job), then the job fails (dead letter) with
 * the last error, keeping that stage's input so that weftd_engine_retry can re-drive it.
 * stage.rate_limit is a token bucket taken before each attempt. submit is a non-blocking
 * put on the first queue: a full queue answers busy. A job due later (run_at) waits in
 * its pipeline's schedule (schedule.h: a heap of due times and one timer fiber, no
 * worker held), bounded like the first queue, and moves there when due. A paused
 * pipeline keeps accepting up to those bounds but its workers start no new job (a job
 * between two attempts of a stage goes on) and due jobs wait.
 *
 * Lifecycle hooks (for drain and reload): the running pipelines form a reference-counted
 * set behind one pointer (struct pipeset in engine_impl.h; each job and worker holds its own
 * pipeline, which keeps its config alive), swapped by weftd_engine_reload;
 * intake can be closed (submits answer draining); closing a
 * pipeline's intake lets its stages drain in order (the last worker of a stage closes the
 * next stage's queue); weftd_engine_wait_idle parks a drain until the last live job ends;
 * every worker beats its supervisor slot (supervisor.h) per job and while its actor runs.
 *
 * Where the jobs wait between the steps is the pipeline's store (below: the stage queues,
 * schedule and journal of a local pipeline; Redis for a broker pipeline), behind one ops
 * table, so that the worker loop is the same for both.
 *
 * Failures are negative errno; the figures are plain structs (weftd_engine_figures): the
 * server turns both into the protocol (server/errors.c, server/render.c).
 */
#ifndef WEFTD_ENGINE_H
#define WEFTD_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <weft/weft.h>

#include "config/config.h"
#include "jobs/jobs.h"

struct weftd_engine;
struct weftd_pipe;

/* Stage retry as libweft's policy (weft/retry.h). Pure. */
void weftd_retry_policy(const struct weftd_retry *r, struct weft_retry_policy *ret);
/* The backoff before attempt + 1 after attempt (1-based) failed: weft_backoff_delay for
 * retry attempt - 1; 0 when initial is 0. rng: the caller's PRNG state. Pure. */
int64_t weftd_retry_delay(const struct weft_retry_policy *p, uint32_t attempt, uint64_t *rng);
/* The stage's token bucket (weft/ratelimit.h): *ret = NULL for no rate_limit. Returns 0,
 * -ENOMEM. */
int weftd_ratelimit_new(const struct weftd_rate_limit *rl, weft_ratelimit **ret);

/* Build the engine for cfg (takes ownership of cfg; freed with the engine): prepares one
 * actor per stage (exec argv checked, plugins loaded). No fibers yet. Returns 0, or a
 * negative errno with err filled ("pipeline P stage S: ..."). Not on a hot path. */
int weftd_engine_new(struct weftd_config *cfg, struct weftd_engine **ret, char *err, size_t errlen);
/* Spawn the workers and the retention sweeper. Fiber only. Returns 0 or -ENOMEM. */
int weftd_engine_start(struct weftd_engine *e);
/* Stop: close intake, cancel every live job's ctx, close the queues, wait for the workers.
 * Fiber only. */
void weftd_engine_stop(struct weftd_engine *e);
/* Free after stop (or if never started). NULL ok; returns NULL. */
struct weftd_engine *weftd_engine_free(struct weftd_engine *e);

struct weftd_jobs *weftd_engine_jobs(struct weftd_engine *e);
const struct weftd_config *weftd_engine_config(struct weftd_engine *e);

/* A submit's options (weftd_engine_submit); zeroed = defaults. */
struct weftd_submit_opts {
	int priority;                  /* WEFTD_PRIORITY_MIN..MAX, default 0: within a stage
	                                  queue higher runs first, FIFO within one priority */
	int64_t run_at_ms;             /* Unix ms; 0 or <= now: at once, else scheduled */
	const char *key;               /* idempotency key (1..WEFTD_JOB_KEY_MAX bytes), NULL: none */
	size_t key_len;
	int64_t deadline_ms;           /* Unix ms; 0: none. Not finished by then: it ends
	                                  expired wherever it is (queued, scheduled, retrying,
	                                  running: the attempt is cancelled) */
};
/* Submit payload to the pipeline called name, as a job of owner (journaled with it), per
 * o (NULL = defaults). Returns 0 with *ret a reference to the new job (queued, or
 * scheduled when o->run_at_ms is in the future), or 1 when a job of that pipeline in the
 * table (live or retained) holds o->key: *ret = that job (a reference), nothing created;
 * or: -ENOENT no pipeline called name, -EAGAIN its first queue is full (a scheduled job:
 * its schedule, bounded by the first stage's queue setting too; nothing kept),
 * -ESHUTDOWN intake closed (draining, stopping), -EINVAL (priority or key out of range),
 * -ENOMEM, or the journal's write error (-EIO, -ENOSPC...). Parks only for the journal
 * (batch/fsync durability). */
int weftd_engine_submit(struct weftd_engine *e, const char *name, const void *payload, size_t len,
			uid_t owner, const struct weftd_submit_opts *o, struct weftd_job **ret);

/* Pause (paused true) or resume a pipeline: a paused pipeline accepts submits up to its
 * queue bounds but no worker starts a new attempt; in-flight attempts finish; due
 * scheduled jobs wait. The flag survives reload (a changed pipeline's replacement
 * inherits it) and is recorded for restarts (eng_dur_paused, which may park). Returns 0,
 * -ENOENT (no such pipeline) or the journal's error (nothing changed). Fiber only. */
int weftd_engine_pause(struct weftd_engine *e, const char *pipeline, bool paused);
/* Re-drive a dead letter (state failed) from the stage it failed in (from_start: stage 0
 * with its payload) under fresh attempts; records via eng_dur_redrive before queueing.
 * A retrying job (from_start false): its next attempt now, into its stage's queue with
 * its attempt count (-EAGAIN: that queue is full, it stays retrying as it was).
 * It runs in the pipeline running now under its name, at the stage of the same name.
 * Returns 0; -EBUSY (j is not failed: the protocol's conflict); -ENOENT (its pipeline, or
 * that stage, is no longer running); -EAGAIN (that stage's queue is full: j stays failed);
 * -ESHUTDOWN (draining); the journal's error. Parks only for the journal. */
int weftd_engine_retry(struct weftd_engine *e, struct weftd_job *j, bool from_start);
/* Delete a dead letter from the table (its key too); records via eng_dur_purge.
 * Returns 0 or -EBUSY (not failed, or gone already). Never parks. */
int weftd_engine_purge(struct weftd_engine *e, struct weftd_job *j);

struct weftd_sup;
struct weftd_journal;
/* Before start: worker heartbeats go to sup's slots (NULL: none); stuck attempts are
 * cancelled by it and retried, counted per stage as heartbeat_timeouts. */
void weftd_engine_set_sup(struct weftd_engine *e, struct weftd_sup *sup);
/* Before start: submits are journaled (accept parks until durable per the journal's mode)
 * and final states recorded; jobs cancelled by weftd_engine_stop stay unfinished there. */
void weftd_engine_set_journal(struct weftd_engine *e, struct weftd_journal *jn);
/* Exec children are registered with k (keeper.h) from now on; before the first job.
 * The caller keeps k and stops it after the engine is freed. */
struct weftd_keeper;
void weftd_engine_set_keeper(struct weftd_engine *e, struct weftd_keeper *k);
/* After start: the journal's unfinished jobs go back into their pipelines under their old
 * ids (in the table at once, queued by a fiber); those of pipelines no longer configured
 * are closed as LOST with a log line. Fiber only. Returns how many resume, or -errno. */
long weftd_engine_replay(struct weftd_engine *e);

/* Periodic jobs (the pipelines' schedule: entries; engine/periodic.h): start firing them,
 * after weftd_engine_start and weftd_engine_replay (so replayed jobs' keys are in the
 * table). With a journal, reads state_dir/schedules (the last fired slots) and fires
 * each catch_up entry's last missed slot. Fiber only (parks for the file). Returns 0 or
 * -ENOMEM. */
int weftd_engine_start_schedules(struct weftd_engine *e);
/* One schedule entry as running now. */
struct weftd_schedule_info {
	const char *pipeline;
	const struct weftd_schedule *cfg;
	int64_t next_ms;               /* its next slot, Unix ms; 0: none */
	int64_t last_ms;               /* its last fired slot, Unix ms; 0: none known */
};
/* fn(info, arg) for each entry in config order (only pipeline's when non-NULL); nothing
 * before weftd_engine_start_schedules. fn must not park. Returns 0, or -ENOENT when
 * pipeline names none. */
int weftd_engine_schedules(struct weftd_engine *e, const char *pipeline,
			   void (*fn)(const struct weftd_schedule_info *s, void *arg), void *arg);

/* Switch to cfg (ownership taken, also on failure; kept until the engine is freed so
 * old pointers into it stay valid). Pipelines equal to running ones (weftd_pipeline_equal)
 * keep running untouched; changed ones get a new pipeline that takes new jobs while the
 * old one finishes its in-flight jobs under the old settings and ends; removed ones drain
 * and end; new ones start. A submit racing the swap is moved to the new pipeline, never
 * refused. Daemon settings: only retention applies here (the caller handles the rest).
 * Fiber only (parks: actors are prepared on a weft_blocking thread). Returns 0, or
 * -errno with err filled (an exec path missing, a plugin not loading...): nothing changed. */
struct weftd_reload_stats {
	unsigned unchanged, changed, added, removed;
};
int weftd_engine_reload(struct weftd_engine *e, struct weftd_config *cfg,
			struct weftd_reload_stats *ret, char *err, size_t errlen);

/* Cancel j (weftd_job_cancel: a queued or scheduled job ends at once, a running one when its attempt
 * sees its ctx) with reason as its error. Returns true if j was still live. Never parks
 * (but briefly while a drain waits). */
bool weftd_engine_cancel(struct weftd_engine *e, struct weftd_job *j, const char *reason);
/* Park until no job is live (every job in the table has ended, scheduled ones aside: they
 * hold no worker, and the stop cancels them, a journal keeping them for the next start;
 * replayed ones count from weftd_engine_replay on), or ctx is done. Returns 0, or ctx's error with jobs still live.
 * Wakes when the last job ends, not on a clock. Fiber only. */
int weftd_engine_wait_idle(struct weftd_engine *e, weft_ctx *ctx);

/* Refuse new submits from now on (draining) / accept them again. */
void weftd_engine_set_intake(struct weftd_engine *e, bool open);
bool weftd_engine_intake_open(struct weftd_engine *e);

/* A latency histogram read out, in microseconds (quantiles: the upper bound of their
 * bucket, capped at the max seen). buckets[i] counts the samples below 2^i us and at or
 * above 2^(i-1) (bucket 0: below 1 us; the last bucket also holds everything longer):
 * what /metrics exports as a Prometheus histogram (obs/metrics.c). */
#define WEFTD_LATENCY_BUCKETS 40
struct weftd_latency {
	uint64_t count, p50, p99, mean, max;
	uint64_t sum;                           /* of the samples, in us */
	uint64_t buckets[WEFTD_LATENCY_BUCKETS];
};
/* A stage's counters added up over the procs, with its settings. */
struct weftd_stage_figures {
	const struct weftd_stage *cfg;
	int64_t queued, running, retrying;      /* gauges: jobs there now */
	uint64_t done, failed, retried, canceled, timeouts, heartbeat_timeouts;
	struct weftd_latency latency_us;        /* successful attempts */
};
/* A pipeline's counters added up over the procs, with its settings and its stages'. */
struct weftd_pipeline_figures {
	const struct weftd_pipeline *cfg;
	bool paused;                            /* weftd_engine_pause */
	int64_t scheduled;                      /* gauge: jobs waiting for their due time */
	uint64_t submitted, done, failed, canceled, busy, expired;
	struct weftd_latency latency_us;        /* submit to done */
	size_t nstages;
	const struct weftd_stage_figures *stages;
};
/* Read out the running pipelines (only the one called pipeline when non-NULL) in config
 * order: fn(figures, arg) once each, the figures valid during the call. fn must not park.
 * Returns 0, -ENOENT when pipeline names none (fn not called), or -ENOMEM. Never parks. */
int weftd_engine_figures(struct weftd_engine *e, const char *pipeline,
			 void (*fn)(const struct weftd_pipeline_figures *p, void *arg), void *arg);

/* The running pipelines' settings in config order: fn(cfg, arg) once each (cfg valid until
 * the engine is freed). fn must not park. Never parks. */
void weftd_engine_pipelines(struct weftd_engine *e,
			    void (*fn)(const struct weftd_pipeline *cfg, void *arg), void *arg);

/* ---- stores: where a pipeline's stages take their jobs from and put them -------------
 *
 * One worker loop (worker.c) runs every pipeline's stages: a worker gets a job from its
 * pipeline's store, runs its attempts (timeouts, retries, heartbeats, rate limit, cancel,
 * trace spans, stats: all the engine's), and the store decides what finishing it,
 * handing it to the next stage or holding it for a retry mean. A local pipeline's store
 * is the engine's own (its stage queues, its schedule and the journal); a pipeline with
 * `broker:` gets the store set with weftd_engine_set_store (broker/broker.h's, on Redis),
 * so that the engine knows nothing of where those jobs live. A job a store hands out
 * need not be in the jobs table: weftd_store_job makes a transient one.
 *
 * The ops, each called by the pipeline's workers (any proc; fiber), with the store's
 * state st for the pipeline (open's) and tok (get's, for the job's further ops): */
struct weftd_store_ops {
	/* The store's state for the pipeline called cfg->name (cfg valid until the engine is
	 * freed), at its start. NULL: -ENOMEM. */
	void *(*open)(void *arg, const struct weftd_pipeline *cfg);
	/* The pipeline retires (reload, stop): parked and later gets answer -EPIPE. */
	void (*close)(void *st);
	/* The pipeline's last reference went: free st. */
	void (*free)(void *st);
	/* Park for stage k's next job: 0 with *ret (a reference for the caller: a job from
	 * weftd_store_job, queued, or retrying with the attempts made before) and *tok, or
	 * -EPIPE once closed. */
	int (*get)(void *st, struct weftd_pipe *p, uint32_t k, struct weftd_job **ret, void **tok);
	/* j ended at stage k after attempts: done with out (taken), or failed, canceled,
	 * expired with why. true if this ended it (counted), false if it had ended before. */
	bool (*finish)(void *st, uint32_t k, struct weftd_job *j, void *tok, enum weftd_job_state state,
		       char *out, size_t out_len, const char *why, uint32_t attempts, int64_t now_ns);
	/* j succeeded at stage k (not the last) with out (taken): on to stage k + 1. 0: the
	 * store has j and the caller's reference; < 0: the caller ends it canceled. */
	int (*advance)(void *st, uint32_t k, struct weftd_job *j, void *tok, char *out, size_t out_len);
	/* j (retrying) failed attempt `attempt` with why; its next is due in delay_ns. 0: the
	 * store holds it until then (the worker is free); -EAGAIN: the worker sleeps it out. */
	int (*retry)(void *st, uint32_t k, struct weftd_job *j, void *tok, uint32_t attempt,
		     int64_t delay_ns, const char *why);
	/* The worker is done with j: drop its reference (and whatever tok holds). */
	void (*release)(void *st, uint32_t k, struct weftd_job *j, void *tok);
	/* Is the pipeline paused (its figures)? */
	bool (*paused)(void *st);
	/* Optional: the id clients know j (tok) by, given to its actions, heartbeats, trace
	 * spans and log lines; NULL: weftd_job_info's. */
	const char *(*job_id)(void *tok);
	/* The job's deadline (weftd_job_info's) also bounds each attempt, and an attempt
	 * cut by it ends the job expired: for jobs the engine's deadline timer does not
	 * watch (transient ones). */
	bool attempt_deadline;
};
/* Before start: pipelines configured with `broker:` use ops (arg: open's) as their store;
 * without it they run on local queues like the others. */
void weftd_engine_set_store(struct weftd_engine *e, const struct weftd_store_ops *ops, void *arg);
/* A transient job of pipeline p (not in the jobs table, no journal): id (at most
 * WEFTD_JOB_ID_LEN characters), in (malloc'd, taken: the first stage's input; freed on
 * failure too), attempts made before (> 0: retrying), deadline (Unix ms, 0: none). 0 with
 * *ret (one reference), or -ENOMEM. */
int weftd_store_job(struct weftd_pipe *p, const char *id, unsigned char *in, size_t in_len,
		    uint32_t attempts, int64_t deadline_ms, struct weftd_job **ret);

/* Jobs queued or running over all pipelines (for STATUS= lines and drains). */
struct weftd_engine_load {
	uint64_t queued, running, retrying;
};
void weftd_engine_load(struct weftd_engine *e, struct weftd_engine_load *ret);

#endif
