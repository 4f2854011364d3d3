/* SPDX-License-Identifier: MIT */
/* bsched.c — a broker pipeline's schedule (broker.h): weft:{P}:sched, a sorted set of job
 * ids by due time (Unix ms), holds the jobs waiting for a retry or for their delay; the
 * job's hash keeps where it goes next (next_stage, next_in). Every node runs one keeper
 * fiber per pipeline, and any of them may move due jobs into their stage's stream: the
 * move is one script (ZRANGEBYSCORE .. LIMIT, ZREM, XADD), so a job moves once whichever
 * node moves it, and a job whose deadline passed meanwhile ends expired instead. The
 * keeper also forgets the nodes not seen for BFORGET_TIMEOUTS heartbeat timeouts. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_impl.h"
#include "util/log.h"

#define MOVE_BATCH 256
#define KEEPER_MAX_SLEEP_NS (1000 * WEFT_MSEC) /* another node's schedule: seen this late */

/* KEYS: stream, job hash, sched. ARGV: entry id, job id, stage index, stage name,
 * attempts, due_ms, the stage's input, error. A job that ended meanwhile (canceled) is
 * only acknowledged. */
const char bscript_retry[] =
	"redis.call('XACK', KEYS[1], 'weft', ARGV[1]) "
	"redis.call('XDEL', KEYS[1], ARGV[1]) "
	"local was = redis.call('HGET', KEYS[2], 'state') "
	"if was == 'canceled' or was == 'done' or was == 'failed' or was == 'expired' then return 0 end "
	"redis.call('HSET', KEYS[2], 'state', 'retrying', 'stage', ARGV[4], 'attempts', ARGV[5], "
	"  'run_at_ms', ARGV[6], 'next_stage', ARGV[3], 'next_in', ARGV[7], 'error', ARGV[8]) "
	"redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2]) "
	"return 1";

int bsched_retry(struct bstage *s, struct bentry *e, uint32_t attempt, int64_t due_ms, const char *error)
{
	struct bpipe *p = s->p;
	char key[160], sched[96], idx[16], att[16], due[24];
	const char *slash = strchr(e->jid, '/');
	struct rbatch b;
	int r;

	snprintf(key, sizeof(key), "%s:j:%s", p->tag, slash ? slash + 1 : e->jid);
	snprintf(sched, sizeof(sched), "%s:sched", p->tag);
	snprintf(idx, sizeof(idx), "%u", s->index);
	snprintf(att, sizeof(att), "%u", attempt);
	snprintf(due, sizeof(due), "%" PRId64, due_ms);
	rbatch_init(&b);
	rbatch_cmd(&b, "EVALSHA %s 3 %s %s %s %s %s %s %s %s %s %b %s", p->br->sha_retry, s->bkey[e->band], key, sched,
		   e->eid, e->jid, idx, s->cfg->name, att, due, e->in, e->in_len, error);
	r = bnet_call_until_done(p, &b, bscript_retry, "");
	rbatch_done(&b);
	if (r == 0)
		bsched_kick(p);
	return r;
}

/* KEYS: sched, stats. ARGV: now_ms, limit, tag "weft:{P}", ttl. Moves the due jobs into
 * their stage's stream with their attempts so far ("a") and deadline ("dl"); a job past
 * its deadline ends expired (its key, still its, lives the retention from then as its
 * hash does); one that ended meanwhile (canceled) is dropped. Returns
 * {moved, next due time or -1}. */
const char bscript_move[] =
	"local now = tonumber(ARGV[1]) "
	"local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2])) "
	"for _, jid in ipairs(ids) do "
	"  redis.call('ZREM', KEYS[1], jid) "
	"  local jk = ARGV[3] .. ':j:' .. (string.match(jid, '/(%x+)$') or '') "
	"  local h = redis.call('HMGET', jk, 'state', 'next_stage', 'next_in', 'deadline_ms', 'attempts', 'priority', 'key') "
	"  if (h[1] == 'scheduled' or h[1] == 'retrying') and h[2] and h[3] then "
	"    local dl = tonumber(h[4] or '0') or 0 "
	"    if dl > 0 and dl <= now then "
	"      redis.call('HSET', jk, 'state', 'expired', 'error', 'deadline passed', 'finished_ms', ARGV[1]) "
	"      redis.call('HDEL', jk, 'next_in', 'next_stage', 'run_at_ms') "
	"      redis.call('EXPIRE', jk, ARGV[4]) "
	"      if h[7] and redis.call('GET', ARGV[3] .. ':k:' .. h[7]) == jid then redis.call('EXPIRE', ARGV[3] .. ':k:' .. h[7], ARGV[4]) end "
	"      redis.call('HINCRBY', KEYS[2], 'expired', 1) "
	"      redis.call('PUBLISH', ARGV[3] .. ':done', jid) "
	"    else "
	"      local a = '0' "
	"      if h[1] == 'retrying' then a = h[5] or '0' end "
	"      local pr, band = tonumber(h[6] or '0') or 0, '' "
	"      if pr > 0 then band = ':hi' elseif pr < 0 then band = ':lo' end "
	"      redis.call('XADD', ARGV[3] .. ':s:' .. h[2] .. band, '*', 'id', jid, 'in', h[3], 'a', a, 'dl', h[4] or '0') "
	"      redis.call('HSET', jk, 'state', 'queued') "
	"      redis.call('HDEL', jk, 'next_in', 'next_stage', 'run_at_ms') "
	"    end "
	"  end "
	"end "
	"local nx = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES') "
	"if nx[2] then return {#ids, nx[2]} end "
	"return {#ids, '-1'}";

/* KEYS: nodes. ARGV: now_ms, max age (ms), tag, stages. The nodes unseen for longer
 * lose their consumers in every stage's group (XGROUP DELCONSUMER) and their place in
 * the nodes hash, unless they still hold entries: those are taken over first (a
 * consumer's pending entries would be lost with it). Returns the nodes forgotten. */
const char bscript_forget[] =
	"local h = redis.call('HGETALL', KEYS[1]) "
	"local gone = {} "
	"for i = 1, #h, 2 do "
	"  if tonumber(ARGV[1]) - (tonumber(h[i + 1]) or 0) > tonumber(ARGV[2]) then "
	"    local busy = false "
	"    for k = 0, 3 * tonumber(ARGV[4]) - 1 do "
	"      local key = ARGV[3] .. ':s:' .. math.floor(k / 3) .. ({'', ':hi', ':lo'})[k % 3 + 1] "
	"      local ok, cs = pcall(redis.call, 'XINFO', 'CONSUMERS', key, 'weft') "
	"      if ok then "
	"        for _, c in ipairs(cs) do "
	"          if c[2] == h[i] then "
	"            if c[4] > 0 then busy = true "
	"            else redis.call('XGROUP', 'DELCONSUMER', key, 'weft', h[i]) end "
	"          end "
	"        end "
	"      end "
	"    end "
	"    if not busy then redis.call('HDEL', KEYS[1], h[i]) table.insert(gone, h[i]) end "
	"  end "
	"end "
	"return gone";

void bsched_kick(struct bpipe *p)
{
	int one = 1;

	if (p->kick)
		weft_chan_try_send(p->kick, &one); /* full: a kick is pending already */
}

/* Move what is due: how long the keeper may sleep (ns). */
static int64_t move_due(struct bpipe *p)
{
	char sched[96], stats[96], now[24], lim[16], ttl[24];
	int64_t sleep_ns = KEEPER_MAX_SLEEP_NS, t = bwall_ms();
	struct rbatch b;
	redisReply *rep;

	snprintf(sched, sizeof(sched), "%s:sched", p->tag);
	snprintf(stats, sizeof(stats), "%s:stats", p->tag);
	snprintf(now, sizeof(now), "%" PRId64, t);
	snprintf(lim, sizeof(lim), "%d", MOVE_BATCH);
	snprintf(ttl, sizeof(ttl), "%" PRId64, p->br->ttl_s);
	rbatch_init(&b);
	rbatch_cmd(&b, "EVALSHA %s 2 %s %s %s %s %s %s", p->br->sha_move, sched, stats, now, lim, p->tag, ttl);
	if (rconn_evalsha(p->ctx, bnet_conn(p->net), &b, bscript_move, &rep) == 0) {
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
		    rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[1]->type == REDIS_REPLY_STRING) {
			int64_t next = strtoll(rep->element[1]->str, NULL, 10);
			if (rep->element[0]->integer >= MOVE_BATCH)
				sleep_ns = 0; /* more due: go on at once */
			else if (next >= 0)
				sleep_ns = next <= t ? 0 : (next - t) * WEFT_MSEC < sleep_ns ? (next - t) * WEFT_MSEC : sleep_ns;
		} else if (rreply_err(rep)) {
			weftd_warn("pipeline %s: moving due jobs: %s", p->cfg->name, rep && rep->str ? rep->str : "?");
		}
		freeReplyObject(rep);
	}
	rbatch_done(&b);
	return sleep_ns;
}

static void forget_nodes(struct bpipe *p)
{
	char nodes[96], now[24], age[24], n[16];
	struct rbatch b;
	redisReply *rep;

	snprintf(nodes, sizeof(nodes), "%s:nodes", p->tag);
	snprintf(now, sizeof(now), "%" PRId64, bwall_ms());
	snprintf(age, sizeof(age), "%" PRId64, BFORGET_TIMEOUTS * p->br->hb_timeout_ns / WEFT_MSEC);
	snprintf(n, sizeof(n), "%zu", p->nstages);
	rbatch_init(&b);
	rbatch_cmd(&b, "EVALSHA %s 1 %s %s %s %s %s", p->br->sha_forget, nodes, now, age, p->tag, n);
	if (rconn_evalsha(p->ctx, bnet_conn(p->net), &b, bscript_forget, &rep) == 0) {
		for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
			if (rep->element[i]->type == REDIS_REPLY_STRING)
				weftd_notice("pipeline %s: forgot node %s (not seen for %d heartbeat timeouts)",
					     p->cfg->name, rep->element[i]->str, BFORGET_TIMEOUTS);
		freeReplyObject(rep);
	}
	rbatch_done(&b);
}

static void keeper_main(void *arg)
{
	struct bpipe *p = arg;
	int64_t forget_at = weft_now() + p->br->hb_timeout_ns;

	while (weft_ctx_err(p->ctx) == 0) {
		weft_ctx *t;
		int k;
		if (rconn_wait_up(p->ctx, bnet_conn(p->net)) < 0)
			break;
		int64_t sleep_ns = move_due(p);
		if (weft_now() >= forget_at) {
			forget_nodes(p);
			forget_at = weft_now() + p->br->hb_timeout_ns;
		}
		if (sleep_ns <= 0)
			continue;
		if (weft_ctx_with_timeout(p->ctx, sleep_ns, &t) < 0) {
			weft_sleep(p->ctx, sleep_ns);
			continue;
		}
		weft_chan_recv(t, p->kick, &k);
		weft_ctx_unref(t);
	}
	weft_wg_done(&p->wg);
}

int bsched_start(struct bpipe *p)
{
	if (!p->kick && weft_chan_new(sizeof(int), 1, &p->kick) < 0)
		return -ENOMEM;
	weft_wg_add(&p->wg, 1);
	if (weft_go_opts(keeper_main, p, &(struct weft_go_opts){ .name = "broker keeper" }) < 0) {
		weft_wg_done(&p->wg);
		return -ENOMEM;
	}
	return 0;
}
