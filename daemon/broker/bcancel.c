/* SPDX-License-Identifier: MIT */
/* bcancel.c — cancel reaches a running attempt on whichever node runs it (broker.h): the
 * cancel script publishes the job's id on weft:{P}:cancel; every node subscribes to
 * weft:*:cancel and cancels the ctx of its attempt of that job, if it runs one. The
 * worker then commits the job as canceled (its hash says so already). */
#include <string.h>

#include "broker/broker_impl.h"

static size_t bucket(const char *id, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 1099511628211ull;
	return (size_t)(h % BRUN_BUCKETS);
}

void bcancel_add(struct weftd_broker *br, struct brun *r)
{
	size_t b = bucket(r->jid, strlen(r->jid));

	weftd_spin_lock(&br->runlock);
	r->next = br->run[b];
	br->run[b] = r;
	weftd_spin_unlock(&br->runlock);
}

void bcancel_remove(struct weftd_broker *br, struct brun *r)
{
	struct brun **pp = &br->run[bucket(r->jid, strlen(r->jid))];

	weftd_spin_lock(&br->runlock);
	while (*pp && *pp != r)
		pp = &(*pp)->next;
	if (*pp)
		*pp = r->next;
	weftd_spin_unlock(&br->runlock);
}

void bcancel_push(void *arg, redisReply *r)
{
	struct bnet *n = arg;
	struct weftd_broker *br = n->br;

	/* ["pmessage", pattern, channel, id] */
	if (br && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
	    r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "pmessage") == 0 &&
	    r->element[3]->type == REDIS_REPLY_STRING) {
		const char *id = r->element[3]->str;
		size_t len = r->element[3]->len;
		weft_ctx *ctx = NULL;
		if (len && id[0] == '!') { /* "!pause", "!resume" (bpause.c), never a job id */
			if (r->element[2]->type == REDIS_REPLY_STRING)
				bpause_push(n, r->element[2]->str, r->element[2]->len, id);
			freeReplyObject(r);
			return;
		}
		weftd_spin_lock(&br->runlock);
		for (struct brun *x = br->run[bucket(id, len)]; x && !ctx; x = x->next)
			if (strlen(x->jid) == len && memcmp(x->jid, id, len) == 0)
				ctx = weft_ctx_ref(x->ctx); /* (one attempt of a job runs per node) */
		weftd_spin_unlock(&br->runlock);
		weft_ctx_cancel(ctx); /* outside the spin lock: it wakes fibers */
		weft_ctx_unref(ctx);
	}
	freeReplyObject(r);
}
