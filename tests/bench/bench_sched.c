/* SPDX-License-Identifier: MIT */
/* bench_sched.c — one million scheduled jobs through the engine (no socket):
 *   scheduled_1m_ms          accepting 1,000,000 jobs all due at one moment (submit with
 *                            run_at: into the table and the pipeline's schedule) plus
 *                            firing them once due (schedule -> first queue -> a noop
 *                            stage, until the last is done); the idle wait between the
 *                            two is not counted (a comment line gives each part)
 *   scheduled_bytes_per_job  resident memory per scheduled job (the job, its id and
 *                            schedule entries, its ctx), measured with all 1M held
 * One run, 2 procs, durability none, 16-byte payloads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <weft/weft.h>

#include "engine/engine.h"

#define N 1000000
#define DELAY_MS 4000 /* long enough to accept them all before they come due */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

struct result {
	struct weftd_engine *e;
	double accept_ms, fire_ms, bytes;
	int err;
};

static void fig(const struct weftd_pipeline_figures *p, void *arg)
{
	*(int64_t *)arg = p->scheduled;
}

static void bench_main(void *arg)
{
	struct result *res = arg;
	struct weftd_engine *e = res->e;
	struct weftd_submit_opts o;
	struct weftd_job *j, *last = NULL;
	int64_t due, t0, t1, scheduled = 0;
	long rss0;

	if (weftd_engine_start(e) < 0) {
		res->err = 1;
		return;
	}
	rss0 = rss_bytes();
	t0 = weft_now();
	due = wall_ms() + DELAY_MS;
	o = (struct weftd_submit_opts){ .run_at_ms = due };
	for (int i = 0; i < N; i++) {
		if (weftd_engine_submit(e, "s", "0123456789abcdef", 16, 0, &o, &j) != 0) {
			fprintf(stderr, "# submit %d refused\n", i);
			res->err = 1;
			break;
		}
		weftd_job_unref(last);
		last = j;
	}
	t1 = weft_now();
	res->accept_ms = (double)(t1 - t0) / 1e6;
	weftd_engine_figures(e, "s", fig, &scheduled);
	res->bytes = (double)(rss_bytes() - rss0) / N;
	if (scheduled != N) {
		fprintf(stderr, "# only %lld scheduled when all were accepted (accepting took too long?)\n",
			(long long)scheduled);
		res->err = 1;
	}
	/* the drain's wait leaves scheduled jobs aside: first the last one to come due (all
	 * share one due time; equal times leave in arrival order), then the rest */
	if (last)
		weftd_jobs_wait(NULL, &last, 1, -1);
	weftd_job_unref(last);
	weftd_engine_wait_idle(e, NULL);
	res->fire_ms = (double)(wall_ms() - due);
	weftd_engine_stop(e);
}

int main(void)
{
	static const char yaml[] =
		"daemon:\n  retention: {count: 1000, age: 1m}\n"
		"pipelines:\n  s:\n    stages:\n"
		"      - {name: noop, builtin: noop, workers: 8, queue: 1048576, timeout: 0s}\n";
	struct weftd_config *cfg = NULL;
	struct result res = { 0 };
	char err[256];

	if (weftd_config_parse(yaml, sizeof(yaml) - 1, "bench.yaml", &cfg, err, sizeof(err)) < 0 ||
	    weftd_engine_new(cfg, &res.e, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_sched: %s\n", err);
		return 1;
	}
	if (weft_run(bench_main, &res, &(struct weft_opts){ .procs = 2 }) < 0 || res.err)
		return 1;
	weftd_engine_free(res.e);
	fprintf(stderr, "# scheduled 1M: accept %.0f ms (%.0f jobs/s), fire after due %.0f ms\n",
		res.accept_ms, N / res.accept_ms * 1000, res.fire_ms);
	printf("scheduled_1m_ms %.0f ms\n", res.accept_ms + res.fire_ms);
	printf("scheduled_bytes_per_job %.0f bytes\n", res.bytes);
	return 0;
}
