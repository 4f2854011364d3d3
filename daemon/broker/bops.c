/* SPDX-License-Identifier: MIT */
/* bops.c — a broker pipeline's client side, from any node: submit, status, wait, cancel,
 * nodes (see broker.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/bjob.h"
#include "broker/broker_impl.h"
#include "proto/json.h"
#include "proto/reply.h"

/* The net and hash key of job id, under br->lock read. -ESRCH: no such broker pipeline. */
static int job_key(struct weftd_broker *br, const char *id, struct bnet **net, char *key, size_t len)
{
	char pipe[WEFTD_MAX_NAME + 1];
	const char *hex;
	struct bpipe *p;

	if (bjob_split(id, pipe, &hex) < 0 || !(p = bpipe_find(br, pipe)))
		return -ESRCH;
	*net = p->net;
	snprintf(key, len, "%s:j:%s", p->tag, hex);
	return 0;
}

/* KEYS: stage 0's stream, stats hash, then the hash of each job. ARGV: stage 0's name,
 * created_ms, then per job: owner, job id, payload. One script for the submits that
 * arrived together (bgroup.h): the jobs' hashes and entries come together. The hash
 * keeps the payload (status "payload", retry "from_start"), for the hash's life. */
const char bscript_submit[] =
	"local n = #KEYS - 2 "
	"for i = 1, n do "
	"  local a = 3 * i "
	"  redis.call('HSET', KEYS[2 + i], 'state', 'queued', 'stage', ARGV[1], 'created_ms', ARGV[2], 'owner', ARGV[a], "
	"    'payload', ARGV[a + 2]) "
	"  redis.call('XADD', KEYS[1], '*', 'id', ARGV[a + 1], 'in', ARGV[a + 2]) "
	"end "
	"redis.call('HINCRBY', KEYS[2], 'submitted', n) "
	"return n";

/* One submit waiting for its group's call. */
struct bsub {
	struct bgitem g;               /* first: the group hands back &g */
	char key[160], uid[16];
	const char *id;
	const void *payload;
	size_t len;
};

/* bgroup_flush_fn of a pipeline's submits: one EVALSHA for them all. */
static int submit_flush(void *arg, struct bgitem **items, size_t n)
{
	struct bpipe *p = arg;
	size_t argc = 3 + (2 + n) + (2 + 3 * n), k = 0;
	const char **argv = malloc(argc * sizeof(*argv));
	size_t *lens = malloc(argc * sizeof(*lens));
	char nkeys[24], stats[96], ms[24];
	struct rbatch b;
	redisReply *rep;
	int r = -ENOMEM;

	if (!argv || !lens)
		goto out;
	snprintf(nkeys, sizeof(nkeys), "%zu", 2 + n);
	snprintf(stats, sizeof(stats), "%s:stats", p->tag);
	snprintf(ms, sizeof(ms), "%" PRId64, bwall_ms());
	argv[k++] = "EVALSHA";
	argv[k++] = p->br->sha_submit;
	argv[k++] = nkeys;
	argv[k++] = p->stages[0].key;
	argv[k++] = stats;
	for (size_t i = 0; i < n; i++)
		argv[k++] = ((struct bsub *)items[i])->key;
	argv[k++] = p->cfg->stages[0].name;
	argv[k++] = ms;
	for (size_t i = 0; i < k; i++)
		lens[i] = strlen(argv[i]);
	for (size_t i = 0; i < n; i++) {
		struct bsub *u = (struct bsub *)items[i];
		argv[k] = u->uid, lens[k] = strlen(u->uid), k++;
		argv[k] = u->id, lens[k] = strlen(u->id), k++;
		argv[k] = u->payload ? u->payload : "", lens[k] = u->len, k++;
	}
	rbatch_init(&b);
	rbatch_argv(&b, (int)k, argv, lens);
	/* no ctx: the call is many clients' (one that leaves still has its job) */
	r = rconn_evalsha(NULL, bnet_conn(p->net), &b, bscript_submit, &rep);
	rbatch_done(&b);
	if (r == 0) {
		r = rreply_err(rep) ? -ENOTCONN : 0; /* (-LOADING, -OOM...: not accepted) */
		freeReplyObject(rep);
	}
out:
	free(argv);
	free(lens);
	return r;
}

int weftd_broker_submit(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline,
			const void *payload, size_t len, uid_t owner, char ret_id[WEFTD_BROKER_ID_MAX + 1])
{
	struct bsub u = { .g.bytes = len + 128, .id = ret_id, .payload = payload, .len = len };
	struct bpipe *p;
	int r;

	if (!(p = bpipe_rlock(br, pipeline))) {
		return -ENOENT;
	}
	/* Redis away: answer at once rather than queue behind a call that will fail */
	if (!rconn_up(bnet_conn(p->net))) {
		weft_rwmutex_runlock(&br->lock);
		return -ENOTCONN;
	}
	/* "P/HEX16" and "weft:{P}:j:HEX16" without printf (a few percent of a node's CPU
	 * at 50,000 submits/s) */
	uint32_t seq = (uint32_t)atomic_fetch_add(&br->id_seq, 1);
	uint64_t v = (uint64_t)br->id_prefix << 32 | seq;
	char hex[17];
	for (int i = 15; i >= 0; i--, v >>= 4)
		hex[i] = "0123456789abcdef"[v & 15];
	hex[16] = 0;
	size_t pl = strlen(pipeline), tl = strlen(p->tag);
	memcpy(ret_id, pipeline, pl);
	ret_id[pl] = '/';
	memcpy(ret_id + pl + 1, hex, 17);
	memcpy(u.key, p->tag, tl);
	memcpy(u.key + tl, ":j:", 3);
	memcpy(u.key + tl + 3, hex, 17);
	char *d = u.uid + sizeof(u.uid) - 1;
	*d = 0;
	unsigned o = (unsigned)owner;
	do
		*--d = (char)('0' + o % 10);
	while ((o /= 10));
	memmove(u.uid, d, (size_t)(u.uid + sizeof(u.uid) - d));
	r = bgroup_run(&p->gsub, &u.g, submit_flush, p);
	weft_rwmutex_runlock(&br->lock);
	(void)ctx; /* the group's call has none (submit_flush) */
	return r;
}

/* HMGET of id's hash into *ret: the fields shown, in bjob_field_names' order (the payload
 * only when payload, the output only when outputs; "-" names no field), or only the
 * state and the owner when !all (a wait's wake-ups). An array whose state is nil when
 * the job is unknown. */
static int fetch(weft_ctx *ctx, struct weftd_broker *br, const char *id, bool all, bool outputs, bool payload,
		 redisReply **ret)
{
	const char *argv[2 + BF__N];
	size_t lens[2 + BF__N];
	char key[160];
	struct bnet *n;
	struct rbatch b;
	int r, argc = all ? 2 + BF__N : 4;

	weft_rwmutex_rlock(NULL, &br->lock);
	r = job_key(br, id, &n, key, sizeof(key));
	weft_rwmutex_runlock(&br->lock);
	if (r < 0)
		return r;
	argv[0] = "HMGET";
	argv[1] = key;
	for (size_t f = 0; f < BF__N; f++)
		argv[2 + f] = (f == BF_PAYLOAD && !payload) || (f == BF_OUTPUT && !outputs) ? "-" : bjob_field_names[f];
	if (!all) /* a wait's: state, owner */
		argv[3] = bjob_field_names[BF_OWNER];
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	rbatch_init(&b);
	rbatch_argv(&b, argc, argv, lens);
	r = rconn_exec(ctx, bnet_conn(n), &b, ret);
	rbatch_done(&b);
	if (r == 0 && ((*ret)->type != REDIS_REPLY_ARRAY || (*ret)->elements < 1)) {
		freeReplyObject(*ret);
		r = -ENOTCONN;
	}
	return r;
}

/* Of fetch's !all reply: 1 the job has ended, 0 not, -ESRCH unknown (or another's
 * unless admin: as a local wait, at once). */
static int ended(const redisReply *h, uid_t uid, bool admin)
{
	const redisReply *s = h->element[0], *o = h->elements > 1 ? h->element[1] : NULL;

	if (s->type != REDIS_REPLY_STRING ||
	    (!admin && (!o || o->type != REDIS_REPLY_STRING || strtoll(o->str, NULL, 10) != (long long)uid)))
		return -ESRCH;
	return strcmp(s->str, "done") == 0 || strcmp(s->str, "failed") == 0 ||
	       strcmp(s->str, "canceled") == 0 || strcmp(s->str, "expired") == 0;
}

int weftd_broker_job_json(weft_ctx *ctx, struct weftd_broker *br, const char *id, uid_t uid,
			  bool admin, bool payload, struct weftd_buf *b, const char *key)
{
	char pipe[WEFTD_MAX_NAME + 1];
	struct bjob_fields f;
	const char *hex;
	struct bpipe *p;
	redisReply *h;
	int r = fetch(ctx, br, id, true, true, payload, &h);

	if (r < 0)
		return r;
	bjob_split(id, pipe, &hex);
	bjob_fields_hmget(&f, h);
	weft_rwmutex_rlock(NULL, &br->lock); /* (a pipeline's config outlives the broker) */
	p = bpipe_find(br, pipe);
	weft_rwmutex_runlock(&br->lock);
	r = bjob_put(b, key, id, &f, uid, admin,
		     &(struct bjob_show){ .outputs = true, .payload = payload, .cfg = p ? p->cfg : NULL });
	freeReplyObject(h);
	return r;
}

int weftd_broker_wait(weft_ctx *ctx, struct weftd_broker *br, const char *id, uid_t uid, bool admin,
		      int64_t timeout_ns)
{
	weft_ctx *wctx = NULL;
	struct bwaiter w;
	struct bnet *n;
	char key[160];
	int r;

	weft_rwmutex_rlock(NULL, &br->lock);
	r = job_key(br, id, &n, key, sizeof(key));
	weft_rwmutex_runlock(&br->lock);
	if (r < 0)
		return r;
	if (timeout_ns == 0) { /* just check (a ctx timed out already would fail the read) */
		redisReply *h;
		if ((r = fetch(ctx, br, id, false, false, false, &h)) < 0)
			return r;
		r = ended(h, uid, admin);
		freeReplyObject(h);
		return r;
	}
	if (timeout_ns > 0 && (r = weft_ctx_with_timeout(ctx, timeout_ns, &wctx)) < 0)
		return r;
	snprintf(w.id, sizeof(w.id), "%s", id);
	for (;;) {
		redisReply *h;
		bwait_add(n, &w); /* before the read: an end published meanwhile wakes us */
		r = fetch(wctx ? wctx : ctx, br, id, false, false, false, &h);
		if (r == 0) {
			r = ended(h, uid, admin);
			freeReplyObject(h);
		}
		if (r == -ENOTCONN) {
			/* Redis away (or loading its AOF): a wait outlives that. Park until a
			 * connection is back, then read again, paced (LOADING answers at once). */
			bwait_remove(n, &w);
			if ((r = rconn_wait_up(wctx ? wctx : ctx, bnet_conn(n))) == 0 &&
			    (r = weft_sleep(wctx ? wctx : ctx, 100 * WEFT_MSEC)) == 0)
				continue;
			r = (r == -ETIMEDOUT && wctx && weft_ctx_err(ctx) == 0) ? 0 : r;
			break;
		}
		if (r != 0) {
			bwait_remove(n, &w);
			break;
		}
		r = weft_event_wait(wctx ? wctx : ctx, &w.ev);
		bwait_remove(n, &w);
		if (r < 0) {
			r = (r == -ETIMEDOUT && wctx && weft_ctx_err(ctx) == 0) ? 0 : r;
			break;
		}
	}
	weft_ctx_unref(wctx);
	return r;
}

const char bscript_cancel[] =
	"local s = redis.call('HGET', KEYS[1], 'state') "
	"if not s then return -1 end "
	"if s == 'done' or s == 'failed' or s == 'canceled' or s == 'expired' then return 0 end "
	"redis.call('HSET', KEYS[1], 'state', 'canceled', 'error', 'canceled by client', 'finished_ms', ARGV[1]) "
	"redis.call('EXPIRE', KEYS[1], ARGV[2]) "
	/* its idempotency key lives as long as the job (retention after its end), as locally */
	"local kv = redis.call('HGET', KEYS[1], 'key') "
	"if kv then "
	"  local kk = string.gsub(KEYS[1], ':j:%x+$', ':k:') .. kv "
	"  if redis.call('GET', kk) == ARGV[3] then redis.call('EXPIRE', kk, ARGV[2]) end "
	"end "
	"redis.call('PUBLISH', KEYS[2], ARGV[3]) "
	"redis.call('PUBLISH', (string.gsub(KEYS[2], ':done$', ':cancel')), ARGV[3]) "
	"redis.call('HINCRBY', KEYS[3], 'canceled', 1) "
	"redis.call('SADD', KEYS[4], ARGV[3]) "
	"redis.call('EXPIRE', KEYS[4], ARGV[2]) "
	"return 1";

int weftd_broker_cancel(weft_ctx *ctx, struct weftd_broker *br, const char *id)
{
	char key[160], chan[96], stats[96], cset[96], pipe[WEFTD_MAX_NAME + 1], ms[24], ttl[24];
	const char *hex;
	struct bnet *n;
	struct rbatch b;
	redisReply *rep;
	int r;

	weft_rwmutex_rlock(NULL, &br->lock);
	r = job_key(br, id, &n, key, sizeof(key));
	snprintf(ttl, sizeof(ttl), "%" PRId64, br->ttl_s);
	weft_rwmutex_runlock(&br->lock);
	if (r < 0)
		return r;
	bjob_split(id, pipe, &hex);
	snprintf(chan, sizeof(chan), "weft:{%s}:done", pipe);
	snprintf(stats, sizeof(stats), "weft:{%s}:stats", pipe);
	snprintf(cset, sizeof(cset), "weft:{%s}:canceled", pipe);
	snprintf(ms, sizeof(ms), "%" PRId64, bwall_ms());
	rbatch_init(&b);
	rbatch_cmd(&b, "EVALSHA %s 4 %s %s %s %s %s %s %s", br->sha_cancel, key, chan, stats, cset, ms, ttl, id);
	r = rconn_evalsha(ctx, bnet_conn(n), &b, bscript_cancel, &rep);
	rbatch_done(&b);
	if (r < 0)
		return r;
	r = rep->type != REDIS_REPLY_INTEGER ? -ENOTCONN : rep->integer < 0 ? -ESRCH : (int)rep->integer;
	freeReplyObject(rep);
	return r;
}

/* The figures of p as member p->cfg->name of the object being written. */
static int stats_one(weft_ctx *ctx, struct weftd_broker *br, struct bpipe *p, struct weftd_buf *b)
{
	static const char *const counters[] = { "submitted", "done", "failed", "canceled", "expired" };
	redisReply *rep[4 + 2 * BBANDS * WEFTD_MAX_STAGES];
	struct rbatch q;
	int r;

	rbatch_init(&q);
	rbatch_cmd(&q, "HGETALL %s:nodes", p->tag);
	rbatch_cmd(&q, "HMGET %s:stats submitted done failed canceled expired", p->tag);
	rbatch_cmd(&q, "ZCARD %s:sched", p->tag);
	for (size_t k = 0; k < p->nstages; k++) {
		for (unsigned d = 0; d < BBANDS; d++) { /* summed over the priority bands */
			rbatch_cmd(&q, "XLEN %s", p->stages[k].bkey[d]);
			rbatch_cmd(&q, "XPENDING %s %s", p->stages[k].bkey[d], BGROUP);
		}
	}
	rbatch_cmd(&q, "XLEN %s:dead", p->tag);
	r = rconn_exec(ctx, bnet_conn(p->net), &q, rep);
	size_t nrep = q.n;
	rbatch_done(&q);
	if (r < 0)
		return r;
	int64_t now = bwall_ms();
	weftd_json_obj_begin(b, p->cfg->name);
	weftd_json_cstr(b, "broker", p->net->cfg->name);
	weftd_json_bool(b, "paused", bpause_is(p));
	for (size_t k = 0; k < 5; k++) {
		const redisReply *v = rep[1]->type == REDIS_REPLY_ARRAY && rep[1]->elements == 5 ? rep[1]->element[k] : NULL;
		weftd_json_i64(b, counters[k], v && v->type == REDIS_REPLY_STRING ? strtoll(v->str, NULL, 10) : 0);
	}
	const redisReply *dead = rep[nrep - 1];
	weftd_json_i64(b, "dead", dead->type == REDIS_REPLY_INTEGER ? dead->integer : 0);
	weftd_json_i64(b, "scheduled", rep[2]->type == REDIS_REPLY_INTEGER ? rep[2]->integer : 0);
	weftd_json_arr_begin(b, "stages");
	for (size_t k = 0; k < p->nstages; k++) {
		int64_t length = 0, pending = 0;
		for (unsigned d = 0; d < BBANDS; d++) {
			const redisReply *len = rep[3 + 2 * (BBANDS * k + d)], *pend = rep[4 + 2 * (BBANDS * k + d)];
			length += len->type == REDIS_REPLY_INTEGER ? len->integer : 0;
			pending += pend->type == REDIS_REPLY_ARRAY && pend->elements &&
					   pend->element[0]->type == REDIS_REPLY_INTEGER ? pend->element[0]->integer : 0;
		}
		weftd_json_obj_begin(b, NULL);
		weftd_json_cstr(b, "name", p->stages[k].cfg->name);
		weftd_json_i64(b, "length", length);
		weftd_json_i64(b, "pending", pending);
		weftd_json_u64(b, "workers", p->stages[k].cfg->workers);
		weftd_json_obj_end(b);
	}
	weftd_json_arr_end(b);
	weftd_json_arr_begin(b, "nodes");
	for (size_t k = 0; rep[0]->type == REDIS_REPLY_ARRAY && k + 1 < rep[0]->elements; k += 2) {
		int64_t seen = strtoll(rep[0]->element[k + 1]->str, NULL, 10);
		weftd_json_obj_begin(b, NULL);
		weftd_json_cstr(b, "node", rep[0]->element[k]->str);
		weftd_json_i64(b, "last_seen_ms", seen);
		weftd_json_i64(b, "age_ms", now - seen);
		weftd_json_bool(b, "self", strcmp(rep[0]->element[k]->str, br->node) == 0);
		weftd_json_obj_end(b);
	}
	weftd_json_arr_end(b);
	weftd_json_obj_end(b);
	for (size_t k = 0; k < nrep; k++)
		freeReplyObject(rep[k]);
	return 0;
}

int weftd_broker_stats_json(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline,
			    struct weftd_buf *b, const char *key)
{
	int r = 0;

	weft_rwmutex_rlock(NULL, &br->lock);
	if (pipeline && !bpipe_find(br, pipeline)) {
		weft_rwmutex_runlock(&br->lock);
		return -ENOENT;
	}
	weftd_json_obj_begin(b, key);
	for (size_t i = 0; r == 0 && i < br->npipes; i++)
		if (!pipeline || strcmp(pipeline, br->pipes[i]->cfg->name) == 0)
			r = stats_one(ctx, br, br->pipes[i], b);
	weftd_json_obj_end(b);
	weft_rwmutex_runlock(&br->lock);
	return r;
}
