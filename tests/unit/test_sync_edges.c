/* SPDX-License-Identifier: MIT */
/* test_sync_edges.c — sync behaviour that mutation testing (make mutate) found
 * unchecked: the mutex leaving starvation mode once its queue drains, a woken
 * waiter that gives up, init over reused memory; the semaphore outside a fiber;
 * the last ctx unref freeing the context. Public API only (<weft/weft.h>).
 *
 * A waiter's place is observed, not assumed: the test waits until the fiber
 * dump shows it parked. These run on one proc, where "unlock readies the
 * waiter, the unlocking fiber goes on" is deterministic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <weft/weft.h>

#include "testutil.h"

#ifdef WEFT_SAN_THREAD
#define SLOW 3
#else
#define SLOW 1
#endif
#define PARK_WAIT (5 * SLOW * WEFT_SEC)

static void run1(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = 1 };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* True if the fiber named `name` is parked on `reason` (the fiber dump's line). */
static bool parked_on(const char *name, const char *reason)
{
	int fd = memfd_create("weft-dump", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(weft_dump_fibers(fd) > 0);
	off_t len = lseek(fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
	close(fd);
	char quoted[48], state[48];
	snprintf(quoted, sizeof(quoted), " '%s' ", name);
	snprintf(state, sizeof(state), " parked on %s ", reason);
	bool found = false;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save))
		found = strstr(line, quoted) && strstr(line, state);
	free(buf);
	return found;
}

static void await_parked(const char *name, const char *reason)
{
	int64_t end = weft_now() + PARK_WAIT;
	while (!parked_on(name, reason)) {
		if (weft_now() > end)
			fail_msg("%s never parked on %s", name, reason);
		weft_sleep(NULL, 50 * WEFT_USEC); /* pacing the poll, not ordering */
	}
}

static void await_flag(atomic_bool *f, const char *what)
{
	int64_t end = weft_now() + PARK_WAIT;
	while (!atomic_load(f)) {
		if (weft_now() > end)
			fail_msg("%s: not after %lld ms", what, (long long)(PARK_WAIT / WEFT_MSEC));
		weft_sleep(NULL, 50 * WEFT_USEC);
	}
}

static void go_named(weft_fn fn, void *arg, const char *name)
{
	assert_int_equal(weft_go_opts(fn, arg, &(struct weft_go_opts){ .name = name }), 0);
}

/* ---- mutex: starvation mode lasts "until the queue drains" ----
 * W waits over 1 ms, is woken, loses to main barging in, and requeues: the
 * mutex is starving. The next unlock hands m to W (try_lock right after it
 * fails: ownership moved). W's queue is then empty: starvation is over. N
 * queues behind W; when m is unlocked, normal mode lets a newcomer (main's
 * try_lock) take it before N runs. Still starving, the unlock would hand m to
 * N instead. */
struct starve {
	weft_mutex m;
	atomic_bool w_in, n_in;
	int w_r, n_r;
};

static void starve_w(void *arg)
{
	struct starve *t = arg;
	t->w_r = weft_mutex_lock(NULL, &t->m);
	atomic_store(&t->w_in, true); /* ends holding m: main unlocks for it (not owned) */
}

static void starve_n(void *arg)
{
	struct starve *t = arg;
	t->n_r = weft_mutex_lock(NULL, &t->m);
	atomic_store(&t->n_in, true);
}

static void starve_main(void *arg)
{
	struct starve *t = arg;
	assert_int_equal(weft_mutex_lock(NULL, &t->m), 0);
	go_named(starve_w, t, "starve-w");
	await_parked("starve-w", "mutex");
	weft_sleep(NULL, 3 * WEFT_MSEC); /* W has now waited over 1 ms */
	assert_int_equal(weft_mutex_unlock(&t->m), 0); /* normal mode: W woken to compete */
	assert_int_equal(weft_mutex_try_lock(&t->m), 0); /* main barges in first */
	await_parked("starve-w", "mutex"); /* W lost, requeued at the front: starving */
	assert_false(atomic_load(&t->w_in));
	assert_int_equal(weft_mutex_unlock(&t->m), 0); /* hands m to W */
	if (weft_mutex_try_lock(&t->m) == 0)
		fail_msg("mutex: starving, an unlock let a newcomer in before the head waiter");
	await_flag(&t->w_in, "mutex: the starving waiter handed the mutex");
	assert_int_equal(t->w_r, 0);
	/* W holds m; the queue drained with it */
	go_named(starve_n, t, "starve-n");
	await_parked("starve-n", "mutex");
	assert_int_equal(weft_mutex_unlock(&t->m), 0); /* W's */
	if (weft_mutex_try_lock(&t->m) != 0)
		fail_msg("mutex: still in starvation mode after its queue drained (the unlock "
			 "handed m to the next waiter instead of letting a newcomer compete)");
	assert_false(atomic_load(&t->n_in));
	assert_int_equal(weft_mutex_unlock(&t->m), 0);
	await_flag(&t->n_in, "mutex: the waiter behind gets in");
	assert_int_equal(t->n_r, 0);
	assert_int_equal(weft_mutex_unlock(&t->m), 0); /* N's */
	assert_int_equal(weft_mutex_try_lock(&t->m), 0);
	assert_int_equal(weft_mutex_unlock(&t->m), 0);
}

static void test_mutex_starvation_ends(void **state)
{
	struct starve t = { .m = WEFT_MUTEX_INIT };
	run1(starve_main, &t);
}

/* ---- mutex: a woken waiter whose ctx ends before it gets m ----
 * A and B queue; an unlock wakes A; main takes m before A runs and cancels
 * A's ctx. A returns -ECANCELED without m, and leaves the mutex usable: the
 * next unlock wakes B. */
struct gaveup {
	weft_mutex m;
	weft_ctx *actx;
	atomic_bool a_done, b_in;
	int a_r, b_r;
};

static void gaveup_a(void *arg)
{
	struct gaveup *t = arg;
	t->a_r = weft_mutex_lock(t->actx, &t->m);
	atomic_store(&t->a_done, true);
}

static void gaveup_b(void *arg)
{
	struct gaveup *t = arg;
	t->b_r = weft_mutex_lock(NULL, &t->m);
	atomic_store(&t->b_in, true);
	if (t->b_r == 0)
		weft_mutex_unlock(&t->m);
}

static void gaveup_main(void *arg)
{
	struct gaveup *t = arg;
	assert_int_equal(weft_ctx_with_cancel(NULL, &t->actx), 0);
	assert_int_equal(weft_mutex_lock(NULL, &t->m), 0);
	go_named(gaveup_a, t, "gaveup-a");
	await_parked("gaveup-a", "mutex");
	go_named(gaveup_b, t, "gaveup-b");
	await_parked("gaveup-b", "mutex");
	assert_int_equal(weft_mutex_unlock(&t->m), 0); /* wakes A */
	assert_int_equal(weft_mutex_try_lock(&t->m), 0); /* before A runs */
	weft_ctx_cancel(t->actx);
	await_flag(&t->a_done, "mutex: the woken waiter whose ctx ended returns");
	assert_int_equal(t->a_r, -ECANCELED);
	assert_false(atomic_load(&t->b_in));
	assert_true(parked_on("gaveup-b", "mutex"));
	assert_int_equal(weft_mutex_unlock(&t->m), 0); /* wakes B */
	await_flag(&t->b_in, "mutex: the waiter behind the one that gave up gets in");
	assert_int_equal(t->b_r, 0);
	assert_int_equal(weft_mutex_try_lock(&t->m), 0); /* B unlocked it */
	assert_int_equal(weft_mutex_unlock(&t->m), 0);
	weft_ctx_unref(t->actx);
}

static void test_mutex_woken_gives_up(void **state)
{
	struct gaveup t = { .m = WEFT_MUTEX_INIT };
	run1(gaveup_main, &t);
}

/* ---- weft_mutex_init makes any memory an unlocked mutex (reused storage) ---- */
static void test_mutex_init_reused(void **state)
{
	weft_mutex m;
	memset(&m, 0xa5, sizeof(m));
	weft_mutex_init(&m);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), -EBUSY);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), -EPERM);
}

/* ---- sem outside a fiber: what would have to wait is -EPERM, no unit taken ---- */
static void test_sem_outside_fiber(void **state)
{
	weft_sem s = WEFT_SEM_INIT(3);
	assert_int_equal(weft_sem_acquire(NULL, &s, 2), 0); /* no wait needed: fine */
	assert_int_equal(weft_sem_acquire(NULL, &s, 2), -EPERM);
	assert_int_equal(weft_sem_try_acquire(&s, 1), 0); /* the refused 2 were not taken */
	assert_int_equal(weft_sem_try_acquire(&s, 1), -EBUSY);
	assert_int_equal(weft_sem_release(&s, 3), 0);
	assert_int_equal(weft_sem_try_acquire(&s, 3), 0);
}

/* ---- the last weft_ctx_unref frees the ctx: many create/unref cycles leave the
 * heap where it was (glibc's mallinfo2; not under the sanitizers, whose leak
 * checker sees this there) ---- */
__attribute__((unused)) static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static void test_ctx_unref_frees(void **state)
{
#if defined(WEFT_SAN_ADDRESS) || defined(WEFT_SAN_THREAD)
	skip();
#else
	enum { N = 20000 };
	weft_ctx *c;
	for (int i = 0; i < 100; i++) { /* warm any cache first */
		assert_int_equal(weft_ctx_with_cancel(NULL, &c), 0);
		weft_ctx_unref(c);
	}
	size_t before = heap_in_use();
	for (int i = 0; i < N; i++) {
		assert_int_equal(weft_ctx_with_cancel(NULL, &c), 0);
		assert_ptr_equal(weft_ctx_ref(c), c);
		weft_ctx_unref(c);
		weft_ctx_unref(c);
	}
	size_t after = heap_in_use();
	if (after > before + N * 8)
		fail_msg("%d ctx create/unref cycles grew the heap by %zu bytes", N, after - before);
#endif
}

/* ---- NULL objects are -EINVAL, never a crash or a pretend success ---- */
static void test_rwmutex_null(void **state)
{
	assert_int_equal(weft_rwmutex_rlock(NULL, NULL), -EINVAL);
	assert_int_equal(weft_rwmutex_runlock(NULL), -EINVAL);
	assert_int_equal(weft_rwmutex_lock(NULL, NULL), -EINVAL);
	assert_int_equal(weft_rwmutex_unlock(NULL), -EINVAL);
	assert_int_equal(weft_rwmutex_try_rlock(NULL), -EINVAL);
	assert_int_equal(weft_rwmutex_try_lock(NULL), -EINVAL);
	weft_rwmutex rw = WEFT_RWMUTEX_INIT;
	assert_int_equal(weft_rwmutex_runlock(&rw), -EPERM); /* not read-locked */
	assert_int_equal(weft_rwmutex_unlock(&rw), -EPERM);
	/* outside a fiber, what would wait is -EPERM and leaves rw usable */
	assert_int_equal(weft_rwmutex_try_lock(&rw), 0);
	assert_int_equal(weft_rwmutex_rlock(NULL, &rw), -EPERM);
	assert_int_equal(weft_rwmutex_lock(NULL, &rw), -EPERM);
	assert_int_equal(weft_rwmutex_unlock(&rw), 0);
	assert_int_equal(weft_rwmutex_try_rlock(&rw), 0);
	assert_int_equal(weft_rwmutex_lock(NULL, &rw), -EPERM);
	assert_int_equal(weft_rwmutex_runlock(&rw), 0);
	assert_int_equal(weft_rwmutex_try_lock(&rw), 0);
	/* runlock subtracts first: one without a reader, here under a writer,
	 * is taken back, so neither the writer's hold nor the count changes */
	assert_int_equal(weft_rwmutex_runlock(&rw), -EPERM);
	assert_int_equal(weft_rwmutex_try_rlock(&rw), -EBUSY);
	assert_int_equal(weft_rwmutex_unlock(&rw), 0);
	assert_int_equal(weft_rwmutex_runlock(&rw), -EPERM);
	assert_int_equal(weft_rwmutex_try_lock(&rw), 0); /* no reader left counted */
	assert_int_equal(weft_rwmutex_unlock(&rw), 0);
	assert_int_equal(weft_rwmutex_try_rlock(&rw), 0);
	assert_int_equal(weft_rwmutex_try_rlock(&rw), 0);
	assert_int_equal(weft_rwmutex_runlock(&rw), 0);
	assert_int_equal(weft_rwmutex_try_lock(&rw), -EBUSY); /* one reader still in */
	assert_int_equal(weft_rwmutex_runlock(&rw), 0);
	assert_int_equal(weft_rwmutex_try_lock(&rw), 0);
	assert_int_equal(weft_rwmutex_unlock(&rw), 0);
}

static void test_mutex_sem_ctx_null(void **state)
{
	assert_int_equal(weft_mutex_lock(NULL, NULL), -EINVAL);
	assert_int_equal(weft_mutex_unlock(NULL), -EINVAL);
	assert_int_equal(weft_mutex_try_lock(NULL), -EINVAL);
	weft_sem sem = WEFT_SEM_INIT(2);
	assert_int_equal(weft_sem_try_acquire(NULL, 1), -EINVAL);
	assert_int_equal(weft_sem_try_acquire(&sem, -1), -EINVAL);
	assert_int_equal(weft_sem_acquire(NULL, NULL, 1), -EINVAL);
	assert_int_equal(weft_sem_acquire(NULL, &sem, -1), -EINVAL);
	assert_int_equal(weft_sem_acquire(NULL, &sem, 3), -EINVAL); /* more than its size */
	assert_int_equal(weft_sem_try_acquire(&sem, 2), 0);         /* nothing was taken */
	assert_int_equal(weft_sem_release(&sem, 2), 0);
	weft_ctx *c = (weft_ctx *)&c; /* must stay untouched */
	assert_int_equal(weft_ctx_with_cancel(NULL, NULL), -EINVAL);
	assert_ptr_equal(c, (weft_ctx *)&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutex_starvation_ends),
		cmocka_unit_test(test_mutex_woken_gives_up),
		cmocka_unit_test(test_mutex_init_reused),
		cmocka_unit_test(test_sem_outside_fiber),
		cmocka_unit_test(test_ctx_unref_frees),
		cmocka_unit_test(test_rwmutex_null),
		cmocka_unit_test(test_mutex_sem_ctx_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
