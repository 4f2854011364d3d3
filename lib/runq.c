/* SPDX-License-Identifier: MIT */
/* runq.c — where runnable fibers wait: each proc's local run queue (Go's
 * runqput / runqget / runqgrab: lock-free for the owner, thieves take half
 * of a backlog with one CAS), the global queue, each proc's inbox of fibers
 * that must run on it, and stealing with patience. The owner's fast paths
 * are inline in proc.h.
 */
#include <stdlib.h>
#include <string.h>

#include "proc.h"

/* ---- global queue --------------------------------------------------------- */

void weft__gq_push(struct weft_sched *s, struct weft_fiber *head, struct weft_fiber *tail, unsigned n)
{
	pthread_mutex_lock(&s->gq_lock);
	tail->next = NULL;
	if (s->gq_tail)
		s->gq_tail->next = head;
	else
		s->gq_head = head;
	s->gq_tail = tail;
	atomic_fetch_add(&s->gq_len, n);
	pthread_mutex_unlock(&s->gq_lock);
}

/* ---- local run queue (Go's runqput / runqget / runqgrab) ------------------ */

bool weft__runq_put_slow(struct weft_proc *p, struct weft_fiber *f)
{
	struct weft_fiber *batch[WEFT__RUNQ_SIZE / 2 + 1];
	uint32_t h = atomic_load_explicit(&p->rq_head, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&p->rq_tail, memory_order_relaxed);
	uint32_t n = (t - h) / 2;
	if (n != WEFT__RUNQ_SIZE / 2)
		return false; /* a thief made room meanwhile */
	for (uint32_t i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(&p->rq[(h + i) % WEFT__RUNQ_SIZE], memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&p->rq_head, &h, h + n, memory_order_release,
						     memory_order_relaxed))
		return false;
	batch[n] = f;
	for (uint32_t i = 0; i < n; i++)
		batch[i]->next = batch[i + 1];
	weft__gq_push(p->sched, batch[0], batch[n], n + 1);
	return true;
}

/* Take half of victim's queue into batch; runnext too when steal_next. */
static uint32_t runq_grab(struct weft_proc *v, struct weft_fiber **batch, bool steal_next)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&v->rq_head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&v->rq_tail, memory_order_acquire);
		uint32_t n = t - h;
		n -= n / 2;
		if (n == 0) {
			if (!steal_next)
				return 0;
			struct weft_fiber *f = atomic_exchange_explicit(&v->runnext, NULL, memory_order_acq_rel);
			if (!f)
				return 0;
			batch[0] = f;
			return 1;
		}
		if (n > WEFT__RUNQ_SIZE / 2)
			continue; /* read h and t inconsistently; retry */
		for (uint32_t i = 0; i < n; i++)
			batch[i] = atomic_load_explicit(&v->rq[(h + i) % WEFT__RUNQ_SIZE], memory_order_relaxed);
		if (atomic_compare_exchange_strong_explicit(&v->rq_head, &h, h + n, memory_order_release,
							    memory_order_relaxed))
			return n;
	}
}

static struct weft_fiber *runq_steal(struct weft_proc *p, struct weft_proc *v, bool steal_next)
{
	struct weft_fiber *batch[WEFT__RUNQ_SIZE / 2];
	uint32_t n = runq_grab(v, batch, steal_next);
	if (!n)
		return NULL;
	atomic_fetch_add_explicit(&p->st.steals, n, memory_order_relaxed);
	for (uint32_t i = 1; i < n; i++)
		weft__runq_put(p, batch[i], false);
	return batch[0];
}

/* The first fibers of a chunk: fetch ahead what runq_fetch_ahead will not
 * (it starts FETCH_STACK and FETCH_HEADER places on). The rest: each header's
 * first line into L2 only, all at once. The point is the page walks: every
 * fiber's header and frames share one page of their own, and the walks of
 * 128 back-to-back prefetches overlap, where runq_fetch_ahead's, one per
 * fiber run, wait for each other; L2, not L1: the headers sit at one page
 * offset, and in L1 they would evict each other long before their fibers
 * run. ctx_cancel_fanout_us: 4% less CPU in the window; the wall time's
 * gain (3-9% in most sittings) is near this machine's noise. */
static void chunk_fetch_first(struct weft_proc *p, struct weft_fiber **v, unsigned n)
{
	for (unsigned i = 0; i < n && i < FETCH_HEADER; i++) {
		__builtin_prefetch(v[i], 1, 3);
		__builtin_prefetch((char *)v[i] + 64, 1, 3);
	}
	for (unsigned i = FETCH_HEADER; i < n; i++)
		__builtin_prefetch(v[i], 0, 1);
	p->cold = p->cold + n - 1 < WEFT__RUNQ_SIZE ? p->cold + n - 1 : WEFT__RUNQ_SIZE;
}

void weft__gq_push_chunk(struct weft_sched *s, struct weft__fiber_chunk *c)
{
	c->next = NULL;
	pthread_mutex_lock(&s->gq_lock);
	if (s->gq_chunks_tail)
		s->gq_chunks_tail->next = c;
	else
		s->gq_chunks = c;
	s->gq_chunks_tail = c;
	atomic_fetch_add(&s->gq_len, c->n);
	pthread_mutex_unlock(&s->gq_lock);
}

/* Under gq_lock: take up to max fibers from the first chunk into v (its
 * addresses, not its cold fibers: the lock is held for a copy, not a walk);
 * returns how many, and in *done the chunk to free if emptied. */
static unsigned chunk_take(struct weft_sched *s, struct weft_fiber **v, unsigned max,
			   struct weft__fiber_chunk **done)
{
	struct weft__fiber_chunk *c = s->gq_chunks;
	unsigned n = c->n - c->taken;
	if (n > max)
		n = max;
	memcpy(v, c->f + c->taken, n * sizeof(*v));
	c->taken += n;
	if (c->taken == c->n) {
		s->gq_chunks = c->next;
		if (!s->gq_chunks)
			s->gq_chunks_tail = NULL;
		*done = c;
	}
	atomic_fetch_sub(&s->gq_len, n);
	return n;
}

struct weft_fiber *weft__gq_get(struct weft_proc *p, unsigned max)
{
	struct weft_sched *s = p->sched;
	if (!atomic_load_explicit(&s->gq_len, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&s->gq_lock);
	if (!s->gq_head && s->gq_chunks) {
		struct weft_fiber *v[WEFT__BATCH_MAX];
		struct weft__fiber_chunk *done = NULL;
		unsigned n = chunk_take(s, v, max < WEFT__BATCH_MAX ? max : WEFT__BATCH_MAX, &done);
		pthread_mutex_unlock(&s->gq_lock);
		free(done);
		chunk_fetch_first(p, v, n);
		for (unsigned i = 1; i < n; i++)
			weft__runq_put(p, v[i], false);
		return v[0];
	}
	unsigned len = atomic_load(&s->gq_len);
	unsigned n = len / s->nprocs + 1;
	if (n > len)
		n = len;
	if (n > max)
		n = max;
	struct weft_fiber *first = NULL;
	unsigned i;
	for (i = 0; i < n && s->gq_head; i++) { /* gq_len counts the chunks' fibers too */
		struct weft_fiber *f = s->gq_head;
		s->gq_head = f->next;
		if (!s->gq_head)
			s->gq_tail = NULL;
		f->next = NULL;
		if (!first)
			first = f;
		else
			weft__runq_put(p, f, false);
	}
	atomic_fetch_sub(&s->gq_len, i);
	pthread_mutex_unlock(&s->gq_lock);
	return first;
}

/* ---- inbox: fibers that must run on one proc ------------------------------ */

void weft__inbox_push(struct weft_proc *p, struct weft_fiber *f)
{
	f->next = NULL;
	weft__lock_acquire(&p->inbox_lock);
	if (p->inbox_tail)
		p->inbox_tail->next = f;
	else
		p->inbox_head = f;
	p->inbox_tail = f;
	atomic_fetch_add(&p->inbox_len, 1);
	weft__lock_release(&p->inbox_lock);
}

struct weft_fiber *weft__inbox_pop(struct weft_proc *p)
{
	if (!atomic_load_explicit(&p->inbox_len, memory_order_relaxed))
		return NULL;
	weft__lock_acquire(&p->inbox_lock);
	struct weft_fiber *f = p->inbox_head;
	if (f) {
		p->inbox_head = f->next;
		if (!p->inbox_head)
			p->inbox_tail = NULL;
		atomic_fetch_sub(&p->inbox_len, 1);
	}
	weft__lock_release(&p->inbox_lock);
	return f;
}

/* ---- stealing, with patience --------------------------------------------------
 * Stealing a fiber costs its cache lines (header, first frame, whatever it
 * shares with its siblings) crossing to another core: more than running a
 * short fiber. So a thief takes only a backlog: fibers queued on a victim
 * that has not once emptied its queue for STEAL_PATIENCE_NS. A victim that
 * keeps emptying its queue (a spawner of short fibers, a ping-pong pair)
 * is keeping up and is left alone; one stuck on a long fiber, or with more
 * runnable fibers than it can turn over (CPU-bound yielders), is not. The
 * thief naps meanwhile, without being counted idle, so the victim's wakep
 * does not pay a wake-up for it. */
#define STEAL_PATIENCE_NS (20 * 1000)

/* Steal from v if its backlog has aged; else lower *due to when it might have. */
struct weft_fiber *weft__steal_from(struct weft_proc *p, struct weft_proc *v, int64_t *due)
{
	struct weft__steal_watch *w = &p->watch[v->id];
	if (runq_empty(v)) {
		w->since = 0;
		return NULL;
	}
	uint32_t d = atomic_load_explicit(&v->drains, memory_order_relaxed);
	if (!w->since || w->drains != d) {
		w->since = p->now_cache;
		w->drains = d;
	}
	int64_t when = w->since + STEAL_PATIENCE_NS;
	if (p->now_cache < when) {
		if (when < *due)
			*due = when;
		return NULL;
	}
	w->since = 0;
	return runq_steal(p, v, true);
}

struct weft_fiber *weft__runq_get_head(struct weft_proc *p)
{
	struct weft_fiber *f;

	if (p->solo) {
		uint32_t h = atomic_load_explicit(&p->rq_head, memory_order_relaxed);
		if (h == atomic_load_explicit(&p->rq_tail, memory_order_relaxed))
			return NULL;
		f = atomic_load_explicit(&p->rq[h % WEFT__RUNQ_SIZE], memory_order_relaxed);
		atomic_store_explicit(&p->rq_head, h + 1, memory_order_relaxed);
		return f;
	}
	for (;;) {
		uint32_t h = atomic_load_explicit(&p->rq_head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&p->rq_tail, memory_order_relaxed);
		if (t == h)
			return NULL;
		f = atomic_load_explicit(&p->rq[h % WEFT__RUNQ_SIZE], memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&p->rq_head, &h, h + 1, memory_order_release,
							  memory_order_relaxed))
			return f;
	}
}
