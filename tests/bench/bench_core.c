/* SPDX-License-Identifier: MIT */
/* bench_core.c — runtime core figures, one "name value unit" line each:
 * switch_ns (one proc), spawn_join_ns (two procs; _p1: one) (these three: the median
 * of 5 runs), idle_fiber_bytes,
 * ring_nop_mops(_sqpoll), sleep_100k_ms.
 * WEFT_BENCH_FIBERS overrides the 1,000,000 fibers of spawn_join/idle. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <weft/weft.h>

static long nfib(void)
{
	const char *e = getenv("WEFT_BENCH_FIBERS");
	return e ? atol(e) : 1000000;
}

static long rss_bytes(void)
{
	long a = 0, r = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &a, &r) != 2)
			r = 0;
		fclose(f);
	}
	return r * sysconf(_SC_PAGESIZE);
}

#define SWITCHES 2000000
static void yielder(void *arg)
{
	for (int i = 0; i < SWITCHES / 2; i++)
		weft_yield();
	weft_wg_done(arg);
}
static void switch_main(void *arg)
{
	weft_wg wg;
	weft_wg_init(&wg);
	weft_wg_add(&wg, 2);
	int64_t t0 = weft_now();
	weft_go(yielder, &wg);
	weft_go(yielder, &wg);
	weft_wg_wait(NULL, &wg);
	*(double *)arg = (double)(weft_now() - t0) / SWITCHES;
}

static void nothing(void *arg) { weft_wg_done(arg); }
static void spawn_main(void *arg)
{
	long n = nfib();
	weft_wg wg;
	weft_wg_init(&wg);
	weft_wg_add(&wg, n);
	int64_t t0 = weft_now();
	for (long i = 0; i < n; i++)
		weft_go(nothing, &wg);
	weft_wg_wait(NULL, &wg);
	*(double *)arg = (double)(weft_now() - t0) / (double)n;
}

struct idle { weft_wg gate, parked, done; };
static void idler(void *arg)
{
	struct idle *d = arg;
	weft_wg_done(&d->parked);
	weft_wg_wait(NULL, &d->gate);
	weft_wg_done(&d->done);
}
static void idle_main(void *arg)
{
	long n = nfib();
	struct idle d;
	weft_wg_init(&d.gate); weft_wg_init(&d.parked); weft_wg_init(&d.done);
	weft_wg_add(&d.gate, 1); weft_wg_add(&d.parked, n); weft_wg_add(&d.done, n);
	long r0 = rss_bytes();
	for (long i = 0; i < n; i++)
		weft_go(idler, &d);
	weft_wg_wait(NULL, &d.parked);
	*(double *)arg = (double)(rss_bytes() - r0) / (double)n;
	weft_wg_done(&d.gate);
	weft_wg_wait(NULL, &d.done);
}

#define NOPS 200000
#define NOPFIB 8
static void nopper(void *arg)
{
	for (int i = 0; i < NOPS / NOPFIB; i++)
		weft_nop(NULL);
	weft_wg_done(arg);
}
static void nop_main(void *arg)
{
	weft_wg wg;
	weft_wg_init(&wg);
	weft_wg_add(&wg, NOPFIB);
	int64_t t0 = weft_now();
	for (int i = 0; i < NOPFIB; i++)
		weft_go(nopper, &wg);
	weft_wg_wait(NULL, &wg);
	*(double *)arg = NOPS / ((double)(weft_now() - t0) / 1e3); /* per µs = M/s */
}

static void sleeper(void *arg)
{
	weft_sleep(NULL, 10 * WEFT_MSEC);
	weft_wg_done(arg);
}
static void sleep_main(void *arg)
{
	weft_wg wg;
	weft_wg_init(&wg);
	weft_wg_add(&wg, 100000);
	int64_t t0 = weft_now();
	for (int i = 0; i < 100000; i++)
		weft_go(sleeper, &wg);
	weft_wg_wait(NULL, &wg);
	*(double *)arg = (double)(weft_now() - t0) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of ROUNDS runs, each a fresh weft_run: a short figure on a shared VM
 * catches an interrupt or a stolen slice now and then, which one run would report. */
#define ROUNDS 5
static double median_run(void (*fn)(void *), struct weft_opts *o)
{
	double v[ROUNDS];
	for (int i = 0; i < ROUNDS; i++)
		weft_run(fn, &v[i], o);
	qsort(v, ROUNDS, sizeof(v[0]), cmp_double);
	return v[ROUNDS / 2];
}

int main(void)
{
	double v;
	struct weft_opts o1 = { .procs = 1 }, o2 = { .procs = 2 };
	printf("switch_ns %.1f ns\n", median_run(switch_main, &o1)); fflush(stdout);
	printf("spawn_join_ns %.1f ns\n", median_run(spawn_main, &o2)); fflush(stdout);
	printf("spawn_join_ns_p1 %.1f ns\n", median_run(spawn_main, &o1)); fflush(stdout);
	weft_run(idle_main, &v, &o2);
	printf("idle_fiber_bytes %.0f bytes\n", v); fflush(stdout);
	weft_run(nop_main, &v, &o2);
	printf("ring_nop_mops %.2f Mops/s\n", v); fflush(stdout);
	struct weft_opts sq = { .procs = 2, .sqpoll = true };
	weft_run(nop_main, &v, &sq);
	printf("ring_nop_mops_sqpoll %.2f Mops/s\n", v); fflush(stdout);
	weft_run(sleep_main, &v, &o2);
	printf("sleep_100k_ms %.1f ms\n", v);
	return 0;
}
