/* SPDX-License-Identifier: MIT */
/* blist.c — list of broker pipelines, from any node (broker.h): SCAN the job hashes of a
 * broker (never KEYS: each call walks COUNT keys, Redis serves others between), keep the
 * newest `limit` that pass the filters (one pipelined HMGET per SCAN batch; a heap of
 * `limit` in memory, however many jobs Redis retains), then read those (one pipelined
 * HMGET of the fields shown per broker). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/bjob.h"
#include "broker/broker_impl.h"
#include "proto/json.h"
#include "proto/wire.h"

#define SCAN_COUNT "1000"

/* A pipeline listed (copied under br->lock: a pipeline's config outlives the broker). */
struct lpipe {
	const struct weftd_pipeline *cfg;
	struct bnet *net;
	char tag[WEFTD_MAX_NAME + 8];
};

struct litem {
	int64_t created;
	char hex[17];
	uint32_t pipe;                 /* into the list's pipes */
	redisReply *h;                 /* its HMGET (bjob_field_names order), once read */
};

struct weftd_broker_list {
	uid_t uid;
	bool admin, has_state, outputs;
	int state;
	uint32_t limit;
	struct lpipe *pipes;
	size_t npipes;
	struct litem *items;           /* a min-heap (oldest on top) while scanning; then newest first */
	size_t n;
};

/* Is x newer than y (the listing's order: created_ms, then id, descending)? */
static bool newer(const struct litem *x, const struct litem *y)
{
	if (x->created != y->created)
		return x->created > y->created;
	return strcmp(x->hex, y->hex) > 0;
}

static int newest_first(const void *a, const void *b)
{
	return newer(a, b) ? -1 : newer(b, a) ? 1 : 0;
}

static void swap(struct litem *a, struct litem *b)
{
	struct litem t = *a;
	*a = *b;
	*b = t;
}

/* Offer it to the heap of the newest l->limit. */
static void offer(struct weftd_broker_list *l, const struct litem *it)
{
	struct litem *h = l->items;
	size_t i;

	if (l->n < l->limit) {
		h[i = l->n++] = *it;
		while (i && newer(&h[(i - 1) / 2], &h[i])) {
			swap(&h[(i - 1) / 2], &h[i]);
			i = (i - 1) / 2;
		}
		return;
	}
	if (!l->n || !newer(it, &h[0]))
		return;
	h[0] = *it;
	for (i = 0;;) {
		size_t c = 2 * i + 1, m = i;
		if (c < l->n && newer(&h[m], &h[c]))
			m = c;
		if (c + 1 < l->n && newer(&h[m], &h[c + 1]))
			m = c + 1;
		if (m == i)
			break;
		swap(&h[i], &h[m]);
		i = m;
	}
}

/* The listed pipeline of net whose job hash is key (len bytes), or -1. */
static int pipe_of(const struct weftd_broker_list *l, const struct bnet *net, const char *key, size_t len)
{
	for (size_t i = 0; i < l->npipes; i++) {
		size_t tl = strlen(l->pipes[i].tag);
		if (l->pipes[i].net == net && len == tl + 3 + 16 && memcmp(key, l->pipes[i].tag, tl) == 0 &&
		    memcmp(key + tl, ":j:", 3) == 0)
			return (int)i;
	}
	return -1;
}

/* One SCAN batch's keys: offer those that pass the filters. */
static int filter(weft_ctx *ctx, struct weftd_broker_list *l, struct bnet *net, const redisReply *keys)
{
	size_t nk = keys->elements;
	redisReply **rep;
	struct rbatch q;
	int r;

	if (!nk)
		return 0;
	if (!(rep = calloc(nk, sizeof(*rep))))
		return -ENOMEM;
	rbatch_init(&q);
	for (size_t i = 0; i < nk; i++)
		rbatch_cmd(&q, "HMGET %b state owner created_ms", keys->element[i]->str, keys->element[i]->len);
	r = rconn_exec(ctx, bnet_conn(net), &q, rep);
	rbatch_done(&q);
	for (size_t i = 0; r == 0 && i < nk; i++) {
		const redisReply *h = rep[i], *k = keys->element[i];
		enum weftd_job_state st;
		struct litem it = { 0 };
		int pi;
		if (k->type != REDIS_REPLY_STRING || (pi = pipe_of(l, net, k->str, k->len)) < 0 ||
		    h->type != REDIS_REPLY_ARRAY || h->elements != 3 || h->element[0]->type != REDIS_REPLY_STRING)
			continue;
		if (weftd_job_state_parse(h->element[0]->str, h->element[0]->len, &st) < 0 ||
		    (l->has_state && (int)st != l->state) ||
		    (!l->admin && (h->element[1]->type != REDIS_REPLY_STRING ||
				   strtoll(h->element[1]->str, NULL, 10) != (long long)l->uid)))
			continue;
		it.created = h->element[2]->type == REDIS_REPLY_STRING ? strtoll(h->element[2]->str, NULL, 10) : 0;
		memcpy(it.hex, k->str + k->len - 16, 16);
		it.pipe = (uint32_t)pi;
		offer(l, &it);
	}
	for (size_t i = 0; i < nk; i++)
		if (rep[i])
			freeReplyObject(rep[i]);
	free(rep);
	return r;
}

/* Walk the job hashes of net matching pattern (SCAN), offering them. */
static int scan(weft_ctx *ctx, struct weftd_broker_list *l, struct bnet *net, const char *match)
{
	char cursor[32] = "0";
	int r;

	do {
		struct rbatch q;
		redisReply *rep;
		rbatch_init(&q);
		rbatch_cmd(&q, "SCAN %s MATCH %s COUNT " SCAN_COUNT, cursor, match);
		r = rconn_exec(ctx, bnet_conn(net), &q, &rep);
		rbatch_done(&q);
		if (r < 0)
			break;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			return -ENOTCONN;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		r = filter(ctx, l, net, rep->element[1]);
		freeReplyObject(rep);
	} while (r == 0 && strcmp(cursor, "0") != 0);
	return r;
}

/* Read the fields shown of the picked jobs of net (one pipelined call). */
static int read_net(weft_ctx *ctx, struct weftd_broker_list *l, struct bnet *net)
{
	const char *argv[2 + BF__N];
	size_t lens[2 + BF__N], n = 0, k = 0;
	char key[WEFTD_MAX_NAME + 32];
	redisReply **rep;
	struct rbatch q;
	int r;

	for (size_t i = 0; i < l->n; i++)
		n += l->pipes[l->items[i].pipe].net == net;
	if (!n)
		return 0;
	if (!(rep = calloc(n, sizeof(*rep))))
		return -ENOMEM;
	argv[0] = "HMGET";
	argv[1] = key;
	for (size_t f = 0; f < BF__N; f++) /* never the payload; the output when asked ("-": none) */
		argv[2 + f] = f == BF_PAYLOAD || (f == BF_OUTPUT && !l->outputs) ? "-" : bjob_field_names[f];
	for (size_t f = 0; f < 2 + BF__N; f++)
		lens[f] = strlen(argv[f]);
	rbatch_init(&q);
	for (size_t i = 0; i < l->n; i++) {
		const struct lpipe *p = &l->pipes[l->items[i].pipe];
		if (p->net != net)
			continue;
		snprintf(key, sizeof(key), "%s:j:%s", p->tag, l->items[i].hex);
		lens[1] = strlen(key);
		rbatch_argv(&q, 2 + BF__N, argv, lens);
	}
	r = rconn_exec(ctx, bnet_conn(net), &q, rep);
	rbatch_done(&q);
	for (size_t i = 0; i < l->n; i++)
		if (l->pipes[l->items[i].pipe].net == net) {
			l->items[i].h = r == 0 ? rep[k] : NULL;
			k++;
		}
	if (r < 0)
		for (size_t i = 0; i < n; i++)
			if (rep[i])
				freeReplyObject(rep[i]);
	free(rep);
	return r;
}

int weftd_broker_list_new(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline, uid_t uid, bool admin,
			  bool has_state, int state, uint32_t limit, bool outputs, struct weftd_broker_list **ret)
{
	struct weftd_broker_list *l = calloc(1, sizeof(*l));
	int r = 0;

	*ret = NULL;
	if (!l)
		return -ENOMEM;
	*l = (struct weftd_broker_list){ .uid = uid, .admin = admin, .has_state = has_state, .state = state,
					 .limit = limit, .outputs = outputs };
	weft_rwmutex_rlock(NULL, &br->lock);
	if (pipeline && !bpipe_find(br, pipeline)) {
		weft_rwmutex_runlock(&br->lock);
		weftd_broker_list_free(l);
		return -ENOENT;
	}
	l->pipes = calloc(br->npipes ? br->npipes : 1, sizeof(*l->pipes));
	l->items = calloc(limit ? limit : 1, sizeof(*l->items));
	if (!l->pipes || !l->items)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < br->npipes; i++) {
		struct bpipe *p = br->pipes[i];
		if (pipeline && strcmp(pipeline, p->cfg->name) != 0)
			continue;
		l->pipes[l->npipes].cfg = p->cfg;
		l->pipes[l->npipes].net = p->net;
		snprintf(l->pipes[l->npipes].tag, sizeof(l->pipes[0].tag), "%s", p->tag);
		l->npipes++;
	}
	/* The walks go without the lock (a long one would hold a reload, and the submits
	 * queued behind it): the configs outlive the broker, nets never move (broker.c) */
	size_t nnets = br->nnets;
	weft_rwmutex_runlock(&br->lock);
	/* One walk per broker: a pipeline's own keys (MATCH on its tag), or every pipeline's
	 * (those this node does not run are left out: pipe_of) */
	for (size_t i = 0; r == 0 && i < nnets; i++) {
		struct bnet *net = &br->nets[i];
		char match[WEFTD_MAX_NAME + 32];
		bool used = false;
		for (size_t k = 0; k < l->npipes; k++)
			used |= l->pipes[k].net == net;
		if (!used)
			continue;
		snprintf(match, sizeof(match), "%s:j:*", pipeline ? l->pipes[0].tag : "weft:{*}");
		r = scan(ctx, l, net, match);
	}
	if (r == 0)
		qsort(l->items, l->n, sizeof(*l->items), newest_first);
	for (size_t i = 0; r == 0 && i < nnets; i++)
		r = read_net(ctx, l, &br->nets[i]);
	if (r < 0) {
		weftd_broker_list_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

size_t weftd_broker_list_len(const struct weftd_broker_list *l)
{
	return l ? l->n : 0;
}

int64_t weftd_broker_list_created(const struct weftd_broker_list *l, size_t i)
{
	return l->items[i].created;
}

int weftd_broker_list_put(const struct weftd_broker_list *l, size_t i, struct weftd_buf *b)
{
	const struct litem *it = &l->items[i];
	const struct lpipe *p = &l->pipes[it->pipe];
	char id[WEFTD_BROKER_ID_MAX + 1];
	struct bjob_fields f;

	if (!it->h)
		return -ESRCH;
	snprintf(id, sizeof(id), "%s/%s", p->cfg->name, it->hex);
	bjob_fields_hmget(&f, it->h);
	/* (a job gone since the scan has no state: left out) */
	return bjob_put(b, NULL, id, &f, l->uid, l->admin, &(struct bjob_show){ .outputs = l->outputs, .cfg = p->cfg });
}

struct weftd_broker_list *weftd_broker_list_free(struct weftd_broker_list *l)
{
	if (!l)
		return NULL;
	for (size_t i = 0; l->items && i < l->n; i++)
		if (l->items[i].h)
			freeReplyObject(l->items[i].h);
	free(l->items);
	free(l->pipes);
	free(l);
	return NULL;
}
