/* SPDX-License-Identifier: MIT */
/* metrics.c — the daemon's figures as Prometheus families (see metrics.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/metrics.h"
#include "proto/json.h"
#include "proto/reply.h"

/* ---- the pipelines, copied out first: a family's samples must stay together, and the
 * engine hands out one pipeline's figures at a time ---------------------------------- */

struct pipe_copy {
	struct weftd_pipeline_figures f;
	struct weftd_stage_figures *stages; /* f.stages points here */
};

struct copies {
	struct pipe_copy *p;
	size_t n, cap;
	int err;
};

static void copy_pipe(const struct weftd_pipeline_figures *f, void *arg)
{
	struct copies *c = arg;
	struct pipe_copy *p;

	if (c->err)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8;
		struct pipe_copy *np = realloc(c->p, cap * sizeof(*np));
		if (!np) {
			c->err = -ENOMEM;
			return;
		}
		c->p = np;
		c->cap = cap;
	}
	p = &c->p[c->n];
	p->f = *f;
	p->stages = malloc((f->nstages ? f->nstages : 1) * sizeof(*p->stages));
	if (!p->stages) {
		c->err = -ENOMEM;
		return;
	}
	memcpy(p->stages, f->stages, f->nstages * sizeof(*p->stages));
	p->f.stages = p->stages;
	c->n++;
}

static void copies_free(struct copies *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->p[i].stages);
	free(c->p);
}

/* ---- tables of families ----------------------------------------------------------- */

enum kind { U64, I64 };

struct pfam {
	const char *name, *type, *help;
	enum kind kind;
	size_t off;                /* in struct weftd_pipeline_figures */
};

#define PF(f) offsetof(struct weftd_pipeline_figures, f)
static const struct pfam pipe_fams[] = {
	{ "weftd_pipeline_jobs_submitted_total", "counter", "Jobs accepted by the pipeline (submits and replays).", U64, PF(submitted) },
	{ "weftd_pipeline_jobs_done_total", "counter", "Jobs that went through every stage.", U64, PF(done) },
	{ "weftd_pipeline_jobs_dead_lettered_total", "counter", "Jobs that failed for good (dead letters: state failed).", U64, PF(failed) },
	{ "weftd_pipeline_jobs_canceled_total", "counter", "Jobs canceled (by a client, or at shutdown).", U64, PF(canceled) },
	{ "weftd_pipeline_jobs_rejected_busy_total", "counter", "Submits refused because the first stage's queue was full.", U64, PF(busy) },
	{ "weftd_pipeline_jobs_scheduled", "gauge", "Jobs waiting for their due time.", I64, PF(scheduled) },
};

#define SF(f) offsetof(struct weftd_stage_figures, f)
static const struct pfam stage_fams[] = {
	{ "weftd_stage_jobs_done_total", "counter", "Jobs that completed the stage.", U64, SF(done) },
	{ "weftd_stage_attempts_retried_total", "counter", "Failed attempts followed by another attempt.", U64, SF(retried) },
	{ "weftd_stage_jobs_dead_lettered_total", "counter", "Jobs whose last attempt failed at this stage (dead letters).", U64, SF(failed) },
	{ "weftd_stage_jobs_canceled_total", "counter", "Jobs canceled while at this stage.", U64, SF(canceled) },
	{ "weftd_stage_attempt_timeouts_total", "counter", "Attempts that ran past the stage's timeout.", U64, SF(timeouts) },
	{ "weftd_stage_heartbeat_timeouts_total", "counter", "Attempts cancelled for a lost heartbeat.", U64, SF(heartbeat_timeouts) },
	{ "weftd_stage_jobs_queued", "gauge", "Jobs in the stage's queue.", I64, SF(queued) },
	{ "weftd_stage_jobs_running", "gauge", "Attempts running now.", I64, SF(running) },
	{ "weftd_stage_jobs_retrying", "gauge", "Jobs waiting for their next attempt (backoff).", I64, SF(retrying) },
};

static void value(struct weftd_buf *b, const struct pfam *f, const void *obj,
		  const struct weftd_expo_label *l, size_t nl)
{
	const char *p = (const char *)obj + f->off;

	if (f->kind == U64)
		weftd_expo_u64(b, f->name, NULL, l, nl, *(const uint64_t *)p);
	else
		weftd_expo_i64(b, f->name, NULL, l, nl, *(const int64_t *)p);
}

void weftd_metrics_latency(struct weftd_buf *b, const char *name,
			   const struct weftd_expo_label *l, size_t nl, const struct weftd_latency *lat)
{
	enum { N = WEFTD_LATENCY_BUCKETS / 2 };
	double le[N];
	uint64_t counts[N];

	for (unsigned k = 0; k < N; k++) {
		unsigned i = 2 * k;
		le[k] = (double)(1ull << i) * 1e-6;
		counts[k] = lat->buckets[i] + (i ? lat->buckets[i - 1] : 0);
	}
	weftd_expo_histogram(b, name, l, nl, le, counts, N, (double)lat->sum * 1e-6, lat->count);
}

static void pipelines(struct weftd_buf *b, const struct copies *c)
{
	for (size_t k = 0; k < sizeof(pipe_fams) / sizeof(pipe_fams[0]); k++) {
		weftd_expo_family(b, pipe_fams[k].name, pipe_fams[k].type, pipe_fams[k].help);
		for (size_t i = 0; i < c->n; i++)
			value(b, &pipe_fams[k], &c->p[i].f,
			      &(struct weftd_expo_label){ "pipeline", c->p[i].f.cfg->name }, 1);
	}
	weftd_expo_family(b, "weftd_pipeline_paused", "gauge", "1 while the pipeline is paused (weftctl pause).");
	for (size_t i = 0; i < c->n; i++)
		weftd_expo_u64(b, "weftd_pipeline_paused", NULL,
			       &(struct weftd_expo_label){ "pipeline", c->p[i].f.cfg->name }, 1,
			       c->p[i].f.paused);
	weftd_expo_family(b, "weftd_pipeline_job_duration_seconds", "histogram",
			  "Time from submit to done of the jobs that completed.");
	for (size_t i = 0; i < c->n; i++)
		weftd_metrics_latency(b, "weftd_pipeline_job_duration_seconds",
				      &(struct weftd_expo_label){ "pipeline", c->p[i].f.cfg->name }, 1,
				      &c->p[i].f.latency_us);
}

/* fn(stage, its labels) for every stage of every pipeline. */
#define EACH_STAGE(c, s, l, body)                                                            \
	for (size_t i_ = 0; i_ < (c)->n; i_++)                                                \
		for (size_t k_ = 0; k_ < (c)->p[i_].f.nstages; k_++) {                        \
			const struct weftd_stage_figures *s = &(c)->p[i_].f.stages[k_];       \
			const struct weftd_expo_label l[2] = {                                \
				{ "pipeline", (c)->p[i_].f.cfg->name }, { "stage", s->cfg->name } \
			};                                                                    \
			body;                                                                 \
		}

static void stages(struct weftd_buf *b, const struct copies *c)
{
	for (size_t k = 0; k < sizeof(stage_fams) / sizeof(stage_fams[0]); k++) {
		weftd_expo_family(b, stage_fams[k].name, stage_fams[k].type, stage_fams[k].help);
		EACH_STAGE(c, s, l, value(b, &stage_fams[k], s, l, 2));
	}
	weftd_expo_family(b, "weftd_stage_attempts_failed_total", "counter",
			  "Failed attempts (retried or dead-lettered; a cancel is not a failure).");
	EACH_STAGE(c, s, l, weftd_expo_u64(b, "weftd_stage_attempts_failed_total", NULL, l, 2,
					   s->retried + s->failed));
	weftd_expo_family(b, "weftd_stage_workers", "gauge", "The stage's worker pool size (config).");
	EACH_STAGE(c, s, l, weftd_expo_u64(b, "weftd_stage_workers", NULL, l, 2, s->cfg->workers));
	weftd_expo_family(b, "weftd_stage_queue_capacity", "gauge", "The stage's queue bound (config).");
	EACH_STAGE(c, s, l, weftd_expo_u64(b, "weftd_stage_queue_capacity", NULL, l, 2, s->cfg->queue));
	weftd_expo_family(b, "weftd_stage_attempt_duration_seconds", "histogram",
			  "Duration of the stage's successful attempts.");
	EACH_STAGE(c, s, l, weftd_metrics_latency(b, "weftd_stage_attempt_duration_seconds", l, 2,
						  &s->latency_us));
}

/* ---- the daemon, the journal, the runtime ------------------------------------------ */

static void gauge(struct weftd_buf *b, const char *name, const char *help, uint64_t v)
{
	weftd_expo_family(b, name, "gauge", help);
	weftd_expo_u64(b, name, NULL, NULL, 0, v);
}

static void counter(struct weftd_buf *b, const char *name, const char *help, uint64_t v)
{
	weftd_expo_family(b, name, "counter", help);
	weftd_expo_u64(b, name, NULL, NULL, 0, v);
}

static void daemon_figures(struct weftd_buf *b, const struct weftd_metrics_src *src)
{
	struct weftd_jobs_counts jc;

	weftd_expo_family(b, "weftd_build_info", "gauge", "Always 1; the version as a label.");
	weftd_expo_u64(b, "weftd_build_info", NULL, &(struct weftd_expo_label){ "version", WEFT_VERSION },
		       1, 1);
	gauge(b, "weftd_intake_open", "1 while submits are accepted, 0 while draining.",
	      weftd_engine_intake_open(src->e));
	if (src->connections)
		gauge(b, "weftd_connections", "Open connections on the protocol socket.",
		      src->connections(src->arg));
	weftd_jobs_counts(weftd_engine_jobs(src->e), &jc);
	gauge(b, "weftd_jobs_in_table", "Jobs in the job table (live and retained).", jc.total);
	gauge(b, "weftd_jobs_retained", "Finished jobs retained for status and wait.", jc.finished);
	gauge(b, "weftd_jobs_retained_bytes", "Outputs and logs of the retained jobs.", jc.finished_bytes);
}

static void journal(struct weftd_buf *b, struct weftd_journal *jn)
{
	struct weftd_journal_stats st;

	if (!jn)
		return;
	weftd_journal_stats(jn, &st);
	counter(b, "weftd_journal_fsyncs_total", "fdatasync calls on the journal.", st.fsyncs);
	counter(b, "weftd_journal_written_bytes_total", "Bytes the group commits wrote.", st.bytes_written);
	weftd_expo_family(b, "weftd_journal_commit_records", "summary",
			  "Records per group commit (_sum records over _count commits).");
	weftd_expo_u64(b, "weftd_journal_commit_records", "_sum", NULL, 0, st.batch_records);
	weftd_expo_u64(b, "weftd_journal_commit_records", "_count", NULL, 0, st.batches);
	counter(b, "weftd_journal_write_errors_total", "Failed writes or syncs (the journal then retries).", st.write_errors);
	counter(b, "weftd_journal_compactions_total", "Rewrites of the live set.", st.compactions);
	gauge(b, "weftd_journal_file_bytes", "Size of the journal file.", st.file_bytes);
	gauge(b, "weftd_journal_live_jobs", "Unfinished jobs in the journal.", st.live);
}

static void runtime(struct weftd_buf *b)
{
	struct weft_sched_stats st;
	int n = weft_nprocs();

	if (n < 0 || weft_sched_stats(&st) < 0)
		return;
	gauge(b, "weft_procs", "Scheduler threads (procs).", (uint64_t)n);
	gauge(b, "weft_fibers", "Live fibers.", st.fibers_live);
	counter(b, "weft_fibers_spawned_total", "Fibers spawned.", st.fibers_spawned);
	counter(b, "weft_switches_total", "Fiber switches.", st.switches);
	counter(b, "weft_steals_total", "Fibers moved by work stealing.", st.steals);
	counter(b, "weft_parks_total", "Times a proc went to sleep in its ring.", st.parks);
	counter(b, "weft_naps_total", "Times an idle proc waited briefly for a backlog to steal.", st.naps);
	weftd_expo_family(b, "weft_wakeups_total", "counter", "Cross-proc wake-ups, by the way they were sent.");
	weftd_expo_u64(b, "weft_wakeups_total", NULL, &(struct weftd_expo_label){ "via", "msg_ring" }, 1,
		       st.wakeups_msg_ring);
	weftd_expo_u64(b, "weft_wakeups_total", NULL, &(struct weftd_expo_label){ "via", "eventfd" }, 1,
		       st.wakeups_eventfd);
	counter(b, "weft_ring_submissions_total", "io_uring submissions (SQEs) over all procs.", st.io_submitted);
	counter(b, "weft_ring_completions_total", "io_uring completions (CQEs) over all procs.", st.io_completed);
	weftd_expo_family(b, "weft_proc_cpu_seconds_total", "counter",
			  "CPU time of each proc's thread (its rate is the proc's utilisation).");
	for (int i = 0; i < n; i++) {
		struct weft_proc_stats ps;
		char id[16];
		if (weft_proc_stats((unsigned)i, &ps) < 0)
			continue;
		snprintf(id, sizeof(id), "%d", i);
		weftd_expo_f64(b, "weft_proc_cpu_seconds_total", NULL,
			       &(struct weftd_expo_label){ "proc", id }, 1, (double)ps.cpu_ns * 1e-9);
	}
}

int weftd_metrics_write(struct weftd_buf *b, const struct weftd_metrics_src *src)
{
	struct copies c = { 0 };
	int r = weftd_engine_figures(src->e, NULL, copy_pipe, &c);

	if (r == 0)
		r = c.err;
	if (r == 0) {
		pipelines(b, &c);
		stages(b, &c);
		daemon_figures(b, src);
		journal(b, src->jn);
		runtime(b);
		weftd_metrics_process(b);
		r = b->err;
	}
	copies_free(&c);
	return r;
}

int weftd_metrics_answer(void *arg, const char *id, struct weftd_buf *out, char *err, size_t errlen)
{
	struct weftd_buf text;
	int r;

	weftd_buf_init(&text, NULL, 0);
	r = weftd_metrics_write(&text, arg);
	if (r == 0) {
		weftd_resp_begin(out, id);
		weftd_json_str(out, "text", text.data ? text.data : "", text.len);
		weftd_resp_end(out);
		r = out->err;
	}
	weftd_buf_done(&text);
	return r;
}
