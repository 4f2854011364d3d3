/* SPDX-License-Identifier: MIT */
/* wait.c — waiter queues and the common end of every blocking call. */
#include "internal.h"

void weft__waitq_push(struct weft__waitq *q, struct weft__waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	w->linked = true;
}

void weft__waitq_remove(struct weft__waitq *q, struct weft__waiter *w)
{
	if (!w->linked)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->next = w->prev = NULL;
	w->linked = false;
}

struct weft__waiter *weft__waitq_pop(struct weft__waitq *q)
{
	struct weft__waiter *w = q->head;
	if (w)
		weft__waitq_remove(q, w);
	return w;
}

int weft__wait(struct weft_ctx *ctx, struct weft__waiter *w, const char *reason)
{
	struct weft__ctx_watch cw;
	int64_t t0 = weft__prof_wait_begin(); /* block/mutex profiles: 0 while off */
	int r = weft__ctx_watch(ctx, &cw, w);
	if (r < 0) {
		weft__ctx_unwatch(&cw);
		if (weft__waiter_claim(w)) {
			w->result = r;
			return r;
		}
		/* a source won first: its wake-up is on the way, take it */
		weft__park(reason);
		weft__prof_wait_end(t0, reason);
		return w->result;
	}
	weft__park(reason);
	weft__ctx_unwatch(&cw);
	weft__prof_wait_end(t0, reason);
	return w->result;
}
