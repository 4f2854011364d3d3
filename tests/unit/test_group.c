/* SPDX-License-Identifier: MIT */
/* test_group.c — errgroup: first error, cancellation of the rest, limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <weft/weft.h>

#include "testutil.h"


static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* ---- all succeed ---- */
static atomic_int ran;

static int ok_member(weft_ctx *ctx, void *arg)
{
	atomic_fetch_add(&ran, 1);
	return 0;
}

static void ok_main(void *arg)
{
	weft_group *g;
	assert_int_equal(weft_group_new(NULL, &g), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(weft_group_go(g, ok_member, NULL), 0);
	assert_int_equal(weft_group_wait(g), 0);
	assert_int_equal(atomic_load(&ran), 100);
	/* Wait cancels the group's ctx, as Go's does */
	assert_int_equal(weft_ctx_err(weft_group_ctx(g)), -ECANCELED);
	assert_null(weft_group_free(g));
}

static void test_group_ok(void **state)
{
	atomic_store(&ran, 0);
	run(ok_main, NULL);
}

/* ---- first error wins and cancels the others ---- */
struct errt { atomic_int saw_err[10]; };

static int waiting_member(weft_ctx *ctx, void *arg)
{
	atomic_int *saw = arg;
	int r = weft_ctx_wait(ctx);  /* until the failing member cancels the group */
	atomic_store(saw, r);
	return r;                    /* a later error: must not replace the first */
}

static int failing_member(weft_ctx *ctx, void *arg)
{
	weft_sleep(NULL, 2 * WEFT_MSEC);
	return -EIO;
}

static void err_main(void *arg)
{
	struct errt *t = arg;
	weft_ctx *parent;
	weft_ctx_with_cancel(NULL, &parent);
	weft_group *g;
	assert_int_equal(weft_group_new(parent, &g), 0);
	for (int i = 0; i < 10; i++)
		weft_group_go(g, waiting_member, &t->saw_err[i]);
	weft_group_go(g, failing_member, NULL);
	assert_int_equal(weft_group_wait(g), -EIO);
	for (int i = 0; i < 10; i++)
		assert_int_equal(atomic_load(&t->saw_err[i]), -EIO);
	assert_int_equal(weft_ctx_err(weft_group_ctx(g)), -EIO);
	assert_int_equal(weft_ctx_err(parent), 0); /* never upwards */
	weft_group_free(g);
	/* a cancelled parent reaches the members */
	assert_int_equal(weft_group_new(parent, &g), 0);
	atomic_int saw = 0;
	weft_group_go(g, waiting_member, &saw);
	weft_sleep(NULL, WEFT_MSEC);
	weft_ctx_cancel(parent);
	assert_int_equal(weft_group_wait(g), -ECANCELED);
	weft_group_free(g);
	weft_ctx_unref(parent);
}

static void test_group_first_error(void **state)
{
	struct errt t = { 0 };
	run(err_main, &t);
}

/* ---- SetLimit bounds concurrency ---- */
struct limt { atomic_int cur, max; };

static int limited_member(weft_ctx *ctx, void *arg)
{
	struct limt *t = arg;
	int n = atomic_fetch_add(&t->cur, 1) + 1;
	int m = atomic_load(&t->max);
	while (n > m && !atomic_compare_exchange_weak(&t->max, &m, n))
		;
	weft_sleep(NULL, 200 * WEFT_USEC);
	atomic_fetch_sub(&t->cur, 1);
	return 0;
}

static int gate_member(weft_ctx *ctx, void *arg)
{
	weft_ctx_wait(arg);
	return 0;
}

static void limit_main(void *arg)
{
	struct limt *t = arg;
	weft_group *g;
	weft_group_new(NULL, &g);
	assert_int_equal(weft_group_set_limit(g, 3), 0);
	/* three members parked on a gate fill the limit: try_go refuses */
	weft_ctx *gate;
	weft_ctx_with_cancel(NULL, &gate);
	for (int i = 0; i < 3; i++)
		assert_int_equal(weft_group_go(g, gate_member, gate), 0);
	assert_int_equal(weft_group_try_go(g, limited_member, t), -EAGAIN);
	assert_int_equal(weft_group_set_limit(g, 5), -EBUSY);
	weft_ctx_cancel(gate);
	for (int i = 0; i < TEST_SCALE(200) + 10; i++)
		assert_int_equal(weft_group_go(g, limited_member, t), 0);
	assert_int_equal(weft_group_wait(g), 0);
	weft_ctx_unref(gate);
#ifdef WEFT_SAN_THREAD
	/* members may not overlap fully at TSan's speed; the limit must hold */
	assert_true(atomic_load(&t->max) >= 1 && atomic_load(&t->max) <= 3);
#else
	assert_int_equal(atomic_load(&t->max), 3);
#endif
	assert_int_equal(weft_group_try_go(g, limited_member, t), 0);
	assert_int_equal(weft_group_wait(g), 0);
	assert_null(weft_group_free(g));
	assert_int_equal(weft_group_new(NULL, NULL), -EINVAL);
	assert_int_equal(weft_group_go(NULL, limited_member, t), -EINVAL);
}

static void test_group_limit(void **state)
{
	struct limt t = { 0 };
	run(limit_main, &t);
}

/* ---- free never refuses: running members are cancelled, the last frees ---- */
struct early {
	weft_wg done;      /* the members' ends, outside the group */
	atomic_int saw[4];
};

static int early_member(weft_ctx *ctx, void *arg)
{
	struct early *e = arg;
	static atomic_int next;
	int i = atomic_fetch_add(&next, 1) % 4;
	int r = weft_ctx_wait(ctx); /* until free cancels the group */
	weft_sleep(NULL, WEFT_MSEC); /* still touching the group after free returned */
	atomic_store(&e->saw[i], r);
	weft_wg_done(&e->done);
	return r;
}

static void free_early_main(void *arg)
{
	struct early *e = arg;
	weft_group *g;
	assert_int_equal(weft_group_new(NULL, &g), 0);
	weft_wg_add(&e->done, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(weft_group_go(g, early_member, e), 0);
	weft_yield();
	assert_null(weft_group_free(g));
	assert_null(weft_group_free(NULL));
	assert_int_equal(weft_wg_wait(NULL, &e->done), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(atomic_load(&e->saw[i]), -ECANCELED);
}

static void test_group_free_early(void **state)
{
	struct early e = { .saw = { 0 } };
	weft_wg_init(&e.done);
	run(free_early_main, &e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_group_ok),
		BOTH(test_group_first_error),
		BOTH(test_group_limit),
		BOTH(test_group_free_early),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
