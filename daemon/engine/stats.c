/* SPDX-License-Identifier: MIT */
/* stats.c — the counters read out as plain figures: histograms' quantiles, the per-proc
 * copies added up (see engine.h, engine_impl.h). Rendering them is the server's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"

/* ---- histograms ------------------------------------------------------------------ */

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

static void latency(struct weftd_latency *ret, const struct hist_sum *h)
{
	_Static_assert(HIST_BUCKETS == WEFTD_LATENCY_BUCKETS, "one histogram layout");
	*ret = (struct weftd_latency){
		.count = h->n, .p50 = hist_quantile(h, 0.50), .p99 = hist_quantile(h, 0.99),
		.mean = h->n ? h->sum_us / h->n : 0, .max = h->max_us, .sum = h->sum_us,
	};
	memcpy(ret->buckets, h->b, sizeof(ret->buckets));
}

/* ---- figures ---------------------------------------------------------------------- */

static void stage_figures(struct weftd_stage_figures *f, struct weftd_stage_rt *s)
{
	struct hist_sum lat = { 0 };

	for (unsigned i = 0; i < STAT_SHARDS; i++)
		hist_sum_add(&lat, &s->st[i].lat);
	*f = (struct weftd_stage_figures){
		.cfg = s->cfg,
		.queued = STAT_SUM(s->st, queued),
		.running = STAT_SUM(s->st, running),
		.retrying = STAT_SUM(s->st, retrying) + (int64_t)atomic_load(&s->retry_held),
		.done = (uint64_t)STAT_SUM(s->st, done),
		.failed = (uint64_t)STAT_SUM(s->st, failed),
		.retried = (uint64_t)STAT_SUM(s->st, retried),
		.canceled = (uint64_t)STAT_SUM(s->st, canceled),
		.timeouts = (uint64_t)STAT_SUM(s->st, timeouts),
		.heartbeat_timeouts = (uint64_t)STAT_SUM(s->st, heartbeat_timeouts),
	};
	latency(&f->latency_us, &lat);
}

static void pipe_figures(struct weftd_pipeline_figures *f, struct weftd_pipe *p,
			 struct weftd_stage_figures *stages)
{
	struct hist_sum lat = { 0 };

	for (unsigned k = 0; k < STAT_SHARDS; k++)
		hist_sum_add(&lat, &p->st[k].lat);
	*f = (struct weftd_pipeline_figures){
		.cfg = p->cfg,
		.paused = p->store->paused(p->sst),
		.scheduled = (int64_t)eng_sched_len(p->sched),
		.submitted = (uint64_t)STAT_SUM(p->st, submitted),
		.done = (uint64_t)STAT_SUM(p->st, done),
		.failed = (uint64_t)STAT_SUM(p->st, failed),
		.canceled = (uint64_t)STAT_SUM(p->st, canceled),
		.expired = (uint64_t)STAT_SUM(p->st, expired),
		.busy = (uint64_t)STAT_SUM(p->st, busy),
		.nstages = p->nstages,
		.stages = stages,
	};
	latency(&f->latency_us, &lat);
	for (size_t k = 0; k < p->nstages; k++) /* the schedule's retries are the stages' */
		f->scheduled -= (int64_t)atomic_load(&p->stages[k].retry_held);
	if (f->scheduled < 0)
		f->scheduled = 0;
	for (size_t k = 0; k < p->nstages; k++)
		stage_figures(&stages[k], &p->stages[k]);
}

int weftd_engine_figures(struct weftd_engine *e, const char *pipeline,
			 void (*fn)(const struct weftd_pipeline_figures *p, void *arg), void *arg)
{
	struct pipeset *s = eng_set_get(e);
	struct weftd_stage_figures *stages;
	size_t most = 0;

	if (pipeline && !eng_set_find(s, pipeline)) {
		eng_set_unref(s);
		return -ENOENT;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->pipes[i]->nstages > most)
			most = s->pipes[i]->nstages;
	stages = calloc(most ? most : 1, sizeof(*stages));
	if (!stages) {
		eng_set_unref(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++) {
		struct weftd_pipeline_figures f;
		if (pipeline && strcmp(pipeline, s->pipes[i]->cfg->name) != 0)
			continue;
		pipe_figures(&f, s->pipes[i], stages);
		fn(&f, arg);
	}
	free(stages);
	eng_set_unref(s);
	return 0;
}

void weftd_engine_pipelines(struct weftd_engine *e,
			    void (*fn)(const struct weftd_pipeline *cfg, void *arg), void *arg)
{
	struct pipeset *s = eng_set_get(e);

	for (size_t i = 0; i < s->n; i++)
		fn(s->pipes[i]->cfg, arg);
	eng_set_unref(s);
}

void weftd_engine_load(struct weftd_engine *e, struct weftd_engine_load *ret)
{
	struct pipeset *s = eng_set_get(e);

	*ret = (struct weftd_engine_load){ 0 };
	for (size_t i = 0; i < s->n; i++)
		for (size_t k = 0; k < s->pipes[i]->nstages; k++) {
			struct weftd_stage_rt *st = &s->pipes[i]->stages[k];
			ret->queued += (uint64_t)STAT_SUM(st->st, queued);
			ret->running += (uint64_t)STAT_SUM(st->st, running);
			ret->retrying += (uint64_t)STAT_SUM(st->st, retrying) +
					 atomic_load(&st->retry_held);
		}
	eng_set_unref(s);
}
