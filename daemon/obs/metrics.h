/* SPDX-License-Identifier: MIT */
/* metrics.h — everything weftd counts, as Prometheus text (expo.h): what GET /metrics
 * (http.h) and the `metrics` op (PROTOCOL.md) answer, the same bytes both ways.
 *
 * Families (README "Observability" lists them with their meaning):
 *   weftd_pipeline_*{pipeline}      jobs submitted, done, dead-lettered, canceled,
 *                                   rejected busy (counters); scheduled, paused (gauges);
 *                                   end-to-end latency (histogram, seconds)
 *   weftd_stage_*{pipeline,stage}   jobs done, attempts failed and retried, dead letters,
 *                                   canceled, timeouts, heartbeat timeouts (counters);
 *                                   queued, running, retrying, workers, queue capacity
 *                                   (gauges); attempt latency (histogram, seconds)
 *   weftd_journal_*                 fsyncs, bytes, records per group commit (a summary:
 *                                   _sum records over _count commits, no quantiles), errors
 *   weftd_* daemon                  intake open, connections, jobs in the table, build info
 *   weft_*                          the runtime (weft_sched_stats): procs, fibers, switches,
 *                                   steals, parks, naps, wake-ups, ring submissions and
 *                                   completions, per-proc CPU time
 *   process_*                       the standard process collector's names (process.c)
 *
 * Every figure is read from the per-proc copies with relaxed loads while jobs run (the
 * engine's figures, the scheduler's stats): a scrape stops nothing and takes no lock a job
 * needs, except the journal's counters, copied under its spinlock (a few words, as briefly
 * as an accept holds it). Counters are monotonic between restarts; a reloaded pipeline that
 * changed starts its counters again (Prometheus' rate() treats that as a reset). */
#ifndef WEFTD_OBS_METRICS_H
#define WEFTD_OBS_METRICS_H

#include "engine/engine.h"
#include "jobs/journal.h"
#include "obs/expo.h"
#include "proto/buf.h"

/* What a scrape reads. */
struct weftd_metrics_src {
	struct weftd_engine *e;
	struct weftd_journal *jn;                 /* NULL: durability none */
	unsigned (*connections)(void *arg);       /* open protocol connections; NULL: none */
	void *arg;
};

/* Append the whole exposition to b. Returns 0, or -ENOMEM (b->err set). Fiber only (it
 * reads the scheduler's stats); never parks; reads a few /proc files of this process. */
int weftd_metrics_write(struct weftd_buf *b, const struct weftd_metrics_src *src);

/* The `metrics` op (PROTOCOL.md): {"id":..,"ok":true,"text":"<the exposition>"} for
 * request id into out. arg: a struct weftd_metrics_src kept by the caller. The signature
 * of server.h's weftd_op_handler (registered with weftd_server_set_handler). Returns 0 or
 * -ENOMEM. Fiber only; never parks. */
int weftd_metrics_answer(void *arg, const char *id, struct weftd_buf *out, char *err, size_t errlen);

/* The process_* families (the names of Prometheus' process collector): CPU seconds,
 * resident and virtual memory, open and max fds, start time. From /proc/self; what cannot
 * be read is left out. process.c */
void weftd_metrics_process(struct weftd_buf *b);

/* The latency buckets (engine.h: WEFTD_LATENCY_BUCKETS of powers of two microseconds) as a
 * Prometheus histogram in seconds: every other power of two (1us, 4us, ... 2^38 us) as an
 * le bound, exact because the engine's buckets nest in them; the last bucket (open-ended)
 * only in +Inf. */
void weftd_metrics_latency(struct weftd_buf *b, const char *name,
			   const struct weftd_expo_label *l, size_t nl, const struct weftd_latency *lat);

#endif
