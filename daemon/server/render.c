/* SPDX-License-Identifier: MIT */
/* render.c — figures as protocol JSON (see render.h). */
#include <errno.h>
#include <string.h>

#include "proto/json.h"
#include "server/render.h"

static void latency_json(struct weftd_buf *b, const char *key, const struct weftd_latency *l)
{
	weftd_json_obj_begin(b, key);
	weftd_json_u64(b, "count", l->count);
	weftd_json_u64(b, "p50", l->p50);
	weftd_json_u64(b, "p99", l->p99);
	weftd_json_u64(b, "mean", l->mean);
	weftd_json_u64(b, "max", l->max);
	weftd_json_obj_end(b);
}

static void stage_stats_json(struct weftd_buf *b, const struct weftd_stage_figures *s)
{
	weftd_json_obj_begin(b, NULL);
	weftd_json_cstr(b, "name", s->cfg->name);
	weftd_json_i64(b, "queued", s->queued);
	weftd_json_i64(b, "running", s->running);
	weftd_json_u64(b, "done", s->done);
	weftd_json_u64(b, "failed", s->failed);
	weftd_json_u64(b, "retried", s->retried);
	weftd_json_u64(b, "canceled", s->canceled);
	weftd_json_i64(b, "retrying", s->retrying);
	weftd_json_u64(b, "timeouts", s->timeouts);
	weftd_json_u64(b, "heartbeat_timeouts", s->heartbeat_timeouts);
	weftd_json_u64(b, "workers", s->cfg->workers);
	weftd_json_u64(b, "queue_cap", s->cfg->queue);
	latency_json(b, "latency_us", &s->latency_us);
	weftd_json_obj_end(b);
}

static void pipe_stats_json(const struct weftd_pipeline_figures *p, void *arg)
{
	struct weftd_buf *b = arg;

	weftd_json_obj_begin(b, p->cfg->name);
	weftd_json_bool(b, "paused", p->paused);
	weftd_json_i64(b, "scheduled", p->scheduled);
	weftd_json_u64(b, "submitted", p->submitted);
	weftd_json_u64(b, "done", p->done);
	weftd_json_u64(b, "failed", p->failed);
	weftd_json_u64(b, "canceled", p->canceled);
	weftd_json_u64(b, "expired", p->expired);
	weftd_json_u64(b, "busy", p->busy);
	latency_json(b, "latency_us", &p->latency_us);
	weftd_json_arr_begin(b, "stages");
	for (size_t k = 0; k < p->nstages; k++)
		stage_stats_json(b, &p->stages[k]);
	weftd_json_arr_end(b);
	weftd_json_obj_end(b);
}

int weftd_render_stats(struct weftd_buf *b, struct weftd_engine *e, const char *pipeline)
{
	struct weftd_jobs_counts c;
	size_t mark = b->len;
	int r;

	weftd_jobs_counts(weftd_engine_jobs(e), &c);
	weftd_json_cstr(b, "intake", weftd_engine_intake_open(e) ? "open" : "draining");
	weftd_json_obj_begin(b, "jobs");
	weftd_json_u64(b, "table", c.total);
	weftd_json_u64(b, "finished_retained", c.finished);
	weftd_json_u64(b, "finished_bytes", c.finished_bytes);
	weftd_json_obj_end(b);
	weftd_json_obj_begin(b, "pipelines");
	r = weftd_engine_figures(e, pipeline, pipe_stats_json, b);
	weftd_json_obj_end(b);
	if (r < 0)
		b->len = mark;
	return r;
}

void weftd_render_runtime(struct weftd_buf *b, unsigned connections)
{
	struct weft_sched_stats st;
	struct weft_features ft;
	if (weft_sched_stats(&st) < 0 || weft_features(&ft) < 0)
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
	/* per proc: its thread's CPU time, whose rate is its utilisation (weftctl top) */
	weftd_json_arr_begin(b, "proc_cpu_ns");
	for (int i = 0; i < weft_nprocs(); i++) {
		struct weft_proc_stats ps = { 0 };
		weft_proc_stats((unsigned)i, &ps);
		weftd_json_u64(b, NULL, ps.cpu_ns);
	}
	weftd_json_arr_end(b);
	weftd_json_obj_end(b);
	weftd_json_cstr(b, "backend", weft_backend_name(ft.backend));
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

static void pipe_cfg_json(const struct weftd_pipeline_figures *f, void *arg)
{
	const struct weftd_pipeline *p = f->cfg;
	struct weftd_buf *b = arg;

	weftd_json_obj_begin(b, NULL);
	weftd_json_cstr(b, "name", p->name);
	weftd_json_bool(b, "paused", f->paused);
	weftd_json_arr_begin(b, "stages");
	for (size_t k = 0; k < p->nstages; k++)
		stage_cfg_json(b, &p->stages[k]);
	weftd_json_arr_end(b);
	weftd_json_obj_end(b);
}

void weftd_render_pipelines(struct weftd_buf *b, struct weftd_engine *e)
{
	weftd_json_arr_begin(b, "pipelines");
	/* the figures carry the run-time state (paused) with each pipeline's settings */
	int r = weftd_engine_figures(e, NULL, pipe_cfg_json, b);
	if (r < 0 && !b->err)
		b->err = r;
	weftd_json_arr_end(b);
}
