/* SPDX-License-Identifier: MIT */
/* store_local.c — a local pipeline's store (engine.h's struct weftd_store_ops): its jobs
 * are in the jobs table, wait in its stage queues (queue.h) and its schedule (retries:
 * schedule.h), and the journal records each move (durable.c). st is the pipe itself. */
#include <errno.h>
#include <stdlib.h>

#include "engine/engine_impl.h"

static int local_get(void *st, struct weftd_pipe *p, uint32_t k, struct weftd_job **ret, void **tok)
{
	struct weftd_stage_rt *s = &p->stages[k];
	int r = eng_queue_get(s->q, ret);

	if (r == 0)
		atomic_fetch_sub_explicit(&SST(s)->queued, 1, memory_order_relaxed);
	*tok = NULL;
	return r;
}

static bool local_finish(void *st, uint32_t k, struct weftd_job *j, void *tok, enum weftd_job_state state,
			 char *out, size_t out_len, const char *why, uint32_t attempts, int64_t now_ns)
{
	struct weftd_pipe *p = st;

	if (!weftd_jobs_finish_at(p->eng->jobs, j, state, out, out_len, why, now_ns ? now_ns : weft_now()))
		return false;
	eng_job_ended(p->eng);
	return true;
}

static int local_advance(void *st, uint32_t k, struct weftd_job *j, void *tok, char *out, size_t out_len)
{
	struct weftd_pipe *p = st;
	struct weftd_stage_rt *next = &p->stages[k + 1];
	struct weftd_job_cargo *cg = weftd_job_cargo(j);

	/* The worker holding the job owns its cargo: nobody else touches it in flight. */
	cg->input = (unsigned char *)out;
	cg->input_len = out_len;
	if (weftd_job_advance(j, next->index, next->cfg->name) < 0)
		return -ECANCELED;
	eng_dur_stage(p->eng, j);
	atomic_fetch_add_explicit(&SST(next)->queued, 1, memory_order_relaxed);
	/* Blocking send: a full next stage holds this worker, and so on upstream. */
	if (eng_queue_put(next->q, j, true, weftd_job_info(j)->ctx) < 0) {
		atomic_fetch_sub_explicit(&SST(next)->queued, 1, memory_order_relaxed);
		return -ECANCELED;
	}
	return 0; /* the queue has the reference now */
}

/* j (retrying) into its pipeline's schedule until its next attempt is due, recorded in the
 * journal first (a restart keeps its due time and attempt count). Without a backoff, or
 * with the schedule full or closed, the worker keeps j and sleeps it out: a stage whose
 * retries overflow slows down and its queue answers busy upstream. */
static int local_retry(void *st, uint32_t k, struct weftd_job *j, void *tok, uint32_t attempt,
		       int64_t delay_ns, const char *why)
{
	struct weftd_pipe *p = st;

	if (delay_ns <= 0)
		return -EAGAIN;
	eng_dur_retry(p->eng, j);
	if (eng_sched_add_retry(p, k, j, weftd_job_due_ms(j), false) < 0)
		return -EAGAIN;
	/* cancelled between its move to retrying and the add: not held until its due time */
	if (weftd_job_state_terminal(weftd_job_state(j)))
		eng_sched_remove(j);
	return 0;
}

static void local_release(void *st, uint32_t k, struct weftd_job *j, void *tok)
{
	weftd_job_unref(j);
}

static bool local_paused(void *st)
{
	struct weftd_pipe *p = st;

	return atomic_load(&p->paused);
}

/* open, close, free: the pipe's own (eng_pipe_new, eng_pipe_retire, eng_pipe_unref). */
const struct weftd_store_ops eng_local_store = {
	.get = local_get, .finish = local_finish, .advance = local_advance, .retry = local_retry,
	.release = local_release, .paused = local_paused,
};

/* ---- transient jobs (another store's) ------------------------------------------------ */

int weftd_store_job(struct weftd_pipe *p, const char *id, unsigned char *in, size_t in_len,
		    uint32_t attempts, int64_t deadline_ms, struct weftd_job **ret)
{
	struct weftd_job_init init = {
		.id = id, .owner = WEFTD_JOB_NO_OWNER, .pipeline = p->cfg->name, .pipe = pipe_ref(p),
		.deadline_ms = deadline_ms,
	};
	struct weftd_job *j;

	if (weftd_job_create(p->eng->jobs, &init, &j) < 0) {
		eng_pipe_unref(p);
		free(in);
		return -ENOMEM;
	}
	/* its input is malloc'd, not the (empty) payload: an action may take it (in_movable) */
	weftd_job_cargo(j)->input = in;
	weftd_job_cargo(j)->input_len = in_len;
	if (attempts)
		weftd_job_restore_retry(j, attempts, 0);
	*ret = j;
	return 0;
}
