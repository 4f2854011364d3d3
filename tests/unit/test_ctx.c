/* SPDX-License-Identifier: MIT */
/* test_ctx.c — contexts: cancel trees, deadlines, values, reference counts
 * (the ASan build's leak check covers them), and cancellation reaching many
 * parked fibers on every proc. Run with 1 and 2 procs (table at the bottom). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft/weft.h>

#include "testutil.h"


static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* ---- the cancel tree: parents cancel descendants, never the reverse ---- */
static void tree_main(void *arg)
{
	weft_ctx *root, *a, *b, *c, *bv, *d;
	static const weft_ctx_key k;
	assert_int_equal(weft_ctx_with_cancel(NULL, &root), 0);
	assert_int_equal(weft_ctx_with_cancel(root, &a), 0);
	assert_int_equal(weft_ctx_with_value(a, &k, NULL, &bv), 0);
	assert_int_equal(weft_ctx_with_cancel(bv, &b), 0); /* a cancellable child under a value ctx */
	assert_int_equal(weft_ctx_with_cancel(root, &c), 0);
	assert_int_equal(weft_ctx_with_cancel(b, &d), 0);

	weft_ctx_cancel(d); /* a leaf: nobody above notices */
	assert_int_equal(weft_ctx_err(d), -ECANCELED);
	assert_int_equal(weft_ctx_err(b), 0);
	assert_int_equal(weft_ctx_err(a), 0);
	assert_int_equal(weft_ctx_err(root), 0);

	weft_ctx_cancel_err(a, -EPIPE); /* a's subtree, with a's error */
	assert_int_equal(weft_ctx_err(a), -EPIPE);
	assert_int_equal(weft_ctx_err(bv), -EPIPE);
	assert_int_equal(weft_ctx_err(b), -EPIPE);
	assert_int_equal(weft_ctx_err(d), -ECANCELED); /* first error sticks */
	assert_int_equal(weft_ctx_err(root), 0);
	assert_int_equal(weft_ctx_err(c), 0);

	weft_ctx_cancel(a); /* idempotent */
	assert_int_equal(weft_ctx_err(a), -EPIPE);

	/* a child derived from a done parent is born done */
	weft_ctx *late;
	assert_int_equal(weft_ctx_with_cancel(b, &late), 0);
	assert_int_equal(weft_ctx_err(late), -EPIPE);
	weft_ctx_unref(late);

	weft_ctx_cancel(root);
	assert_int_equal(weft_ctx_err(c), -ECANCELED);
	weft_ctx_cancel(NULL); /* no-op */
	weft_ctx_cancel(bv);   /* no-op on value contexts */
	/* unref in an order where parents go first: children keep them alive */
	weft_ctx_unref(root);
	weft_ctx_unref(a);
	weft_ctx_unref(bv);
	assert_int_equal(weft_ctx_err(d), -ECANCELED);
	weft_ctx_unref(c);
	weft_ctx_unref(b);
	weft_ctx_unref(d);
	assert_null(weft_ctx_unref(NULL));
}

static void test_tree(void **state)
{
	run(tree_main, NULL);
}

/* ---- deadlines ---- */
static void deadline_main(void *arg)
{
	weft_ctx *c, *parent, *child;
	int64_t t0 = weft_now();
	assert_int_equal(weft_ctx_with_timeout(NULL, 20 * WEFT_MSEC, &c), 0);
	assert_true(weft_ctx_deadline(c) >= t0 + 20 * WEFT_MSEC);
	assert_int_equal(weft_ctx_err(c), 0);
	assert_int_equal(weft_ctx_wait(c), -ETIMEDOUT);
	assert_true(weft_now() - t0 >= 20 * WEFT_MSEC);
	assert_int_equal(weft_ctx_err(c), -ETIMEDOUT);
	weft_ctx_unref(c);

	/* a deadline in the past: born done */
	assert_int_equal(weft_ctx_with_deadline(NULL, weft_now() - 1, &c), 0);
	assert_int_equal(weft_ctx_err(c), -ETIMEDOUT);
	weft_ctx_unref(c);

	/* nearest deadline wins: the parent's earlier one */
	t0 = weft_now();
	assert_int_equal(weft_ctx_with_timeout(NULL, 20 * WEFT_MSEC, &parent), 0);
	assert_int_equal(weft_ctx_with_timeout(parent, 10 * WEFT_SEC, &child), 0);
	assert_int_equal(weft_ctx_deadline(child), weft_ctx_deadline(parent));
	assert_int_equal(weft_ctx_wait(child), -ETIMEDOUT);
	assert_true(weft_now() - t0 < 2 * WEFT_SEC);
	weft_ctx_unref(child);
	weft_ctx_unref(parent);

	/* ... and the child's earlier one, leaving the parent live */
	assert_int_equal(weft_ctx_with_timeout(NULL, 10 * WEFT_SEC, &parent), 0);
	assert_int_equal(weft_ctx_with_timeout(parent, 20 * WEFT_MSEC, &child), 0);
	assert_true(weft_ctx_deadline(child) < weft_ctx_deadline(parent));
	assert_int_equal(weft_ctx_wait(child), -ETIMEDOUT);
	assert_int_equal(weft_ctx_err(parent), 0);
	weft_ctx_unref(child);
	/* a value ctx inherits the deadline */
	static const weft_ctx_key k;
	weft_ctx *v;
	assert_int_equal(weft_ctx_with_value(parent, &k, NULL, &v), 0);
	assert_int_equal(weft_ctx_deadline(v), weft_ctx_deadline(parent));
	weft_ctx_unref(v);
	/* unref before the deadline: the timer goes with it (no use after free
	 * when it would have fired) */
	weft_ctx_unref(parent);
	assert_int_equal(weft_ctx_with_timeout(NULL, 5 * WEFT_MSEC, &c), 0);
	weft_ctx_unref(c);
	weft_sleep(NULL, 20 * WEFT_MSEC);
	assert_int_equal(weft_ctx_deadline(NULL), INT64_MAX);
}

static void test_deadline(void **state)
{
	run(deadline_main, NULL);
}

/* a slow operation under a timeout returns -ETIMEDOUT at the deadline */
struct slow {
	int64_t timeout;
};

static void slow_main(void *arg)
{
	struct slow *sl = arg;
	weft_ctx *c;
	int64_t t0 = weft_now();
	assert_int_equal(weft_ctx_with_timeout(NULL, sl->timeout, &c), 0);
	assert_int_equal(weft_sleep(c, 60 * WEFT_SEC), -ETIMEDOUT);
	int64_t took = weft_now() - t0;
	assert_true(took >= sl->timeout);
	assert_true(took < sl->timeout + 1 * WEFT_SEC);
	weft_ctx_unref(c);
	/* the same through a read that never completes */
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	t0 = weft_now();
	assert_int_equal(weft_ctx_with_timeout(NULL, sl->timeout, &c), 0);
	char b;
	assert_int_equal(weft_read(c, fds[0], &b, 1, -1), -ETIMEDOUT);
	took = weft_now() - t0;
	assert_true(took >= sl->timeout);
	assert_true(took < sl->timeout + 1 * WEFT_SEC);
	weft_ctx_unref(c);
	close(fds[0]);
	close(fds[1]);
}

static void test_slow_op_timeout(void **state)
{
	struct slow sl = { 200 * WEFT_MSEC };
	run(slow_main, &sl);
}

static void test_slow_op_timeout_2s(void **state)
{
	struct slow sl = { 2 * WEFT_SEC };
	run(slow_main, &sl);
}

/* ---- values ---- */
static void values_main(void *arg)
{
	static const weft_ctx_key k1, k2, k3;
	int v1 = 1, v2 = 2, v1b = 11;
	weft_ctx *a, *b, *cc, *d;
	assert_int_equal(weft_ctx_with_value(NULL, &k1, &v1, &a), 0);
	assert_int_equal(weft_ctx_with_value(a, &k2, &v2, &b), 0);
	assert_int_equal(weft_ctx_with_cancel(b, &cc), 0); /* values pass through cancel contexts */
	assert_int_equal(weft_ctx_with_value(cc, &k1, &v1b, &d), 0); /* shadows k1 */
	assert_ptr_equal(weft_ctx_value(d, &k1), &v1b);
	assert_ptr_equal(weft_ctx_value(d, &k2), &v2);
	assert_ptr_equal(weft_ctx_value(cc, &k1), &v1);
	assert_ptr_equal(weft_ctx_value(a, &k1), &v1);
	assert_null(weft_ctx_value(a, &k2));
	assert_null(weft_ctx_value(d, &k3));
	assert_null(weft_ctx_value(NULL, &k1));
	assert_null(weft_ctx_value(d, NULL));
	weft_ctx *bad = (weft_ctx *)&v1;
	assert_int_equal(weft_ctx_with_value(a, NULL, &v1, &bad), -EINVAL);
	/* a value ctx under a cancellable one is done with it */
	assert_int_equal(weft_ctx_err(d), 0);
	weft_ctx_cancel(cc);
	assert_int_equal(weft_ctx_err(d), -ECANCELED);
	assert_int_equal(weft_ctx_wait(d), -ECANCELED);
	assert_int_equal(weft_ctx_err(b), 0); /* values above are never done */
	weft_ctx_unref(d);
	weft_ctx_unref(cc);
	weft_ctx_unref(b);
	weft_ctx_unref(a);
}

static void test_values(void **state)
{
	run(values_main, NULL);
}

/* ---- cancel reaches many parked fibers, on every proc ---- */
#define FANOUT 10000

struct fan {
	weft_ctx *ctx, *leaf_parent;
	weft_wg started, done;
	atomic_int cancelled, on_proc[64];
};

static void fan_waiter(void *arg)
{
	struct fan *f = arg;
	weft_ctx *mine;
	/* half wait on their own child ctx: the cancel must travel down the tree */
	bool own = weft_fiber_id(weft_self()) % 2;
	if (own)
		assert_int_equal(weft_ctx_with_cancel(f->ctx, &mine), 0);
	else
		mine = weft_ctx_ref(f->ctx);
	atomic_fetch_add(&f->on_proc[weft_proc_id()], 1);
	weft_wg_done(&f->started);
	int r = weft_ctx_wait(mine);
	if (r == -ECANCELED)
		atomic_fetch_add(&f->cancelled, 1);
	weft_ctx_unref(mine);
	weft_wg_done(&f->done);
}

static void fan_main(void *arg)
{
	struct fan *f = arg;
	int n = TEST_SCALE(FANOUT);
	assert_int_equal(weft_ctx_with_cancel(NULL, &f->ctx), 0);
	weft_wg_init(&f->started);
	weft_wg_init(&f->done);
	weft_wg_add(&f->started, n);
	weft_wg_add(&f->done, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(weft_go(fan_waiter, f), 0);
	assert_int_equal(weft_wg_wait(NULL, &f->started), 0);
	weft_sleep(NULL, 5 * WEFT_MSEC); /* let them all park */
	assert_int_equal(atomic_load(&f->cancelled), 0);
	int64_t t0 = weft_now();
	weft_ctx_cancel(f->ctx);
	assert_int_equal(weft_wg_wait(NULL, &f->done), 0);
	print_message("cancel fan-out to %d fibers: %.2f ms\n", n, (weft_now() - t0) / 1e6);
	assert_int_equal(atomic_load(&f->cancelled), n);
	weft_ctx_unref(f->ctx);
}

static void test_cancel_fanout(void **state)
{
	struct fan f;
	/* With 2 procs the cancel should reach fibers parked on both; where they
	 * park is up to stealing and timing, so retry until they spread (every
	 * run checks that all were cancelled). */
	for (int tries = 0; tries < 10; tries++) {
		memset(&f, 0, sizeof(f));
		run(fan_main, &f);
		if (g_procs == 1 || (atomic_load(&f.on_proc[0]) > 0 && atomic_load(&f.on_proc[1]) > 0))
			break;
	}
	if (g_procs > 1)
		assert_true(atomic_load(&f.on_proc[0]) > 0 && atomic_load(&f.on_proc[1]) > 0);
}

/* ---- a plain thread cancels many waiters, some pinned ----
 * The cancel queues the waiters in chunks on the global queue without a
 * proc of its own (no local queue, no proc to skip when waking idle ones);
 * a pinned waiter goes to its own proc's inbox instead. */
#define THREAD_FANOUT 1000

struct tfan {
	weft_ctx *ctx;
	weft_wg started, done;
	atomic_int cancelled;
};

static void tfan_waiter(void *arg)
{
	struct tfan *t = arg;
	weft_wg_done(&t->started);
	if (weft_ctx_wait(t->ctx) == -ECANCELED)
		atomic_fetch_add(&t->cancelled, 1);
	weft_wg_done(&t->done);
}

static void *tfan_canceller(void *arg)
{
	weft_ctx_cancel(arg);
	return NULL;
}

static void tfan_main(void *arg)
{
	struct tfan *t = arg;
	assert_int_equal(weft_ctx_with_cancel(NULL, &t->ctx), 0);
	weft_wg_add(&t->started, THREAD_FANOUT);
	weft_wg_add(&t->done, THREAD_FANOUT);
	for (int i = 0; i < THREAD_FANOUT; i++) {
		struct weft_go_opts o = { .pin = i % 7 == 0 };
		assert_int_equal(weft_go_opts(tfan_waiter, t, &o), 0);
	}
	assert_int_equal(weft_wg_wait(NULL, &t->started), 0);
	weft_sleep(NULL, 5 * WEFT_MSEC); /* let them all park */
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, tfan_canceller, t->ctx), 0);
	assert_int_equal(weft_wg_wait(NULL, &t->done), 0);
	assert_int_equal(atomic_load(&t->cancelled), THREAD_FANOUT);
	pthread_join(th, NULL); /* blocks this proc briefly: the cancel has returned */
	weft_ctx_unref(t->ctx);
}

static void test_cancel_from_thread(void **state)
{
	struct tfan t = { .started = WEFT_WG_INIT, .done = WEFT_WG_INIT };
	run(tfan_main, &t);
}

/* ---- done before the wait; sleeps under a cancelled ctx; cancel from another proc ---- */
static void canceller(void *arg)
{
	weft_sleep(NULL, 10 * WEFT_MSEC);
	weft_ctx_cancel(arg);
}

static void early_main(void *arg)
{
	weft_ctx *c;
	assert_int_equal(weft_ctx_with_cancel(NULL, &c), 0);
	weft_ctx_cancel(c);
	int64_t t0 = weft_now();
	assert_int_equal(weft_ctx_wait(c), -ECANCELED);
	assert_int_equal(weft_sleep(c, 10 * WEFT_SEC), -ECANCELED);
	assert_int_equal(weft_sleep(c, 0), -ECANCELED);
	assert_int_equal(weft_sleep_until(c, 0), -ECANCELED);
	weft_wg wg;
	weft_wg_init(&wg);
	weft_wg_add(&wg, 1);
	assert_int_equal(weft_wg_wait(c, &wg), -ECANCELED);
	assert_true(weft_now() - t0 < WEFT_SEC);
	weft_ctx_unref(c);

	/* cancelled while sleeping, by a fiber that may run on another proc */
	assert_int_equal(weft_ctx_with_cancel(NULL, &c), 0);
	assert_int_equal(weft_go(canceller, c), 0);
	t0 = weft_now();
	assert_int_equal(weft_sleep(c, 10 * WEFT_SEC), -ECANCELED);
	assert_true(weft_now() - t0 < 2 * WEFT_SEC);
	/* and while waiting on a wg; the wg is still usable afterwards */
	weft_ctx *c2;
	assert_int_equal(weft_ctx_with_cancel(NULL, &c2), 0);
	assert_int_equal(weft_go(canceller, c2), 0);
	assert_int_equal(weft_wg_wait(c2, &wg), -ECANCELED);
	assert_int_equal(weft_wg_done(&wg), 0);
	assert_int_equal(weft_wg_wait(NULL, &wg), 0);
	weft_sleep(NULL, 20 * WEFT_MSEC); /* the canceller has finished with c */
	weft_ctx_unref(c);
	weft_ctx_unref(c2);
}

static void test_done_before_wait(void **state)
{
	run(early_main, NULL);
}

/* ---- contexts used from a plain thread (the header says it is safe) ---- */
static void test_plain_thread(void **state)
{
	weft_ctx *c, *k;
	assert_int_equal(weft_ctx_with_cancel(NULL, &c), 0);
	assert_int_equal(weft_ctx_with_cancel(c, &k), 0);
	weft_ctx_cancel(c);
	assert_int_equal(weft_ctx_err(k), -ECANCELED);
	assert_int_equal(weft_ctx_wait(k), -EPERM);
	weft_ctx_unref(k);
	weft_ctx_unref(c);
	/* a deadline outside a scheduler: no proc to own its timer */
	int r = weft_ctx_with_timeout(NULL, WEFT_SEC, &c);
	if (r == 0) {
		weft_ctx_unref(c);
	} else {
		assert_int_equal(r, -EPERM);
	}
}

/* ---- the deadline timer runs on the creating proc; the ctx is dropped on another ---- */
struct xdrop {
	weft_ctx *c;
	weft_wg wg;
};

static void xdropper(void *arg)
{
	struct xdrop *x = arg;
	assert_int_equal(weft_ctx_wait(x->c), -ETIMEDOUT);
	weft_ctx_unref(x->c);
	weft_wg_done(&x->wg);
}

static void xdrop_main(void *arg)
{
	for (int i = 0; i < TEST_SCALE(200); i++) {
		struct xdrop x;
		weft_wg_init(&x.wg);
		weft_wg_add(&x.wg, 1);
		assert_int_equal(weft_ctx_with_timeout(NULL, (i % 3) * 100 * WEFT_USEC, &x.c), 0);
		assert_int_equal(weft_go(xdropper, &x), 0);
		assert_int_equal(weft_wg_wait(NULL, &x.wg), 0);
	}
}

static void test_cross_proc_drop(void **state)
{
	run(xdrop_main, NULL);
}

/* ---- a cancel under a thousand waiters: every one wakes, exactly once ----
 * Some are pinned (woken through their proc's inbox, not the batches). The
 * last quarter also wait on a channel each, and half of those get a value
 * first, in a shuffled order: their watches leave the ctx's array from the
 * middle, others moving into their slots and leaving again from there. */
#define MANY_WAITERS 1000
#define MANY_CHANS (MANY_WAITERS / 4)

struct many {
	weft_ctx *ctx;
	weft_chan *ch[MANY_CHANS];
	weft_wg parked, done;
	atomic_int next_chan;
	atomic_int canceled, got, other;
};

static void many_waiter(void *arg)
{
	struct many *m = arg;
	weft_wg_done(&m->parked);
	int r = weft_ctx_wait(m->ctx);
	atomic_fetch_add(r == -ECANCELED ? &m->canceled : &m->other, 1);
	weft_wg_done(&m->done);
}

static void many_chan_waiter(void *arg)
{
	struct many *m = arg;
	int v, i = atomic_fetch_add(&m->next_chan, 1);
	weft_wg_done(&m->parked);
	int r = weft_chan_recv(m->ctx, m->ch[i], &v);
	atomic_fetch_add(r == 0 ? &m->got : r == -ECANCELED ? &m->canceled : &m->other, 1);
	weft_wg_done(&m->done);
}

static void many_main(void *arg)
{
	struct many *m = arg;
	weft_ctx_with_cancel(NULL, &m->ctx);
	for (int i = 0; i < MANY_CHANS; i++)
		assert_int_equal(weft_chan_new(sizeof(int), 1, &m->ch[i]), 0);
	weft_wg_init(&m->parked);
	weft_wg_init(&m->done);
	weft_wg_add(&m->parked, MANY_WAITERS);
	weft_wg_add(&m->done, MANY_WAITERS);
	for (int i = 0; i < MANY_WAITERS; i++) {
		struct weft_go_opts o = { .pin = i % 7 == 0 };
		bool chan = i >= MANY_WAITERS - MANY_CHANS;
		assert_int_equal(weft_go_opts(chan ? many_chan_waiter : many_waiter, m, &o), 0);
	}
	weft_wg_wait(NULL, &m->parked);
	weft_sleep(NULL, 20 * WEFT_MSEC); /* parked by now, most of them */
	for (int k = 0; k < MANY_CHANS / 2; k++) {
		int v = k, i = (k * 37) % MANY_CHANS; /* 37 is prime to 250: no repeats */
		assert_int_equal(weft_chan_send(NULL, m->ch[i], &v), 0);
		if (k % 16 == 0)
			weft_sleep(NULL, WEFT_MSEC); /* let some of them leave before the next */
	}
	weft_sleep(NULL, 10 * WEFT_MSEC);
	weft_ctx_cancel(m->ctx);
	weft_ctx *limit;
	weft_ctx_with_timeout(NULL, 10 * WEFT_SEC, &limit);
	assert_int_equal(weft_wg_wait(limit, &m->done), 0);
	weft_ctx_unref(limit);
	for (int i = 0; i < MANY_CHANS; i++)
		weft_chan_unref(m->ch[i]);
	weft_ctx_unref(m->ctx);
}

static void test_cancel_many(void **state)
{
	struct many *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	run(many_main, m);
	assert_int_equal(atomic_load(&m->other), 0);
	/* a value sent just as the cancel came may be left unreceived */
	assert_true(atomic_load(&m->got) >= MANY_CHANS / 2 - 1);
	assert_int_equal(atomic_load(&m->got) + atomic_load(&m->canceled), MANY_WAITERS);
	free(m);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_plain_thread),
		BOTH(test_tree),
		BOTH(test_cancel_many),
		BOTH(test_deadline),
		BOTH(test_values),
		BOTH(test_cancel_fanout),
		BOTH(test_cancel_from_thread),
		BOTH(test_done_before_wait),
		BOTH(test_slow_op_timeout),
		BOTH(test_cross_proc_drop),
		cmocka_unit_test_prestate_setup_teardown(test_slow_op_timeout_2s, set_procs, NULL, (void *)2),
	};
	return cmocka_run_group_tests_name("ctx", table, NULL, NULL);
}
