/* SPDX-License-Identifier: MIT */
/* blocking.c — weft_blocking: run a thread-blocking call on a helper thread
 * while the fiber parks. Threads start on first use, one pool per scheduler.
 * The epoll back end sends file I/O here, with a context (weft__blocking_ctx). */
#include <stdlib.h>

#include "epoll.h"

/* A job lives on its fiber's stack. Its waiter is won by the helper thread
 * (the result) or by ctx; in the second case the fiber then takes it back out
 * of the queue, or, if a helper already runs it, waits (waiting) until the
 * helper says done under the pool's lock. */
struct job {
	weft_blocking_fn fn;
	void *arg;
	struct weft__waiter w;
	struct job *next;
	bool taken;   /* a helper runs it (under the pool's lock) */
	bool done;    /* ... and it returned res, which nobody claimed yet */
	bool waiting; /* the fiber, its ctx done, waits for done */
	bool won;     /* the helper won the waiter (written before the wake-up) */
	int res;
};

struct weft__blocking {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	bool stop;
	unsigned nthreads;
	pthread_t threads[];
};

static void *worker(void *arg)
{
	struct weft__blocking *b = arg;
	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (!b->head && !b->stop)
			pthread_cond_wait(&b->cond, &b->lock);
		if (!b->head)
			break;
		struct job *j = b->head;
		b->head = j->next;
		if (!b->head)
			b->tail = NULL;
		j->taken = true;
		pthread_mutex_unlock(&b->lock);
		int r = j->fn(j->arg);
		if (weft__waiter_claim(&j->w)) {
			j->won = true;
			weft__waiter_wake(&j->w, r); /* j is dead to us now */
			pthread_mutex_lock(&b->lock);
			continue;
		}
		/* ctx won: the fiber reads res under the lock, so j lives until we let go */
		pthread_mutex_lock(&b->lock);
		j->res = r;
		j->done = true;
		if (j->waiting)
			weft__ready(j->w.fiber);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static struct weft__blocking *pool_get(struct weft_sched *s)
{
	pthread_mutex_lock(&s->blocking_lock);
	struct weft__blocking *b = s->blocking;
	if (!b) {
		unsigned n = s->opts.blocking_threads ? s->opts.blocking_threads : 4;
		b = calloc(1, sizeof(*b) + n * sizeof(pthread_t));
		if (b) {
			pthread_mutex_init(&b->lock, NULL);
			pthread_cond_init(&b->cond, NULL);
			for (; b->nthreads < n; b->nthreads++)
				if (pthread_create(&b->threads[b->nthreads], NULL, worker, b) != 0)
					break;
			if (!b->nthreads) {
				free(b);
				b = NULL;
			}
			s->blocking = b;
		}
	}
	pthread_mutex_unlock(&s->blocking_lock);
	return b;
}

/* ctx won j's waiter: take j out of the queue, or wait for the helper running it. */
static int job_cancel(struct weft__blocking *b, struct job *j, int err)
{
	pthread_mutex_lock(&b->lock);
	if (!j->taken) {
		struct job *prev = NULL;
		for (struct job *q = b->head; q != j; q = q->next)
			prev = q;
		if (prev)
			prev->next = j->next;
		else
			b->head = j->next;
		if (b->tail == j)
			b->tail = prev;
		pthread_mutex_unlock(&b->lock);
		return err;
	}
	while (!j->done) {
		j->waiting = true;
		pthread_mutex_unlock(&b->lock);
		weft__park("blocking");
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return j->res >= 0 ? j->res : err;
}

int weft__blocking_ctx(weft_ctx *ctx, weft_blocking_fn fn, void *arg)
{
	struct weft_proc *p = weft__proc();
	if (!fn)
		return -EINVAL;
	if (!p || !p->cur)
		return -EPERM;
	int r = weft_ctx_err(ctx);
	if (r < 0)
		return r;
	struct weft__blocking *b = pool_get(p->sched);
	if (!b)
		return -ENOMEM;
	struct job j = { .fn = fn, .arg = arg };
	weft__waiter_init(&j.w);
	pthread_mutex_lock(&b->lock);
	if (b->tail)
		b->tail->next = &j;
	else
		b->head = &j;
	b->tail = &j;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	r = weft__wait(ctx, &j.w, "blocking");
	return j.won ? r : job_cancel(b, &j, r);
}

int weft_blocking(weft_blocking_fn fn, void *arg)
{
	return weft__blocking_ctx(NULL, fn, arg);
}

void weft__blocking_shutdown(struct weft_sched *s)
{
	struct weft__blocking *b = s->blocking;
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; i < b->nthreads; i++)
		pthread_join(b->threads[i], NULL);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	free(b);
	s->blocking = NULL;
}
