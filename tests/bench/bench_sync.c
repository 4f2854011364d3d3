/* SPDX-License-Identifier: MIT */
/* bench_sync.c — mutex_contended_ns (8 fibers, 4,000,000 increments in
 * total, 2 procs), rwmutex_read_ns (the same with read locks),
 * sem_contended_ns (8 fibers, 1,000,000 acquire/release of one unit of a
 * 2-unit semaphore in total) and ctx_cancel_fanout_us (10,000 fibers parked
 * in weft_ctx_wait; weft_ctx_cancel until all have exited). Arguments select
 * figures by name prefix. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

#define FIBERS 8
#define TOTAL 4000000L
#define FANOUT 10000

struct mtx { weft_mutex m; long n; weft_wg wg; };

static void incr(void *arg)
{
	struct mtx *b = arg;
	for (long i = 0; i < TOTAL / FIBERS; i++) {
		weft_mutex_lock(NULL, &b->m);
		b->n++;
		weft_mutex_unlock(&b->m);
	}
	weft_wg_done(&b->wg);
}

static void mutex_main(void *arg)
{
	struct mtx *b = arg;
	weft_wg_add(&b->wg, FIBERS);
	int64_t t0 = weft_now();
	for (int i = 0; i < FIBERS; i++)
		weft_go(incr, b);
	weft_wg_wait(NULL, &b->wg);
	int64_t dt = weft_now() - t0;
	if (b->n != TOTAL) {
		fprintf(stderr, "mutex: lost updates (%ld)\n", b->n);
		exit(1);
	}
	printf("mutex_contended_ns %.1f ns\n", (double)dt / TOTAL);
}

struct rw { weft_rwmutex m; atomic_long n; weft_wg wg; };

static void reader(void *arg)
{
	struct rw *b = arg;
	long seen = 0;
	for (long i = 0; i < TOTAL / FIBERS; i++) {
		weft_rwmutex_rlock(NULL, &b->m);
		seen += atomic_load_explicit(&b->n, memory_order_relaxed);
		weft_rwmutex_runlock(&b->m);
	}
	if (seen < 0)
		abort(); /* keeps the reads */
	weft_wg_done(&b->wg);
}

static void rwmutex_main(void *arg)
{
	struct rw *b = arg;
	weft_wg_add(&b->wg, FIBERS);
	int64_t t0 = weft_now();
	for (int i = 0; i < FIBERS; i++)
		weft_go(reader, b);
	weft_wg_wait(NULL, &b->wg);
	printf("rwmutex_read_ns %.1f ns\n", (double)(weft_now() - t0) / TOTAL);
}

#define SEM_TOTAL 1000000L

struct sm { weft_sem s; atomic_long in, max_in; weft_wg wg; };

static void sem_user(void *arg)
{
	struct sm *b = arg;
	for (long i = 0; i < SEM_TOTAL / FIBERS; i++) {
		weft_sem_acquire(NULL, &b->s, 1);
		long in = atomic_fetch_add_explicit(&b->in, 1, memory_order_relaxed) + 1;
		if (in > atomic_load_explicit(&b->max_in, memory_order_relaxed))
			atomic_store_explicit(&b->max_in, in, memory_order_relaxed);
		atomic_fetch_sub_explicit(&b->in, 1, memory_order_relaxed);
		weft_sem_release(&b->s, 1);
	}
	weft_wg_done(&b->wg);
}

static void sem_main(void *arg)
{
	struct sm *b = arg;
	weft_wg_add(&b->wg, FIBERS);
	int64_t t0 = weft_now();
	for (int i = 0; i < FIBERS; i++)
		weft_go(sem_user, b);
	weft_wg_wait(NULL, &b->wg);
	int64_t dt = weft_now() - t0;
	if (atomic_load(&b->max_in) > 2) {
		fprintf(stderr, "sem: %ld holders of a 2-unit semaphore\n", atomic_load(&b->max_in));
		exit(1);
	}
	printf("sem_contended_ns %.1f ns\n", (double)dt / SEM_TOTAL);
}

struct fan { weft_ctx *ctx; weft_wg ready, done; };

static void waiter(void *arg)
{
	struct fan *f = arg;
	weft_wg_done(&f->ready);
	weft_ctx_wait(f->ctx);
	weft_wg_done(&f->done);
}

static void fanout_main(void *arg)
{
	struct fan *f = arg;
	weft_ctx_with_cancel(NULL, &f->ctx);
	weft_wg_add(&f->ready, FANOUT);
	weft_wg_add(&f->done, FANOUT);
	for (int i = 0; i < FANOUT; i++)
		weft_go(waiter, f);
	weft_wg_wait(NULL, &f->ready);
	weft_sleep(NULL, 10 * WEFT_MSEC); /* let them all park */
	int64_t t0 = weft_now();
	weft_ctx_cancel(f->ctx);
	weft_wg_wait(NULL, &f->done);
	int64_t dt = weft_now() - t0;
	printf("ctx_cancel_fanout_us %.1f us\n", dt / 1e3);
	weft_ctx_unref(f->ctx);
}

/* Arguments, if any, select figures by name prefix (as tests/bench/go does). */
static bool selected(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strncmp(name, argv[i], strlen(argv[i])))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct weft_opts o = { .procs = 2 };
	struct mtx b = { .m = WEFT_MUTEX_INIT, .wg = WEFT_WG_INIT };
	if (selected(argc, argv, "mutex_contended_ns") && weft_run(mutex_main, &b, &o) < 0)
		return 1;
	struct rw r = { .m = WEFT_RWMUTEX_INIT, .wg = WEFT_WG_INIT };
	if (selected(argc, argv, "rwmutex_read_ns") && weft_run(rwmutex_main, &r, &o) < 0)
		return 1;
	struct sm sm = { .s = WEFT_SEM_INIT(2), .wg = WEFT_WG_INIT };
	if (selected(argc, argv, "sem_contended_ns") && weft_run(sem_main, &sm, &o) < 0)
		return 1;
	struct fan f = { .ready = WEFT_WG_INIT, .done = WEFT_WG_INIT };
	if (selected(argc, argv, "ctx_cancel_fanout_us") && weft_run(fanout_main, &f, &o) < 0)
		return 1;
	return 0;
}
