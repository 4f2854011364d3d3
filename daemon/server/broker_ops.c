/* SPDX-License-Identifier: MIT */
/* broker_ops.c — the ops on broker pipelines (broker/broker.h): the op table's one hook
 * for them, so that dispatch stays as it is for local pipelines. A broker job's id is
 * "PIPELINE/HEX16"; a local one's is 16 hex digits: the id says which side answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "jobs/jobs.h"
#include "proto/request.h"
#include "server/broker_list.h"
#include "server/render_job.h"
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
		       int done_flag, bool payload)
{
	size_t mark = b->len;

	weftd_resp_begin(b, id);
	if (done_flag >= 0)
		weftd_json_bool(b, "done", done_flag > 0);
	int r = weftd_broker_job_json(c->ctx, c->srv->broker, job, c->uid, c->admin, payload, b, "job");
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

/* An async fiber's answer b to its connection (b is done with). */
static void async_send(struct conn *c, struct weftd_buf *b)
{
	srv_conn_append(c, b);
	srv_conn_flush(c);
	weftd_buf_done(b);
}

/* The end of a fiber go_async started: what it counted, undone. */
static void async_end(struct conn *c)
{
	atomic_fetch_sub(&c->async, 1);
	weft_wg_done(&c->waits);
	srv_conn_unref(c);
}

static void wait_main(void *arg)
{
	struct bwaitreq *w = arg;
	struct conn *c = w->c;
	int r = weftd_broker_wait(c->ctx, c->srv->broker, w->job, c->uid, c->admin, w->timeout_ns);

	if (weft_ctx_err(c->ctx) == 0) {
		struct weftd_buf b;
		weftd_buf_init(&b, NULL, 0);
		if (r < 0)
			srv_resp_errno(&b, w->id, r, w->job);
		else
			answer_job(c, &b, w->id, w->job, r, false);
		async_send(c, &b);
	}
	async_end(c);
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

/* wait with "jobs" of which some are broker jobs: the local ones (references, found
 * now as op_wait finds them) and the broker ones (ids), in request order, each once. */
struct wslot {
	struct weftd_job *j;           /* a local job, or NULL */
	char *bid;                     /* a broker job's id (owned) */
};

struct bwaitn {
	struct conn *c;
	char id[WEFTD_ID_MAX + 1];
	int64_t timeout_ns;            /* < 0: none */
	size_t n;
	struct wslot s[];
};

static struct bwaitn *bwaitn_free(struct bwaitn *w)
{
	for (size_t i = 0; w && i < w->n; i++) {
		weftd_job_unref(w->s[i].j);
		free(w->s[i].bid);
	}
	free(w);
	return NULL;
}

/* Have all of w's jobs ended? Parks until they have or ctx ends (then the rest are only
 * checked). 1 all ended, 0 not all, or -errno of a broker job (-ESRCH...). */
static int wait_all(weft_ctx *ctx, struct bwaitn *w)
{
	struct weftd_broker *br = w->c->srv->broker;
	struct weftd_job **loc = malloc(w->n * sizeof(*loc));
	size_t nl = 0;
	bool all = true, late = w->timeout_ns == 0; /* late: the time is up, only check */
	int r;

	if (!loc)
		return -ENOMEM;
	/* an unknown (or another's) broker job fails the request before any parking, as an
	 * unknown local one does (op_wait) */
	for (size_t i = 0; !late && i < w->n; i++)
		if (w->s[i].bid && (r = weftd_broker_wait(w->c->ctx, br, w->s[i].bid, w->c->uid, w->c->admin, 0)) < 0) {
			free(loc);
			return r;
		}
	for (size_t i = 0; i < w->n; i++)
		if (w->s[i].j)
			loc[nl++] = w->s[i].j;
	if (nl && (r = weftd_jobs_wait(late ? NULL : ctx, loc, nl, late ? 0 : -1)) < 0) {
		late = true;
		all = false;
	}
	free(loc);
	for (size_t i = 0; i < w->n; i++) {
		if (!w->s[i].bid)
			continue;
		r = weftd_broker_wait(late ? w->c->ctx : ctx, br, w->s[i].bid, w->c->uid, w->c->admin, late ? 0 : -1);
		if (r == -ETIMEDOUT && !late && weft_ctx_err(w->c->ctx) == 0) {
			late = true; /* the timeout: check this one and the rest */
			r = weftd_broker_wait(w->c->ctx, br, w->s[i].bid, w->c->uid, w->c->admin, 0);
		}
		if (r < 0)
			return r;
		all &= r > 0;
	}
	return all;
}

static void wait_many_main(void *arg)
{
	struct bwaitn *w = arg;
	struct conn *c = w->c;
	weft_ctx *wctx = NULL;
	struct weftd_buf b;
	int r = 0;

	if (w->timeout_ns > 0)
		r = weft_ctx_with_timeout(c->ctx, w->timeout_ns, &wctx);
	if (r == 0)
		r = wait_all(wctx ? wctx : c->ctx, w);
	weft_ctx_unref(wctx);
	if (weft_ctx_err(c->ctx) == 0) {
		weftd_buf_init(&b, NULL, 0);
		weftd_buf_limit(&b, c->srv->d->max_response_bytes);
		weftd_resp_begin(&b, w->id);
		weftd_json_bool(&b, "done", r > 0);
		weftd_json_arr_begin(&b, "jobs");
		for (size_t i = 0; r >= 0 && i < w->n && !b.err; i++) {
			if (w->s[i].j)
				weftd_job_json(&b, NULL, w->s[i].j);
			else
				r = weftd_broker_job_json(c->ctx, c->srv->broker, w->s[i].bid, c->uid, c->admin,
							  false, &b, NULL);
			if (r < 0 && r != -ESRCH)
				break;
		}
		weftd_json_arr_end(&b);
		weftd_resp_end(&b);
		if (r < 0 || b.err) {
			char lim[24];
			snprintf(lim, sizeof(lim), "%llu", (unsigned long long)c->srv->d->max_response_bytes);
			weftd_buf_limit(&b, 0);
			r = r < 0 ? r : b.err;
			b.err = 0;
			b.len = 0;
			srv_resp_errno(&b, w->id, r, r == -E2BIG ? lim : NULL);
		}
		async_send(c, &b);
	}
	async_end(c);
	bwaitn_free(w);
}

static void wait_many(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct bwaitn *w;

	if (atomic_load(&c->async) >= MAX_ASYNC_PER_CONN) {
		srv_resp_errno(b, req->id, -EBUSY, "too many waits on this connection");
		return;
	}
	if (!(w = calloc(1, sizeof(*w) + req->njobs * sizeof(w->s[0])))) {
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
		return;
	}
	w->c = c;
	memcpy(w->id, req->id, sizeof(w->id));
	w->timeout_ns = req->has_timeout ? (int64_t)req->timeout_ns : -1;
	for (size_t i = 0; i < req->njobs; i++) {
		const char *id = weftd_request_job(req, i);
		struct wslot *x = &w->s[w->n];
		bool dup = false;
		if (weftd_broker_is_job_id(id)) {
			for (size_t k = 0; k < w->n && !dup; k++) /* (4096 ids at most) */
				dup = w->s[k].bid && strcmp(w->s[k].bid, id) == 0;
			if (!dup && !(x->bid = strdup(id))) {
				srv_resp_errno(b, req->id, -ENOMEM, NULL);
				goto fail;
			}
		} else {
			if (!(x->j = srv_find_job(c, b, req->id, id))) /* answered unknown_job */
				goto fail;
			for (size_t k = 0; k < w->n && !dup; k++)
				dup = w->s[k].j == x->j;
			if (dup)
				x->j = weftd_job_unref(x->j);
		}
		w->n += !dup;
	}
	if (go_async(c, wait_many_main, w, "broker wait") < 0) {
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
		goto fail;
	}
	return;
fail:
	bwaitn_free(w);
}

struct bsubmit {
	struct conn *c;
	char id[WEFTD_ID_MAX + 1];
	char pipeline[WEFTD_MAX_NAME + 1];
	bool wait;
	int64_t timeout_ns;
	bool has_opts;                 /* any of delay/run_at, deadline, priority, key */
	struct weftd_broker_submit_opts o;
	char key[WEFTD_JOB_KEY_MAX + 1];
	size_t len;
	char payload[];
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* submit's options as local pipelines read them (server/ops.c) */
static void submit_opts(struct bsubmit *s, const struct weftd_request *req)
{
	s->o = (struct weftd_broker_submit_opts){ .priority = req->priority,
		.run_at_ms = req->has_run_at ? req->run_at_ms : 0 };
	if (req->has_delay && req->delay_ns)
		s->o.run_at_ms = wall_ms() + (int64_t)(req->delay_ns / 1000000);
	if (req->has_deadline) /* (0 means none: the epoch itself is any past time) */
		s->o.deadline_ms = req->deadline_rel ? wall_ms() + (int64_t)(req->deadline_in_ns / 1000000)
				 : req->deadline_ms > 0 ? req->deadline_ms : 1;
	if (req->key && req->key_len <= WEFTD_JOB_KEY_MAX) {
		memcpy(s->key, req->key, req->key_len);
		s->o.key = s->key;
		s->o.key_len = req->key_len;
	}
	s->has_opts = s->o.run_at_ms || s->o.deadline_ms || s->o.priority || s->o.key;
}

/* A submit in a fiber of its own: the Redis round trip must not hold the connection's
 * next lines (a client keeps many submits in flight; each answer carries its id). */
static void submit_main(void *arg)
{
	struct bsubmit *s = arg;
	struct conn *c = s->c;
	char job[WEFTD_BROKER_ID_MAX + 1];
	struct weftd_buf b;
	bool dup = false;
	int r = s->has_opts ? weftd_broker_submit_opts(c->ctx, c->srv->broker, s->pipeline, s->payload, s->len,
						      c->uid, &s->o, job, &dup)
			    : weftd_broker_submit(c->ctx, c->srv->broker, s->pipeline, s->payload, s->len, c->uid, job);

	if (r == 0 && s->wait)
		r = weftd_broker_wait(c->ctx, c->srv->broker, job, c->uid, c->admin, s->timeout_ns);
	if (weft_ctx_err(c->ctx) == 0) {
		weftd_buf_init(&b, NULL, 0);
		if (r < 0) {
			srv_resp_errno(&b, s->id, r, r == -ENOTCONN || r == -ENOENT ? s->pipeline : job);
		} else if (s->wait) {
			answer_job(c, &b, s->id, job, r, false);
		} else {
			weftd_resp_begin(&b, s->id);
			weftd_json_cstr(&b, "job", job);
			if (dup)
				weftd_json_bool(&b, "duplicate", true);
			else if (s->o.run_at_ms > wall_ms()) {
				weftd_json_cstr(&b, "state", "scheduled");
				weftd_json_i64(&b, "run_at_ms", s->o.run_at_ms);
			}
			weftd_resp_end(&b);
		}
		async_send(c, &b);
	}
	async_end(c);
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
	submit_opts(s, req);
	if (req->payload_len)
		memcpy(s->payload, req->payload, req->payload_len);
	if (go_async(c, submit_main, s, "broker submit") < 0) {
		free(s);
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
	}
}

/* retry, purge of a broker job, or of every dead letter of a broker pipeline */
static void dead_op(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	size_t mark = b->len;
	char why[256];
	int r;

	weftd_resp_begin(b, req->id);
	r = weftd_broker_dead_op(c->ctx, c->srv->broker, req->op == WEFTD_OP_RETRY, req->from_start,
				 req->pipeline, req->job, c->uid, c->admin, b, why, sizeof(why));
	if (r < 0) {
		b->len = mark;
		if (r == -EBUSY)
			weftd_resp_error(b, req->id, WEFTD_ERR_CONFLICT, why);
		else
			srv_resp_errno(b, req->id, r, req->job ? req->job : req->pipeline);
		return;
	}
	weftd_resp_end(b);
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
	case WEFTD_OP_PAUSE: /* of a broker pipeline: on every node (resume alone: undrain) */
	case WEFTD_OP_RESUME:
		if (!req->pipeline || !weftd_broker_has(br, req->pipeline))
			return false;
		if ((r = weftd_broker_pause(c->ctx, br, req->pipeline, req->op == WEFTD_OP_PAUSE)) < 0) {
			srv_resp_errno(b, req->id, r, req->pipeline);
			return true;
		}
		weftd_resp_begin(b, req->id);
		weftd_json_cstr(b, "pipeline", req->pipeline);
		weftd_json_bool(b, "paused", req->op == WEFTD_OP_PAUSE);
		weftd_resp_end(b);
		return true;
	case WEFTD_OP_LIST: /* of a broker pipeline, or of every pipeline (local ones too) */
		if (req->pipeline && !weftd_broker_has(br, req->pipeline))
			return false;
		srv_broker_list(c, b, req);
		return true;
	case WEFTD_OP_RETRY:
	case WEFTD_OP_PURGE:
		if (req->job ? !weftd_broker_is_job_id(req->job)
			     : !req->all || !req->pipeline || !weftd_broker_has(br, req->pipeline))
			return false;
		dead_op(c, b, req);
		return true;
	case WEFTD_OP_WAIT:
		if (!req->job) { /* "jobs": ours when one of them is a broker job */
			for (size_t i = 0; i < req->njobs; i++)
				if (weftd_broker_is_job_id(weftd_request_job(req, i))) {
					wait_many(c, b, req);
					return true;
				}
			return false;
		}
		/* fall through */
	case WEFTD_OP_STATUS:
	case WEFTD_OP_CANCEL:
		if (!req->job || !weftd_broker_is_job_id(req->job))
			return false;
		break;
	default:
		return false;
	}
	if (req->op == WEFTD_OP_WAIT) {
		if (req->has_timeout && req->timeout_ns == 0)
			answer_job(c, b, req->id, req->job, weftd_broker_wait(c->ctx, br, req->job, c->uid, c->admin, 0) > 0, false);
		else
			start_wait(c, b, req, req->job);
		return true;
	}
	if (req->op == WEFTD_OP_CANCEL && (r = weftd_broker_cancel(c->ctx, br, req->job)) < 0) {
		srv_resp_errno(b, req->id, r, req->job);
		return true;
	}
	answer_job(c, b, req->id, req->job, -1, req->op == WEFTD_OP_STATUS && req->want_payload);
	return true;
}
