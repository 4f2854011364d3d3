/* SPDX-License-Identifier: MIT */
/* bench_retry.c — good jobs through a stage while 10,000 jobs fail there with backoff
 * (engine, no socket):
 *   retry_storm_jobs_per_s   good jobs per second through a 4-worker stage that holds
 *                            10,000 retrying jobs (each failed once, its next attempt an
 *                            hour away): before issue 17 each held a worker through its
 *                            backoff and the stage stopped
 *   retry_bytes_per_job      resident memory per retrying job (the job, its id, its
 *                            schedule entry, its ctx, its journal-free cargo)
 * One run, 2 procs, durability none. The stage is the test plugin permanent.so ("fail":
 * a retryable error; anything else passes), found next to this binary's build. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft/weft.h>

#include "engine/engine.h"

#define FAILING 10000
#define GOOD 100000

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
	double rate, bytes;
	int err;
};

static void fig(const struct weftd_pipeline_figures *p, void *arg)
{
	*(int64_t *)arg = p->stages[0].retrying;
}

/* Submit payload, parking while the queue is full. */
static struct weftd_job *submit(struct weftd_engine *e, const char *payload)
{
	struct weftd_job *j = NULL;
	int r;

	while ((r = weftd_engine_submit(e, "s", payload, strlen(payload), 0, NULL, &j)) == -EAGAIN)
		weft_sleep(NULL, 100 * WEFT_USEC);
	return r == 0 ? j : NULL;
}

static void bench_main(void *arg)
{
	struct result *res = arg;
	struct weftd_engine *e = res->e;
	struct weftd_job *j, *last = NULL;
	int64_t retrying = 0, t0;
	long rss0;

	if (weftd_engine_start(e) < 0) {
		res->err = 1;
		return;
	}
	rss0 = rss_bytes();
	for (int i = 0; i < FAILING && !res->err; i++) {
		if (!(j = submit(e, "fail")))
			res->err = 1;
		weftd_job_unref(j);
	}
	for (int i = 0; i < 60000 && retrying < FAILING; i++) {
		weftd_engine_figures(e, "s", fig, &retrying);
		weft_sleep(NULL, WEFT_MSEC);
	}
	if (retrying < FAILING) {
		fprintf(stderr, "# only %lld of %d failing jobs retrying\n", (long long)retrying, FAILING);
		res->err = 1;
	}
	res->bytes = (double)(rss_bytes() - rss0) / FAILING;
	t0 = weft_now();
	for (int i = 0; i < GOOD && !res->err; i++) {
		if (!(j = submit(e, "good")))
			res->err = 1;
		weftd_job_unref(last);
		last = j;
	}
	if (last && weftd_jobs_wait(NULL, &last, 1, 600 * WEFT_SEC) < 0)
		res->err = 1;
	res->rate = GOOD / ((double)(weft_now() - t0) / 1e9);
	weftd_job_unref(last);
	weftd_engine_stop(e);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], yaml[1024];
	struct weftd_config *cfg = NULL;
	struct result res = { 0 };
	char err[256];

	(void)argc;
	snprintf(self, sizeof(self), "%s", argv[0]);
	snprintf(yaml, sizeof(yaml),
		 "daemon:\n  retention: {count: 1000, age: 1m}\n"
		 "pipelines:\n  s:\n    stages:\n"
		 "      - {name: p, plugin: {path: %s/../tests/plugins/permanent.so}, workers: 4,\n"
		 "         queue: 16384, timeout: 0s, retry: {attempts: 5, initial: 1h, max: 2h}}\n",
		 dirname(self));
	if (weftd_config_parse(yaml, strlen(yaml), "bench.yaml", &cfg, err, sizeof(err)) < 0 ||
	    weftd_engine_new(cfg, &res.e, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_retry: %s\n", err);
		return 1;
	}
	if (weft_run(bench_main, &res, &(struct weft_opts){ .procs = 2 }) < 0 || res.err)
		return 1;
	weftd_engine_free(res.e);
	printf("retry_storm_jobs_per_s %.0f jobs/s\n", res.rate);
	printf("retry_bytes_per_job %.0f bytes\n", res.bytes);
	return 0;
}
