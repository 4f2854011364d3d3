/* SPDX-License-Identifier: MIT */
/* schedule.c — a pipeline's scheduled jobs and their timer (schedule.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine_impl.h"
#include "engine/schedule.h"
#include "util/log.h"

/* One heap entry: the order key next to the job, so sifting reads no job. The key is
 * the due time (Unix ms, < 2^41 until the year 71,700) above a 22-bit arrival number:
 * jobs due the same millisecond leave in the order they came (within 4 million). */
#define SEQ_BITS 22
struct entry {
	int64_t key;                   /* the key: due << SEQ_BITS | arrival */
	struct weftd_job *j;
};

/* A 4-ary heap: half the depth of a binary one, and the four children of an entry
 * share one cache line, so a sift over a million entries touches ~10 lines, not ~20. */
#define ARITY 4

struct eng_sched {
	weft_mutex lock;               /* guards everything below */
	weft_cond wake;                /* the timer: an earlier job, a resume, the close */
	struct entry *heap;            /* min-heap on key (FIFO among equal times: seq) */
	size_t n, size, cap;
	uint64_t seq;                  /* arrivals */
	bool closed, paused;
	atomic_size_t gauge;           /* n, for figures read without the lock */
};

int eng_sched_new(size_t cap, struct eng_sched **ret)
{
	struct eng_sched *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	weft_mutex_init(&s->lock);
	weft_cond_init(&s->wake);
	s->cap = cap;
	*ret = s;
	return 0;
}

struct eng_sched *eng_sched_free(struct eng_sched *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		__atomic_store_n(&weftd_job_cargo(s->heap[i].j)->sched, NULL, __ATOMIC_RELEASE);
		weftd_job_unref(s->heap[i].j);
	}
	free(s->heap);
	free(s);
	return NULL;
}

/* ---- the heap (lock held) ----------------------------------------------------------- */

static void place(struct eng_sched *s, size_t i, struct entry e)
{
	s->heap[i] = e;
	weftd_job_cargo(e.j)->sched_pos = i + 1;
}

static void sift_up(struct eng_sched *s, size_t i)
{
	struct entry e = s->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / ARITY;
		if (s->heap[parent].key <= e.key)
			break;
		place(s, i, s->heap[parent]);
		i = parent;
	}
	place(s, i, e);
}

static void sift_down(struct eng_sched *s, size_t i)
{
	struct entry e = s->heap[i];

	for (;;) {
		size_t first = ARITY * i + 1, c = first;
		if (first >= s->n)
			break;
		for (size_t k = first + 1; k < first + ARITY && k < s->n; k++)
			if (s->heap[k].key < s->heap[c].key)
				c = k;
		if (e.key <= s->heap[c].key)
			break;
		place(s, i, s->heap[c]);
		i = c;
	}
	place(s, i, e);
}

/* Take the entry at i out of the heap; returns its job (the heap's reference). */
static struct weftd_job *take(struct eng_sched *s, size_t i)
{
	struct weftd_job *j = s->heap[i].j;
	struct weftd_job_cargo *cg = weftd_job_cargo(j);

	if (cg->retry_stage) { /* leaves the stage's count */
		struct weftd_pipe *p = cg->pipe;
		atomic_fetch_sub(&p->stages[cg->retry_stage - 1].retry_held, 1);
		cg->retry_stage = 0;
	}
	cg->sched_pos = 0;
	__atomic_store_n(&weftd_job_cargo(j)->sched, NULL, __ATOMIC_RELEASE);
	atomic_store_explicit(&s->gauge, s->n - 1, memory_order_relaxed);
	if (--s->n > i) {
		place(s, i, s->heap[s->n]);
		/* the moved last entry may belong above or below i */
		if (i > 0 && s->heap[i].key < s->heap[(i - 1) / ARITY].key)
			sift_up(s, i);
		else
			sift_down(s, i);
	}
	return j;
}

/* ---- add, remove ---------------------------------------------------------------- */

int eng_sched_add(struct eng_sched *s, struct weftd_job *j, int64_t due_ms, bool force)
{
	int r = 0;

	weft_mutex_lock(NULL, &s->lock);
	if (s->closed) {
		r = -EPIPE;
	} else if (s->n >= s->cap && !force) {
		r = -EAGAIN;
	} else if (s->n == s->size) {
		size_t size = s->size ? 2 * s->size : 64;
		struct entry *h = realloc(s->heap, size * sizeof(*h));
		if (h) {
			s->heap = h;
			s->size = size;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0) {
		struct weftd_job_cargo *cg = weftd_job_cargo(j);
		weftd_job_ref(j);
		__atomic_store_n(&cg->sched, s, __ATOMIC_RELEASE);
		s->heap[s->n] = (struct entry){ (due_ms << SEQ_BITS) | (int64_t)(s->seq++ & ((1u << SEQ_BITS) - 1)), j };
		sift_up(s, s->n++);
		atomic_store_explicit(&s->gauge, s->n, memory_order_relaxed);
		/* a new earliest: the timer sleeps until a later time now */
		if (cg->sched_pos == 1)
			weft_cond_signal(&s->wake);
	}
	weft_mutex_unlock(&s->lock);
	return r;
}

int eng_sched_add_retry(struct weftd_pipe *p, uint32_t stage, struct weftd_job *j, int64_t due_ms,
			bool force)
{
	struct weftd_job_cargo *cg = weftd_job_cargo(j);
	struct weftd_stage_rt *st;
	int r;

	if (stage >= p->nstages)
		return -EINVAL;
	st = &p->stages[stage];
	/* counted before the add (the timer may take it out at once), against the stage's
	 * own bound: the first stage's queue setting bounds the scheduled jobs, each stage's
	 * its retries (a failing stage does not crowd out scheduled submits) */
	if (atomic_fetch_add(&st->retry_held, 1) >= st->cfg->queue && !force) {
		atomic_fetch_sub(&st->retry_held, 1);
		return -EAGAIN;
	}
	cg->retry_stage = stage + 1;
	r = eng_sched_add(p->sched, j, due_ms, true);
	if (r < 0) {
		cg->retry_stage = 0;
		atomic_fetch_sub(&st->retry_held, 1);
	}
	return r;
}

bool eng_sched_remove(struct weftd_job *j)
{
	struct weftd_job_cargo *cg = weftd_job_cargo(j);
	struct eng_sched *s;
	struct weftd_job *held = NULL;

	/* the schedule may hand j over (a close) between the read and the lock: look again */
	while ((s = __atomic_load_n(&cg->sched, __ATOMIC_ACQUIRE))) {
		weft_mutex_lock(NULL, &s->lock);
		if (__atomic_load_n(&cg->sched, __ATOMIC_ACQUIRE) == s) {
			size_t pos = cg->sched_pos;
			if (pos && pos <= s->n && s->heap[pos - 1].j == j)
				held = take(s, pos - 1);
			weft_mutex_unlock(&s->lock);
			break;
		}
		weft_mutex_unlock(&s->lock);
	}
	weftd_job_unref(held);
	return held != NULL;
}

size_t eng_sched_len(struct eng_sched *s)
{
	/* no lock: figures never park */
	return atomic_load_explicit(&s->gauge, memory_order_relaxed);
}

/* The earliest job if due at now_ms; lock held. */
static struct weftd_job *take_due(struct eng_sched *s, int64_t now_ms)
{
	return s->n && (s->heap[0].key >> SEQ_BITS) <= now_ms ? take(s, 0) : NULL;
}

int eng_sched_take_due(struct eng_sched *s, int64_t now_ms, struct weftd_job **ret)
{
	weft_mutex_lock(NULL, &s->lock);
	*ret = take_due(s, now_ms);
	weft_mutex_unlock(&s->lock);
	return *ret ? 0 : -EAGAIN;
}

void eng_sched_pause(struct eng_sched *s, bool paused)
{
	weft_mutex_lock(NULL, &s->lock);
	s->paused = paused;
	weft_mutex_unlock(&s->lock);
	weft_cond_broadcast(&s->wake);
}

void eng_sched_close(struct eng_sched *s, void (*fn)(struct weftd_job *j, void *arg), void *arg)
{
	struct weftd_job *j;

	weft_mutex_lock(NULL, &s->lock);
	s->closed = true;
	weft_cond_broadcast(&s->wake);
	while (s->n) {
		j = take(s, s->n - 1);
		weft_mutex_unlock(&s->lock);
		if (fn)
			fn(j, arg);
		else
			weftd_job_unref(j);
		weft_mutex_lock(NULL, &s->lock);
	}
	weft_mutex_unlock(&s->lock);
}

/* ---- the timer ------------------------------------------------------------------- */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* j is due: into p's first stage (parks while it is full). A pipeline retired meanwhile
 * (its first queue closed) hands j to the one running under its name now. */
static void fire(struct weftd_pipe *p, struct weftd_job *j)
{
	struct weftd_engine *e = p->eng;
	struct weftd_pipe *np;
	uint32_t k;
	int r;

	/* a scheduled job starts at stage 0, a retrying one goes back to its stage */
	if (weftd_job_due(j, &k) < 0) {
		weftd_job_unref(j); /* cancelled while scheduled */
		return;
	}
	np = weftd_job_cargo(j)->pipe;
	r = k < np->nstages ? eng_queue_at(np, k, j, true) : -EPIPE;
	if (r == -EPIPE && (np = eng_find_pipe(e, weftd_job_info(j)->pipeline))) {
		struct weftd_job_cargo *cg = weftd_job_cargo(j);
		struct weftd_pipe *old = cg->pipe;
		cg->pipe = np; /* not in flight: the cargo is ours; the reference moves */
		eng_pipe_unref(old);
		r = k < np->nstages ? eng_queue_at(np, k, j, true) : -EPIPE;
	}
	if (r < 0 && weftd_jobs_finish(e->jobs, j, WEFTD_JOB_CANCELED, NULL, 0,
				       atomic_load(&e->stopping) ? "canceled by shutdown"
								  : "canceled: its pipeline was removed"))
		eng_job_ended(e);
	weftd_job_unref(j);
}

void eng_sched_main(void *arg)
{
	struct weftd_pipe *p = arg;
	struct eng_sched *s = p->sched;
	weft_ctx *t;
	int64_t now;

	weft_mutex_lock(NULL, &s->lock);
	while (!s->closed) {
		if (s->paused || s->n == 0) {
			weft_cond_wait(NULL, &s->wake, &s->lock);
			continue;
		}
		now = wall_ms();
		int64_t due = s->heap[0].key >> SEQ_BITS;
		if (due > now) {
			/* sleep until the earliest, or until woken by an earlier one */
			if (weft_ctx_with_timeout(NULL, (due - now) * WEFT_MSEC, &t) < 0) {
				weft_mutex_unlock(&s->lock);
				weft_sleep(NULL, WEFT_MSEC); /* no memory for a deadline: try again */
				weft_mutex_lock(NULL, &s->lock);
				continue;
			}
			weft_cond_wait(t, &s->wake, &s->lock);
			weft_ctx_unref(t);
			continue;
		}
		struct weftd_job *j = take_due(s, now);
		weft_mutex_unlock(&s->lock);
		fire(p, j);
		weft_mutex_lock(NULL, &s->lock);
	}
	weft_mutex_unlock(&s->lock);
	weft_wg_done(&p->eng->wg);
	eng_pipe_unref(p);
}
