/* SPDX-License-Identifier: MIT */
/* conn.c — a connection: its reader, its writer (see server_impl.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/jscan.h"
#include "proto/json.h"
#include "server/server_impl.h"
#include "util/log.h"

void srv_conn_unref(struct conn *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	close(c->fd);
	srv_uid_put(c->srv, c->uid);
	weft_ctx_unref(c->ctx);
	weftd_buf_done(&c->out);
	weftd_buf_done(&c->spare);
	atomic_fetch_sub(&c->srv->nconns, 1);
	weft_wg_done(&c->srv->live);
	free(c);
}

/* Send everything appended so far; the fiber that finds nobody writing becomes the writer
 * and keeps going until the buffer stays empty, so one send carries many responses. */
void srv_conn_flush(struct conn *c)
{
	weft_mutex_lock(NULL, &c->lock);
	if (c->writing || c->dead || c->out.len == 0) {
		weft_mutex_unlock(&c->lock);
		return;
	}
	c->writing = true;
	while (c->out.len && !c->dead) {
		struct weftd_buf mine = c->out;
		c->out = c->spare;
		weftd_buf_reset(&c->out);
		if (c->backlogged)
			weft_cond_broadcast(&c->taken);
		weft_mutex_unlock(&c->lock);
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
		weft_mutex_lock(NULL, &c->lock);
		c->spare = mine;
		if (failed) {
			c->dead = true;
			weft_ctx_cancel(c->ctx);
		}
	}
	c->writing = false;
	atomic_store_explicit(&c->wrote_at, weft_now(), memory_order_relaxed); /* idle from here */
	if (c->backlogged)
		weft_cond_broadcast(&c->taken);
	weft_mutex_unlock(&c->lock);
}

/* Append a batch of whole response lines. */
void srv_conn_append(struct conn *c, struct weftd_buf *b)
{
	if (!b->len)
		return;
	weft_mutex_lock(NULL, &c->lock);
	if (!c->dead && c->out.len == 0 && !b->fixed) {
		/* nothing waiting: take b's block rather than copy it (a large answer is
		 * held once, not twice) */
		struct weftd_buf t = c->out;
		c->out = *b;
		weftd_buf_limit(&c->out, 0);
		*b = t;
		weftd_buf_reset(b);
	} else if (!c->dead) {
		/* weftd_json_raw would add a comma; append the bytes as they are. */
		size_t need = c->out.len + b->len;
		if (need > c->out.cap) {
			size_t cap = c->out.cap ? c->out.cap : 4096;
			while (cap < need)
				cap *= 2;
			char *p = realloc(c->out.data, cap);
			if (!p) {
				weft_mutex_unlock(&c->lock);
				return;
			}
			c->out.data = p;
			c->out.cap = cap;
		}
		memcpy(c->out.data + c->out.len, b->data, b->len);
		c->out.len = need;
	}
	weft_mutex_unlock(&c->lock);
}

/* A client that sends without reading: stop reading until the writer has taken the
 * backlog down below high (or become the writer when nobody writes), or the connection
 * is done. high 1: until everything appended has been taken. */
static void wait_backlog(struct conn *c, size_t high)
{
	weft_mutex_lock(NULL, &c->lock);
	while (!c->dead && c->out.len >= high && weft_ctx_err(c->ctx) == 0) {
		if (!c->writing) {
			weft_mutex_unlock(&c->lock);
			srv_conn_flush(c);
			weft_mutex_lock(NULL, &c->lock);
			continue;
		}
		c->backlogged++;
		int r = weft_cond_wait(c->ctx, &c->taken, &c->lock);
		c->backlogged--;
		if (r < 0)
			break; /* the client went away or the server closes */
	}
	weft_mutex_unlock(&c->lock);
}

/* After the client's EOF: park until every pending request has answered and the writer
 * has taken the answers, or the server closes. A client gone for good (closed, not just
 * shut down for writing) reads nothing more: a zero-byte send says EPIPE then, and its
 * waits end now rather than when their jobs do. (io_uring's poll reports POLLRDHUP
 * whatever the mask, so it cannot wait for the POLLHUP of a later close; that close is
 * seen when the answer's send fails.) */
static void linger_half_closed(struct conn *c)
{
	if (send(c->fd, "", 0, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EPIPE)
		return;
	weft_wg_wait(c->ctx, &c->handlers);
	weft_wg_wait(c->ctx, &c->waits);
	wait_backlog(c, 1);
}

/* The reader's deadline: a partial line must end within request_timeout of its first
 * byte; a connection with nothing pending is closed idle_timeout after its last byte.
 * The deadline is a ctx over c->ctx, renewed lazily: moved later only when it fires and
 * the connection turns out to be alive (once per timeout, not per read: no allocation on
 * the request path), moved earlier when a partial line needs an earlier one. */
struct read_timer {
	weft_ctx *ctx;                 /* NULL: no deadline now */
	int64_t at;                    /* its deadline, INT64_MAX with none */
	int64_t last;                  /* last bytes read */
	int64_t partial;               /* first byte of the unfinished line; -1: none */
};

static bool pending(struct conn *c)
{
	return atomic_load(&c->async) > 0;
}

/* The deadline the reader's state asks for now (INT64_MAX: none). */
static int64_t read_deadline(struct conn *c, const struct read_timer *t, int64_t now)
{
	const struct weftd_daemon_config *d = c->srv->d;

	if (t->partial >= 0)
		return d->request_timeout_ns ? t->partial + (int64_t)d->request_timeout_ns : INT64_MAX;
	if (!d->idle_timeout_ns)
		return INT64_MAX;
	int64_t wrote = atomic_load_explicit(&c->wrote_at, memory_order_relaxed);
	return (pending(c) ? now : t->last > wrote ? t->last : wrote) + (int64_t)d->idle_timeout_ns;
}

/* The ctx to read under; NULL: out of memory (read without a deadline then). */
static weft_ctx *read_ctx(struct conn *c, struct read_timer *t)
{
	int64_t want = read_deadline(c, t, weft_now());

	if (want < t->at) {
		weft_ctx_unref(t->ctx);
		t->ctx = NULL;
		t->at = INT64_MAX;
		if (weft_ctx_with_deadline(c->ctx, want, &t->ctx) == 0)
			t->at = want;
	}
	return t->ctx ? t->ctx : c->ctx;
}

/* The deadline fired: true when the connection is to close (a line too slow, or idle),
 * else the deadline is dropped and the next read sets the right one. */
static bool read_expired(struct conn *c, struct read_timer *t)
{
	int64_t now = weft_now(), want = read_deadline(c, t, now);

	t->ctx = weft_ctx_unref(t->ctx);
	t->at = INT64_MAX;
	if (want > now)
		return false;
	weftd_debug("connection closed: %s", t->partial >= 0 ? "request line not completed within "
		    "request_timeout" : "idle for idle_timeout");
	return true;
}

/* ---- group commit across pipelined submits ---------------------------------------
 * With a journal, a submit parks until its ACCEPT is durable. Handled one after another,
 * 100 submits pipelined on one connection would cost 100 fsyncs; run together, the
 * journal's writer takes their ACCEPTs in one batch: one writev, one fdatasync. So the
 * consecutive submit lines of one read run concurrently, a fiber each (at most
 * GROUP_MAX at once; the rest wait for the group to settle), and their answers are
 * appended in line order once all of them have answered. Every other line is a barrier:
 * it waits for the submits before it (it may ask for the job the line before created),
 * and so does a submit carrying a "key" that a submit in flight carries too (the second
 * must see the first's job). Without a journal submits never park: lines are handled
 * inline, as they come, and none of this runs. */
#define GROUP_MAX  128
#define GROUP_KEY  1024  /* longer keys are refused by the request parser; here a barrier */

struct gsub {
	struct conn *c;
	const char *line;              /* in the reader's buffer, unchanged until settled */
	size_t len;
	struct jscan_val key;          /* the submit's "key" (JSCAN_NONE: none) */
	weft_wg *wg;
	struct weftd_buf out;          /* its answer */
};

struct group {
	weft_wg wg;                    /* the submits in flight */
	unsigned n;
	struct gsub s[GROUP_MAX];
};

/* What a line is, for the group: LINE_SUBMIT (a top-level "op":"submit", *key its "key"
 * member or JSCAN_NONE), LINE_BLANK (answered by nothing), or LINE_OTHER (anything else,
 * invalid JSON included: the request parser answers those, in order). */
enum line_kind { LINE_OTHER, LINE_SUBMIT, LINE_BLANK };

static bool val_is(const char *s, const struct jscan_val *v, const char *lit)
{
	char tmp[16];
	size_t n = strlen(lit);

	return v->type == JSCAN_STR && jscan_str_copy(s, v, tmp, sizeof(tmp)) == n &&
	       memcmp(tmp, lit, n) == 0;
}

static enum line_kind line_kind(const char *line, size_t len, struct jscan_val *key)
{
	struct jscan js;
	struct jscan_val k, v;
	bool first = true, submit = false;
	int r;

	if (len == 0 || (len == 1 && line[0] == '\r'))
		return LINE_BLANK;
	key->type = JSCAN_NONE;
	jscan_init(&js, line, len);
	js.nodups = true; /* the parser checks duplicates; a duplicate "op" is its error */
	r = jscan_open(&js, '{', NULL);
	while (r == 0 && (r = jscan_next(&js, '}', &first)) == 1) {
		if ((r = jscan_key(&js, &k)) == 0 && (r = jscan_value(&js, &v)) == 0) {
			if (val_is(line, &k, "op"))
				submit = val_is(line, &v, "submit");
			else if (val_is(line, &k, "key"))
				*key = v;
		}
	}
	if (r == 0)
		r = jscan_end(&js);
	jscan_done(&js);
	return r == 0 && submit ? LINE_SUBMIT : LINE_OTHER;
}

/* Does a submit in flight carry the same key as line's (raw text or decoded alike)? */
static bool key_in_flight(const struct group *g, const char *line, const struct jscan_val *key)
{
	char a[GROUP_KEY], b[GROUP_KEY];
	size_t na, nb;

	if (key->type == JSCAN_NONE || !g)
		return false;
	if (key->type != JSCAN_STR || (na = jscan_str_copy(line, key, a, sizeof(a))) > sizeof(a))
		return g->n > 0; /* not a key the parser takes: order it all the same */
	for (unsigned i = 0; i < g->n; i++) {
		const struct gsub *s = &g->s[i];
		if (s->key.type != JSCAN_STR)
			continue;
		nb = jscan_str_copy(s->line, &s->key, b, sizeof(b));
		if (nb == na && memcmp(a, b, na) == 0)
			return true;
	}
	return false;
}

static void gsub_main(void *arg)
{
	struct gsub *s = arg;

	srv_handle_line(s->c, &s->out, s->line, s->len);
	weft_wg_done(s->wg);
}

/* Wait for the submits in flight, then append what b holds (the answers of the lines
 * before them) and theirs, in line order. */
static void group_settle(struct conn *c, struct group *g, struct weftd_buf *b)
{
	if (!g || g->n == 0)
		return;
	weft_wg_wait(NULL, &g->wg); /* not cancellable: they read the reader's buffer */
	srv_conn_append(c, b);
	weftd_buf_reset(b);
	for (unsigned i = 0; i < g->n; i++) {
		srv_conn_append(c, &g->s[i].out);
		weftd_buf_reset(&g->s[i].out);
	}
	g->n = 0;
}

static struct group *group_free(struct group *g)
{
	if (g)
		for (unsigned i = 0; i < GROUP_MAX; i++)
			weftd_buf_done(&g->s[i].out);
	free(g);
	return NULL;
}

/* Handle one line: a submit joins the group (spawned), anything else settles the group
 * and is handled here. *gp is created at the first submit (NULL: no memory, handled
 * inline). */
static void handle_line(struct conn *c, struct group **gp, struct weftd_buf *b, const char *line,
			size_t len)
{
	struct jscan_val key;
	struct group *g = *gp;
	enum line_kind kind;

	if (c->srv->d->durability == WEFTD_DURABILITY_NONE) {
		srv_handle_line(c, b, line, len);
		return;
	}
	kind = line_kind(line, len, &key);
	if (kind == LINE_BLANK)
		return;
	if (kind == LINE_SUBMIT && !g && (g = *gp = calloc(1, sizeof(*g)))) {
		weft_wg_init(&g->wg);
		for (unsigned i = 0; i < GROUP_MAX; i++)
			weftd_buf_init(&g->s[i].out, NULL, 0);
	}
	if (kind != LINE_SUBMIT || !g || g->n == GROUP_MAX || key_in_flight(g, line, &key))
		group_settle(c, g, b);
	if (kind == LINE_SUBMIT && g) {
		struct gsub *s = &g->s[g->n];
		s->c = c;
		s->line = line;
		s->len = len;
		s->key = key;
		s->wg = &g->wg;
		weft_wg_add(&g->wg, 1);
		if (weft_go_opts(gsub_main, s, &(struct weft_go_opts){ .name = "submit" }) == 0) {
			g->n++;
			return;
		}
		weft_wg_done(&g->wg);
		group_settle(c, g, b);
	}
	srv_handle_line(c, b, line, len);
}

void srv_conn_main(void *arg)
{
	struct conn *c = arg;
	struct read_timer rt = { .at = INT64_MAX, .last = weft_now(), .partial = -1 };
	size_t max = c->srv->d->max_request_bytes;
	size_t cap = READ_CHUNK, len = 0;
	char *buf = malloc(cap);
	bool skipping = false, eof = false;
	struct weftd_buf b;
	struct group *g = NULL;

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
		int n = weft_recv(read_ctx(c, &rt), c->fd, buf + len, cap - len, 0);
		if (n == -ETIMEDOUT && rt.ctx && weft_ctx_err(c->ctx) == 0) {
			if (read_expired(c, &rt))
				break;
			continue;
		}
		if (n <= 0) {
			eof = n == 0;
			break;
		}
		size_t scan = len, start = 0;
		unsigned lines = 0;
		len += (size_t)n;
		rt.last = weft_now();
		if (rt.partial < 0)
			rt.partial = rt.last;
		for (;;) {
			char *nl = memchr(buf + scan, '\n', len - scan);
			if (!nl)
				break;
			size_t end = (size_t)(nl - buf);
			if (skipping)
				skipping = false; /* the tail of an oversized line */
			else
				handle_line(c, &g, &b, buf + start, end - start);
			start = scan = end + 1;
			/* A big batch is handled in turns: another connection's single request
			 * (and the workers) wait for one turn, not for the whole batch. */
			if (++lines % LINES_PER_TURN == 0)
				weft_yield();
		}
		group_settle(c, g, &b); /* before buf moves: the submits read their lines there */
		if (skipping) {
			len = start = 0;
		} else if (len - start > max) {
			char lim[24];
			snprintf(lim, sizeof(lim), "%zu", max);
			srv_resp_errno(&b, NULL, -EMSGSIZE, lim);
			skipping = true;
			len = start = 0;
		} else if (start) {
			memmove(buf, buf + start, len - start);
			len -= start;
		}
		if (!skipping && lines)
			rt.partial = len ? rt.last : -1; /* the rest began in this read */
		srv_conn_append(c, &b);
		weftd_buf_reset(&b);
		srv_conn_flush(c);
		wait_backlog(c, OUT_HIGH_WATER);
	}
	free(buf);
	group_free(g);
	weft_ctx_unref(rt.ctx);
	weftd_buf_done(&b);
	/* The client shut down its side (echo ... | socat) and may still be reading: what it
	 * asked (waits, reload, drain) is answered before the connection closes. */
	if (eof)
		linger_half_closed(c);
	/* Closed by the server after a drain (not by the client): waits on jobs that just
	 * ended are writing their answers; let them before the connection goes. */
	if (atomic_load(&c->async) > 0) {
		weft_ctx *linger;
		if (weft_ctx_with_timeout(NULL, WAITS_LINGER, &linger) == 0) {
			weft_wg_wait(linger, &c->waits);
			weft_ctx_unref(linger);
		}
	}
	weft_mutex_lock(NULL, &c->lock);
	c->dead = true;
	weft_mutex_unlock(&c->lock);
	weft_ctx_cancel(c->ctx); /* ends this connection's waits */
	srv_conn_unref(c);
}
