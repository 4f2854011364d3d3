/* blocking.c — weft_blocking: run a thread-blocking call on a helper thread
 * while the fiber parks. Threads start on first use, one pool per scheduler. */
#include <stdlib.h>

#include "internal.h"

struct job {
	weft_blocking_fn fn;
	void *arg;
	struct weft__waiter w;
	struct job *next;
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
		pthread_mutex_unlock(&b->lock);
		weft__waiter_fire(&j->w, j->fn(j->arg));
		pthread_mutex_lock(&b->lock);
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

int weft_blocking(weft_blocking_fn fn, void *arg)
{
	struct weft_proc *p = weft__proc();
	if (!fn)
		return -EINVAL;
	if (!p || !p->cur)
		return -EPERM;
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
	return weft__wait(NULL, &j.w, "blocking");
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
