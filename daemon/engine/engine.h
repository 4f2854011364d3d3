/* engine.h — pipelines at run time.
 *
 * Each stage of a pipeline is a worker pool: `workers` fibers receiving job pointers from
 * the stage's bounded queue (capacity `queue`). A worker runs an attempt through the stage's
 * actor under ctx = job ctx + stage timeout; on success the output becomes the next stage's
 * input and the job is sent to the next queue (a blocking send: backpressure flows
 * upstream); after the last stage the job is done. A failed attempt is retried per
 * stage.retry with exponential backoff and jitter (state retrying, sleep cancellable by the
 * job), then the job fails (dead letter) with the last error. stage.rate_limit is a token
 * bucket taken before each attempt. submit is a non-blocking send to the first queue: a
 * full queue answers busy.
 *
 * Lifecycle hooks (for drain and reload): the running pipelines form a reference-counted
 * set behind one pointer (struct pipeset in engine.c; each job and worker holds its own
 * pipeline, which keeps its config alive), swapped by weftd_engine_reload;
 * intake can be closed (submits answer draining); closing a
 * pipeline's intake lets its stages drain in order (the last worker of a stage closes the
 * next stage's queue); every worker records a heartbeat (weftd_worker_beat) per job and
 * while its actor runs.
 */
#ifndef WEFTD_ENGINE_H
#define WEFTD_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <weft/weft.h>

#include "config/config.h"
#include "jobs/jobs.h"
#include "proto/buf.h"
#include "proto/wire.h"

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

/* Submit payload to the pipeline called name. On success returns 0 and *ret holds a
 * reference to the new (queued) job. On refusal returns a negative errno and sets *code:
 * WEFTD_ERR_UNKNOWN_PIPELINE (-ENOENT), WEFTD_ERR_BUSY (-EAGAIN: first queue full, nothing
 * kept), WEFTD_ERR_DRAINING (-ESHUTDOWN), WEFTD_ERR_INTERNAL (-ENOMEM). Never parks. */
int weftd_engine_submit(struct weftd_engine *e, const char *name, const void *payload, size_t len,
			struct weftd_job **ret, enum weftd_err *code);

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

/* Refuse new submits from now on (draining) / accept them again. */
void weftd_engine_set_intake(struct weftd_engine *e, bool open);
bool weftd_engine_intake_open(struct weftd_engine *e);

/* Write "pipelines":{name:{...counters, "stages":[...]}} (only `pipeline` when non-NULL).
 * Returns 0, or -ENOENT when pipeline names none. */
int weftd_engine_stats_json(struct weftd_engine *e, struct weftd_buf *b, const char *pipeline);
/* Append "runtime": the scheduler's counters (procs, fibers, switches, steals, parks,
 * naps, wake-ups, I/O) and the open connections: what an operator looks at when the
 * pipeline figures do not add up. Fiber only. */
void weftd_runtime_json(struct weftd_buf *b, unsigned connections);
/* Write "pipelines":[{name, stages:[{settings}]}]. */
void weftd_engine_pipelines_json(struct weftd_engine *e, struct weftd_buf *b);

/* Jobs queued or running over all pipelines (for STATUS= lines and drains). */
struct weftd_engine_load {
	uint64_t queued, running, retrying;
};
void weftd_engine_load(struct weftd_engine *e, struct weftd_engine_load *ret);

/* A worker's heartbeat: the monotonic time of its last beat and the job it runs (NULL when
 * idle). Visited for a supervisor; fn runs under no lock and must not block. */
struct weftd_worker_info {
	const char *pipeline, *stage;
	unsigned index;
	int64_t last_beat_ns;
	bool busy;
};
void weftd_engine_foreach_worker(struct weftd_engine *e,
				 void (*fn)(const struct weftd_worker_info *w, void *arg), void *arg);

#endif
