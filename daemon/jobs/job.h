/* SPDX-License-Identifier: MIT */
/* job.h — one job and its state machine.
 *
 * A job is one submitted payload travelling through a pipeline. Its layout is private
 * (job.c); other modules see three things:
 *   - its info, fixed at creation and readable without a lock (id, pipeline, ctx, times);
 *   - its cargo, the engine's part: the pipeline it runs in and the input of its current
 *     stage, owned by whoever holds the job in flight;
 *   - its state, changed only by the transitions below (and the table's finish and cancel,
 *     jobs.h), each checked against one table:
 *
 *   scheduled -> queued | failed | canceled        (waiting for its due time, holding no
 *                                                   worker; queued: due, into stage 1)
 *   queued   -> running | failed | canceled        (sitting in a stage's queue; failed:
 *                                                   it could not be queued at all)
 *   running  -> queued (next stage) | retrying | done | failed | canceled
 *   retrying -> queued | running | failed | canceled (backoff between attempts, in the
 *                                                   pipeline's schedule holding no worker;
 *                                                   queued: due, back into its stage's
 *                                                   queue with its attempt count; running:
 *                                                   a worker that kept it, the schedule
 *                                                   being full)
 *   failed   -> queued                              (a dead letter re-driven: only
 *                                                   weftd_jobs_redrive, jobs.h)
 *   any of the live states above -> expired        (its deadline passed: the engine's)
 *   done, failed, canceled, expired: terminal (they end waits; failed only until a
 *   re-drive).
 * Once a cancel was requested, only the moves to a terminal state remain.
 *
 * Ownership: jobs are reference counted; whoever keeps a pointer (the table, a stage
 * queue, a worker, a waiting fiber) holds a reference. Every function may be called from
 * any fiber on any proc; a short spinlock guards each job. Nothing here parks except
 * weftd_jobs_wait().
 */
#ifndef WEFTD_JOB_H
#define WEFTD_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <weft/weft.h>

#include "proto/wire.h" /* enum weftd_job_state */

#define WEFTD_JOB_ID_LEN 16 /* hex digits */
#define WEFTD_JOB_KEY_MAX   256    /* bytes of an idempotency key */
#define WEFTD_PRIORITY_MIN  (-100)
#define WEFTD_PRIORITY_MAX  100
/* The owner of a job whose submitter is not known (journaled before owners were): only
 * admins see it. As an owner filter (weftd_jobs_pick): every job. */
#define WEFTD_JOB_NO_OWNER ((uid_t)-1)

struct weftd_job;
struct weftd_jobs;

/* What a job is, fixed at creation: read it without a lock for as long as you hold a
 * reference. */
struct weftd_job_info {
	char id[WEFTD_JOB_ID_LEN + 1]; /* NUL-terminated */
	const char *pipeline;          /* its name, owned by the cargo's pipe */
	uid_t owner;                   /* who submitted it (journaled), or WEFTD_JOB_NO_OWNER */
	int priority;                  /* WEFTD_PRIORITY_MIN..MAX, 0 by default */
	weft_ctx *ctx;                 /* cancelled by weftd_job_cancel; the attempts' parent */
	int64_t created_ns;            /* weft_now() at creation, for latency */
	int64_t created_ms;            /* Unix epoch ms */
	const char *key;               /* idempotency key (owned by the job), NULL when none */
	size_t key_len;
	int64_t deadline_ms;           /* Unix ms: ended expired if not finished by then; 0: none */
};

/* The engine's part of a job. The job module never reads it: it only frees input and
 * hands pipe to the table's release hook when the job is freed. Whoever holds the job in
 * flight (one worker at a time, or the submitter before it is queued) owns it. */
struct weftd_job_cargo {
	void *pipe;                    /* the engine's pipeline (one reference) */
	unsigned char *input;          /* the current stage's input: malloc'd, or the job's
	                                  payload itself (weftd_job_input_is_payload), may be NULL */
	size_t input_len;
	void *sched;                   /* the engine's: the schedule holding it, NULL: none */
	size_t sched_pos;              /* the engine's: its place there (1-based) */
	uint32_t retry_stage;          /* the engine's: held there as a retry of this stage
	                                  (index + 1, counted in its retrying gauge); 0: not */
};

/* A consistent view of a job's changing part, for weftd_job_read(). */
struct weftd_job_snap {
	const struct weftd_job_info *info;
	enum weftd_job_state state;
	int64_t run_at_ms;             /* scheduled, retrying: due time (Unix ms), else 0 */
	bool cancel_requested;
	const char *stage;             /* current (or last) stage; NULL before the first */
	uint32_t stage_index;
	uint32_t attempts;             /* of the current stage */
	const char *output;            /* done: the last stage's output, else NULL */
	size_t output_len;
	const char *error;             /* failed/canceled: why, else NULL */
	const char *log;               /* stderr tail of the last exec attempt, may be NULL */
	size_t log_len;
	int64_t started_ms, finished_ms; /* Unix epoch ms, 0 = not yet */
};

/* Is the move legal (the table above, cancel aside)? Pure. */
bool weftd_job_transition_ok(enum weftd_job_state from, enum weftd_job_state to);
static inline bool weftd_job_state_terminal(enum weftd_job_state s)
{
	return s == WEFTD_JOB_DONE || s == WEFTD_JOB_FAILED || s == WEFTD_JOB_CANCELED ||
	       s == WEFTD_JOB_EXPIRED;
}

/* weftd_job_create's arguments. */
struct weftd_job_init {
	const char *id;                /* NULL: fresh; replay: the old id (NUL-terminated, at
	                                  most WEFTD_JOB_ID_LEN characters) */
	uid_t owner;
	const char *pipeline;          /* name, owned by pipe */
	void *pipe;                    /* into the cargo (its reference moves to the job) */
	const void *payload;           /* the submitted input: copied, and KEPT for the job's */
	size_t len;                    /*   life (status payload:true, retry from_start) */
	int priority;                  /* WEFTD_PRIORITY_MIN..MAX */
	const char *key;               /* copied; NULL: none */
	size_t key_len;                /* 1..WEFTD_JOB_KEY_MAX when key */
	int64_t run_at_ms;             /* Unix ms; > now: the job starts SCHEDULED */
	int64_t created_ms;            /* 0: now; replay: the original acceptance time */
	int64_t deadline_ms;           /* Unix ms; 0: none (job_info.deadline_ms) */
};
/* A new job of table t per in: queued (scheduled when in->run_at_ms is in the future),
 * a fresh id unless in->id (unique across restarts: a wall-clock-seeded counter), its
 * payload and key copied into the job's own allocation, the payload as the first stage's
 * input; its own cancellable ctx. The caller owns the one reference; the job is not in
 * the table yet. Returns 0, -EINVAL (priority out of range, key too long or empty) or
 * -ENOMEM. */
int weftd_job_create(struct weftd_jobs *t, const struct weftd_job_init *in, struct weftd_job **ret);
/* weftd_job_create with defaults (priority 0, no key, at once). Kept for older callers. */
int weftd_job_new(struct weftd_jobs *t, const char *id, uid_t owner, const char *pipeline,
		  void *pipe, const void *payload, size_t len, struct weftd_job **ret);
/* The submitted payload, borrowed while a reference is held (it never changes). */
void weftd_job_payload(const struct weftd_job *j, const void **p, size_t *len);
/* Is the cargo's input the payload (not malloc'd: free it with weftd_job_drop_input, and
 * an action must copy it rather than take it)? */
bool weftd_job_input_is_payload(const struct weftd_job *j);
/* (An output, or a next stage's input, may be the payload itself: an action that passes
 * its input on unchanged gets it with in_keep, weftd_attempt in actions/attempt.h, and
 * hands it back without a copy. The job frees neither the payload nor such an alias.) */
/* Let go of the cargo's input (freed unless it is the payload); input NULL afterwards.
 * The cargo's holder only. */
void weftd_job_drop_input(struct weftd_job *j);
/* Replay only (before the job is placed): a live job resumes at stage `stage` (name,
 * owned by the pipeline) with input (copied) as that stage's input; attempts start
 * afresh. A scheduled job becomes queued at that stage. Returns 0, -ENOMEM, or -EBUSY
 * when the job is not queued or scheduled. */
int weftd_job_restore_stage(struct weftd_job *j, uint32_t stage, const char *name,
			    const void *input, size_t len);
struct weftd_job *weftd_job_ref(struct weftd_job *j);
/* NULL ok; frees at the last reference (the cargo's input too, and its pipe through the
 * table's release hook). Returns NULL. */
struct weftd_job *weftd_job_unref(struct weftd_job *j);

/* j's fixed part; never NULL. */
const struct weftd_job_info *weftd_job_info(const struct weftd_job *j);
/* j's cargo (see struct weftd_job_cargo for who may touch it); never NULL. */
struct weftd_job_cargo *weftd_job_cargo(struct weftd_job *j);

/* ---- transitions (engine) --------------------------------------------------------- */
/* An attempt of stage (name) begins: -> running, attempts = attempt, started_ms set once
 * from now_ns (the caller's weft_now(): one clock read serves a whole job step).
 * Returns 0, or -ECANCELED when the move is refused (the job has ended, a cancel was
 * requested, or it is not queued or retrying). */
int weftd_job_begin_attempt(struct weftd_job *j, uint32_t stage, const char *name,
			    uint32_t attempt, int64_t now_ns);
/* running -> retrying (a backoff before the next attempt, due at due_ms, Unix ms; the
 * stage and attempt count stay). 0 or -ECANCELED as above. */
int weftd_job_retrying(struct weftd_job *j, int64_t due_ms);
/* running -> queued for stage next, attempts = 0. 0 or -ECANCELED as above. */
int weftd_job_advance(struct weftd_job *j, uint32_t next, const char *name);
/* Its due time came: scheduled -> queued at stage 0, or retrying -> queued at its stage
 * (attempts kept: the next attempt is weftd_job_attempts() + 1); *stage: that stage.
 * 0 or -ECANCELED as above. */
int weftd_job_due(struct weftd_job *j, uint32_t *stage);
/* Replay (a queued job not placed yet, after weftd_job_restore_stage), or a retry now that
 * found no room in its queue (back into the schedule): queued -> retrying with attempts
 * made so far, due at due_ms. Its holder only. 0 or -EBUSY (not queued). */
int weftd_job_restore_retry(struct weftd_job *j, uint32_t attempts, int64_t due_ms);
/* The end of a job is the table's: weftd_jobs_finish() and weftd_job_cancel() (jobs.h). */

/* Keep the stderr tail of the last attempt (takes ownership of log, may be NULL). */
void weftd_job_set_log(struct weftd_job *j, char *log, size_t len);

/* ---- queries ------------------------------------------------------------------------ */
enum weftd_job_state weftd_job_state(struct weftd_job *j);
/* The due time it was created with (Unix ms; 0: none). Fixed at creation. */
int64_t weftd_job_run_at_ms(const struct weftd_job *j);
/* Its due time now: retrying: the next attempt's; else weftd_job_run_at_ms. */
int64_t weftd_job_due_ms(struct weftd_job *j);
/* Attempts made at its current stage (kept while it is retrying and queued again). */
uint32_t weftd_job_attempts(struct weftd_job *j);
bool weftd_job_cancel_requested(struct weftd_job *j);
/* Call fn(snapshot, arg) under j's lock: fn must not park nor take another job's lock,
 * and the snapshot's strings are valid only during the call. */
void weftd_job_read(struct weftd_job *j, void (*fn)(const struct weftd_job_snap *s, void *arg),
		    void *arg);

/* Park until every one of the n jobs has ended (0), timeout_ns passes (-ETIMEDOUT;
 * timeout_ns < 0: no limit, 0: just check), or ctx is done (its error). -ENOMEM.
 * Fiber only (except timeout 0). Leaves nothing registered on the jobs when it returns. */
int weftd_jobs_wait(weft_ctx *ctx, struct weftd_job *const *jobs, size_t n, int64_t timeout_ns);

#endif
