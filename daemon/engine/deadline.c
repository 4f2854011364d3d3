/* SPDX-License-Identifier: MIT */
/* deadline.c — per-job deadlines (submit's "deadline"): a job not finished by its
 * deadline ends expired wherever it is (see engine_impl.h).
 *
 * One min-heap of (deadline, job id) per engine and one timer fiber, not a fiber per
 * job: 24 bytes per watched job instead of a 16 KiB stack. Entries name the job by id
 * and hold no reference, so a job that ends early is freed at its retention as any
 * other; its entry is dropped when it comes due (the id finds a final job, or none) or
 * at a compaction, which runs when the heap has doubled since the last one, so the
 * entries of ended jobs never outnumber the watched ones by much. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine_impl.h"
#include "util/log.h"

struct dl_entry {
	int64_t due_ms;                /* the deadline, Unix ms */
	char id[WEFTD_JOB_ID_LEN];     /* the job's id (not NUL-terminated) */
};

struct eng_deadlines {
	weft_mutex lock;               /* guards everything below */
	weft_cond wake;                /* the timer: an earlier deadline arrived */
	struct dl_entry *heap;         /* min-heap on due_ms */
	size_t n, cap;
	size_t compact_at;             /* compact before growing past this */
};

#define COMPACT_MIN 1024

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool eng_deadline_passed(struct weftd_job *j)
{
	int64_t d = weftd_job_info(j)->deadline_ms;

	return d && d <= wall_ms();
}

void eng_expire(struct weftd_engine *e, struct weftd_job *j)
{
	const struct weftd_job_info *ji = weftd_job_info(j);
	enum weftd_job_state st = weftd_job_state(j);
	struct weftd_pipe *p;

	/* out of its schedule first (as a cancel): never counted neither live nor scheduled */
	if (st == WEFTD_JOB_SCHEDULED || st == WEFTD_JOB_RETRYING)
		eng_sched_remove(j);
	if (weftd_jobs_finish(e->jobs, j, WEFTD_JOB_EXPIRED, NULL, 0, "expired: its deadline passed")) {
		if ((p = eng_find_pipe(e, ji->pipeline))) {
			atomic_fetch_add_explicit(&PST(p)->expired, 1, memory_order_relaxed);
			eng_pipe_unref(p);
		}
		weftd_info("job %s: pipeline %s: expired (deadline passed)", ji->id, ji->pipeline);
		eng_job_ended(e);
	}
	/* A running attempt runs under the job's ctx: it stops now (an exec child gets
	 * SIGTERM, then SIGKILL after kill_grace); its worker finds the job ended. */
	weft_ctx_cancel(ji->ctx);
}

/* ---- the heap ----------------------------------------------------------------------- */

static void sift_up(struct dl_entry *h, size_t i)
{
	struct dl_entry x = h[i];

	while (i > 0 && h[(i - 1) / 2].due_ms > x.due_ms) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

static void sift_down(struct dl_entry *h, size_t n, size_t i)
{
	struct dl_entry x = h[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1].due_ms < h[c].due_ms)
			c++;
		if (x.due_ms <= h[c].due_ms)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/* The live job an entry names, or NULL when it ended or is gone (a new reference). */
static struct weftd_job *live_job(struct weftd_engine *e, const struct dl_entry *d)
{
	struct weftd_job *j = weftd_jobs_get(e->jobs, d->id, sizeof(d->id));

	if (j && weftd_job_state_terminal(weftd_job_state(j)))
		j = weftd_job_unref(j);
	return j;
}

/* Drop the entries of jobs that ended (lock held): an O(n) pass, amortised over the n/2
 * inserts since the last one. */
static void compact(struct weftd_engine *e, struct eng_deadlines *dl)
{
	size_t k = 0;

	for (size_t i = 0; i < dl->n; i++) {
		struct weftd_job *j = live_job(e, &dl->heap[i]);
		if (j) {
			dl->heap[k++] = dl->heap[i];
			weftd_job_unref(j);
		}
	}
	dl->n = k;
	for (size_t i = k / 2; i-- > 0;)
		sift_down(dl->heap, dl->n, i);
	dl->compact_at = 2 * dl->n > COMPACT_MIN ? 2 * dl->n : COMPACT_MIN;
}

int eng_deadlines_new(struct eng_deadlines **ret)
{
	struct eng_deadlines *dl = calloc(1, sizeof(*dl));

	if (!dl)
		return -ENOMEM;
	weft_mutex_init(&dl->lock);
	weft_cond_init(&dl->wake);
	dl->compact_at = COMPACT_MIN;
	*ret = dl;
	return 0;
}

struct eng_deadlines *eng_deadlines_free(struct eng_deadlines *dl)
{
	if (dl) {
		free(dl->heap);
		free(dl);
	}
	return NULL;
}

size_t eng_deadlines_len(struct eng_deadlines *dl)
{
	size_t n;

	weft_mutex_lock(NULL, &dl->lock);
	n = dl->n;
	weft_mutex_unlock(&dl->lock);
	return n;
}

int eng_deadline_watch(struct weftd_engine *e, struct weftd_job *j)
{
	const struct weftd_job_info *ji = weftd_job_info(j);
	struct eng_deadlines *dl = e->dl;
	int r = 0;

	if (!ji->deadline_ms)
		return 0;
	weft_mutex_lock(NULL, &dl->lock);
	if (dl->n >= dl->compact_at)
		compact(e, dl);
	if (dl->n == dl->cap) {
		size_t cap = dl->cap ? 2 * dl->cap : 64;
		struct dl_entry *h = realloc(dl->heap, cap * sizeof(*h));
		if (!h) {
			r = -ENOMEM;
			goto out;
		}
		dl->heap = h;
		dl->cap = cap;
	}
	dl->heap[dl->n].due_ms = ji->deadline_ms;
	memcpy(dl->heap[dl->n].id, ji->id, sizeof(dl->heap[0].id));
	sift_up(dl->heap, dl->n++);
	/* the new earliest: the timer sleeps until a later one */
	if (dl->heap[0].due_ms == ji->deadline_ms)
		weft_cond_signal(&dl->wake);
out:
	weft_mutex_unlock(&dl->lock);
	return r;
}

void eng_deadlines_main(void *arg)
{
	struct weftd_engine *e = arg;
	struct eng_deadlines *dl = e->dl;
	weft_ctx *t;
	int r = 0;

	weft_mutex_lock(NULL, &dl->lock);
	while (r == 0 || r == -ETIMEDOUT) {
		int64_t now = wall_ms();
		if (dl->n == 0) {
			r = weft_cond_wait(e->ctx, &dl->wake, &dl->lock);
			continue;
		}
		if (dl->heap[0].due_ms > now) {
			/* until the earliest, or an earlier one, or the engine's stop */
			if (weft_ctx_with_timeout(e->ctx, (dl->heap[0].due_ms - now) * WEFT_MSEC, &t) < 0) {
				weft_mutex_unlock(&dl->lock);
				r = weft_sleep(e->ctx, WEFT_MSEC); /* no memory for a timer: again */
				weft_mutex_lock(NULL, &dl->lock);
				continue;
			}
			r = weft_cond_wait(t, &dl->wake, &dl->lock);
			weft_ctx_unref(t);
			if (r < 0 && weft_ctx_err(e->ctx))
				break;
			r = 0;
			continue;
		}
		struct dl_entry d = dl->heap[0];
		dl->heap[0] = dl->heap[--dl->n];
		if (dl->n)
			sift_down(dl->heap, dl->n, 0);
		weft_mutex_unlock(&dl->lock);
		struct weftd_job *j = live_job(e, &d);
		if (j) {
			eng_expire(e, j);
			weftd_job_unref(j);
		}
		weft_mutex_lock(NULL, &dl->lock);
	}
	weft_mutex_unlock(&dl->lock);
	weft_wg_done(&e->wg);
}
