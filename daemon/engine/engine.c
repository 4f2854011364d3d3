/* engine.c — pipelines at run time, see engine.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/spin.h"
#include "actions/actor.h"
#include "engine/engine.h"
#include "proto/json.h"
#include "jobs/journal.h"
#include "service/log.h"
#include "engine/supervisor.h"

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
	atomic_int_fast64_t queued, running, retrying; /* gauges */
	atomic_uint_fast64_t done, failed, retried, canceled, timeouts, heartbeat_timeouts;
	struct hist lat;                      /* successful attempts */
	char pad[64];
};

struct pipe_stats {
	atomic_uint_fast64_t submitted, done, failed, canceled, busy;
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
	unsigned index;
	atomic_int_fast64_t beat_ns;
	atomic_bool busy;
	uint64_t rnd;
	struct weftd_hb *hb;           /* the supervisor's slot, NULL without one */
	int64_t now;                   /* the last weft_now() this worker read */
};

struct weftd_stage_rt {
	const struct weftd_stage *cfg;
	struct weftd_pipe *pipe;
	uint32_t index;
	struct weftd_actor *actor;
	bool instant;                   /* the actor never parks nor reads its ctx (noop, echo) */
	weft_chan *q;                   /* bounded: job pointers, capacity stage.queue */
	struct weft_retry_policy retry; /* stage.retry as libweft's schedule */
	weft_ratelimit *rl;             /* stage.rate_limit; NULL = unlimited */
	struct stage_stats st[STAT_SHARDS];
	atomic_uint live_workers;
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
	weft_wg wg;                    /* workers + sweeper */
};

/* ---- histograms ------------------------------------------------------------------ */

static void hist_add(struct hist *h, int64_t ns)
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

/* A histogram's copies added up. */
struct hist_sum {
	uint64_t b[HIST_BUCKETS], n, sum_us, max_us;
};

static void hist_sum_add(struct hist_sum *t, struct hist *h)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		uint64_t v = atomic_load_explicit(&h->b[i], memory_order_relaxed);
		t->b[i] += v;
		t->n += v;
	}
	t->sum_us += atomic_load_explicit(&h->sum_us, memory_order_relaxed);
	uint64_t m = atomic_load_explicit(&h->max_us, memory_order_relaxed);
	if (m > t->max_us)
		t->max_us = m;
}

/* Upper bound of the bucket holding quantile q (microseconds), capped at the max seen. */
static uint64_t hist_quantile(const struct hist_sum *h, double q)
{
	uint64_t want, acc = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)((double)h->n * q);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		acc += h->b[i];
		if (acc >= want) {
			uint64_t hi = i ? (1ull << i) - 1 : 0;
			return hi < h->max_us ? hi : h->max_us;
		}
	}
	return h->max_us;
}

static void hist_json(struct weftd_buf *b, const char *key, const struct hist_sum *h)
{
	weftd_json_obj_begin(b, key);
	weftd_json_u64(b, "count", h->n);
	weftd_json_u64(b, "p50", hist_quantile(h, 0.50));
	weftd_json_u64(b, "p99", hist_quantile(h, 0.99));
	weftd_json_u64(b, "mean", h->n ? h->sum_us / h->n : 0);
	weftd_json_u64(b, "max", h->max_us);
	weftd_json_obj_end(b);
}

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

/* ---- pipelines ------------------------------------------------------------------ */

static struct cfgref *cfgref_unref(struct cfgref *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
		weftd_config_free(c->cfg);
		free(c);
	}
	return NULL;
}

static struct weftd_pipe *pipe_unref(struct weftd_pipe *p)
{
	if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return NULL;
	for (size_t i = 0; i < p->nstages; i++) {
		weft_ratelimit_free(p->stages[i].rl);
		weftd_actor_free(p->stages[i].actor);
		weft_chan_unref(p->stages[i].q);
		free(p->stages[i].workers);
	}
	cfgref_unref(p->cref);
	free(p);
	return NULL;
}

static struct weftd_pipe *pipe_ref(struct weftd_pipe *p)
{
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	return p;
}

static void job_release(struct weftd_job *j)
{
	pipe_unref(j->pipe);
}

static int pipe_new(struct weftd_engine *e, struct cfgref *cref, const struct weftd_pipeline *cfg,
		    struct weftd_pipe **ret, char *err, size_t errlen)
{
	struct weftd_pipe *p = calloc(1, sizeof(*p) + cfg->nstages * sizeof(p->stages[0]));
	char aerr[256];
	int r;

	if (!p)
		return -ENOMEM;
	atomic_init(&p->refs, 1);
	p->eng = e;
	p->cref = cref;
	atomic_fetch_add(&cref->refs, 1);
	p->cfg = cfg;
	p->nstages = cfg->nstages;
	for (size_t i = 0; i < cfg->nstages; i++) {
		struct weftd_stage_rt *s = &p->stages[i];
		s->cfg = &cfg->stages[i];
		s->pipe = p;
		s->index = (uint32_t)i;
		weftd_retry_policy(&s->cfg->retry, &s->retry);
		if ((r = weftd_ratelimit_new(&s->cfg->rate_limit, &s->rl)) < 0)
			goto fail_nomem;
		aerr[0] = 0;
		r = weftd_actor_new(s->cfg, &s->actor, aerr, sizeof(aerr));
		if (r < 0) {
			snprintf(err, errlen, "pipeline %s stage %s: %s", cfg->name, s->cfg->name,
				 aerr[0] ? aerr : strerror(-r));
			goto fail;
		}
		s->instant = weftd_actor_instant(s->actor);
		r = weft_chan_new(sizeof(struct weftd_job *), s->cfg->queue, &s->q);
		if (r < 0)
			goto fail_nomem;
		s->workers = calloc(s->cfg->workers, sizeof(*s->workers));
		if (!s->workers)
			goto fail_nomem;
	}
	*ret = p;
	return 0;
fail_nomem:
	r = -ENOMEM;
	snprintf(err, errlen, "out of memory");
fail:
	pipe_unref(p);
	return r;
}

static struct pipeset *set_unref(struct pipeset *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		for (size_t i = 0; i < s->n; i++)
			pipe_unref(s->pipes[i]);
		free(s->pipes);
		free(s);
	}
	return NULL;
}

static struct pipeset *set_get(struct weftd_engine *e)
{
	struct pipeset *s;

	weftd_spin_lock(&e->set_lock);
	s = e->set;
	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	weftd_spin_unlock(&e->set_lock);
	return s;
}

static struct weftd_pipe *set_find(struct pipeset *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->pipes[i]->cfg->name, name) == 0)
			return s->pipes[i];
	return NULL;
}

int weftd_engine_new(struct weftd_config *cfg, struct weftd_engine **ret, char *err, size_t errlen)
{
	struct weftd_engine *e = calloc(1, sizeof(*e));
	struct pipeset *s = NULL;
	int r = -ENOMEM;

	if (!e)
		goto fail_cfg;
	e->cref = calloc(1, sizeof(*e->cref));
	if (!e->cref) {
		free(e);
		goto fail_cfg;
	}
	atomic_init(&e->cref->refs, 2); /* e->cref and e->crefs[0] */
	e->cref->cfg = cfg;
	e->crefs = malloc(sizeof(*e->crefs));
	if (!e->crefs) {
		free(e->cref);
		free(e);
		goto fail_cfg;
	}
	e->crefs[e->ncrefs++] = e->cref;
	weft_wg_init(&e->wg);
	atomic_init(&e->intake_open, true);
	r = weftd_jobs_new(cfg->daemon.retention.count, cfg->daemon.retention.age_ns, job_release,
			   &e->jobs);
	if (r < 0)
		goto fail;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->pipes = calloc(cfg->npipelines, sizeof(*s->pipes)))) {
		r = -ENOMEM;
		goto fail;
	}
	atomic_init(&s->refs, 1);
	for (size_t i = 0; i < cfg->npipelines; i++) {
		r = pipe_new(e, e->cref, &cfg->pipelines[i], &s->pipes[i], err, errlen);
		if (r < 0)
			goto fail;
		s->n++;
	}
	e->set = s;
	*ret = e;
	return 0;
fail:
	if (r == -ENOMEM && err && errlen && !err[0])
		snprintf(err, errlen, "out of memory");
	if (s && !s->pipes)
		free(s);
	else
		set_unref(s);
	weftd_jobs_free(e->jobs);
	cfgref_unref(e->cref);
	cfgref_unref(e->crefs[0]);
	free(e->crefs);
	free(e);
	return r;
fail_cfg:
	weftd_config_free(cfg);
	snprintf(err, errlen, "out of memory");
	return r;
}

struct weftd_jobs *weftd_engine_jobs(struct weftd_engine *e)
{
	return e->jobs;
}

const struct weftd_config *weftd_engine_config(struct weftd_engine *e)
{
	const struct weftd_config *c;

	weftd_spin_lock(&e->set_lock);
	c = e->cref->cfg;
	weftd_spin_unlock(&e->set_lock);
	return c; /* valid until the engine is freed: configs are kept (see crefs) */
}

/* ---- workers -------------------------------------------------------------------- */

static void worker_beat(void *arg)
{
	struct weftd_worker *w = arg;
	w->now = weft_now();
	atomic_store_explicit(&w->beat_ns, w->now, memory_order_relaxed);
	if (w->hb)
		weftd_hb_beat(w->hb);
}

/* End j as canceled (by a client, or because the daemon stops). */
static void end_canceled(struct weftd_stage_rt *s, struct weftd_job *j)
{
	struct weftd_engine *e = s->pipe->eng;
	const char *why = atomic_load(&e->stopping)         ? "canceled by shutdown"
			  : weftd_job_cancel_requested(j) ? "canceled by client"
							  : "canceled";
	if (weftd_jobs_finish(e->jobs, j, WEFTD_JOB_CANCELED, NULL, 0, why)) {
		atomic_fetch_add_explicit(&SST(s)->canceled, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&PST(s->pipe)->canceled, 1, memory_order_relaxed);
	}
}

/* Run attempts of stage s on j until one succeeds (0, output in *out), the retries are
 * used up (the job is failed here) or the job is canceled (ended here). */
static int run_attempts(struct weftd_worker *w, struct weftd_job *j, char **out, size_t *out_len)
{
	struct weftd_stage_rt *s = w->stage;
	const struct weftd_stage *cfg = s->cfg;
	struct weftd_engine *e = s->pipe->eng;
	char msg[400];
	int r;

	for (uint32_t attempt = 1;; attempt++) {
		int64_t t0 = weft_now();
		weft_ctx *actx = NULL;
		bool timed_out = false, hb_lost = false;

		if (weftd_job_begin_attempt_at(j, s->index, cfg->name, attempt, t0) < 0)
			goto canceled;
		if (s->rl) {
			if (weft_ratelimit_wait(j->ctx, s->rl) < 0)
				goto canceled;
			t0 = weft_now();
		}
		/* in_movable: j->input is malloc'd, so noop and echo hand it on as their
		 * output instead of copying it. */
		struct weftd_attempt at = {
			.ctx = j->ctx, .job_id = j->id, .pipeline = j->pipeline, .attempt = attempt,
			.in = j->input, .in_len = j->input_len, .beat = worker_beat, .beat_arg = w,
			.in_movable = j->input != NULL, .keeper = e->keeper,
		};
		/* An attempt ctx of its own (timeout or not): a lost heartbeat cancels it
		 * without cancelling the job, which is then retried. An instant actor runs to
		 * its end without parking or looking at a ctx: nothing could time it out or
		 * cancel it midway, so it runs on the job's ctx, outside the heartbeat watch. */
		if (!s->instant) {
			r = cfg->timeout_ns
				    ? weft_ctx_with_timeout(j->ctx, (int64_t)cfg->timeout_ns, &actx)
				    : weft_ctx_with_cancel(j->ctx, &actx);
			if (r < 0) {
				snprintf(at.error, sizeof(at.error), "out of memory");
				goto attempt_failed;
			}
			at.ctx = actx;
			if (w->hb)
				weftd_hb_begin(w->hb, actx, j->id, (int64_t)cfg->heartbeat_timeout_ns);
		}
		atomic_fetch_add_explicit(&SST(s)->running, 1, memory_order_relaxed);
		r = weftd_actor_run(s->actor, &at);
		if (at.in && !at.in_movable) { /* moved to at.out: no longer the job's */
			j->input = NULL;
			j->input_len = 0;
		}
		atomic_fetch_sub_explicit(&SST(s)->running, 1, memory_order_relaxed);
		hb_lost = !s->instant && w->hb && weftd_hb_end(w->hb);
		worker_beat(w); /* reads the clock into w->now */
		timed_out = r < 0 && actx && weft_ctx_err(actx) == -ETIMEDOUT && weft_ctx_err(j->ctx) == 0;
		weft_ctx_unref(actx);
		if (at.log)
			weftd_job_set_log(j, at.log, at.log_len);
		if (r == 0) {
			hist_add(&SST(s)->lat, w->now - t0);
			*out = at.out;
			*out_len = at.out_len;
			return 0;
		}
		free(at.out);
		if (weft_ctx_err(j->ctx) < 0)
			goto canceled;
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
		if (attempt >= cfg->retry.attempts) {
			snprintf(msg, sizeof(msg), "stage %s: attempt %u/%u: %s", cfg->name, attempt,
				 cfg->retry.attempts, at.error);
			if (weftd_jobs_finish(e->jobs, j, WEFTD_JOB_FAILED, NULL, 0, msg)) {
				atomic_fetch_add_explicit(&SST(s)->failed, 1, memory_order_relaxed);
				atomic_fetch_add_explicit(&PST(s->pipe)->failed, 1, memory_order_relaxed);
				weftd_info("job %s: pipeline %s: failed: %s", j->id, j->pipeline, msg);
			}
			return -EIO;
		}
		weftd_debug("job %s: stage %s attempt %u failed: %s", j->id, cfg->name, attempt, at.error);
		atomic_fetch_add_explicit(&SST(s)->retried, 1, memory_order_relaxed);
		if (weftd_job_retrying(j) < 0)
			goto canceled;
		atomic_fetch_add_explicit(&SST(s)->retrying, 1, memory_order_relaxed);
		r = weft_sleep(j->ctx, weftd_retry_delay(&s->retry, attempt, &w->rnd));
		atomic_fetch_sub_explicit(&SST(s)->retrying, 1, memory_order_relaxed);
		if (r < 0)
			goto canceled;
	}
canceled:
	end_canceled(s, j);
	return -ECANCELED;
}

/* One job through this worker's stage; consumes the caller's reference. */
static void worker_job(struct weftd_worker *w, struct weftd_job *j)
{
	struct weftd_stage_rt *s = w->stage;
	struct weftd_pipe *p = s->pipe;
	char *out = NULL;
	size_t out_len = 0;

	if (weftd_job_state_terminal(weftd_job_state(j)))
		goto drop; /* canceled while queued */
	if (run_attempts(w, j, &out, &out_len) < 0)
		goto drop;
	atomic_fetch_add_explicit(&SST(s)->done, 1, memory_order_relaxed);
	/* The worker holding the job owns its input: nobody else touches it in flight. */
	free(j->input);
	j->input = NULL;
	j->input_len = 0;
	if (s->index + 1 == p->nstages) {
		if (weftd_jobs_finish_at(p->eng->jobs, j, WEFTD_JOB_DONE, out, out_len, NULL, w->now)) {
			atomic_fetch_add_explicit(&PST(p)->done, 1, memory_order_relaxed);
			hist_add(&PST(p)->lat, w->now - j->created_ns);
		}
		goto drop;
	}
	struct weftd_stage_rt *next = &p->stages[s->index + 1];
	j->input = (unsigned char *)out;
	j->input_len = out_len;
	if (weftd_job_advance(j, next->index, next->cfg->name) < 0) {
		end_canceled(s, j);
		goto drop;
	}
	atomic_fetch_add_explicit(&SST(next)->queued, 1, memory_order_relaxed);
	/* Blocking send: a full next stage holds this worker, and so on upstream. */
	if (weft_chan_send(j->ctx, next->q, &j) < 0) {
		atomic_fetch_sub_explicit(&SST(next)->queued, 1, memory_order_relaxed);
		end_canceled(s, j);
		goto drop;
	}
	return; /* the queue has the reference now */
drop:
	weftd_job_unref(j);
}

static void worker_main(void *arg)
{
	struct weftd_worker *w = arg;
	struct weftd_stage_rt *s = w->stage;
	struct weftd_pipe *p = s->pipe;
	struct weftd_job *v;
	char what[2 * WEFTD_MAX_NAME + 2];

	if (p->eng->sup) {
		snprintf(what, sizeof(what), "%s/%s", p->cfg->name, s->cfg->name);
		w->hb = weftd_hb_register(p->eng->sup, what);
	}
	for (unsigned n = 1; weft_chan_recv(NULL, s->q, &v) == 0; n++) {
		atomic_fetch_sub_explicit(&SST(s)->queued, 1, memory_order_relaxed);
		atomic_store_explicit(&w->busy, true, memory_order_relaxed);
		worker_job(w, v); /* beats after each attempt */
		atomic_store_explicit(&w->busy, false, memory_order_relaxed);
		/* A receive from a non-empty queue does not park: with a backlog, let the
		 * connections (and their I/O) in now and then. */
		if (n % WORKER_JOBS_PER_TURN == 0)
			weft_yield();
	}
	/* Queue closed and drained: the last worker out closes the next stage's queue, so
	 * a drain flows down the pipeline without losing jobs in between. */
	if (atomic_fetch_sub(&s->live_workers, 1) == 1 && s->index + 1 < p->nstages)
		weft_chan_close(p->stages[s->index + 1].q);
	weftd_hb_unregister(p->eng->sup, w->hb);
	w->hb = NULL;
	weft_wg_done(&p->eng->wg);
	pipe_unref(p);
}

static int pipe_start(struct weftd_pipe *p)
{
	char name[32];

	for (size_t i = 0; i < p->nstages; i++) {
		struct weftd_stage_rt *s = &p->stages[i];
		for (uint32_t k = 0; k < s->cfg->workers; k++) {
			struct weftd_worker *w = &s->workers[k];
			w->stage = s;
			w->index = k;
			w->rnd = (uint64_t)weft_now() ^ ((uintptr_t)w * 0x9e3779b97f4a7c15ull);
			atomic_store(&w->beat_ns, weft_now());
			snprintf(name, sizeof(name), "%s/%s/%u", p->cfg->name, s->cfg->name, k);
			atomic_fetch_add(&s->live_workers, 1);
			pipe_ref(p);
			weft_wg_add(&p->eng->wg, 1);
			int r = weft_go_opts(worker_main, w, &(struct weft_go_opts){ .name = name });
			if (r < 0) {
				atomic_fetch_sub(&s->live_workers, 1);
				weft_wg_done(&p->eng->wg);
				pipe_unref(p);
				return r;
			}
		}
	}
	return 0;
}

static void sweeper_main(void *arg)
{
	struct weftd_engine *e = arg;

	while (weft_sleep(e->ctx, WEFT_SEC) == 0)
		weftd_jobs_expire(e->jobs, weft_now());
	weft_wg_done(&e->wg);
}

int weftd_engine_start(struct weftd_engine *e)
{
	struct pipeset *s = set_get(e);
	int r;

	r = weft_ctx_with_cancel(NULL, &e->ctx);
	for (size_t i = 0; r == 0 && i < s->n; i++)
		r = pipe_start(s->pipes[i]);
	set_unref(s);
	if (r == 0) {
		weft_wg_add(&e->wg, 1);
		r = weft_go_opts(sweeper_main, e, &(struct weft_go_opts){ .name = "retention" });
		if (r < 0)
			weft_wg_done(&e->wg);
	}
	return r;
}

void weftd_engine_stop(struct weftd_engine *e)
{
	struct pipeset *s = set_get(e);

	weftd_engine_set_intake(e, false);
	atomic_store(&e->stopping, true);
	/* Cancel every live job; queued ones end at once, running ones through their ctx. */
	weftd_jobs_cancel_all(e->jobs, "canceled by shutdown");
	for (size_t i = 0; i < s->n; i++)
		weft_chan_close(s->pipes[i]->stages[0].q);
	weft_ctx_cancel(e->ctx);
	set_unref(s);
	weft_wg_wait(NULL, &e->wg);
}

struct weftd_engine *weftd_engine_free(struct weftd_engine *e)
{
	if (!e)
		return NULL;
	weftd_jobs_free(e->jobs);
	set_unref(e->set);
	weft_ctx_unref(e->ctx);
	cfgref_unref(e->cref);
	for (size_t i = 0; i < e->ncrefs; i++)
		cfgref_unref(e->crefs[i]);
	free(e->crefs);
	free(e);
	return NULL;
}

/* ---- submit ---------------------------------------------------------------------- */

void weftd_engine_set_intake(struct weftd_engine *e, bool open)
{
	atomic_store(&e->intake_open, open);
}

bool weftd_engine_intake_open(struct weftd_engine *e)
{
	return atomic_load(&e->intake_open);
}

/* The journal's record of a final state (the jobs table's finish hook). Jobs cancelled
 * by the shutdown stay unfinished in the journal: they resume at the next start. */
static void on_job_finished(struct weftd_job *j, void *arg)
{
	struct weftd_engine *e = arg;
	enum weftd_job_state st = weftd_job_state(j);

	if (!e->jn || (st == WEFTD_JOB_CANCELED && atomic_load(&e->stopping)))
		return;
	weftd_journal_finish(e->jn, j->id, st == WEFTD_JOB_DONE     ? WEFTD_JREC_DONE
					   : st == WEFTD_JOB_FAILED ? WEFTD_JREC_FAILED
								    : WEFTD_JREC_CANCELED);
}

void weftd_engine_set_sup(struct weftd_engine *e, struct weftd_sup *sup)
{
	e->sup = sup;
}

void weftd_engine_set_keeper(struct weftd_engine *e, struct weftd_keeper *k)
{
	e->keeper = k;
}

void weftd_engine_set_journal(struct weftd_engine *e, struct weftd_journal *jn)
{
	e->jn = jn;
	weftd_jobs_set_on_finish(e->jobs, jn ? on_job_finished : NULL, e);
}

/* Under the set lock, without a reference on the set: a reload swaps the set under the
 * same lock before it drops the old one (two atomic operations less per submit). */
static struct weftd_pipe *find_pipe(struct weftd_engine *e, const char *name)
{
	struct weftd_pipe *p;

	weftd_spin_lock(&e->set_lock);
	p = e->set ? set_find(e->set, name) : NULL;
	if (p)
		pipe_ref(p);
	weftd_spin_unlock(&e->set_lock);
	return p;
}

/* Queue a new job (in the table already) on p's first stage. */
static int enqueue(struct weftd_pipe *p, struct weftd_job *j, bool block)
{
	struct weftd_stage_rt *s0 = &p->stages[0];
	int r;

	atomic_fetch_add_explicit(&SST(s0)->queued, 1, memory_order_relaxed);
	weftd_job_ref(j); /* the queue's */
	r = block ? weft_chan_send(j->ctx, s0->q, &j) : weft_chan_try_send(s0->q, &j);
	if (r < 0) {
		atomic_fetch_sub_explicit(&SST(s0)->queued, 1, memory_order_relaxed);
		weftd_job_unref(j);
		return r;
	}
	atomic_fetch_add_explicit(&PST(p)->submitted, 1, memory_order_relaxed);
	return 0;
}

int weftd_engine_submit(struct weftd_engine *e, const char *name, const void *payload, size_t len,
			struct weftd_job **ret, enum weftd_err *code)
{
	struct weftd_pipe *p;
	struct weftd_job *j;
	int r;

	if (!atomic_load_explicit(&e->intake_open, memory_order_relaxed)) {
		*code = WEFTD_ERR_DRAINING;
		return -ESHUTDOWN;
	}
	p = find_pipe(e, name);
	if (!p) {
		*code = WEFTD_ERR_UNKNOWN_PIPELINE;
		return -ENOENT;
	}
	r = weftd_job_new(e->jobs, p->cfg->name, p, payload, len, &j);
	if (r < 0) {
		pipe_unref(p);
		*code = WEFTD_ERR_INTERNAL;
		return r;
	}
	/* Durable before anyone hears of it (parks under batch/fsync). */
	if (e->jn) {
		r = weftd_journal_accept(e->jn, j->id, p->cfg->name, payload, len,
					 (uint64_t)j->created_ms * 1000000u);
		if (r < 0) {
			weftd_err("journal: job %s not accepted: %s", j->id, strerror(-r));
			weftd_job_unref(j);
			*code = WEFTD_ERR_INTERNAL;
			return r;
		}
	}
	/* In the table before the queue: a worker may end the job before we return. */
	weftd_jobs_insert(e->jobs, j);
	r = enqueue(p, j, false);
	/* A reload retired p between our lookup and the send (its first queue is closed):
	 * the job moves to the pipeline now running under that name, if any. */
	for (int tries = 0; r == -EPIPE && tries < 8; tries++) {
		struct weftd_pipe *np = find_pipe(e, name);
		if (!np || np == p) {
			pipe_unref(np);
			break;
		}
		j->pipe = np; /* the job's reference moves with it */
		pipe_unref(p);
		p = np;
		r = enqueue(p, j, false);
	}
	if (r < 0) {
		if (r == -EAGAIN)
			atomic_fetch_add_explicit(&PST(p)->busy, 1, memory_order_relaxed);
		weftd_jobs_remove(e->jobs, j);
		if (e->jn)
			weftd_journal_finish(e->jn, j->id, WEFTD_JREC_CANCELED);
		weftd_job_unref(j); /* frees it and drops the pipe */
		*code = r == -EAGAIN ? WEFTD_ERR_BUSY : r == -EPIPE && weftd_engine_intake_open(e)
								   ? WEFTD_ERR_UNKNOWN_PIPELINE
								   : WEFTD_ERR_DRAINING;
		return r == -EAGAIN ? -EAGAIN : *code == WEFTD_ERR_UNKNOWN_PIPELINE ? -ENOENT : -ESHUTDOWN;
	}
	*ret = j;
	return 0;
}

/* ---- replay and reload ------------------------------------------------------------ */

struct replay_item {
	struct weftd_job *j;
	struct weftd_pipe *p;
};

struct replay {
	struct weftd_engine *e;
	struct replay_item *items;
	size_t n, cap, lost;
};

static int replay_one(const struct weftd_journal_job *jj, void *arg)
{
	struct replay *rp = arg;
	struct weftd_engine *e = rp->e;
	struct weftd_pipe *p = find_pipe(e, jj->pipeline);
	struct weftd_job *j;

	if (!p) {
		weftd_warn("journal: job %s: pipeline %s is gone: closed as lost", jj->id, jj->pipeline);
		weftd_journal_finish(e->jn, jj->id, WEFTD_JREC_LOST);
		rp->lost++;
		return 0;
	}
	if (rp->n == rp->cap) {
		size_t cap = rp->cap ? 2 * rp->cap : 64;
		struct replay_item *it = realloc(rp->items, cap * sizeof(*it));
		if (!it)
			goto nomem;
		rp->items = it;
		rp->cap = cap;
	}
	if (weftd_job_new(e->jobs, p->cfg->name, p, jj->payload, jj->payload_len, &j) < 0)
		goto nomem;
	/* the same id as before the restart: clients may be asking for it */
	snprintf(j->id, sizeof(j->id), "%s", jj->id);
	rp->items[rp->n++] = (struct replay_item){ j, p };
	return 0;
nomem:
	pipe_unref(p);
	return -ENOMEM;
}

static void replay_main(void *arg)
{
	struct replay *rp = arg;

	for (size_t i = 0; i < rp->n; i++) {
		struct replay_item *it = &rp->items[i];
		/* blocking: more jobs than the queue holds wait for room */
		if (enqueue(it->p, it->j, true) < 0)
			weftd_jobs_finish(rp->e->jobs, it->j, WEFTD_JOB_CANCELED, NULL, 0,
					  "canceled by shutdown");
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
	rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->e = e;
	r = weftd_journal_replay(e->jn, replay_one, rp);
	if (r < 0)
		weftd_err("journal replay: %s (%zu jobs resumed so far)", strerror(-r), rp->n);
	if (rp->lost)
		weftd_notice("journal: %zu unfinished jobs of removed pipelines closed as lost", rp->lost);
	/* in the table at once (status, wait, the drain count them); queued by a fiber */
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
		free(rp->items);
		free(rp);
		return -ENOMEM;
	}
	return n;
}

struct build_arg {
	struct weftd_engine *e;
	struct cfgref *cref;
	struct pipeset *old, *set;
	char *err;
	size_t errlen;
};

/* The new set: unchanged pipelines are the running ones, the others built anew (actors
 * resolve paths and dlopen: a weft_blocking thread). */
static int build_set(void *arg)
{
	struct build_arg *a = arg;
	const struct weftd_config *cfg = a->cref->cfg;
	struct pipeset *s = calloc(1, sizeof(*s));

	if (!s || !(s->pipes = calloc(cfg->npipelines, sizeof(*s->pipes)))) {
		free(s);
		snprintf(a->err, a->errlen, "out of memory");
		return -ENOMEM;
	}
	atomic_init(&s->refs, 1);
	for (size_t i = 0; i < cfg->npipelines; i++) {
		const struct weftd_pipeline *pc = &cfg->pipelines[i];
		struct weftd_pipe *old = set_find(a->old, pc->name);
		int r;
		if (old && weftd_pipeline_equal(old->cfg, pc)) {
			s->pipes[s->n++] = pipe_ref(old);
			continue;
		}
		r = pipe_new(a->e, a->cref, pc, &s->pipes[s->n], a->err, a->errlen);
		if (r < 0) {
			set_unref(s);
			return r;
		}
		s->n++;
	}
	a->set = s;
	return 0;
}

static bool in_set(struct pipeset *s, struct weftd_pipe *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->pipes[i] == p)
			return true;
	return false;
}

int weftd_engine_reload(struct weftd_engine *e, struct weftd_config *cfg,
			struct weftd_reload_stats *ret, char *err, size_t errlen)
{
	struct cfgref *cref = calloc(1, sizeof(*cref));
	struct cfgref **crefs = realloc(e->crefs, (e->ncrefs + 1) * sizeof(*crefs));
	struct build_arg a = { .e = e, .err = err, .errlen = errlen };
	struct weftd_reload_stats st = { 0 };
	int r;

	if (crefs)
		e->crefs = crefs;
	if (!cref || !crefs) {
		free(cref);
		weftd_config_free(cfg);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	atomic_init(&cref->refs, 1);
	cref->cfg = cfg;
	a.cref = cref;
	a.old = set_get(e);
	r = weft_blocking(build_set, &a);
	if (r < 0) {
		set_unref(a.old);
		cfgref_unref(cref);
		return r;
	}
	/* workers of the new pipelines first, so the swap publishes running pipelines */
	for (size_t i = 0; i < a.set->n; i++) {
		if (in_set(a.old, a.set->pipes[i])) {
			st.unchanged++;
			continue;
		}
		if (set_find(a.old, a.set->pipes[i]->cfg->name))
			st.changed++;
		else
			st.added++;
		r = pipe_start(a.set->pipes[i]);
		if (r < 0) {
			/* the started workers of this set end when its queues close */
			for (size_t k = 0; k < a.set->n; k++)
				if (!in_set(a.old, a.set->pipes[k]))
					weft_chan_close(a.set->pipes[k]->stages[0].q);
			set_unref(a.set);
			set_unref(a.old);
			cfgref_unref(cref);
			snprintf(err, errlen, "starting workers: %s", strerror(-r));
			return r;
		}
	}
	e->crefs[e->ncrefs++] = cref;
	atomic_fetch_add(&cref->refs, 1);
	weftd_spin_lock(&e->set_lock);
	struct pipeset *prev = e->set;
	struct cfgref *prev_cref = e->cref;
	e->set = a.set;
	e->cref = cref;
	weftd_spin_unlock(&e->set_lock);
	weftd_jobs_set_retention(e->jobs, cfg->daemon.retention.count, cfg->daemon.retention.age_ns);
	/* retired pipelines (changed or removed) drain: their in-flight jobs finish under the
	 * old settings, their workers end when the queues are empty */
	for (size_t i = 0; i < a.old->n; i++)
		if (!in_set(a.set, a.old->pipes[i])) {
			if (!set_find(a.set, a.old->pipes[i]->cfg->name))
				st.removed++;
			weft_chan_close(a.old->pipes[i]->stages[0].q);
		}
	set_unref(prev);
	set_unref(a.old);
	cfgref_unref(prev_cref);
	if (ret)
		*ret = st;
	return 0;
}

/* ---- introspection --------------------------------------------------------------- */

static void stage_stats_json(struct weftd_buf *b, struct weftd_stage_rt *s)
{
	struct hist_sum lat = { 0 };

	for (unsigned i = 0; i < STAT_SHARDS; i++)
		hist_sum_add(&lat, &s->st[i].lat);
	weftd_json_obj_begin(b, NULL);
	weftd_json_cstr(b, "name", s->cfg->name);
	weftd_json_i64(b, "queued", STAT_SUM(s->st, queued));
	weftd_json_i64(b, "running", STAT_SUM(s->st, running));
	weftd_json_u64(b, "done", (uint64_t)STAT_SUM(s->st, done));
	weftd_json_u64(b, "failed", (uint64_t)STAT_SUM(s->st, failed));
	weftd_json_u64(b, "retried", (uint64_t)STAT_SUM(s->st, retried));
	weftd_json_u64(b, "canceled", (uint64_t)STAT_SUM(s->st, canceled));
	weftd_json_i64(b, "retrying", STAT_SUM(s->st, retrying));
	weftd_json_u64(b, "timeouts", (uint64_t)STAT_SUM(s->st, timeouts));
	weftd_json_u64(b, "heartbeat_timeouts", (uint64_t)STAT_SUM(s->st, heartbeat_timeouts));
	weftd_json_u64(b, "workers", s->cfg->workers);
	weftd_json_u64(b, "queue_cap", s->cfg->queue);
	hist_json(b, "latency_us", &lat);
	weftd_json_obj_end(b);
}

int weftd_engine_stats_json(struct weftd_engine *e, struct weftd_buf *b, const char *pipeline)
{
	struct pipeset *s = set_get(e);
	struct weftd_jobs_counts c;

	if (pipeline && !set_find(s, pipeline)) {
		set_unref(s);
		return -ENOENT;
	}
	weftd_jobs_counts(e->jobs, &c);
	weftd_json_obj_begin(b, "jobs");
	weftd_json_u64(b, "table", c.total);
	weftd_json_u64(b, "finished_retained", c.finished);
	weftd_json_obj_end(b);
	weftd_json_obj_begin(b, "pipelines");
	for (size_t i = 0; i < s->n; i++) {
		struct weftd_pipe *p = s->pipes[i];
		if (pipeline && strcmp(pipeline, p->cfg->name) != 0)
			continue;
		struct hist_sum lat = { 0 };
		for (unsigned k = 0; k < STAT_SHARDS; k++)
			hist_sum_add(&lat, &p->st[k].lat);
		weftd_json_obj_begin(b, p->cfg->name);
		weftd_json_u64(b, "submitted", (uint64_t)STAT_SUM(p->st, submitted));
		weftd_json_u64(b, "done", (uint64_t)STAT_SUM(p->st, done));
		weftd_json_u64(b, "failed", (uint64_t)STAT_SUM(p->st, failed));
		weftd_json_u64(b, "canceled", (uint64_t)STAT_SUM(p->st, canceled));
		weftd_json_u64(b, "busy", (uint64_t)STAT_SUM(p->st, busy));
		hist_json(b, "latency_us", &lat);
		weftd_json_arr_begin(b, "stages");
		for (size_t k = 0; k < p->nstages; k++)
			stage_stats_json(b, &p->stages[k]);
		weftd_json_arr_end(b);
		weftd_json_obj_end(b);
	}
	weftd_json_obj_end(b);
	set_unref(s);
	return 0;
}

void weftd_runtime_json(struct weftd_buf *b, unsigned connections)
{
	struct weft_sched_stats st;
	if (weft_sched_stats(&st) < 0)
		return;
	weftd_json_obj_begin(b, "runtime");
	weftd_json_u64(b, "procs", (uint64_t)weft_nprocs());
	weftd_json_u64(b, "connections", connections);
	weftd_json_u64(b, "fibers", st.fibers_live);
	weftd_json_u64(b, "fibers_spawned", st.fibers_spawned);
	weftd_json_u64(b, "switches", st.switches);
	weftd_json_u64(b, "steals", st.steals);
	weftd_json_u64(b, "parks", st.parks);
	weftd_json_u64(b, "naps", st.naps);
	weftd_json_u64(b, "wakeups", st.wakeups_msg_ring + st.wakeups_eventfd);
	weftd_json_u64(b, "io_submitted", st.io_submitted);
	weftd_json_u64(b, "io_completed", st.io_completed);
	weftd_json_obj_end(b);
}

static void stage_cfg_json(struct weftd_buf *b, const struct weftd_stage *c)
{
	static const char *const jitter[] = { "none", "full", "equal" };

	weftd_json_obj_begin(b, NULL);
	weftd_json_cstr(b, "name", c->name);
	switch (c->action) {
	case WEFTD_ACTION_EXEC:
		weftd_json_arr_begin(b, "exec");
		for (size_t i = 0; i < c->argc; i++)
			weftd_json_cstr(b, NULL, c->argv[i]);
		weftd_json_arr_end(b);
		break;
	case WEFTD_ACTION_BUILTIN:
		weftd_json_cstr(b, "builtin", c->builtin);
		break;
	case WEFTD_ACTION_PLUGIN:
		weftd_json_obj_begin(b, "plugin");
		weftd_json_cstr(b, "path", c->plugin_path);
		weftd_json_cstr(b, "symbol", c->plugin_symbol);
		weftd_json_obj_end(b);
		break;
	}
	if (c->nparams) {
		weftd_json_obj_begin(b, "params");
		for (size_t i = 0; i < c->nparams; i++)
			weftd_json_cstr(b, c->params[i].key, c->params[i].value);
		weftd_json_obj_end(b);
	}
	weftd_json_u64(b, "workers", c->workers);
	weftd_json_u64(b, "queue", c->queue);
	weftd_json_u64(b, "timeout_ms", c->timeout_ns / 1000000);
	weftd_json_obj_begin(b, "retry");
	weftd_json_u64(b, "attempts", c->retry.attempts);
	weftd_json_u64(b, "initial_ms", c->retry.initial_ns / 1000000);
	weftd_json_u64(b, "max_ms", c->retry.max_ns / 1000000);
	weftd_json_double(b, "multiplier", c->retry.multiplier);
	weftd_json_cstr(b, "jitter", jitter[c->retry.jitter]);
	weftd_json_obj_end(b);
	if (c->rate_limit.count) {
		weftd_json_obj_begin(b, "rate_limit");
		weftd_json_u64(b, "count", c->rate_limit.count);
		weftd_json_u64(b, "per_ms", c->rate_limit.per_ns / 1000000);
		weftd_json_u64(b, "burst", c->rate_limit.burst);
		weftd_json_obj_end(b);
	}
	weftd_json_obj_end(b);
}

void weftd_engine_pipelines_json(struct weftd_engine *e, struct weftd_buf *b)
{
	struct pipeset *s = set_get(e);

	weftd_json_arr_begin(b, "pipelines");
	for (size_t i = 0; i < s->n; i++) {
		const struct weftd_pipeline *p = s->pipes[i]->cfg;
		weftd_json_obj_begin(b, NULL);
		weftd_json_cstr(b, "name", p->name);
		weftd_json_arr_begin(b, "stages");
		for (size_t k = 0; k < p->nstages; k++)
			stage_cfg_json(b, &p->stages[k]);
		weftd_json_arr_end(b);
		weftd_json_obj_end(b);
	}
	weftd_json_arr_end(b);
	set_unref(s);
}

void weftd_engine_load(struct weftd_engine *e, struct weftd_engine_load *ret)
{
	struct pipeset *s = set_get(e);

	*ret = (struct weftd_engine_load){ 0 };
	for (size_t i = 0; i < s->n; i++)
		for (size_t k = 0; k < s->pipes[i]->nstages; k++) {
			struct weftd_stage_rt *st = &s->pipes[i]->stages[k];
			ret->queued += (uint64_t)STAT_SUM(st->st, queued);
			ret->running += (uint64_t)STAT_SUM(st->st, running);
			ret->retrying += (uint64_t)STAT_SUM(st->st, retrying);
		}
	set_unref(s);
}

void weftd_engine_foreach_worker(struct weftd_engine *e,
				 void (*fn)(const struct weftd_worker_info *w, void *arg), void *arg)
{
	struct pipeset *s = set_get(e);

	for (size_t i = 0; i < s->n; i++)
		for (size_t k = 0; k < s->pipes[i]->nstages; k++) {
			struct weftd_stage_rt *st = &s->pipes[i]->stages[k];
			for (uint32_t n = 0; n < st->cfg->workers; n++) {
				struct weftd_worker_info wi = {
					.pipeline = s->pipes[i]->cfg->name, .stage = st->cfg->name,
					.index = n, .last_beat_ns = atomic_load(&st->workers[n].beat_ns),
					.busy = atomic_load(&st->workers[n].busy),
				};
				fn(&wi, arg);
			}
		}
	set_unref(s);
}
