/* SPDX-License-Identifier: MIT */
/* queue.c — a stage's bounded priority queue of jobs (queue.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "engine/queue.h"
#include "util/spin.h"

#define NPRIO (WEFTD_PRIORITY_MAX - WEFTD_PRIORITY_MIN + 1)
#define NWORDS ((NPRIO + 63) / 64)
#define RING_MIN 64

/* One priority's FIFO: a power-of-two ring of job pointers, grown on demand. */
struct ring {
	struct weftd_job **v;
	size_t head, n, size;
};

/* A fiber parked in a get (job: what it was handed) or a put (job: what it brings).
 * On the parked fiber's stack; set is called after it was unlinked under the lock, and
 * the fiber returns only after its event was set (a putter whose ctx ended first and
 * finds itself unlinked waits for the set that is coming). */
struct waiter {
	TAILQ_ENTRY(waiter) link;
	weft_event ev;
	struct weftd_job *job;
	bool linked;
};
TAILQ_HEAD(waitq, waiter);

struct eng_queue {
	weftd_spin lock;
	size_t cap, len;
	bool closed, paused;
	uint64_t nonempty[NWORDS];     /* bit i: rings[i] holds jobs */
	struct waitq getters, putters; /* parked, oldest first */
	struct ring rings[NPRIO];      /* index: priority - WEFTD_PRIORITY_MIN */
};

int eng_queue_new(size_t cap, struct eng_queue **ret)
{
	struct eng_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->cap = cap ? cap : 1;
	TAILQ_INIT(&q->getters);
	TAILQ_INIT(&q->putters);
	*ret = q;
	return 0;
}

struct eng_queue *eng_queue_free(struct eng_queue *q)
{
	if (!q)
		return NULL;
	for (size_t i = 0; i < NPRIO; i++)
		free(q->rings[i].v);
	free(q);
	return NULL;
}

/* ---- the rings (lock held) ------------------------------------------------------ */

static bool ring_grow(struct ring *r)
{
	size_t size = r->size ? 2 * r->size : RING_MIN;
	struct weftd_job **v = malloc(size * sizeof(*v));

	if (!v)
		return false;
	/* unwrap: the oldest first */
	for (size_t i = 0; i < r->n; i++)
		v[i] = r->v[(r->head + i) & (r->size - 1)];
	free(r->v);
	r->v = v;
	r->head = 0;
	r->size = size;
	return true;
}

/* Append j to its priority's ring. false: no memory to grow it. */
static bool push(struct eng_queue *q, struct weftd_job *j)
{
	unsigned i = (unsigned)(weftd_job_info(j)->priority - WEFTD_PRIORITY_MIN);
	struct ring *r = &q->rings[i];

	if (r->n == r->size && !ring_grow(r))
		return false;
	r->v[(r->head + r->n) & (r->size - 1)] = j;
	r->n++;
	q->nonempty[i / 64] |= 1ull << (i % 64);
	q->len++;
	return true;
}

/* The oldest job of the highest non-empty priority; q not empty. */
static struct weftd_job *pop(struct eng_queue *q)
{
	struct ring *r;
	struct weftd_job *j;
	unsigned i = 0;

	for (int w = NWORDS - 1; w >= 0; w--)
		if (q->nonempty[w]) {
			i = (unsigned)w * 64 + 63 - (unsigned)__builtin_clzll(q->nonempty[w]);
			break;
		}
	r = &q->rings[i];
	j = r->v[r->head];
	r->head = (r->head + 1) & (r->size - 1);
	if (--r->n == 0)
		q->nonempty[i / 64] &= ~(1ull << (i % 64));
	q->len--;
	return j;
}

/* A get took a job: admit the oldest parked putter's job in its place. Returns the
 * putter to wake, or NULL. */
static struct waiter *admit_putter(struct eng_queue *q)
{
	struct waiter *w = TAILQ_FIRST(&q->putters);

	if (!w || !push(q, w->job))
		return NULL;
	TAILQ_REMOVE(&q->putters, w, link);
	w->linked = false;
	return w;
}

/* ---- put and get --------------------------------------------------------------- */

int eng_queue_put(struct eng_queue *q, struct weftd_job *j, bool block, weft_ctx *ctx)
{
	struct waiter self, *g;
	int r;

	weftd_spin_lock(&q->lock);
	if (q->closed) {
		weftd_spin_unlock(&q->lock);
		return -EPIPE;
	}
	/* a parked worker means an empty queue: hand the job straight to the oldest one */
	if (!q->paused && (g = TAILQ_FIRST(&q->getters))) {
		TAILQ_REMOVE(&q->getters, g, link);
		g->linked = false;
		g->job = j;
		weftd_spin_unlock(&q->lock);
		weft_event_set(&g->ev, 0);
		return 0;
	}
	/* room: a get that freed a slot gave it to a parked putter first, so a slot free
	 * here is nobody's */
	if (q->len < q->cap) {
		r = push(q, j) ? 0 : -ENOMEM;
		weftd_spin_unlock(&q->lock);
		return r;
	}
	if (!block) {
		weftd_spin_unlock(&q->lock);
		return -EAGAIN;
	}
	/* full: park until a get admits j (0) or the queue closes (-EPIPE) */
	weft_event_init(&self.ev);
	self.job = j;
	self.linked = true;
	TAILQ_INSERT_TAIL(&q->putters, &self, link);
	weftd_spin_unlock(&q->lock);
	r = weft_event_wait(ctx, &self.ev);
	if (r < 0) {
		int v;
		bool mine;
		if (weft_event_is_set(&self.ev, &v))
			return v; /* admitted (0) or closed (-EPIPE) as ctx ended */
		weftd_spin_lock(&q->lock);
		mine = self.linked;
		if (mine)
			TAILQ_REMOVE(&q->putters, &self, link);
		self.linked = false;
		weftd_spin_unlock(&q->lock);
		if (mine)
			return r;
		/* unlinked by a get or a close: its set is coming; take that answer */
		r = weft_event_wait(NULL, &self.ev);
	}
	return r;
}

int eng_queue_try_get(struct eng_queue *q, struct weftd_job **ret)
{
	struct waiter *p = NULL;
	int r = -EAGAIN;

	weftd_spin_lock(&q->lock);
	if (q->len) {
		*ret = pop(q);
		p = admit_putter(q);
		r = 0;
	}
	weftd_spin_unlock(&q->lock);
	if (p)
		weft_event_set(&p->ev, 0);
	return r;
}

int eng_queue_get(struct eng_queue *q, struct weftd_job **ret)
{
	struct waiter self, *p;

	for (;;) {
		weftd_spin_lock(&q->lock);
		/* closed: drain what is left even when paused (the stop cancelled the jobs, or
		 * a reload retired the pipeline: its in-flight jobs finish) */
		if (q->len && (!q->paused || q->closed)) {
			*ret = pop(q);
			p = admit_putter(q);
			weftd_spin_unlock(&q->lock);
			if (p)
				weft_event_set(&p->ev, 0);
			return 0;
		}
		if (q->closed) {
			weftd_spin_unlock(&q->lock);
			return -EPIPE;
		}
		weft_event_init(&self.ev);
		self.job = NULL;
		self.linked = true;
		TAILQ_INSERT_TAIL(&q->getters, &self, link);
		weftd_spin_unlock(&q->lock);
		/* no ctx: only a put (job handed over), a resume or a close sets it */
		weft_event_wait(NULL, &self.ev);
		if (self.job) {
			*ret = self.job;
			return 0;
		}
	}
}

/* ---- close, pause ---------------------------------------------------------------- */

/* Unlink every waiter of l into out (lock held), to be woken after the unlock. */
static void take_all(struct waitq *l, struct waitq *out)
{
	struct waiter *w;

	while ((w = TAILQ_FIRST(l))) {
		TAILQ_REMOVE(l, w, link);
		w->linked = false;
		TAILQ_INSERT_TAIL(out, w, link);
	}
}

/* Set every event of out with value. The link is read before the set: once set, the
 * waiter may return and its stack be reused. */
static void wake_all(struct waitq *out, int value)
{
	struct waiter *w, *next;

	for (w = TAILQ_FIRST(out); w; w = next) {
		next = TAILQ_NEXT(w, link);
		weft_event_set(&w->ev, value);
	}
}

int eng_queue_close(struct eng_queue *q)
{
	struct waitq g = TAILQ_HEAD_INITIALIZER(g), p = TAILQ_HEAD_INITIALIZER(p);

	weftd_spin_lock(&q->lock);
	if (q->closed) {
		weftd_spin_unlock(&q->lock);
		return -EPIPE;
	}
	q->closed = true;
	take_all(&q->getters, &g);
	take_all(&q->putters, &p);
	weftd_spin_unlock(&q->lock);
	wake_all(&g, 0);
	wake_all(&p, -EPIPE);
	return 0;
}

void eng_queue_pause(struct eng_queue *q, bool paused)
{
	struct waitq g = TAILQ_HEAD_INITIALIZER(g);

	weftd_spin_lock(&q->lock);
	q->paused = paused;
	/* resumed: the parked workers look again (a queue filled while paused has no
	 * handed-over jobs to give them) */
	if (!paused)
		take_all(&q->getters, &g);
	weftd_spin_unlock(&q->lock);
	wake_all(&g, 0);
}

size_t eng_queue_len(struct eng_queue *q)
{
	size_t n;

	weftd_spin_lock(&q->lock);
	n = q->len;
	weftd_spin_unlock(&q->lock);
	return n;
}
