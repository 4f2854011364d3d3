/* SPDX-License-Identifier: MIT */
/* patterns.c — Go's channel patterns over weft_chan: stage/fan-out, merge,
 * tee, bridge, or, or-done and the worker pool.
 *
 * Each pattern is a "crew": one heap block holding the references its
 * fibers need (ctx, channels), a count of live fibers and one element
 * buffer per fiber, allocated once at start so the per-value path allocates
 * nothing. The last fiber to leave closes the outputs and frees the block.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include <weft/patterns.h>

#define CREW_MAX 1024

struct crew;
struct member {
	struct crew *c;
	weft_chan *in;                 /* this member's input (merge: one each) */
	unsigned char *buf;            /* isz + osz bytes */
};

struct crew {
	atomic_uint live;              /* members still running */
	weft_ctx *ctx;                 /* reference */
	weft_ctx *cancel_on_exit;      /* or-tree: cancel and unref at the end */
	weft_chan *out, *out2;         /* references; closed at the end */
	weft_chan **ins;               /* or: the inputs (references) */
	size_t nins;
	weft_stage_fn fn;
	void *arg;
	size_t isz, osz;
	struct member m[];
};

static struct crew *crew_new(weft_ctx *ctx, unsigned n, size_t isz, size_t osz)
{
	size_t per = isz + osz;
	size_t hdr = sizeof(struct crew) + n * sizeof(struct member);
	hdr = (hdr + 15) & ~(size_t)15;
	struct crew *c = calloc(1, hdr + (size_t)n * ((per + 15) & ~(size_t)15));
	if (!c)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		c->m[i].c = c;
		c->m[i].buf = (unsigned char *)c + hdr + i * ((per + 15) & ~(size_t)15);
	}
	c->isz = isz;
	c->osz = osz;
	c->ctx = weft_ctx_ref(ctx);
	return c;
}

static void crew_free(struct crew *c)
{
	for (size_t i = 0; i < c->nins; i++)
		weft_chan_unref(c->ins[i]);
	free(c->ins);
	weft_chan_unref(c->out);
	weft_chan_unref(c->out2);
	weft_ctx_unref(c->ctx);
	free(c);
}

/* A member leaves; the last one closes the outputs and frees the crew. */
static void crew_leave(struct crew *c)
{
	if (atomic_fetch_sub(&c->live, 1) != 1)
		return;
	if (c->out)
		weft_chan_close(c->out);
	if (c->out2)
		weft_chan_close(c->out2);
	if (c->cancel_on_exit) {
		weft_ctx_cancel(c->cancel_on_exit);
		weft_ctx_unref(c->cancel_on_exit);
	}
	crew_free(c);
}

/* Spawn n members running fn; members that could not be spawned leave at
 * once, so the crew still ends properly. Returns 0 or the spawn error. */
static int crew_start(struct crew *c, unsigned n, weft_fn fn)
{
	atomic_store(&c->live, n);
	int err = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!err)
			err = weft_go(fn, &c->m[i]);
		if (err) {
			weft_chan_unref(c->m[i].in);
			crew_leave(c);
		}
	}
	return err;
}

/* ---- stage / fan-out ---- */

static void stage_fiber(void *arg)
{
	struct member *m = arg;
	struct crew *c = m->c;
	void *in = m->buf, *out = m->buf + c->isz;
	for (;;) {
		if (weft_chan_recv(c->ctx, m->in, in) < 0)
			break;
		int r = c->fn(c->ctx, in, out, c->arg);
		if (r > 0)
			continue;
		if (r < 0 || weft_chan_send(c->ctx, c->out, out) < 0)
			break;
	}
	weft_chan_unref(m->in);
	crew_leave(c);
}

int weft_fanout_go(weft_ctx *ctx, weft_chan *in, weft_chan *out, unsigned n, weft_stage_fn fn, void *arg)
{
	if (!in || !out || !fn || n == 0 || n > CREW_MAX)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	struct crew *c = crew_new(ctx, n, weft_chan_elem_size(in), weft_chan_elem_size(out));
	if (!c)
		return -ENOMEM;
	c->out = weft_chan_ref(out);
	c->fn = fn;
	c->arg = arg;
	for (unsigned i = 0; i < n; i++)
		c->m[i].in = weft_chan_ref(in);
	return crew_start(c, n, stage_fiber);
}

int weft_stage_go(weft_ctx *ctx, weft_chan *in, weft_chan *out, weft_stage_fn fn, void *arg)
{
	return weft_fanout_go(ctx, in, out, 1, fn, arg);
}

/* ---- merge ---- */

static void forward_fiber(void *arg)
{
	struct member *m = arg;
	struct crew *c = m->c;
	while (weft_chan_recv(c->ctx, m->in, m->buf) == 0)
		if (weft_chan_send(c->ctx, c->out, m->buf) < 0)
			break;
	weft_chan_unref(m->in);
	crew_leave(c);
}

int weft_merge(weft_ctx *ctx, weft_chan *const *ins, size_t n, weft_chan *out)
{
	if (!ins || !out || n == 0 || n > CREW_MAX)
		return -EINVAL;
	size_t sz = weft_chan_elem_size(out);
	for (size_t i = 0; i < n; i++)
		if (!ins[i] || weft_chan_elem_size(ins[i]) != sz)
			return -EINVAL;
	if (!weft__self())
		return -EPERM;
	struct crew *c = crew_new(ctx, (unsigned)n, sz, 0);
	if (!c)
		return -ENOMEM;
	c->out = weft_chan_ref(out);
	for (size_t i = 0; i < n; i++)
		c->m[i].in = weft_chan_ref(ins[i]);
	return crew_start(c, (unsigned)n, forward_fiber);
}

/* ---- tee ---- */

static void tee_fiber(void *arg)
{
	struct member *m = arg;
	struct crew *c = m->c;
	while (weft_chan_recv(c->ctx, m->in, m->buf) == 0) {
		/* both outputs get the value, whichever is ready first */
		struct weft_sel cs[2] = {
			{ .ch = c->out, .op = WEFT_SEL_SEND, .elem = m->buf },
			{ .ch = c->out2, .op = WEFT_SEL_SEND, .elem = m->buf },
		};
		int k, sent = 0;
		while (sent < 2 && (k = weft_select(c->ctx, cs, 2, false)) >= 0 && cs[k].res == 0) {
			cs[k].ch = NULL; /* a NULL case is never chosen again */
			sent++;
		}
		if (sent < 2)
			break;
	}
	weft_chan_unref(m->in);
	crew_leave(c);
}

int weft_tee(weft_ctx *ctx, weft_chan *in, weft_chan *out1, weft_chan *out2)
{
	if (!in || !out1 || !out2 || out1 == out2)
		return -EINVAL;
	size_t sz = weft_chan_elem_size(in);
	if (weft_chan_elem_size(out1) != sz || weft_chan_elem_size(out2) != sz)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	struct crew *c = crew_new(ctx, 1, sz, 0);
	if (!c)
		return -ENOMEM;
	c->out = weft_chan_ref(out1);
	c->out2 = weft_chan_ref(out2);
	c->m[0].in = weft_chan_ref(in);
	return crew_start(c, 1, tee_fiber);
}

/* ---- bridge ---- */

static void bridge_fiber(void *arg)
{
	struct member *m = arg;
	struct crew *c = m->c;
	weft_chan *inner;
	bool stop = false;
	while (!stop && weft_chan_recv(c->ctx, m->in, &inner) == 0) {
		if (inner) {
			int r;
			while ((r = weft_chan_recv(c->ctx, inner, m->buf)) == 0)
				if (weft_chan_send(c->ctx, c->out, m->buf) < 0)
					break;
			stop = r != -EPIPE;
		}
		weft_chan_unref(inner);
	}
	if (stop || weft_ctx_err(c->ctx)) {
		/* stopped early: release the references still queued to us */
		while (weft_chan_try_recv(m->in, &inner) == 0)
			weft_chan_unref(inner);
	}
	weft_chan_unref(m->in);
	crew_leave(c);
}

int weft_bridge(weft_ctx *ctx, weft_chan *chans, weft_chan *out)
{
	if (!chans || !out || weft_chan_elem_size(chans) != sizeof(weft_chan *))
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	struct crew *c = crew_new(ctx, 1, weft_chan_elem_size(out), 0);
	if (!c)
		return -ENOMEM;
	c->out = weft_chan_ref(out);
	c->m[0].in = weft_chan_ref(chans);
	return crew_start(c, 1, bridge_fiber);
}

/* ---- or-channel ---- */

#define OR_FAN 64 /* weft_select's limit */

static void or_fiber(void *arg)
{
	struct member *m = arg;
	struct crew *c = m->c;
	struct weft_sel cs[OR_FAN];
	for (size_t i = 0; i < c->nins; i++)
		cs[i] = (struct weft_sel){ .ch = c->ins[i], .op = WEFT_SEL_RECV };
	weft_select(c->ctx, cs, c->nins, false); /* any outcome means done */
	crew_leave(c);
}

/* One fiber over at most OR_FAN inputs; cancel (owned) is cancelled when it ends. */
static int or_leaf(weft_ctx *ctx, weft_chan *const *dones, size_t n, weft_ctx *cancel, weft_chan **ret)
{
	weft_chan *out;
	int r = weft_chan_new(1, 0, &out);
	if (r < 0)
		return r;
	struct crew *c = crew_new(ctx, 1, 0, 0);
	weft_chan **ins = calloc(n, sizeof(*ins));
	if (!c || !ins) {
		free(ins);
		if (c)
			crew_free(c);
		weft_chan_unref(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ins[i] = weft_chan_ref(dones[i]);
	c->ins = ins;
	c->nins = n;
	c->out = weft_chan_ref(out);
	c->cancel_on_exit = cancel;
	r = crew_start(c, 1, or_fiber);
	if (r < 0) {
		weft_chan_unref(out);
		return r;
	}
	*ret = out;
	return 0;
}

/* Above OR_FAN inputs: or-channels of chunks under a child ctx, then an or
 * of those; when the top one ends it cancels the child ctx, so the chunk
 * fibers that did not fire end too (Go's guide passes its own done channel
 * down for the same reason). */
static int or_build(weft_ctx *ctx, weft_chan *const *dones, size_t n, weft_chan **ret)
{
	if (n <= OR_FAN)
		return or_leaf(ctx, dones, n, NULL, ret);
	weft_ctx *sub;
	int r = weft_ctx_with_cancel(ctx, &sub);
	if (r < 0)
		return r;
	size_t k = (n + OR_FAN - 1) / OR_FAN;
	weft_chan **mid = calloc(k, sizeof(*mid));
	if (!mid) {
		weft_ctx_unref(sub);
		return -ENOMEM;
	}
	for (size_t i = 0; i < k && r == 0; i++) {
		size_t len = n - i * OR_FAN < OR_FAN ? n - i * OR_FAN : OR_FAN;
		r = or_build(sub, dones + i * OR_FAN, len, &mid[i]);
	}
	weft_chan *top = NULL;
	if (r == 0)
		r = or_build(sub, mid, k, &top);
	if (r == 0)
		r = or_leaf(ctx, &top, 1, sub, ret); /* owns sub from here */
	if (r < 0) {
		weft_ctx_cancel(sub);
		weft_ctx_unref(sub);
	}
	weft_chan_unref(top);
	for (size_t i = 0; i < k; i++)
		weft_chan_unref(mid[i]);
	free(mid);
	return r;
}

int weft_or(weft_ctx *ctx, weft_chan *const *dones, size_t n, weft_chan **ret)
{
	if (!dones || n == 0 || !ret)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!dones[i])
			return -EINVAL;
	if (!weft__self())
		return -EPERM;
	return or_build(ctx, dones, n, ret);
}

/* ---- or-done ---- */

static void or_done_fiber(void *arg)
{
	struct member *m = arg;
	struct crew *c = m->c;
	weft_chan *done = c->nins ? c->ins[0] : NULL;
	for (;;) {
		struct weft_sel rc[2] = { { .ch = m->in, .op = WEFT_SEL_RECV, .elem = m->buf },
					  { .ch = done, .op = WEFT_SEL_RECV } };
		if (weft_select(c->ctx, rc, 2, false) != 0 || rc[0].res < 0)
			break;
		struct weft_sel sc[2] = { { .ch = c->out, .op = WEFT_SEL_SEND, .elem = m->buf },
					  { .ch = done, .op = WEFT_SEL_RECV } };
		if (weft_select(c->ctx, sc, 2, false) != 0 || sc[0].res < 0)
			break;
	}
	weft_chan_unref(m->in);
	crew_leave(c);
}

int weft_or_done(weft_ctx *ctx, weft_chan *done, weft_chan *in, weft_chan **ret)
{
	if (!in || !ret)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	size_t sz = weft_chan_elem_size(in);
	weft_chan *out;
	int r = weft_chan_new(sz, 0, &out);
	if (r < 0)
		return r;
	struct crew *c = crew_new(ctx, 1, sz, 0);
	weft_chan **ins = done ? calloc(1, sizeof(*ins)) : NULL;
	if (!c || (done && !ins)) {
		free(ins);
		if (c)
			crew_free(c);
		weft_chan_unref(out);
		return -ENOMEM;
	}
	if (done) {
		ins[0] = weft_chan_ref(done);
		c->ins = ins;
		c->nins = 1;
	}
	c->out = weft_chan_ref(out);
	c->m[0].in = weft_chan_ref(in);
	r = crew_start(c, 1, or_done_fiber);
	if (r < 0) {
		weft_chan_unref(out);
		return r;
	}
	*ret = out;
	return 0;
}

/* ---- worker pool ---- */

struct weft_workpool {
	weft_ctx *ctx;
	weft_chan *jobs, *results;
	weft_workpool_fn fn;
	void *arg;
	size_t job_size, result_size;
	unsigned workers;
	atomic_uint live;
	weft_wg wg;
	atomic_uint refs;              /* the owner's, until free, and one per worker */
	atomic_uint_fast64_t done, failed, skipped;
	unsigned char *bufs;           /* per worker: job + result */
};

static void pool_unref(weft_workpool *p)
{
	if (atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	weft_chan_unref(p->jobs);
	weft_chan_unref(p->results);
	weft_ctx_unref(p->ctx);
	free(p);
}

struct pool_member {
	weft_workpool *p;
	unsigned char *job, *res;
};

static void pool_worker(void *arg)
{
	struct pool_member *pm = arg;
	weft_workpool *p = pm->p;
	while (weft_chan_recv(p->ctx, p->jobs, pm->job) == 0) {
		int r = p->fn(p->ctx, pm->job, pm->res, p->arg);
		if (r < 0) {
			atomic_fetch_add(&p->failed, 1);
			continue;
		}
		if (r > 0 || !p->results) {
			atomic_fetch_add(r > 0 ? &p->skipped : &p->done, 1);
			continue;
		}
		atomic_fetch_add(&p->done, 1);
		if (weft_chan_send(p->ctx, p->results, pm->res) < 0)
			break;
	}
	if (atomic_fetch_sub(&p->live, 1) == 1 && p->results)
		weft_chan_close(p->results);
	weft_wg_done(&p->wg);
	pool_unref(p); /* last touch of p: its owner may have freed it */
}

int weft_workpool_new(weft_ctx *ctx, const struct weft_workpool_opts *o, weft_workpool **ret)
{
	if (!o || !ret || !o->fn || o->workers == 0 || o->workers > CREW_MAX || o->job_size == 0)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	size_t per = ((o->job_size + 15) & ~(size_t)15) + ((o->result_size + 15) & ~(size_t)15);
	size_t hdr = (sizeof(weft_workpool) + o->workers * sizeof(struct pool_member) + 15) & ~(size_t)15;
	weft_workpool *p = calloc(1, hdr + o->workers * per);
	if (!p)
		return -ENOMEM;
	int r = weft_chan_new(o->job_size, o->queue, &p->jobs);
	if (r == 0 && o->result_size)
		r = weft_chan_new(o->result_size, o->results_queue, &p->results);
	if (r < 0) {
		weft_chan_unref(p->jobs);
		free(p);
		return r;
	}
	p->ctx = weft_ctx_ref(ctx);
	p->fn = o->fn;
	p->arg = o->arg;
	p->job_size = o->job_size;
	p->result_size = o->result_size;
	p->workers = o->workers;
	weft_wg_init(&p->wg);
	weft_wg_add(&p->wg, o->workers);
	atomic_store(&p->live, o->workers);
	atomic_store(&p->refs, o->workers + 1);
	struct pool_member *pm = (struct pool_member *)(p + 1);
	unsigned char *bufs = (unsigned char *)p + hdr;
	for (unsigned i = 0; i < o->workers; i++) {
		pm[i] = (struct pool_member){ p, bufs + i * per,
					      bufs + i * per + ((o->job_size + 15) & ~(size_t)15) };
		if (weft_go(pool_worker, &pm[i]) < 0) {
			/* workers that could not start leave at once */
			if (atomic_fetch_sub(&p->live, 1) == 1 && p->results)
				weft_chan_close(p->results);
			weft_wg_done(&p->wg);
			atomic_fetch_sub(&p->refs, 1); /* the owner's is still held */
			r = -ENOMEM;
		}
	}
	if (r < 0) {
		weft_workpool_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int weft_workpool_submit(weft_ctx *ctx, weft_workpool *p, const void *job)
{
	if (!p || !job)
		return -EINVAL;
	return weft_chan_send(ctx, p->jobs, job);
}

weft_chan *weft_workpool_jobs(weft_workpool *p)
{
	return p ? p->jobs : NULL;
}

weft_chan *weft_workpool_results(weft_workpool *p)
{
	return p ? p->results : NULL;
}

int weft_workpool_close(weft_workpool *p)
{
	if (!p)
		return -EINVAL;
	weft_chan_close(p->jobs); /* -EPIPE the second time: idempotent for us */
	return 0;
}

int weft_workpool_wait(weft_ctx *ctx, weft_workpool *p)
{
	if (!p)
		return -EINVAL;
	return weft_wg_wait(ctx, &p->wg);
}

void weft_workpool_stats(weft_workpool *p, struct weft_workpool_stats *ret)
{
	if (!p || !ret)
		return;
	ret->done = atomic_load(&p->done);
	ret->failed = atomic_load(&p->failed);
	ret->skipped = atomic_load(&p->skipped);
}

weft_workpool *weft_workpool_free(weft_workpool *p)
{
	if (!p)
		return NULL;
	weft_workpool_close(p);
	weft_workpool_wait(NULL, p); /* outside a fiber: -EPERM, the workers finish alone */
	pool_unref(p);
	return NULL;
}
