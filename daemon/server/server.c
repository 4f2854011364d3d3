/* server.c — see server.h. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "util/spin.h"
#include "internal.h"
#include "jobs/jobs.h"
#include "service/log.h"
#include "server/server.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "proto/request.h"


#define READ_CHUNK         (64 * 1024)
#define OUT_HIGH_WATER     (16u << 20)   /* pause reading while this much output is unsent */
#define MAX_ASYNC_PER_CONN 65536         /* parked waits per connection */
#define LINES_PER_TURN     16            /* requests handled before letting others run */

struct handler {
	weftd_op_handler fn;
	void *arg;
};

struct weftd_server {
	struct weftd_engine *eng;
	const struct weftd_daemon_config *d;
	int lfd;
	weft_ctx *conns;               /* every connection's parent: cancelled by close_conns,
	                                  after the drain, not by the end of accepting */
	atomic_uint nconns;
	struct handler handlers[WEFTD_OP__MAX];
};

struct conn {
	atomic_int refs;               /* reader + each parked wait */
	int fd;
	struct weftd_server *srv;
	weft_ctx *ctx;                 /* cancelled when the client goes away */
	weftd_spin lock;               /* guards out, spare, writing, dead */
	struct weftd_buf out;          /* responses not yet sent */
	struct weftd_buf spare;
	bool writing;                  /* some fiber is sending: others only append */
	bool dead;
	atomic_uint async;             /* parked waits */
	atomic_uint handlers;          /* reload/drain calls running */
};

static void conn_unref(struct conn *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	close(c->fd);
	weft_ctx_unref(c->ctx);
	weftd_buf_done(&c->out);
	weftd_buf_done(&c->spare);
	atomic_fetch_sub(&c->srv->nconns, 1);
	free(c);
}

/* Send everything appended so far; the fiber that finds nobody writing becomes the writer
 * and keeps going until the buffer stays empty, so one send carries many responses. */
static void conn_flush(struct conn *c)
{
	weftd_spin_lock(&c->lock);
	if (c->writing || c->dead || c->out.len == 0) {
		weftd_spin_unlock(&c->lock);
		return;
	}
	c->writing = true;
	while (c->out.len && !c->dead) {
		struct weftd_buf mine = c->out;
		c->out = c->spare;
		weftd_buf_reset(&c->out);
		weftd_spin_unlock(&c->lock);
		size_t off = 0;
		int r = 0;
		while (off < mine.len) {
			r = weft_send(NULL, c->fd, mine.data + off, mine.len - off, MSG_NOSIGNAL);
			if (r <= 0)
				break;
			off += (size_t)r;
		}
		bool failed = off < mine.len;
		weftd_buf_reset(&mine);
		weftd_spin_lock(&c->lock);
		c->spare = mine;
		if (failed) {
			c->dead = true;
			weft_ctx_cancel(c->ctx);
		}
	}
	c->writing = false;
	weftd_spin_unlock(&c->lock);
}

/* Append a batch of whole response lines. */
static void conn_append(struct conn *c, const struct weftd_buf *b)
{
	if (!b->len)
		return;
	weftd_spin_lock(&c->lock);
	if (!c->dead) {
		/* weftd_json_raw would add a comma; append the bytes as they are. */
		size_t need = c->out.len + b->len;
		if (need > c->out.cap) {
			size_t cap = c->out.cap ? c->out.cap : 4096;
			while (cap < need)
				cap *= 2;
			char *p = realloc(c->out.data, cap);
			if (!p) {
				weftd_spin_unlock(&c->lock);
				return;
			}
			c->out.data = p;
			c->out.cap = cap;
		}
		memcpy(c->out.data + c->out.len, b->data, b->len);
		c->out.len = need;
	}
	weftd_spin_unlock(&c->lock);
}

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
		for (size_t i = 0; i < n; i++)
			weftd_job_json(b, NULL, jobs[i]);
		weftd_json_arr_end(b);
	} else {
		weftd_job_json(b, "job", jobs[0]);
	}
	weftd_resp_end(b);
}

static void wait_main(void *arg)
{
	struct waitreq *w = arg;
	struct conn *c = w->c;
	int r = weftd_jobs_wait(c->ctx, w->jobs, w->n, w->timeout_ns);

	if (r == 0 || (r == -ETIMEDOUT && weft_ctx_err(c->ctx) == 0)) {
		struct weftd_buf b;
		weftd_buf_init(&b, NULL, 0);
		write_wait_response(&b, w->id, w->jobs, w->n, w->many, r == 0);
		if (b.err == 0) {
			conn_append(c, &b);
			conn_flush(c);
		}
		weftd_buf_done(&b);
	}
	for (size_t i = 0; i < w->n; i++)
		weftd_job_unref(w->jobs[i]);
	atomic_fetch_sub(&c->async, 1);
	conn_unref(c);
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
			weftd_resp_error(b, req->id, WEFTD_ERR_BUSY, "too many waits on this connection");
		} else {
			write_wait_response(b, req->id, jobs, n, many, done);
		}
		goto unref;
	}
	w = malloc(sizeof(*w) + n * sizeof(w->jobs[0]));
	if (!w) {
		weftd_resp_error(b, req->id, WEFTD_ERR_INTERNAL, "out of memory");
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
	if (weft_go_opts(wait_main, w, &(struct weft_go_opts){ .name = "wait" }) < 0) {
		atomic_fetch_sub(&c->async, 1);
		atomic_fetch_sub(&c->refs, 1);
		free(w);
		weftd_resp_error(b, req->id, WEFTD_ERR_INTERNAL, "out of memory");
		goto unref;
	}
	return;
unref:
	for (size_t i = 0; i < n; i++)
		weftd_job_unref(jobs[i]);
}

/* ---- ops ----------------------------------------------------------------------- */

static void op_submit(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct weftd_job *j;
	enum weftd_err code = WEFTD_ERR_INTERNAL;
	char msg[160];
	int r = weftd_engine_submit(c->srv->eng, req->pipeline, req->payload, req->payload_len, &j, &code);

	if (r < 0) {
		switch (code) {
		case WEFTD_ERR_UNKNOWN_PIPELINE:
			snprintf(msg, sizeof(msg), "no pipeline \"%.64s\"", req->pipeline);
			break;
		case WEFTD_ERR_BUSY:
			snprintf(msg, sizeof(msg), "pipeline \"%.64s\" is full: retry later", req->pipeline);
			break;
		case WEFTD_ERR_DRAINING:
			snprintf(msg, sizeof(msg), "the daemon is draining: no new jobs");
			break;
		default:
			snprintf(msg, sizeof(msg), "%s", strerror(-r));
		}
		weftd_resp_error(b, req->id, code, msg);
		return;
	}
	if (req->wait) {
		start_wait(c, b, req, &j, 1, false);
		return;
	}
	weftd_resp_begin(b, req->id);
	weftd_json_str(b, "job", j->id, WEFTD_JOB_ID_LEN);
	weftd_resp_end(b);
	weftd_job_unref(j);
}

static struct weftd_job *find_job(struct conn *c, struct weftd_buf *b, const struct weftd_request *req,
				  const char *id)
{
	struct weftd_job *j = weftd_jobs_get(weftd_engine_jobs(c->srv->eng), id, strlen(id));
	char msg[128];

	if (!j) {
		snprintf(msg, sizeof(msg), "no job \"%.64s\"", id);
		weftd_resp_error(b, req->id, WEFTD_ERR_UNKNOWN_JOB, msg);
	}
	return j;
}

static void op_wait(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	size_t n = req->job ? 1 : req->njobs;
	struct weftd_job *one, **jobs = n == 1 ? &one : malloc(n * sizeof(*jobs));

	if (!jobs) {
		weftd_resp_error(b, req->id, WEFTD_ERR_INTERNAL, "out of memory");
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
	start_wait(c, b, req, jobs, n, req->job == NULL);
out:
	if (jobs != &one)
		free(jobs);
}

static void op_handler_main(void *arg);

struct handler_call {
	struct conn *c;
	struct handler h;
	char id[WEFTD_ID_MAX + 1];
};

static void op_other(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct handler h = c->srv->handlers[req->op];
	struct handler_call *hc;
	char msg[96];

	if (!h.fn) {
		snprintf(msg, sizeof(msg), "op \"%s\" has no handler in this server",
			 weftd_op_name(req->op));
		weftd_resp_error(b, req->id, WEFTD_ERR_UNSUPPORTED, msg);
		return;
	}
	hc = malloc(sizeof(*hc));
	if (!hc) {
		weftd_resp_error(b, req->id, WEFTD_ERR_INTERNAL, "out of memory");
		return;
	}
	hc->c = c;
	hc->h = h;
	memcpy(hc->id, req->id, sizeof(hc->id));
	atomic_fetch_add(&c->refs, 1);
	atomic_fetch_add(&c->handlers, 1);
	if (weft_go_opts(op_handler_main, hc, &(struct weft_go_opts){ .name = weftd_op_name(req->op) }) < 0) {
		atomic_fetch_sub(&c->handlers, 1);
		atomic_fetch_sub(&c->refs, 1);
		free(hc);
		weftd_resp_error(b, req->id, WEFTD_ERR_INTERNAL, "out of memory");
	}
}

static void op_handler_main(void *arg)
{
	struct handler_call *hc = arg;
	struct weftd_buf b;

	weftd_buf_init(&b, NULL, 0);
	hc->h.fn(hc->h.arg, hc->id, &b);
	if (b.err == 0)
		conn_append(hc->c, &b);
	conn_flush(hc->c);
	weftd_buf_done(&b);
	atomic_fetch_sub(&hc->c->handlers, 1);
	conn_unref(hc->c);
	free(hc);
}

static void dispatch(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	struct weftd_engine *e = c->srv->eng;
	struct weftd_job *j;

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
			weftd_job_json(b, "job", j);
			weftd_resp_end(b);
			weftd_job_unref(j);
		}
		break;
	case WEFTD_OP_CANCEL:
		if ((j = find_job(c, b, req, req->job))) {
			weftd_job_cancel(weftd_engine_jobs(e), j, "canceled by client");
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
		weftd_jobs_list_json(weftd_engine_jobs(e), b, "jobs", req->pipeline, req->has_state,
				     req->state, req->limit);
		weftd_resp_end(b);
		break;
	case WEFTD_OP_STATS: {
		size_t mark = b->len;
		weftd_resp_begin(b, req->id);
		if (weftd_engine_stats_json(e, b, req->pipeline) < 0) {
			b->len = mark;
			weftd_resp_error(b, req->id, WEFTD_ERR_UNKNOWN_PIPELINE, "no such pipeline");
			break;
		}
		if (!req->pipeline)
			weftd_runtime_json(b, atomic_load(&c->srv->nconns));
		weftd_resp_end(b);
		break;
	}
	case WEFTD_OP_PIPELINES:
		weftd_resp_begin(b, req->id);
		weftd_engine_pipelines_json(e, b);
		weftd_resp_end(b);
		break;
	default:
		op_other(c, b, req);
		break;
	}
}

static void handle_line(struct conn *c, struct weftd_buf *b, const char *line, size_t len)
{
	struct weftd_request req;
	size_t mark = b->len;

	if (len == 0 || (len == 1 && line[0] == '\r'))
		return; /* blank lines are keep-alives for hand-typed sessions */
	if (weftd_request_parse(&req, line, len, c->srv->d->max_request_bytes) < 0)
		weftd_resp_error(b, req.id, req.err, req.errmsg);
	else
		dispatch(c, b, &req);
	weftd_request_done(&req);
	if (b->err) { /* out of memory building this response: say so instead */
		int err = b->err;
		b->err = 0;
		b->len = mark;
		weftd_resp_error(b, req.id, WEFTD_ERR_INTERNAL, strerror(-err));
	}
}

/* ---- connections ------------------------------------------------------------------ */

static bool peer_allowed(const struct weftd_daemon_config *d, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (!d->nallow_uids && !d->nallow_gids)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	for (size_t i = 0; i < d->nallow_uids; i++)
		if (d->allow_uids[i] == cr.uid)
			return true;
	for (size_t i = 0; i < d->nallow_gids; i++)
		if (d->allow_gids[i] == cr.gid)
			return true;
	return false;
}

static void conn_main(void *arg)
{
	struct conn *c = arg;
	size_t max = c->srv->d->max_request_bytes;
	size_t cap = READ_CHUNK, len = 0;
	char *buf = malloc(cap);
	bool skipping = false, eof = false;
	struct weftd_buf b;

	weftd_buf_init(&b, NULL, 0);
	while (buf) {
		if (len == cap) {
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
			if (!nb)
				break;
			buf = nb;
			cap = ncap;
		}
		int n = weft_recv(c->ctx, c->fd, buf + len, cap - len, 0);
		if (n <= 0) {
			eof = n == 0;
			break;
		}
		size_t scan = len, start = 0;
		unsigned lines = 0;
		len += (size_t)n;
		for (;;) {
			char *nl = memchr(buf + scan, '\n', len - scan);
			if (!nl)
				break;
			size_t end = (size_t)(nl - buf);
			if (skipping)
				skipping = false; /* the tail of an oversized line */
			else
				handle_line(c, &b, buf + start, end - start);
			start = scan = end + 1;
			/* A big batch is handled in turns: another connection's single request
			 * (and the workers) wait for one turn, not for the whole batch. */
			if (++lines % LINES_PER_TURN == 0)
				weft_yield();
		}
		if (skipping) {
			len = start = 0;
		} else if (len - start > max) {
			char msg[96];
			snprintf(msg, sizeof(msg), "request line longer than %zu bytes", max);
			weftd_resp_error(&b, NULL, WEFTD_ERR_TOO_LARGE, msg);
			skipping = true;
			len = start = 0;
		} else if (start) {
			memmove(buf, buf + start, len - start);
			len -= start;
		}
		conn_append(c, &b);
		weftd_buf_reset(&b);
		conn_flush(c);
		/* A client that sends without reading: stop reading until it catches up. */
		while (!c->dead && weft_ctx_err(c->ctx) == 0) {
			weftd_spin_lock(&c->lock);
			size_t pending = c->out.len;
			weftd_spin_unlock(&c->lock);
			if (pending < OUT_HIGH_WATER)
				break;
			conn_flush(c);
			weft_sleep(c->ctx, WEFT_MSEC);
		}
	}
	free(buf);
	weftd_buf_done(&b);
	/* The client shut down its side after `reload` or `drain` (echo ... | socat): those
	 * answer when done, the client is still reading. */
	while (eof && !c->dead && atomic_load(&c->handlers) > 0 && weft_ctx_err(c->ctx) == 0)
		weft_sleep(c->ctx, 5 * WEFT_MSEC);
	/* Closed by the server after a drain (not by the client): waits on jobs that just
	 * ended are writing their answers; let them before the connection goes. */
	for (int64_t until = weft_now() + WEFT_SEC;
	     !c->dead && atomic_load(&c->async) > 0 && weft_now() < until;)
		weft_sleep(NULL, WEFT_MSEC);
	weftd_spin_lock(&c->lock);
	c->dead = true;
	weftd_spin_unlock(&c->lock);
	weft_ctx_cancel(c->ctx); /* ends this connection's waits */
	conn_unref(c);
}

/* Over the limit or not allowed: one error line, then close. */
static void refuse(int fd, enum weftd_err code, const char *msg)
{
	char mem[256];
	struct weftd_buf b;

	weftd_buf_init(&b, mem, sizeof(mem));
	weftd_resp_error(&b, NULL, code, msg);
	if (!b.err)
		weft_send(NULL, fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

int weftd_server_run(struct weftd_server *s, weft_ctx *ctx)
{
	for (;;) {
		int fd = weft_accept(ctx, s->lfd, NULL, NULL, 0);
		if (fd < 0) {
			if (fd == -ECANCELED || fd == -ETIMEDOUT)
				return fd;
			if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
				weftd_warn("accept: %s; pausing 100ms", strerror(-fd));
				if (weft_sleep(ctx, 100 * WEFT_MSEC) < 0)
					return weft_ctx_err(ctx);
				continue;
			}
			if (fd == -EINTR || fd == -ECONNABORTED || fd == -EAGAIN)
				continue;
			weftd_err("accept: %s", strerror(-fd));
			return fd;
		}
		if (!peer_allowed(s->d, fd)) {
			refuse(fd, WEFTD_ERR_FORBIDDEN, "peer uid/gid not in allow_uids/allow_groups");
			continue;
		}
		if (atomic_fetch_add(&s->nconns, 1) >= s->d->max_connections) {
			atomic_fetch_sub(&s->nconns, 1);
			refuse(fd, WEFTD_ERR_BUSY, "too many connections");
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c || weft_ctx_with_cancel(s->conns, &c->ctx) < 0) {
			free(c);
			atomic_fetch_sub(&s->nconns, 1);
			refuse(fd, WEFTD_ERR_INTERNAL, "out of memory");
			continue;
		}
		atomic_init(&c->refs, 1);
		c->fd = fd;
		c->srv = s;
		weftd_buf_init(&c->out, NULL, 0);
		weftd_buf_init(&c->spare, NULL, 0);
		if (weft_go_opts(conn_main, c, &(struct weft_go_opts){ .name = "conn" }) < 0)
			conn_unref(c);
	}
}

/* ---- setup ------------------------------------------------------------------------ */

static int mkdir_parents(const char *path)
{
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

int weftd_server_listen(const struct weftd_daemon_config *d, bool *activated, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = sd_listen_fds(1), fd, r;

	if (n > 0) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			snprintf(err, errlen, "socket activation: fd %d is not a listening Unix stream socket", fd);
			return -EINVAL;
		}
		*activated = true;
		return fd;
	}
	*activated = false;
	if (strlen(d->socket) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", d->socket);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, d->socket);
	r = mkdir_parents(d->socket);
	if (r < 0) {
		snprintf(err, errlen, "creating the directory of %s: %s", d->socket, strerror(-r));
		return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	struct stat st;
	if (lstat(d->socket, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", d->socket);
			close(fd);
			return -EEXIST;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			snprintf(err, errlen, "%s: another daemon is listening there", d->socket);
			close(fd);
			return -EADDRINUSE;
		}
		close(fd);
		unlink(d->socket); /* stale: nobody listens */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(err, errlen, "socket: %s", strerror(errno));
			return -errno;
		}
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(d->socket, d->socket_mode) < 0 || listen(fd, 4096) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", d->socket, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

int weftd_server_new(struct weftd_engine *e, int lfd, const struct weftd_daemon_config *d,
		     struct weftd_server **ret)
{
	struct weftd_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (weft_ctx_with_cancel(NULL, &s->conns) < 0) {
		free(s);
		return -ENOMEM;
	}
	s->eng = e;
	s->d = d;
	s->lfd = lfd;
	*ret = s;
	return 0;
}

int weftd_server_close_conns(struct weftd_server *s, int64_t linger_ns)
{
	int64_t deadline = weft_now() + linger_ns;

	weft_ctx_cancel(s->conns);
	while (atomic_load(&s->nconns) > 0) {
		if (weft_now() >= deadline)
			return -ETIMEDOUT;
		weft_sleep(NULL, 5 * WEFT_MSEC);
	}
	return 0;
}

struct weftd_server *weftd_server_free(struct weftd_server *s)
{
	/* connections that outlived close_conns' linger still point here: the process is
	 * exiting, leave it to them */
	if (s && atomic_load(&s->nconns) == 0) {
		weft_ctx_unref(s->conns);
		free(s);
	}
	return NULL;
}

void weftd_server_set_handler(struct weftd_server *s, enum weftd_op op, weftd_op_handler fn, void *arg)
{
	if ((unsigned)op < WEFTD_OP__MAX)
		s->handlers[op] = (struct handler){ fn, arg };
}

unsigned weftd_server_connections(struct weftd_server *s)
{
	return atomic_load(&s->nconns);
}
