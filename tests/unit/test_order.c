/* SPDX-License-Identifier: MIT */
/* test_order.c — the order in which the sync primitives let several waiters
 * in, as <weft/sync.h> documents it, and a two-proc ready/park race that must
 * not lose a wake-up. Public API only (<weft/weft.h>).
 *
 * A waiter's place in a queue is observed, not assumed: before the next
 * waiter starts, the test waits until the fiber dump (weft_dump_fibers) shows
 * the previous one parked on the primitive. Every wait is bounded: a test that
 * goes wrong fails within seconds naming what it waited for, and a watchdog
 * thread aborts with the test's progress if even the deadlines do not fire
 * (a fiber lost by the scheduler cannot see its context end). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <weft/weft.h>

#include "testutil.h"

#ifdef WEFT_SAN_THREAD
#define SLOW 3 /* TSan: every switch is a thread switch */
#else
#define SLOW 1
#endif
#define PARK_WAIT (5 * SLOW * WEFT_SEC)  /* for a fiber to reach its queue */
#define STEP_WAIT (5 * SLOW * WEFT_SEC)  /* for a documented hand-off */
#define WATCHDOG_S (60 * SLOW)           /* a whole test; then abort */

static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* ---- watchdog: a test that hangs despite its deadlines aborts, saying where ---- */
static struct {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	const char *test;
	char progress[160]; /* what the test waits for now (under mu) */
} wd = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *watchdog(void *arg)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += WATCHDOG_S;
	pthread_mutex_lock(&wd.mu);
	while (!wd.done)
		if (pthread_cond_timedwait(&wd.cv, &wd.mu, &end) == ETIMEDOUT && !wd.done) {
			fprintf(stderr, "WATCHDOG: %s (%u procs) still running after %d s: a lost wake-up? last progress: %s\n",
				wd.test, g_procs, WATCHDOG_S, wd.progress);
			abort();
		}
	pthread_mutex_unlock(&wd.mu);
	return NULL;
}

static int wd_start(void **state)
{
	set_procs(state);
	wd.done = false;
	wd.progress[0] = 0;
	return pthread_create(&wd.th, NULL, watchdog, NULL);
}

static int wd_stop(void **state)
{
	pthread_mutex_lock(&wd.mu);
	wd.done = true;
	pthread_cond_signal(&wd.cv);
	pthread_mutex_unlock(&wd.mu);
	return pthread_join(wd.th, NULL);
}

#define progress(...)                                                  \
	do {                                                           \
		pthread_mutex_lock(&wd.mu);                            \
		snprintf(wd.progress, sizeof(wd.progress), __VA_ARGS__); \
		pthread_mutex_unlock(&wd.mu);                          \
	} while (0)

/* ---- where a fiber is: the dump's line for it ---- */

/* True if the fiber named `name` is parked on `reason` ("mutex", "sem", ...). */
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

/* Wait until `name` is parked on `reason`, or *past (when not NULL) is set:
 * the fiber already went through. */
static void await_parked(const char *name, const char *reason, atomic_bool *past)
{
	int64_t end = weft_now() + PARK_WAIT;
	progress("waiting for %s to park on %s", name, reason);
	while (!(past && atomic_load(past)) && !parked_on(name, reason)) {
		if (weft_now() > end)
			fail_msg("%s never parked on %s", name, reason);
		weft_sleep(NULL, 50 * WEFT_USEC); /* pacing the poll, not ordering */
	}
}

/* Wait until *n >= want, failing with `what` after STEP_WAIT. */
static void await_count(atomic_int *n, int want, const char *what)
{
	int64_t end = weft_now() + STEP_WAIT;
	progress("waiting for %s (%d/%d)", what, atomic_load(n), want);
	while (atomic_load(n) < want) {
		if (weft_now() > end)
			fail_msg("%s: %d of %d after %lld ms", what, atomic_load(n), want,
				 (long long)(STEP_WAIT / WEFT_MSEC));
		weft_sleep(NULL, 50 * WEFT_USEC);
	}
}

static void go_named(weft_fn fn, void *arg, const char *fmt, int i)
{
	char name[32];
	snprintf(name, sizeof(name), fmt, i);
	assert_int_equal(weft_go_opts(fn, arg, &(struct weft_go_opts){ .name = name }), 0);
}

static void wait_all(weft_wg *wg, const char *what)
{
	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, STEP_WAIT, &ctx), 0);
	int r = weft_wg_wait(ctx, wg);
	weft_ctx_unref(ctx);
	if (r)
		fail_msg("%s: not done after %lld ms (%d)", what, (long long)(STEP_WAIT / WEFT_MSEC), r);
}

/* ---- mutex: "park in FIFO order"; unlock wakes "the longest waiter" ----
 * Four waiters queue one after the other behind the holder; with nobody
 * barging, each unlock lets the next in: they enter in arrival order. */
#define NW 4
struct mfifo {
	weft_mutex m;
	atomic_int next;
	int at[NW];
	weft_wg wg;
};
struct who { void *t; int i; };

static void mfifo_waiter(void *arg)
{
	struct who *w = arg;
	struct mfifo *t = w->t;
	assert_int_equal(weft_mutex_lock(NULL, &t->m), 0);
	t->at[w->i] = atomic_fetch_add(&t->next, 1);
	weft_yield(); /* hold it across a switch: the next must still wait */
	assert_int_equal(weft_mutex_unlock(&t->m), 0);
	weft_wg_done(&t->wg);
}

static void mfifo_main(void *arg)
{
	struct mfifo *t = arg;
	struct who w[NW];
	char name[16];
	assert_int_equal(weft_mutex_lock(NULL, &t->m), 0);
	weft_wg_add(&t->wg, NW);
	for (int i = 0; i < NW; i++) {
		w[i] = (struct who){ t, i };
		go_named(mfifo_waiter, &w[i], "mfifo%d", i);
		snprintf(name, sizeof(name), "mfifo%d", i);
		await_parked(name, "mutex", NULL);
	}
	assert_int_equal(weft_mutex_unlock(&t->m), 0);
	wait_all(&t->wg, "mutex waiters");
	for (int i = 0; i < NW; i++)
		if (t->at[i] != i)
			fail_msg("mutex: waiter %d (queued %dth) entered %dth: not FIFO", i, i, t->at[i]);
}

static void test_mutex_fifo(void **state)
{
	struct mfifo t = { .m = WEFT_MUTEX_INIT };
	wd.test = "test_mutex_fifo";
	run(mfifo_main, &t);
}

/* ---- mutex starvation mode: "once a waiter has been waiting for more than
 * 1 ms the mutex ... hands ownership directly to the head waiter at each
 * unlock". A barger takes the mutex whenever it is free (try_lock never
 * queues), holds it across a switch and retakes it at once after unlocking;
 * three waiters queued behind it must all get in while it keeps going. Without the hand-off the barger wins every race (the
 * woken waiter finds it held again) and the waiters never get in: the
 * deadline fails. */
struct mstarve {
	weft_mutex m;
	atomic_bool stop;
	atomic_long barges;
	atomic_int next;
	atomic_bool got[3];
	weft_wg wg, bwg;
};

static void barger(void *arg)
{
	struct mstarve *t = arg;
	while (!atomic_load(&t->stop)) {
		if (weft_mutex_try_lock(&t->m) == 0) {
			atomic_fetch_add(&t->barges, 1);
			weft_yield(); /* hold it while the woken waiter runs */
			weft_mutex_unlock(&t->m);
			continue; /* and try again at once */
		}
		weft_yield();
	}
	weft_wg_done(&t->bwg);
}

static void starve_waiter(void *arg)
{
	struct who *w = arg;
	struct mstarve *t = w->t;
	assert_int_equal(weft_mutex_lock(NULL, &t->m), 0);
	atomic_fetch_add(&t->next, 1);
	atomic_store(&t->got[w->i], true);
	assert_int_equal(weft_mutex_unlock(&t->m), 0);
	weft_wg_done(&t->wg);
}

static void mstarve_main(void *arg)
{
	struct mstarve *t = arg;
	struct who w[3];
	char name[16];
	weft_wg_add(&t->bwg, 1);
	assert_int_equal(weft_go(barger, t), 0);
	while (atomic_load(&t->barges) < 10) /* the barger holds m whenever it switches */
		weft_yield();
	weft_wg_add(&t->wg, 3);
	for (int i = 0; i < 3; i++) {
		w[i] = (struct who){ t, i };
		go_named(starve_waiter, &w[i], "starve%d", i);
		snprintf(name, sizeof(name), "starve%d", i);
		await_parked(name, "mutex", &t->got[i]);
	}
	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, STEP_WAIT, &ctx), 0);
	int r = weft_wg_wait(ctx, &t->wg);
	weft_ctx_unref(ctx);
	long barges = atomic_load(&t->barges);
	int got = atomic_load(&t->next);
	atomic_store(&t->stop, true);
	weft_wg_wait(NULL, &t->bwg);
	weft_wg_wait(NULL, &t->wg);
	if (r)
		fail_msg("mutex starvation: after %lld ms the barger took the mutex %ld times and "
			 "the waiters got it %d of 3 times: no hand-off to the head waiter",
			 (long long)(STEP_WAIT / WEFT_MSEC), barges, got);
	/* All three got in; their order is not asserted here. A waiter woken by an unlock
	 * runs its retry on another proc while the barger goes on, and it is off the queue
	 * until it requeues at the front: an unlock in that window hands the mutex to the
	 * head as documented, which is then the next waiter (seen about one run in two under
	 * ASan on a loaded machine). test_mutex_fifo checks the queue's order. */
}

static void test_mutex_starvation_fifo(void **state)
{
	struct mstarve t = { .m = WEFT_MUTEX_INIT };
	wd.test = "test_mutex_starvation_fifo";
	run(mstarve_main, &t);
}

/* ---- rwmutex: "once a writer waits, new readers wait behind it ...; when a
 * writer unlocks, the readers that queued meanwhile go first".
 * Held by a reader; queued: writer W1, readers R1 R2, writer W2. Then W1,
 * then R1 and R2 together, then W2. */
struct rwo {
	weft_rwmutex rw;
	atomic_int seq, inside, max_inside, readers_in;
	int w_at[2], r_at[2];
	atomic_bool bad_overlap;
	weft_wg wg;
};

static void rwo_writer(void *arg)
{
	struct who *w = arg;
	struct rwo *t = w->t;
	assert_int_equal(weft_rwmutex_lock(NULL, &t->rw), 0);
	t->w_at[w->i] = atomic_fetch_add(&t->seq, 1);
	if (atomic_load(&t->inside))
		atomic_store(&t->bad_overlap, true);
	weft_yield();
	assert_int_equal(weft_rwmutex_unlock(&t->rw), 0);
	weft_wg_done(&t->wg);
}

static void rwo_reader(void *arg)
{
	struct who *w = arg;
	struct rwo *t = w->t;
	assert_int_equal(weft_rwmutex_rlock(NULL, &t->rw), 0);
	t->r_at[w->i] = atomic_fetch_add(&t->seq, 1);
	int n = atomic_fetch_add(&t->inside, 1) + 1;
	int m = atomic_load(&t->max_inside);
	while (n > m && !atomic_compare_exchange_weak(&t->max_inside, &m, n))
		;
	/* admitted together: each holds its share until the other is in too */
	atomic_fetch_add(&t->readers_in, 1);
	await_count(&t->readers_in, 2, "rwmutex: the two readers queued behind a writer admitted together");
	atomic_fetch_sub(&t->inside, 1);
	assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
	weft_wg_done(&t->wg);
}

static void rwo_main(void *arg)
{
	struct rwo *t = arg;
	struct who w[2] = { { t, 0 }, { t, 1 } }, r[2] = { { t, 0 }, { t, 1 } };
	assert_int_equal(weft_rwmutex_rlock(NULL, &t->rw), 0);
	weft_wg_add(&t->wg, 4);
	go_named(rwo_writer, &w[0], "rww%d", 0);
	await_parked("rww0", "rwmutex write", NULL);
	/* a writer waits: a new reader may not join the reader holding it */
	assert_int_equal(weft_rwmutex_try_rlock(&t->rw), -EBUSY);
	go_named(rwo_reader, &r[0], "rwr%d", 0);
	await_parked("rwr0", "rwmutex read", NULL);
	go_named(rwo_reader, &r[1], "rwr%d", 1);
	await_parked("rwr1", "rwmutex read", NULL);
	go_named(rwo_writer, &w[1], "rww%d", 1);
	await_parked("rww1", "rwmutex write", NULL);
	assert_int_equal(atomic_load(&t->seq), 0);
	assert_int_equal(weft_rwmutex_runlock(&t->rw), 0);
	wait_all(&t->wg, "rwmutex waiters");
	if (t->w_at[0] != 0)
		fail_msg("rwmutex: the first queued writer entered %dth, not first", t->w_at[0]);
	if (t->r_at[0] + t->r_at[1] != 3 || t->r_at[0] < 1 || t->r_at[1] < 1)
		fail_msg("rwmutex: the readers queued behind writer 1 entered %dth and %dth, want 1st and 2nd",
			 t->r_at[0], t->r_at[1]);
	if (t->w_at[1] != 3)
		fail_msg("rwmutex: the second writer entered %dth, want last", t->w_at[1]);
	assert_int_equal(atomic_load(&t->max_inside), 2);
	assert_false(atomic_load(&t->bad_overlap));
}

static void test_rwmutex_writer_preference(void **state)
{
	struct rwo t = { .rw = WEFT_RWMUTEX_INIT };
	wd.test = "test_rwmutex_writer_preference";
	run(rwo_main, &t);
}

/* ---- semaphore: FIFO, "a request that does not fit blocks every request
 * behind it"; a waiter that leaves the head lets the ones behind it in.
 * Size 4, 2 held. Queued: H wants 4 (cancellable), S0 and S1 want 1 each
 * (they fit, but wait behind H), S2 wants 2. H gives up: S0 and S1 get in
 * with no release; S2 waits until 2 units come back. */
struct semo {
	weft_sem s;
	weft_ctx *hctx;
	int hr;
	atomic_int in_small;
	atomic_bool got[3], release;
	weft_wg wg;
};
static const long sem_want[3] = { 1, 1, 2 };

static void semo_head(void *arg)
{
	struct semo *t = arg;
	t->hr = weft_sem_acquire(t->hctx, &t->s, 4);
	weft_wg_done(&t->wg);
}

static void semo_small(void *arg)
{
	struct who *w = arg;
	struct semo *t = w->t;
	assert_int_equal(weft_sem_acquire(NULL, &t->s, sem_want[w->i]), 0);
	atomic_store(&t->got[w->i], true);
	if (w->i < 2) {
		atomic_fetch_add(&t->in_small, 1);
		while (!atomic_load(&t->release)) /* hold until told: S2 must not fit meanwhile */
			weft_sleep(NULL, 50 * WEFT_USEC);
	}
	assert_int_equal(weft_sem_release(&t->s, sem_want[w->i]), 0);
	weft_wg_done(&t->wg);
}

static void semo_main(void *arg)
{
	struct semo *t = arg;
	struct who w[3] = { { t, 0 }, { t, 1 }, { t, 2 } };
	char name[16];
	assert_int_equal(weft_sem_acquire(NULL, &t->s, 2), 0);
	assert_int_equal(weft_ctx_with_cancel(NULL, &t->hctx), 0);
	weft_wg_add(&t->wg, 4);
	assert_int_equal(weft_go_opts(semo_head, t, &(struct weft_go_opts){ .name = "semhead" }), 0);
	await_parked("semhead", "sem", NULL);
	for (int i = 0; i < 3; i++) {
		go_named(semo_small, &w[i], "semw%d", i);
		snprintf(name, sizeof(name), "semw%d", i);
		await_parked(name, "sem", NULL);
	}
	for (int i = 0; i < 3; i++)
		if (atomic_load(&t->got[i]))
			fail_msg("sem: waiter %d (wants %ld) passed the head that does not fit", i, sem_want[i]);
	progress("sem: cancelling the head");
	weft_ctx_cancel(t->hctx);
	await_count(&t->in_small, 2, "sem: the waiters behind a cancelled head that now fit");
	if (atomic_load(&t->got[2]))
		fail_msg("sem: the 2-unit waiter got in with 0 units free");
	assert_true(parked_on("semw2", "sem"));
	assert_int_equal(weft_sem_release(&t->s, 1), 0); /* 1 free: still not enough for S2 */
	assert_true(parked_on("semw2", "sem"));
	if (atomic_load(&t->got[2]))
		fail_msg("sem: the 2-unit waiter got in with 1 unit free");
	assert_int_equal(weft_sem_release(&t->s, 1), 0); /* main's 2 back: S2 fits */
	atomic_store(&t->release, true);
	wait_all(&t->wg, "sem waiters");
	assert_int_equal(t->hr, -ECANCELED);
	assert_true(atomic_load(&t->got[2]));
	assert_int_equal(weft_sem_try_acquire(&t->s, 4), 0); /* every unit came back */
	assert_int_equal(weft_sem_release(&t->s, 4), 0);
	weft_ctx_unref(t->hctx);
}

static void test_sem_cancelled_head(void **state)
{
	struct semo t = { .s = WEFT_SEM_INIT(4) };
	wd.test = "test_sem_cancelled_head";
	run(semo_main, &t);
}

/* ---- cond: signal "wakes the longest waiter": FIFO ----
 * Four waiters wait in turn; each signal hands one ticket, taken by the one it
 * woke; the next signal only after that one has left. */
struct condo {
	weft_mutex m;
	weft_cond c;
	int tickets, pos, order[NW];
	atomic_int left;
	weft_wg wg;
};

static void condo_waiter(void *arg)
{
	struct who *w = arg;
	struct condo *t = w->t;
	assert_int_equal(weft_mutex_lock(NULL, &t->m), 0);
	while (t->tickets == 0)
		assert_int_equal(weft_cond_wait(NULL, &t->c, &t->m), 0);
	t->tickets--;
	t->order[t->pos++] = w->i;
	assert_int_equal(weft_mutex_unlock(&t->m), 0);
	atomic_fetch_add(&t->left, 1);
	weft_wg_done(&t->wg);
}

static void condo_main(void *arg)
{
	struct condo *t = arg;
	struct who w[NW];
	char name[16];
	weft_wg_add(&t->wg, NW);
	for (int i = 0; i < NW; i++) {
		w[i] = (struct who){ t, i };
		go_named(condo_waiter, &w[i], "cond%d", i);
		snprintf(name, sizeof(name), "cond%d", i);
		await_parked(name, "cond", NULL);
	}
	for (int k = 0; k < NW; k++) {
		assert_int_equal(weft_mutex_lock(NULL, &t->m), 0);
		t->tickets++;
		assert_int_equal(weft_cond_signal(&t->c), 1);
		assert_int_equal(weft_mutex_unlock(&t->m), 0);
		await_count(&t->left, k + 1, "cond: the signalled waiter leaving");
	}
	wait_all(&t->wg, "cond waiters");
	for (int k = 0; k < NW; k++)
		if (t->order[k] != k)
			fail_msg("cond: signal %d woke waiter %d (queued %dth): not FIFO", k, t->order[k],
				 t->order[k]);
}

static void test_cond_signal_fifo(void **state)
{
	struct condo t = { .m = WEFT_MUTEX_INIT, .c = WEFT_COND_INIT };
	wd.test = "test_cond_signal_fifo";
	run(condo_main, &t);
}

/* ---- ready/park race on two procs ----
 * Pairs of fibers ping-pong over unbuffered channels: each send readies a
 * fiber that is parking or about to, often from the other proc. Then rounds
 * of fan-out/fan-in over a wait group. Every operation carries a deadline
 * context: a lost wake-up fails fast, naming the pair and the round, instead
 * of hanging (and the watchdog catches a fiber that not even its deadline
 * can wake). */
#define PAIRS 32
#define ROUNDS TEST_SCALE(4000)
#define FANS TEST_SCALE(2000)
#define FAN_N 8

struct race {
	weft_ctx *ctx;
	weft_chan *ping[PAIRS], *pong[PAIRS];
	atomic_long done[PAIRS];
	atomic_int failed_pair; /* -1, or the first pair that failed */
	int err;
	long err_round;
	int home;               /* the pingers' proc; the pongers run on the other */
	atomic_int wrong_proc;  /* a racer found itself on the wrong proc */
	atomic_bool placed;     /* a seeker reached the other proc and spawned the pongers */
	weft_wg wg, seekers;
};
struct racer { struct race *t; int pair; };

static void race_fail(struct race *t, int pair, long round, int err)
{
	int none = -1;
	if (atomic_compare_exchange_strong(&t->failed_pair, &none, pair)) {
		t->err = err;
		t->err_round = round;
	}
	weft_ctx_cancel(t->ctx); /* the others stop too */
}

static void pinger(void *arg)
{
	struct racer *r = arg;
	struct race *t = r->t;
	for (long i = 0; i < ROUNDS; i++) {
		long v = i, back = -1;
		int e = weft_chan_send(t->ctx, t->ping[r->pair], &v);
		if (!e)
			e = weft_chan_recv(t->ctx, t->pong[r->pair], &back);
		if (e || back != i + 1) {
			race_fail(t, r->pair, i, e ? e : -EPROTO);
			break;
		}
		atomic_store(&t->done[r->pair], i + 1);
		if (weft_proc_id() != t->home)
			atomic_store(&t->wrong_proc, 1);
	}
	weft_wg_done(&t->wg);
}

static void ponger(void *arg)
{
	struct racer *r = arg;
	struct race *t = r->t;
	for (long i = 0; i < ROUNDS; i++) {
		long v;
		int e = weft_chan_recv(t->ctx, t->ping[r->pair], &v);
		if (!e) {
			v++;
			e = weft_chan_send(t->ctx, t->pong[r->pair], &v);
		}
		if (e) {
			race_fail(t, r->pair, i, e);
			break;
		}
		if (weft_proc_id() == t->home)
			atomic_store(&t->wrong_proc, 1);
	}
	weft_wg_done(&t->wg);
}

/* The pongers must start on the other proc, and the API cannot spawn there:
 * several seekers yield (a run queue that never empties is a backlog the idle
 * proc steals from) until one finds itself on the other proc and spawns the
 * pongers there, pinned. */
static struct racer g_rs[PAIRS];

static void seeker(void *arg)
{
	struct race *t = arg;
	int64_t end = weft_now() + PARK_WAIT;
	while (!atomic_load(&t->placed) && weft_now() < end) {
		bool mine = false;
		if (weft_proc_id() != t->home)
			mine = !atomic_exchange(&t->placed, true);
		if (mine)
			for (int p = 0; p < PAIRS; p++)
				assert_int_equal(weft_go_opts(ponger, &g_rs[p],
							      &(struct weft_go_opts){ .name = "ponger", .pin = true }), 0);
		else
			weft_yield();
	}
	weft_wg_done(&t->seekers);
}

static void fan_one(void *arg)
{
	weft_wg *wg = arg;
	weft_yield();
	weft_wg_done(wg);
}

static void race_main(void *arg)
{
	struct race *t = arg;
	atomic_store(&t->failed_pair, -1);
	assert_int_equal(weft_nprocs(), 2);
	assert_int_equal(weft_ctx_with_timeout(NULL, 20 * SLOW * WEFT_SEC, &t->ctx), 0); /* ~1 s needed */
	t->home = weft_proc_id();
	weft_wg_add(&t->wg, 2 * PAIRS);
	for (int p = 0; p < PAIRS; p++) {
		assert_int_equal(weft_chan_new(sizeof(long), 0, &t->ping[p]), 0);
		assert_int_equal(weft_chan_new(sizeof(long), 0, &t->pong[p]), 0);
		g_rs[p] = (struct racer){ t, p };
		assert_int_equal(weft_go_opts(pinger, &g_rs[p], &(struct weft_go_opts){ .name = "pinger", .pin = true }), 0);
	}
	weft_wg_add(&t->seekers, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(weft_go(seeker, t), 0);
	weft_wg_wait(NULL, &t->seekers);
	if (!atomic_load(&t->placed))
		fail_msg("ready/park race: no fiber reached the second proc in %lld ms: cannot place the pongers",
			 (long long)(PARK_WAIT / WEFT_MSEC));
	progress("ping-pong: %d pairs x %d rounds across 2 procs", PAIRS, ROUNDS);
	struct weft_sched_stats st0, st1;
	assert_int_equal(weft_sched_stats(&st0), 0);
	/* A wake-up lost after a channel claimed the waiter cannot be rescued by the
	 * racer's own deadline (the waiter is already claimed): this wait can. */
	weft_ctx *wctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, 10 * SLOW * WEFT_SEC, &wctx), 0); /* ~0.5 s needed */
	int wr = weft_wg_wait(wctx, &t->wg); /* every racer ends: done, or its ctx ended */
	weft_ctx_unref(wctx);
	if (wr) {
		int stuck = -1;
		for (int p = 0; p < PAIRS && stuck < 0; p++)
			if (atomic_load(&t->done[p]) < ROUNDS)
				stuck = p;
		fail_msg("ready/park race: lost wake-up: after %d s pair %d is stuck at round %ld of %d "
			 "(a fiber readied across procs never ran)", 10 * SLOW, stuck,
			 stuck >= 0 ? atomic_load(&t->done[stuck]) : -1L, ROUNDS);
	}
	assert_int_equal(weft_sched_stats(&st1), 0);
	int fp = atomic_load(&t->failed_pair);
	if (fp >= 0)
		fail_msg("ready/park race: pair %d stopped at round %ld of %d (%s): a lost wake-up leaves "
			 "a fiber parked until the deadline", fp, t->err_round, ROUNDS, strerror(-t->err));
	assert_false(atomic_load(&t->wrong_proc)); /* pinned: every wake-up crossed procs */
	uint64_t cross = (st1.wakeups_msg_ring - st0.wakeups_msg_ring) + (st1.wakeups_eventfd - st0.wakeups_eventfd);
	progress("ping-pong done: %llu cross-proc wake-ups, %llu parks", (unsigned long long)cross,
		 (unsigned long long)(st1.parks - st0.parks));
	for (int r = 0; r < FANS; r++) {
		weft_wg fan;
		weft_wg_init(&fan);
		weft_wg_add(&fan, FAN_N);
		for (int i = 0; i < FAN_N; i++)
			assert_int_equal(weft_go(fan_one, &fan), 0);
		int e = weft_wg_wait(t->ctx, &fan);
		if (e)
			fail_msg("ready/park race: fan-in round %d of %d: the waiter was never woken (%s)", r,
				 FANS, strerror(-e));
		if ((r & 63) == 0)
			progress("fan-in round %d of %d", r, FANS);
	}
	for (int p = 0; p < PAIRS; p++) {
		weft_chan_unref(t->ping[p]);
		weft_chan_unref(t->pong[p]);
	}
	weft_ctx_unref(t->ctx);
}

static void test_ready_park_race(void **state)
{
	struct race t = { 0 };
	wd.test = "test_ready_park_race";
	run(race_main, &t);
}

#define WD(t, procs) cmocka_unit_test_prestate_setup_teardown(t, wd_start, wd_stop, (void *)(procs))
#define WD_BOTH(t) WD(t, 1), WD(t, 2)

int main(void)
{
	const struct CMUnitTest tests[] = {
		WD_BOTH(test_mutex_fifo),
		WD_BOTH(test_mutex_starvation_fifo),
		WD_BOTH(test_rwmutex_writer_preference),
		WD_BOTH(test_sem_cancelled_head),
		WD_BOTH(test_cond_signal_fifo),
		WD(test_ready_park_race, 2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
