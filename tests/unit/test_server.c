/* SPDX-License-Identifier: MIT */
/* test_server.c — the server's errno table (every errno the engine, the job table and the
 * handlers report becomes the protocol's code and message) and the figures' rendering
 * (an unknown pipeline leaves the buffer as it was). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

#include "proto/json.h"
#include "config/config.h"
#include "server/render.h"
#include "server/server_impl.h"
#include "daemon_testutil.h"

/* The error line for err and subject. */
static void check(int err, const char *subject, const char *code, const char *msg)
{
	struct weftd_buf b;
	char want[512];

	weftd_buf_init(&b, NULL, 0);
	assert_int_equal(srv_resp_errno(&b, "7", err, subject), 0);
	snprintf(want, sizeof(want),
		 "{\"id\":7,\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code, msg);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	weftd_buf_done(&b);
}

static void test_errno_table(void **state)
{
	check(-ENOENT, "q", "unknown_pipeline", "no pipeline \\\"q\\\"");
	check(-ESRCH, "00ab", "unknown_job", "no job \\\"00ab\\\"");
	check(-EAGAIN, "q", "busy", "pipeline \\\"q\\\" is full: retry later");
	check(-EBUSY, "too many connections", "busy", "too many connections");
	check(-ESHUTDOWN, "q", "draining", "the daemon is draining: no new jobs");
	check(-EACCES, "peer uid/gid not in allow_uids/allow_groups", "forbidden",
	      "peer uid/gid not in allow_uids/allow_groups");
	check(-EMSGSIZE, "1024", "too_large", "request line longer than 1024 bytes");
	check(-EOPNOTSUPP, "drain", "unsupported", "op \\\"drain\\\" has no handler in this server");
	check(-EINVAL, "c.yaml:3:1: bad", "invalid_config", "c.yaml:3:1: bad");
	check(-ETIMEDOUT, "drain timed out", "internal", "drain timed out");
	check(-ENOMEM, "q", "internal", "out of memory");
	check(-ENOMEM, NULL, "internal", "out of memory");
	check(-EXDEV, "q", "internal", "Invalid cross-device link"); /* not in the table: strerror */
	/* the journal out of service (issue 11): a code a client can act on, not internal */
	check(-ENOSPC, NULL, "unavailable", "no space left for the journal: retry later");
	check(-ENOSPC, "q", "unavailable", "no space left for the journal: retry later");
	check(-EIO, "q", "unavailable", "journal I/O error: retry later");
}

static void test_render(void **state)
{
	struct weftd_engine *e;
	struct weftd_buf b;
	char err[256];

	assert_int_equal(weftd_engine_new(conf("pipelines:\n  p:\n    stages:\n"
					       "      - {name: s, builtin: noop}\n"), &e, err, sizeof(err)), 0);
	weftd_buf_init(&b, NULL, 0);
	weftd_json_obj_begin(&b, NULL);
	assert_int_equal(weftd_render_stats(&b, e, "nope"), -ENOENT);
	assert_int_equal(b.len, 1); /* as it was */
	assert_int_equal(weftd_render_stats(&b, e, "p"), 0);
	weftd_render_pipelines(&b, e);
	weftd_json_obj_end(&b);
	assert_int_equal(b.err, 0);
	assert_non_null(strstr(b.data, "{\"intake\":\"open\",\"jobs\":{\"table\":0,\"finished_retained\":0,"
					"\"finished_bytes\":0},\"pipelines\":{\"p\":{\"paused\":false,"
					"\"scheduled\":0,\"submitted\":0,\"done\":0,"));
	assert_non_null(strstr(b.data, "\"stages\":[{\"name\":\"s\",\"queued\":0,\"running\":0,"));
	assert_non_null(strstr(b.data, "\"pipelines\":[{\"name\":\"p\",\"paused\":false,\"stages\":[{\"name\":\"s\","
					"\"builtin\":\"noop\","));
	weftd_buf_done(&b);
	weftd_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_table),
		cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
