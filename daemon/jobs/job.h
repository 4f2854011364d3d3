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
 *   queued   -> running | failed | canceled        (sitting in a stage's queue; failed:
 *                                                   it could not be queued at all)
 *   running  -> queued (next stage) | retrying | done | failed | canceled
 *   retrying -> running | failed | canceled         (backoff sleep between attempts)
 *   done, failed, canceled: terminal.
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
	weft_ctx *ctx;                 /* cancelled by weftd_job_cancel; the attempts' parent */
	int64_t created_ns;            /* weft_now() at creation, for latency */
	int64_t created_ms;            /* Unix epoch ms */
};

/* The engine's part of a job. The job module never reads it: it only frees input and
 * hands pipe to the table's release hook when the job is freed. Whoever holds the job in
 * flight (one worker at a time, or the submitter before it is queued) owns it. */
struct weftd_job_cargo {
	void *pipe;                    /* the engine's pipeline (one reference) */
	unsigned char *input;          /* the current stage's input (malloc'd), may be NULL */
	size_t input_len;
};

/* A consistent view of a job's changing part, for weftd_job_read(). */
struct weftd_job_snap {
	const struct weftd_job_info *info;
	enum weftd_job_state state;
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
	return s == WEFTD_JOB_DONE || s == WEFTD_JOB_FAILED || s == WEFTD_JOB_CANCELED;
}

/* A new queued job of table t, with the id given (NUL-terminated, at most
 * WEFTD_JOB_ID_LEN characters: a replayed job keeps its id) or, for NULL, a fresh one
 * (unique across restarts: a wall-clock-seeded counter), owned by owner; a copy of the payload as its
 * input; pipe in its cargo; its own cancellable ctx. The caller owns the one reference;
 * the job is not in the table yet. Returns 0 or -ENOMEM. */
int weftd_job_new(struct weftd_jobs *t, const char *id, uid_t owner, const char *pipeline,
		  void *pipe, const void *payload, size_t len, struct weftd_job **ret);
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
/* running -> retrying (a backoff before the next attempt). 0 or -ECANCELED as above. */
int weftd_job_retrying(struct weftd_job *j);
/* running -> queued for stage next, attempts = 0. 0 or -ECANCELED as above. */
int weftd_job_advance(struct weftd_job *j, uint32_t next, const char *name);
/* The end of a job is the table's: weftd_jobs_finish() and weftd_job_cancel() (jobs.h). */

/* Keep the stderr tail of the last attempt (takes ownership of log, may be NULL). */
void weftd_job_set_log(struct weftd_job *j, char *log, size_t len);

/* ---- queries ------------------------------------------------------------------------ */
enum weftd_job_state weftd_job_state(struct weftd_job *j);
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
