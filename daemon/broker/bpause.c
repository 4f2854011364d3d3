/* SPDX-License-Identifier: MIT */
/* bpause.c — pause and resume of a broker pipeline on every node (broker.h).
 *
 * The op sets (pause) or deletes (resume) weft:{P}:paused and publishes "!pause" or
 * "!resume" on weft:{P}:cancel in one script: every node already subscribes to
 * weft:*:cancel (bcancel.c), and a job id never starts with '!'. Each node keeps the state
 * in its bpipe; fetchers park before fetching and workers before starting an attempt while
 * it is set (an entry fetched the moment before the message arrived waits in its worker,
 * its lease renewed). A pipeline starts as paused until its lease fiber has read the key
 * (so a node started while paused runs nothing), and that fiber reads it again every
 * heartbeat: a message lost to a reconnect is made good within heartbeat_interval. */
#include <errno.h>
#include <string.h>

#include "broker/broker_impl.h"

static const char bscript_pause[] =
	"if ARGV[1] == '1' then redis.call('SET', KEYS[1], '1') else redis.call('DEL', KEYS[1]) end\n"
	"redis.call('PUBLISH', KEYS[2], ARGV[1] == '1' and '!pause' or '!resume')\n"
	"return 1\n";

void bpause_init(struct bpipe *p)
{
	weft_mutex_init(&p->pmu);
	weft_cond_init(&p->pcond);
	atomic_store(&p->paused, true); /* unknown until the first read */
	p->pgen = 0;
}

/* Set p's state; gen_seen >= 0: only if no message changed it since the caller read
 * p->pgen (a read's answer may be older than a message). */
static void set_state(struct bpipe *p, bool paused, int64_t gen_seen)
{
	weft_mutex_lock(NULL, &p->pmu);
	if (gen_seen < 0 || p->pgen == (uint64_t)gen_seen) {
		if (gen_seen < 0)
			p->pgen++;
		atomic_store(&p->paused, paused);
		if (!paused)
			weft_cond_broadcast(&p->pcond);
	}
	weft_mutex_unlock(&p->pmu);
}

int bpause_wait(struct bpipe *p, weft_ctx *ctx)
{
	int r = 0;

	if (!atomic_load(&p->paused))
		return 0;
	weft_mutex_lock(NULL, &p->pmu);
	while (r == 0 && atomic_load(&p->paused))
		if ((r = weft_ctx_err(p->ctx)) == 0)
			r = weft_cond_wait(ctx, &p->pcond, &p->pmu);
	weft_mutex_unlock(&p->pmu);
	return r;
}

void bpause_wake(struct bpipe *p)
{
	weft_mutex_lock(NULL, &p->pmu);
	weft_cond_broadcast(&p->pcond);
	weft_mutex_unlock(&p->pmu);
}

void bpause_refresh(struct bpipe *p)
{
	struct rbatch b;
	redisReply *rep;
	uint64_t gen;

	weft_mutex_lock(NULL, &p->pmu);
	gen = p->pgen;
	weft_mutex_unlock(&p->pmu);
	rbatch_init(&b);
	rbatch_cmd(&b, "EXISTS %s:paused", p->tag);
	if (rconn_exec(p->ctx, bnet_conn(p->net), &b, &rep) == 0) {
		if (rep->type == REDIS_REPLY_INTEGER)
			set_state(p, rep->integer > 0, (int64_t)gen);
		freeReplyObject(rep);
	}
	rbatch_done(&b);
}

void bpause_push(struct bnet *n, const char *chan, size_t clen, const char *msg)
{
	struct weftd_broker *br = n->br;
	char name[WEFTD_MAX_NAME + 1];
	const char *open = memchr(chan, '{', clen), *close;
	struct bpipe *p;

	if (!open || !(close = memchr(open, '}', clen - (size_t)(open - chan))) ||
	    (size_t)(close - open - 1) > WEFTD_MAX_NAME)
		return;
	memcpy(name, open + 1, (size_t)(close - open - 1));
	name[close - open - 1] = '\0';
	/* never park the subscriber behind a reload (it waits for attempts that a cancel on
	 * this connection may have to end): a pipeline (re)started meanwhile reads the key */
	if (weft_rwmutex_try_rlock(&br->lock) < 0)
		return;
	if ((p = bpipe_find(br, name)) && p->net == n && p->ctx)
		set_state(p, strcmp(msg, "!pause") == 0, -1);
	weft_rwmutex_runlock(&br->lock);
}

bool bpause_is(struct bpipe *p)
{
	return atomic_load(&p->paused);
}

int weftd_broker_pause(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline, bool paused)
{
	struct bpipe *p = bpipe_rlock(br, pipeline);
	struct rbatch b;
	redisReply *rep;
	int r;

	if (!p)
		return -ENOENT;
	rbatch_init(&b);
	rbatch_cmd(&b, "EVAL %s 2 %s:paused %s:cancel %s", bscript_pause, p->tag, p->tag, paused ? "1" : "0");
	r = rconn_exec(ctx, bnet_conn(p->net), &b, &rep);
	rbatch_done(&b);
	if (r == 0) {
		r = rep->type == REDIS_REPLY_INTEGER ? 0 : -ENOTCONN;
		freeReplyObject(rep);
	}
	if (r == 0 && p->ctx) /* this node at once, whatever its subscriber's timing */
		set_state(p, paused, -1);
	weft_rwmutex_runlock(&br->lock);
	return r;
}
