/* SPDX-License-Identifier: MIT */
/* test_signals.c — signals blocked before weft_run are delivered to a fiber through the
 * signalfd (process-directed kill and thread-directed raise), in order, and the wait is
 * cancellable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <weft/weft.h>

#include "testutil.h"

#include "service/signals.h"


static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

static void sender(void *arg)
{
	weft_sleep(NULL, 20 * WEFT_MSEC);
	kill(getpid(), SIGHUP);
	weft_sleep(NULL, 5 * WEFT_MSEC);
	kill(getpid(), SIGUSR1);
}

struct rec {
	int sigs[8];
	int n;
};

static int record(int signo, void *arg)
{
	struct rec *r = arg;
	r->sigs[r->n++] = signo;
	return r->n == 3 ? 42 : 0;
}

static void deliver_main(void *arg)
{
	struct weftd_signals *s;
	assert_int_equal(weftd_signals_open(&s), 0);
	/* nothing pending: the wait parks and times out */
	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, 20 * WEFT_MSEC, &ctx), 0);
	assert_int_equal(weftd_signals_next(ctx, s), -ETIMEDOUT);
	weft_ctx_unref(ctx);
	/* process-directed, sent while we are parked */
	assert_int_equal(weft_go(sender, NULL), 0);
	struct rec r = { .n = 0 };
	raise(SIGTERM); /* thread-directed, pending before the wait (same thread or not) */
	assert_int_equal(weftd_signals_run(NULL, s, record, &r), 42);
	assert_int_equal(r.sigs[0], SIGTERM);
	assert_int_equal(r.sigs[1], SIGHUP);
	assert_int_equal(r.sigs[2], SIGUSR1);
	/* cancellation while parked on the poll */
	assert_int_equal(weft_ctx_with_cancel(NULL, &ctx), 0);
	weft_ctx_cancel(ctx);
	assert_int_equal(weftd_signals_next(ctx, s), -ECANCELED);
	weft_ctx_unref(ctx);
	weftd_signals_free(s);
}

static void test_deliver(void **state)
{
	g_procs = (unsigned)(uintptr_t)*state;
	run(deliver_main, NULL);
}

static void test_pipe_ignored(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	assert_int_equal(write(p[1], "x", 1), -1); /* would kill us if SIGPIPE were default */
	assert_int_equal(errno, EPIPE);
	close(p[1]);
}

static int block(void **state)
{
	return weftd_signals_block();
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test_prestate(test_deliver, (void *)1),
		cmocka_unit_test_prestate(test_deliver, (void *)2),
		cmocka_unit_test(test_pipe_ignored),
	};
	return cmocka_run_group_tests_name("signals", table, block, NULL);
}
