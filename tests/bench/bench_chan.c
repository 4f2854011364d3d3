/* SPDX-License-Identifier: MIT */
/* bench_chan.c — channel and select figures, named after the Go peer programs
 * (DESIGN.md "Benchmarks"). Prints one "name value unit" line per figure.
 * Each figure is the best of a few runs (the machine is shared). */
#include <stdio.h>
#include <stdlib.h>
#include <weft/weft.h>

#define RUNS 3

static weft_chan *mkchan(size_t cap)
{
	weft_chan *ch;
	if (weft_chan_new(sizeof(long), cap, &ch))
		abort();
	return ch;
}

static double run_best(weft_fn fn, unsigned procs, bool lower_is_better)
{
	double best = 0;
	for (int i = 0; i < RUNS; i++) {
		double v = 0;
		struct weft_opts o = { .procs = procs };
		if (weft_run(fn, &v, &o))
			abort();
		if (i == 0 || (lower_is_better ? v < best : v > best))
			best = v;
	}
	return best;
}

/* ---- unbuffered ping-pong: ns per round trip ---- */
enum { PP_N = 200000 };
struct pp { weft_chan *a, *b; };

static void pong(void *arg)
{
	struct pp *p = arg;
	long v;
	while (weft_chan_recv(NULL, p->a, &v) == 0)
		weft_chan_send(NULL, p->b, &v);
	weft_chan_close(p->b); /* tells ping we are done with both channels */
}

static void pingpong(void *arg)
{
	struct pp p = { mkchan(0), mkchan(0) };
	weft_go(pong, &p);
	long v = 0;
	int64_t t0 = weft_now();
	for (long i = 0; i < PP_N; i++) {
		weft_chan_send(NULL, p.a, &i);
		weft_chan_recv(NULL, p.b, &v);
	}
	*(double *)arg = (double)(weft_now() - t0) / PP_N;
	weft_chan_close(p.a);
	while (weft_chan_recv(NULL, p.b, &v) == 0)
		;
	weft_chan_unref(p.a);
	weft_chan_unref(p.b);
}

/* ---- buffered (cap 1024), one producer one consumer: Melem/s ---- */
enum { BUF_N = 2000000 };

static void producer(void *arg)
{
	weft_chan *ch = arg;
	for (long i = 0; i < BUF_N; i++)
		weft_chan_send(NULL, ch, &i);
	weft_chan_close(ch);
}

static void buffered(void *arg)
{
	weft_chan *ch = mkchan(1024);
	int64_t t0 = weft_now();
	weft_go(producer, ch);
	long v, n = 0;
	while (weft_chan_recv(NULL, ch, &v) == 0)
		n++;
	*(double *)arg = n * 1e3 / (double)(weft_now() - t0);
	weft_chan_unref(ch);
}

/* ---- pipeline generate -> square -> sum, 2,000,000 items: Mitems/s ---- */
enum { PL_N = 2000000 };
static size_t pl_cap;
struct stage { weft_chan *in, *out; };

static void generate(void *arg)
{
	struct stage *s = arg;
	for (long i = 1; i <= PL_N; i++)
		weft_chan_send(NULL, s->out, &i);
	weft_chan_close(s->out);
}

static void square(void *arg)
{
	struct stage *s = arg;
	long v;
	while (weft_chan_recv(NULL, s->in, &v) == 0) {
		v *= v;
		weft_chan_send(NULL, s->out, &v);
	}
	weft_chan_close(s->out);
}

static void pipeline(void *arg)
{
	struct stage g = { NULL, mkchan(pl_cap) }, sq = { g.out, mkchan(pl_cap) };
	int64_t t0 = weft_now();
	weft_go(generate, &g);
	weft_go(square, &sq);
	long v, sum = 0;
	while (weft_chan_recv(NULL, sq.out, &v) == 0)
		sum += v;
	*(double *)arg = PL_N * 1e3 / (double)(weft_now() - t0);
	if (sum == 42)
		puts("");
	weft_chan_unref(g.out);
	weft_chan_unref(sq.out);
}

/* ---- select over 2 channels with a default case, nothing ready (Go's
 * BenchmarkSelectNonblock shape): ns per select ---- */
enum { SEL_N = 2000000 };

static void select_default(void *arg)
{
	weft_chan *a = mkchan(0), *b = mkchan(1);
	long va, vb;
	struct weft_sel c[] = { { a, WEFT_SEL_RECV, &va, 0 }, { b, WEFT_SEL_RECV, &vb, 0 } };
	long hits = 0;
	int64_t t0 = weft_now();
	for (long i = 0; i < SEL_N; i++)
		hits += weft_select(NULL, c, 2, true) >= 0;
	*(double *)arg = (double)(weft_now() - t0) / SEL_N;
	if (hits)
		abort();
	weft_chan_unref(a);
	weft_chan_unref(b);
}

/* ---- worker pool: 8 workers, jobs cap 100, results cap 100, 2,000,000
 * jobs computing v*2: Mjobs/s ---- */
enum { WP_N = 2000000, WP_WORKERS = 8 };
struct pool { weft_chan *jobs, *results; weft_wg wg; };

static void worker(void *arg)
{
	struct pool *p = arg;
	long v;
	while (weft_chan_recv(NULL, p->jobs, &v) == 0) {
		v *= 2;
		weft_chan_send(NULL, p->results, &v);
	}
	weft_wg_done(&p->wg);
}

static void feeder(void *arg)
{
	struct pool *p = arg;
	for (long i = 0; i < WP_N; i++)
		weft_chan_send(NULL, p->jobs, &i);
	weft_chan_close(p->jobs);
	weft_wg_wait(NULL, &p->wg);
	weft_chan_close(p->results);
}

static void workerpool(void *arg)
{
	struct pool p = { .jobs = mkchan(100), .results = mkchan(100) };
	weft_wg_init(&p.wg);
	weft_wg_add(&p.wg, WP_WORKERS);
	int64_t t0 = weft_now();
	for (int i = 0; i < WP_WORKERS; i++)
		weft_go(worker, &p);
	weft_go(feeder, &p);
	long v, sum = 0, n = 0;
	while (weft_chan_recv(NULL, p.results, &v) == 0)
		sum += v, n++;
	*(double *)arg = n * 1e3 / (double)(weft_now() - t0);
	if (n != WP_N || sum != (long)WP_N * (WP_N - 1))
		abort();
	weft_chan_unref(p.jobs);
	weft_chan_unref(p.results);
}

int main(void)
{
	printf("chan_pingpong_ns_p1 %.1f ns\n", run_best(pingpong, 1, true));
	printf("chan_pingpong_ns_p2 %.1f ns\n", run_best(pingpong, 2, true));
	printf("chan_buffered_mops_p1 %.2f Mops/s\n", run_best(buffered, 1, false));
	printf("chan_buffered_mops_p2 %.2f Mops/s\n", run_best(buffered, 2, false));
	/* the pipeline and select run on every CPU, as the Go peers (GOMAXPROCS) */
	pl_cap = 0;
	printf("pipeline_mops %.2f Mops/s\n", run_best(pipeline, 0, false));
	pl_cap = 128;
	printf("pipeline_buf_mops %.2f Mops/s\n", run_best(pipeline, 0, false));
	printf("select_ns %.1f ns\n", run_best(select_default, 0, true));
	printf("workerpool_mops %.2f Mops/s\n", run_best(workerpool, 2, false));
	return 0;
}
