/* SPDX-License-Identifier: MIT */
/* test_chan_edges.c — channel behaviour that mutation testing (make mutate) found
 * unchecked: the capacity limit at its edge, try_send's argument check, the last
 * unref freeing the channel, and a two-proc stress in which every operation's
 * locking matters (select's pass over its queues, try_send racing receivers).
 * Public API only (<weft/weft.h>). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

#include "testutil.h"

/* The limit tests ask for impossible sizes on purpose: the sanitizers' allocators
 * must answer NULL (-ENOMEM) instead of aborting. */
#ifdef WEFT_SAN_ADDRESS
const char *__asan_default_options(void);
__attribute__((visibility("default"), used)) const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif
#ifdef WEFT_SAN_THREAD
const char *__tsan_default_options(void);
__attribute__((visibility("default"), used)) const char *__tsan_default_options(void) { return "allocator_may_return_null=1"; }
#define SLOW 3
#else
#define SLOW 1
#endif

/* ---- the capacity limit: "cap * elem_size plus the channel's own bytes fit in a
 * size_t" is one byte budget for every element size. Just past it: -EINVAL; at it:
 * an allocation no machine has, -ENOMEM; never a channel (a size that wraps round
 * would give a tiny buffer for a huge capacity). The budget is found with elem_size
 * 1, then checked at its edge for other sizes. */
static void test_capacity_limit(void **state)
{
	weft_chan *ch = NULL;
	size_t over = 0; /* SIZE_MAX - over: the largest capacity of 1-byte elements */
	bool found = false;
	for (size_t k = 0; k < 4096; k++) {
		int r = weft_chan_new(1, SIZE_MAX - k, &ch);
		if (r == 0)
			fail_msg("a channel of %zu 1-byte elements was created", SIZE_MAX - k);
		if (!found && r == -ENOMEM) {
			over = k;
			found = true;
		}
		if (r != (found ? -ENOMEM : -EINVAL))
			fail_msg("cap SIZE_MAX-%zu: %d, want %s", k, r, found ? "-ENOMEM" : "-EINVAL");
	}
	assert_true(found);
	assert_true(over >= 16); /* the channel has a header */
	const size_t sizes[] = { 2, 3, 5, 7, 8, 11, 13, 16, 17, 24, 100, 4093, 65536 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t e = sizes[i], cap = (SIZE_MAX - over) / e;
		int r = weft_chan_new(e, cap, &ch);
		if (r != -ENOMEM)
			fail_msg("elem %zu cap %zu (the budget's edge): %d, want -ENOMEM", e, cap, r);
		r = weft_chan_new(e, cap + 1, &ch);
		if (r != -EINVAL)
			fail_msg("elem %zu cap %zu (one past the budget): %d, want -EINVAL", e, cap + 1, r);
	}
	assert_int_equal(weft_chan_new(65537, 1, &ch), -EINVAL);
	assert_int_equal(weft_chan_new(0, 1, &ch), -EINVAL);
	assert_int_equal(weft_chan_new(65536, 1, &ch), 0);
	weft_chan_unref(ch);
}

/* ---- try_send: a NULL element is refused, nothing is queued ---- */
static void test_try_send_null(void **state)
{
	weft_chan *ch;
	assert_int_equal(weft_chan_new(sizeof(int), 2, &ch), 0);
	assert_int_equal(weft_chan_try_send(ch, NULL), -EINVAL);
	assert_int_equal(weft_chan_len(ch), 0);
	int v = 7;
	assert_int_equal(weft_chan_try_send(ch, &v), 0);
	assert_int_equal(weft_chan_try_send(ch, NULL), -EINVAL);
	assert_int_equal(weft_chan_len(ch), 1);
	weft_chan_unref(ch);
}

/* ---- "freed at the last" unref, not before: the heap's in-use bytes (glibc's
 * mallinfo2) go back to where they were. Not under the sanitizers (their own
 * allocators; LeakSanitizer checks this there). */
__attribute__((unused)) static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static void test_last_unref_frees(void **state)
{
#if defined(WEFT_SAN_ADDRESS) || defined(WEFT_SAN_THREAD)
	skip();
#else
	const size_t big = 4u << 20; /* far above any noise of this thread's heap */
	size_t before = heap_in_use();
	weft_chan *ch;
	assert_int_equal(weft_chan_new(1, big, &ch), 0);
	assert_true(heap_in_use() >= before + big);
	assert_ptr_equal(weft_chan_ref(ch), ch);
	assert_null(weft_chan_unref(ch));
	assert_true(heap_in_use() >= before + big); /* one reference left: still there */
	assert_int_equal(weft_chan_close(ch), 0);
	assert_null(weft_chan_unref(ch));
	if (heap_in_use() >= before + big / 2)
		fail_msg("the last unref left %zu bytes allocated (before: %zu)", heap_in_use(), before);
#endif
}

/* ---- two-proc stress: every value sent is received exactly once ----
 * Senders push unique values with try_send (retrying) into two small buffered
 * channels and one unbuffered one with blocking sends; receivers take them with
 * weft_select over all three, each with a short deadline now and then so that
 * select's clean-up pass (off every other queue) runs under contention too. A
 * channel operation that touches its queues or its ring without the channel's
 * lock loses or duplicates values, or corrupts a queue (caught by the deadline). */
#define SENDERS 4
#define RECVERS 4
#define PER_SENDER TEST_SCALE(20000)
#define TOTAL (SENDERS * PER_SENDER)

struct stress {
	weft_chan *ch[3];
	weft_ctx *ctx;               /* the whole test's deadline */
	atomic_uchar *seen;          /* per value: times received */
	atomic_long received, timeouts, dup, bad;
	atomic_int err;
	weft_wg wg;
};
struct sender { struct stress *t; int id; };

static void stress_fail(struct stress *t, int e)
{
	int none = 0;
	atomic_compare_exchange_strong(&t->err, &none, e);
	weft_ctx_cancel(t->ctx);
}

static int send_one(struct stress *t, long i, long v)
{
	if (i % 4 == 3) /* the unbuffered one: a parked receiver's select takes it */
		return weft_chan_send(t->ctx, t->ch[2], &v);
	weft_chan *c = t->ch[i & 1];
	int e;
	while ((e = weft_chan_try_send(c, &v)) == -EAGAIN && !weft_ctx_err(t->ctx))
		weft_yield();
	return e;
}

static void sender(void *arg)
{
	struct sender *s = arg;
	struct stress *t = s->t;
	for (long i = 0; i < PER_SENDER && !atomic_load(&t->err); i++) {
		int e = send_one(t, i, (long)s->id * PER_SENDER + i);
		if (e) {
			stress_fail(t, e);
			break;
		}
	}
	weft_wg_done(&t->wg);
}

/* Count one received value; non-zero when it cannot be one that was sent. */
static int take(struct stress *t, long x)
{
	if (x < 0 || x >= TOTAL) {
		atomic_fetch_add(&t->bad, 1);
		stress_fail(t, -EPROTO);
		return -1;
	}
	if (atomic_fetch_add(&t->seen[x], 1) != 0)
		atomic_fetch_add(&t->dup, 1);
	if (atomic_fetch_add(&t->received, 1) + 1 == TOTAL)
		weft_ctx_cancel(t->ctx); /* everything is in: wake the other receivers */
	return 0;
}

static void receiver(void *arg)
{
	struct stress *t = arg;
	long n = 0;
	while (atomic_load(&t->received) < TOTAL && !weft_ctx_err(t->ctx)) {
		long v[3] = { -1, -1, -1 };
		struct weft_sel cases[3];
		for (int c = 0; c < 3; c++)
			cases[c] = (struct weft_sel){ .ch = t->ch[c], .op = WEFT_SEL_RECV, .elem = &v[c] };
		weft_ctx *ctx = t->ctx, *short_ctx = NULL;
		if (++n % 8 == 0 && weft_ctx_with_timeout(t->ctx, 20 * WEFT_USEC, &short_ctx) == 0)
			ctx = short_ctx;
		int r = weft_select(ctx, cases, 3, false);
		weft_ctx_unref(short_ctx);
		if (r < 0) {
			if (short_ctx && !weft_ctx_err(t->ctx)) {
				atomic_fetch_add(&t->timeouts, 1);
				continue;
			}
			break; /* the test's deadline, or cancelled by the last receive */
		}
		if (cases[r].res) {
			stress_fail(t, cases[r].res);
			break;
		}
		if (take(t, v[r]))
			break;
	}
	weft_wg_done(&t->wg);
}

/* Polls with try_recv: no parking, so it races the others' ring updates. */
static void try_receiver(void *arg)
{
	struct stress *t = arg;
	while (atomic_load(&t->received) < TOTAL && !weft_ctx_err(t->ctx)) {
		long x = -1;
		int r = weft_chan_try_recv(t->ch[atomic_load(&t->received) & 1], &x);
		if (r == -EAGAIN) {
			weft_yield();
			continue;
		}
		if (r) {
			stress_fail(t, r);
			break;
		}
		take(t, x);
	}
	weft_wg_done(&t->wg);
}

/* Spread the fibers over the procs: with two, they run in parallel, pinned. */
static void go_on(weft_fn fn, void *arg, int i)
{
	unsigned n = (unsigned)weft_nprocs();
	assert_int_equal(weft_go_opts(fn, arg, &(struct weft_go_opts){ .on_proc = true, .proc = (unsigned)i % n }), 0);
}

static void stress_main(void *arg)
{
	struct stress *t = arg;
	struct sender s[SENDERS];
	assert_int_equal(weft_ctx_with_timeout(NULL, 10 * SLOW * WEFT_SEC, &t->ctx), 0); /* ~30 ms needed */
	assert_int_equal(weft_chan_new(sizeof(long), 2, &t->ch[0]), 0);
	assert_int_equal(weft_chan_new(sizeof(long), 3, &t->ch[1]), 0);
	assert_int_equal(weft_chan_new(sizeof(long), 0, &t->ch[2]), 0);
	weft_wg_add(&t->wg, SENDERS + RECVERS + 2);
	for (int i = 0; i < RECVERS; i++)
		go_on(receiver, t, i);
	for (int i = 0; i < 2; i++)
		go_on(try_receiver, t, i);
	for (int i = 0; i < SENDERS; i++) {
		s[i] = (struct sender){ t, i };
		go_on(sender, &s[i], i + 1);
	}
	weft_wg_wait(NULL, &t->wg);
	long got = atomic_load(&t->received);
	if (atomic_load(&t->err))
		fail_msg("channel stress: stopped after %ld of %d values: %s", got, TOTAL,
			 strerror(-atomic_load(&t->err)));
	if (got != TOTAL)
		fail_msg("channel stress: %ld of %d values received before the deadline (lost?)", got, TOTAL);
	assert_int_equal(atomic_load(&t->dup), 0);
	assert_int_equal(atomic_load(&t->bad), 0);
	for (long x = 0; x < TOTAL; x++)
		if (atomic_load(&t->seen[x]) != 1)
			fail_msg("channel stress: value %ld received %u times", x, atomic_load(&t->seen[x]));
	for (int c = 0; c < 3; c++) {
		assert_int_equal(weft_chan_len(t->ch[c]), 0);
		weft_chan_unref(t->ch[c]);
	}
	weft_ctx_unref(t->ctx);
}

/* A few rounds: a race that one round can miss (~1 in 6 for an unlocked try_send
 * here) does not get past all of them. */
static void test_two_proc_stress(void **state)
{
	for (int round = 0; round < 10; round++) {
		struct stress t = { 0 };
		t.seen = calloc(TOTAL, sizeof(*t.seen));
		assert_non_null(t.seen);
		struct weft_opts o = { .procs = g_procs };
		assert_int_equal(weft_run(stress_main, &t, &o), 0);
		free(t.seen);
	}
}

/* ---- close racing parked receivers and a sender on the other proc ----
 * Each round: an unbuffered channel, three receivers parking on it (two on the
 * other proc), one try_send from there, and a close from here. Every receiver
 * ends: with the value (exactly as many as try_sends succeeded) or -EPIPE, and
 * well before the deadline: a waiter that close did not see is a receiver parked
 * for good. */
#define CLOSE_ROUNDS TEST_SCALE(3000)

struct close_round {
	weft_chan *ch;
	weft_ctx *ctx;
	atomic_int got, piped, other, sent;
	weft_wg wg;
};

static void close_recv(void *arg)
{
	struct close_round *c = arg;
	long v;
	int r = weft_chan_recv(c->ctx, c->ch, &v);
	atomic_fetch_add(r == 0 ? &c->got : r == -EPIPE ? &c->piped : &c->other, 1);
	weft_wg_done(&c->wg);
}

static void close_send(void *arg)
{
	struct close_round *c = arg;
	long v = 1;
	for (int i = 0; i < 4; i++) {
		int r = weft_chan_try_send(c->ch, &v);
		if (r == 0)
			atomic_fetch_add(&c->sent, 1);
		if (r != -EAGAIN)
			break;
		weft_yield();
	}
	weft_wg_done(&c->wg);
}

static void close_main(void *arg)
{
	(void)arg;
	for (int round = 0; round < CLOSE_ROUNDS; round++) {
		struct close_round c = { 0 };
		assert_int_equal(weft_chan_new(sizeof(long), 0, &c.ch), 0);
		assert_int_equal(weft_ctx_with_timeout(NULL, 10 * SLOW * WEFT_SEC, &c.ctx), 0);
		weft_wg_add(&c.wg, 4);
		go_on(close_recv, &c, 1);
		go_on(close_recv, &c, 0);
		go_on(close_recv, &c, 1);
		go_on(close_send, &c, 1);
		for (int k = round % 3; k > 0; k--)
			weft_yield();
		assert_int_equal(weft_chan_close(c.ch), 0);
		weft_wg_wait(NULL, &c.wg);
		if (atomic_load(&c.other) || atomic_load(&c.got) != atomic_load(&c.sent) ||
		    atomic_load(&c.got) + atomic_load(&c.piped) != 3)
			fail_msg("close round %d: %d received, %d sent, %d saw the close, %d timed out",
				 round, atomic_load(&c.got), atomic_load(&c.sent), atomic_load(&c.piped),
				 atomic_load(&c.other));
		assert_int_equal(weft_chan_close(c.ch), -EPIPE);
		weft_chan_unref(c.ch);
		weft_ctx_unref(c.ctx);
	}
}

static void test_close_race(void **state)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(close_main, NULL, &o), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capacity_limit),
		cmocka_unit_test(test_try_send_null),
		cmocka_unit_test(test_last_unref_frees),
		BOTH(test_two_proc_stress),
		BOTH(test_close_race),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
