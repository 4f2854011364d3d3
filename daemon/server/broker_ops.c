/* SPDX-License-Identifier: MIT */
/* broker_ops.c — the ops on broker pipelines (broker/broker.h): the op table's one hook
 * for them, so that dispatch stays as it is for local pipelines. A broker job's id is
 * "PIPELINE/HEX16"; a local one's is 16 hex digits: the id says which side answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "proto/request.h"
#include "server/server_impl.h"

void weftd_server_set_broker(struct weftd_server *s, struct weftd_broker *br)
{
	s->broker = br;
}

struct weftd_broker *weftd_server_broker(struct weftd_server *s)
{
	return s->broker;
}

struct bwaitreq {
	struct conn *c;
	char id[WEFTD_ID_MAX + 1];
	char job[WEFTD_BROKER_ID_MAX + 1];
	int64_t timeout_ns;
};

static void answer_job(struct conn *c, struct weftd_buf *b, const char *id, const char *job,
		       int done_flag)
{
	size_t mark = b->len;

	weftd_resp_begin(b, id);
	if (done_flag >= 0)
		weftd_json_bool(b, "done", done_flag > 0);
	int r = weftd_broker_job_json(c->ctx, c->srv->broker, job, c->uid, c->admin, b, "job");
	if (r < 0) {
		b->len = mark;
		srv_resp_errno(b, id, r, r == -ENOTCONN ? job : job);
		return;
	}
	weftd_resp_end(b);
}

/* Run fn(arg) in a fiber of the connection's own, counted where the connection's end
 * waits for it (refs, async, waits): 0, or -ENOMEM with nothing counted (arg is the
 * caller's to free). */
static int go_async(struct conn *c, void (*fn)(void *), void *arg, const char *name)
{
	atomic_fetch_add(&c->refs, 1);
	atomic_fetch_add(&c->async, 1);
	weft_wg_add(&c->waits, 1);
	if (weft_go_opts(fn, arg, &(struct weft_go_opts){ .name = name }) < 0) {
		weft_wg_done(&c->waits);
		atomic_fetch_sub(&c->async, 1);
		atomic_fetch_sub(&c->refs, 1);
		return -ENOMEM;
	}
	return 0;
}

static void wait_main(void *arg)
{
	struct bwaitreq *w = arg;
	struct conn *c = w->c;
	int r = weftd_broker_wait(c->ctx, c->srv->broker, w->job, w->timeout_ns);

	if (weft_ctx_err(c->ctx) == 0) {
		struct weftd_buf b;
		weftd_buf_init(&b, NULL, 0);
		if (r < 0)
			srv_resp_errno(&b, w->id, r, w->job);
		else
			answer_job(c, &b, w->id, w->job, r);
		srv_conn_append(c, &b);
		srv_conn_flush(c);
		weftd_buf_done(&b);
	}
	atomic_fetch_sub(&c->async, 1);
	weft_wg_done(&c->waits);
	srv_conn_unref(c);
	free(w);
}

static void start_wait(struct conn *c, struct weftd_buf *b, const struct weftd_request *req, const char *job)
{
	struct bwaitreq *w;

	if (atomic_load(&c->async) >= MAX_ASYNC_PER_CONN || !(w = calloc(1, sizeof(*w)))) {
		srv_resp_errno(b, req->id, -EBUSY, "too many waits on this connection");
		return;
	}
	w->c = c;
	memcpy(w->id, req->id, sizeof(w->id));
	snprintf(w->job, sizeof(w->job), "%s", job);
	w->timeout_ns = req->has_timeout ? (int64_t)req->timeout_ns : -1;
	if (go_async(c, wait_main, w, "broker wait") < 0) {
		free(w);
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
	}
}

struct bsubmit {
	struct conn *c;
	char id[WEFTD_ID_MAX + 1];
	char pipeline[WEFTD_MAX_NAME + 1];
	bool wait;
	int64_t timeout_ns;
	size_t len;
	char payload[];
};

/* A submit in a fiber of its own: the Redis round trip must not hold the connection's
 * next lines (a client keeps many submits in flight; each answer carries its id). */
static void submit_main(void *arg)
{
	struct bsubmit *s = arg;
	struct conn *c = s->c;
	char job[WEFTD_BROKER_ID_MAX + 1];
	struct weftd_buf b;
	int r = weftd_broker_submit(c->ctx, c->srv->broker, s->pipeline, s->payload, s->len, c->uid, job);

	if (r == 0 && s->wait)
		r = weftd_broker_wait(c->ctx, c->srv->broker, job, s->timeout_ns);
	if (weft_ctx_err(c->ctx) == 0) {
		weftd_buf_init(&b, NULL, 0);
		if (r < 0) {
			srv_resp_errno(&b, s->id, r, r == -ENOTCONN || r == -ENOENT ? s->pipeline : job);
		} else if (s->wait) {
			answer_job(c, &b, s->id, job, r);
		} else {
			weftd_resp_begin(&b, s->id);
			weftd_json_cstr(&b, "job", job);
			weftd_resp_end(&b);
		}
		srv_conn_append(c, &b);
		srv_conn_flush(c);
		weftd_buf_done(&b);
	}
	atomic_fetch_sub(&c->async, 1);
	weft_wg_done(&c->waits);
	srv_conn_unref(c);
	free(s);
}

static void submit(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct bsubmit *s;

	if (!weftd_engine_intake_open(c->srv->eng)) {
		srv_resp_errno(b, req->id, -ESHUTDOWN, NULL);
		return;
	}
	if (atomic_load(&c->async) >= MAX_ASYNC_PER_CONN) {
		srv_resp_errno(b, req->id, -EBUSY, "too many requests in flight on this connection");
		return;
	}
	if (!(s = malloc(sizeof(*s) + req->payload_len))) {
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
		return;
	}
	s->c = c;
	memcpy(s->id, req->id, sizeof(s->id));
	snprintf(s->pipeline, sizeof(s->pipeline), "%s", req->pipeline);
	s->wait = req->wait;
	s->timeout_ns = req->has_timeout ? (int64_t)req->timeout_ns : -1;
	s->len = req->payload_len;
	if (req->payload_len)
		memcpy(s->payload, req->payload, req->payload_len);
	if (go_async(c, submit_main, s, "broker submit") < 0) {
		free(s);
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
	}
}

bool srv_broker_op(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct weftd_broker *br = c->srv->broker;
	int r;

	if (req->op == WEFTD_OP_NODES) { /* without brokers: none */
		size_t mark = b->len;
		weftd_resp_begin(b, req->id);
		if (!br) {
			weftd_json_obj_begin(b, "pipelines");
			weftd_json_obj_end(b);
		} else if ((r = weftd_broker_stats_json(c->ctx, br, NULL, b, "pipelines")) < 0) {
			b->len = mark;
			srv_resp_errno(b, req->id, r, "(nodes)");
			return true;
		}
		weftd_resp_end(b);
		return true;
	}
	if (!br)
		return false;
	switch (req->op) {
	case WEFTD_OP_SUBMIT:
		if (!weftd_broker_has(br, req->pipeline))
			return false;
		submit(c, b, req);
		return true;
	case WEFTD_OP_STATS: /* one broker pipeline: the cluster's figures */
		if (!weftd_broker_has(br, req->pipeline))
			return false;
		size_t mark = b->len;
		weftd_resp_begin(b, req->id);
		if ((r = weftd_broker_stats_json(c->ctx, br, req->pipeline, b, "pipelines")) < 0) {
			b->len = mark;
			srv_resp_errno(b, req->id, r, req->pipeline);
			return true;
		}
		weftd_resp_end(b);
		return true;
	case WEFTD_OP_STATUS:
	case WEFTD_OP_WAIT:
	case WEFTD_OP_CANCEL:
		if (!req->job || !weftd_broker_is_job_id(req->job))
			return false;
		break;
	default:
		return false;
	}
	if (req->op == WEFTD_OP_WAIT) {
		if (req->has_timeout && req->timeout_ns == 0)
			answer_job(c, b, req->id, req->job, weftd_broker_wait(c->ctx, br, req->job, 0) > 0);
		else
			start_wait(c, b, req, req->job);
		return true;
	}
	if (req->op == WEFTD_OP_CANCEL && (r = weftd_broker_cancel(c->ctx, br, req->job)) < 0) {
		srv_resp_errno(b, req->id, r, req->job);
		return true;
	}
	answer_job(c, b, req->id, req->job, -1);
	return true;
}
