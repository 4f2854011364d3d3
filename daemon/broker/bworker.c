/* SPDX-License-Identifier: MIT */
/* bworker.c — a broker pipeline's fibers on this node (broker.h): per stage a fetcher
 * (XREADGROUP on its own connection) feeding the stage's channel, from which the engine's
 * workers take their jobs through the broker store (bstore.c); per pipeline a lease fiber
 * (XCLAIM of the entries held, XAUTOCLAIM of the abandoned ones, this node's heartbeat in
 * the nodes hash). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_impl.h"
#include "util/log.h"

#define FETCH_BLOCK_MS 1000

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

void bheld_drop(struct bstage *s, struct bentry *e)
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

/* Lua: mark the job of a fetched entry running on node, so that status, wait and list
 * from any node show it as a local job's: state running, node, and started_ms when first
 * (its first stage's first attempt: kept across stages and retries, as locally; a
 * re-drive into the first stage starts it anew). Its attempts stay those made before (bjob.c shows a
 * running job's as one more). Not a job past its deadline (it ends expired unrun). In the
 * script that fetches or flags the entries anyway: no round trip of its own, and as few
 * fields as can be (each costs Redis ~0.1 us a job).
 *
 * mark_new(): one HSET, unchecked, for the entries a read with ">" got in the same script
 * (bscript_fetch): their jobs are queued or canceled (skipped by their flag), since a
 * job ends only with its entry's XDEL. A hash gone (expired) is not made anew: an HSET
 * whose every field is new created it, and deletes it. mark(): checked (HMGET), for the
 * batches read or taken over before this script runs (bscript_mark): only a job queued
 * (or running: taken over from a node gone), not one that ended meanwhile. jkey(): the
 * hash of job id "P/HEX" of pipeline tag "weft:{P}". */
#define BMARK_LUA                                                                                      \
	"local function mark_new(jk, dl, node, now, first) "                                           \
	"  dl = tonumber(dl) or 0 "                                                                    \
	"  if dl > 0 and dl <= now then return end "                                                   \
	"  if first then "                                                                             \
	"    if redis.call('HSET', jk, 'state', 'running', 'node', node, 'started_ms', now) == 3 then redis.call('DEL', jk) end " \
	"  elseif redis.call('HSET', jk, 'state', 'running', 'node', node) == 2 then redis.call('DEL', jk) end " \
	"end "                                                                                         \
	"local function jkey(tag, jid) return tag .. ':j:' .. string.sub(jid, #tag - 5) end "          \
	"local function mark(jk, dl, node, now, first) "                                               \
	"  local h = redis.call('HMGET', jk, 'state', 'started_ms') "                                  \
	"  if h[1] == 'queued' or h[1] == 'running' then mark_new(jk, dl, node, now, first or not h[2]) end " \
	"end "

/* KEYS: the canceled set. ARGV: tag, node ("": flags only), now_ms, then per entry: job
 * id, deadline ("dl"), first ("1": its first stage's first attempt). Marks the
 * jobs running (BMARK_LUA's mark) and answers which are canceled (SMISMEMBER), for the
 * entries a blocking read or a take-over got. */
const char bscript_mark[] = BMARK_LUA
	"local ids, now = {}, tonumber(ARGV[3]) "
	"for i = 4, #ARGV - 2, 3 do "
	"  if ARGV[2] ~= '' then mark(jkey(ARGV[1], ARGV[i]), ARGV[i + 1], ARGV[2], now, ARGV[i + 2] == '1') end "
	"  ids[#ids + 1] = ARGV[i] "
	"end "
	"return redis.call('SMISMEMBER', KEYS[1], unpack(ids))";

/* One bscript_mark call on c for es[0..n): their canceled flags, and unless paused (an
 * entry that waits out a pause is marked when its worker starts it: bheld_mark) their
 * jobs marked running. Redis down: neither known, they run unmarked. */
static void mark_call(struct bstage *s, struct rconn *c, struct bentry **es, size_t n, bool paused)
{
	struct bpipe *p = s->p;
	const char **argv = malloc((3 * n + 7) * sizeof(*argv));
	size_t *lens = malloc((3 * n + 7) * sizeof(*lens)), k = 0;
	char (*dls)[24] = malloc(n * sizeof(*dls));
	char set[96], now[24];
	struct rbatch b;
	redisReply *rep;

	if (!argv || !lens || !dls)
		goto out;
	snprintf(set, sizeof(set), "%s:canceled", p->tag);
	snprintf(now, sizeof(now), "%" PRId64, bwall_ms());
	const char *head[] = { "EVALSHA", p->br->sha_mark, "1", set, p->tag, paused ? "" : p->br->node, now };
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		argv[k++] = head[i];
	for (size_t i = 0; i < n; i++) {
		snprintf(dls[i], sizeof(dls[i]), "%" PRId64, es[i]->deadline_ms);
		argv[k++] = es[i]->jid;
		argv[k++] = dls[i];
		argv[k++] = s->index == 0 && es[i]->base == 0 && es[i]->delivered == 1 ? "1" : "0";
	}
	for (size_t i = 0; i < k; i++)
		lens[i] = strlen(argv[i]);
	rbatch_init(&b);
	rbatch_argv(&b, (int)k, argv, lens);
	if (rconn_evalsha(NULL, c, &b, bscript_mark, &rep) == 0) {
		for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements && i < n; i++) {
			es[i]->canceled = rep->element[i]->type == REDIS_REPLY_INTEGER && rep->element[i]->integer;
			es[i]->marked = !paused;
		}
		freeReplyObject(rep);
	}
	rbatch_done(&b);
out:
	free(argv);
	free(lens);
	free(dls);
}

void bheld_mark(struct bstage *s, struct bentry *e)
{
	if (!e->marked)
		mark_call(s, bnet_conn(s->p->net), &e, 1, false);
}

/* Hand the entries of an XREADGROUP/XAUTOCLAIM entry array to the workers, marking the
 * canceled ones: flags[i] (bscript_fetch's, which marked the jobs running too) for arr's
 * entry i, or without flags one mark_call for the batch on c. The fetcher asks on its own
 * connection, idle between its reads: on a shared one the question waited behind the
 * submits' and commits' script calls, and the stage's next read with it. band: the
 * priority band of the stream they came from. */
static void hand_out(struct bstage *s, struct rconn *c, const redisReply *arr, uint32_t delivered,
		     const redisReply *flags, unsigned band)
{
	struct bentry **es = calloc(arr->elements ? arr->elements : 1, sizeof(*es));
	size_t n = 0;

	if (!es)
		return;
	for (size_t i = 0; i < arr->elements; i++) {
		if (!(es[n] = entry_of(s, arr->element[i], delivered)))
			continue;
		es[n]->band = (uint8_t)band;
		if (flags && i < flags->elements) {
			es[n]->canceled = flags->element[i]->type == REDIS_REPLY_INTEGER && flags->element[i]->integer;
			es[n]->marked = true;
		}
		n++;
	}
	if (n && !flags)
		mark_call(s, c, es, n, bpause_is(s->p));
	for (size_t i = 0; i < n; i++) {
		held_add(s, es[i]);
		/* p->ctx: a stop ends a send that no worker takes any more */
		if (weft_chan_send(s->p->ctx, s->ch, &es[i]) < 0)
			bheld_drop(s, es[i]);
	}
	free(es);
}

/* KEYS: the stage's streams (bands hi, 0, lo), the canceled set. ARGV: node, count, tag,
 * now_ms, "1" for the pipeline's first stage. What a read that does not block gives,
 * with which of its jobs are canceled: per stream with entries [key, entries, flags], in
 * one round trip while entries wait (the fetcher blocks in XREADGROUP only when it gets
 * nil); the jobs not canceled marked running (BMARK_LUA's mark_new: first at the first
 * stage unless a retry's, "a" not "0"). */
const char bscript_fetch[] = BMARK_LUA
	"local r = redis.call('XREADGROUP', 'GROUP', 'weft', ARGV[1], 'COUNT', ARGV[2], 'STREAMS', KEYS[1], KEYS[2], KEYS[3], '>', '>', '>') "
	"if not r then return false end "
	"local out, now, first = {}, tonumber(ARGV[4]), ARGV[5] == '1' "
	"for k, st in ipairs(r) do "
	"  local es, ids, as, dls = st[2], {}, {}, {} "
	"  for i, e in ipairs(es) do "
	"    local f = e[2] "
	"    ids[i], as[i], dls[i] = '', '0', '0' "
	"    for j = 1, #f, 2 do "
	"      if f[j] == 'id' then ids[i] = f[j + 1] elseif f[j] == 'a' then as[i] = f[j + 1] elseif f[j] == 'dl' then dls[i] = f[j + 1] end "
	"    end "
	"  end "
	"  local fl = {} "
	"  if #ids > 0 then fl = redis.call('SMISMEMBER', KEYS[4], unpack(ids)) end "
	"  for i = 1, #ids do "
	"    if fl[i] == 0 and ids[i] ~= '' then mark_new(jkey(ARGV[3], ids[i]), dls[i], ARGV[1], now, first and as[i] == '0') end "
	"  end "
	"  out[k] = {st[1], es, fl} "
	"end "
	"return out";

/* The streams of rep ([[key, entries, ...]...]: XREADGROUP's, bscript_fetch's with each
 * one's flags) to the workers, the higher band's first. */
static void hand_out_bands(struct bstage *s, const redisReply *rep, bool with_flags)
{
	static const unsigned order[BBANDS] = { BBAND_HI, 0, BBAND_LO };

	for (unsigned k = 0; rep->type == REDIS_REPLY_ARRAY && k < BBANDS; k++)
		for (size_t i = 0; i < rep->elements; i++) {
			const redisReply *st = rep->element[i];
			if (st->type == REDIS_REPLY_ARRAY && st->elements >= (with_flags ? 3u : 2u) &&
			    st->element[0]->type == REDIS_REPLY_STRING && st->element[1]->type == REDIS_REPLY_ARRAY &&
			    strcmp(st->element[0]->str, s->bkey[order[k]]) == 0)
				hand_out(s, s->rd, st->element[1], 1, with_flags ? st->element[2] : NULL, order[k]);
		}
}

/* One bscript_fetch call: 1 when it handed out entries, 0 when none waited, -1 on an
 * error reply (NOGROUP: *group is cleared), or rconn's error. */
static int fetch_ready(struct bstage *s, unsigned n, bool *group)
{
	struct bpipe *p = s->p;
	struct rbatch b;
	redisReply *rep;
	int r;

	rbatch_init(&b);
	rbatch_cmd(&b, "EVALSHA %s 4 %s %s %s %s:canceled %s %u %s %" PRId64 " %d", p->br->sha_fetch, s->bkey[BBAND_HI],
		   s->bkey[0], s->bkey[BBAND_LO], p->tag, p->br->node, n, p->tag, bwall_ms(), s->index == 0);
	r = rconn_evalsha(p->ctx, s->rd, &b, bscript_fetch, &rep);
	rbatch_done(&b);
	if (r < 0)
		return r;
	if (rep->type == REDIS_REPLY_ARRAY) {
		hand_out_bands(s, rep, true);
		r = 1;
	} else if (rep->type == REDIS_REPLY_ERROR) {
		if (strstr(rep->str, "NOGROUP"))
			*group = false; /* Redis lost it (restarted without persistence) */
		r = -1;
	}
	freeReplyObject(rep);
	return r;
}

static void fetcher_main(void *arg)
{
	struct bstage *s = arg;
	struct bpipe *p = s->p;
	bool group = false;

	while (weft_ctx_err(p->ctx) == 0) {
		struct rbatch b;
		redisReply *rep;
		if (rconn_wait_up(p->ctx, s->rd) < 0 || bpause_wait(p, p->ctx) < 0)
			break;
		if (!group) {
			ensure_group(s, s->rd);
			group = true;
		}
		unsigned n = atomic_load(&s->idle);
		if (n == 0) /* all busy: wait for one (the channel holds one more) */
			n = 1;
		int f = fetch_ready(s, n, &group);
		if (f == 1 || f == -ENOTCONN || !group)
			continue;
		if (f == -1) { /* LOADING, ...: again soon, not at once */
			weft_sleep(p->ctx, 100 * WEFT_MSEC);
			continue;
		}
		rbatch_init(&b);
		rbatch_cmd(&b, "XREADGROUP GROUP %s %s COUNT %u BLOCK %d STREAMS %s %s %s > > >", BGROUP,
			   p->br->node, n, FETCH_BLOCK_MS, s->bkey[BBAND_HI], s->bkey[0], s->bkey[BBAND_LO]);
		int r = rconn_exec(p->ctx, s->rd, &b, &rep);
		rbatch_done(&b);
		if (r < 0)
			continue; /* down: wait_up parks until it is back */
		if (rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOGROUP"))
			group = false; /* Redis lost it (restarted without persistence) */
		/* [[key, [[eid, fields]...]]...] (the streams with entries) or nil on timeout */
		hand_out_bands(s, rep, false);
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
			hand_out(s, bnet_conn(p->net), rep->element[1], 2, NULL, band);
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
		bpause_refresh(p);
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
	int r;

	bpause_init(p); /* before p->ctx: bpause_push and weftd_broker_pause test p->ctx */
	r = weft_ctx_with_cancel(NULL, &p->ctx);
	weft_wg_init(&p->wg);
	bgroup_init(&p->gsub, BGROUP_ACTIVE_SUBMIT, BGROUP_BATCH, BGROUP_BYTES);
	for (size_t i = 0; r == 0 && i < p->nstages; i++) {
		struct bstage *s = &p->stages[i];
		struct rconn_opts o = p->net->opts;
		for (unsigned b = 0; b < BBANDS; b++) {
			bgroup_init(&s->gend[b], BGROUP_ACTIVE_COMMIT, BGROUP_BATCH, BGROUP_BYTES);
			bgroup_init(&s->gnext[b], BGROUP_ACTIVE_COMMIT, BGROUP_BATCH, BGROUP_BYTES);
		}
		o.name = p->cfg->name;
		if ((r = rconn_new(&o, &s->rd)) < 0 || (r = rconn_start(s->rd)) < 0)
			break;
		if ((r = weft_chan_new(sizeof(struct bentry *), 1, &s->ch)) < 0)
			break;
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
	bpause_wake(p); /* the workers holding entries through a pause (bstore.c) */
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
			bheld_drop(s, e); /* never started: taken over after heartbeat_timeout */
		s->rd = rconn_free(s->rd);
		weft_chan_unref(s->ch);
		s->ch = NULL;
	}
}
