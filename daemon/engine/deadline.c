/* SPDX-License-Identifier: MIT */
/* deadline.c — per-job deadlines (submit's "deadline"): a job not finished by its
 * deadline ends expired wherever it is (see engine_impl.h). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "engine/engine_impl.h"
#include "util/log.h"

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

struct watch {
	struct weftd_engine *e;
	struct weftd_job *j;
};

/* Wait for the job's end or its deadline, whichever comes first; the engine's stop ends
 * the wait (the job stays live: a journaled one is watched again after the restart). */
static void watch_main(void *arg)
{
	struct watch *w = arg;
	struct weftd_job *j = w->j;
	int64_t left = weftd_job_info(j)->deadline_ms - wall_ms();

	if (weftd_jobs_wait(w->e->ctx, &j, 1, left > 0 ? left * WEFT_MSEC : 0) == -ETIMEDOUT)
		eng_expire(w->e, j);
	weftd_job_unref(j);
	weft_wg_done(&w->e->wg);
	free(w);
}

int eng_deadline_watch(struct weftd_engine *e, struct weftd_job *j)
{
	struct watch *w;

	if (!weftd_job_info(j)->deadline_ms)
		return 0;
	if (!(w = malloc(sizeof(*w))))
		return -ENOMEM;
	*w = (struct watch){ e, weftd_job_ref(j) };
	weft_wg_add(&e->wg, 1);
	/* a small stack: the watcher only waits, then ends the job */
	if (weft_go_opts(watch_main, w, &(struct weft_go_opts){ .name = "deadline",
								.stack_size = 16384 }) < 0) {
		weft_wg_done(&e->wg);
		weftd_job_unref(j);
		free(w);
		return -ENOMEM;
	}
	return 0;
}
