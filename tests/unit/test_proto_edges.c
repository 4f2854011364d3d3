/* SPDX-License-Identifier: MIT */
/* test_proto_edges.c — request parsing at the edges make mutate found untested (issue 18):
 * an unknown member's name quoted at exactly its 40-byte limit and just over it, a space
 * in that name and in a string id (text, not escaped), a deadline at exactly its largest
 * Unix time, and a duplicate of the first field of the table ("id"). test_proto has the
 * rest. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/request.h"

#define MAXREQ (1 << 20)

static int parse(struct weftd_request *req, const char *line)
{
	return weftd_request_parse(req, line, strlen(line), MAXREQ);
}

/* "...unknown field \"<name>\"<...> for op ping": the name quoted whole up to 40 bytes,
 * else its first 40 bytes and "..."; control bytes, quotes and backslashes shown as '?',
 * anything else (a space) as sent. */
static void test_unknown_name(void **state)
{
	static const struct { const char *member, *shown; } t[] = {
		{ "aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd", /* 40 */
		  "unknown field \"aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd\" for op ping" },
		{ "aaaaaaaaaabbbbbbbbbbccccccccccdddddddddde", /* 41 */
		  "unknown field \"aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd\"... for op ping" },
		{ "a b", "unknown field \"a b\" for op ping" },
		{ "a\\\"b\\\\c\\td", "unknown field \"a?b?c?d\" for op ping" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char line[256];
		struct weftd_request req;
		snprintf(line, sizeof(line), "{\"op\":\"ping\",\"%s\":1}", t[i].member);
		assert_int_equal(parse(&req, line), -EINVAL);
		assert_int_equal(req.err, WEFTD_ERR_BAD_FIELD);
		assert_string_equal(req.errmsg, t[i].shown);
		weftd_request_done(&req);
	}
}

/* A string id is echoed as the JSON text of the decoded string: a space stays a space,
 * control bytes are escaped. */
static void test_id_space(void **state)
{
	struct weftd_request req;
	(void)state;
	assert_int_equal(parse(&req, "{\"id\":\"a b\\u0001\",\"op\":\"ping\"}"), 0);
	assert_string_equal(req.id, "\"a b\\u0001\"");
	weftd_request_done(&req);
}

/* deadline in Unix seconds: 0 .. 253402300799 (9999-12-31T23:59:59Z), both ends included. */
static void test_deadline_unix_edges(void **state)
{
	static const struct { const char *v; int r; int64_t ms; } t[] = {
		{ "0", 0, 0 },
		{ "253402300799", 0, 253402300799000LL },
		{ "253402300800", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char line[128];
		struct weftd_request req;
		snprintf(line, sizeof(line), "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":%s}", t[i].v);
		int r = parse(&req, line);
		if (r != t[i].r)
			fail_msg("deadline %s: %d %s", t[i].v, r, req.errmsg);
		if (r == 0) {
			assert_false(req.deadline_rel);
			assert_int_equal(req.deadline_ms, t[i].ms);
		} else {
			assert_int_equal(req.err, WEFTD_ERR_BAD_FIELD);
		}
		weftd_request_done(&req);
	}
}

/* A member given twice is refused, the table's first field ("id") too. */
static void test_duplicate_first_field(void **state)
{
	static const char *const t[] = {
		"{\"id\":1,\"id\":2,\"op\":\"ping\"}",
		"{\"op\":\"ping\",\"op\":\"ping\"}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct weftd_request req;
		assert_int_equal(parse(&req, t[i]), -EINVAL);
		if (!strstr(req.errmsg, "duplicate key"))
			fail_msg("%s: %s", t[i], req.errmsg);
		weftd_request_done(&req);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_name),
		cmocka_unit_test(test_id_space),
		cmocka_unit_test(test_deadline_unix_edges),
		cmocka_unit_test(test_duplicate_first_field),
	};
	return cmocka_run_group_tests_name("proto edges", tests, NULL, NULL);
}
