/* SPDX-License-Identifier: MIT */
/* test_stack.c — the fiber stack pool (lib/stack.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stack.h"
#include "switch.h"

#define KIB 1024

static struct weft__stack_pool *pool_new(size_t size, enum weft_stack_mode mode, struct weft__stack_cache **cache)
{
	struct weft__stack_pool *p;
	assert_int_equal(weft__stack_pool_new(&p, size, mode), 0);
	assert_int_equal(weft__stack_cache_new(p, cache), 0);
	return p;
}

static long rss_pages(void)
{
	long size, rss;
	FILE *f = fopen("/proc/self/statm", "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &size, &rss), 2);
	fclose(f);
	return rss;
}

static bool resident(const void *addr)
{
	unsigned char v;
	uintptr_t page = (uintptr_t)addr & ~(uintptr_t)4095;
	assert_int_equal(mincore((void *)page, 4096, &v), 0);
	return v & 1;
}

static void test_get_put_reuse(void **state)
{
	struct weft__stack_cache *c;
	struct weft__stack_pool *p = pool_new(0, WEFT_STACK_CANARY, &c);
	struct weft__stack a, b, a2;
	assert_int_equal(weft__stack_get(c, 0, &a), 0);
	assert_int_equal(weft__stack_get(c, 0, &b), 0);
	assert_ptr_not_equal(a.lo, b.lo);
	assert_true(weft__stack_usable(&a) >= 64 * KIB);
	assert_int_equal((uintptr_t)a.hi % 4096, 0);
	memset(a.lo, 0x5a, weft__stack_usable(&a) + WEFT__STACK_HEADER); /* all of it is writable */
	weft__stack_put(c, &a);
	assert_int_equal(weft__stack_get(c, 0, &a2), 0);
	assert_ptr_equal(a2.lo, a.lo); /* LIFO: the warm stack comes back first */
	weft__stack_put(c, &a2);
	weft__stack_put(c, &b);
	weft__stack_cache_free(c);
	weft__stack_pool_free(p);
}

static void test_size_rounding(void **state)
{
	struct weft__stack_cache *c;
	struct weft__stack_pool *p = pool_new(10000, WEFT_STACK_CANARY, &c);
	struct weft__stack s, big, big2;
	assert_int_equal(weft__stack_get(c, 0, &s), 0);
	assert_true(weft__stack_usable(&s) >= 10000);
	assert_true(weft__stack_usable(&s) < 10000 + 4096);
	assert_int_equal(weft__stack_get(c, 100000, &big), 0);
	assert_true(weft__stack_usable(&big) >= 100000);
	assert_true(weft__stack_usable(&big) < 2 * 131072);
	memset(big.lo, 1, weft__stack_usable(&big));
	weft__stack_put(c, &big);
	assert_int_equal(weft__stack_get(c, 120000, &big2), 0); /* same class: reused */
	assert_ptr_equal(big2.lo, big.lo);
	weft__stack_put(c, &big2);
	weft__stack_put(c, &s);
	weft__stack_cache_free(c);
	weft__stack_pool_free(p);
}

/* 100,000 live stacks cost about the pages they touch, and come back. */
static void test_many_stacks_rss(void **state)
{
	enum { N = 100000 };
	struct weft__stack_cache *c;
	struct weft__stack_pool *p = pool_new(0, WEFT_STACK_CANARY, &c);
	struct weft__stack *v = malloc(N * sizeof(*v));
	assert_non_null(v);
	long before = rss_pages();
	for (int i = 0; i < N; i++) {
		assert_int_equal(weft__stack_get(c, 0, &v[i]), 0);
		memset((char *)v[i].hi - WEFT__STACK_HEADER, 0xee, 64); /* the fiber struct */
		weft__stack_check(&v[i], "x");                         /* reads the canary page */
	}
	long grown = rss_pages() - before;
	printf("# %d stacks: %.2f pages each\n", N, (double)grown / N);
	assert_true(grown >= N / 2);     /* the touched page is there... */
	/* ...but not the 17 pages of a full stack. Two here: reading the
	 * canary commits the bottom page (this kernel maps no zero page). */
	assert_true(grown < N * 6L);
	for (int i = 0; i < N; i++)
		weft__stack_put(c, &v[i]);
	/* put keeps pages committed (cheap reuse); trimming returns them */
	assert_true(resident((char *)v[N / 2].hi - WEFT__STACK_HEADER));
	size_t trimmed = 0, n;
	while ((n = weft__stack_pool_trim(p)) > 0)
		trimmed += n;
	assert_true(trimmed > N / 2);
	long after = rss_pages() - before;
	printf("# after put and trim: %ld pages kept\n", after);
	/* Early puts went past the high-water mark: their pages are gone. */
	assert_false(resident((char *)v[N / 2].hi - WEFT__STACK_HEADER));
	assert_false(resident((char *)v[N - 1000].hi - WEFT__STACK_HEADER));
#if !defined(WEFT_SAN_THREAD) && !defined(WEFT_SAN_ADDRESS) /* their shadow pages stay */
	assert_true(after < grown / 4);
#endif
	free(v);
	weft__stack_cache_free(c);
	weft__stack_pool_free(p);
}

/* ---- two procs trading stacks -------------------------------------------- */

enum { ROUNDS = 50, PER = 200 };
static struct weft__stack_pool *mt_pool;
static struct weft__stack mt_held[2][PER];
static pthread_barrier_t mt_barrier;

static void *mt_thread(void *arg)
{
	int me = (int)(intptr_t)arg;
	struct weft__stack_cache *c;
	assert_int_equal(weft__stack_cache_new(mt_pool, &c), 0);
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < PER; i++) {
			assert_int_equal(weft__stack_get(c, 0, &mt_held[me][i]), 0);
			*(int *)((char *)mt_held[me][i].hi - WEFT__STACK_HEADER) = me * 1000000 + r * 1000 + i;
		}
		pthread_barrier_wait(&mt_barrier);
		/* A stack handed to both threads would show the other's mark. */
		for (int i = 0; i < PER; i++)
			assert_int_equal(*(int *)((char *)mt_held[me][i].hi - WEFT__STACK_HEADER), me * 1000000 + r * 1000 + i);
		pthread_barrier_wait(&mt_barrier);
		for (int i = 0; i < PER; i++) /* put the other thread's stacks into our cache */
			weft__stack_put(c, &mt_held[!me][i]);
		pthread_barrier_wait(&mt_barrier);
	}
	weft__stack_cache_free(c);
	return NULL;
}

static void count_header(void *header, void *arg)
{
	++*(int *)arg;
}

static void test_threads(void **state)
{
	pthread_t t[2];
	assert_int_equal(weft__stack_pool_new(&mt_pool, 0, WEFT_STACK_CANARY), 0);
	pthread_barrier_init(&mt_barrier, NULL, 2);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, mt_thread, (void *)(intptr_t)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	int live = 0;
	weft__stack_pool_foreach(mt_pool, count_header, &live);
	assert_int_equal(live, 0);
	pthread_barrier_destroy(&mt_barrier);
	weft__stack_pool_free(mt_pool);
}

static void test_foreach(void **state)
{
	struct weft__stack_cache *c;
	struct weft__stack_pool *p = pool_new(0, WEFT_STACK_CANARY, &c);
	struct weft__stack s[3], big;
	for (int i = 0; i < 3; i++)
		assert_int_equal(weft__stack_get(c, 0, &s[i]), 0);
	assert_int_equal(weft__stack_get(c, 1 << 20, &big), 0);
	weft__stack_put(c, &s[1]);
	int live = 0;
	weft__stack_pool_foreach(p, count_header, &live);
	assert_int_equal(live, 3);
	weft__stack_put(c, &s[0]);
	weft__stack_put(c, &s[2]);
	weft__stack_put(c, &big);
	live = 0;
	weft__stack_pool_foreach(p, count_header, &live);
	assert_int_equal(live, 0);
	weft__stack_cache_free(c);
	weft__stack_pool_free(p);
}

/* ---- guard budget -------------------------------------------------------- */

static void test_guard_mode_budget(void **state)
{
	struct weft__stack_cache *c;
	struct weft__stack_pool *p = pool_new(0, WEFT_STACK_GUARD, &c);
	struct weft__stack s[4];
	weft__stack_pool_set_guard_limit(p, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(weft__stack_get(c, 0, &s[i]), 0);
		assert_true(s[i].guarded);
	}
	assert_int_equal(weft__stack_get(c, 0, &s[3]), -ENOMEM);
	weft__stack_put(c, &s[0]);
	assert_int_equal(weft__stack_get(c, 0, &s[0]), 0); /* a guarded stack comes back */
	for (int i = 0; i < 3; i++)
		weft__stack_put(c, &s[i]);
	weft__stack_cache_free(c);
	weft__stack_pool_free(p);
}

static void test_auto_mode_turns_to_canary(void **state)
{
	enum { N = 40 };
	struct weft__stack_cache *c;
	struct weft__stack_pool *p = pool_new(0, WEFT_STACK_AUTO, &c);
	struct weft__stack s[N];
	weft__stack_pool_set_guard_limit(p, 5);
	int guarded = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(weft__stack_get(c, 0, &s[i]), 0);
		guarded += s[i].guarded;
	}
	assert_int_equal(guarded, 5);
	for (int i = 0; i < N; i++)
		weft__stack_put(c, &s[i]);
	weft__stack_cache_free(c);
	weft__stack_pool_free(p);
}

/* ---- overflow detection, in forked children ------------------------------ */

/* Run child() in a fork; return its wait status and its stderr in err. */
static int run_child(void (*child)(void), char *err, size_t errsize)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		child();
		_exit(0);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < errsize && (r = read(fds[0], err + n, errsize - 1 - n)) > 0)
		n += (size_t)r;
	err[n] = 0;
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static const char *name_of(const void *header)
{
	return header; /* the test keeps the fiber name in the header */
}

static volatile int recurse_limit = 1 << 30; /* volatile: hides the endless recursion from gcc */

static __attribute__((noinline)) int recurse_forever(int n)
{
	volatile char buf[512];
	buf[n % sizeof(buf)] = (char)n;
	if (n > recurse_limit)
		return 0;
	return recurse_forever(n + 1) + buf[(n * 7) % sizeof(buf)];
}

static struct weft__ctx ov_main, ov_fib;

static void overflow_fiber(void *arg)
{
	recurse_forever(1);
	weft__ctx_switch_final(&ov_fib, &ov_main);
}

static void guard_child(void)
{
	struct weft__stack_cache *c;
	struct weft__stack s;
	struct weft__stack_pool *p = pool_new(0, WEFT_STACK_GUARD, &c);
	weft__stack_overflow_handler_install(name_of);
	if (weft__stack_sigaltstack_setup() != 0 || weft__stack_get(c, 0, &s) != 0)
		_exit(3);
	strcpy((char *)s.hi - WEFT__STACK_HEADER, "deep-one");
	weft__ctx_init_thread(&ov_main);
	weft__ctx_init(&ov_fib, s.lo, weft__stack_usable(&s), overflow_fiber, NULL);
	weft__ctx_switch(&ov_main, &ov_fib);
	(void)p;
	_exit(4); /* not reached: the recursion faults */
}

static void test_guard_overflow(void **state)
{
	char err[8192];
	int status = run_child(guard_child, err, sizeof(err));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	assert_non_null(strstr(err, "weft: stack overflow in fiber 'deep-one'"));
}

static void canary_child(void)
{
	struct weft__stack_cache *c;
	struct weft__stack s;
	pool_new(0, WEFT_STACK_CANARY, &c);
	if (weft__stack_get(c, 0, &s) != 0)
		_exit(3);
	weft__stack_check(&s, "fine");
	/* What a frame overflowing lo does: writes just below it. */
	memset((char *)s.lo - 24, 0xab, 16);
	weft__stack_check(&s, "canary-one");
	_exit(4);
}

static void test_canary_overflow(void **state)
{
	char err[8192];
	int status = run_child(canary_child, err, sizeof(err));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(err, "weft: stack overflow in fiber 'canary-one'"));
	assert_null(strstr(err, "'fine'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put_reuse),
		cmocka_unit_test(test_size_rounding),
		cmocka_unit_test(test_many_stacks_rss),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_guard_mode_budget),
		cmocka_unit_test(test_auto_mode_turns_to_canary),
		cmocka_unit_test(test_guard_overflow),
		cmocka_unit_test(test_canary_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
