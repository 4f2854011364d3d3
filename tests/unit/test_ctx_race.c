/* SPDX-License-Identifier: MIT */
/* test_ctx_race.c — a parent's cancel running while a child's last unref is on its way
 * to unlink the child (lib/testing.h's ctx_unref_last hook runs the cancel exactly
 * between the child's count reaching 0 and its unref taking the parent's lock). The
 * cancel must leave that child alone: a reference it took would come back from 0, its
 * cancel and unref would free the child, and the first unref would go on with freed
 * memory (AddressSanitizer: use after free; plain: a double free glibc aborts on).
 * And waiters of one context that another source won, then the context cancelled before
 * they run: the cancel leaves their waiters and watches alone, and their unwatch finds the
 * context's array emptied (it must not take a slot out of it, nor drop a reference the
 * cancel did not take).
 * Private (-Ilib): the hook is a test knob. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <weft/weft.h>

#include "testing.h"

struct race {
	weft_ctx *parent, *child;
	int calls;    /* the hook's calls for child */
	int child_err; /* child's error seen in the hook, before the cancel */
};

static void unref_last(weft_ctx *c, void *arg)
{
	struct race *r = arg;
	if (c != r->child)
		return;
	if (r->calls++)
		return; /* the cancel's own unref of the child (the bug): not twice */
	r->child_err = weft_ctx_err(c);
	weft_ctx_cancel(r->parent);
}

static void race_main(void *arg)
{
	struct race *r = arg;
	assert_int_equal(weft_ctx_with_cancel(NULL, &r->parent), 0);
	assert_int_equal(weft_ctx_with_cancel(r->parent, &r->child), 0);
	weft_ctx_unref(r->child); /* last reference: the hook cancels the parent here */
	r->child = NULL; /* freed: a context made later may get its address */
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->child_err, 0);
	assert_int_equal(weft_ctx_err(r->parent), -ECANCELED);
	/* the parent still works, and has no child left to cancel */
	weft_ctx *late;
	assert_int_equal(weft_ctx_with_cancel(r->parent, &late), 0);
	assert_int_equal(weft_ctx_err(late), -ECANCELED); /* born done */
	weft_ctx_unref(late);
	weft_ctx_unref(r->parent);
}

static void test_cancel_meets_dying_child(void **state)
{
	(void)state;
	for (int procs = 1; procs <= 2; procs++) {
		struct race r = { 0 };
		struct weft__test_opts t = { .ctx_unref_last = unref_last, .ctx_unref_arg = &r };
		struct weft_opts o = { .procs = procs };
		assert_int_equal(weft__run_test(race_main, &r, &o, &t), 0);
		assert_int_equal(r.calls, 1);
	}
}

/* ---- a waiter another source won, its context cancelled before it runs ---- */
#define RECEIVERS 5

struct won {
	weft_ctx *ctx;
	weft_chan *ch;
	weft_wg parked, done;
	int got[RECEIVERS], res[RECEIVERS];
	int next;
};

static void receiver(void *arg)
{
	struct won *t = arg;
	int i = t->next++;
	weft_wg_done(&t->parked);
	t->res[i] = weft_chan_recv(t->ctx, t->ch, &t->got[i]);
	weft_wg_done(&t->done);
}

static void won_main(void *arg)
{
	struct won *t = arg;
	assert_int_equal(weft_ctx_with_cancel(NULL, &t->ctx), 0);
	assert_int_equal(weft_chan_new(sizeof(int), 0, &t->ch), 0);
	weft_wg_add(&t->parked, RECEIVERS);
	weft_wg_add(&t->done, RECEIVERS);
	for (int i = 0; i < RECEIVERS; i++)
		assert_int_equal(weft_go(receiver, t), 0);
	weft_wg_wait(NULL, &t->parked);
	weft_yield(); /* one proc: the receivers ahead in its queue run on into recv and park */
	weft_yield();
	/* one proc: the receivers that the sends win stay queued behind this fiber
	 * until it parks, so the cancel below meets their won waiters */
	for (int i = 0; i < 3; i++) {
		int v = 100 + i;
		assert_int_equal(weft_chan_send(NULL, t->ch, &v), 0);
	}
	weft_ctx_cancel(t->ctx);
	weft_wg_wait(NULL, &t->done);
	int sent = 0, canceled = 0;
	for (int i = 0; i < RECEIVERS; i++) {
		if (t->res[i] == 0) {
			assert_in_range(t->got[i], 100, 102);
			sent++;
		} else {
			assert_int_equal(t->res[i], -ECANCELED);
			canceled++;
		}
	}
	assert_int_equal(sent, 3);
	assert_int_equal(canceled, RECEIVERS - 3);
	weft_chan_unref(t->ch);
	weft_ctx_unref(t->ctx); /* the last reference: every wait gave its own back */
}

static void test_cancel_meets_won_waiters(void **state)
{
	(void)state;
	struct won t = { .parked = WEFT_WG_INIT, .done = WEFT_WG_INIT };
	struct weft_opts o = { .procs = 1 };
	assert_int_equal(weft_run(won_main, &t, &o), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancel_meets_dying_child),
		cmocka_unit_test(test_cancel_meets_won_waiters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
