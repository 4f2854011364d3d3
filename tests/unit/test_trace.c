/* SPDX-License-Identifier: MIT */
/* test_trace.c — the execution trace (weft/trace.h): the events a run writes, a full ring
 * keeping the newest events and counting the rest lost, collecting while the procs write
 * (checked for torn events; run under TSan too), the errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

#include "testutil.h"

static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* What a collect saw. */
struct seen {
	long n[WEFT_TRACE_LOST + 1];
	long lost;                 /* events the LOST events count */
	long bad;                  /* torn or out-of-order events */
	int64_t last_ts[64];       /* per proc */
	uint64_t last_span_end;
	bool park_reason, named_switch, wake_by_fiber;
	long spans_ok;             /* span begins whose text matched their fiber */
};

static int on_event(void *arg, const struct weft_trace_event *ev)
{
	struct seen *s = arg;
	if (ev->type < WEFT_TRACE_SWITCH || ev->type > WEFT_TRACE_LOST || ev->proc >= 64) {
		s->bad++;
		return 0;
	}
	s->n[ev->type]++;
	if (ev->type == WEFT_TRACE_LOST) {
		s->lost += (long)ev->arg;
		return 0;
	}
	if (ev->ts_ns < s->last_ts[ev->proc])
		s->bad++; /* a proc's events come out in its order */
	s->last_ts[ev->proc] = ev->ts_ns;
	switch (ev->type) {
	case WEFT_TRACE_SWITCH:
		if (strcmp(ev->text, "tracee") == 0)
			s->named_switch = true;
		break;
	case WEFT_TRACE_PARK:
		if (ev->text[0])
			s->park_reason = true;
		break;
	case WEFT_TRACE_WAKE:
		if (ev->arg)
			s->wake_by_fiber = true;
		break;
	case WEFT_TRACE_SPAN_BEGIN: {
		char want[64];
		snprintf(want, sizeof(want), "fiber=%" PRIu64, ev->fiber);
		const char *args = ev->text + strlen(ev->text) + 1;
		if (strcmp(ev->text, "span") == 0 && strcmp(args, want) == 0)
			s->spans_ok++;
		else
			s->bad++;
		break;
	}
	case WEFT_TRACE_SPAN_END:
		s->last_span_end = ev->arg;
		break;
	}
	return 0;
}

/* ---- errors ---- */

static void errors_main(void *arg)
{
	struct seen s = { 0 };
	assert_false(weft_trace_enabled());
	assert_int_equal(weft_trace_stop(NULL, NULL), -ENOENT);
	assert_int_equal(weft_trace_collect(on_event, &s), -ENOENT);
	assert_int_equal(weft_trace_begin("x", NULL), 0); /* off: nothing */
	weft_trace_end(0);
	assert_int_equal(weft_trace_start(&(struct weft_trace_opts){ .events_per_proc = 1u << 25 }), -EINVAL);
	assert_int_equal(weft_trace_start(NULL), 0);
	assert_true(weft_trace_enabled());
	assert_int_equal(weft_trace_start(NULL), -EBUSY); /* one at a time */
	assert_int_equal(weft_trace_collect(NULL, &s), -EINVAL);
	assert_true(weft_trace_stop(on_event, &s) >= 0);
	assert_int_equal(weft_trace_stop(NULL, NULL), -ENOENT);
	assert_false(weft_trace_enabled());
	assert_int_equal(weft_trace_collect(on_event, &s), -ENOENT); /* stopped: nothing left */
	assert_int_equal(weft_trace_start(NULL), 0);                  /* and again */
	assert_int_equal(weft_trace_stop(NULL, NULL), 0);
}

static void test_errors(void **state)
{
	(void)state;
	struct seen s = { 0 };
	assert_int_equal(weft_trace_start(NULL), -EPERM);
	assert_int_equal(weft_trace_stop(NULL, NULL), -EPERM);
	assert_int_equal(weft_trace_collect(on_event, &s), -EPERM);
	assert_false(weft_trace_enabled());
	assert_int_equal(weft_trace_begin("x", NULL), 0);
	run(errors_main, NULL);
}

/* ---- what a run writes ---- */

struct pp {
	weft_chan *ping, *pong;
	weft_wg wg;
	int rounds;
};

static void tracee(void *arg)
{
	struct pp *p = arg;
	weft_set_name("tracee");
	for (int i = 0; i < p->rounds; i++) {
		int v;
		assert_int_equal(weft_chan_recv(NULL, p->ping, &v), 0);
		char args[48];
		snprintf(args, sizeof(args), "fiber=%" PRIu64, weft_fiber_id(weft_self()));
		uint64_t span = weft_trace_begin("span", args);
		assert_true(span != 0);
		weft_trace_end(span);
		assert_int_equal(weft_chan_send(NULL, p->pong, &v), 0);
	}
	weft_wg_done(&p->wg);
}

static void events_main(void *arg)
{
	struct seen *s = arg;
	struct pp p = { .rounds = 100 };
	assert_int_equal(weft_chan_new(sizeof(int), 0, &p.ping), 0);
	assert_int_equal(weft_chan_new(sizeof(int), 0, &p.pong), 0);
	weft_wg_init(&p.wg);
	weft_wg_add(&p.wg, 1);
	assert_int_equal(weft_trace_start(NULL), 0);
	assert_int_equal(weft_go(tracee, &p), 0);
	for (int i = 0; i < p.rounds; i++) {
		int v = i;
		assert_int_equal(weft_chan_send(NULL, p.ping, &v), 0);
		assert_int_equal(weft_chan_recv(NULL, p.pong, &v), 0);
	}
	assert_int_equal(weft_wg_wait(NULL, &p.wg), 0);
	assert_true(weft_trace_stop(on_event, s) > 0);
	weft_chan_unref(p.ping);
	weft_chan_unref(p.pong);
}

static void test_events(void **state)
{
	(void)state;
	struct seen s = { 0 };
	run(events_main, &s);
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.lost, 0);
	assert_int_equal(s.n[WEFT_TRACE_SPAN_BEGIN], 100);
	assert_int_equal(s.spans_ok, 100);
	assert_int_equal(s.n[WEFT_TRACE_SPAN_END], 100);
	assert_true(s.n[WEFT_TRACE_SWITCH] >= 200);
	assert_true(s.named_switch);
	assert_true(s.park_reason);
	assert_true(s.wake_by_fiber);
}

/* ---- a full ring keeps the newest events ---- */

struct wrap {
	struct seen s;
	uint64_t last_span;
	long written;
};

static void wrap_main(void *arg)
{
	struct wrap *w = arg;
	assert_int_equal(weft_trace_start(&(struct weft_trace_opts){ .events_per_proc = 50 }), 0);
	char args[48];
	snprintf(args, sizeof(args), "fiber=%" PRIu64, weft_fiber_id(weft_self()));
	for (int i = 0; i < 1000; i++) {
		uint64_t span = weft_trace_begin("span", args);
		weft_trace_end(span);
		w->last_span = span;
	}
	/* a collect while running, then the stop's: the first takes what the ring holds */
	long n = weft_trace_collect(on_event, &w->s);
	assert_true(n > 0);
	w->written = n;
	assert_int_equal(weft_trace_stop(on_event, &w->s), 0); /* nothing since */
}

static void test_wrap_keeps_newest(void **state)
{
	(void)state;
	struct wrap w = { 0 };
	run(wrap_main, &w);
	assert_int_equal(w.s.bad, 0);
	/* 64 slots (50 rounded up): at most 64 events came out, the lost ones counted, and
	 * the last span is among them (the newest are kept) */
	long kept = 0;
	for (int t = WEFT_TRACE_SWITCH; t < WEFT_TRACE_LOST; t++)
		kept += w.s.n[t];
	assert_true(kept <= 64);
	assert_true(kept >= 60);
	assert_int_equal(w.s.n[WEFT_TRACE_LOST], 1);
	assert_true(kept + w.s.lost >= 2000);
	assert_int_equal(w.s.last_span_end, w.last_span);
}

/* ---- collecting while the procs write (TSan: no race; no torn event) ---- */

struct busy {
	atomic_bool stop;
	weft_wg wg;
	struct seen s;
	long collects;
};

static void spinner(void *arg)
{
	struct busy *b = arg;
	char args[48];
	snprintf(args, sizeof(args), "fiber=%" PRIu64, weft_fiber_id(weft_self()));
	while (!atomic_load(&b->stop)) {
		weft_trace_end(weft_trace_begin("span", args));
		weft_yield();
	}
	weft_wg_done(&b->wg);
}

static void busy_main(void *arg)
{
	struct busy *b = arg;
	weft_wg_init(&b->wg);
	assert_int_equal(weft_trace_start(&(struct weft_trace_opts){ .events_per_proc = 256 }), 0);
	weft_wg_add(&b->wg, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(weft_go(spinner, b), 0);
	for (int i = 0; i < TEST_SCALE(2000); i++) {
		assert_true(weft_trace_collect(on_event, &b->s) >= 0);
		b->collects++;
		weft_yield();
	}
	atomic_store(&b->stop, true);
	assert_int_equal(weft_wg_wait(NULL, &b->wg), 0);
	assert_true(weft_trace_stop(on_event, &b->s) >= 0);
}

static void test_collect_while_writing(void **state)
{
	(void)state;
	struct busy *b = calloc(1, sizeof(*b));
	assert_non_null(b);
	run(busy_main, b);
	assert_int_equal(b->s.bad, 0);
	assert_true(b->s.spans_ok > 0);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		BOTH(test_events),
		cmocka_unit_test_prestate_setup_teardown(test_wrap_keeps_newest, set_procs, NULL, (void *)1),
		BOTH(test_collect_while_writing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
