/* SPDX-License-Identifier: MIT */
/* test_chan.c — channels and select: the Go spec's semantics (as errors),
 * select's choice, default, timeout and fairness, the Go guides' pipeline and
 * fan-in examples, cross-proc ping-pong, cancellation, and a stress run of
 * send/recv/select on shared channels. Most tests run with 1 and 2 procs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

#include "testutil.h"


static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

static weft_chan *mkchan(size_t cap)
{
	weft_chan *ch;
	assert_int_equal(weft_chan_new(sizeof(long), cap, &ch), 0);
	return ch;
}

/* ---- the spec, one script per row: ops on one channel, in one fiber ---- */
enum op { SEND, RECV, TRY_SEND, TRY_RECV, CLOSE, LEN, CLOSED, END };
struct step {
	enum op op;
	long v;    /* value to send, or the expected value received / len / closed */
	int want;  /* expected return */
};
struct script {
	const char *name;
	size_t cap;
	struct step steps[12];
};

static const struct script scripts[] = {
	{ "buffered fifo", 2, {
		{ SEND, 1, 0 }, { TRY_SEND, 2, 0 }, { TRY_SEND, 3, -EAGAIN }, { LEN, 2, 0 },
		{ RECV, 1, 0 }, { TRY_RECV, 2, 0 }, { TRY_RECV, 0, -EAGAIN }, { LEN, 0, 0 }, { END, 0, 0 } } },
	{ "unbuffered never ready alone", 0, {
		{ TRY_SEND, 1, -EAGAIN }, { TRY_RECV, 0, -EAGAIN }, { LEN, 0, 0 }, { END, 0, 0 } } },
	{ "close twice", 1, {
		{ CLOSED, 0, 0 }, { CLOSE, 0, 0 }, { CLOSE, 0, -EPIPE }, { CLOSED, 1, 0 }, { END, 0, 0 } } },
	{ "send on closed", 3, {
		{ CLOSE, 0, 0 }, { SEND, 1, -EPIPE }, { TRY_SEND, 1, -EPIPE }, { LEN, 0, 0 }, { END, 0, 0 } } },
	{ "recv drains then EPIPE", 3, {
		{ SEND, 7, 0 }, { SEND, 8, 0 }, { CLOSE, 0, 0 }, { RECV, 7, 0 }, { TRY_RECV, 8, 0 },
		{ RECV, 0, -EPIPE }, { TRY_RECV, 0, -EPIPE }, { RECV, 0, -EPIPE }, { END, 0, 0 } } },
	{ "unbuffered closed", 0, {
		{ CLOSE, 0, 0 }, { RECV, 0, -EPIPE }, { SEND, 1, -EPIPE }, { END, 0, 0 } } },
	{ "ring wraps", 2, {
		{ SEND, 1, 0 }, { SEND, 2, 0 }, { RECV, 1, 0 }, { SEND, 3, 0 }, { RECV, 2, 0 },
		{ SEND, 4, 0 }, { RECV, 3, 0 }, { RECV, 4, 0 }, { LEN, 0, 0 }, { END, 0, 0 } } },
};

static void spec_main(void *arg)
{
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		const struct script *s = &scripts[i];
		weft_chan *ch = mkchan(s->cap);
		assert_int_equal(weft_chan_cap(ch), s->cap);
		for (const struct step *st = s->steps; st->op != END; st++) {
			long v = -1;
			int r = 0;
			switch (st->op) {
			case SEND: r = weft_chan_send(NULL, ch, &st->v); break;
			case TRY_SEND: r = weft_chan_try_send(ch, &st->v); break;
			case RECV: r = weft_chan_recv(NULL, ch, &v); break;
			case TRY_RECV: r = weft_chan_try_recv(ch, &v); break;
			case CLOSE: r = weft_chan_close(ch); break;
			case LEN: v = (long)weft_chan_len(ch); break;
			case CLOSED: v = weft_chan_closed(ch); break;
			case END: break;
			}
			bool check_v = st->op == LEN || st->op == CLOSED ||
				       ((st->op == RECV || st->op == TRY_RECV) && r != -EAGAIN);
			if (r != st->want || (check_v && v != st->v))
				fail_msg("%s: step %td: got %d/%ld, want %d/%ld", s->name,
					 st - s->steps, r, v, st->want, st->v);
		}
		weft_chan_unref(ch);
	}
}

static void test_spec(void **state)
{
	run(spec_main, NULL);
}

static void test_args(void **state)
{
	weft_chan *ch;
	assert_int_equal(weft_chan_new(0, 1, &ch), -EINVAL);
	assert_int_equal(weft_chan_new(65537, 1, &ch), -EINVAL);
	assert_int_equal(weft_chan_new(8, SIZE_MAX / 4, &ch), -EINVAL);
	assert_int_equal(weft_chan_new(8, 1, NULL), -EINVAL);
	assert_int_equal(weft_chan_close(NULL), -EINVAL);
	assert_int_equal(weft_chan_len(NULL), -EINVAL);
	assert_int_equal(weft_chan_cap(NULL), -EINVAL);
	assert_int_equal(weft_chan_range(NULL, NULL, NULL, NULL, NULL), -EINVAL); /* no fn */
	assert_int_equal(weft_chan_try_send(NULL, &(long){ 1 }), -EAGAIN);
	assert_int_equal(weft_chan_try_recv(NULL, NULL), -EAGAIN);
	/* try_ ops and nonblocking select work outside fibers */
	assert_int_equal(weft_chan_new(sizeof(long), 1, &ch), 0);
	long v = 5, got = 0;
	assert_int_equal(weft_chan_try_send(ch, &v), 0);
	struct weft_sel c[] = { { ch, WEFT_SEL_RECV, &got, 1 } };
	assert_int_equal(weft_select(NULL, c, 1, true), 0);
	assert_int_equal(c[0].res, 0);
	assert_int_equal(got, 5);
	assert_int_equal(weft_select(NULL, c, 1, true), -EAGAIN);
	/* blocking outside a fiber: -EPERM where it would have to park */
	assert_int_equal(weft_chan_send(NULL, ch, &v), 0);
	assert_int_equal(weft_chan_send(NULL, ch, &v), -EPERM);
	assert_int_equal(weft_chan_len(ch), 1);
	assert_int_equal(weft_chan_recv(NULL, NULL, &v), -EPERM);
	assert_int_equal(weft_select(NULL, c, 0, false), -EPERM);
	assert_null(weft_chan_unref(ch));
	assert_null(weft_chan_unref(NULL));
}

/* ---- unbuffered rendezvous between fibers keeps order ---- */
struct pair {
	weft_chan *a, *b;
	long n;
	weft_wg wg;
};

static void counter_sender(void *arg)
{
	struct pair *p = arg;
	for (long i = 1; i <= p->n; i++)
		assert_int_equal(weft_chan_send(NULL, p->a, &i), 0);
	weft_chan_close(p->a);
}

static void rendezvous_main(void *arg)
{
	struct pair p = { .a = mkchan((size_t)(uintptr_t)arg), .n = 1000 };
	weft_go(counter_sender, &p);
	long v, want = 1;
	while (weft_chan_recv(NULL, p.a, &v) == 0)
		assert_int_equal(v, want++);
	assert_int_equal(want, p.n + 1);
	weft_chan_unref(p.a);
}

static void test_rendezvous(void **state)
{
	run(rendezvous_main, (void *)0);
	run(rendezvous_main, (void *)3);
}

/* ---- close wakes every blocked receiver and sender ---- */
struct bcast {
	weft_chan *rx, *tx; /* rx: receivers block (empty); tx: senders block (full) */
	atomic_int epipe;
	weft_wg wg;
};

static void blocked_recv(void *arg)
{
	struct bcast *b = arg;
	long v = 99;
	if (weft_chan_recv(NULL, b->rx, &v) == -EPIPE && v == 0)
		atomic_fetch_add(&b->epipe, 1);
	weft_wg_done(&b->wg);
}

static void blocked_send(void *arg)
{
	struct bcast *b = arg;
	long v = 1;
	if (weft_chan_send(NULL, b->tx, &v) == -EPIPE)
		atomic_fetch_add(&b->epipe, 1);
	weft_wg_done(&b->wg);
}

static void blocked_select(void *arg)
{
	struct bcast *b = arg;
	long v = 99;
	struct weft_sel c[] = { { NULL, WEFT_SEL_RECV, &v, 1 }, { b->rx, WEFT_SEL_RECV, &v, 1 } };
	if (weft_select(NULL, c, 2, false) == 1 && c[1].res == -EPIPE && v == 0)
		atomic_fetch_add(&b->epipe, 1);
	weft_wg_done(&b->wg);
}

static void broadcast_main(void *arg)
{
	struct bcast b = { .rx = mkchan(0), .tx = mkchan(1) };
	long one = 1;
	assert_int_equal(weft_chan_send(NULL, b.tx, &one), 0); /* full */
	weft_wg_init(&b.wg);
	enum { N = 20 };
	weft_wg_add(&b.wg, 3 * N);
	for (int i = 0; i < N; i++) {
		weft_go(blocked_recv, &b);
		weft_go(blocked_send, &b);
		weft_go(blocked_select, &b);
	}
	weft_sleep(NULL, 10 * WEFT_MSEC); /* let them park (the result is the same if not) */
	assert_int_equal(atomic_load(&b.epipe), 0);
	assert_int_equal(weft_chan_close(b.rx), 0);
	assert_int_equal(weft_chan_close(b.tx), 0);
	assert_int_equal(weft_wg_wait(NULL, &b.wg), 0);
	assert_int_equal(atomic_load(&b.epipe), 3 * N);
	/* the buffered value survives the close */
	long v = 0;
	assert_int_equal(weft_chan_recv(NULL, b.tx, &v), 0);
	assert_int_equal(v, 1);
	weft_chan_unref(b.rx);
	weft_chan_unref(b.tx);
}

static void test_close_broadcast(void **state)
{
	run(broadcast_main, NULL);
}

/* ---- a nil channel blocks until ctx is done ---- */
static void nil_main(void *arg)
{
	weft_ctx *ctx;
	long v = 0;
	int64_t t0 = weft_now(); /* before the ctx: its deadline counts from its creation */
	assert_int_equal(weft_ctx_with_timeout(NULL, 5 * WEFT_MSEC, &ctx), 0);
	assert_int_equal(weft_chan_recv(ctx, NULL, &v), -ETIMEDOUT);
	assert_true(weft_now() - t0 >= 4 * WEFT_MSEC);
	assert_int_equal(weft_chan_send(ctx, NULL, &v), -ETIMEDOUT);
	struct weft_sel c[] = { { NULL, WEFT_SEL_RECV, &v, 1 }, { NULL, WEFT_SEL_SEND, &v, 1 } };
	assert_int_equal(weft_select(ctx, c, 2, false), -ETIMEDOUT);
	assert_int_equal(weft_select(NULL, c, 2, true), -EAGAIN);
	assert_int_equal(weft_select(NULL, NULL, 0, true), -EAGAIN);
	weft_ctx_unref(ctx);
}

static void test_nil(void **state)
{
	run(nil_main, NULL);
}

/* ---- select ---- */
static void select_main(void *arg)
{
	weft_chan *a = mkchan(1), *b = mkchan(1), *u = mkchan(0);
	long va = 0, vb = 0, x = 42;

	/* only b is ready: b is chosen, with its value */
	assert_int_equal(weft_chan_send(NULL, b, &x), 0);
	struct weft_sel rc[] = { { a, WEFT_SEL_RECV, &va, 1 }, { b, WEFT_SEL_RECV, &vb, 1 } };
	assert_int_equal(weft_select(NULL, rc, 2, false), 1);
	assert_int_equal(rc[1].res, 0);
	assert_int_equal(vb, 42);

	/* nothing ready: default */
	assert_int_equal(weft_select(NULL, rc, 2, true), -EAGAIN);

	/* nothing ready: the timeout */
	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, 5 * WEFT_MSEC, &ctx), 0);
	assert_int_equal(weft_select(ctx, rc, 2, false), -ETIMEDOUT);
	weft_ctx_unref(ctx);
	/* the expired select left nothing behind: a send/recv pair still works */
	assert_int_equal(weft_chan_try_send(a, &x), 0);
	assert_int_equal(weft_chan_try_recv(a, &va), 0);

	/* send cases: room in a, b full; nil ones never chosen */
	assert_int_equal(weft_chan_send(NULL, b, &x), 0);
	long s1 = 7;
	struct weft_sel sc[] = { { NULL, WEFT_SEL_SEND, &s1, 1 }, { b, WEFT_SEL_SEND, &s1, 1 },
				 { a, WEFT_SEL_SEND, &s1, 1 }, { NULL, WEFT_SEL_RECV, &va, 1 } };
	assert_int_equal(weft_select(NULL, sc, 4, false), 2);
	assert_int_equal(weft_chan_len(a), 1);
	assert_int_equal(weft_chan_recv(NULL, a, &va), 0);
	assert_int_equal(va, 7);
	assert_int_equal(weft_chan_recv(NULL, b, &vb), 0);

	/* a closed channel is always ready: recv gives -EPIPE, send -EPIPE */
	weft_chan_close(u);
	struct weft_sel cc[] = { { a, WEFT_SEL_RECV, &va, 1 }, { u, WEFT_SEL_RECV, &vb, 1 } };
	assert_int_equal(weft_select(NULL, cc, 2, false), 1);
	assert_int_equal(cc[1].res, -EPIPE);
	struct weft_sel cs[] = { { u, WEFT_SEL_SEND, &x, 1 } };
	assert_int_equal(weft_select(NULL, cs, 1, true), 0);
	assert_int_equal(cs[0].res, -EPIPE);

	/* bad arguments */
	struct weft_sel bad[] = { { a, WEFT_SEL_SEND, NULL, 1 } };
	assert_int_equal(weft_select(NULL, bad, 1, true), -EINVAL);
	assert_int_equal(weft_select(NULL, NULL, 65, true), -EINVAL);

	/* one channel as both a send and a recv case: only one can happen */
	weft_chan *d = mkchan(1);
	struct weft_sel both[] = { { d, WEFT_SEL_RECV, &va, 1 }, { d, WEFT_SEL_SEND, &x, 1 } };
	assert_int_equal(weft_select(NULL, both, 2, false), 1);
	assert_int_equal(weft_select(NULL, both, 2, false), 0);
	assert_int_equal(va, 42);
	weft_chan_unref(d);
	weft_chan_unref(a);
	weft_chan_unref(b);
	weft_chan_unref(u);
}

static void test_select(void **state)
{
	run(select_main, NULL);
}

/* a parked select is completed by a later sender (recv case) or receiver (send case) */
struct selwake {
	weft_chan *a, *b;
};

static void late_sender(void *arg)
{
	struct selwake *s = arg;
	weft_sleep(NULL, 2 * WEFT_MSEC);
	long v = 11;
	assert_int_equal(weft_chan_send(NULL, s->b, &v), 0);
	/* then take what the second select sends */
	assert_int_equal(weft_chan_recv(NULL, s->a, &v), 0);
	assert_int_equal(v, 12);
}

static void select_wake_main(void *arg)
{
	struct selwake s = { mkchan(0), mkchan(0) };
	weft_go(late_sender, &s);
	long va = 0, vb = 0, out = 12;
	struct weft_sel c[] = { { s.a, WEFT_SEL_RECV, &va, 1 }, { s.b, WEFT_SEL_RECV, &vb, 1 } };
	assert_int_equal(weft_select(NULL, c, 2, false), 1);
	assert_int_equal(c[1].res, 0);
	assert_int_equal(vb, 11);
	struct weft_sel d[] = { { s.b, WEFT_SEL_RECV, &vb, 1 }, { s.a, WEFT_SEL_SEND, &out, 1 } };
	assert_int_equal(weft_select(NULL, d, 2, false), 1);
	assert_int_equal(d[1].res, 0);
	weft_chan_unref(s.a);
	weft_chan_unref(s.b);
}

static void test_select_wake(void **state)
{
	run(select_wake_main, NULL);
}

/* two always-ready channels: each chosen 45-55% of 10,000 times */
static void fairness_main(void *arg)
{
	weft_chan *a = mkchan(1), *b = mkchan(1);
	long v = 1, got;
	int hits[2] = { 0, 0 };
	weft_chan_send(NULL, a, &v);
	weft_chan_send(NULL, b, &v);
	struct weft_sel c[] = { { a, WEFT_SEL_RECV, &got, 1 }, { b, WEFT_SEL_RECV, &got, 1 } };
	for (int i = 0; i < 10000; i++) {
		int k = weft_select(NULL, c, 2, false);
		assert_true(k == 0 || k == 1);
		hits[k]++;
		assert_int_equal(weft_chan_send(NULL, c[k].ch, &v), 0);
	}
	assert_in_range(hits[0], 4500, 5500);
	assert_in_range(hits[1], 4500, 5500);
	weft_chan_unref(a);
	weft_chan_unref(b);
}

static void test_fairness(void **state)
{
	run(fairness_main, NULL);
}

/* ---- the Go guide's pipeline: generate -> square -> sum ---- */
struct stage {
	weft_chan *in, *out;
	long n;
};

static void generate(void *arg)
{
	struct stage *s = arg;
	for (long i = 1; i <= s->n; i++)
		weft_chan_send(NULL, s->out, &i);
	weft_chan_close(s->out);
}

static int square_one(void *elem, void *arg)
{
	long v = *(long *)elem * *(long *)elem;
	return weft_chan_send(NULL, arg, &v);
}

static void square(void *arg)
{
	struct stage *s = arg;
	long buf;
	assert_int_equal(weft_chan_range(NULL, s->in, square_one, s->out, &buf), 0);
	weft_chan_close(s->out);
}

static int add_one(void *elem, void *arg)
{
	*(long *)arg += *(long *)elem;
	return 0;
}

static long pipeline(size_t cap, bool squared)
{
	weft_chan *c1 = mkchan(cap), *c2 = mkchan(cap);
	struct stage g = { .out = c1, .n = 10 }, sq = { .in = c1, .out = c2 };
	weft_go(generate, &g);
	if (squared)
		weft_go(square, &sq);
	long sum = 0, buf;
	assert_int_equal(weft_chan_range(NULL, squared ? c2 : c1, add_one, &sum, &buf), 0);
	weft_chan_unref(c1);
	weft_chan_unref(c2);
	return sum;
}

static void pipeline_main(void *arg)
{
	assert_int_equal(pipeline(0, false), 55);
	assert_int_equal(pipeline(0, true), 385);
	assert_int_equal(pipeline(4, true), 385);
}

static void test_pipeline(void **state)
{
	run(pipeline_main, NULL);
}

/* range stops early with fn's value */
static int stop_at_3(void *elem, void *arg)
{
	return *(long *)elem == 3 ? 77 : 0;
}

static void range_main(void *arg)
{
	weft_chan *c = mkchan(8);
	for (long i = 1; i <= 5; i++)
		weft_chan_send(NULL, c, &i);
	long buf;
	assert_int_equal(weft_chan_range(NULL, c, stop_at_3, NULL, &buf), 77);
	assert_int_equal(weft_chan_len(c), 2);
	weft_ctx *ctx;
	weft_ctx_with_timeout(NULL, 2 * WEFT_MSEC, &ctx);
	assert_int_equal(weft_chan_range(ctx, c, add_one, &buf, &buf), -ETIMEDOUT);
	weft_ctx_unref(ctx);
	weft_chan_unref(c);
}

static void test_range(void **state)
{
	run(range_main, NULL);
}

/* ---- fan-in: N producers, one channel, every value exactly once ---- */
enum { FAN_N = 16, FAN_K = 500 };
struct fan {
	weft_chan *ch;
	atomic_int next_id;
	weft_wg wg;
};

static void producer(void *arg)
{
	struct fan *f = arg;
	long id = atomic_fetch_add(&f->next_id, 1);
	for (long i = 0; i < TEST_SCALE(FAN_K); i++) {
		long v = id * FAN_K + i;
		assert_int_equal(weft_chan_send(NULL, f->ch, &v), 0);
	}
	weft_wg_done(&f->wg);
}

static void closer(void *arg)
{
	struct fan *f = arg;
	weft_wg_wait(NULL, &f->wg);
	weft_chan_close(f->ch);
}

static void fanin_main(void *arg)
{
	struct fan f = { .ch = mkchan((size_t)(uintptr_t)arg) };
	weft_wg_init(&f.wg);
	weft_wg_add(&f.wg, FAN_N);
	for (int i = 0; i < FAN_N; i++)
		weft_go(producer, &f);
	weft_go(closer, &f);
	static unsigned char seen[FAN_N * FAN_K];
	memset(seen, 0, sizeof(seen));
	long v, n = 0;
	while (weft_chan_recv(NULL, f.ch, &v) == 0) {
		assert_in_range(v, 0, FAN_N * FAN_K - 1);
		assert_int_equal(seen[v]++, 0);
		n++;
	}
	assert_int_equal(n, FAN_N * TEST_SCALE(FAN_K));
	weft_chan_unref(f.ch);
}

static void test_fanin(void **state)
{
	run(fanin_main, (void *)0);
	run(fanin_main, (void *)5);
}

/* ---- ping-pong ---- */
static void ponger(void *arg)
{
	struct pair *p = arg;
	long v;
	while (weft_chan_recv(NULL, p->a, &v) == 0) {
		v++;
		assert_int_equal(weft_chan_send(NULL, p->b, &v), 0);
	}
	weft_chan_close(p->b);
}

static void pingpong_main(void *arg)
{
	struct pair p = { .a = mkchan(0), .b = mkchan(0) };
	weft_go(ponger, &p);
	long v = 0;
	for (int i = 0; i < TEST_SCALE(20000); i++) {
		assert_int_equal(weft_chan_send(NULL, p.a, &v), 0);
		assert_int_equal(weft_chan_recv(NULL, p.b, &v), 0);
	}
	assert_int_equal(v, TEST_SCALE(20000));
	weft_chan_close(p.a);
	assert_int_equal(weft_chan_recv(NULL, p.b, &v), -EPIPE);
	weft_chan_unref(p.a);
	weft_chan_unref(p.b);
}

static void test_pingpong(void **state)
{
	run(pingpong_main, NULL);
}

/* ---- cancellation leaves the channel consistent ---- */
struct cancel {
	weft_ctx *ctx;
	weft_chan *ch;
	int r, rs;
	weft_wg wg;
};

static void cancelled_recv(void *arg)
{
	struct cancel *c = arg;
	long v;
	c->r = weft_chan_recv(c->ctx, c->ch, &v);
	struct weft_sel s[] = { { c->ch, WEFT_SEL_RECV, &v, 1 }, { c->ch, WEFT_SEL_SEND, &v, 1 } };
	c->rs = weft_select(c->ctx, s, 2, false);
	weft_wg_done(&c->wg);
}

static void canceller(void *arg)
{
	weft_sleep(NULL, 3 * WEFT_MSEC);
	weft_ctx_cancel(arg);
}

static void peer_send(void *arg)
{
	long v = 5;
	assert_int_equal(weft_chan_send(NULL, arg, &v), 0);
}

static void cancel_main(void *arg)
{
	struct cancel c = { .ch = mkchan(0) };
	weft_wg_init(&c.wg);
	weft_wg_add(&c.wg, 1);
	assert_int_equal(weft_ctx_with_cancel(NULL, &c.ctx), 0);
	weft_go(cancelled_recv, &c);
	weft_go(canceller, c.ctx);
	assert_int_equal(weft_wg_wait(NULL, &c.wg), 0);
	assert_int_equal(c.r, -ECANCELED);
	assert_int_equal(c.rs, -ECANCELED);
	/* no stale waiter: a fresh pair meets, the value is not lost */
	assert_int_equal(weft_chan_try_send(c.ch, &(long){ 1 }), -EAGAIN);
	weft_go(peer_send, c.ch);
	long v = 0;
	assert_int_equal(weft_chan_recv(NULL, c.ch, &v), 0);
	assert_int_equal(v, 5);
	weft_ctx_unref(c.ctx);
	weft_chan_unref(c.ch);
}

static void test_cancel(void **state)
{
	run(cancel_main, NULL);
}

/* ---- stress: send/recv/select on shared channels from all procs ---- */
enum { ST_PROD = 16, ST_CONS = 12, ST_K = 2000 };
struct stress {
	weft_chan *ch[2];  /* unbuffered and cap 4 */
	atomic_long sum, count, timeouts;
	weft_wg prod, cons;
};

static void st_producer(void *arg)
{
	struct stress *s = arg;
	for (long i = 1; i <= TEST_SCALE(ST_K); i++) {
		if (i % 3 == 0) {
			assert_int_equal(weft_chan_send(NULL, s->ch[i & 1], &i), 0);
		} else {
			struct weft_sel c[] = { { s->ch[0], WEFT_SEL_SEND, &i, 1 },
						{ s->ch[1], WEFT_SEL_SEND, &i, 1 } };
			int k = weft_select(NULL, c, 2, false);
			assert_true(k == 0 || k == 1);
			assert_int_equal(c[k].res, 0);
		}
	}
	weft_wg_done(&s->prod);
}

/* kind 0: select over both; 1: plain recv on ch[0]; 2: select with short timeouts */
struct consumer {
	struct stress *s;
	int kind;
};

static void st_consumer(void *arg)
{
	struct consumer *c = arg;
	struct stress *s = c->s;
	long v, sum = 0, n = 0;
	if (c->kind == 1) {
		while (weft_chan_recv(NULL, s->ch[0], &v) == 0)
			sum += v, n++;
	} else {
		struct weft_sel sel[] = { { s->ch[0], WEFT_SEL_RECV, &v, 1 },
					  { s->ch[1], WEFT_SEL_RECV, &v, 1 } };
		while (sel[0].ch || sel[1].ch) {
			weft_ctx *ctx = NULL;
			if (c->kind == 2)
				weft_ctx_with_timeout(NULL, 200 * 1000, &ctx);
			int k = weft_select(ctx, sel, 2, false);
			weft_ctx_unref(ctx);
			if (k == -ETIMEDOUT) {
				atomic_fetch_add(&s->timeouts, 1);
				continue;
			}
			assert_true(k == 0 || k == 1);
			if (sel[k].res == -EPIPE)
				sel[k].ch = NULL;
			else
				sum += v, n++;
		}
	}
	atomic_fetch_add(&s->sum, sum);
	atomic_fetch_add(&s->count, n);
	weft_wg_done(&s->cons);
}

static void stress_main(void *arg)
{
	struct stress s = { .ch = { mkchan(0), mkchan(4) } };
	struct consumer cons[ST_CONS];
	weft_wg_init(&s.prod);
	weft_wg_init(&s.cons);
	weft_wg_add(&s.prod, ST_PROD);
	weft_wg_add(&s.cons, ST_CONS);
	for (int i = 0; i < ST_CONS; i++) {
		cons[i] = (struct consumer){ &s, i % 3 };
		weft_go(st_consumer, &cons[i]);
	}
	for (int i = 0; i < ST_PROD; i++)
		weft_go(st_producer, &s);
	assert_int_equal(weft_wg_wait(NULL, &s.prod), 0);
	weft_chan_close(s.ch[0]);
	weft_chan_close(s.ch[1]);
	assert_int_equal(weft_wg_wait(NULL, &s.cons), 0);
	long k = TEST_SCALE(ST_K);
	assert_int_equal(atomic_load(&s.count), ST_PROD * k);
	assert_int_equal(atomic_load(&s.sum), ST_PROD * k * (k + 1) / 2);
	weft_chan_unref(s.ch[0]);
	weft_chan_unref(s.ch[1]);
}

static void test_stress(void **state)
{
	run(stress_main, NULL);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_args),
		BOTH(test_spec),
		BOTH(test_rendezvous),
		BOTH(test_close_broadcast),
		BOTH(test_nil),
		BOTH(test_select),
		BOTH(test_select_wake),
		BOTH(test_fairness),
		BOTH(test_pipeline),
		BOTH(test_range),
		BOTH(test_fanin),
		BOTH(test_pingpong),
		BOTH(test_cancel),
		BOTH(test_stress),
	};
	return cmocka_run_group_tests_name("chan", table, NULL, NULL);
}
