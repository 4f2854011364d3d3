/* SPDX-License-Identifier: MIT */
/* render_job.h — jobs as the protocol shows them (the job object of PROTOCOL.md), written
 * from the job module's snapshots. The only place a job becomes JSON. */
#ifndef WEFTD_RENDER_JOB_H
#define WEFTD_RENDER_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "jobs/jobs.h"
#include "proto/buf.h"

/* Write j as member key of the open object, or as an array element when key is NULL.
 * Takes j's lock while writing (never parks). Errors are b's (b->err). */
void weftd_job_json(struct weftd_buf *b, const char *key, struct weftd_job *j);
/* The same, with its submitted payload when payload (status "payload": true). */
void weftd_job_json_payload(struct weftd_buf *b, const char *key, struct weftd_job *j, bool payload);

/* j as an array element of a listing: its output only with outputs (list's merge of
 * local and broker jobs, broker_list.c). */
void weftd_job_json_listed(struct weftd_buf *b, struct weftd_job *j, bool outputs);

/* Write up to limit jobs of t, newest first, filtered by pipeline (NULL: any), owner
 * (WEFTD_JOB_NO_OWNER: any) and state (when has_state), as the array member key; their
 * outputs only with outputs. Yields between jobs (a fiber: others run while a long answer
 * is written). -ENOMEM, or -E2BIG past b's limit, lands in b->err. */
void weftd_jobs_list_json(struct weftd_jobs *t, struct weftd_buf *b, const char *key,
			  const char *pipeline, uid_t owner, bool has_state, enum weftd_job_state state,
			  uint32_t limit, bool outputs);

#endif
