/* SPDX-License-Identifier: MIT */
/* ops.c — the op table and its handlers (see server_impl.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/request.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "jobs/jobs.h"
#include "server/render.h"
#include "server/render_job.h"
#include "server/server_impl.h"

/* ---- waits ---------------------------------------------------------------------- */

struct waitreq {
	struct conn *c;
	char id[WEFTD_ID_MAX + 1];
	int64_t timeout_ns;        /* < 0: none */
	bool many;                 /* "jobs": answer with an array */
	size_t n;
	struct weftd_job *jobs[];
};

static void write_wait_response(struct weftd_buf *b, const char *id, struct weftd_job *const *jobs,
				size_t n, bool many, bool done)
{
	weftd_resp_begin(b, id);
	weftd_json_bool(b, "done", done);
	if (many) {
		weftd_json_arr_begin(b, "jobs");
		for (size_t i = 0; i < n && !b->err; i++) {
			weftd_job_json(b, NULL, jobs[i]);
			if (n > 1)
				weft_yield(); /* a long answer lets the others run */
		}
		weftd_json_arr_end(b);
	} else {
		weftd_job_json(b, "job", jobs[0]);
	}
	weftd_resp_end(b);
}

/* Building an answer failed (-ENOMEM, or -E2BIG past daemon.max_response_bytes): answer
 * with the error instead, from b's start. */
static void answer_failed(struct conn *c, struct weftd_buf *b, size_t mark, const char *id, int err)
{
	char lim[24];

	snprintf(lim, sizeof(lim), "%llu", (unsigned long long)c->srv->d->max_response_bytes);
	weftd_buf_limit(b, 0);
	b->err = 0;
	b->len = mark;
	srv_resp_errno(b, id, err, err == -E2BIG ? lim : NULL);
}

static void wait_main(void *arg)
{
	struct waitreq *w = arg;
	struct conn *c = w->c;
	int r = weftd_jobs_wait(c->ctx, w->jobs, w->n, w->timeout_ns);

	if (r == 0 || (r == -ETIMEDOUT && weft_ctx_err(c->ctx) == 0)) {
		struct weftd_buf b;
		weftd_buf_init(&b, NULL, 0);
		weftd_buf_limit(&b, c->srv->d->max_response_bytes);
		write_wait_response(&b, w->id, w->jobs, w->n, w->many, r == 0);
		if (b.err)
			answer_failed(c, &b, 0, w->id, b.err);
		srv_conn_append(c, &b);
		srv_conn_flush(c);
		weftd_buf_done(&b);
	}
	for (size_t i = 0; i < w->n; i++)
		weftd_job_unref(w->jobs[i]);
	atomic_fetch_sub(&c->async, 1);
	weft_wg_done(&c->waits);
	srv_conn_unref(c);
	free(w);
}

/* Park a wait on jobs (references taken over) in its own fiber; on failure answers now. */
static void start_wait(struct conn *c, struct weftd_buf *b, const struct weftd_request *req,
		       struct weftd_job **jobs, size_t n, bool many)
{
	int64_t timeout = req->has_timeout ? (int64_t)req->timeout_ns : -1;
	struct waitreq *w;

	if (timeout == 0 || atomic_load(&c->async) >= MAX_ASYNC_PER_CONN) {
		bool done = weftd_jobs_wait(NULL, jobs, n, 0) == 0;
		if (timeout != 0 && !done) {
			srv_resp_errno(b, req->id, -EBUSY, "too many waits on this connection");
		} else {
			write_wait_response(b, req->id, jobs, n, many, done);
		}
		goto unref;
	}
	w = malloc(sizeof(*w) + n * sizeof(w->jobs[0]));
	if (!w) {
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
		goto unref;
	}
	w->c = c;
	memcpy(w->id, req->id, sizeof(w->id));
	w->timeout_ns = timeout;
	w->many = many;
	w->n = n;
	memcpy(w->jobs, jobs, n * sizeof(jobs[0]));
	atomic_fetch_add(&c->refs, 1);
	atomic_fetch_add(&c->async, 1);
	weft_wg_add(&c->waits, 1);
	if (weft_go_opts(wait_main, w, &(struct weft_go_opts){ .name = "wait" }) < 0) {
		weft_wg_done(&c->waits);
		atomic_fetch_sub(&c->async, 1);
		atomic_fetch_sub(&c->refs, 1);
		free(w);
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
		goto unref;
	}
	return;
unref:
	for (size_t i = 0; i < n; i++)
		weftd_job_unref(jobs[i]);
}

/* ---- ops ----------------------------------------------------------------------- */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A scheduled job's due time (0 when it is not scheduled). */
static void read_due(const struct weftd_job_snap *s, void *arg)
{
	*(int64_t *)arg = s->state == WEFTD_JOB_SCHEDULED ? s->run_at_ms : 0;
}

static void op_submit(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct weftd_submit_opts o = {
		.priority = req->priority, .key = req->key, .key_len = req->key_len,
		.run_at_ms = req->has_run_at ? req->run_at_ms : 0,
	};
	struct weftd_job *j;
	int r;

	if (req->has_delay && req->delay_ns)
		o.run_at_ms = wall_ms() + (int64_t)(req->delay_ns / 1000000);
	if (req->has_deadline) /* (0 means none: the epoch itself is any past time) */
		o.deadline_ms = req->deadline_rel ? wall_ms() + (int64_t)(req->deadline_in_ns / 1000000)
			      : req->deadline_ms > 0 ? req->deadline_ms : 1;
	r = weftd_engine_submit(c->srv->eng, req->pipeline, req->payload, req->payload_len,
				c->uid, &o, &j);
	if (r < 0) {
		srv_resp_errno(b, req->id, r, req->pipeline);
		return;
	}
	if (req->wait) { /* a duplicate's wait waits for the job the key names */
		start_wait(c, b, req, &j, 1, false);
		return;
	}
	weftd_resp_begin(b, req->id);
	weftd_json_str(b, "job", weftd_job_info(j)->id, WEFTD_JOB_ID_LEN);
	if (r == 1)
		weftd_json_bool(b, "duplicate", true);
	int64_t due = 0;
	weftd_job_read(j, read_due, &due);
	if (due) {
		weftd_json_cstr(b, "state", "scheduled");
		weftd_json_i64(b, "run_at_ms", due);
	}
	weftd_resp_end(b);
	weftd_job_unref(j);
}

struct weftd_job *srv_find_job(struct conn *c, struct weftd_buf *b, const char *reqid, const char *id)
{
	struct weftd_job *j = weftd_jobs_get(weftd_engine_jobs(c->srv->eng), id, strlen(id));

	if (j && !c->admin && weftd_job_info(j)->owner != c->uid)
		j = weftd_job_unref(j); /* another's job: not there, as far as this peer knows */
	if (!j)
		srv_resp_errno(b, reqid, -ESRCH, id);
	return j;
}

static struct weftd_job *find_job(struct conn *c, struct weftd_buf *b, const struct weftd_request *req,
				  const char *id)
{
	return srv_find_job(c, b, req->id, id);
}

struct job_at {
	struct weftd_job *j;
	size_t i;
};

static int job_at_cmp(const void *a, const void *b)
{
	const struct job_at *x = a, *y = b;

	if (x->j != y->j)
		return x->j < y->j ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Keep the first of each job named more than once (4,096 copies of one 1 MiB output made
 * a 1.6 GB answer): returns the new count, order kept, the copies' references dropped. */
static size_t unique_jobs(struct weftd_job **jobs, size_t n)
{
	struct job_at *s = n > 1 ? malloc(n * sizeof(*s)) : NULL;
	size_t k = 0;

	if (!s)
		return n; /* one job, or no memory: answered as asked */
	for (size_t i = 0; i < n; i++)
		s[i] = (struct job_at){ jobs[i], i };
	qsort(s, n, sizeof(*s), job_at_cmp);
	for (size_t i = 1; i < n; i++)
		if (s[i].j == s[i - 1].j) {
			weftd_job_unref(jobs[s[i].i]);
			jobs[s[i].i] = NULL;
		}
	free(s);
	for (size_t i = 0; i < n; i++)
		if (jobs[i])
			jobs[k++] = jobs[i];
	return k;
}

static void op_wait(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	size_t n = req->job ? 1 : req->njobs;
	struct weftd_job *one, **jobs = n == 1 ? &one : malloc(n * sizeof(*jobs));

	if (!jobs) {
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		jobs[i] = find_job(c, b, req, req->job ? req->job : weftd_request_job(req, i));
		if (!jobs[i]) {
			while (i--)
				weftd_job_unref(jobs[i]);
			goto out;
		}
	}
	start_wait(c, b, req, jobs, unique_jobs(jobs, n), req->job == NULL);
out:
	if (jobs != &one)
		free(jobs);
}

static void op_handler_main(void *arg);

struct handler_call {
	struct conn *c;
	struct handler h;
	char id[WEFTD_ID_MAX + 1];
	struct weftd_request args;     /* h.fn_args: the request's arguments (prof, trace), no strings */
};

/* Run the handler registered for op (lifecycle's drain, undrain, reload; weftd's metrics)
 * in a fiber of its own: it may park for long, and the connection goes on meanwhile. */
static void op_handler(struct conn *c, struct weftd_buf *b, const struct weftd_request *req,
		       enum weftd_op op)
{
	struct handler h = c->srv->handlers[op];
	struct handler_call *hc;

	if (!h.fn && !h.fn_args) {
		srv_resp_errno(b, req->id, -EOPNOTSUPP, weftd_op_name(op));
		return;
	}
	hc = malloc(sizeof(*hc));
	if (!hc) {
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
		return;
	}
	hc->c = c;
	hc->h = h;
	memcpy(hc->id, req->id, sizeof(hc->id));
	if (h.fn_args) /* what an op with arguments reads: no pointer into the line */
		hc->args = (struct weftd_request){ .op = req->op, .prof = req->prof,
						   .conn_ctx = c->ctx };
	atomic_fetch_add(&c->refs, 1);
	weft_wg_add(&c->handlers, 1);
	if (weft_go_opts(op_handler_main, hc, &(struct weft_go_opts){ .name = weftd_op_name(op) }) < 0) {
		weft_wg_done(&c->handlers);
		atomic_fetch_sub(&c->refs, 1);
		free(hc);
		srv_resp_errno(b, req->id, -ENOMEM, NULL);
	}
}

static void op_handler_main(void *arg)
{
	struct handler_call *hc = arg;
	struct weftd_buf b;
	char err[1024] = "";

	weftd_buf_init(&b, NULL, 0);
	int r = hc->h.fn_args ? hc->h.fn_args(hc->h.arg, &hc->args, hc->id, &b, err, sizeof(err))
			      : hc->h.fn(hc->h.arg, hc->id, &b, err, sizeof(err));
	if (r < 0) {
		weftd_buf_reset(&b);
		srv_resp_errno(&b, hc->id, r, err[0] ? err : NULL);
	}
	if (b.err == 0)
		srv_conn_append(hc->c, &b);
	srv_conn_flush(hc->c);
	weftd_buf_done(&b);
	weft_wg_done(&hc->c->handlers);
	srv_conn_unref(hc->c);
	free(hc);
}

/* stats and pipelines: the engine's figures as JSON (render.c). */
static void op_figures(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct weftd_engine *e = c->srv->eng;
	size_t mark = b->len;
	int r = 0;

	weftd_resp_begin(b, req->id);
	if (req->op == WEFTD_OP_PIPELINES) {
		weftd_render_pipelines(b, e);
	} else {
		r = weftd_render_stats(b, e, req->pipeline);
		if (r == 0 && !req->pipeline)
			weftd_render_runtime(b, atomic_load(&c->srv->nconns));
	}
	if (r < 0) {
		b->len = mark;
		srv_resp_errno(b, req->id, r, req->pipeline);
		return;
	}
	weftd_resp_end(b);
}

/* ---- access: who may do what (PROTOCOL.md, "Access") ------------------------------ */
/* What each op needs of its peer, checked once in dispatch. OWN: the jobs it names or
 * lists are the peer's own unless it is an admin (find_job answers unknown_job for
 * another's, list leaves them out). An op missing here is for admins only. */
enum need { NEED_ADMIN = 0, NEED_PEER, NEED_OWN };
static const unsigned char op_need[WEFTD_OP__MAX] = {
	[WEFTD_OP_PING] = NEED_PEER, [WEFTD_OP_SUBMIT] = NEED_PEER,
	[WEFTD_OP_STATS] = NEED_PEER, [WEFTD_OP_PIPELINES] = NEED_PEER,
	[WEFTD_OP_STATUS] = NEED_OWN, [WEFTD_OP_WAIT] = NEED_OWN,
	[WEFTD_OP_CANCEL] = NEED_OWN, [WEFTD_OP_LIST] = NEED_OWN,
	[WEFTD_OP_RELOAD] = NEED_ADMIN, [WEFTD_OP_DRAIN] = NEED_ADMIN,
	[WEFTD_OP_PAUSE] = NEED_ADMIN, [WEFTD_OP_RESUME] = NEED_ADMIN,
	[WEFTD_OP_UNDRAIN] = NEED_ADMIN,
	[WEFTD_OP_RETRY] = NEED_OWN, [WEFTD_OP_PURGE] = NEED_OWN,
	/* counters summed over every job, as stats shows them: nothing of another's jobs */
	[WEFTD_OP_METRICS] = NEED_PEER,
	[WEFTD_OP_SCHEDULES] = NEED_PEER, /* the config's entries, as pipelines shows them */
	[WEFTD_OP_NODES] = NEED_PEER,   /* node names and heartbeats: no job of anyone's */
	/* trace: fiber names and job ids of every pipeline: admins only (NEED_ADMIN) */
};

static void dispatch(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct weftd_engine *e = c->srv->eng;
	struct weftd_job *j;

	if (op_need[req->op] == NEED_ADMIN && !c->admin) {
		srv_resp_errno(b, req->id, -EACCES, "only an admin (root, the daemon's user, admin_uids, admin_groups) may do that");
		return;
	}
	if (srv_broker_op(c, b, req))
		return;
	switch (req->op) {
	case WEFTD_OP_PING:
		weftd_resp_begin(b, req->id);
		weftd_json_cstr(b, "version", WEFT_VERSION);
		weftd_resp_end(b);
		break;
	case WEFTD_OP_SUBMIT:
		op_submit(c, b, req);
		break;
	case WEFTD_OP_STATUS:
		if ((j = find_job(c, b, req, req->job))) {
			weftd_resp_begin(b, req->id);
			weftd_job_json_payload(b, "job", j, req->want_payload);
			weftd_resp_end(b);
			weftd_job_unref(j);
		}
		break;
	case WEFTD_OP_CANCEL:
		if ((j = find_job(c, b, req, req->job))) {
			weftd_engine_cancel(e, j, "canceled by client");
			weftd_resp_begin(b, req->id);
			weftd_job_json(b, "job", j);
			weftd_resp_end(b);
			weftd_job_unref(j);
		}
		break;
	case WEFTD_OP_WAIT:
		op_wait(c, b, req);
		break;
	case WEFTD_OP_LIST:
		weftd_resp_begin(b, req->id);
		weftd_jobs_list_json(weftd_engine_jobs(e), b, "jobs", req->pipeline,
				     c->admin ? WEFTD_JOB_NO_OWNER : c->uid, req->has_state, req->state,
				     req->limit, req->outputs);
		weftd_resp_end(b);
		break;
	case WEFTD_OP_STATS:
	case WEFTD_OP_PIPELINES:
		op_figures(c, b, req);
		break;
	case WEFTD_OP_PAUSE:
		srv_op_pause(c, b, req);
		break;
	case WEFTD_OP_RESUME:
		if (req->pipeline)
			srv_op_pause(c, b, req);
		else /* resume with no pipeline: the daemon's intake, like undrain */
			op_handler(c, b, req, WEFTD_OP_UNDRAIN);
		break;
	case WEFTD_OP_RETRY:
	case WEFTD_OP_PURGE:
		srv_op_dead_letters(c, b, req);
		break;
	case WEFTD_OP_SCHEDULES:
		srv_op_schedules(c, b, req);
		break;
	default:
		op_handler(c, b, req, req->op);
		break;
	}
}

void srv_handle_line(struct conn *c, struct weftd_buf *b, const char *line, size_t len)
{
	struct weftd_request req;
	size_t mark = b->len;

	if (len == 0 || (len == 1 && line[0] == '\r'))
		return; /* blank lines are keep-alives for hand-typed sessions */
	if (c->srv->d->max_response_bytes)
		weftd_buf_limit(b, mark + c->srv->d->max_response_bytes);
	if (weftd_request_parse(&req, line, len, c->srv->d->max_request_bytes) < 0)
		weftd_resp_error(b, req.id, req.err, req.errmsg);
	else
		dispatch(c, b, &req);
	weftd_request_done(&req);
	/* out of memory or over max_response_bytes building this response: say so instead */
	if (b->err)
		answer_failed(c, b, mark, req.id, b->err);
	weftd_buf_limit(b, 0);
}
