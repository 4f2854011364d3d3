/* jobs.h — the job table and each job's state machine.
 *
 * A job is one submitted payload travelling through a pipeline. The table indexes jobs by
 * id, keeps finished jobs for the retention (count and age, oldest finished evicted first)
 * so that status and wait work after completion, and wakes waiters when a job ends.
 *
 * States and legal moves (weftd_job_transition_ok):
 *   queued   -> running | canceled                 (sitting in a stage's queue)
 *   running  -> queued (next stage) | retrying | done | failed | canceled
 *   retrying -> running | failed | canceled         (backoff sleep between attempts)
 *   done, failed, canceled: terminal.
 *
 * Ownership: jobs are reference counted. The table holds one reference from insert until
 * eviction; whoever else keeps a pointer (a stage queue, a worker, a waiting fiber) holds
 * its own. Thread safety: every function may be called from any fiber on any proc; short
 * weftd_spin sections guard the table and each job (lock order: table, then job). Nothing
 * here parks except weftd_jobs_wait().
 */
#ifndef WEFTD_JOBS_H
#define WEFTD_JOBS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/weft.h>

#include "util/spin.h"
#include "internal.h"
#include "proto/buf.h"
#include "proto/wire.h"

#define WEFTD_JOB_ID_LEN 16 /* hex digits */

struct weftd_wait;

/* One registration of a waiter on a job (weftd_jobs_wait keeps them). */
struct weftd_wait_node {
	struct weftd_wait *wait;
	struct weftd_wait_node *next, *prev;
	bool linked;
};

struct weftd_job {
	char id[WEFTD_JOB_ID_LEN + 1];
	atomic_int refs;
	weftd_spin lock;               /* guards the fields below up to 'waiters' */
	enum weftd_job_state state;
	uint32_t stage;                /* current (or last) stage index */
	const char *stage_name;        /* its name (owned by the pipeline); NULL before the first */
	uint32_t attempts;             /* attempts of the current stage */
	bool cancel_requested;
	char *output;                  /* done: the last stage's output (malloc'd) */
	size_t output_len;
	char *error;                   /* failed/canceled: why (malloc'd) */
	char *log;                     /* stderr tail of the last exec attempt (malloc'd) */
	size_t log_len;
	int64_t created_ms, started_ms, finished_ms; /* Unix epoch ms, 0 = not yet */
	struct weftd_wait_node *waiters;
	/* set at creation, then read-only */
	const char *pipeline;          /* name, owned by pipe */
	void *pipe;                    /* the engine's pipeline (released by the table's hook) */
	weft_ctx *ctx;                 /* cancelled by weftd_job_cancel; the actors' parent */
	int64_t created_ns;            /* monotonic, for latency */
	int64_t wall_off_ns;           /* the table's CLOCK_REALTIME - monotonic offset */
	/* owned by the engine while the job is in flight */
	unsigned char *input;          /* the current stage's input (malloc'd) */
	size_t input_len;
	/* table links, guarded by the table lock */
	struct weftd_job *hnext;       /* hash chain */
	struct weftd_job *newer, *older; /* all jobs, creation order (list) */
	struct weftd_job *fnext, *fprev; /* finished jobs, finish order (retention) */
	int64_t finished_ns;
	bool in_table;
};

struct weftd_jobs;

/* Legal state move? (see the diagram above). Pure. */
bool weftd_job_transition_ok(enum weftd_job_state from, enum weftd_job_state to);
static inline bool weftd_job_state_terminal(enum weftd_job_state s)
{
	return s == WEFTD_JOB_DONE || s == WEFTD_JOB_FAILED || s == WEFTD_JOB_CANCELED;
}

/* A table keeping at most keep_count finished jobs for at most keep_age_ns. release(job)
 * is called when a job is freed (to drop job->pipe), may be NULL. Returns 0 or -ENOMEM. */
int weftd_jobs_new(uint32_t keep_count, uint64_t keep_age_ns, void (*release)(struct weftd_job *),
		   struct weftd_jobs **ret);
/* Drop the table's references to every job. NULL ok; returns NULL. */
struct weftd_jobs *weftd_jobs_free(struct weftd_jobs *t);
void weftd_jobs_set_retention(struct weftd_jobs *t, uint32_t keep_count, uint64_t keep_age_ns);

/* A new queued job with a fresh id (unique across restarts: a wall-clock-seeded counter),
 * a copy of the payload as its input, and its own cancellable ctx. The caller owns the one
 * reference; the job is not in the table yet. Returns 0 or -ENOMEM. */
int weftd_job_new(struct weftd_jobs *t, const char *pipeline, void *pipe, const void *payload,
		  size_t len, struct weftd_job **ret);
struct weftd_job *weftd_job_ref(struct weftd_job *j);
/* NULL ok; frees at the last reference. Returns NULL. */
struct weftd_job *weftd_job_unref(struct weftd_job *j);

/* Call fn(j, arg) once for each job that ends (after its state is final, before it is
 * filed for retention; any fiber, under no lock; must not park). Set before jobs run. */
void weftd_jobs_set_on_finish(struct weftd_jobs *t, void (*fn)(struct weftd_job *j, void *arg),
			      void *arg);
/* Add j to the table (the table takes its own reference). */
void weftd_jobs_insert(struct weftd_jobs *t, struct weftd_job *j);
/* Take j out again (submit refused after insert); drops the table's reference. */
void weftd_jobs_remove(struct weftd_jobs *t, struct weftd_job *j);
/* Look up len bytes of id. Returns a new reference or NULL. */
struct weftd_job *weftd_jobs_get(struct weftd_jobs *t, const char *id, size_t len);

/* ---- transitions (engine) --------------------------------------------------------- */
/* An attempt of stage (name) begins: -> running, attempts = attempt, started_ms set once.
 * Returns 0, or -ECANCELED when the job has ended or a cancel was requested. */
int weftd_job_begin_attempt(struct weftd_job *j, uint32_t stage, const char *name, uint32_t attempt);
/* The same with the caller's weft_now() reading (one clock read serves a whole job step). */
int weftd_job_begin_attempt_at(struct weftd_job *j, uint32_t stage, const char *name,
			       uint32_t attempt, int64_t now_ns);
/* running -> retrying (a backoff before the next attempt). -ECANCELED as above. */
int weftd_job_retrying(struct weftd_job *j);
/* running -> queued for stage next. -ECANCELED as above. */
int weftd_job_advance(struct weftd_job *j, uint32_t next, const char *name);
/* Keep the stderr tail of the last attempt (takes ownership of log, may be NULL). */
void weftd_job_set_log(struct weftd_job *j, char *log, size_t len);
/* End the job: state is done (takes output), failed or canceled (error is copied).
 * Wakes its waiters and files it for retention. Returns true if this call ended the
 * job, false if it had already ended (output is then freed). */
bool weftd_jobs_finish(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state state,
		       char *output, size_t output_len, const char *error);
/* The same with the caller's weft_now() reading. */
bool weftd_jobs_finish_at(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state state,
			  char *output, size_t output_len, const char *error, int64_t now_ns);
/* Cancel: a queued job ends at once (canceled, reason as its error); a running or
 * retrying one has its ctx cancelled and its worker ends it. Returns true if the job was
 * still live, false if it had already ended. */
bool weftd_job_cancel(struct weftd_jobs *t, struct weftd_job *j, const char *reason);
/* weftd_job_cancel on every live job in the table (shutdown). Returns how many. */
size_t weftd_jobs_cancel_all(struct weftd_jobs *t, const char *reason);
enum weftd_job_state weftd_job_state(struct weftd_job *j);
bool weftd_job_cancel_requested(struct weftd_job *j);

/* Evict finished jobs older than the retention age (now: weft_now()). Returns how many. */
size_t weftd_jobs_expire(struct weftd_jobs *t, int64_t now_ns);

/* ---- queries ------------------------------------------------------------------------ */
/* Write the job object (PROTOCOL.md) as member key (or array element when NULL). */
void weftd_job_json(struct weftd_buf *b, const char *key, struct weftd_job *j);
/* Up to limit jobs, newest first, filtered by pipeline (NULL: any) and state (has_state),
 * written as the array member key. */
void weftd_jobs_list_json(struct weftd_jobs *t, struct weftd_buf *b, const char *key,
			  const char *pipeline, bool has_state, enum weftd_job_state state,
			  uint32_t limit);
struct weftd_jobs_counts {
	size_t total;      /* in the table */
	size_t finished;   /* of which retained finished jobs */
};
void weftd_jobs_counts(struct weftd_jobs *t, struct weftd_jobs_counts *ret);

/* Park until every one of the n jobs has ended (0), timeout_ns passes (-ETIMEDOUT;
 * timeout_ns < 0: no limit, 0: just check), or ctx is done (its error). -ENOMEM.
 * Fiber only (except timeout 0). Leaves nothing registered on the jobs when it returns. */
int weftd_jobs_wait(weft_ctx *ctx, struct weftd_job *const *jobs, size_t n, int64_t timeout_ns);

#endif
