/* SPDX-License-Identifier: MIT */
/* test_prof.c — libweft's profiles (weft/prof.h): labels, the CPU profile of a labelled
 * fiber burning CPU, the fiber profile of parked fibers, the block and mutex profiles of
 * contended waits. A profile is checked by gunzipping it and finding the function names,
 * fiber names and labels in its string table (`go tool pprof` reads the same files in
 * tests/integration/test_profile.sh). Run with 1 and 2 procs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft/weft.h>
#include <zlib.h>

#include "testutil.h"

static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* TEST_PROF_DUMP=DIR keeps each profile checked there (for `go tool pprof`). */
static void dump(const char *name, const void *data, size_t len)
{
	const char *dir = getenv("TEST_PROF_DUMP");
	char path[512];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w"))) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
}

/* The gunzipped profile (NUL-terminated, malloc'd). */
static char *gunzip(const void *data, size_t len, size_t *ret_len)
{
	z_stream z = { 0 };
	size_t cap = 1 << 16, n = 0;
	char *out = malloc(cap + 1);

	assert_non_null(out);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	for (;;) {
		z.next_out = (Bytef *)out + n;
		z.avail_out = (uInt)(cap - n);
		int r = inflate(&z, Z_NO_FLUSH);
		n = cap - z.avail_out;
		if (r == Z_STREAM_END)
			break;
		assert_int_equal(r, Z_OK);
		cap *= 2;
		out = realloc(out, cap + 1);
		assert_non_null(out);
	}
	inflateEnd(&z);
	out[n] = 0;
	*ret_len = n;
	return out;
}

/* Does the profile hold s (a string-table entry: length-prefixed, field 6)? */
static bool has(const char *pb, size_t len, const char *s)
{
	size_t k = strlen(s);
	for (size_t i = 0; i + k + 2 <= len; i++)
		if ((unsigned char)pb[i] == (6 << 3 | 2) && (unsigned char)pb[i + 1] == k &&
		    memcmp(pb + i + 2, s, k) == 0)
			return true;
	return false;
}

/* ---- labels ---- */
static void labels_main(void *arg)
{
	(void)arg;
	assert_null(weft_label_get("pipeline"));
	assert_int_equal(weft_label_set("pipeline", "p1"), 0);
	assert_int_equal(weft_label_set("stage", "s1"), 0);
	assert_string_equal(weft_label_get("pipeline"), "p1");
	assert_int_equal(weft_label_set("pipeline", "p2"), 0);
	assert_string_equal(weft_label_get("pipeline"), "p2");
	assert_int_equal(weft_label_set("a", "1"), 0);
	assert_int_equal(weft_label_set("b", "2"), 0);
	assert_int_equal(weft_label_set("c", "3"), -ENOSPC);
	assert_int_equal(weft_label_set("", "3"), -EINVAL);
	assert_int_equal(weft_label_set("sixteen-bytes-xx", "3"), -EINVAL);
	assert_int_equal(weft_label_set("a", NULL), 0);
	assert_null(weft_label_get("a"));
	assert_string_equal(weft_label_get("b"), "2");
	assert_int_equal(weft_label_set("c", "a value longer than thirty-nine bytes, truncated"), 0);
	assert_int_equal(strlen(weft_label_get("c")), WEFT_LABEL_VALUE_MAX);
	weft_labels_clear();
	assert_null(weft_label_get("stage"));
}

static void test_labels(void **state)
{
	(void)state;
	assert_int_equal(weft_label_set("k", "v"), -EPERM);
	run(labels_main, NULL);
}

/* ---- CPU ---- */
static volatile uint64_t sink;

__attribute__((noinline, noclone)) static uint64_t burn_cpu_here(uint64_t n)
{
	uint64_t x = 1;
	for (uint64_t i = 0; i < n; i++)
		x = x * 6364136223846793005ull + i;
	return x;
}

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void burner(void *arg)
{
	weft_wg *wg = arg;
	weft_label_set("pipeline", "prof-test");
	weft_label_set("stage", "burn");
	/* 300 ms of this thread's CPU, yielding now and then (the thread may change) */
	for (int64_t used = 0; used < 300 * WEFT_MSEC;) {
		int64_t t = thread_cpu_ns();
		sink += burn_cpu_here(200000);
		used += thread_cpu_ns() - t;
		weft_yield();
	}
	weft_wg_done(wg);
}

static void cpu_main(void *arg)
{
	(void)arg;
	weft_wg wg = WEFT_WG_INIT;
	void *data = NULL;
	size_t len = 0, plen;

	assert_int_equal(weft_prof_cpu_stop(&data, &len), -ENOENT);
	assert_int_equal(weft_prof_cpu_start(WEFT_PROF_HZ_MAX + 1), -EINVAL);
	assert_int_equal(weft_prof_cpu_start(0), 0);
	assert_int_equal(weft_prof_cpu_start(0), -EBUSY);
	weft_wg_add(&wg, 1);
	assert_int_equal(weft_go_opts(burner, &wg, &(struct weft_go_opts){ .name = "burner" }), 0);
	weft_wg_wait(NULL, &wg);
	int n = weft_prof_cpu_stop(&data, &len);
	assert_true(n >= 10); /* 30 expected at 100 Hz */
	dump("cpu.pb.gz", data, len);
	char *pb = gunzip(data, len, &plen);
	assert_true(has(pb, plen, "burn_cpu_here"));
	assert_true(has(pb, plen, "burner"));
	/* the walks reached the fibers' first frame (the switch's trampoline), through
	 * code built without frame pointers */
	assert_true(has(pb, plen, "weft__ctx_trampoline"));
	assert_true(has(pb, plen, "prof-test"));
	assert_true(has(pb, plen, "stage"));
	assert_true(has(pb, plen, "cpu"));
	free(pb);
	free(data);
	/* a second profile after the first */
	assert_int_equal(weft_prof_cpu_start(200), 0);
	assert_true(weft_prof_cpu_stop(&data, &len) >= 0);
	free(data);
}

static void test_cpu(void **state)
{
	(void)state;
	assert_int_equal(weft_prof_cpu_start(0), -EPERM);
	run(cpu_main, NULL);
}

/* ---- fibers ---- */
struct parked { weft_chan *ch; weft_wg wg; };

__attribute__((noinline, noclone)) static void park_here(struct parked *p)
{
	int v;
	weft_label_set("role", "parker");
	weft_chan_recv(NULL, p->ch, &v);
	__asm__ volatile("" ::: "memory"); /* not a tail call: park_here stays on the stack */
}

static void parker(void *arg)
{
	struct parked *p = arg;
	park_here(p);
	weft_wg_done(&p->wg);
}

/* Every stack of a debug=2 listing goes up to its fiber's first frame (the switch's
 * trampoline, whose CFI ends the walk) and stops there. */
static bool ends_at_entry(const char *text)
{
	int fibers = 0, ends = 0;
	for (const char *s = text; (s = strstr(s, "\nfiber ")); s++)
		fibers++;
	for (const char *s = text; (s = strstr(s, "(running on a proc")); s++)
		fibers--; /* no stack read */
	for (const char *s = text; (s = strstr(s, "\nweft__ctx_trampoline+0x")); s++) {
		const char *addr = strchr(s + 1, '\n');       /* its address line */
		const char *end = addr ? strchr(addr + 1, '\n') : NULL;
		if (!end || end[1] != '\n')
			return false;
		ends++;
	}
	return fibers + 1 == ends; /* the first fiber has no newline before it */
}

static void fibers_main(void *arg)
{
	(void)arg;
	struct parked p = { .wg = WEFT_WG_INIT };
	void *data;
	size_t len, plen;

	assert_int_equal(weft_chan_new(sizeof(int), 0, &p.ch), 0);
	weft_wg_add(&p.wg, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(weft_go_opts(parker, &p, &(struct weft_go_opts){ .name = "parker" }), 0);
	/* wait until all five are parked (the listing shows them so) */
	for (int tries = 0;; tries++) {
		assert_true(weft_prof_fibers(2, &data, &len) >= 6);
		int nparked = 0;
		for (const char *s = data; (s = strstr(s, "[parked, chan recv")); s++)
			nparked++;
		free(data);
		if (nparked == 5)
			break;
		assert_true(tries < 1000);
		weft_sleep(NULL, WEFT_MSEC);
	}
	assert_int_equal(weft_prof_fibers(3, &data, &len), -EINVAL);
	assert_true(weft_prof_fibers(1, &data, &len) >= 6);
	assert_non_null(strstr(data, "5 @ "));
	assert_non_null(strstr(data, "park_here+0x"));
	assert_non_null(strstr(data, "\"role\":\"parker\""));
	free(data);
	assert_true(weft_prof_fibers(2, &data, &len) >= 6);
	assert_non_null(strstr(data, "]: parker\nlabel role=parker\n"));
	assert_non_null(strstr(data, "fibers_main"));
	assert_true(ends_at_entry(data));
	free(data);
	assert_true(weft_prof_fibers(0, &data, &len) >= 6);
	char *pb = gunzip(data, len, &plen);
	assert_true(has(pb, plen, "park_here"));
	assert_true(has(pb, plen, "parked"));
	assert_true(has(pb, plen, "chan recv"));
	free(pb);
	free(data);
	weft_chan_close(p.ch);
	weft_wg_wait(NULL, &p.wg);
	weft_chan_unref(p.ch);
}

static void test_fibers(void **state)
{
	(void)state;
	run(fibers_main, NULL);
}

/* ---- mutex and block ---- */
struct contend { weft_mutex mu; weft_wg wg; weft_chan *ch; int n; };

__attribute__((noinline, noclone)) static void contend_here(struct contend *c)
{
	weft_mutex_lock(NULL, &c->mu);
	__asm__ volatile("" ::: "memory");
}

static void contender(void *arg)
{
	struct contend *c = arg;
	for (int i = 0; i < 10; i++) {
		contend_here(c);
		c->n++;
		weft_sleep(NULL, WEFT_MSEC); /* holding the lock: the others park on it */
		weft_mutex_unlock(&c->mu);
		weft_yield();
	}
	weft_wg_done(&c->wg);
}

__attribute__((noinline, noclone)) static void block_here(struct contend *c)
{
	int v;
	weft_chan_recv(NULL, c->ch, &v);
	__asm__ volatile("" ::: "memory");
}

static void receiver(void *arg)
{
	struct contend *c = arg;
	block_here(c);
	weft_wg_done(&c->wg);
}

static void waits_main(void *arg)
{
	bool on = (bool)(uintptr_t)arg;
	struct contend c = { .mu = WEFT_MUTEX_INIT, .wg = WEFT_WG_INIT };
	void *data;
	size_t len, plen;

	weft_prof_waits_reset();
	assert_int_equal(weft_prof_set_mutex_fraction(on ? 1 : 0), 0);
	assert_int_equal(weft_prof_set_block_rate(on ? 1 : 0), 0);
	weft_wg_add(&c.wg, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(weft_go(contender, &c), 0);
	weft_wg_wait(NULL, &c.wg);
	assert_int_equal(c.n, 40);
	assert_int_equal(weft_chan_new(sizeof(int), 0, &c.ch), 0);
	weft_wg_add(&c.wg, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(weft_go(receiver, &c), 0);
	weft_sleep(NULL, 5 * WEFT_MSEC);
	weft_chan_close(c.ch);
	weft_wg_wait(NULL, &c.wg);
	weft_chan_unref(c.ch);
	assert_int_equal(weft_prof_set_mutex_fraction(0), on ? 1 : 0);
	assert_int_equal(weft_prof_set_block_rate(0), on ? 1 : 0);

	int sites = weft_prof_mutex(&data, &len);
	assert_true(on ? sites >= 1 : sites == 0);
	char *pb = gunzip(data, len, &plen);
	assert_int_equal(has(pb, plen, "contend_here"), on);
	assert_true(has(pb, plen, "contentions"));
	assert_true(has(pb, plen, "delay"));
	free(pb);
	free(data);
	sites = weft_prof_block(&data, &len);
	assert_true(on ? sites >= 1 : sites == 0);
	pb = gunzip(data, len, &plen);
	assert_int_equal(has(pb, plen, "block_here"), on);
	assert_false(has(pb, plen, "contend_here")); /* a mutex wait is not a block */
	free(pb);
	free(data);
}

static void test_waits(void **state)
{
	(void)state;
	run(waits_main, (void *)(uintptr_t)true);
}

static void test_waits_off(void **state)
{
	(void)state;
	run(waits_main, (void *)(uintptr_t)false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels),
		BOTH(test_cpu),
		BOTH(test_fibers),
		BOTH(test_waits),
		BOTH(test_waits_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
