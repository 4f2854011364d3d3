/* SPDX-License-Identifier: MIT */
/* test_log.c — every log call writes exactly one line: the prefix, the message (cut at the
 * line limit) and one newline, never bytes past what was formatted (a long message used to
 * send stack garbage after the cut), with the journald "<N>" prefix when stderr is a pipe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

/* Log one message with stderr pointed at a pipe; returns what came out (malloc'd). */
static char *capture(enum weftd_log_level prio, const char *msg, size_t *ret_len)
{
	int p[2], saved = dup(STDERR_FILENO);
	static char out[8192];
	ssize_t n;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	weftd_log_init(WEFTD_LOG_INFO); /* not a tty: "<N>" prefixes */
	weftd_log(prio, "%s", msg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	n = read(p[0], out, sizeof(out));
	close(p[0]);
	assert_true(n > 0);
	*ret_len = (size_t)n;
	char *r = malloc((size_t)n + 1);
	memcpy(r, out, (size_t)n);
	r[n] = 0;
	return r;
}

static void test_short_line(void **state)
{
	size_t len;
	char *s = capture(WEFTD_LOG_WARNING, "hello", &len);
	assert_string_equal(s, "<4>hello\n");
	assert_int_equal(len, 9);
	free(s);
}

static void test_long_line_is_cut_cleanly(void **state)
{
	size_t sizes[] = { 1000, 1096, 1097, 1098, 1099, 3000 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		char *msg = malloc(sizes[k] + 1);
		memset(msg, 'x', sizes[k]);
		msg[sizes[k]] = 0;
		size_t len;
		char *s = capture(WEFTD_LOG_ERR, msg, &len);
		assert_memory_equal(s, "<3>", 3);
		assert_int_equal(s[len - 1], '\n');
		/* nothing but the message's bytes between the prefix and the newline */
		for (size_t i = 3; i < len - 1; i++)
			assert_int_equal(s[i], 'x');
		assert_true(len - 4 <= sizes[k]);
		assert_true(len <= 1100);
		if (sizes[k] < 1000)
			assert_int_equal(len - 4, sizes[k]);
		free(s);
		free(msg);
	}
}

static void test_level_filters(void **state)
{
	int p[2], saved = dup(STDERR_FILENO);
	char buf[64];

	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	dup2(p[1], STDERR_FILENO);
	weftd_log_init(WEFTD_LOG_NOTICE);
	weftd_info("not shown");
	weftd_debug("not shown");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	assert_true(read(p[0], buf, sizeof(buf)) <= 0);
	close(p[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_line),
		cmocka_unit_test(test_long_line_is_cut_cleanly),
		cmocka_unit_test(test_level_filters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
