/* SPDX-License-Identifier: MIT */
/* steer.c — the operator's controls (PROTOCOL.md): pause and resume a pipeline, re-drive
 * and purge dead letters. The engine does the work (engine.h); this file only picks the
 * jobs a peer may touch and answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "proto/request.h"
#include "server/server_impl.h"

void srv_op_pause(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	bool paused = req->op == WEFTD_OP_PAUSE;
	int r = weftd_engine_pause(c->srv->eng, req->pipeline, paused);

	if (r < 0) {
		srv_resp_errno(b, req->id, r, req->pipeline);
		return;
	}
	weftd_resp_begin(b, req->id);
	weftd_json_cstr(b, "pipeline", req->pipeline);
	weftd_json_bool(b, "paused", paused);
	weftd_resp_end(b);
}

static int apply(struct weftd_engine *e, struct weftd_job *j, const struct weftd_request *req)
{
	return req->op == WEFTD_OP_RETRY ? weftd_engine_retry(e, j, req->from_start)
					 : weftd_engine_purge(e, j);
}

/* Why op failed on j, as the protocol's error: a job that is not a dead letter is a
 * conflict (not busy, which EBUSY means elsewhere). */
static void job_error(struct weftd_buf *b, const char *reqid, struct weftd_job *j, int r)
{
	char msg[160];

	if (r == -EBUSY) {
		snprintf(msg, sizeof(msg), "job %s is %s, not a dead letter", weftd_job_info(j)->id,
			 weftd_job_state_name(weftd_job_state(j)));
		weftd_resp_error(b, reqid, WEFTD_ERR_CONFLICT, msg);
		return;
	}
	srv_resp_errno(b, reqid, r, weftd_job_info(j)->pipeline);
}

static void one_job(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct weftd_job *j = srv_find_job(c, b, req->id, req->job);
	int r;

	if (!j)
		return;
	if ((r = apply(c->srv->eng, j, req)) < 0) {
		job_error(b, req->id, j, r);
	} else {
		weftd_resp_begin(b, req->id);
		if (req->op == WEFTD_OP_RETRY) {
			weftd_json_u64(b, "retried", 1);
			weftd_json_arr_begin(b, "jobs");
			weftd_json_str(b, NULL, weftd_job_info(j)->id, strlen(weftd_job_info(j)->id));
			weftd_json_arr_end(b);
		} else {
			weftd_json_u64(b, "purged", 1);
		}
		weftd_resp_end(b);
	}
	weftd_job_unref(j);
}

static void no_figures(const struct weftd_pipeline_figures *p, void *arg)
{
	(void)p;
	(void)arg;
}

/* Every dead letter of req->pipeline the peer owns (an admin: all), taken at once so a
 * re-driven job that fails again at once is not taken twice. The first refusal (the
 * pipeline is gone, its queue is full, the journal cannot write) stops the sweep: the
 * answer counts what was done and says why it stopped ("incomplete"). */
static void all_jobs(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct weftd_engine *e = c->srv->eng;
	struct weftd_jobs *t = weftd_engine_jobs(e);
	struct weftd_jobs_counts counts;
	struct weftd_job **pick;
	size_t n, done = 0, i;
	int r = 0;

	weftd_jobs_counts(t, &counts);
	pick = malloc((counts.finished ? counts.finished : 1) * sizeof(*pick));
	if (!pick) {
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
		return;
	}
	n = weftd_jobs_pick(t, req->pipeline, c->admin ? WEFTD_JOB_NO_OWNER : c->uid, true,
			    WEFTD_JOB_FAILED, pick, counts.finished);
	/* nothing to do and no such pipeline: say so (a removed pipeline's dead letters are
	 * still found above, and purged or refused one by one) */
	if (n == 0 && weftd_engine_figures(e, req->pipeline, no_figures, NULL) == -ENOENT) {
		free(pick);
		srv_resp_errno(b, req->id, -ENOENT, req->pipeline);
		return;
	}
	weftd_resp_begin(b, req->id);
	if (req->op == WEFTD_OP_RETRY)
		weftd_json_arr_begin(b, "jobs");
	for (i = 0; i < n && r == 0; i++) {
		r = apply(e, pick[i], req);
		if (r == -EBUSY) { /* ended otherwise meanwhile (re-driven by another): skip */
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		done++;
		if (req->op == WEFTD_OP_RETRY)
			weftd_json_str(b, NULL, weftd_job_info(pick[i])->id,
				       strlen(weftd_job_info(pick[i])->id));
		if (done % 64 == 0)
			weft_yield(); /* thousands of jobs: let the other connections in */
	}
	if (req->op == WEFTD_OP_RETRY)
		weftd_json_arr_end(b);
	weftd_json_u64(b, req->op == WEFTD_OP_RETRY ? "retried" : "purged", done);
	if (r < 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "stopped at job %s: %s", weftd_job_info(pick[i])->id,
			 strerror(-r));
		weftd_json_cstr(b, "incomplete", msg);
	}
	weftd_resp_end(b);
	for (i = 0; i < n; i++)
		weftd_job_unref(pick[i]);
	free(pick);
}

void srv_op_dead_letters(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	if (req->job)
		one_job(c, b, req);
	else
		all_jobs(c, b, req);
}
