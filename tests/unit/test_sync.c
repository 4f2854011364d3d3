/* SPDX-License-Identifier: MIT */
/* test_sync.c — mutex, rwmutex, once, cond, semaphore and pool. Each test
 * that involves scheduling runs with 1 and 2 procs (table at the bottom). */
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

/* ---- mutex: the Go guide's counter ---- */
struct counter {
	weft_mutex m;
	weft_wg wg;
	long n;            /* guarded by m only: a lost update shows as a wrong total */
	long per;          /* increments per fiber */
	atomic_int inside; /* fibers inside the critical section */
	atomic_int overlap;
};

static void incr(void *arg)
{
	struct counter *c = arg;
	for (long i = 0; i < c->per; i++) {
		assert_int_equal(weft_mutex_lock(NULL, &c->m), 0);
		if (atomic_fetch_add(&c->inside, 1) != 0)
			atomic_store(&c->overlap, 1);
		c->n++;
		if ((i & 63) == 0)
			weft_yield(); /* hold the lock across a switch sometimes */
		atomic_fetch_sub(&c->inside, 1);
		assert_int_equal(weft_mutex_unlock(&c->m), 0);
	}
	weft_wg_done(&c->wg);
}

static void counter_main(void *arg)
{
	struct counter *c = arg;
	long fibers = (long)c->n;
	c->n = 0;
	weft_wg_add(&c->wg, fibers);
	for (long i = 0; i < fibers; i++)
		assert_int_equal(weft_go(incr, c), 0);
	assert_int_equal(weft_wg_wait(NULL, &c->wg), 0);
}

static void test_mutex_1000(void **state)
{
	struct counter c = { .m = WEFT_MUTEX_INIT, .n = TEST_SCALE(1000), .per = 1 };
	run(counter_main, &c);
	assert_int_equal(c.n, TEST_SCALE(1000));
	assert_int_equal(atomic_load(&c.overlap), 0);
}

static void test_mutex_stress(void **state)
{
	struct counter c = { .m = WEFT_MUTEX_INIT, .n = 8, .per = TEST_SCALE(100000) };
	run(counter_main, &c);
	assert_int_equal(c.n, 8 * TEST_SCALE(100000));
	assert_int_equal(atomic_load(&c.overlap), 0);
}

static void mutex_basics(void *arg)
{
	weft_mutex m;
	weft_mutex_init(&m);
	assert_int_equal(weft_mutex_unlock(&m), -EPERM);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), -EBUSY);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), -EPERM);
	assert_int_equal(weft_mutex_lock(NULL, NULL), -EINVAL);
}

static void test_mutex_basics(void **state)
{
	run(mutex_basics, NULL);
	/* outside a fiber (mutation survivors mutex.c: try_lock(NULL) and lock_slow's -EPERM
	 * both returned 0 unnoticed) */
	weft_mutex m = WEFT_MUTEX_INIT;
	assert_int_equal(weft_mutex_try_lock(NULL), -EINVAL);
	assert_int_equal(weft_mutex_lock(NULL, &m), 0);
	assert_int_equal(weft_mutex_lock(NULL, &m), -EPERM); /* held, and no fiber to park */
	assert_int_equal(weft_mutex_unlock(&m), 0);
}

/* ---- mutex: a cancelled or timed-out lock leaves the mutex usable ---- */
struct held {
	weft_mutex m;
	weft_ctx *ctx;
	int r;
	weft_wg wg;
};

static void lock_with_ctx(void *arg)
{
	struct held *h = arg;
	h->r = weft_mutex_lock(h->ctx, &h->m);
	weft_wg_done(&h->wg);
}

static void mutex_ctx_main(void *arg)
{
	struct held h = { .m = WEFT_MUTEX_INIT, .wg = WEFT_WG_INIT };
	assert_int_equal(weft_mutex_lock(NULL, &h.m), 0);
	/* timeout while parked */
	assert_int_equal(weft_ctx_with_timeout(NULL, 10 * WEFT_MSEC, &h.ctx), 0);
	weft_wg_add(&h.wg, 1);
	weft_go(lock_with_ctx, &h);
	assert_int_equal(weft_wg_wait(NULL, &h.wg), 0);
	assert_int_equal(h.r, -ETIMEDOUT);
	h.ctx = weft_ctx_unref(h.ctx);
	/* cancel while parked */
	assert_int_equal(weft_ctx_with_cancel(NULL, &h.ctx), 0);
	weft_wg_add(&h.wg, 1);
	weft_go(lock_with_ctx, &h);
	weft_sleep(NULL, 5 * WEFT_MSEC);
	weft_ctx_cancel_err(h.ctx, -EINTR);
	assert_int_equal(weft_wg_wait(NULL, &h.wg), 0);
	assert_int_equal(h.r, -EINTR);
	/* already done: does not wait */
	assert_int_equal(weft_mutex_lock(h.ctx, &h.m), -EINTR);
	h.ctx = weft_ctx_unref(h.ctx);
	/* still usable: unlock, a background waiter gets it */
	weft_wg_add(&h.wg, 1);
	weft_go(lock_with_ctx, &h);
	weft_sleep(NULL, 2 * WEFT_MSEC);
	assert_int_equal(weft_mutex_unlock(&h.m), 0);
	assert_int_equal(weft_wg_wait(NULL, &h.wg), 0);
	assert_int_equal(h.r, 0);
	assert_int_equal(weft_mutex_unlock(&h.m), 0);
	assert_int_equal(weft_mutex_try_lock(&h.m), 0);
	assert_int_equal(weft_mutex_unlock(&h.m), 0);
}

static void test_mutex_ctx(void **state)
{
	run(mutex_ctx_main, NULL);
}

/* ---- mutex: starvation mode hands the lock to a waiter that a relocking
 * fiber would otherwise beat every time ---- */
struct starve {
	weft_mutex m;
	atomic_bool stop;
	atomic_long relocks;
	int64_t waited;
	weft_wg wg;
};

static void relocker(void *arg)
{
	struct starve *s = arg;
	while (!atomic_load(&s->stop)) {
		weft_mutex_lock(NULL, &s->m);
		atomic_fetch_add(&s->relocks, 1);
		weft_yield(); /* let the waiter run while we hold it */
		weft_mutex_unlock(&s->m);
	}
	weft_wg_done(&s->wg);
}

static void starve_main(void *arg)
{
	struct starve *s = arg;
	weft_wg_add(&s->wg, 1);
	weft_go(relocker, s);
	while (atomic_load(&s->relocks) < 10)
		weft_yield();
	int64_t t0 = weft_now();
	assert_int_equal(weft_mutex_lock(NULL, &s->m), 0);
	s->waited = weft_now() - t0;
	atomic_store(&s->stop, true);
	weft_mutex_unlock(&s->m);
	weft_wg_wait(NULL, &s->wg);
}

static void test_mutex_starvation(void **state)
{
	struct starve s = { .m = WEFT_MUTEX_INIT };
	run(starve_main, &s);
	/* starvation mode engages after 1 ms; allow plenty for slow CI */
	assert_true(s.waited < 500 * WEFT_MSEC);
}

/* ---- rwmutex ---- */
struct rw {
	weft_rwmutex rw;
	atomic_int readers, max_readers, writers, bad;
	weft_wg wg;
	long iters;
};

static void reader(void *arg)
{
	struct rw *t = arg;
	for (long i = 0; i < t->iters; i++) {
		assert_int_equal(weft_rwmutex_rlock(NULL, &t->rw), 0);
		int n = atomic_fetch_add(&t->readers, 1) + 1;
		int m = atomic_load(&t->max_readers);
		while (n > m && !atomic_compare_exchange_weak(&t->max_readers, &m, n))
			;
		if (atomic_load(&t->writers))
			atomic_store(&t->bad, 1);
		weft_sleep(NULL, 100 * WEFT_USEC); /* park while reading */
		atomic_fetch_sub(&t->readers, 1);
		assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
	}
	weft_wg_done(&t->wg);
}

static void writer(void *arg)
{
	struct rw *t = arg;
	for (long i = 0; i < t->iters; i++) {
		assert_int_equal(weft_rwmutex_lock(NULL, &t->rw), 0);
		if (atomic_fetch_add(&t->writers, 1) != 0 || atomic_load(&t->readers))
			atomic_store(&t->bad, 1);
		weft_yield();
		atomic_fetch_sub(&t->writers, 1);
		assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
	}
	weft_wg_done(&t->wg);
}

static void rw_main(void *arg)
{
	struct rw *t = arg;
	weft_wg_add(&t->wg, 10);
	for (int i = 0; i < 8; i++)
		weft_go(reader, t);
	for (int i = 0; i < 2; i++)
		weft_go(writer, t);
	weft_wg_wait(NULL, &t->wg);
	/* misuse */
	assert_int_equal(weft_rwmutex_runlock(&t->rw), -EPERM);
	assert_int_equal(weft_rwmutex_unlock(&t->rw), -EPERM);
	/* writer preference: with a writer waiting, a new reader must wait */
	assert_int_equal(weft_rwmutex_try_rlock(&t->rw), 0);
	assert_int_equal(weft_rwmutex_try_lock(&t->rw), -EBUSY);
	assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
	assert_int_equal(weft_rwmutex_try_lock(&t->rw), 0);
	assert_int_equal(weft_rwmutex_try_rlock(&t->rw), -EBUSY);
	weft_ctx *ctx;
	weft_ctx_with_timeout(NULL, 2 * WEFT_MSEC, &ctx);
	assert_int_equal(weft_rwmutex_rlock(ctx, &t->rw), -ETIMEDOUT);
	weft_ctx_unref(ctx);
	assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
}

static void test_rwmutex(void **state)
{
	struct rw t = { .rw = WEFT_RWMUTEX_INIT, .iters = 20 };
	run(rw_main, &t);
	assert_int_equal(atomic_load(&t.bad), 0);
	assert_true(atomic_load(&t.max_readers) > 1); /* readers overlapped */
}

/* Readers on the fast path (one CAS each way) and writers on the locked one,
 * on every proc at once: never a writer beside anyone, and never a writer
 * left queued once the readers are gone (a hang). */
#define RWS_READERS 6
#define RWS_WRITERS 2

struct rws {
	int nreaders, nwriters;
	weft_rwmutex rw;
	weft_wg wg;
	atomic_int readers, writers, bad;
	long shared; /* written by writers only */
};

static void rws_reader(void *arg)
{
	struct rws *t = arg;
	for (int i = 0; i < TEST_SCALE(20000); i++) {
		assert_int_equal(weft_rwmutex_rlock(NULL, &t->rw), 0);
		atomic_fetch_add(&t->readers, 1);
		if (atomic_load(&t->writers))
			atomic_store(&t->bad, 1);
		atomic_fetch_sub(&t->readers, 1);
		assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
		if (i % 512 == 0 && t->nreaders > 1)
			weft_yield();
	}
	weft_wg_done(&t->wg);
}

static void rws_writer(void *arg)
{
	struct rws *t = arg;
	for (int i = 0; i < TEST_SCALE(5000); i++) {
		assert_int_equal(weft_rwmutex_lock(NULL, &t->rw), 0);
		if (atomic_fetch_add(&t->writers, 1) || atomic_load(&t->readers))
			atomic_store(&t->bad, 1);
		t->shared++;
		atomic_fetch_sub(&t->writers, 1);
		assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
	}
	weft_wg_done(&t->wg);
}

static void rws_main(void *arg)
{
	struct rws *t = arg;
	weft_wg_add(&t->wg, t->nreaders + t->nwriters);
	for (int i = 0; i < t->nreaders + t->nwriters; i++)
		assert_int_equal(weft_go(i < t->nwriters ? rws_writer : rws_reader, t), 0);
	assert_int_equal(weft_wg_wait(NULL, &t->wg), 0);
	assert_int_equal(t->shared, t->nwriters * TEST_SCALE(5000));
	assert_int_equal(weft_rwmutex_try_lock(&t->rw), 0); /* nothing left held */
	assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
}

static void test_rwmutex_stress(void **state)
{
	/* many of each; then one of each, where the reader's count goes to 0
	 * and back all the time (a writer queueing as the last reader leaves) */
	for (int k = 0; k < 2; k++) {
		struct rws t = { .nreaders = k ? 1 : RWS_READERS, .nwriters = k ? 1 : RWS_WRITERS,
				 .rw = WEFT_RWMUTEX_INIT, .wg = WEFT_WG_INIT };
		run(rws_main, &t);
		assert_int_equal(atomic_load(&t.bad), 0);
	}
}

/* a writer waiting behind a reader blocks later readers; its giving up lets them in */
struct wpref { weft_rwmutex rw; weft_ctx *wctx; int wr, rr; atomic_int order; int w_at, r_at; weft_wg wg; };

static void pref_writer(void *arg)
{
	struct wpref *t = arg;
	t->wr = weft_rwmutex_lock(t->wctx, &t->rw);
	weft_wg_done(&t->wg);
}

static void pref_reader(void *arg)
{
	struct wpref *t = arg;
	t->rr = weft_rwmutex_rlock(NULL, &t->rw);
	t->r_at = atomic_fetch_add(&t->order, 1);
	weft_rwmutex_runlock(&t->rw);
	weft_wg_done(&t->wg);
}

static void wpref_main(void *arg)
{
	struct wpref *t = arg;
	weft_rwmutex_rlock(NULL, &t->rw);
	weft_ctx_with_cancel(NULL, &t->wctx);
	weft_wg_add(&t->wg, 2);
	weft_go(pref_writer, t);
	weft_sleep(NULL, 2 * WEFT_MSEC);
	weft_go(pref_reader, t);
	weft_sleep(NULL, 2 * WEFT_MSEC);
	assert_int_equal(atomic_load(&t->order), 0); /* reader still waits behind the writer */
	weft_ctx_cancel(t->wctx);                     /* writer gives up: reader enters */
	weft_wg_wait(NULL, &t->wg);
	assert_int_equal(t->wr, -ECANCELED);
	assert_int_equal(t->rr, 0);
	assert_int_equal(atomic_load(&t->order), 1);
	weft_rwmutex_runlock(&t->rw);
	weft_ctx_unref(t->wctx);
}

static void test_rwmutex_writer_pref(void **state)
{
	struct wpref t = { .rw = WEFT_RWMUTEX_INIT };
	run(wpref_main, &t);
}

/* ---- once ---- */
struct oncet {
	weft_once once;
	atomic_int runs, done, early;
	weft_wg wg;
};

static void once_fn(void *arg)
{
	struct oncet *t = arg;
	atomic_fetch_add(&t->runs, 1);
	weft_sleep(NULL, 5 * WEFT_MSEC); /* others must park meanwhile */
	atomic_store(&t->done, 1);
}

static void once_caller(void *arg)
{
	struct oncet *t = arg;
	int r = weft_once_do(&t->once, once_fn, t);
	assert_true(r == 0 || r == 1);
	if (!atomic_load(&t->done))
		atomic_store(&t->early, 1);
	weft_wg_done(&t->wg);
}

static void once_main(void *arg)
{
	struct oncet *t = arg;
	weft_wg_add(&t->wg, 100);
	for (int i = 0; i < 100; i++)
		weft_go(once_caller, t);
	weft_wg_wait(NULL, &t->wg);
	assert_int_equal(weft_once_do(&t->once, once_fn, t), 0);
}

static void test_once(void **state)
{
	struct oncet t = { .once = WEFT_ONCE_INIT };
	run(once_main, &t);
	assert_int_equal(atomic_load(&t.runs), 1);
	assert_int_equal(atomic_load(&t.early), 0);
}

/* ---- cond ---- */
struct condt {
	weft_mutex m;
	weft_cond c;
	int gen;           /* guarded by m */
	atomic_int woke;
	int waiting;       /* guarded by m */
	weft_wg wg;
};

static void cond_waiter(void *arg)
{
	struct condt *t = arg;
	weft_mutex_lock(NULL, &t->m);
	int gen = t->gen;
	t->waiting++;
	while (t->gen == gen)
		assert_int_equal(weft_cond_wait(NULL, &t->c, &t->m), 0);
	atomic_fetch_add(&t->woke, 1);
	weft_mutex_unlock(&t->m);
	weft_wg_done(&t->wg);
}

static void wait_for_waiting(struct condt *t, int n)
{
	for (;;) {
		weft_mutex_lock(NULL, &t->m);
		int w = t->waiting;
		weft_mutex_unlock(&t->m);
		if (w >= n)
			return;
		weft_sleep(NULL, WEFT_MSEC);
	}
}

static void cond_main(void *arg)
{
	struct condt *t = arg;
	weft_wg_add(&t->wg, 5);
	for (int i = 0; i < 5; i++)
		weft_go(cond_waiter, t);
	wait_for_waiting(t, 5);
	/* signal: exactly one wakes (bump gen each time so the woken one leaves) */
	weft_mutex_lock(NULL, &t->m);
	t->gen++;
	assert_int_equal(weft_cond_signal(&t->c), 1);
	weft_mutex_unlock(&t->m);
	weft_sleep(NULL, 10 * WEFT_MSEC);
	/* the others saw gen change only if woken: they are still parked */
	assert_int_equal(atomic_load(&t->woke), 1);
	weft_mutex_lock(NULL, &t->m);
	assert_int_equal(weft_cond_broadcast(&t->c), 4);
	weft_mutex_unlock(&t->m);
	weft_wg_wait(NULL, &t->wg);
	assert_int_equal(atomic_load(&t->woke), 5);
	assert_int_equal(weft_cond_signal(&t->c), 0);
	/* ctx: returns its error with the mutex held */
	weft_ctx *ctx;
	weft_ctx_with_timeout(NULL, 2 * WEFT_MSEC, &ctx);
	weft_mutex_lock(NULL, &t->m);
	assert_int_equal(weft_cond_wait(ctx, &t->c, &t->m), -ETIMEDOUT);
	assert_int_equal(weft_mutex_try_lock(&t->m), -EBUSY);
	assert_int_equal(weft_mutex_unlock(&t->m), 0);
	weft_ctx_unref(ctx);
}

static void test_cond(void **state)
{
	struct condt t = { .m = WEFT_MUTEX_INIT, .c = WEFT_COND_INIT };
	run(cond_main, &t);
}

/* ---- semaphore ---- */
struct semt {
	weft_sem s;
	atomic_int order;
	int big_at, small_at;
	weft_wg wg;
};

static void sem_big(void *arg)
{
	struct semt *t = arg;
	assert_int_equal(weft_sem_acquire(NULL, &t->s, 8), 0);
	t->big_at = atomic_fetch_add(&t->order, 1);
	weft_sem_release(&t->s, 8);
	weft_wg_done(&t->wg);
}

static void sem_small(void *arg)
{
	struct semt *t = arg;
	assert_int_equal(weft_sem_acquire(NULL, &t->s, 1), 0);
	t->small_at = atomic_fetch_add(&t->order, 1);
	weft_sem_release(&t->s, 1);
	weft_wg_done(&t->wg);
}

static void sem_main(void *arg)
{
	struct semt *t = arg;
	assert_int_equal(weft_sem_acquire(NULL, &t->s, 9), -EINVAL);
	assert_int_equal(weft_sem_acquire(NULL, &t->s, 3), 0);
	assert_int_equal(weft_sem_try_acquire(&t->s, 5), 0);   /* 8 of 8 */
	assert_int_equal(weft_sem_try_acquire(&t->s, 1), -EBUSY);
	assert_int_equal(weft_sem_release(&t->s, 9), -EINVAL);
	assert_int_equal(weft_sem_release(&t->s, 5), 0);       /* 3 held, 5 free */
	/* FIFO: a big request at the head blocks a small one behind it */
	weft_wg_add(&t->wg, 2);
	weft_go(sem_big, t);
	weft_sleep(NULL, 2 * WEFT_MSEC);
	weft_go(sem_small, t);
	weft_sleep(NULL, 2 * WEFT_MSEC);
	assert_int_equal(atomic_load(&t->order), 0);            /* small fits but waits */
	assert_int_equal(weft_sem_try_acquire(&t->s, 1), -EBUSY);
	/* a timed-out waiter takes nothing */
	weft_ctx *ctx;
	weft_ctx_with_timeout(NULL, 2 * WEFT_MSEC, &ctx);
	assert_int_equal(weft_sem_acquire(ctx, &t->s, 2), -ETIMEDOUT);
	weft_ctx_unref(ctx);
	weft_sem_release(&t->s, 3);
	weft_wg_wait(NULL, &t->wg);
	assert_int_equal(t->big_at, 0);
	assert_int_equal(t->small_at, 1);
	assert_int_equal(weft_sem_try_acquire(&t->s, 8), 0);   /* everything came back */
	weft_sem_release(&t->s, 8);
}

static void test_sem(void **state)
{
	struct semt t = { .s = WEFT_SEM_INIT(8) };
	run(sem_main, &t);
}

/* a cancelled head lets the ones behind it in */
static void sem_cancel_head(void *arg)
{
	weft_sem s;
	weft_sem_init(&s, 4);
	assert_int_equal(weft_sem_acquire(NULL, &s, 2), 0);
	weft_ctx *ctx;
	weft_ctx_with_timeout(NULL, 3 * WEFT_MSEC, &ctx);
	assert_int_equal(weft_sem_acquire(ctx, &s, 4), -ETIMEDOUT);
	weft_ctx_unref(ctx);
	assert_int_equal(weft_sem_try_acquire(&s, 2), 0);
}

static void test_sem_cancel_head(void **state)
{
	run(sem_cancel_head, NULL);
}

/* ---- pool ---- */
static atomic_int ctors, dtors;
static int obj_ctor(void *o, void *ud) { atomic_fetch_add(&ctors, 1); memset(o, 0x5a, 64); return 0; }
static void obj_dtor(void *o, void *ud) { atomic_fetch_add(&dtors, 1); }

struct poolt { weft_pool *p; weft_wg wg; atomic_int bad; };

static void pool_worker(void *arg)
{
	struct poolt *t = arg;
	void *objs[40];
	for (int round = 0; round < TEST_SCALE(200); round++) {
		for (int i = 0; i < 40; i++) {
			objs[i] = weft_pool_get(t->p);
			if (!objs[i] || ((unsigned char *)objs[i])[63] != 0x5a)
				atomic_store(&t->bad, 1);
		}
		for (int i = 0; i < 40; i++)
			weft_pool_put(t->p, objs[i]);
		weft_yield(); /* may migrate between rounds */
	}
	weft_wg_done(&t->wg);
}

static void pool_main(void *arg)
{
	struct poolt *t = arg;
	struct weft_pool_opts o = { .size = 64, .ctor = obj_ctor, .dtor = obj_dtor, .max_idle = 100 };
	assert_int_equal(weft_pool_new(&o, &t->p), 0);
	/* reuse on one proc: the object just put comes back */
	void *a = weft_pool_get(t->p);
	assert_non_null(a);
	assert_int_equal((uintptr_t)a % 16, 0);
	weft_pool_put(t->p, a);
	assert_ptr_equal(weft_pool_get(t->p), a);
	weft_pool_put(t->p, a);
	assert_int_equal(atomic_load(&ctors), 1);
	weft_wg_add(&t->wg, 4);
	for (int i = 0; i < 4; i++)
		weft_go(pool_worker, t);
	weft_wg_wait(NULL, &t->wg);
	/* bounded: at most 4 workers x 40 objects ever existed at once */
	assert_true(atomic_load(&ctors) <= 4 * 40 + 1);
	t->p = weft_pool_free(t->p);
	assert_int_equal(atomic_load(&ctors), atomic_load(&dtors));
}

static void test_pool(void **state)
{
	struct poolt t = { 0 };
	atomic_store(&ctors, 0);
	atomic_store(&dtors, 0);
	run(pool_main, &t);
	assert_int_equal(atomic_load(&t.bad), 0);
}

/* outside weft_run the shared list serves plain threads */
static void test_pool_thread(void **state)
{
	weft_pool *p;
	struct weft_pool_opts o = { .size = 24 };
	assert_int_equal(weft_pool_new(&o, &p), 0);
	void *a = weft_pool_get(p);
	weft_pool_put(p, a);
	assert_ptr_equal(weft_pool_get(p), a);
	weft_pool_put(p, a);
	assert_null(weft_pool_free(p));
	o.size = 0;
	assert_int_equal(weft_pool_new(&o, &p), -EINVAL);
}

/* ---- wait group: the counter outside its lock ---- */
static void wg_neg_main(void *arg)
{
	weft_wg wg = WEFT_WG_INIT;
	assert_int_equal(weft_wg_add(&wg, -1), -EINVAL); /* below 0: refused, left at 0 */
	assert_int_equal(weft_wg_wait(NULL, &wg), 0);
	assert_int_equal(weft_wg_add(&wg, 2), 0);
	assert_int_equal(weft_wg_add(&wg, -3), -EINVAL); /* left at 2 */
	assert_int_equal(weft_wg_done(&wg), 0);
	assert_int_equal(weft_wg_done(&wg), 0);
	assert_int_equal(weft_wg_done(&wg), -EINVAL);
	assert_int_equal(weft_wg_wait(NULL, &wg), 0);
	assert_int_equal(weft_wg_add(NULL, 1), -EINVAL);
}

static void test_wg_negative(void **state)
{
	run(wg_neg_main, NULL);
}

/* A count change starts from a guess (the count this proc last left in any
 * wait group): a guess that would refuse the change or take the last one's
 * path must be checked against the real count first. */
static void wg_guess_main(void *arg)
{
	weft_wg a = WEFT_WG_INIT, b = WEFT_WG_INIT;
	assert_int_equal(weft_wg_add(&b, 5), 0);
	assert_int_equal(weft_wg_add(&a, 1), 0);  /* leaves 1: the next guess */
	assert_int_equal(weft_wg_add(&b, -2), 0); /* 5 -> 3, not refused as 1 - 2 */
	assert_int_equal(weft_wg_add(&a, 6), 0);  /* leaves 7 */
	assert_int_equal(weft_wg_add(&b, -4), -EINVAL); /* 3 - 4, however 7 - 4 looks */
	assert_int_equal(weft_wg_add(&b, -3), 0); /* the last: wakes nobody, leaves 0 */
	assert_int_equal(weft_wg_wait(NULL, &b), 0);
	assert_int_equal(weft_wg_add(&a, -7), 0);
	assert_int_equal(weft_wg_wait(NULL, &a), 0);
}

static void test_wg_guess(void **state)
{
	run(wg_guess_main, NULL);
}

/* Many fibers leave one wait group at once (on every proc), round after
 * round, while several wait: a wake-up lost between the counter reaching 0
 * and a waiter queueing hangs the test. */
#define WG_ROUNDS 200
#define WG_DONERS 50

struct wgr {
	weft_wg wg, waited;
	atomic_int left;
};

static void wg_doner(void *arg)
{
	struct wgr *w = arg;
	atomic_fetch_sub(&w->left, 1);
	weft_wg_done(&w->wg);
}

static void wg_waiter(void *arg)
{
	struct wgr *w = arg;
	assert_int_equal(weft_wg_wait(NULL, &w->wg), 0);
	assert_int_equal(atomic_load(&w->left), 0);
	weft_wg_done(&w->waited);
}

static void wg_rounds_main(void *arg)
{
	for (int r = 0; r < TEST_SCALE(WG_ROUNDS); r++) {
		struct wgr w = { .wg = WEFT_WG_INIT, .waited = WEFT_WG_INIT };
		atomic_store(&w.left, WG_DONERS);
		weft_wg_add(&w.wg, WG_DONERS);
		weft_wg_add(&w.waited, 3);
		for (int i = 0; i < 3; i++)
			assert_int_equal(weft_go(wg_waiter, &w), 0);
		for (int i = 0; i < WG_DONERS; i++)
			assert_int_equal(weft_go(wg_doner, &w), 0);
		assert_int_equal(weft_wg_wait(NULL, &w.wg), 0);
		assert_int_equal(weft_wg_wait(NULL, &w.waited), 0);
	}
}

/* The waiter frees the wait group as soon as its wait returns (as
 * daemon/actions/exec.c does): the fiber whose done brought it to 0 must be
 * finished with it by then (ASan and TSan see a late touch). */
static void wg_free_doner(void *arg)
{
	weft_wg_done(arg);
}

static void wg_free_main(void *arg)
{
	for (int i = 0; i < TEST_SCALE(5000); i++) {
		weft_wg *wg = malloc(sizeof(*wg));
		assert_non_null(wg);
		weft_wg_init(wg);
		weft_wg_add(wg, 2);
		assert_int_equal(weft_go(wg_free_doner, wg), 0);
		assert_int_equal(weft_go(wg_free_doner, wg), 0);
		if (i % 2)
			weft_yield(); /* sometimes the dones come first */
		assert_int_equal(weft_wg_wait(NULL, wg), 0);
		free(wg);
	}
}

static void test_wg_free_after_wait(void **state)
{
	run(wg_free_main, NULL);
}

static void test_wg_rounds(void **state)
{
	run(wg_rounds_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_mutex_basics),
		BOTH(test_mutex_1000),
		cmocka_unit_test_prestate_setup_teardown(test_mutex_stress, set_procs, NULL, (void *)2),
		BOTH(test_mutex_ctx),
		BOTH(test_mutex_starvation),
		BOTH(test_rwmutex),
		BOTH(test_rwmutex_writer_pref),
		BOTH(test_rwmutex_stress),
		BOTH(test_once),
		BOTH(test_cond),
		BOTH(test_sem),
		BOTH(test_sem_cancel_head),
		BOTH(test_pool),
		BOTH(test_wg_negative),
		BOTH(test_wg_guess),
		BOTH(test_wg_rounds),
		BOTH(test_wg_free_after_wait),
		cmocka_unit_test(test_pool_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
