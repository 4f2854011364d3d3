/* jobq.c — see jobq.h. Waiters are handed elements directly (claim, copy, wake), so a
 * woken receiver never races another one for the element it was woken for. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "internal.h"
#include "jobq.h"

struct weftd_jobq {
	weft__lock lock;
	size_t cap, head, len;
	bool closed;
	struct weft__waitq recvq;  /* receivers parked on an empty queue; w->data: void ** */
	struct weft__waitq sendq;  /* senders parked on a full queue; w->data: void ** */
	void *ring[];
};

int weftd_jobq_new(size_t cap, struct weftd_jobq **ret)
{
	struct weftd_jobq *q;

	if (cap < 1)
		return -EINVAL;
	q = calloc(1, sizeof(*q) + cap * sizeof(void *));
	if (!q)
		return -ENOMEM;
	q->cap = cap;
	*ret = q;
	return 0;
}

struct weftd_jobq *weftd_jobq_free(struct weftd_jobq *q)
{
	free(q);
	return NULL;
}

/* Hand p to a parked receiver, if one can still be won. Lock held. */
static bool give_to_receiver(struct weftd_jobq *q, void *p)
{
	struct weft__waiter *w;

	while ((w = weft__waitq_pop(&q->recvq))) {
		if (weft__waiter_claim(w)) {
			*(void **)w->data = p;
			weft__waiter_wake(w, 0);
			return true;
		}
	}
	return false;
}

static int send_locked(struct weftd_jobq *q, void *p)
{
	if (q->closed)
		return -EPIPE;
	if (give_to_receiver(q, p))
		return 0;
	if (q->len < q->cap) {
		q->ring[(q->head + q->len++) % q->cap] = p;
		return 0;
	}
	return -EAGAIN;
}

int weftd_jobq_try_send(struct weftd_jobq *q, void *p)
{
	int r;

	weft__lock_acquire(&q->lock);
	r = send_locked(q, p);
	weft__lock_release(&q->lock);
	return r;
}

int weftd_jobq_send(weft_ctx *ctx, struct weftd_jobq *q, void *p)
{
	struct weft__waiter w;
	int r;

	weft__lock_acquire(&q->lock);
	r = send_locked(q, p);
	if (r != -EAGAIN) {
		weft__lock_release(&q->lock);
		return r;
	}
	weft__waiter_init(&w);
	w.data = &p;
	weft__waitq_push(&q->sendq, &w);
	weft__lock_release(&q->lock);
	r = weft__wait(ctx, &w, "jobq send");
	if (r < 0) {
		weft__lock_acquire(&q->lock);
		weft__waitq_remove(&q->sendq, &w);
		weft__lock_release(&q->lock);
	}
	return r;
}

int weftd_jobq_recv(weft_ctx *ctx, struct weftd_jobq *q, void **ret)
{
	struct weft__waiter w, *s;
	int r;

	weft__lock_acquire(&q->lock);
	if (q->len) {
		*ret = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		/* Room now: move one parked sender's element in behind the others. */
		while ((s = weft__waitq_pop(&q->sendq))) {
			if (weft__waiter_claim(s)) {
				q->ring[(q->head + q->len++) % q->cap] = *(void **)s->data;
				weft__waiter_wake(s, 0);
				break;
			}
		}
		weft__lock_release(&q->lock);
		return 0;
	}
	if (q->closed) {
		weft__lock_release(&q->lock);
		return -EPIPE;
	}
	weft__waiter_init(&w);
	w.data = ret;
	weft__waitq_push(&q->recvq, &w);
	weft__lock_release(&q->lock);
	r = weft__wait(ctx, &w, "jobq recv");
	if (r < 0) {
		weft__lock_acquire(&q->lock);
		weft__waitq_remove(&q->recvq, &w);
		weft__lock_release(&q->lock);
	}
	return r;
}

void weftd_jobq_close(struct weftd_jobq *q)
{
	struct weft__waiter *w;

	weft__lock_acquire(&q->lock);
	q->closed = true;
	while ((w = weft__waitq_pop(&q->recvq)))
		weft__waiter_fire(w, -EPIPE);
	while ((w = weft__waitq_pop(&q->sendq)))
		weft__waiter_fire(w, -EPIPE);
	weft__lock_release(&q->lock);
}

size_t weftd_jobq_len(struct weftd_jobq *q)
{
	size_t n;

	weft__lock_acquire(&q->lock);
	n = q->len;
	weft__lock_release(&q->lock);
	return n;
}

size_t weftd_jobq_cap(struct weftd_jobq *q)
{
	return q->cap;
}
