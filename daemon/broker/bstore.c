/* SPDX-License-Identifier: MIT */
/* bstore.c — the broker store (engine.h's struct weftd_store_ops): the engine's workers
 * run a broker pipeline's stages through it, in the same loop as a local pipeline's
 * (timeouts, retries, heartbeats, rate limit, cancel, trace spans, stats are the
 * engine's). get takes an entry the stage's fetcher read (bworker.c) and makes it a
 * transient job; finish, advance and retry commit it to Redis (bcommit.c, bsched.c).
 *
 * The engine's pipeline and this node's broker pipeline (struct bpipe, its fetchers and
 * leases) live apart: a reload rebuilds each on its own side. A worker finds the running
 * bpipe by name at each get, and holds it (its wg) from then until it releases the entry,
 * so that a bpipe stops only once its entries are committed or let go. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_impl.h"

#define NOMEM_PAUSE_NS (50 * WEFT_MSEC) /* out of memory for a job: try again after */

struct bstore {
	struct weftd_broker *br;
	const struct weftd_pipeline *cfg;
	weft_ctx *ctx;                 /* cancelled when the engine's pipeline retires */
	/* current()'s answer for br->gen (found by name, its config compared: too much for
	 * every job); written by any worker under the broker's lock read-held, when the
	 * generation cannot change: cur before gen, read gen before cur */
	_Atomic(struct bpipe *) cur;
	atomic_uint_fast64_t gen;      /* 0: none yet (br->gen starts at 1) */
};

static void *bs_open(void *arg, const struct weftd_pipeline *cfg)
{
	struct bstore *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->br = arg;
	h->cfg = cfg;
	if (weft_ctx_with_cancel(NULL, &h->ctx) < 0) {
		free(h);
		return NULL;
	}
	return h;
}

static void bs_close(void *st)
{
	struct bstore *h = st;

	weft_ctx_cancel(h->ctx);
}

static void bs_free(void *st)
{
	struct bstore *h = st;

	weft_ctx_unref(h->ctx);
	free(h);
}

/* The running bpipe of h's pipeline, as configured alike, with stage k, with br->lock
 * read-held (the caller unlocks); or NULL, unlocked, with *ret_gen the generation looked
 * at (the next may have it: broker_gen_wait). */
static struct bpipe *current(struct bstore *h, uint32_t k, uint64_t *ret_gen)
{
	struct bpipe *p;
	uint64_t gen;

	weft_rwmutex_rlock(NULL, &h->br->lock);
	gen = *ret_gen = atomic_load_explicit(&h->br->gen, memory_order_relaxed);
	if (atomic_load_explicit(&h->gen, memory_order_acquire) == gen) {
		p = atomic_load_explicit(&h->cur, memory_order_relaxed);
	} else {
		p = bpipe_find(h->br, h->cfg->name);
		if (p && !weftd_pipeline_equal(p->cfg, h->cfg))
			p = NULL; /* another config's: the engine's pipeline is retiring */
		atomic_store_explicit(&h->cur, p, memory_order_relaxed);
		atomic_store_explicit(&h->gen, gen, memory_order_release);
	}
	if (p && k < p->nstages && p->ctx && weft_ctx_err(p->ctx) == 0)
		return p;
	weft_rwmutex_runlock(&h->br->lock);
	return NULL;
}

/* Whether e may run: entries canceled, expired before they started, or delivered too
 * often end here (committed) instead. */
static bool runnable(struct bstage *s, struct bentry *e)
{
	const struct weftd_stage *cfg = s->cfg;
	uint32_t attempt = e->base + e->delivered;
	char msg[400];

	if (e->canceled) {
		bcommit_end(s, e, "canceled", NULL, 0, "canceled by client", e->delivered - 1);
		return false;
	}
	if (e->deadline_ms > 0 && bwall_ms() >= e->deadline_ms) {
		bcommit_end(s, e, "expired", NULL, 0, "deadline passed", e->base);
		return false;
	}
	/* Attempts count from the delivery count (a take-over is the next attempt) after
	 * those of earlier deliveries (a retry's, carried by its entry). One delivery may
	 * have been lost to a node or a connection that went away before it started (no
	 * attempt made): only one beyond that fails the job unrun, which bounds a job that
	 * takes its nodes down with it. */
	if (attempt > cfg->retry.attempts + 1) {
		snprintf(msg, sizeof(msg), "stage %s: attempt %u/%u: delivered %u times (taken over from lost nodes)",
			 cfg->name, attempt - 1, cfg->retry.attempts, e->delivered);
		bcommit_end(s, e, "failed", NULL, 0, msg, attempt - 1);
		return false;
	}
	return true;
}

static int bs_get(void *st, struct weftd_pipe *ep, uint32_t k, struct weftd_job **ret, void **tok)
{
	struct bstore *h = st;

	for (;;) {
		struct bpipe *p;
		struct bentry *e;
		uint64_t gen;
		if (weft_ctx_err(h->ctx))
			return -EPIPE;
		if (!(p = current(h, k, &gen))) { /* not started yet, or being reloaded */
			broker_gen_wait(h->br, gen, h->ctx);
			continue;
		}
		struct bstage *s = &p->stages[k];
		weft_wg_add(&p->wg, 1); /* under the lock: p is not stopping */
		weft_rwmutex_runlock(&h->br->lock);
		atomic_fetch_add(&s->idle, 1);
		int r = weft_chan_recv(h->ctx, s->ch, &e);
		atomic_fetch_sub(&s->idle, 1);
		if (r < 0) { /* p stops (look for its successor), or the engine's pipe retires */
			weft_wg_done(&p->wg);
			continue;
		}
		/* Only the entries fetched just before a pause wait here (the fetchers stop
		 * reading while paused); either side stopping leaves it pending, taken over */
		if (bpause_wait(p, h->ctx) < 0 || !runnable(s, e)) {
			bheld_drop(s, e);
			weft_wg_done(&p->wg);
			continue;
		}
		bheld_mark(s, e); /* (fetched while paused: its job shows running only now) */
		const char *hex = strchr(e->jid, '/') + 1; /* checked at fetch (entry_of) */
		unsigned char *in = (unsigned char *)e->in;
		e->in = NULL; /* the job's input now */
		if (weftd_store_job(ep, hex, in, e->in_len, e->base + e->delivered - 1, e->deadline_ms, ret) < 0) {
			bheld_drop(s, e); /* pending: taken over after heartbeat_timeout */
			weft_wg_done(&p->wg);
			weft_sleep(h->ctx, NOMEM_PAUSE_NS);
			continue;
		}
		e->s = s;
		/* a cancel published by any node cancels the job's ctx, and so its attempt */
		e->run.jid = e->jid;
		e->run.ctx = weftd_job_info(*ret)->ctx;
		bcancel_add(p->br, &e->run);
		*tok = e;
		return 0;
	}
}

static void bs_release(void *st, uint32_t k, struct weftd_job *j, void *tok)
{
	struct bentry *e = tok;
	struct bstage *s = e->s;
	struct bpipe *p = s->p;

	bcancel_remove(p->br, &e->run);
	bheld_drop(s, e);
	weftd_job_unref(j);
	weft_wg_done(&p->wg); /* last: p may stop and go once it is done */
}

static bool bs_finish(void *st, uint32_t k, struct weftd_job *j, void *tok, enum weftd_job_state state,
		      char *out, size_t out_len, const char *why, uint32_t attempts, int64_t now_ns)
{
	static const char *const names[] = {
		[WEFTD_JOB_DONE] = "done", [WEFTD_JOB_FAILED] = "failed",
		[WEFTD_JOB_CANCELED] = "canceled", [WEFTD_JOB_EXPIRED] = "expired",
	};
	struct bentry *e = tok;
	struct weftd_job_cargo *cg = weftd_job_cargo(j);

	/* a dead letter keeps its stage's input (bdead.c re-drives it): the job's, borrowed */
	if (state == WEFTD_JOB_FAILED) {
		e->in = (char *)cg->input;
		e->in_len = cg->input_len;
	}
	/* -ECANCELED (stopping): nothing committed, the entry is taken over later */
	bcommit_end(e->s, e, names[state] ? names[state] : "failed", state == WEFTD_JOB_DONE ? out : NULL,
		    out_len, why, attempts);
	e->in = NULL;
	free(out);
	return true;
}

static int bs_advance(void *st, uint32_t k, struct weftd_job *j, void *tok, char *out, size_t out_len)
{
	struct bentry *e = tok;

	bcommit_next(e->s, e, out ? out : "", out ? out_len : 0);
	free(out);
	bs_release(st, k, j, tok);
	return 0;
}

/* The next attempt waits in the schedule (bsched.c), holding no worker; whichever node's
 * keeper finds it due puts it back into this stage's stream. */
static int bs_retry(void *st, uint32_t k, struct weftd_job *j, void *tok, uint32_t attempt, int64_t delay_ns,
		    const char *why)
{
	struct bentry *e = tok;
	struct weftd_job_cargo *cg = weftd_job_cargo(j);

	e->in = (char *)cg->input; /* borrowed: the retry's input */
	e->in_len = cg->input_len;
	bsched_retry(e->s, e, attempt, bwall_ms() + (delay_ns > 0 ? delay_ns / WEFT_MSEC : 0), why);
	e->in = NULL;
	return 0;
}

/* The cluster's paused state as this node knows it (weft:{P}:paused, bpause.c). Parks
 * only while a reload holds the broker's lock. */
static bool bs_paused(void *st)
{
	struct bstore *h = st;
	struct bpipe *p = bpipe_rlock(h->br, h->cfg->name);
	bool paused = p && bpause_is(p);

	if (p)
		weft_rwmutex_runlock(&h->br->lock);
	return paused;
}

/* "P/HEX", as clients know it (the transient job's own id is HEX alone) */
static const char *bs_job_id(void *tok)
{
	return ((struct bentry *)tok)->jid;
}

const struct weftd_store_ops weftd_broker_store = {
	.open = bs_open, .close = bs_close, .free = bs_free, .get = bs_get, .finish = bs_finish,
	.advance = bs_advance, .retry = bs_retry, .release = bs_release, .paused = bs_paused,
	.job_id = bs_job_id, .attempt_deadline = true,
};
