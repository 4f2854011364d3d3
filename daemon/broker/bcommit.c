/* SPDX-License-Identifier: MIT */
/* bcommit.c — a broker stage's commits (broker.h): the entries its workers finish go to
 * Redis by groups (bgroup.h), one script call for all that finished while the previous
 * call was on the wire: to the next stage's stream, or ended into their jobs' hashes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_impl.h"
#include "util/log.h"

#define COMMIT_BACKOFF_MAX_NS (2000 * WEFT_MSEC)

int bnet_call_until_done(struct bpipe *p, struct rbatch *b, const char *script, const char *what)
{
	int64_t backoff = 20 * WEFT_MSEC;
	uint64_t rnd = (uint64_t)weft_now();

	for (;;) {
		redisReply *rep;
		if (rconn_evalsha(NULL, bnet_conn(p->net), b, script, &rep) == 0) {
			bool ok = !rreply_err(rep);
			if (!ok)
				weftd_warn("pipeline %s%s: script refused: %s", p->cfg->name, what,
					   rep && rep->str ? rep->str : "?");
			freeReplyObject(rep);
			if (ok)
				return 0;
		}
		if (weft_ctx_err(p->ctx))
			return -ECANCELED;
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		weft_sleep(p->ctx, backoff / 2 + (int64_t)((rnd >> 33) % (uint64_t)(backoff / 2 + 1)));
		backoff = backoff * 2 > COMMIT_BACKOFF_MAX_NS ? COMMIT_BACKOFF_MAX_NS : backoff * 2;
	}
}

/* A stage's commit call: bnet_call_until_done, its warnings naming the stage. */
static int commit(struct bstage *s, struct rbatch *b, const char *script)
{
	char what[WEFTD_MAX_NAME + 16];

	snprintf(what, sizeof(what), " stage %s", s->cfg->name);
	return bnet_call_until_done(s->p, b, script, what);
}

static void jkey(struct bpipe *p, const char *jid, char *buf, size_t len)
{
	const char *slash = strchr(jid, '/'), *hex = slash ? slash + 1 : jid;
	size_t tl = strlen(p->tag), hl = strlen(hex);

	if (tl + 3 + hl >= len) { /* cannot be: ids are checked at fetch (entry_of) */
		buf[0] = 0;
		return;
	}
	memcpy(buf, p->tag, tl); /* no printf: once per job */
	memcpy(buf + tl, ":j:", 3);
	memcpy(buf + tl + 3, hex, hl + 1);
}

/* One finished entry waiting for its stage's commit call (bgroup.h). */
struct bfin {
	struct bgitem g;               /* first: the group hands back &g */
	struct bentry *e;
	const char *state;             /* end: done, failed, canceled; next: NULL */
	const char *val;               /* end: output or error; next: the next stage's input */
	size_t val_len;
	bool is_out;                   /* val is an output (else an error) */
	char att[16];
	char key[160];                 /* the job's hash */
};

/* The argv of a commit call (binary safe: outputs and inputs go as they are). */
struct bargv {
	const char **v;
	size_t *lens, n;
};

static int bargv_init(struct bargv *a, size_t cap)
{
	a->n = 0;
	a->v = malloc(cap * sizeof(*a->v));
	a->lens = malloc(cap * sizeof(*a->lens));
	return a->v && a->lens ? 0 : -ENOMEM;
}

static void bargv_add(struct bargv *a, const char *s, size_t len)
{
	a->v[a->n] = s;
	a->lens[a->n++] = len;
}

static void bargv_done(struct bargv *a)
{
	free(a->v);
	free(a->lens);
}

/* KEYS: stream, done channel, stats hash, dead stream, then the hash of each entry's job.
 * (the stream: the band's of the call's entries, bgroup per band). ARGV: stage, node,
 * finished_ms, ttl, then per entry: entry id, state (done, failed, canceled, expired), attempts, job id,
 * "output"|"error", its value, the stage's input (failed: into dead; else empty). The
 * first end wins: a job canceled while its attempt ran stays canceled, and of two runs
 * of one entry (a take-over while its holder was cut off) the later one only
 * acknowledges. A dead letter's entry id goes into the job's hash (dead_eid: retry and
 * purge find it); the job's idempotency key, still its, lives the retention from this end
 * as its hash does. One PUBLISH names every job of the call, one per line. */
const char bscript_end[] =
	"local n = #KEYS - 4 "
	"local eids, ids, cnt = {}, {}, {} "
	"for i = 1, n do "
	"  local a = 5 + 7 * (i - 1) "
	"  local k, st = KEYS[4 + i], ARGV[a + 1] "
	"  eids[i] = ARGV[a] "
	"  ids[i] = ARGV[a + 3] "
	"  local h = redis.call('HMGET', k, 'state', 'key') "
	"  local was = h[1] "
	"  if was ~= 'canceled' and was ~= 'done' and was ~= 'failed' and was ~= 'expired' then "
	"    if st == 'failed' then redis.call('HSET', k, 'dead_eid', redis.call('XADD', KEYS[4], '*', 'id', ids[i], 'stage', ARGV[1], 'in', ARGV[a + 6], 'error', ARGV[a + 5])) end "
	"    redis.call('HSET', k, 'state', st, 'stage', ARGV[1], 'attempts', ARGV[a + 2], 'node', ARGV[2], 'finished_ms', ARGV[3], ARGV[a + 4], ARGV[a + 5]) "
	"    cnt[st] = (cnt[st] or 0) + 1 "
	"    if h[2] then "
	"      local kk = string.gsub(k, ':j:%x+$', ':k:') .. h[2] "
	"      if redis.call('GET', kk) == ids[i] then redis.call('EXPIRE', kk, ARGV[4]) end "
	"    end "
	"  end "
	"  redis.call('EXPIRE', k, ARGV[4]) "
	"end "
	"redis.call('XACK', KEYS[1], 'weft', unpack(eids)) "
	"redis.call('XDEL', KEYS[1], unpack(eids)) "
	"for st, c in pairs(cnt) do redis.call('HINCRBY', KEYS[3], st, c) end "
	"redis.call('PUBLISH', KEYS[2], table.concat(ids, '\\n')) "
	"return n";

/* bgroup_flush_fn of a stage's ends: one EVALSHA for them all, until Redis has it. */
static int end_flush(void *arg, struct bgitem **items, size_t n)
{
	struct bstage *s = arg;
	struct bpipe *p = s->p;
	char nkeys[24], chan[96], stats[96], dead[96], ms[24], ttl[24];
	struct bargv a;
	struct rbatch b;
	int r;

	if ((r = bargv_init(&a, 3 + 4 + n + 4 + 7 * n)) < 0)
		goto out;
	snprintf(nkeys, sizeof(nkeys), "%zu", 4 + n);
	snprintf(chan, sizeof(chan), "%s:done", p->tag);
	snprintf(stats, sizeof(stats), "%s:stats", p->tag);
	snprintf(dead, sizeof(dead), "%s:dead", p->tag);
	snprintf(ms, sizeof(ms), "%" PRId64, bwall_ms());
	snprintf(ttl, sizeof(ttl), "%" PRId64, p->br->ttl_s);
	unsigned band = n ? ((struct bfin *)items[0])->e->band : 0; /* one group a band */
	const char *head[] = { "EVALSHA", p->br->sha_end, nkeys, s->bkey[band], chan, stats, dead };
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		bargv_add(&a, head[i], strlen(head[i]));
	for (size_t i = 0; i < n; i++)
		bargv_add(&a, ((struct bfin *)items[i])->key, strlen(((struct bfin *)items[i])->key));
	const char *common[] = { s->cfg->name, p->br->node, ms, ttl };
	for (size_t i = 0; i < 4; i++)
		bargv_add(&a, common[i], strlen(common[i]));
	for (size_t i = 0; i < n; i++) {
		struct bfin *f = (struct bfin *)items[i];
		bool failed = strcmp(f->state, "failed") == 0;
		bargv_add(&a, f->e->eid, strlen(f->e->eid));
		bargv_add(&a, f->state, strlen(f->state));
		bargv_add(&a, f->att, strlen(f->att));
		bargv_add(&a, f->e->jid, strlen(f->e->jid));
		bargv_add(&a, f->is_out ? "output" : "error", f->is_out ? 6 : 5);
		bargv_add(&a, f->val ? f->val : "", f->val ? f->val_len : 0);
		bargv_add(&a, failed ? f->e->in : "", failed ? f->e->in_len : 0);
	}
	rbatch_init(&b);
	rbatch_argv(&b, (int)a.n, a.v, a.lens);
	r = commit(s, &b, bscript_end);
	rbatch_done(&b);
out:
	bargv_done(&a);
	return r;
}

/* Entry e of stage s ends: state (done/failed/canceled/expired) with output or error. */
int bcommit_end(struct bstage *s, struct bentry *e, const char *state, const char *out,
		      size_t out_len, const char *error, uint32_t attempts)
{
	struct bfin f = { .e = e, .state = state, .is_out = out != NULL };

	f.val = out ? out : error;
	f.val_len = out ? out_len : error ? strlen(error) : 0;
	f.g.bytes = f.val_len + (strcmp(state, "failed") == 0 ? e->in_len : 0) + 128;
	char *d = f.att + sizeof(f.att) - 1; /* no printf: once per job */
	*d = 0;
	do
		*--d = (char)('0' + attempts % 10);
	while ((attempts /= 10));
	memmove(f.att, d, (size_t)(f.att + sizeof(f.att) - d));
	jkey(s->p, e->jid, f.key, sizeof(f.key));
	return bgroup_run(&s->gend[e->band], &f.g, end_flush, s);
}

/* KEYS: stream, next stage's stream, then the hash of each entry's job. ARGV: next
 * stage's name, then per entry: entry id, job id, output (the next stage's input). The
 * new entry carries the job's deadline (dl), which the next stage's fetch checks. A running
 * job is queued again, at its next stage's attempt 0, until a node fetches it (as a local
 * job between stages); one canceled meanwhile stays so. */
const char bscript_next[] =
	"local n = #KEYS - 2 "
	"local eids = {} "
	"for i = 1, n do "
	"  local a = 2 + 3 * (i - 1) "
	"  eids[i] = ARGV[a] "
	"  local h = redis.call('HMGET', KEYS[2 + i], 'deadline_ms', 'state') "
	"  redis.call('XADD', KEYS[2], '*', 'id', ARGV[a + 1], 'in', ARGV[a + 2], 'dl', h[1] or '0') "
	"  if h[2] == 'running' then redis.call('HSET', KEYS[2 + i], 'stage', ARGV[1], 'state', 'queued', 'attempts', '0') "
	"  else redis.call('HSET', KEYS[2 + i], 'stage', ARGV[1]) end "
	"end "
	"redis.call('XACK', KEYS[1], 'weft', unpack(eids)) "
	"redis.call('XDEL', KEYS[1], unpack(eids)) "
	"return n";

/* bgroup_flush_fn of a stage's hand-overs to the next stage. */
static int next_flush(void *arg, struct bgitem **items, size_t n)
{
	struct bstage *s = arg, *next = &s->p->stages[s->index + 1];
	char nkeys[24];
	struct bargv a;
	struct rbatch b;
	int r;

	if ((r = bargv_init(&a, 3 + 2 + n + 1 + 3 * n)) < 0)
		goto out;
	snprintf(nkeys, sizeof(nkeys), "%zu", 2 + n);
	unsigned band = n ? ((struct bfin *)items[0])->e->band : 0; /* one group a band */
	const char *head[] = { "EVALSHA", s->p->br->sha_next, nkeys, s->bkey[band], next->bkey[band] };
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		bargv_add(&a, head[i], strlen(head[i]));
	for (size_t i = 0; i < n; i++)
		bargv_add(&a, ((struct bfin *)items[i])->key, strlen(((struct bfin *)items[i])->key));
	bargv_add(&a, next->cfg->name, strlen(next->cfg->name));
	for (size_t i = 0; i < n; i++) {
		struct bfin *f = (struct bfin *)items[i];
		bargv_add(&a, f->e->eid, strlen(f->e->eid));
		bargv_add(&a, f->e->jid, strlen(f->e->jid));
		bargv_add(&a, f->val ? f->val : "", f->val ? f->val_len : 0);
	}
	rbatch_init(&b);
	rbatch_argv(&b, (int)a.n, a.v, a.lens);
	r = commit(s, &b, bscript_next);
	rbatch_done(&b);
out:
	bargv_done(&a);
	return r;
}

/* Entry e done at stage s, out the next stage's input. */
int bcommit_next(struct bstage *s, struct bentry *e, const char *out, size_t out_len)
{
	struct bfin f = { .e = e, .val = out, .val_len = out_len, .g.bytes = out_len + 128 };

	jkey(s->p, e->jid, f.key, sizeof(f.key));
	return bgroup_run(&s->gnext[e->band], &f.g, next_flush, s);
}
