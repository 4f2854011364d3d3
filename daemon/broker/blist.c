/* SPDX-License-Identifier: MIT */
/* blist.c — list of a broker pipeline, from any node (broker.h): SCAN its job hashes,
 * keep those that pass the filters (one pipelined HMGET per SCAN batch), sort newest
 * first, then read the first `limit` whole (one pipelined HGETALL). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_impl.h"
#include "proto/json.h"
#include "proto/wire.h"

#define SCAN_COUNT "1000"

struct pick {
	int64_t created;
	char hex[17];
};

static int newest_first(const void *a, const void *b)
{
	const struct pick *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? 1 : -1;
	return strcmp(y->hex, x->hex);
}

/* One SCAN batch's keys (rep): append those that pass to *picks. */
static int filter(weft_ctx *ctx, struct bpipe *p, const redisReply *keys, uid_t uid, bool admin,
		  bool has_state, int state, struct pick **picks, size_t *n, size_t *cap)
{
	size_t nk = keys->elements, tl = strlen(p->tag) + 3;
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
	r = rconn_exec(ctx, bnet_conn(p->net), &q, rep);
	rbatch_done(&q);
	for (size_t i = 0; r == 0 && i < nk; i++) {
		const redisReply *h = rep[i], *k = keys->element[i];
		enum weftd_job_state st;
		if (h->type != REDIS_REPLY_ARRAY || h->elements != 3 || h->element[0]->type != REDIS_REPLY_STRING ||
		    k->len != tl + 16)
			continue;
		if (weftd_job_state_parse(h->element[0]->str, h->element[0]->len, &st) < 0 ||
		    (has_state && (int)st != state) ||
		    (!admin && (h->element[1]->type != REDIS_REPLY_STRING ||
				strtoll(h->element[1]->str, NULL, 10) != (long long)uid)))
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 256;
			struct pick *np = realloc(*picks, nc * sizeof(*np));
			if (!np) {
				r = -ENOMEM;
				break;
			}
			*picks = np;
			*cap = nc;
		}
		struct pick *pk = &(*picks)[(*n)++];
		pk->created = h->element[2]->type == REDIS_REPLY_STRING ? strtoll(h->element[2]->str, NULL, 10) : 0;
		memcpy(pk->hex, k->str + tl, 16);
		pk->hex[16] = 0;
	}
	for (size_t i = 0; i < nk; i++)
		if (rep[i])
			freeReplyObject(rep[i]);
	free(rep);
	return r;
}

static int list_pipe(weft_ctx *ctx, struct bpipe *p, uid_t uid, bool admin, bool has_state, int state,
		     uint32_t limit, bool outputs, struct weftd_buf *b)
{
	char cursor[32] = "0", match[WEFTD_MAX_NAME + 32];
	struct pick *picks = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	snprintf(match, sizeof(match), "%s:j:*", p->tag);
	do {
		struct rbatch q;
		redisReply *rep;
		rbatch_init(&q);
		rbatch_cmd(&q, "SCAN %s MATCH %s COUNT " SCAN_COUNT, cursor, match);
		r = rconn_exec(ctx, bnet_conn(p->net), &q, &rep);
		rbatch_done(&q);
		if (r < 0)
			break;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			r = -ENOTCONN;
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		r = filter(ctx, p, rep->element[1], uid, admin, has_state, state, &picks, &n, &cap);
		freeReplyObject(rep);
	} while (r == 0 && strcmp(cursor, "0") != 0);
	if (r == 0 && n) {
		qsort(picks, n, sizeof(*picks), newest_first);
		n = n < limit ? n : limit;
		redisReply **rep = calloc(n, sizeof(*rep));
		struct rbatch q;
		if (!rep) {
			free(picks);
			return -ENOMEM;
		}
		rbatch_init(&q);
		for (size_t i = 0; i < n; i++)
			rbatch_cmd(&q, "HGETALL %s:j:%s", p->tag, picks[i].hex);
		r = rconn_exec(ctx, bnet_conn(p->net), &q, rep);
		rbatch_done(&q);
		for (size_t i = 0; r == 0 && i < n; i++) {
			char id[WEFTD_BROKER_ID_MAX + 1];
			snprintf(id, sizeof(id), "%s/%s", p->cfg->name, picks[i].hex);
			if (rep[i]->type == REDIS_REPLY_ARRAY && rep[i]->elements)
				bjob_render(b, NULL, id, rep[i], uid, admin, outputs); /* (gone meanwhile: left out) */
		}
		for (size_t i = 0; i < n; i++)
			if (rep[i])
				freeReplyObject(rep[i]);
		free(rep);
	}
	free(picks);
	return r;
}

int weftd_broker_list_json(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline, uid_t uid,
			   bool admin, bool has_state, int state, uint32_t limit, bool outputs,
			   struct weftd_buf *b, const char *key)
{
	struct bpipe *p;
	int r;

	if (!(p = bpipe_rlock(br, pipeline))) {
		return -ENOENT;
	}
	weftd_json_arr_begin(b, key);
	r = list_pipe(ctx, p, uid, admin, has_state, state, limit, outputs, b);
	weftd_json_arr_end(b);
	weft_rwmutex_runlock(&br->lock);
	return r;
}
