/* SPDX-License-Identifier: MIT */
/* bdead.c — a broker pipeline's dead letters (broker.h): retry re-drives them from the
 * dead stream into the stage that failed, with that stage's input and fresh attempts;
 * purge deletes them (the dead entry, the job's hash, its idempotency key). Each is one
 * script, so two nodes re-driving at once re-drive a job once. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_impl.h"
#include "proto/json.h"

/* The shared part of both scripts: ok(h) says whether the peer may touch the job of hash
 * fields h = {state, owner, dead_eid, key}. ARGV: tag, mode ("job"|"all"), job id, uid
 * ("-1": an admin), limit, then (redrive) from_start ("1"|"0"), retention (s) and the stages'
 * names in order. KEYS: dead. */
#define BDEAD_COMMON                                                                       \
	"local function jkey(jid) return ARGV[1] .. ':j:' .. (string.match(jid, '/(%x+)$') or '') end " \
	"local function mine(h) return ARGV[4] == '-1' or h[2] == ARGV[4] end "          \
	"local function fields(jk) return redis.call('HMGET', jk, 'state', 'owner', 'dead_eid', 'key') end "

/* Returns {1, id} | {-1} unknown | {-2, state} not failed | {-3} its dead entry is gone
 * (a stage no longer there) | {-4} from_start: no payload kept (submitted by a weftd
 * that did not keep it); with all: {n, ids...}. from_start re-drives into stage 0 with
 * the payload the hash keeps. A retrying job (job, not from_start) leaves the schedule
 * for its stage's stream now, its attempts kept (as bsched.c's move does when due). */
const char bscript_redrive[] = BDEAD_COMMON
	"local function requeue(jid, jk, idx, stage, input, a) "
	"  redis.call('PERSIST', jk) "
	"  redis.call('HSET', jk, 'state', 'queued', 'stage', stage, 'attempts', a) "
	"  redis.call('HDEL', jk, 'error', 'finished_ms', 'dead_eid', 'output', 'node', 'next_stage', 'next_in', 'run_at_ms') "
	"  local pr, band = tonumber(redis.call('HGET', jk, 'priority') or '0') or 0, '' "
	"  if pr > 0 then band = ':hi' elseif pr < 0 then band = ':lo' end "
	"  redis.call('XADD', ARGV[1] .. ':s:' .. idx .. band, '*', 'id', jid, 'in', input, 'a', a, "
	"    'dl', redis.call('HGET', jk, 'deadline_ms') or '0') "
	/* live again: its key too, for retention.age from now at least (PERSIST would outlive
	 * the job: the workers' end does not set the key's TTL, bsubmit.c) */
	"  local kv = redis.call('HGET', jk, 'key') "
	"  if kv and redis.call('GET', ARGV[1] .. ':k:' .. kv) == jid and redis.call('TTL', ARGV[1] .. ':k:' .. kv) < tonumber(ARGV[7]) then "
	"    redis.call('EXPIRE', ARGV[1] .. ':k:' .. kv, ARGV[7]) "
	"  end "
	"end "
	"local function redrive(jid, did) "
	"  local jk, stage, input, idx = jkey(jid) "
	"  if ARGV[6] == '1' then "
	"    input = redis.call('HGET', jk, 'payload') "
	"    if not input then return -4 end "
	"    stage, idx = ARGV[8], 0 "
	"  else "
	"    local e = did and redis.call('XRANGE', KEYS[1], did, did) or {} "
	"    if #e == 0 then return -3 end "
	"    local f = e[1][2] "
	"    for i = 1, #f, 2 do if f[i] == 'stage' then stage = f[i + 1] elseif f[i] == 'in' then input = f[i + 1] end end "
	"    for i = 8, #ARGV do if ARGV[i] == stage then idx = i - 8 end end "
	"    if not idx or not input then return -3 end "
	"  end "
	"  if did then redis.call('XDEL', KEYS[1], did) end "
	"  requeue(jid, jk, idx, stage, input, '0') "
	"  return 1 "
	"end "
	"if ARGV[2] == 'job' then "
	"  local jk = jkey(ARGV[3]) "
	"  local h = fields(jk) "
	"  if not h[1] or not mine(h) then return {-1} end "
	"  if h[1] == 'retrying' and ARGV[6] ~= '1' then "
	"    local n = redis.call('HMGET', jk, 'next_stage', 'next_in', 'attempts') "
	"    local i = tonumber(n[1] or '') "
	"    if not i or not n[2] or not ARGV[8 + i] or redis.call('ZREM', ARGV[1] .. ':sched', ARGV[3]) == 0 then "
	"      return {-2, h[1]} "
	"    end "
	"    requeue(ARGV[3], jk, i, ARGV[8 + i], n[2], n[3] or '0') "
	"    return {1, ARGV[3]} "
	"  end "
	"  if h[1] ~= 'failed' then return {-2, h[1]} end "
	"  local r = redrive(ARGV[3], h[3]) "
	"  if r < 0 then return {r} end "
	"  return {1, ARGV[3]} "
	"end "
	"local out = {0} "
	"for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[5]))) do "
	"  local jid "
	"  for i = 1, #e[2], 2 do if e[2][i] == 'id' then jid = e[2][i + 1] end end "
	"  if jid then "
	"    local h = fields(jkey(jid)) "
	"    if h[1] == 'failed' and mine(h) and h[3] == e[1] and redrive(jid, e[1]) == 1 then "
	"      out[1] = out[1] + 1 table.insert(out, jid) "
	"    end "
	"  end "
	"end "
	"return out";

/* Returns {1} | {-1} | {-2, state}; with all: {n}. A dead entry whose job's hash is gone
 * (retention passed) goes too when an admin purges all. */
const char bscript_purge[] = BDEAD_COMMON
	"local function purge(jid, h, did) "
	"  local jk = jkey(jid) "
	"  if did then redis.call('XDEL', KEYS[1], did) end "
	"  if h[4] and redis.call('GET', ARGV[1] .. ':k:' .. h[4]) == jid then redis.call('DEL', ARGV[1] .. ':k:' .. h[4]) end "
	"  redis.call('DEL', jk) "
	"end "
	"if ARGV[2] == 'job' then "
	"  local h = fields(jkey(ARGV[3])) "
	"  if not h[1] or not mine(h) then return {-1} end "
	"  if h[1] ~= 'failed' then return {-2, h[1]} end "
	"  purge(ARGV[3], h, h[3]) "
	"  return {1} "
	"end "
	"local n = 0 "
	"for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[5]))) do "
	"  local jid "
	"  for i = 1, #e[2], 2 do if e[2][i] == 'id' then jid = e[2][i + 1] end end "
	"  local h = jid and fields(jkey(jid)) or {} "
	"  if jid and h[1] == 'failed' and mine(h) and h[3] == e[1] then purge(jid, h, e[1]) n = n + 1 "
	"  elseif not h[1] and ARGV[4] == '-1' then redis.call('XDEL', KEYS[1], e[1]) end "
	"end "
	"return {n}";

#define BDEAD_LIMIT "100000"

int weftd_broker_dead_op(weft_ctx *ctx, struct weftd_broker *br, bool retry, bool from_start,
			 const char *pipeline, const char *job, uid_t uid, bool admin, struct weftd_buf *b,
			 char *why, size_t whylen)
{
	const char *argv[9 + WEFTD_MAX_STAGES + 6];
	size_t lens[sizeof(argv) / sizeof(argv[0])];
	char pipe[WEFTD_MAX_NAME + 1], dead[96], tag[WEFTD_MAX_NAME + 8], u[16], ttl[24];
	const char *hex;
	struct rbatch q;
	struct bpipe *p;
	redisReply *rep;
	int k = 0, r;

	if (job) {
		if (bjob_split(job, pipe, &hex) < 0)
			return -ESRCH;
		pipeline = pipe;
	}
	if (!(p = bpipe_rlock(br, pipeline))) {
		return job ? -ESRCH : -ENOENT;
	}
	snprintf(dead, sizeof(dead), "%s:dead", p->tag);
	snprintf(tag, sizeof(tag), "%s", p->tag);
	snprintf(u, sizeof(u), "%ld", admin ? -1L : (long)uid);
	argv[k++] = "EVALSHA";
	argv[k++] = retry ? br->sha_redrive : br->sha_purge;
	argv[k++] = "1";
	argv[k++] = dead;
	argv[k++] = tag;
	argv[k++] = job ? "job" : "all";
	argv[k++] = job ? job : "";
	argv[k++] = u;
	argv[k++] = BDEAD_LIMIT;
	if (retry) {
		snprintf(ttl, sizeof(ttl), "%" PRId64, br->ttl_s);
		argv[k++] = from_start ? "1" : "0";
		argv[k++] = ttl;
	}
	for (size_t i = 0; retry && i < p->nstages; i++)
		argv[k++] = p->cfg->stages[i].name;
	for (int i = 0; i < k; i++)
		lens[i] = strlen(argv[i]);
	rbatch_init(&q);
	rbatch_argv(&q, k, argv, lens);
	r = rconn_evalsha(ctx, bnet_conn(p->net), &q, retry ? bscript_redrive : bscript_purge, &rep);
	weft_rwmutex_runlock(&br->lock);
	rbatch_done(&q);
	if (r < 0)
		return r;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 || rep->element[0]->type != REDIS_REPLY_INTEGER) {
		freeReplyObject(rep);
		return -ENOTCONN;
	}
	long long n = rep->element[0]->integer;
	if (n == -1)
		r = -ESRCH;
	else if (n == -4) {
		snprintf(why, whylen, "job %s: its payload was not kept (submitted by an older weftd): retry it without \"from_start\"", job);
		r = -EBUSY;
	} else if (n == -2 || n == -3) {
		snprintf(why, whylen, n == -3 ? "job %s: its dead letter is gone (its stage was removed?)"
					      : "job %s is %s, not a dead letter",
			 job, rep->elements > 1 && rep->element[1]->type == REDIS_REPLY_STRING ? rep->element[1]->str : "?");
		r = -EBUSY;
	} else {
		if (retry) {
			weftd_json_arr_begin(b, "jobs");
			for (size_t i = 1; i < rep->elements; i++)
				if (rep->element[i]->type == REDIS_REPLY_STRING)
					weftd_json_str(b, NULL, rep->element[i]->str, rep->element[i]->len);
			weftd_json_arr_end(b);
		}
		weftd_json_u64(b, retry ? "retried" : "purged", (uint64_t)n);
	}
	freeReplyObject(rep);
	return r;
}
