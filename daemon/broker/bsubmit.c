/* SPDX-License-Identifier: MIT */
/* bsubmit.c — a broker submit with options (delay/run_at, deadline, priority, key): its
 * own script, so that plain submits keep their short one (bops.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "broker/broker_impl.h"

/* KEYS: job hash, stage 0's stream, stats, sched, the key's key. ARGV: stage 0's name,
 * created_ms, owner, job id, payload, due_ms (0: now), deadline_ms (0: none), the key's
 * TTL (s), key ("" none), priority. Returns {1, id} or, the key taken, {0, its id}. A
 * key whose job is gone (purged, or its hash expired first) is free, as a local key
 * leaves with its job. The hash keeps the payload (status, retry from_start). */
const char bscript_subopt[] =
	"if ARGV[9] ~= '' then "
	"  local old = redis.call('GET', KEYS[5]) "
	"  if old and redis.call('EXISTS', string.gsub(KEYS[1], '%x+$', '') .. (string.match(old, '/(%x+)$') or '')) == 1 then "
	"    return {0, old} "
	"  end "
	"  redis.call('SET', KEYS[5], ARGV[4], 'EX', ARGV[8]) "
	"end "
	"local due = tonumber(ARGV[6]) "
	"local st = 'queued' "
	"if due > 0 then st = 'scheduled' end "
	"redis.call('HSET', KEYS[1], 'state', st, 'stage', ARGV[1], 'created_ms', ARGV[2], 'owner', ARGV[3], "
	"  'priority', ARGV[10], 'payload', ARGV[5]) "
	"if ARGV[7] ~= '0' then redis.call('HSET', KEYS[1], 'deadline_ms', ARGV[7]) end "
	"if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'key', ARGV[9]) end "
	"if due > 0 then "
	"  redis.call('HSET', KEYS[1], 'run_at_ms', ARGV[6], 'next_stage', '0', 'next_in', ARGV[5]) "
	"  redis.call('ZADD', KEYS[4], due, ARGV[4]) "
	"else "
	"  redis.call('XADD', KEYS[2], '*', 'id', ARGV[4], 'in', ARGV[5], 'dl', ARGV[7]) "
	"end "
	"redis.call('HINCRBY', KEYS[3], 'submitted', 1) "
	"return {1, ARGV[4]}";

int weftd_broker_submit_opts(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline,
			     const void *payload, size_t len, uid_t owner,
			     const struct weftd_broker_submit_opts *o, char ret_id[WEFTD_BROKER_ID_MAX + 1],
			     bool *ret_dup)
{
	char key[160], stats[96], sched[96], kkey[WEFTD_MAX_NAME + 300], ms[24], uid[16], due[24], dl[24],
		ttl[24], prio[16];
	int64_t now = bwall_ms();
	struct rbatch b;
	redisReply *rep;
	struct bpipe *p;
	int r;

	*ret_dup = false;
	if (!(p = bpipe_rlock(br, pipeline))) {
		return -ENOENT;
	}
	uint32_t seq = (uint32_t)atomic_fetch_add(&br->id_seq, 1);
	snprintf(ret_id, WEFTD_BROKER_ID_MAX + 1, "%s/%08" PRIx32 "%08" PRIx32, pipeline, br->id_prefix, seq);
	snprintf(key, sizeof(key), "%s:j:%08" PRIx32 "%08" PRIx32, p->tag, br->id_prefix, seq);
	snprintf(stats, sizeof(stats), "%s:stats", p->tag);
	snprintf(sched, sizeof(sched), "%s:sched", p->tag);
	int kl = snprintf(kkey, sizeof(kkey), "%s:k:", p->tag);
	size_t klen = o->key ? o->key_len : 0;
	if (klen > sizeof(kkey) - (size_t)kl)
		klen = sizeof(kkey) - (size_t)kl;
	if (klen)
		memcpy(kkey + kl, o->key, klen);
	int64_t due_ms = o->run_at_ms > now ? o->run_at_ms : 0;
	snprintf(ms, sizeof(ms), "%" PRId64, now);
	snprintf(uid, sizeof(uid), "%u", (unsigned)owner);
	snprintf(due, sizeof(due), "%" PRId64, due_ms);
	snprintf(dl, sizeof(dl), "%" PRId64, o->deadline_ms > 0 ? o->deadline_ms : 0);
	/* the key lives while its job may: retention.age after the latest end known now (its
	 * due time, or its deadline: the job ends by then). The cancel script sets it anew
	 * from the end (bops.c); the workers' end (bcommit.c) does not yet: a job without a
	 * deadline that runs longer than its delay loses its key early (README) */
	int64_t live_ms = due_ms ? due_ms - now : 0;
	if (o->deadline_ms > now && o->deadline_ms - now > live_ms)
		live_ms = o->deadline_ms - now;
	snprintf(ttl, sizeof(ttl), "%" PRId64, br->ttl_s + (live_ms ? live_ms / 1000 + 1 : 0));
	snprintf(prio, sizeof(prio), "%d", o->priority);
	rbatch_init(&b);
	rbatch_cmd(&b, "EVALSHA %s 5 %s %s %s %s %b %s %s %s %s %b %s %s %s %b %s", br->sha_subopt, key,
		   p->stages[0].bkey[bband_of(o->priority)], stats, sched, kkey, (size_t)kl + klen, p->cfg->stages[0].name, ms, uid, ret_id,
		   payload ? payload : "", len, due, dl, ttl, o->key ? o->key : "", klen, prio);
	r = rconn_evalsha(ctx, bnet_conn(p->net), &b, bscript_subopt, &rep);
	if (r == 0 && due_ms)
		bsched_kick(p); /* this node's keeper: it may sleep past due_ms */
	weft_rwmutex_runlock(&br->lock);
	rbatch_done(&b);
	if (r < 0)
		return r;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_INTEGER &&
	    rep->element[1]->type == REDIS_REPLY_STRING && rep->element[1]->len <= WEFTD_BROKER_ID_MAX) {
		*ret_dup = rep->element[0]->integer == 0;
		memcpy(ret_id, rep->element[1]->str, rep->element[1]->len);
		ret_id[rep->element[1]->len] = 0;
	} else {
		r = -ENOTCONN; /* (-LOADING, -OOM...: not accepted) */
	}
	freeReplyObject(rep);
	return r;
}
