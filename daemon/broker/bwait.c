/* SPDX-License-Identifier: MIT */
/* bwait.c — waiters on broker jobs, woken by the pipelines' done channels (broker.h): a
 * waiter hooks itself up before it reads the job's state, so an end published between
 * the read and the park still wakes it. */
#include <string.h>

#include "broker/broker_impl.h"

static size_t bucket(const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return (size_t)(h % BWAIT_BUCKETS);
}

void bwait_add(struct bnet *n, struct bwaiter *w)
{
	size_t b = bucket(w->id);

	weft_event_init(&w->ev);
	weftd_spin_lock(&n->wlock);
	w->next = n->wait[b];
	n->wait[b] = w;
	weftd_spin_unlock(&n->wlock);
}

void bwait_remove(struct bnet *n, struct bwaiter *w)
{
	struct bwaiter **pp = &n->wait[bucket(w->id)];

	weftd_spin_lock(&n->wlock);
	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp)
		*pp = w->next;
	weftd_spin_unlock(&n->wlock);
}

/* Wake and unhook the waiters of id (all of them when id is NULL). */
static void wake(struct bnet *n, const char *id, size_t len)
{
	weftd_spin_lock(&n->wlock);
	for (size_t b = id ? bucket(id) : 0; b < BWAIT_BUCKETS; b++) {
		struct bwaiter **pp = &n->wait[b];
		while (*pp) {
			struct bwaiter *w = *pp;
			if (!id || (strlen(w->id) == len && memcmp(w->id, id, len) == 0)) {
				*pp = w->next;
				weft_event_set(&w->ev, 0);
			} else {
				pp = &w->next;
			}
		}
		if (id)
			break;
	}
	weftd_spin_unlock(&n->wlock);
}

void bwait_push(void *arg, redisReply *r)
{
	struct bnet *n = arg;

	/* ["pmessage", pattern, channel, ids]: the jobs a commit ended, one per line */
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
	    r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "pmessage") == 0 &&
	    r->element[3]->type == REDIS_REPLY_STRING) {
		const char *p = r->element[3]->str, *end = p + r->element[3]->len;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = (size_t)((nl ? nl : end) - p);
			if (len && len <= WEFTD_BROKER_ID_MAX) {
				char id[WEFTD_BROKER_ID_MAX + 1];
				memcpy(id, p, len);
				id[len] = 0;
				wake(n, id, len);
			}
			p += len + 1;
		}
	}
	freeReplyObject(r);
}

void bwait_wake_all(void *arg)
{
	wake(arg, NULL, 0);
}
