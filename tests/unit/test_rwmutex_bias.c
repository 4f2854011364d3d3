/* SPDX-License-Identifier: MIT */
/* test_rwmutex_bias.c — the rwmutex's read bias (BRAVO): a fiber's read
 * marks a slot of its own instead of the shared count while no writer has
 * come for a while. What must hold: a writer never gets in beside a biased
 * reader (it turns the bias off and waits for them), writer preference
 * stands, a runlock from another fiber releases a biased read, a writer
 * that gives up (ctx, try_lock, a plain thread) leaves the lock usable, and
 * the bias comes back after a writer only once its inhibit time is over.
 * The bias's state is read from the lock's internal fields, as documented
 * in lib/rwmutex.c (white box: the point is which path was taken). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <weft/weft.h>

#include "testutil.h"

static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

static bool biased(weft_rwmutex *rw)
{
	return atomic_load((_Atomic int *)&rw->bias) != 0;
}

static long counted(weft_rwmutex *rw)
{
	return atomic_load((_Atomic long *)&rw->readers) >> 1;
}

/* A writer holds or waits (the count's low bit). */
static bool writer_came(weft_rwmutex *rw)
{
	return atomic_load((_Atomic long *)&rw->readers) & 1;
}

/* Wait, within a bound, until cond(rw) holds. */
static bool wait_until(bool (*cond)(weft_rwmutex *), weft_rwmutex *rw)
{
	for (int i = 0; i < 5000 && !cond(rw); i++)
		weft_sleep(NULL, WEFT_MSEC);
	return cond(rw);
}

/* A counted read turns the bias on (no writer yet), and the next read is a
 * biased one: the count stays 0 while it is held. */
static void read_biased(weft_rwmutex *rw)
{
	assert_int_equal(weft_rwmutex_rlock(NULL, rw), 0);
	assert_int_equal(weft_rwmutex_runlock(rw), 0);
	assert_true(biased(rw));
	assert_int_equal(weft_rwmutex_rlock(NULL, rw), 0);
	assert_int_equal(counted(rw), 0);
}

/* ---- a writer waits for a biased reader, and writer preference holds ---- */
struct excl {
	weft_rwmutex rw;
	weft_wg wg;
	atomic_int reading, wrote, bad;
	int64_t writer_in, reader_out;
};

static void excl_writer(void *arg)
{
	struct excl *t = arg;
	assert_int_equal(weft_rwmutex_lock(NULL, &t->rw), 0);
	t->writer_in = weft_now();
	if (atomic_load(&t->reading))
		atomic_store(&t->bad, 1);
	atomic_store(&t->wrote, 1);
	assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
	weft_wg_done(&t->wg);
}

static void excl_late_reader(void *arg)
{
	struct excl *t = arg;
	assert_int_equal(weft_rwmutex_rlock(NULL, &t->rw), 0);
	if (!atomic_load(&t->wrote)) /* came after the writer: must go after it */
		atomic_store(&t->bad, 2);
	assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
	weft_wg_done(&t->wg);
}

static void excl_main(void *arg)
{
	struct excl *t = arg;
	read_biased(&t->rw);
	atomic_store(&t->reading, 1);
	assert_int_equal(weft_rwmutex_try_lock(&t->rw), -EBUSY);
	assert_true(biased(&t->rw)); /* the failed try gave the bias back */
	weft_wg_add(&t->wg, 2);
	weft_go(excl_writer, t);
	assert_true(wait_until(writer_came, &t->rw));
	weft_go(excl_late_reader, t);
	weft_sleep(NULL, 15 * WEFT_MSEC);
	assert_int_equal(atomic_load(&t->wrote), 0); /* still held by the biased read */
	atomic_store(&t->reading, 0);
	t->reader_out = weft_now();
	assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
	weft_wg_wait(NULL, &t->wg);
	assert_false(biased(&t->rw)); /* off for the inhibit time after a writer */
}

static void test_writer_waits_for_biased_reader(void **state)
{
	struct excl t = { .rw = WEFT_RWMUTEX_INIT, .wg = WEFT_WG_INIT };
	run(excl_main, &t);
	assert_int_equal(atomic_load(&t.bad), 0);
	assert_int_equal(atomic_load(&t.wrote), 1);
	assert_true(t.writer_in >= t.reader_out);
}

/* ---- a runlock from another fiber releases a biased read ---- */
struct cross {
	weft_rwmutex rw;
	weft_wg wg;
	int r;
};

static void cross_unlocker(void *arg)
{
	struct cross *t = arg;
	t->r = weft_rwmutex_runlock(&t->rw);
	weft_wg_done(&t->wg);
}

static void cross_main(void *arg)
{
	struct cross *t = arg;
	read_biased(&t->rw);
	weft_wg_add(&t->wg, 1);
	weft_go(cross_unlocker, t);
	weft_wg_wait(NULL, &t->wg);
	assert_int_equal(t->r, 0);
	assert_int_equal(weft_rwmutex_try_lock(&t->rw), 0); /* no reader left */
	assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
	assert_int_equal(weft_rwmutex_runlock(&t->rw), -EPERM); /* ours was released */
	/* and this fiber reads on the bias again once it comes back */
	weft_sleep(NULL, 3 * WEFT_MSEC);
	read_biased(&t->rw);
	assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
	assert_int_equal(weft_rwmutex_try_lock(&t->rw), 0);
	assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
}

static void test_cross_fiber_runlock(void **state)
{
	struct cross t = { .rw = WEFT_RWMUTEX_INIT, .wg = WEFT_WG_INIT };
	run(cross_main, &t);
}

/* ---- a writer whose ctx ends while biased readers hold: nothing held,
 * the readers that queued behind it get in, and the bias is back on ---- */
struct give {
	weft_rwmutex rw;
	weft_ctx *wctx;
	weft_wg wg, wdone;
	int wr, rr;
	atomic_int reader_in;
};

static void give_writer(void *arg)
{
	struct give *t = arg;
	t->wr = weft_rwmutex_lock(t->wctx, &t->rw);
	weft_wg_done(&t->wdone);
}

static void give_reader(void *arg)
{
	struct give *t = arg;
	t->rr = weft_rwmutex_rlock(NULL, &t->rw);
	atomic_store(&t->reader_in, 1);
	weft_rwmutex_runlock(&t->rw);
	weft_wg_done(&t->wg);
}

static void give_main(void *arg)
{
	struct give *t = arg;
	read_biased(&t->rw);
	weft_ctx_with_cancel(NULL, &t->wctx);
	weft_wg_add(&t->wg, 1);
	weft_wg_add(&t->wdone, 1);
	weft_go(give_writer, t);
	assert_true(wait_until(writer_came, &t->rw));
	weft_go(give_reader, t); /* behind the writer that waits */
	weft_sleep(NULL, 5 * WEFT_MSEC);
	assert_int_equal(atomic_load(&t->reader_in), 0);
	weft_ctx_cancel(t->wctx); /* the writer gives up while our biased read holds */
	weft_wg_wait(NULL, &t->wdone);
	assert_int_equal(t->wr, -ECANCELED);
	weft_wg_wait(NULL, &t->wg); /* the reader behind it got in */
	assert_int_equal(t->rr, 0);
	assert_int_equal(atomic_load(&t->reader_in), 1);
	assert_true(biased(&t->rw)); /* a writer that gave up leaves the bias on */
	assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
	weft_ctx_unref(t->wctx);
	assert_int_equal(weft_rwmutex_lock(NULL, &t->rw), 0);
	assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
}

static void test_writer_gives_up(void **state)
{
	struct give t = { .rw = WEFT_RWMUTEX_INIT, .wg = WEFT_WG_INIT, .wdone = WEFT_WG_INIT };
	run(give_main, &t);
}

/* ---- a plain thread cannot wait for a biased reader ---- */
struct plain {
	weft_rwmutex rw;
	atomic_int done;
	int try_r, lock_r;
};

static void *plain_thread(void *arg)
{
	struct plain *t = arg;
	t->try_r = weft_rwmutex_try_lock(&t->rw);
	t->lock_r = weft_rwmutex_lock(NULL, &t->rw);
	atomic_store(&t->done, 1);
	return NULL;
}

static void plain_main(void *arg)
{
	struct plain *t = arg;
	read_biased(&t->rw);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, plain_thread, t), 0);
	while (!atomic_load(&t->done))
		weft_sleep(NULL, WEFT_MSEC);
	pthread_join(th, NULL);
	assert_int_equal(t->try_r, -EBUSY);
	assert_int_equal(t->lock_r, -EPERM);
	assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
	assert_int_equal(weft_rwmutex_try_lock(&t->rw), 0);
	assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
}

static void test_plain_thread_writer(void **state)
{
	struct plain t = { .rw = WEFT_RWMUTEX_INIT };
	run(plain_main, &t);
}

/* ---- a fiber that ends holding a biased read: the read stays held (as a
 * leaked read does in Go), moved to the count; its slot does not outlive
 * it (a writer of any lock reads the header of every marked slot's fiber) */
struct leak {
	weft_rwmutex *rw;
	weft_wg *wg;
};

static void leak_reader(void *arg)
{
	struct leak *l = arg;
	read_biased(l->rw); /* and ends without runlock */
	weft_wg_done(l->wg);
}

static void leak_main(void *arg)
{
	weft_rwmutex *rw = arg;
	weft_wg wg = WEFT_WG_INIT;
	weft_wg_add(&wg, 1);
	struct leak l = { rw, &wg };
	weft_go(leak_reader, &l);
	weft_wg_wait(NULL, &wg);
	for (int i = 0; i < 1000 && counted(rw) == 0; i++) /* until its end moved the read */
		weft_sleep(NULL, WEFT_MSEC);
	assert_int_equal(counted(rw), 1);
	assert_int_equal(weft_rwmutex_try_lock(rw), -EBUSY);
	assert_int_equal(weft_rwmutex_runlock(rw), 0); /* released for it, from here */
	assert_int_equal(weft_rwmutex_try_lock(rw), 0);
	assert_int_equal(weft_rwmutex_unlock(rw), 0);
}

static void test_leaked_read(void **state)
{
	weft_rwmutex rw = WEFT_RWMUTEX_INIT;
	run(leak_main, &rw);
	/* after the scheduler and its stacks are gone, a writer's scan still
	 * works: no slot points into them */
	assert_int_equal(weft_rwmutex_try_lock(&rw), 0);
	assert_int_equal(weft_rwmutex_unlock(&rw), 0);
	weft_rwmutex other = WEFT_RWMUTEX_INIT;
	atomic_store((_Atomic int *)&other.bias, 1);
	assert_int_equal(weft_rwmutex_try_lock(&other), 0); /* scans the whole table */
	assert_int_equal(weft_rwmutex_unlock(&other), 0);
}

/* ---- the bias comes back after a writer, not before its inhibit time ---- */
static void back_main(void *arg)
{
	weft_rwmutex *rw = arg;
	read_biased(rw);
	assert_int_equal(weft_rwmutex_runlock(rw), 0);
	int64_t t0 = weft_now();
	assert_int_equal(weft_rwmutex_lock(NULL, rw), 0);
	assert_false(biased(rw));
	assert_int_equal(weft_rwmutex_unlock(rw), 0);
	long until = atomic_load((_Atomic long *)&rw->inhibit);
	assert_true(until >= t0 + WEFT_MSEC); /* at least 1 ms without bias */
	assert_int_equal(weft_rwmutex_rlock(NULL, rw), 0);
	assert_int_equal(counted(rw), 1);
	int64_t t1 = weft_now();
	assert_int_equal(weft_rwmutex_runlock(rw), 0);
	if (t1 < until) /* within the inhibit time (a slow machine may be past it) */
		assert_false(biased(rw));
	weft_sleep(NULL, until - weft_now() + WEFT_MSEC);
	read_biased(rw);
	assert_int_equal(weft_rwmutex_runlock(rw), 0);
}

static void test_bias_returns(void **state)
{
	weft_rwmutex rw = WEFT_RWMUTEX_INIT;
	run(back_main, &rw);
}

/* ---- many readers on the bias, writers now and then, every proc: never
 * a writer beside a reader ---- */
#define ST_READERS 6
#define ST_WRITES 40

struct stress {
	weft_rwmutex rw;
	weft_wg wg;
	atomic_int readers, writers, bad, stop;
	atomic_long reads;
	long shared;
};

static void st_reader(void *arg)
{
	struct stress *t = arg;
	long seen = 0, n = 0;
	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		assert_int_equal(weft_rwmutex_rlock(NULL, &t->rw), 0);
		atomic_fetch_add(&t->readers, 1);
		if (atomic_load(&t->writers))
			atomic_store(&t->bad, 1);
		seen += t->shared;
		atomic_fetch_sub(&t->readers, 1);
		assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
		if (++n % 64 == 0)
			weft_yield();
	}
	atomic_fetch_add(&t->reads, n);
	assert_true(seen >= 0);
	weft_wg_done(&t->wg);
}

static void st_main(void *arg)
{
	struct stress *t = arg;
	weft_wg_add(&t->wg, ST_READERS);
	for (int i = 0; i < ST_READERS; i++)
		weft_go(st_reader, t);
	for (int i = 0; i < ST_WRITES; i++) {
		weft_sleep(NULL, 2 * WEFT_MSEC); /* past the inhibit time: readers go biased again */
		assert_int_equal(weft_rwmutex_lock(NULL, &t->rw), 0);
		atomic_fetch_add(&t->writers, 1);
		if (atomic_load(&t->readers))
			atomic_store(&t->bad, 2);
		t->shared++;
		weft_yield(); /* let readers try to slip in */
		if (atomic_load(&t->readers))
			atomic_store(&t->bad, 3);
		atomic_fetch_sub(&t->writers, 1);
		assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
	}
	atomic_store(&t->stop, 1);
	weft_wg_wait(NULL, &t->wg);
}

static void test_stress(void **state)
{
	struct stress t = { .rw = WEFT_RWMUTEX_INIT, .wg = WEFT_WG_INIT };
	run(st_main, &t);
	assert_int_equal(atomic_load(&t.bad), 0);
	assert_int_equal(t.shared, ST_WRITES);
	assert_true(atomic_load(&t.reads) > 0);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		BOTH(test_writer_waits_for_biased_reader),
		BOTH(test_cross_fiber_runlock),
		BOTH(test_writer_gives_up),
		BOTH(test_plain_thread_writer),
		BOTH(test_leaked_read),
		BOTH(test_bias_returns),
		BOTH(test_stress),
	};
	return cmocka_run_group_tests_name("rwmutex_bias", table, NULL, NULL);
}
