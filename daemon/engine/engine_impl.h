/* SPDX-License-Identifier: MIT */
/* engine_impl.h — the engine's shared state, private to daemon/engine/ (see engine.h).
 *
 * deadline.c: per-job deadlines;
 * engine.c: the engine's life (new, start, stop, free, hooks); pipeline.c: a pipeline's
 * lifetime, the pipeline set and the reload diff; worker.c: workers, attempts, retries;
 * store_local.c: the local store (stage queues, schedule, journal) the workers use;
 * submit.c: submit and enqueue; durable.c: what the journal records and the replay;
 * stats.c: histograms and the counters' read-out. */
#ifndef WEFTD_ENGINE_IMPL_H
#define WEFTD_ENGINE_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <weft/weft.h>

#include "engine/engine.h"
#include "engine/queue.h"
#include "engine/schedule.h"
#include "util/spin.h"

#define HIST_BUCKETS 40
#define WORKER_JOBS_PER_TURN 16

/* Latency histogram: bucket i counts samples of [2^(i-1), 2^i) microseconds (0 in 0). */
struct hist {
	atomic_uint_fast64_t b[HIST_BUCKETS];
	atomic_uint_fast64_t sum_us, max_us; /* the count is the buckets' sum */
};

/* Counters come in STAT_SHARDS copies, one per proc (procs beyond share): a job is
 * counted by whichever proc runs each step, and one shared copy bounced between the
 * cores at every job. Readers add the copies up; a gauge may be negative in one copy
 * (raised on one proc, lowered on another), never in the sum. The padding keeps the
 * copies' hot words off each other's cache lines. */
#define STAT_SHARDS 8

struct stage_stats {
	atomic_int_fast64_t queued, running, retrying; /* gauges (retrying: held by a worker;
	                                                  those in the schedule: retry_held) */
	atomic_uint_fast64_t done, failed, retried, canceled, timeouts, heartbeat_timeouts;
	struct hist lat;                      /* successful attempts */
	char pad[64];
};

struct pipe_stats {
	atomic_uint_fast64_t submitted, done, failed, canceled, busy, expired;
	struct hist lat;                      /* submit to done */
	char pad[64];
};

static inline unsigned stat_shard(void)
{
	int id = weft_proc_id();
	return id > 0 ? (unsigned)id % STAT_SHARDS : 0;
}

/* This proc's copy of a stage's (SST) or a pipeline's (PST) counters. */
#define SST(stage) (&(stage)->st[stat_shard()])
#define PST(pipe)  (&(pipe)->st[stat_shard()])
/* The sum of a counter over the copies. */
#define STAT_SUM(copies, field)                                                              \
	({                                                                                   \
		int64_t sum_ = 0;                                                            \
		for (unsigned i_ = 0; i_ < STAT_SHARDS; i_++)                                 \
			sum_ += (int64_t)atomic_load_explicit(&(copies)[i_].field,            \
							      memory_order_relaxed);          \
		sum_;                                                                        \
	})

struct weftd_worker {
	struct weftd_stage_rt *stage;
	uint64_t rnd;                  /* the retry jitter's PRNG state */
	struct weftd_hb *hb;           /* the supervisor's slot, NULL without one */
	int64_t now;                   /* the last weft_now() this worker read */
};

struct weftd_stage_rt {
	const struct weftd_stage *cfg;
	struct weftd_pipe *pipe;
	uint32_t index;
	struct weftd_actor *actor;
	bool instant;                   /* the actor never parks nor reads its ctx (noop, echo) */
	struct eng_queue *q;            /* bounded by stage.queue, by priority (queue.h) */
	struct weft_retry_policy retry; /* stage.retry as libweft's schedule */
	weft_ratelimit *rl;             /* stage.rate_limit; NULL = unlimited */
	struct stage_stats st[STAT_SHARDS];
	atomic_uint live_workers;
	atomic_size_t retry_held;       /* its retrying jobs in the pipeline's schedule (bounded
	                                   by stage.queue: eng_sched_add_retry) */
	struct weftd_worker *workers;
};

/* The engine's config, shared by every pipeline built from it (a reload keeps unchanged
 * pipelines running on the old config while new ones use the new). */
struct cfgref {
	atomic_int refs;
	struct weftd_config *cfg;
};

struct weftd_pipe {
	atomic_int refs;               /* the set, each job, the workers */
	struct weftd_engine *eng;
	struct cfgref *cref;
	const struct weftd_pipeline *cfg;
	struct eng_sched *sched;       /* its scheduled jobs (schedule.h) */
	atomic_bool paused;            /* weftd_engine_pause; a replacement inherits it */
	const struct weftd_store_ops *store; /* its jobs' store (engine.h): eng_local_store,
	                                  or the one set for broker pipelines (at start) */
	void *sst;                     /* the store's state for it (local: the pipe) */
	struct pipe_stats st[STAT_SHARDS];
	size_t nstages;
	struct weftd_stage_rt stages[];
};

struct pipeset {
	atomic_int refs;
	size_t n;
	struct weftd_pipe **pipes;
};

struct weftd_engine {
	struct weftd_jobs *jobs;
	struct cfgref *cref;           /* the current config */
	/* every config ever loaded, kept until free: the daemon section and the pipeline
	 * names of an old one may still be read (server, lifecycle); a reload is rare and a
	 * config is small */
	struct cfgref **crefs;
	size_t ncrefs;
	struct weftd_sup *sup;         /* heartbeats; NULL = none */
	struct weftd_journal *jn;      /* durability; NULL = none */
	struct weftd_keeper *keeper;   /* exec children's keeper; NULL = none */
	atomic_bool stopping;          /* engine_stop runs: cancels are the shutdown's */
	weftd_spin set_lock;
	struct pipeset *set;
	atomic_bool intake_open;
	weft_ctx *ctx;                 /* cancelled at stop: the sweeper */
	weft_mutex idle_lock;          /* with idle: weftd_engine_wait_idle's wait */
	weft_cond idle;                /* the last live job ended */
	atomic_uint idle_waiters;      /* fibers in weftd_engine_wait_idle */
	weft_wg wg;                    /* workers + sweeper */
	struct eng_periodic *per;      /* schedule: entries (periodic.h); NULL until started */
	struct eng_deadlines *dl;      /* jobs' deadlines (deadline.c); NULL until started */
	const struct weftd_store_ops *rstore; /* broker pipelines' store; NULL: local ones */
	void *rstore_arg;
};

/* Add a sample to h (the worker's hot path: inline). */
static inline void hist_add(struct hist *h, int64_t ns)
{
	uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
	unsigned i = us ? 64 - (unsigned)__builtin_clzll(us) : 0;
	uint64_t m;

	if (i >= HIST_BUCKETS)
		i = HIST_BUCKETS - 1;
	atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
	m = atomic_load_explicit(&h->max_us, memory_order_relaxed);
	while (us > m && !atomic_compare_exchange_weak(&h->max_us, &m, us))
		;
}

/* Take back a sample hist_add(h, ns) counted (its max stays: a bound, not a figure). */
static inline void hist_undo(struct hist *h, int64_t ns)
{
	uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
	unsigned i = us ? 64 - (unsigned)__builtin_clzll(us) : 0;

	if (i >= HIST_BUCKETS)
		i = HIST_BUCKETS - 1;
	atomic_fetch_sub_explicit(&h->b[i], 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&h->sum_us, us, memory_order_relaxed);
}

static inline struct weftd_pipe *pipe_ref(struct weftd_pipe *p)
{
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	return p;
}

/* pipeline.c */
/* Drop a config reference; the last frees the config. NULL ok; returns NULL. */
struct cfgref *eng_cfgref_unref(struct cfgref *c);
/* Drop a pipeline reference; the last frees its stages (actors, queues) and drops its
 * config. NULL ok; returns NULL. */
struct weftd_pipe *eng_pipe_unref(struct weftd_pipe *p);
/* A pipeline for cfg (one reference, no workers yet) sharing cref. Returns 0, or -errno
 * with err filled. */
int eng_pipe_new(struct weftd_engine *e, struct cfgref *cref, const struct weftd_pipeline *cfg,
		 struct weftd_pipe **ret, char *err, size_t errlen);
/* Drop a set reference (the last drops its pipelines). NULL ok; returns NULL. */
struct pipeset *eng_set_unref(struct pipeset *s);
/* The current set with a reference, or NULL after free. Never parks. */
struct pipeset *eng_set_get(struct weftd_engine *e);
/* The pipeline of s called name (no reference taken), or NULL. */
struct weftd_pipe *eng_set_find(struct pipeset *s, const char *name);
/* The running pipeline called name, with a reference, or NULL. Never parks. */
struct weftd_pipe *eng_find_pipe(struct weftd_engine *e, const char *name);

/* Set p's paused flag and tell its queues and schedule. */
void eng_pipe_pause(struct weftd_pipe *p, bool paused);
/* Close p's intake: its schedule (its jobs move to the pipeline running under its name
 * now, or are cancelled when there is none) and its first queue (its stages drain). */
void eng_pipe_retire(struct weftd_pipe *p);

/* worker.c */
/* Spawn p's workers and its schedule's timer (each holds a reference on p and counts in
 * e->wg). Returns 0 or -ENOMEM (those started so far end when p is retired). */
int eng_pipe_start(struct weftd_pipe *p);

/* store_local.c: a local pipeline's store (engine.h): its stage queues, its schedule, the
 * journal (st: the pipe). */
extern const struct weftd_store_ops eng_local_store;

/* engine.c */
/* After a job ended (final, or taken out of the table): wakes weftd_engine_wait_idle when
 * it was the last live one. Costs a fence and a load when nobody waits. May park (briefly,
 * on idle_lock) while somebody waits. */
void eng_job_ended(struct weftd_engine *e);

/* submit.c */
/* Queue j (in the table already, queued) on p's stage k, taking a reference for the
 * queue; block: park for room, else -EAGAIN when full. -EPIPE: the queue is closed. */
int eng_queue_at(struct weftd_pipe *p, uint32_t k, struct weftd_job *j, bool block);
/* eng_queue_at stage 0, counted as submitted. */
int eng_enqueue(struct weftd_pipe *p, struct weftd_job *j, bool block);
/* Put j (in the table) where its state says: SCHEDULED -> p's schedule (at its
 * weftd_job_run_at_ms); RETRYING -> p's schedule as a retry of its stage (at its
 * weftd_job_due_ms); QUEUED at stage k (its snapshot's stage_index) -> stage k's
 * queue. block: park for room in a queue, and go past a schedule's bound (replay); else
 * -EAGAIN when full. Takes its own reference (j's cargo pipe must be p). Returns 0,
 * -EAGAIN, -EPIPE (closed), ctx's error (j cancelled while parked), -EINVAL (not scheduled
 * or queued, or a stage p does not have). */
int eng_place(struct weftd_pipe *p, struct weftd_job *j, bool block);

/* deadline.c: per-job deadlines. */
/* Watch j's deadline (none: nothing): an entry in the engine's deadline heap (its id,
 * no reference); the engine's deadline timer ends j expired (eng_expire) when it comes
 * due unless j ended first. 0 or -ENOMEM. Fiber only; after weftd_engine_start. */
int eng_deadline_watch(struct weftd_engine *e, struct weftd_job *j);
/* The engine's deadline heap: new (0 or -ENOMEM), free (NULL ok; returns NULL), and its
 * entries now (ended jobs' included until they are dropped). */
int eng_deadlines_new(struct eng_deadlines **ret);
struct eng_deadlines *eng_deadlines_free(struct eng_deadlines *dl);
size_t eng_deadlines_len(struct eng_deadlines *dl);
/* The deadline timer fiber (arg: the engine; counted in e->wg): ends jobs expired as
 * their deadlines pass, until e->ctx is cancelled. */
void eng_deadlines_main(void *e);
/* End j expired wherever it is: out of its schedule, finished expired (counted, journaled
 * as such), its ctx cancelled so a running attempt stops. */
void eng_expire(struct weftd_engine *e, struct weftd_job *j);
/* Whether j has a deadline and it has passed (wall clock). */
bool eng_deadline_passed(struct weftd_job *j);

/* durable.c: the journal's side of a job's life. Each hook is a no-op (0) without a
 * journal. The engine calls them at these points; what each records is durable.c's. */
/* A new job j (cargo input = its payload) before it is queued: parks until durable per
 * the journal's mode. 0, or the journal's error (the submit is refused). */
int eng_dur_accept(struct weftd_engine *e, struct weftd_job *j);
/* A job accepted by eng_dur_accept was refused after all (queue full, pipeline gone). */
void eng_dur_refused(struct weftd_engine *e, struct weftd_job *j);
/* j finished a stage and moved to the next (its cargo input is that stage's input, its
 * snapshot's stage_index the new stage). Never parks. */
void eng_dur_stage(struct weftd_engine *e, struct weftd_job *j);
/* j (retrying at its snapshot's stage, its cargo input that stage's) waits for its next
 * attempt, due at its snapshot's run_at_ms. Never parks. */
void eng_dur_retry(struct weftd_engine *e, struct weftd_job *j);
/* The jobs table's finish hook (arg: the engine): records j's final state. Never parks. */
void eng_dur_finish(struct weftd_job *j, void *arg);
/* A dead letter j is live again (retry op), at its snapshot's stage with its cargo input.
 * Parks until durable. 0 or the journal's error (the re-drive is refused). */
int eng_dur_redrive(struct weftd_engine *e, struct weftd_job *j);
/* A dead letter j was purged. Never parks. */
void eng_dur_purge(struct weftd_engine *e, struct weftd_job *j);
/* Record that pipeline is paused / resumed, for the next start. Parks. 0 or -errno. */
int eng_dur_paused(struct weftd_engine *e, const char *pipeline, bool paused);

#endif
