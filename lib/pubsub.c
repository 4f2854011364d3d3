/* SPDX-License-Identifier: MIT */
/* pubsub.c — topic broker. Subscriptions are a list guarded by a fiber
 * rwmutex: publishers share it (and may park in it on BLOCK subscribers),
 * subscribe/cancel take it exclusively. Cancel closes the subscriber's
 * channel before taking the lock, so a publisher parked on that channel is
 * released (-EPIPE) and cannot hold the lock against the cancel forever. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include <weft/pubsub.h>
#include <weft/sync.h>

struct weft_sub {
	weft_broker *b;
	char *topic;                   /* NULL: every topic */
	weft_chan *ch;
	enum weft_drop policy;
	atomic_uint_fast64_t dropped;
	struct weft_sub *next, *prev;
};

struct weft_broker {
	weft_rwmutex rw;
	size_t elem_size;
	struct weft_sub *head;
};

int weft_broker_new(size_t elem_size, weft_broker **ret)
{
	if (!ret || elem_size == 0 || elem_size > 65536)
		return -EINVAL;
	weft_broker *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	weft_rwmutex_init(&b->rw);
	b->elem_size = elem_size;
	*ret = b;
	return 0;
}

static void sub_free(struct weft_sub *s)
{
	weft_chan_close(s->ch);
	weft_chan_unref(s->ch);
	free(s->topic);
	free(s);
}

weft_broker *weft_broker_free(weft_broker *b)
{
	if (!b)
		return NULL;
	for (struct weft_sub *s = b->head, *n; s; s = n) {
		n = s->next;
		sub_free(s);
	}
	free(b);
	return NULL;
}

int weft_broker_subscribe(weft_ctx *ctx, weft_broker *b, const char *topic, size_t cap,
			  enum weft_drop policy, weft_sub **ret)
{
	if (!b || !ret || cap == 0 || (unsigned)policy > WEFT_DROP_BLOCK)
		return -EINVAL;
	struct weft_sub *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int r = weft_chan_new(b->elem_size, cap, &s->ch);
	if (r == 0 && topic && !(s->topic = strdup(topic)))
		r = -ENOMEM;
	if (r == 0)
		r = weft_rwmutex_lock(ctx, &b->rw);
	if (r < 0) {
		weft_chan_unref(s->ch);
		free(s->topic);
		free(s);
		return r;
	}
	s->b = b;
	s->policy = policy;
	s->next = b->head;
	if (b->head)
		b->head->prev = s;
	b->head = s;
	weft_rwmutex_unlock(&b->rw);
	*ret = s;
	return 0;
}

int weft_sub_cancel(weft_ctx *ctx, weft_sub *s)
{
	if (!s)
		return -EINVAL;
	weft_broker *b = s->b;
	weft_chan_close(s->ch); /* first: frees a publisher parked on it */
	int r = weft_rwmutex_lock(ctx, &b->rw);
	if (r < 0)
		return r;
	if (s->prev)
		s->prev->next = s->next;
	else
		b->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	weft_rwmutex_unlock(&b->rw);
	sub_free(s);
	return 0;
}

weft_chan *weft_sub_chan(weft_sub *s)
{
	return s ? s->ch : NULL;
}

uint64_t weft_sub_dropped(weft_sub *s)
{
	return s ? atomic_load(&s->dropped) : 0;
}

/* Deliver to one subscriber: 1 delivered, 0 not (dropped or closed), or
 * ctx's error (BLOCK). */
static int deliver(weft_ctx *ctx, struct weft_sub *s, const void *elem)
{
	int r;
	switch (s->policy) {
	case WEFT_DROP_BLOCK:
		r = weft_chan_send(ctx, s->ch, elem);
		return r == 0 ? 1 : r == -EPIPE ? 0 : r;
	case WEFT_DROP_OLDEST:
		/* make room by discarding the head; a consumer racing us may have
		 * made room already, so retry a few times before giving up */
		for (int i = 0; i < 4; i++) {
			r = weft_chan_try_send(s->ch, elem);
			if (r != -EAGAIN)
				return r == 0;
			if (weft_chan_try_recv(s->ch, NULL) == 0)
				atomic_fetch_add(&s->dropped, 1);
		}
		break;
	case WEFT_DROP_NEWEST:
		r = weft_chan_try_send(s->ch, elem);
		if (r != -EAGAIN)
			return r == 0;
		break;
	}
	atomic_fetch_add(&s->dropped, 1);
	return 0;
}

int weft_broker_publish(weft_ctx *ctx, weft_broker *b, const char *topic, const void *elem)
{
	if (!b || !topic || !elem)
		return -EINVAL;
	int r = weft_rwmutex_rlock(ctx, &b->rw);
	if (r < 0)
		return r;
	int n = 0;
	for (struct weft_sub *s = b->head; s; s = s->next) {
		if (s->topic && strcmp(s->topic, topic) != 0)
			continue;
		r = deliver(ctx, s, elem);
		if (r < 0)
			break;
		n += r;
	}
	weft_rwmutex_runlock(&b->rw);
	return r < 0 ? r : n;
}
