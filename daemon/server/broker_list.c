/* SPDX-License-Identifier: MIT */
/* broker_list.c — list of local and broker jobs as one listing (broker_list.h): the
 * broker's newest `limit` (broker/blist.c) merged with the job table's newest `limit` by
 * created_ms, `limit` in all, bounded by daemon.max_response_bytes as a local list is
 * (the buffer's limit: too_large). */
#include <errno.h>
#include <stdlib.h>

#include "broker/broker.h"
#include "jobs/jobs.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "server/broker_list.h"
#include "server/render_job.h"

void srv_broker_list(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct weftd_broker_list *bl = NULL;
	struct weftd_job **pick = NULL;
	size_t nl = 0;
	int r = weftd_broker_list_new(c->ctx, c->srv->broker, req->pipeline, c->uid, c->admin, req->has_state,
				      (int)req->state, req->limit, req->outputs, &bl);

	if (r < 0) {
		srv_resp_errno(b, req->id, r, req->pipeline ? req->pipeline : "(broker pipelines)");
		return;
	}
	if (!req->pipeline) { /* the local jobs too (a broker pipeline's name: only its own) */
		if (!(pick = malloc((req->limit ? req->limit : 1) * sizeof(*pick)))) {
			weftd_broker_list_free(bl);
			srv_resp_errno(b, req->id, -ENOMEM, NULL);
			return;
		}
		nl = weftd_jobs_pick(weftd_engine_jobs(c->srv->eng), NULL, c->admin ? WEFTD_JOB_NO_OWNER : c->uid,
				     req->has_state, req->state, pick, req->limit);
	}
	size_t nb = weftd_broker_list_len(bl), i = 0, k = 0;
	weftd_resp_begin(b, req->id);
	weftd_json_arr_begin(b, "jobs");
	for (uint32_t out = 0; out < req->limit && (i < nl || k < nb) && !b->err;) {
		/* newest first; at equal times the local job first */
		if (i < nl && (k == nb || weftd_job_info(pick[i])->created_ms >= weftd_broker_list_created(bl, k))) {
			weftd_job_json_listed(b, pick[i++], req->outputs);
			out++;
		} else if (weftd_broker_list_put(bl, k++, b) == 0) {
			out++; /* (one gone since the scan is left out) */
		}
		if (req->outputs)
			weft_yield(); /* a long answer lets the others run */
	}
	weftd_json_arr_end(b);
	weftd_resp_end(b);
	/* (b->err, out of memory or past max_response_bytes: srv_handle_line answers it) */
	for (size_t x = 0; x < nl; x++)
		weftd_job_unref(pick[x]);
	free(pick);
	weftd_broker_list_free(bl);
}
