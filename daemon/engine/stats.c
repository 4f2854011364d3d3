/* stats.c — the counters' read-out: histograms, sums over the shards (see engine.h, engine_impl.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
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
	struct pipeset *s = eng_set_get(e);
	struct weftd_jobs_counts c;

	if (pipeline && !eng_set_find(s, pipeline)) {
		eng_set_unref(s);
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
	eng_set_unref(s);
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
	struct pipeset *s = eng_set_get(e);

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
			ret->retrying += (uint64_t)STAT_SUM(st->st, retrying);
		}
	eng_set_unref(s);
}
