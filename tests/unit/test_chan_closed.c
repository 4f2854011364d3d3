/* SPDX-License-Identifier: MIT */
/* test_chan_closed.c — weft_chan_closed polled by one fiber while another closes the
 * channel, each fiber on a proc of its own: the poller sees the close, and the read is
 * synchronised with it (an unlocked read is a data race ThreadSanitizer reports under
 * SAN=thread: found by make mutate, issue 18). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <weft/weft.h>

struct poll {
	weft_chan *ch;
	atomic_int polls;
	bool seen;
};

/* On a proc of its own: reads the flag with no other synchronisation with the closer,
 * so the first read after the close is ordered by weft_chan_closed's lock alone. */
static void poller(void *arg)
{
	struct poll *p = arg;
	while (!weft_chan_closed(p->ch))
		atomic_fetch_add_explicit(&p->polls, 1, memory_order_relaxed);
	p->seen = true;
}

static void closer(void *arg)
{
	struct poll *p = arg;
	while (atomic_load_explicit(&p->polls, memory_order_relaxed) < 1000)
		weft_yield(); /* the poller runs and saw the channel open */
	assert_int_equal(weft_chan_close(p->ch), 0);
}

static void closer_main(void *arg)
{
	struct poll *p = arg;
	assert_int_equal(weft_chan_new(sizeof(int), 1, &p->ch), 0);
	assert_false(weft_chan_closed(p->ch));
	assert_int_equal(weft_go_opts(poller, p, &(struct weft_go_opts){ .on_proc = true, .proc = 1 }), 0);
	assert_int_equal(weft_go_opts(closer, p, &(struct weft_go_opts){ .on_proc = true, .proc = 0 }), 0);
}

static void test_closed_while_polled(void **state)
{
	(void)state;
	struct poll p = { 0 };
	assert_int_equal(weft_run(closer_main, &p, &(struct weft_opts){ .procs = 2 }), 0);
	assert_true(p.seen);
	assert_true(weft_chan_closed(p.ch));
	weft_chan_unref(p.ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closed_while_polled),
	};
	return cmocka_run_group_tests_name("chan closed", tests, NULL, NULL);
}
