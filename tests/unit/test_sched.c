/* SPDX-License-Identifier: MIT */
/* test_sched.c — the scheduler: spawning, yielding, parking, stealing,
 * cross-proc wake-ups, timers and the blocking pool. Each test runs with 1
 * and with N procs (the table at the bottom). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft/weft.h>

#include "testing.h" /* lib/: the eventfd wake-up path */
#include "testutil.h"


static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* ---- spawn and join ---- */
struct counter {
	atomic_long n;
	weft_wg wg;
};

static void bump(void *arg)
{
	struct counter *c = arg;
	atomic_fetch_add(&c->n, 1);
	weft_wg_done(&c->wg);
}

static void spawn_many(void *arg)
{
	struct counter *c = arg;
	weft_wg_init(&c->wg);
	weft_wg_add(&c->wg, TEST_SCALE(10000));
	for (int i = 0; i < TEST_SCALE(10000); i++)
		assert_int_equal(weft_go(bump, c), 0);
	assert_int_equal(weft_wg_wait(NULL, &c->wg), 0);
	assert_int_equal(atomic_load(&c->n), TEST_SCALE(10000));
}

static void test_spawn_join(void **state)
{
	struct counter c = { 0 };
	run(spawn_many, &c);
	assert_int_equal(atomic_load(&c.n), TEST_SCALE(10000));
}

/* weft_run returns only after every fiber ended, even unjoined ones */
static void late(void *arg)
{
	weft_sleep(NULL, 20 * WEFT_MSEC);
	atomic_fetch_add((atomic_long *)arg, 1);
}

static void spawn_and_leave(void *arg)
{
	for (int i = 0; i < 50; i++)
		weft_go(late, arg);
}

static void test_run_waits_for_all(void **state)
{
	atomic_long n = 0;
	run(spawn_and_leave, &n);
	assert_int_equal(atomic_load(&n), 50);
}

/* ---- yield interleaves fibers on one proc ---- */
struct pingpong {
	char log[64];
	atomic_int len;
};

static void yielder(void *arg)
{
	struct pingpong *pp = arg;
	char me = weft_fiber_name(weft_self())[0];
	for (int i = 0; i < 3; i++) {
		pp->log[atomic_fetch_add(&pp->len, 1)] = me;
		weft_yield();
	}
}

static void yield_main(void *arg)
{
	weft_go_opts(yielder, arg, &(struct weft_go_opts){ .name = "a", .pin = true });
	weft_go_opts(yielder, arg, &(struct weft_go_opts){ .name = "b", .pin = true });
}

static void test_yield_interleaves(void **state)
{
	struct pingpong pp = { 0 };
	struct weft_opts o = { .procs = 1 };
	assert_int_equal(weft_run(yield_main, &pp, &o), 0);
	assert_string_equal(pp.log, "ababab");
}

/* ---- a spawning loop runs its children as it goes, in bounded memory ---- */
struct flood {
	long ran;
	uint64_t max_live;
	weft_wg wg;
};

static void flood_child(void *arg)
{
	struct flood *fl = arg;
	fl->ran++; /* one proc: no race */
	weft_wg_done(&fl->wg);
}

static void flood_main(void *arg)
{
	struct flood *fl = arg;
	const long n = TEST_SCALE(20000);
	weft_wg_init(&fl->wg);
	weft_wg_add(&fl->wg, n);
	for (long i = 0; i < n; i++) {
		assert_int_equal(weft_go(flood_child, fl), 0);
		struct weft_sched_stats st;
		assert_int_equal(weft_sched_stats(&st), 0);
		if (st.fibers_live > fl->max_live)
			fl->max_live = st.fibers_live;
	}
	assert_true(fl->ran > 0); /* children ran before the loop ended */
	assert_int_equal(weft_wg_wait(NULL, &fl->wg), 0);
	struct weft_sched_stats st;
	assert_int_equal(weft_sched_stats(&st), 0);
	assert_int_equal(st.fibers_live, 1); /* only main: the count settles exactly */
	assert_true(st.fibers_spawned >= (uint64_t)n + 1);
}

static void test_spawn_bounded(void **state)
{
	(void)state;
	struct flood fl = { 0 };
	struct weft_opts o = { .procs = 1 };
	assert_int_equal(weft_run(flood_main, &fl, &o), 0);
	assert_int_equal(fl.ran, TEST_SCALE(20000));
	/* main plus at most half a run queue (256) and the one just made */
	assert_true(fl.max_live <= 1 + 128 + 1);
	assert_true(fl.max_live >= 2);
}

/* ---- on one proc, yielding fibers take strict turns ---- */
#define RR_MAX 4
#define RR_ROUNDS 150 /* crosses the scheduler's every-61st-switch pass */
struct rr {
	int nfib;
	int log[RR_MAX * RR_ROUNDS];
	int len;
};
struct rr_arg { struct rr *rr; int me; };

static void rr_fiber(void *arg)
{
	struct rr_arg *a = arg;
	for (int i = 0; i < RR_ROUNDS; i++) {
		a->rr->log[a->rr->len++] = a->me;
		assert_int_equal(weft_yield(), 0);
	}
}

static void rr_main(void *arg)
{
	struct rr *rr = arg;
	static struct rr_arg args[RR_MAX];
	for (int i = 0; i < rr->nfib; i++) {
		args[i] = (struct rr_arg){ rr, i };
		assert_int_equal(weft_go(rr_fiber, &args[i]), 0);
	}
}

static void test_yield_round_robin(void **state)
{
	(void)state;
	for (int n = 1; n <= RR_MAX; n++) {
		struct rr rr = { .nfib = n };
		struct weft_opts o = { .procs = 1 };
		assert_int_equal(weft_run(rr_main, &rr, &o), 0);
		assert_int_equal(rr.len, n * RR_ROUNDS);
		/* every run of n turns has each fiber exactly once, in one fixed order */
		for (int i = n; i < rr.len; i++)
			assert_int_equal(rr.log[i], rr.log[i - n]);
		for (int i = 0; i < n; i++)
			for (int j = 0; j < i; j++)
				assert_int_not_equal(rr.log[i], rr.log[j]);
	}
}

/* ---- yielding with a full run queue and runnext taken loses no one ---- */
struct fullq {
	weft_wg gate, done;
	int n, ran;
};

static void fullq_fiber(void *arg)
{
	struct fullq *fq = arg;
	weft_wg_wait(NULL, &fq->gate);
	fq->ran++; /* one proc */
	weft_wg_done(&fq->done);
}

static void fullq_main(void *arg)
{
	struct fullq *fq = arg;
	weft_wg_init(&fq->gate);
	weft_wg_init(&fq->done);
	weft_wg_add(&fq->gate, 1);
	weft_wg_add(&fq->done, fq->n);
	for (int i = 0; i < fq->n; i++)
		assert_int_equal(weft_go(fullq_fiber, fq), 0);
	/* let them all park on the gate */
	for (int i = 0; i < 4; i++)
		weft_yield();
	/* wakes all at once: runnext, a full local queue and the global queue */
	weft_wg_done(&fq->gate);
	for (int i = 0; i < 10 * fq->n && fq->ran < fq->n; i++)
		assert_int_equal(weft_yield(), 0);
	assert_int_equal(weft_wg_wait(NULL, &fq->done), 0);
}

static void test_yield_full_queue(void **state)
{
	(void)state;
	/* runnext plus 256 queued is a full queue; 386 fills it again after a
	 * spill of half to the global queue */
	static const int counts[] = { 100, 256, 257, 258, 385, 386, 600 };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct fullq fq = { .n = counts[i] };
		struct weft_opts o = { .procs = 1 };
		assert_int_equal(weft_run(fullq_main, &fq, &o), 0);
		assert_int_equal(fq.ran, fq.n);
	}
}

/* ---- a fiber that only yields still lets timers and pinned fibers run ---- */
struct spin { atomic_bool timer_fired, pinned_ran; };

static void spin_sleeper(void *arg)
{
	struct spin *sp = arg;
	weft_sleep(NULL, 2 * WEFT_MSEC);
	atomic_store(&sp->timer_fired, true);
}

static void spin_pinned(void *arg)
{
	atomic_store(&((struct spin *)arg)->pinned_ran, true);
}

static void spin_main(void *arg)
{
	struct spin *sp = arg;
	weft_go(spin_sleeper, sp);
	weft_go_opts(spin_pinned, sp, &(struct weft_go_opts){ .pin = true });
	while (!atomic_load(&sp->timer_fired) || !atomic_load(&sp->pinned_ran))
		assert_int_equal(weft_yield(), 0);
}

static void test_yield_lets_scheduler_run(void **state)
{
	(void)state;
	struct spin sp = { 0 };
	run(spin_main, &sp);
	assert_true(atomic_load(&sp.timer_fired) && atomic_load(&sp.pinned_ran));
}

/* ---- a channel ping-pong does not starve the rest of the queue ---- */
#define PINGS_MAX 20000000L
struct starve {
	weft_chan *ch;
	atomic_bool stop;
	atomic_long pings;
	weft_wg wg;
};

static void starve_pinger(void *arg)
{
	struct starve *sv = arg;
	int v = 0;
	while (!atomic_load(&sv->stop) && atomic_fetch_add(&sv->pings, 1) < PINGS_MAX)
		weft_chan_send(NULL, sv->ch, &v);
	weft_chan_close(sv->ch);
	weft_wg_done(&sv->wg);
}

static void starve_ponger(void *arg)
{
	struct starve *sv = arg;
	int v;
	while (weft_chan_recv(NULL, sv->ch, &v) == 0)
		;
	weft_wg_done(&sv->wg);
}

/* One proc: every send wakes a receiver into runnext and every receive the
 * sender, so without the scheduler's turn at the queue's head a sleeper
 * woken by its timer would wait until the ping-pong ends on its own
 * (PINGS_MAX, seconds later). */
static void starve_main(void *arg)
{
	struct starve *sv = arg;
	assert_int_equal(weft_chan_new(sizeof(int), 4, &sv->ch), 0);
	weft_wg_init(&sv->wg);
	weft_wg_add(&sv->wg, 3);
	weft_go(starve_pinger, sv);
	weft_go(starve_ponger, sv);
	weft_go(starve_ponger, sv);
	assert_int_equal(weft_sleep(NULL, 20 * WEFT_MSEC), 0);
	long at = atomic_load(&sv->pings);
	atomic_store(&sv->stop, true);
	assert_int_equal(weft_wg_wait(NULL, &sv->wg), 0);
	assert_true(at < PINGS_MAX); /* woke while the ping-pong ran */
	weft_chan_unref(sv->ch);
}

static void test_pingpong_no_starve(void **state)
{
	(void)state;
	struct starve sv = { 0 };
	run(starve_main, &sv);
}

/* ---- sleeps wake in deadline order ---- */
struct sleeper_log {
	int order[8];
	atomic_int n;
	weft_wg wg;
};
struct sleeper {
	struct sleeper_log *log;
	int ms;
};

static void sleeper(void *arg)
{
	struct sleeper *s = arg;
	int64_t t0 = weft_now();
	assert_int_equal(weft_sleep(NULL, s->ms * WEFT_MSEC), 0);
	assert_true(weft_now() - t0 >= s->ms * WEFT_MSEC);
	s->log->order[atomic_fetch_add(&s->log->n, 1)] = s->ms;
	weft_wg_done(&s->log->wg);
}

static void sleep_main(void *arg)
{
	struct sleeper_log *log = arg;
	static const int ms[] = { 50, 10, 40, 20, 30 };
	struct sleeper s[5];
	weft_wg_init(&log->wg);
	weft_wg_add(&log->wg, 5);
	for (int i = 0; i < 5; i++) {
		s[i] = (struct sleeper){ log, ms[i] };
		/* pinned to one proc: order across procs is only as good as the clocks */
		weft_go_opts(sleeper, &s[i], &(struct weft_go_opts){ .pin = true });
	}
	weft_wg_wait(NULL, &log->wg);
}

static void test_sleep_order(void **state)
{
	struct sleeper_log log = { 0 };
	run(sleep_main, &log);
	assert_int_equal(atomic_load(&log.n), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(log.order[i], (i + 1) * 10);
}

/* ---- work stealing moves fibers to other procs ---- */
struct spread {
	atomic_int seen[64];
	weft_wg wg;
};

static void busy(void *arg)
{
	struct spread *sp = arg;
	/* burn a little CPU without blocking, so the spawner's queue backs up */
	for (int round = 0; round < 20; round++) {
		volatile unsigned x = 0;
		for (int i = 0; i < 20000; i++)
			x += (unsigned)i;
		atomic_fetch_add(&sp->seen[weft_proc_id()], 1);
		weft_yield();
	}
	weft_wg_done(&sp->wg);
}

static void spread_main(void *arg)
{
	struct spread *sp = arg;
	weft_wg_init(&sp->wg);
	weft_wg_add(&sp->wg, 200);
	for (int i = 0; i < 200; i++)
		weft_go(busy, sp);
	weft_wg_wait(NULL, &sp->wg);
	struct weft_sched_stats st;
	assert_int_equal(weft_sched_stats(&st), 0);
	if (weft_nprocs() > 1)
		assert_true(st.steals > 0);
}

static void test_stealing(void **state)
{
	if (g_procs < 2)
		skip();
	/* A loaded machine may not schedule the idle proc's thread before the
	 * spawner's proc has run everything itself: a few tries. */
	int used = 0;
	for (int attempt = 0; attempt < 5 && used < 2; attempt++) {
		struct spread sp;
		memset(&sp, 0, sizeof(sp));
		run(spread_main, &sp);
		used = 0;
		for (unsigned i = 0; i < g_procs; i++)
			used += atomic_load(&sp.seen[i]) > 0;
	}
	assert_true(used >= 2);
}

/* ---- an idle proc leaves alone a proc that keeps up with its own queue ----
 * Short fibers spawned in a loop: their proc keeps emptying its queue, and
 * running them there beats moving each one's cache lines to another core.
 * Without the patience rule the idle proc stole nearly all of them. The
 * bound is loose (a preempted spawner may lose a batch or two); the
 * sanitizers slow the spawner past the patience window, so they skip it. */
static void short_fiber(void *arg) { weft_wg_done(arg); }

static void keep_up_main(void *arg)
{
	uint64_t *steals = arg; /* [0] steals, [1] naps */
	weft_wg wg;
	weft_wg_init(&wg);
	weft_wg_add(&wg, 200000);
	for (int i = 0; i < 200000; i++)
		weft_go(short_fiber, &wg);
	weft_wg_wait(NULL, &wg);
	struct weft_sched_stats st;
	assert_int_equal(weft_sched_stats(&st), 0);
	steals[0] = st.steals;
	steals[1] = st.naps;
}

static void test_keeping_up_not_stolen(void **state)
{
#if defined(WEFT_SAN_THREAD) || defined(WEFT_SAN_ADDRESS)
	skip();
#endif
	uint64_t steals[2] = { 0, 0 };
	run(keep_up_main, steals);
	print_message("steals %llu of 200000, naps %llu\n", (unsigned long long)steals[0],
		      (unsigned long long)steals[1]);
	assert_true(steals[0] < 200000 / 10);
}

/* ---- cross-proc wake-up: a fiber pinned on proc 1 wakes one parked on proc 0 ---- */
struct xwake {
	weft_wg ready, done;
	atomic_int home, woke_on;
	atomic_bool moved;     /* the waker left its first proc: the hog may stop */
};

/* Holds the waker's proc without yielding until the waker has moved: the
 * waker, queued behind it, is a backlog that an idle proc steals. (A fiber
 * yielding alone empties its queue at every turn: nothing to steal.) */
static void hog(void *arg)
{
	struct xwake *x = arg;
	int64_t end = weft_now() + 10 * WEFT_SEC;
	while (!atomic_load(&x->moved) && weft_now() < end)
		;
}

static void xwaiter(void *arg)
{
	struct xwake *x = arg;
	atomic_store(&x->home, weft_proc_id());
	weft_wg_done(&x->ready);
	weft_wg_wait(NULL, &x->done);
	atomic_store(&x->woke_on, weft_proc_id());
}

static void xwaker(void *arg)
{
	struct xwake *x = arg;
	weft_wg_wait(NULL, &x->ready);
	/* get stolen onto another proc */
	int home = atomic_load(&x->home);
	weft_go(hog, x);
	for (int i = 0; i < 1000 && weft_proc_id() == home; i++)
		weft_yield();
	atomic_store(&x->moved, true);
	assert_int_not_equal(weft_proc_id(), home);
	weft_sleep(NULL, 10 * WEFT_MSEC); /* let proc 0 park in its ring */
	weft_wg_done(&x->done);
}

static void xwake_main(void *arg)
{
	struct xwake *x = arg;
	weft_wg_init(&x->ready);
	weft_wg_init(&x->done);
	atomic_store(&x->moved, false);
	weft_wg_add(&x->ready, 1);
	weft_wg_add(&x->done, 1);
	atomic_store(&x->woke_on, -1);
	/* the waiter stays on its proc, the waker moves away from it */
	weft_go_opts(xwaiter, x, &(struct weft_go_opts){ .pin = true, .name = "waiter" });
	weft_go(xwaker, x);
}

static void test_cross_proc_wake(void **state)
{
	struct xwake x;
	for (int i = 0; i < 2; i++) {
		struct weft_opts o = { .procs = g_procs };
		struct weft__test_opts t = { .no_msg_ring = i == 1 };
		assert_int_equal(weft__run_test(xwake_main, &x, &o, &t), 0);
		assert_int_equal(atomic_load(&x.woke_on), atomic_load(&x.home));
	}
}

/* ---- many fibers ping-pong through wait groups across procs ---- */
static void relay_main(void *arg)
{
	(void)arg;
	struct counter c = { 0 };
	weft_wg_init(&c.wg);
	weft_wg_add(&c.wg, TEST_SCALE(1000));
	for (int i = 0; i < TEST_SCALE(1000); i++)
		weft_go(bump, &c);
	assert_int_equal(weft_wg_wait(NULL, &c.wg), 0);
	assert_int_equal(atomic_load(&c.n), TEST_SCALE(1000));
}

static void test_wg_many(void **state)
{
	for (int i = 0; i < 20; i++)
		run(relay_main, NULL);
}

/* ---- blocking calls park the fiber, not the proc ---- */
static int slow_call(void *arg)
{
	usleep(20000);
	return *(int *)arg;
}

static void ticker(void *arg)
{
	for (int i = 0; i < 10; i++) {
		atomic_fetch_add((atomic_int *)arg, 1);
		weft_sleep(NULL, WEFT_MSEC);
	}
}

static void blocking_main(void *arg)
{
	atomic_int ticks = 0;
	int v = 42;
	weft_go_opts(ticker, &ticks, &(struct weft_go_opts){ .pin = true });
	assert_int_equal(weft_blocking(slow_call, &v), 42);
	/* the ticker ran on this same proc while we were parked */
	assert_true(atomic_load(&ticks) >= 5);
	weft_sleep(NULL, 20 * WEFT_MSEC);
}

static void test_blocking(void **state)
{
	struct weft_opts o = { .procs = 1 };
	assert_int_equal(weft_run(blocking_main, NULL, &o), 0);
}

/* ---- outside a fiber ---- */
static void test_outside(void **state)
{
	assert_null(weft_self());
	assert_int_equal(weft_yield(), -EPERM);
	assert_int_equal(weft_go(bump, NULL), -EPERM);
	assert_int_equal(weft_proc_id(), -EPERM);
	assert_int_equal(weft_sleep(NULL, 1), -EPERM);
	assert_int_equal(weft_run(NULL, NULL, NULL), -EINVAL);
}

/* ---- the dump lists live fibers with their wait reason ---- */
static void parked_forever(void *arg)
{
	weft_ctx_wait(arg);
}

static void dump_main(void *arg)
{
	weft_ctx *ctx;
	weft_ctx_with_cancel(NULL, &ctx);
	weft_go_opts(parked_forever, ctx, &(struct weft_go_opts){ .name = "sleepy" });
	weft_sleep(NULL, 5 * WEFT_MSEC);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	int n = weft_dump_fibers(fds[1]);
	assert_true(n >= 2);
	char buf[4096] = { 0 };
	close(fds[1]);
	assert_true(read(fds[0], buf, sizeof(buf) - 1) > 0);
	close(fds[0]);
	assert_non_null(strstr(buf, "'sleepy' parked on ctx"));
	assert_non_null(strstr(buf, "'main' running"));
	weft_ctx_cancel(ctx);
	weft_ctx_unref(ctx);
}

static void test_dump(void **state)
{
	run(dump_main, NULL);
}

/* ---- weft_go_opts.on_proc: start on a chosen proc and stay there ---- */
struct placed {
	weft_wg wg;
	atomic_int strays;  /* fibers seen off their proc */
	atomic_int ran[4];
};

static void placed_fiber(void *arg)
{
	struct placed *pl = arg;
	unsigned want = (unsigned)weft_proc_id();
	atomic_fetch_add(&pl->ran[want], 1);
	for (int i = 0; i < 200; i++) {
		if (i % 50 == 0)
			weft_sleep(NULL, 100 * 1000); /* woken by a timer: still home */
		else
			weft_yield();
		if (weft_proc_id() != (int)want)
			atomic_fetch_add(&pl->strays, 1);
	}
	weft_wg_done(&pl->wg);
}

static void placed_free(void *arg)
{
	weft_wg_done(&((struct placed *)arg)->wg);
}

static void on_proc_main(void *arg)
{
	struct placed *pl = arg;
	unsigned n = (unsigned)weft_nprocs();
	struct weft_go_opts o = { .on_proc = true, .proc = n };
	assert_int_equal(weft_go_opts(placed_fiber, pl, &o), -EINVAL);
	o.proc = (unsigned)-1;
	assert_int_equal(weft_go_opts(placed_fiber, pl, &o), -EINVAL);
	for (unsigned i = 0; i < n; i++) {
		weft_wg_add(&pl->wg, 3);
		for (int k = 0; k < 3; k++) {
			o.proc = i;
			assert_int_equal(weft_go_opts(placed_fiber, pl, &o), 0);
		}
	}
	/* .proc is ignored without on_proc */
	weft_wg_add(&pl->wg, 1);
	assert_int_equal(weft_go_opts(placed_free, pl, &(struct weft_go_opts){ .proc = 99 }), 0);
	assert_int_equal(weft_wg_wait(NULL, &pl->wg), 0);
}

static void test_on_proc(void **state)
{
	struct placed pl = { .strays = 0 };
	weft_wg_init(&pl.wg);
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(on_proc_main, &pl, &o), 0);
	assert_int_equal(atomic_load(&pl.strays), 0);
	for (unsigned i = 0; i < g_procs; i++)
		assert_int_equal(atomic_load(&pl.ran[i]), 3);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_outside),
		cmocka_unit_test(test_yield_interleaves),
		cmocka_unit_test(test_yield_round_robin),
		cmocka_unit_test(test_spawn_bounded),
		cmocka_unit_test(test_yield_full_queue),
		cmocka_unit_test_prestate_setup_teardown(test_yield_lets_scheduler_run, set_procs, NULL, (void *)1),
		cmocka_unit_test_prestate_setup_teardown(test_yield_lets_scheduler_run, set_procs, NULL, (void *)2),
		cmocka_unit_test(test_blocking),
		cmocka_unit_test_prestate_setup_teardown(test_spawn_join, set_procs, NULL, (void *)1),
		cmocka_unit_test_prestate_setup_teardown(test_spawn_join, set_procs, NULL, (void *)2),
		cmocka_unit_test_prestate_setup_teardown(test_run_waits_for_all, set_procs, NULL, (void *)1),
		cmocka_unit_test_prestate_setup_teardown(test_run_waits_for_all, set_procs, NULL, (void *)2),
		cmocka_unit_test_prestate_setup_teardown(test_sleep_order, set_procs, NULL, (void *)1),
		cmocka_unit_test_prestate_setup_teardown(test_pingpong_no_starve, set_procs, NULL, (void *)1),
		cmocka_unit_test_prestate_setup_teardown(test_pingpong_no_starve, set_procs, NULL, (void *)2),
		cmocka_unit_test_prestate_setup_teardown(test_sleep_order, set_procs, NULL, (void *)2),
		cmocka_unit_test_prestate_setup_teardown(test_stealing, set_procs, NULL, (void *)2),
		cmocka_unit_test_prestate_setup_teardown(test_keeping_up_not_stolen, set_procs, NULL, (void *)2),
		cmocka_unit_test_prestate_setup_teardown(test_cross_proc_wake, set_procs, NULL, (void *)2),
		cmocka_unit_test_prestate_setup_teardown(test_wg_many, set_procs, NULL, (void *)1),
		cmocka_unit_test_prestate_setup_teardown(test_wg_many, set_procs, NULL, (void *)2),
		cmocka_unit_test_prestate_setup_teardown(test_dump, set_procs, NULL, (void *)2),
		cmocka_unit_test_prestate_setup_teardown(test_on_proc, set_procs, NULL, (void *)1),
		cmocka_unit_test_prestate_setup_teardown(test_on_proc, set_procs, NULL, (void *)3),
	};
	return cmocka_run_group_tests_name("sched", table, NULL, NULL);
}
