/* SPDX-License-Identifier: MIT */
/* timer.c — the monotonic clock and each proc's timer heap. A timer's
 * callback runs on its proc's scheduler stack, from the scheduler loop.
 */
#include <stdlib.h>
#include <time.h>

#include "proc.h"

int64_t weft__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

enum { TIMER_IDLE, TIMER_PENDING, TIMER_FIRING };

static void heap_set(struct weft_proc *p, size_t i, struct weft__timer *t)
{
	p->heap[i] = t;
	t->index = (long)i;
}

static void heap_up(struct weft_proc *p, size_t i)
{
	struct weft__timer *t = p->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (p->heap[parent]->when <= t->when)
			break;
		heap_set(p, i, p->heap[parent]);
		i = parent;
	}
	heap_set(p, i, t);
}

static void heap_down(struct weft_proc *p, size_t i)
{
	struct weft__timer *t = p->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= p->nheap)
			break;
		if (c + 1 < p->nheap && p->heap[c + 1]->when < p->heap[c]->when)
			c++;
		if (t->when <= p->heap[c]->when)
			break;
		heap_set(p, i, p->heap[c]);
		i = c;
	}
	heap_set(p, i, t);
}

static void heap_remove(struct weft_proc *p, struct weft__timer *t)
{
	size_t i = (size_t)t->index;
	struct weft__timer *last = p->heap[--p->nheap];
	t->index = -1;
	if (i < p->nheap) {
		heap_set(p, i, last);
		heap_down(p, i);
		heap_up(p, (size_t)last->index);
	}
	atomic_store(&p->next_timer, p->nheap ? p->heap[0]->when : INT64_MAX);
}

int weft__timer_add(struct weft__timer *t, int64_t when, void (*fn)(struct weft__timer *), void *arg)
{
	struct weft_proc *p = weft__proc();
	if (!p)
		return -EPERM;
	t->when = when;
	t->fn = fn;
	t->arg = arg;
	t->proc = p;
	atomic_store(&t->state, TIMER_PENDING);
	weft__lock_acquire(&p->tlock);
	if (p->nheap == p->heap_cap) {
		size_t cap = p->heap_cap ? p->heap_cap * 2 : 64;
		struct weft__timer **h = realloc(p->heap, cap * sizeof(*h));
		if (!h) {
			weft__lock_release(&p->tlock);
			atomic_store(&t->state, TIMER_IDLE);
			return -ENOMEM;
		}
		p->heap = h;
		p->heap_cap = cap;
	}
	heap_set(p, p->nheap++, t);
	heap_up(p, p->nheap - 1);
	atomic_store(&p->next_timer, p->heap[0]->when);
	weft__lock_release(&p->tlock);
	return 0;
}

bool weft__timer_del(struct weft__timer *t)
{
	struct weft_proc *p = t->proc;
	if (!p)
		return false;
	weft__lock_acquire(&p->tlock);
	if (t->index >= 0 && atomic_load(&t->state) == TIMER_PENDING) {
		heap_remove(p, t);
		atomic_store(&t->state, TIMER_IDLE);
		weft__lock_release(&p->tlock);
		return true;
	}
	weft__lock_release(&p->tlock);
	while (atomic_load(&t->state) == TIMER_FIRING)
		weft__cpu_relax();
	return false;
}

void weft__timers_fire(struct weft_proc *p, int64_t now)
{
	for (;;) {
		weft__lock_acquire(&p->tlock);
		if (!p->nheap || p->heap[0]->when > now) {
			weft__lock_release(&p->tlock);
			return;
		}
		struct weft__timer *t = p->heap[0];
		heap_remove(p, t);
		atomic_store(&t->state, TIMER_FIRING);
		weft__lock_release(&p->tlock);
		t->fn(t);
		atomic_store_explicit(&t->state, TIMER_IDLE, memory_order_release);
	}
}
