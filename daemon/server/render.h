/* SPDX-License-Identifier: MIT */
/* render.h — the engine's and the runtime's figures as protocol JSON (PROTOCOL.md: the
 * stats and pipelines ops), written with proto's writer. The job objects are the job
 * module's (weftd_job_json). */
#ifndef WEFTD_RENDER_H
#define WEFTD_RENDER_H

#include "engine/engine.h"
#include "proto/buf.h"

/* Append "jobs":{table, finished_retained},"pipelines":{name:{counters, latency_us,
 * "stages":[...]}} (only `pipeline` when non-NULL). Returns 0; -ENOENT when pipeline names
 * none or -ENOMEM, b as it was. Never parks. */
int weftd_render_stats(struct weftd_buf *b, struct weftd_engine *e, const char *pipeline);
/* Append "runtime": the scheduler's counters (procs, fibers, switches, steals, parks,
 * naps, wake-ups, I/O), each proc's CPU time (proc_cpu_ns) and the open connections: what an operator looks at when the
 * pipeline figures do not add up. Nothing when the scheduler does not run. */
void weftd_render_runtime(struct weftd_buf *b, unsigned connections);
/* Append "pipelines":[{name, stages:[{settings}]}]: the running configuration. Never
 * parks. */
void weftd_render_pipelines(struct weftd_buf *b, struct weftd_engine *e);

#endif
