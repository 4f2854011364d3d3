/* SPDX-License-Identifier: MIT */
/* test_patterns.c — Go guide patterns over channels: worker pool (every job
 * exactly once), pipeline generate→square→sum, fan-out, merge, tee, bridge,
 * or-channel, or-done. Each runs with 1 and 2 procs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>
#include <weft/patterns.h>
#include <weft/pubsub.h>

#include "testutil.h"


static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

static weft_chan *mk(size_t sz, size_t cap)
{
	weft_chan *c;
	assert_int_equal(weft_chan_new(sz, cap, &c), 0);
	return c;
}

/* generator: send 1..n then close */
struct gen {
	weft_chan *out;
	long n;
};

static void gen_fiber(void *arg)
{
	struct gen *g = arg;
	for (long i = 1; i <= g->n; i++)
		if (weft_chan_send(NULL, g->out, &i) < 0)
			break; /* closed under us: the consumer stopped */
	weft_chan_close(g->out);
	weft_chan_unref(g->out);
	free(g);
}

static weft_chan *generate(long n, size_t cap)
{
	struct gen *g = malloc(sizeof(*g));
	weft_chan *c = mk(sizeof(long), cap);
	*g = (struct gen){ weft_chan_ref(c), n };
	assert_int_equal(weft_go(gen_fiber, g), 0);
	return c;
}

static long drain_sum(weft_chan *c, long *count)
{
	long v, s = 0, n = 0;
	while (weft_chan_recv(NULL, c, &v) == 0) {
		s += v;
		n++;
	}
	if (count)
		*count = n;
	return s;
}

static int square(weft_ctx *ctx, const void *in, void *out, void *arg)
{
	long v = *(const long *)in;
	*(long *)out = v * v;
	return 0;
}

static int odd_only(weft_ctx *ctx, const void *in, void *out, void *arg)
{
	long v = *(const long *)in;
	*(long *)out = v;
	return v % 2 ? 0 : 1;
}

/* ---- pipeline: generate → square → sum == 385 for 1..10 ---- */
static void pipeline_main(void *arg)
{
	for (size_t cap = 0; cap <= 4; cap += 4) {
		weft_chan *nums = generate(10, cap), *sq = mk(sizeof(long), cap);
		assert_int_equal(weft_stage_go(NULL, nums, sq, square, NULL), 0);
		long n;
		assert_int_equal(drain_sum(sq, &n), 385);
		assert_int_equal(n, 10);
		assert_true(weft_chan_closed(sq));
		weft_chan_unref(nums);
		weft_chan_unref(sq);
	}
	/* a filter stage drops evens: 1+3+5+7+9 */
	weft_chan *nums = generate(10, 0), *odd = mk(sizeof(long), 0);
	assert_int_equal(weft_stage_go(NULL, nums, odd, odd_only, NULL), 0);
	assert_int_equal(drain_sum(odd, NULL), 25);
	weft_chan_unref(nums);
	weft_chan_unref(odd);
}

static void test_pipeline(void **state)
{
	run(pipeline_main, NULL);
}

/* ---- fan-out: 4 squarers on one input, one output closed at the end ---- */
static void fanout_main(void *arg)
{
	long n = TEST_SCALE(2000) < 100 ? 100 : TEST_SCALE(2000);
	weft_chan *nums = generate(n, 8), *sq = mk(sizeof(long), 8);
	assert_int_equal(weft_fanout_go(NULL, nums, sq, 4, square, NULL), 0);
	long cnt, want = n * (n + 1) * (2 * n + 1) / 6;
	assert_int_equal(drain_sum(sq, &cnt), want);
	assert_int_equal(cnt, n);
	weft_chan_unref(nums);
	weft_chan_unref(sq);
	assert_int_equal(weft_fanout_go(NULL, NULL, sq, 1, square, NULL), -EINVAL);
}

static void test_fanout(void **state)
{
	run(fanout_main, NULL);
}

/* ---- merge: 3 generators into one: every value, closed after the last ---- */
static void merge_main(void *arg)
{
	weft_chan *ins[3] = { generate(10, 0), generate(20, 2), generate(30, 0) };
	weft_chan *out = mk(sizeof(long), 0);
	assert_int_equal(weft_merge(NULL, ins, 3, out), 0);
	long cnt;
	assert_int_equal(drain_sum(out, &cnt), 55 + 210 + 465);
	assert_int_equal(cnt, 60);
	for (int i = 0; i < 3; i++)
		weft_chan_unref(ins[i]);
	weft_chan *bad = mk(sizeof(int), 0);
	assert_int_equal(weft_merge(NULL, &bad, 1, out), -EINVAL); /* element sizes differ */
	weft_chan_unref(bad);
	weft_chan_unref(out);
}

static void test_merge(void **state)
{
	run(merge_main, NULL);
}

/* ---- tee: both outputs see every value, in order ---- */
struct seq {
	weft_chan *c;
	long got[64];
	int n;
	weft_wg *wg;
};

static void collect(void *arg)
{
	struct seq *s = arg;
	while (weft_chan_recv(NULL, s->c, &s->got[s->n]) == 0)
		s->n++;
	weft_wg_done(s->wg);
}

static void tee_main(void *arg)
{
	weft_wg wg;
	weft_wg_init(&wg);
	weft_chan *in = generate(20, 0);
	struct seq a = { .c = mk(sizeof(long), 0), .wg = &wg }, b = { .c = mk(sizeof(long), 3), .wg = &wg };
	assert_int_equal(weft_tee(NULL, in, a.c, b.c), 0);
	weft_wg_add(&wg, 2);
	assert_int_equal(weft_go(collect, &a), 0);
	assert_int_equal(weft_go(collect, &b), 0);
	assert_int_equal(weft_wg_wait(NULL, &wg), 0);
	assert_int_equal(a.n, 20);
	assert_int_equal(b.n, 20);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(a.got[i], i + 1);
		assert_int_equal(b.got[i], i + 1);
	}
	assert_int_equal(weft_tee(NULL, in, a.c, a.c), -EINVAL);
	weft_chan_unref(in);
	weft_chan_unref(a.c);
	weft_chan_unref(b.c);
}

static void test_tee(void **state)
{
	run(tee_main, NULL);
}

/* ---- bridge: a channel of 5 channels of 1..k flattens in order ---- */
static void bridge_feed(void *arg)
{
	weft_chan *chans = arg;
	for (long k = 1; k <= 5; k++) {
		weft_chan *c = generate(k, 0); /* our reference goes to the bridge */
		assert_int_equal(weft_chan_send(NULL, chans, &c), 0);
	}
	weft_chan_close(chans);
	weft_chan_unref(chans);
}

static void bridge_main(void *arg)
{
	weft_chan *chans = mk(sizeof(weft_chan *), 0), *out = mk(sizeof(long), 0);
	assert_int_equal(weft_bridge(NULL, chans, out), 0);
	assert_int_equal(weft_go(bridge_feed, weft_chan_ref(chans)), 0);
	long want[] = { 1, 1, 2, 1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 4, 5 }, v;
	size_t n = 0;
	while (weft_chan_recv(NULL, out, &v) == 0) {
		assert_true(n < 15);
		assert_int_equal(v, want[n++]);
	}
	assert_int_equal(n, 15);
	weft_chan_unref(chans);
	weft_chan_unref(out);
}

static void test_bridge(void **state)
{
	run(bridge_main, NULL);
}

/* ---- or-channel: closed when any one of N closes (N small and N > 64) ---- */
static void close_later(void *arg)
{
	weft_sleep(NULL, 20 * WEFT_MSEC);
	weft_chan_close(arg);
	weft_chan_unref(arg);
}

static void or_case(size_t n, size_t which)
{
	weft_chan **d = calloc(n, sizeof(*d)), *any;
	for (size_t i = 0; i < n; i++)
		d[i] = mk(1, 0);
	assert_int_equal(weft_or(NULL, d, n, &any), 0);
	assert_int_equal(weft_chan_try_recv(any, NULL), -EAGAIN); /* nothing closed yet */
	int64_t t0 = weft_now();
	assert_int_equal(weft_go(close_later, weft_chan_ref(d[which])), 0);
	assert_int_equal(weft_chan_recv(NULL, any, NULL), -EPIPE);
	int64_t took = weft_now() - t0;
	assert_true(took >= 15 * WEFT_MSEC && took < 2 * WEFT_SEC);
	for (size_t i = 0; i < n; i++)
		weft_chan_unref(d[i]);
	weft_chan_unref(any);
	free(d);
}

static void or_main(void *arg)
{
	or_case(1, 0);
	or_case(5, 3);
	or_case(TEST_SCALE(200) < 70 ? 70 : TEST_SCALE(200), 66); /* a tree of or-channels */
	/* ctx done closes it too */
	weft_chan *d = mk(1, 0), *any;
	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, 20 * WEFT_MSEC, &ctx), 0);
	assert_int_equal(weft_or(ctx, &d, 1, &any), 0);
	assert_int_equal(weft_chan_recv(NULL, any, NULL), -EPIPE);
	weft_ctx_unref(ctx);
	weft_chan_unref(any);
	weft_chan_unref(d);
}

static void test_or(void **state)
{
	run(or_main, NULL);
}

/* ---- or-done: forwards until the done channel fires, then closes ---- */
static void or_done_main(void *arg)
{
	/* in closes: everything passes, out closes */
	weft_chan *in = generate(10, 0), *out;
	assert_int_equal(weft_or_done(NULL, NULL, in, &out), 0);
	assert_int_equal(drain_sum(out, NULL), 55);
	weft_chan_unref(in);
	weft_chan_unref(out);

	/* an endless producer; done closes after we took 5 values */
	weft_chan *done = mk(1, 0);
	in = generate(1000000, 0);
	assert_int_equal(weft_or_done(NULL, done, in, &out), 0);
	long v, s = 0;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(weft_chan_recv(NULL, out, &v), 0);
		s += v;
	}
	assert_int_equal(s, 15);
	weft_chan_close(done);
	int extra = 0;
	while (weft_chan_recv(NULL, out, &v) == 0)
		extra++;
	assert_true(extra <= 1); /* at most the value it was already offering */
	/* stop the endless generator: close its channel under it */
	weft_chan_close(in);
	weft_chan_unref(in);
	weft_chan_unref(out);
	weft_chan_unref(done);
}

static void test_or_done(void **state)
{
	run(or_done_main, NULL);
}

/* ---- worker pool: every job processed exactly once ---- */
struct pool_t {
	atomic_int seen[4096];
	long njobs;
};

static int double_it(weft_ctx *ctx, const void *job, void *result, void *arg)
{
	struct pool_t *t = arg;
	long v = *(const long *)job;
	atomic_fetch_add(&t->seen[v], 1);
	if (v % 100 == 7)
		weft_yield(); /* let other workers overtake */
	*(long *)result = 2 * v;
	return 0;
}

static void submitter(void *arg)
{
	weft_workpool *p = arg;
	struct weft_workpool_stats st;
	weft_workpool_stats(p, &st);
	for (long i = 0; i < 4096 && i < TEST_SCALE(4096) + 100; i++)
		assert_int_equal(weft_workpool_submit(NULL, p, &i), 0);
	assert_int_equal(weft_workpool_close(p), 0);
}

static void pool_main(void *arg)
{
	struct pool_t *t = arg;
	t->njobs = TEST_SCALE(4096) + 100 < 4096 ? TEST_SCALE(4096) + 100 : 4096;
	struct weft_workpool_opts o = { .workers = 8, .job_size = sizeof(long), .queue = 100,
					.result_size = sizeof(long), .results_queue = 16,
					.fn = double_it, .arg = t };
	weft_workpool *p;
	assert_int_equal(weft_workpool_new(NULL, &o, &p), 0);
	assert_int_equal(weft_go(submitter, p), 0);
	long cnt;
	long sum = drain_sum(weft_workpool_results(p), &cnt); /* ends when results close */
	assert_int_equal(cnt, t->njobs);
	assert_int_equal(sum, t->njobs * (t->njobs - 1)); /* 2 * sum(0..n-1) */
	assert_int_equal(weft_workpool_wait(NULL, p), 0);
	for (long i = 0; i < t->njobs; i++)
		assert_int_equal(atomic_load(&t->seen[i]), 1);
	struct weft_workpool_stats st;
	weft_workpool_stats(p, &st);
	assert_int_equal(st.done, (uint64_t)t->njobs);
	assert_int_equal(st.failed + st.skipped, 0);
	assert_int_equal(weft_workpool_submit(NULL, p, &cnt), -EPIPE); /* closed */
	assert_null(weft_workpool_free(p));
}

static void test_workpool(void **state)
{
	struct pool_t *t = calloc(1, sizeof(*t));
	run(pool_main, t);
	free(t);
}

/* A pool under a cancelled ctx stops and closes its results. */
static int slow_job(weft_ctx *ctx, const void *job, void *result, void *arg)
{
	return weft_sleep(ctx, 10 * WEFT_SEC) < 0 ? -ECANCELED : 0;
}

static void pool_cancel_main(void *arg)
{
	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, 30 * WEFT_MSEC, &ctx), 0);
	struct weft_workpool_opts o = { .workers = 3, .job_size = sizeof(long), .queue = 10,
					.result_size = sizeof(long), .fn = slow_job };
	weft_workpool *p;
	assert_int_equal(weft_workpool_new(ctx, &o, &p), 0);
	for (long i = 0; i < 5; i++)
		assert_int_equal(weft_workpool_submit(NULL, p, &i), 0);
	int64_t t0 = weft_now();
	assert_int_equal(weft_chan_recv(NULL, weft_workpool_results(p), NULL), -EPIPE);
	assert_true(weft_now() - t0 < 2 * WEFT_SEC);
	assert_int_equal(weft_workpool_wait(NULL, p), 0);
	struct weft_workpool_stats st;
	weft_workpool_stats(p, &st);
	assert_true(st.failed >= 3 && st.failed <= 5);
	assert_int_equal(st.done, 0);
	weft_workpool_free(p);
	weft_ctx_unref(ctx);
}

static void test_workpool_cancel(void **state)
{
	run(pool_cancel_main, NULL);
}

/* ---- pub-sub: per-subscriber buffers and drop policies, counted ---- */
struct drainer {
	weft_chan *c;
	long sum, n;
	weft_wg *wg;
};

static void drainer_fiber(void *arg)
{
	struct drainer *d = arg;
	d->sum = drain_sum(d->c, &d->n);
	weft_chan_unref(d->c);
	weft_wg_done(d->wg);
}

struct blocked_pub {
	weft_broker *b;
	int r;
	weft_wg *wg;
};

static void blocked_publisher(void *arg)
{
	struct blocked_pub *bp = arg;
	long v = 2;
	bp->r = weft_broker_publish(NULL, bp->b, "z", &v);
	weft_wg_done(bp->wg);
}

static void pubsub_main(void *arg)
{
	weft_broker *b;
	weft_sub *a, *o, *all, *y;
	weft_wg wg;
	weft_wg_init(&wg);
	assert_int_equal(weft_broker_new(sizeof(long), &b), 0);
	assert_int_equal(weft_broker_subscribe(NULL, b, "x", 2, WEFT_DROP_NEWEST, &a), 0);
	assert_int_equal(weft_broker_subscribe(NULL, b, "x", 2, WEFT_DROP_OLDEST, &o), 0);
	assert_int_equal(weft_broker_subscribe(NULL, b, NULL, 1, WEFT_DROP_BLOCK, &all), 0);
	assert_int_equal(weft_broker_subscribe(NULL, b, "y", 10, WEFT_DROP_NEWEST, &y), 0);
	struct drainer d = { .c = weft_chan_ref(weft_sub_chan(all)), .wg = &wg };
	weft_wg_add(&wg, 1);
	assert_int_equal(weft_go(drainer_fiber, &d), 0);

	static const int want[] = { 3, 3, 2, 2, 2 }; /* newest-droppers stop counting when full */
	for (long v = 1; v <= 5; v++)
		assert_int_equal(weft_broker_publish(NULL, b, "x", &v), want[v - 1]);
	long v = 100;
	assert_int_equal(weft_broker_publish(NULL, b, "y", &v), 2);
	assert_int_equal(weft_broker_publish(NULL, b, "nobody", &v), 1); /* only the all-topics one */

	assert_int_equal(weft_sub_dropped(a), 3);
	assert_int_equal(weft_sub_dropped(o), 3);
	assert_int_equal(weft_sub_dropped(all), 0);
	assert_int_equal(weft_sub_dropped(y), 0);
	long got;
	weft_chan *ca = weft_chan_ref(weft_sub_chan(a)), *co = weft_chan_ref(weft_sub_chan(o));
	assert_int_equal(weft_sub_cancel(NULL, a), 0);
	assert_int_equal(weft_sub_cancel(NULL, o), 0);
	assert_int_equal(drain_sum(ca, &got), 1 + 2);     /* the first two */
	assert_int_equal(got, 2);
	assert_int_equal(drain_sum(co, &got), 4 + 5);     /* the last two */
	assert_int_equal(got, 2);
	assert_int_equal(weft_chan_try_recv(weft_sub_chan(y), &got), 0);
	assert_int_equal(got, 100);
	weft_chan_unref(ca);
	weft_chan_unref(co);

	/* BLOCK with nobody reading: the publisher parks; cancel releases it */
	weft_sub *z;
	assert_int_equal(weft_broker_subscribe(NULL, b, "z", 1, WEFT_DROP_BLOCK, &z), 0);
	v = 1;
	assert_int_equal(weft_broker_publish(NULL, b, "z", &v), 2); /* z's buffer + all */
	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, 20 * WEFT_MSEC, &ctx), 0);
	assert_int_equal(weft_broker_publish(ctx, b, "z", &v), -ETIMEDOUT);
	weft_ctx_unref(ctx);
	struct blocked_pub bp = { .b = b, .r = -1, .wg = &wg };
	weft_wg_add(&wg, 1);
	assert_int_equal(weft_go(blocked_publisher, &bp), 0);
	weft_sleep(NULL, 20 * WEFT_MSEC);
	assert_int_equal(weft_sub_cancel(NULL, z), 0);
	weft_broker_free(b); /* closes 'all': the drainer ends */
	assert_int_equal(weft_wg_wait(NULL, &wg), 0);
	assert_int_equal(bp.r, 1); /* z (cancelled under it) did not count, 'all' did */
	/* x: 5, y: 1, nobody: 1, z: 1, the timed-out one: 0 (z comes first), bp: 1 */
	assert_int_equal(d.n, 9);
}

static void test_pubsub(void **state)
{
	run(pubsub_main, NULL);
}

/* Freed by a plain thread while its workers run: free cannot wait there,
 * and does not refuse; the workers finish the queued jobs and the last one
 * frees the pool (ASan: no use after free, no leak). */
static int count_job(weft_ctx *ctx, const void *job, void *result, void *arg)
{
	weft_sleep(NULL, 100 * 1000);
	atomic_fetch_add((atomic_int *)arg, 1);
	return 0;
}

static void *free_from_thread(void *arg)
{
	assert_null(weft_workpool_free(arg));
	return NULL;
}

static void pool_thread_free_main(void *arg)
{
	struct weft_workpool_opts o = { .workers = 2, .job_size = sizeof(long), .queue = 10,
					.fn = count_job, .arg = arg };
	weft_workpool *p;
	assert_int_equal(weft_workpool_new(NULL, &o, &p), 0);
	for (long i = 0; i < 10; i++)
		assert_int_equal(weft_workpool_submit(NULL, p, &i), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, free_from_thread, p), 0);
	pthread_join(t, NULL); /* blocks this proc a moment: the workers wait */
}

static void test_workpool_free_from_thread(void **state)
{
	atomic_int n = 0;
	run(pool_thread_free_main, &n); /* returns once the workers have ended */
	assert_int_equal(atomic_load(&n), 10);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		BOTH(test_pipeline),
		BOTH(test_fanout),
		BOTH(test_merge),
		BOTH(test_tee),
		BOTH(test_bridge),
		BOTH(test_or),
		BOTH(test_or_done),
		BOTH(test_workpool),
		BOTH(test_workpool_cancel),
		BOTH(test_workpool_free_from_thread),
		BOTH(test_pubsub),
	};
	return cmocka_run_group_tests_name("patterns", table, NULL, NULL);
}
