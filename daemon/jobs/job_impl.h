/* SPDX-License-Identifier: MIT */
/* job_impl.h — the job's layout and the ends of its state machine, private to daemon/jobs/
 * (job.c owns the job, jobs.c the table's links in it). Nothing outside jobs/ includes
 * this (but test_jobs, white-box): other modules use job.h. */
#ifndef WEFTD_JOB_IMPL_H
#define WEFTD_JOB_IMPL_H

#include <stdatomic.h>
#include <sys/queue.h>

#include "jobs/job.h"
#include "util/idmap.h"
#include "util/spin.h"

struct weftd_wait;

/* A job's idempotency key as the table indexes it: "pipeline\0key" (len bytes). Only a
 * job with a key has one, in its own allocation (keyless jobs carry a pointer only). */
struct weftd_job_key {
	struct weftd_idmap_node n;     /* the (pipeline, key) index's; the table's lock */
	bool indexed;                  /* n is in the index */
	struct weftd_job *job;         /* whose key it is */
	size_t len;
	char s[];
};

/* One registration of a weftd_jobs_wait() on a job. */
struct weftd_job_waiter {
	LIST_ENTRY(weftd_job_waiter) link;
	struct weftd_wait *wait;
	bool linked;                   /* on the job's list (guarded by the job lock) */
};

struct weftd_job {
	struct weftd_job_info info;    /* fixed at creation */
	struct weftd_job_cargo cargo;  /* the engine's */
	atomic_int refs;
	weftd_spin lock;               /* guards the fields below up to 'waiters' */
	enum weftd_job_state state;    /* written by move_locked() only */
	bool cancel_requested;
	bool in_table;                 /* the table's, guarded by the table lock (here: padding) */
	uint32_t stage;                /* current (or last) stage index */
	const char *stage_name;        /* its name (owned by the pipeline); NULL before the first */
	uint32_t attempts;             /* attempts of the current stage */
	int64_t retry_due_ms;          /* retrying: the next attempt's due time (Unix ms) */
	char *output;                  /* done: the last stage's output (malloc'd) */
	size_t output_len;
	char *error;                   /* failed/canceled: why (malloc'd) */
	char *log;                     /* stderr tail of the last exec attempt (malloc'd) */
	size_t log_len;
	int64_t started_ms, finished_ms; /* Unix epoch ms, 0 = not yet */
	LIST_HEAD(, weftd_job_waiter) waiters;
	/* set at creation, then read-only */
	const unsigned char *payload;  /* the submitted input, in this allocation (after the
	                                  struct), NUL-terminated */
	size_t payload_len;
	int64_t run_at_ms;             /* due time asked for at creation (Unix ms), 0: none */
	struct weftd_job_key *key;     /* NULL: no key */
	void (*release)(void *pipe);   /* the table's hook for cargo.pipe */
	int64_t wall_off_ns;           /* the table's CLOCK_REALTIME - monotonic offset */
	/* the table's, guarded by the table lock */
	struct weftd_idmap_node idn;   /* id index */
	TAILQ_ENTRY(weftd_job) all;    /* every job, newest first */
	TAILQ_ENTRY(weftd_job) fin;    /* finished jobs, oldest first (retention) */
	int64_t finished_ns;           /* filed for retention at; 0 = not filed */
	uint64_t kept_bytes;           /* output + log, counted when filed (final by then) */
};

/* Give j what it takes from its table t: a fresh id (when fresh_id), the table's
 * wall-clock offset and release hook. (jobs.c, called by weftd_job_new.) */
void weftd_jobs_stamp(struct weftd_jobs *t, struct weftd_job *j, bool fresh_id);

/* End j in state (terminal): takes output (done only, freed otherwise) and error, wakes its
 * waiters. Returns true if this call ended j; false if the move was refused (j had ended
 * already), output and error being freed then. The table files j afterwards. */
bool weftd_job_end(struct weftd_job *j, enum weftd_job_state state, char *output,
		   size_t output_len, char *error, int64_t now_ns);
/* Replay only: put j (live, not in a queue) straight into terminal state per end, with
 * its copies of output, error and log. 0, -ENOMEM or -EINVAL (not a terminal state). */
struct weftd_job_end;
int weftd_job_restore_end(struct weftd_job *j, const struct weftd_job_end *end);
/* failed -> queued at stage (name), attempts 0, the error and end time cleared; input
 * (malloc'd, or the payload; NULL keeps the cargo's) replaces the cargo's input. 0, or
 * -EBUSY when j is not failed (nothing changed). */
int weftd_job_requeue_failed(struct weftd_job *j, uint32_t stage, const char *name,
			     unsigned char *input, size_t len, bool use_input);
/* Request j's cancel and cancel its ctx. A queued, scheduled or retrying job ends at once
 * (canceled, reason as its error); a running one is left to its worker. Returns 1 if this call ended
 * j, 0 if j is left to its worker, -EALREADY if j had ended already. */
int weftd_job_stop(struct weftd_job *j, const char *reason, int64_t now_ns);

#endif
