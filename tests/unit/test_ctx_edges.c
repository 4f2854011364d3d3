/* SPDX-License-Identifier: MIT */
/* test_ctx_edges.c — a context cancelled while it still has live children (issue 18,
 * found by make mutate): the children are cancelled with it, with its error, through
 * every generation, a child's deadline timer is taken out of its proc's timers, and
 * everything is freed once its holders drop it (a reference the cancel kept would leak the
 * child and its parent, a timer left behind would be a freed one: both for the
 * sanitizers under SAN=address). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <weft/weft.h>

static void tree_main(void *arg)
{
	(void)arg;
	weft_ctx *root, *kid[3], *grand;
	assert_int_equal(weft_ctx_with_cancel(NULL, &root), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(weft_ctx_with_cancel(root, &kid[i]), 0);
	assert_int_equal(weft_ctx_with_timeout(kid[1], 3600 * WEFT_SEC, &grand), 0);
	weft_ctx_cancel_err(root, -EPIPE);
	assert_int_equal(weft_ctx_err(root), -EPIPE);
	for (int i = 0; i < 3; i++)
		assert_int_equal(weft_ctx_err(kid[i]), -EPIPE);
	assert_int_equal(weft_ctx_err(grand), -EPIPE);
	assert_int_equal(weft_ctx_wait(grand), -EPIPE); /* done: no wait */
	weft_ctx_unref(grand);
	for (int i = 0; i < 3; i++)
		weft_ctx_unref(kid[i]);
	weft_ctx_unref(root);
	/* grand's timer left with it: the timers that come next do not meet it (a timer left
	 * in the heap would be a freed one: AddressSanitizer) */
	for (int i = 0; i < 4; i++) {
		weft_ctx *t;
		assert_int_equal(weft_ctx_with_timeout(NULL, (i + 1) * WEFT_MSEC, &t), 0);
		assert_int_equal(weft_ctx_wait(t), -ETIMEDOUT);
		weft_ctx_unref(t);
		weft_sleep(NULL, WEFT_MSEC);
	}
}

static void test_cancel_with_children(void **state)
{
	(void)state;
	for (unsigned procs = 1; procs <= 2; procs++)
		assert_int_equal(weft_run(tree_main, NULL, &(struct weft_opts){ .procs = procs }), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancel_with_children),
	};
	return cmocka_run_group_tests_name("ctx edges", tests, NULL, NULL);
}
