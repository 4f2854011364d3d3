/* SPDX-License-Identifier: MIT */
/* jobs.h — the job table: jobs by id, and the retention of finished ones.
 *
 * The table indexes jobs by id (util/idmap.h), keeps finished jobs for the retention
 * (count, age and bytes, oldest finished evicted first) so that status and wait work after
 * completion, and ends jobs: finishing and cancelling go through the table, which files
 * an ended job for retention and calls the finish hook (the journal's record).
 * The job itself and its state machine: job.h.
 *
 * Ownership: the table holds one reference on each job from insert until eviction.
 * Thread safety: every function may be called from any fiber on any proc; a short
 * spinlock guards the table (lock order: table, then job). Nothing here parks.
 */
#ifndef WEFTD_JOBS_H
#define WEFTD_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "jobs/job.h"

struct weftd_jobs;

/* A table keeping finished jobs per ret (count, age, bytes: config.h; copied). release(pipe)
 * is called with a job's cargo pipe when the job is freed; may be NULL.
 * Returns 0 or -ENOMEM. */
int weftd_jobs_new(const struct weftd_retention *keep, void (*release)(void *pipe),
		   struct weftd_jobs **ret);
/* Drop the table's references to every job. NULL ok; returns NULL. */
struct weftd_jobs *weftd_jobs_free(struct weftd_jobs *t);
/* Change the retention (reload); applies at the next job filed or expiry sweep. */
void weftd_jobs_set_retention(struct weftd_jobs *t, const struct weftd_retention *keep);

/* Call fn(j, arg) once for each job that ends (after its state is final, before it is
 * filed for retention; any fiber, under no lock; must not park). Set before jobs run. */
void weftd_jobs_set_on_finish(struct weftd_jobs *t, void (*fn)(struct weftd_job *j, void *arg),
			      void *arg);
/* Add j to the table (the table takes its own reference), indexing its id and its
 * (pipeline, key) when it has a key (a key already held stays with its holder: j is then
 * not found by key). */
void weftd_jobs_insert(struct weftd_jobs *t, struct weftd_job *j);
/* weftd_jobs_insert unless j has a key that a job in the table (live or retained) of the
 * same pipeline holds: then nothing is added and *ret_dup is that job (a new reference).
 * Returns 0 (added) or 1 (duplicate). The check and the insert are one step. */
int weftd_jobs_add(struct weftd_jobs *t, struct weftd_job *j, struct weftd_job **ret_dup);
/* Take j out again (submit refused after insert; a purge); drops the table's reference
 * and frees its key. */
void weftd_jobs_remove(struct weftd_jobs *t, struct weftd_job *j);
/* Look up len bytes of id. Returns a new reference or NULL. */
struct weftd_job *weftd_jobs_get(struct weftd_jobs *t, const char *id, size_t len);
/* The job of pipeline holding key (len bytes), live or retained: a new reference or NULL. */
struct weftd_job *weftd_jobs_find_key(struct weftd_jobs *t, const char *pipeline,
				      const char *key, size_t len);

/* ---- replay and dead letters ----------------------------------------------------- */
/* How a job ended before a restart (weftd_jobs_restore_finished). */
struct weftd_job_end {
	enum weftd_job_state state;    /* DONE, FAILED or CANCELED */
	const void *output;            /* copied */
	size_t output_len;
	const char *error;             /* copied, may be NULL */
	const char *log;               /* copied, may be NULL */
	size_t log_len;
	uint32_t stage, attempts;
	const char *stage_name;        /* owned by the pipeline, may be NULL */
	int64_t started_ms, finished_ms; /* Unix epoch ms */
};
/* Replay only: j (created, in the table, never queued) ended as it was before the
 * restart, filed for retention by its original finished time (expired ones are evicted
 * at once: the caller's reference may then be the last). The finish hook is not called.
 * Returns 0, -EINVAL (not a terminal state, or j not live) or -ENOMEM. */
int weftd_jobs_restore_finished(struct weftd_jobs *t, struct weftd_job *j,
				const struct weftd_job_end *end);
/* Re-drive a dead letter: failed -> queued at stage (name, owned by the pipeline) under
 * fresh attempts, out of the retained list (live again). input: the stage's input
 * (malloc'd, taken) when use_input, else the cargo keeps the input it failed with.
 * Returns 0, or -EBUSY when j is not failed (nothing changed, input freed). */
int weftd_jobs_redrive(struct weftd_jobs *t, struct weftd_job *j, uint32_t stage,
		       const char *name, unsigned char *input, size_t len, bool use_input);
/* Delete a dead letter from the table (its key too). Returns 0, or -EBUSY when j is not
 * failed or not in the table. */
int weftd_jobs_purge(struct weftd_jobs *t, struct weftd_job *j);

/* ---- ending jobs ------------------------------------------------------------------ */
/* End j (a job of t): state is done (takes output), failed or canceled (error is copied),
 * a move checked like every other (job.h). Wakes its waiters and files it for retention.
 * Returns true if this call ended the job, false if the move was refused (the job had
 * already ended; output is then freed). now_ns: the caller's weft_now() reading. */
bool weftd_jobs_finish_at(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state state,
			  char *output, size_t output_len, const char *error, int64_t now_ns);
/* The same, reading the clock. */
bool weftd_jobs_finish(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state state,
		       char *output, size_t output_len, const char *error);
/* Cancel: a queued job ends at once (canceled, reason as its error); a running or
 * retrying one has its ctx cancelled and its worker ends it. Returns true if the job was
 * still live, false if it had already ended. */
bool weftd_job_cancel(struct weftd_jobs *t, struct weftd_job *j, const char *reason);
/* weftd_job_cancel on every live job in the table (shutdown). Returns how many. */
size_t weftd_jobs_cancel_all(struct weftd_jobs *t, const char *reason);
/* Evict finished jobs older than the retention age at now_ns. Returns how many. */
size_t weftd_jobs_expire(struct weftd_jobs *t, int64_t now_ns);

/* ---- queries ------------------------------------------------------------------------ */
/* Up to max jobs, newest first, of pipeline (NULL: any), owned by owner
 * (WEFTD_JOB_NO_OWNER: any) and, when has_state, in state, each as a new reference in ret[] (the caller unrefs them). The filters see a racy
 * snapshot of each job's state: all a listing promises. Returns how many. */
size_t weftd_jobs_pick(struct weftd_jobs *t, const char *pipeline, uid_t owner, bool has_state,
		       enum weftd_job_state state, struct weftd_job **ret, size_t max);
struct weftd_jobs_counts {
	size_t total;      /* in the table */
	size_t finished;   /* of which retained finished jobs */
	uint64_t finished_bytes; /* their outputs and logs (retention.bytes) */
};
void weftd_jobs_counts(struct weftd_jobs *t, struct weftd_jobs_counts *ret);

#endif
