/* SPDX-License-Identifier: MIT */
/* bworker.c — a broker pipeline's fibers on this node (broker.h): per stage a fetcher
 * (XREADGROUP on its own connection) feeding the workers, which run the stage's actor and
 * commit each entry in one script (EVALSHA); per pipeline a lease fiber (XCLAIM of the entries
 * held, XAUTOCLAIM of the abandoned ones, this node's heartbeat in the nodes hash). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_impl.h"
#include "util/log.h"

#define FETCH_BLOCK_MS 1000
#define COMMIT_BACKOFF_MAX_NS (2000 * WEFT_MSEC)

/* ---- held entries ----------------------------------------------------------------- */

static void held_add(struct bstage *s, struct bentry *e)
{
	weftd_spin_lock(&s->hlock);
	e->prev = NULL;
	e->next = s->held;
	if (s->held)
		s->held->prev = e;
	s->held = e;
	s->nheld++;
	weftd_spin_unlock(&s->hlock);
}

static void held_drop(struct bstage *s, struct bentry *e)
{
	weftd_spin_lock(&s->hlock);
	if (e->prev)
		e->prev->next = e->next;
	else
		s->held = e->next;
	if (e->next)
		e->next->prev = e->prev;
	s->nheld--;
	weftd_spin_unlock(&s->hlock);
	free(e->in);
	free(e);
}

/* An entry reply [eid, [field, value, ...]] as a held entry (NULL when malformed: a
 * deleted entry comes back from XAUTOCLAIM as nil fields). */
static struct bentry *entry_of(struct bstage *s, const redisReply *r, uint32_t delivered)
{
	const redisReply *f;
	struct bentry *e;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len >= sizeof(e->eid) || (f = r->element[1])->type != REDIS_REPLY_ARRAY)
		return NULL;
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	memcpy(e->eid, r->element[0]->str, r->element[0]->len);
	e->delivered = delivered;
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		const redisReply *k = f->element[i], *v = f->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "id") == 0 && v->len <= WEFTD_BROKER_ID_MAX)
			memcpy(e->jid, v->str, v->len);
		else if (strcmp(k->str, "a") == 0) /* bsched.c: a retry's attempts so far */
			e->base = (uint32_t)strtoul(v->str, NULL, 10);
		else if (strcmp(k->str, "dl") == 0) /* the job's deadline */
			e->deadline_ms = strtoll(v->str, NULL, 10);
		else if (strcmp(k->str, "in") == 0 && !e->in && (e->in = malloc(v->len + 1))) {
			memcpy(e->in, v->str, v->len);
			e->in[v->len] = 0;
			e->in_len = v->len;
		}
	}
	if (!e->jid[0] || !e->in) {
		free(e->in);
		free(e);
		return NULL;
	}
	return e;
}

/* ---- commits ---------------------------------------------------------------------- */

/* Run one script call (b) until Redis has it: a worker holding a finished attempt keeps
 * it through an outage and commits once Redis is back. 0, or -ECANCELED when the
 * pipeline stops meanwhile (the entry stays pending: another node, or this one, takes it
 * over). A script runs whole or not at all, as MULTI/EXEC, in one command and one reply
 * (hiredis builds one reply object instead of a dozen). */
static int commit(struct bstage *s, struct rbatch *b, const char *script)
{
	int64_t backoff = 20 * WEFT_MSEC;
	uint64_t rnd = (uint64_t)weft_now();

	for (;;) {
		redisReply *rep;
		int r = rconn_evalsha(NULL, bnet_conn(s->p->net), b, script, &rep);
		if (r == 0) {
			bool ok = !rreply_err(rep);
			if (!ok)
				weftd_warn("pipeline %s stage %s: commit refused: %s", s->p->cfg->name, s->cfg->name,
					   rep && rep->str ? rep->str : "?");
			freeReplyObject(rep);
			if (ok)
				return 0;
		}
		if (weft_ctx_err(s->p->ctx))
			return -ECANCELED;
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		weft_sleep(s->p->ctx, backoff / 2 + (int64_t)((rnd >> 33) % (uint64_t)(backoff / 2 + 1)));
		backoff = backoff * 2 > COMMIT_BACKOFF_MAX_NS ? COMMIT_BACKOFF_MAX_NS : backoff * 2;
	}
}

static void jkey(struct bpipe *p, const char *jid, char *buf, size_t len)
{
	const char *slash = strchr(jid, '/');
	snprintf(buf, len, "%s:j:%s", p->tag, slash ? slash + 1 : jid);
}

/* KEYS: stream, job hash, done channel, stats hash, dead stream. ARGV: entry id, state,
 * stage, attempts, node, finished_ms, ttl, job id, "output"|"error", its value, the
 * stage's input (failed: into dead). The first end wins: a job canceled while its
 * attempt ran stays canceled, and of two runs of one entry (a take-over while its holder
 * was cut off) the later one only acknowledges. */
const char bscript_end[] =
	"redis.call('XACK', KEYS[1], 'weft', ARGV[1]) "
	"redis.call('XDEL', KEYS[1], ARGV[1]) "
	"local st = ARGV[2] "
	"local was = redis.call('HGET', KEYS[2], 'state') "
	"if was == 'canceled' or was == 'done' or was == 'failed' or was == 'expired' then st = was "
	"else "
	"  if st == 'failed' then redis.call('HSET', KEYS[2], 'dead_eid', redis.call('XADD', KEYS[5], '*', 'id', ARGV[8], 'stage', ARGV[3], 'in', ARGV[11], 'error', ARGV[10])) end "
	"  redis.call('HSET', KEYS[2], 'state', st, 'stage', ARGV[3], 'attempts', ARGV[4], 'node', ARGV[5], 'finished_ms', ARGV[6], ARGV[9], ARGV[10]) "
	"  redis.call('HINCRBY', KEYS[4], st, 1) "
	"end "
	"redis.call('EXPIRE', KEYS[2], ARGV[7]) "
	"redis.call('PUBLISH', KEYS[3], ARGV[8]) "
	"return 1";

/* Entry e of stage s ends: state (done/failed/canceled) with output or error. */
static int commit_end(struct bstage *s, struct bentry *e, const char *state, const char *out,
		      size_t out_len, const char *error, uint32_t attempts)
{
	struct bpipe *p = s->p;
	char key[160], chan[96], stats[96], dead[96], ms[24], att[16], ttl[24];
	struct rbatch b;
	int r;

	jkey(p, e->jid, key, sizeof(key));
	snprintf(chan, sizeof(chan), "%s:done", p->tag);
	snprintf(stats, sizeof(stats), "%s:stats", p->tag);
	snprintf(dead, sizeof(dead), "%s:dead", p->tag);
	snprintf(ms, sizeof(ms), "%" PRId64, bwall_ms());
	snprintf(att, sizeof(att), "%u", attempts);
	snprintf(ttl, sizeof(ttl), "%" PRId64, p->br->ttl_s);
	rbatch_init(&b);
	rbatch_cmd(&b, "EVALSHA %s 5 %s %s %s %s %s %s %s %s %s %s %s %s %s %s %b %b", p->br->sha_end, s->bkey[e->band], key,
		   chan, stats, dead, e->eid, state, s->cfg->name, att, p->br->node, ms, ttl, e->jid,
		   out ? "output" : "error", out ? out : (error ? error : ""),
		   out ? out_len : strlen(error ? error : ""), e->in, strcmp(state, "failed") == 0 ? e->in_len : 0);
	r = commit(s, &b, bscript_end);
	rbatch_done(&b);
	return r;
}

/* KEYS: stream, next stage's stream, job hash. ARGV: entry id, job id, output, next
 * stage's name. */
const char bscript_next[] =
	"redis.call('XACK', KEYS[1], 'weft', ARGV[1]) "
	"redis.call('XDEL', KEYS[1], ARGV[1]) "
	"redis.call('XADD', KEYS[2], '*', 'id', ARGV[2], 'in', ARGV[3], 'dl', redis.call('HGET', KEYS[3], 'deadline_ms') or '0') "
	"redis.call('HSET', KEYS[3], 'stage', ARGV[4]) "
	"return 1";

/* Entry e done at stage s, out the next stage's input. */
static int commit_next(struct bstage *s, struct bentry *e, const char *out, size_t out_len)
{
	struct bstage *next = &s->p->stages[s->index + 1];
	char key[160];
	struct rbatch b;
	int r;

	jkey(s->p, e->jid, key, sizeof(key));
	rbatch_init(&b);
	rbatch_cmd(&b, "EVALSHA %s 3 %s %s %s %s %s %b %s", s->p->br->sha_next, s->bkey[e->band], next->bkey[e->band], key, e->eid,
		   e->jid, out, out_len, next->cfg->name);
	r = commit(s, &b, bscript_next);
	rbatch_done(&b);
	return r;
}

/* ---- workers ---------------------------------------------------------------------- */

/* Run one attempt of e in a ctx that ends at the stage's timeout, the job's deadline, or
 * a cancel published by any node (bcancel.c). */
static int attempt_run(struct bstage *s, struct bentry *e, struct weftd_attempt *at, bool *ret_canceled)
{
	const struct weftd_stage *cfg = s->cfg;
	int64_t t = cfg->timeout_ns ? (int64_t)cfg->timeout_ns : -1;
	struct brun run = { .jid = e->jid };
	int r;

	if (e->deadline_ms > 0) {
		int64_t left = (e->deadline_ms - bwall_ms()) * WEFT_MSEC;
		t = t < 0 || left < t ? (left > 0 ? left : 0) : t;
	}
	r = t >= 0 ? weft_ctx_with_timeout(NULL, t, &run.ctx) : weft_ctx_with_cancel(NULL, &run.ctx);
	if (r < 0)
		run.ctx = NULL;
	at->ctx = run.ctx;
	if (run.ctx)
		bcancel_add(s->p->br, &run);
	r = weftd_actor_run(s->actor, at);
	if (run.ctx) {
		bcancel_remove(s->p->br, &run);
		*ret_canceled = weft_ctx_err(run.ctx) == -ECANCELED;
	}
	weft_ctx_unref(run.ctx);
	return r;
}

static void run_entry(struct bstage *s, struct bentry *e, uint64_t *rnd)
{
	const struct weftd_stage *cfg = s->cfg;
	char msg[400];
	int r;

	if (e->canceled) {
		commit_end(s, e, "canceled", NULL, 0, "canceled by client", e->delivered - 1);
		return;
	}
	if (e->deadline_ms > 0 && bwall_ms() >= e->deadline_ms) {
		commit_end(s, e, "expired", NULL, 0, "deadline passed", e->base);
		return;
	}
	/* attempts count from the delivery count (a take-over is the next attempt) after
	 * those of earlier deliveries (a retry's, carried by its entry) */
	uint32_t attempt = e->base + e->delivered;
	struct weftd_attempt at = {
		.ctx = NULL, .job_id = e->jid, .pipeline = s->p->cfg->name, .attempt = attempt,
		.in = e->in, .in_len = e->in_len,
	};
	bool canceled = false;
	/* One delivery may have been lost to a node or a connection that went away
	 * before it started (no attempt made): only one beyond that fails the job
	 * unrun, which bounds a job that takes its nodes down with it. */
	if (attempt > cfg->retry.attempts + 1) {
		snprintf(msg, sizeof(msg), "stage %s: attempt %u/%u: delivered %u times (taken over from lost nodes)",
			 cfg->name, attempt - 1, cfg->retry.attempts, e->delivered);
		commit_end(s, e, "failed", NULL, 0, msg, attempt - 1);
		return;
	}
	r = attempt_run(s, e, &at, &canceled);
	free(at.log);
	if (r == 0) {
		if (s->index + 1 == s->p->nstages)
			commit_end(s, e, "done", at.out, at.out_len, NULL, attempt);
		else
			commit_next(s, e, at.out, at.out_len);
		free(at.out);
		return;
	}
	free(at.out);
	if (canceled) { /* by a client, on any node: the job's hash says canceled already */
		commit_end(s, e, "canceled", NULL, 0, "canceled by client", attempt);
		return;
	}
	if (e->deadline_ms > 0 && bwall_ms() >= e->deadline_ms) {
		commit_end(s, e, "expired", NULL, 0, "deadline passed", attempt);
		return;
	}
	snprintf(msg, sizeof(msg), "stage %s: attempt %u/%u%s: %s", cfg->name, attempt, cfg->retry.attempts,
		 at.permanent ? ", permanent" : "", at.error[0] ? at.error : strerror(-r));
	if (attempt >= cfg->retry.attempts || at.permanent) {
		commit_end(s, e, "failed", NULL, 0, msg, attempt);
		return;
	}
	/* the next attempt waits in the schedule (bsched.c), holding no worker; whichever
	 * node's keeper finds it due puts it back into this stage's stream */
	int64_t d = cfg->retry.initial_ns ? weft_backoff_delay(&s->retry, attempt - 1, rnd) : 0;
	bsched_retry(s, e, attempt, bwall_ms() + (d > 0 ? d / WEFT_MSEC : 0), msg);
}

static void worker_main(void *arg)
{
	struct bstage *s = arg;
	struct bentry *e;
	uint64_t rnd = (uint64_t)weft_now() ^ (uintptr_t)&e;

	for (;;) {
		atomic_fetch_add(&s->idle, 1);
		int r = weft_chan_recv(NULL, s->ch, &e);
		atomic_fetch_sub(&s->idle, 1);
		if (r < 0)
			break;
		run_entry(s, e, &rnd);
		held_drop(s, e);
	}
	weft_wg_done(&s->p->wg);
}

/* ---- the fetcher ------------------------------------------------------------------ */

/* XGROUP CREATE (MKSTREAM, from the start: entries added before the group are read). */
static void ensure_group(struct bstage *s, struct rconn *c)
{
	struct rbatch b;
	redisReply *rep;

	for (unsigned k = 0; k < BBANDS; k++) {
		rbatch_init(&b);
		rbatch_cmd(&b, "XGROUP CREATE %s %s 0 MKSTREAM", s->bkey[k], BGROUP);
		if (rconn_exec(s->p->ctx, c, &b, &rep) == 0)
			freeReplyObject(rep); /* BUSYGROUP: there already */
		rbatch_done(&b);
	}
}

/* Hand the entries of an XREADGROUP/XAUTOCLAIM entry array to the workers, marking the
 * canceled ones (one SMISMEMBER for the batch; Redis down: not known, they run). */
static void hand_out(struct bstage *s, const redisReply *arr, uint32_t delivered, unsigned band)
{
	struct bentry **es = calloc(arr->elements ? arr->elements : 1, sizeof(*es));
	const char **argv = malloc((arr->elements + 2) * sizeof(*argv));
	size_t *lens = malloc((arr->elements + 2) * sizeof(*lens));
	char set[96];
	size_t n = 0;

	if (!es || !argv || !lens)
		goto out;
	for (size_t i = 0; i < arr->elements; i++)
		if ((es[n] = entry_of(s, arr->element[i], delivered)))
			es[n++]->band = (uint8_t)band;
	if (n) {
		struct rbatch b;
		redisReply *rep;
		snprintf(set, sizeof(set), "%s:canceled", s->p->tag);
		argv[0] = "SMISMEMBER";
		argv[1] = set;
		for (size_t i = 0; i < n; i++)
			argv[2 + i] = es[i]->jid;
		for (size_t i = 0; i < n + 2; i++)
			lens[i] = strlen(argv[i]);
		rbatch_init(&b);
		rbatch_argv(&b, (int)n + 2, argv, lens);
		if (rconn_exec(NULL, bnet_conn(s->p->net), &b, &rep) == 0) {
			for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements && i < n; i++)
				es[i]->canceled = rep->element[i]->type == REDIS_REPLY_INTEGER && rep->element[i]->integer;
			freeReplyObject(rep);
		}
		rbatch_done(&b);
	}
	for (size_t i = 0; i < n; i++) {
		held_add(s, es[i]);
		if (weft_chan_send(NULL, s->ch, &es[i]) < 0)
			held_drop(s, es[i]);
	}
out:
	free(es);
	free(argv);
	free(lens);
}

static void fetcher_main(void *arg)
{
	struct bstage *s = arg;
	struct bpipe *p = s->p;
	bool group = false;

	while (weft_ctx_err(p->ctx) == 0) {
		struct rbatch b;
		redisReply *rep;
		if (rconn_wait_up(p->ctx, s->rd) < 0)
			break;
		if (!group) {
			ensure_group(s, s->rd);
			group = true;
		}
		unsigned n = atomic_load(&s->idle);
		if (n == 0) /* all busy: wait for one (the channel holds one more) */
			n = 1;
		rbatch_init(&b);
		rbatch_cmd(&b, "XREADGROUP GROUP %s %s COUNT %u BLOCK %d STREAMS %s %s %s > > >", BGROUP,
			   p->br->node, n, FETCH_BLOCK_MS, s->bkey[BBAND_HI], s->bkey[0], s->bkey[BBAND_LO]);
		int r = rconn_exec(p->ctx, s->rd, &b, &rep);
		rbatch_done(&b);
		if (r < 0)
			continue; /* down: wait_up parks until it is back */
		if (rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOGROUP"))
			group = false; /* Redis lost it (restarted without persistence) */
		/* [[key, [[eid, fields]...]]...] (the streams with entries) or nil on timeout:
		 * the higher band's entries go to the workers first */
		static const unsigned order[BBANDS] = { BBAND_HI, 0, BBAND_LO };
		for (unsigned k = 0; rep->type == REDIS_REPLY_ARRAY && k < BBANDS; k++)
			for (size_t i = 0; i < rep->elements; i++) {
				const redisReply *st = rep->element[i];
				if (st->type == REDIS_REPLY_ARRAY && st->elements == 2 &&
				    st->element[0]->type == REDIS_REPLY_STRING &&
				    strcmp(st->element[0]->str, s->bkey[order[k]]) == 0)
					hand_out(s, st->element[1], 1, order[k]);
			}
		freeReplyObject(rep);
	}
	weft_chan_close(s->ch);
	weft_wg_done(&p->wg);
}

/* ---- leases ------------------------------------------------------------------------ */

/* Keep the entries s holds in band's stream fresh (XCLAIM ... JUSTID to this node). */
static void renew(struct bstage *s, unsigned band)
{
	struct bpipe *p = s->p;
	const char **argv;
	size_t *lens, n = 0, cap;
	struct rbatch b;
	redisReply *rep;

	weftd_spin_lock(&s->hlock);
	cap = s->nheld;
	weftd_spin_unlock(&s->hlock);
	if (!cap)
		return;
	cap += 64; /* more may come meanwhile: the extra are renewed next time */
	argv = malloc((cap + 7) * sizeof(*argv));
	lens = malloc((cap + 7) * sizeof(*lens));
	char (*ids)[40] = malloc(cap * sizeof(*ids));
	if (!argv || !lens || !ids)
		goto out;
	weftd_spin_lock(&s->hlock);
	for (struct bentry *e = s->held; e && n < cap; e = e->next)
		if (e->band == band)
			memcpy(ids[n++], e->eid, sizeof(ids[0]));
	weftd_spin_unlock(&s->hlock);
	size_t k = 0;
	if (!n)
		goto out;
	argv[k++] = "XCLAIM";
	argv[k++] = s->bkey[band];
	argv[k++] = BGROUP;
	argv[k++] = p->br->node;
	argv[k++] = "0";
	for (size_t i = 0; i < n; i++)
		argv[k++] = ids[i];
	argv[k++] = "JUSTID";
	for (size_t i = 0; i < k; i++)
		lens[i] = strlen(argv[i]);
	rbatch_init(&b);
	rbatch_argv(&b, (int)k, argv, lens);
	if (rconn_exec(p->ctx, bnet_conn(p->net), &b, &rep) == 0)
		freeReplyObject(rep);
	rbatch_done(&b);
out:
	free(argv);
	free(lens);
	free(ids);
}

/* Take over entries idle past the heartbeat timeout (any node's: a dead one's). */
static void take_over(struct bstage *s, unsigned band)
{
	struct bpipe *p = s->p;
	struct rbatch b;
	redisReply *rep;
	int64_t idle_ms = p->br->hb_timeout_ns / WEFT_MSEC;

	if (atomic_load(&s->idle) == 0)
		return; /* nobody free to run them: leave them to another node */
	rbatch_init(&b);
	rbatch_cmd(&b, "XAUTOCLAIM %s %s %s %" PRId64 " 0-0 COUNT %u", s->bkey[band], BGROUP, p->br->node,
		   idle_ms, atomic_load(&s->idle));
	if (rconn_exec(p->ctx, bnet_conn(p->net), &b, &rep) == 0) {
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 &&
		    rep->element[1]->type == REDIS_REPLY_ARRAY && rep->element[1]->elements) {
			weftd_notice("pipeline %s stage %s: took over %zu entries idle over %" PRId64 " ms",
				     p->cfg->name, s->cfg->name, rep->element[1]->elements, idle_ms);
			/* the delivery count of each (XPENDING) would cost a round trip per
			 * entry; a taken-over entry counts as its second delivery at least */
			hand_out(s, rep->element[1], 2, band);
		}
		freeReplyObject(rep);
	}
	rbatch_done(&b);
}

static void lease_main(void *arg)
{
	struct bpipe *p = arg;
	char nodes[96], ms[24];
	int64_t last_down = weft_now();

	snprintf(nodes, sizeof(nodes), "%s:nodes", p->tag);
	do {
		struct rbatch b;
		redisReply *rep;
		snprintf(ms, sizeof(ms), "%" PRId64, bwall_ms());
		rbatch_init(&b);
		rbatch_cmd(&b, "HSET %s %s %s", nodes, p->br->node, ms);
		if (rconn_exec(p->ctx, bnet_conn(p->net), &b, &rep) == 0) {
			if (rreply_err(rep))
				last_down = weft_now(); /* LOADING... */
			freeReplyObject(rep);
		} else {
			last_down = weft_now();
		}
		rbatch_done(&b);
		/* Right after an outage (or our start) every lease looks stale: the holders
		 * renew theirs first, and only entries still idle a heartbeat_timeout after
		 * that are somebody's who is gone. */
		bool fresh = weft_now() - last_down > p->br->hb_timeout_ns;
		for (size_t i = 0; i < p->nstages; i++)
			for (unsigned k = 0; k < BBANDS; k++) {
				renew(&p->stages[i], k);
				if (fresh)
					take_over(&p->stages[i], k);
			}
	} while (weft_sleep(p->ctx, p->br->hb_interval_ns) == 0);
	weft_wg_done(&p->wg);
}

/* ---- start, stop -------------------------------------------------------------------- */

static int go(struct bpipe *p, weft_fn fn, void *arg, const char *name)
{
	weft_wg_add(&p->wg, 1);
	if (weft_go_opts(fn, arg, &(struct weft_go_opts){ .name = name }) < 0) {
		weft_wg_done(&p->wg);
		return -ENOMEM;
	}
	return 0;
}

int bpipe_start(struct bpipe *p)
{
	int r = weft_ctx_with_cancel(NULL, &p->ctx);

	weft_wg_init(&p->wg);
	for (size_t i = 0; r == 0 && i < p->nstages; i++) {
		struct bstage *s = &p->stages[i];
		struct rconn_opts o = p->net->opts;
		o.name = p->cfg->name;
		if ((r = rconn_new(&o, &s->rd)) < 0 || (r = rconn_start(s->rd)) < 0)
			break;
		if ((r = weft_chan_new(sizeof(struct bentry *), 1, &s->ch)) < 0)
			break;
		for (uint32_t k = 0; r == 0 && k < s->cfg->workers; k++)
			r = go(p, worker_main, s, "broker worker");
		if (r == 0)
			r = go(p, fetcher_main, s, "broker fetch");
	}
	if (r == 0)
		r = go(p, lease_main, p, "broker lease");
	return r;
}

void bpipe_stop(struct bpipe *p)
{
	if (!p->ctx)
		return;
	weft_ctx_cancel(p->ctx);
	for (size_t i = 0; i < p->nstages; i++) {
		if (p->stages[i].rd)
			rconn_stop(p->stages[i].rd); /* ends a fetcher blocked in XREADGROUP */
		if (p->stages[i].ch && !p->stages[i].rd)
			weft_chan_close(p->stages[i].ch);
	}
	weft_wg_wait(NULL, &p->wg);
	for (size_t i = 0; i < p->nstages; i++) {
		struct bstage *s = &p->stages[i];
		struct bentry *e;
		while (s->ch && weft_chan_try_recv(s->ch, &e) == 0)
			held_drop(s, e); /* never started: taken over after heartbeat_timeout */
		s->rd = rconn_free(s->rd);
		weft_chan_unref(s->ch);
		s->ch = NULL;
	}
}
