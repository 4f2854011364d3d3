/* SPDX-License-Identifier: MIT */
/* Protocol: every op, malformed lines, id echo, base64, non-UTF-8 output, limits. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "proto/buf.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "proto/request.h"
#include "proto/text.h"
#include "proto/wire.h"
#include "proto_ref.h"

#define MAXREQ (1 << 20)

static int parse(struct weftd_request *req, const char *line)
{
	return weftd_request_parse(req, line, strlen(line), MAXREQ);
}

static void test_ops(void **state)
{
	static const struct { const char *line; enum weftd_op op; } t[] = {
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"x\"}", WEFTD_OP_SUBMIT },
		{ "{\"op\":\"status\",\"job\":\"j1\"}", WEFTD_OP_STATUS },
		{ "{\"op\":\"wait\",\"job\":\"j1\"}", WEFTD_OP_WAIT },
		{ "{\"op\":\"cancel\",\"job\":\"j1\"}", WEFTD_OP_CANCEL },
		{ "{\"op\":\"list\"}", WEFTD_OP_LIST }, { "{\"op\":\"stats\"}", WEFTD_OP_STATS },
		{ "{\"op\":\"pipelines\"}", WEFTD_OP_PIPELINES }, { "{\"op\":\"ping\"}\n", WEFTD_OP_PING },
		{ "{\"op\":\"reload\"}\r\n", WEFTD_OP_RELOAD }, { "{\"op\":\"drain\"}", WEFTD_OP_DRAIN },
		{ "{\"op\":\"pause\",\"pipeline\":\"p\"}", WEFTD_OP_PAUSE },
		{ "{\"op\":\"resume\",\"pipeline\":\"p\"}", WEFTD_OP_RESUME },
		{ "{\"op\":\"resume\"}", WEFTD_OP_RESUME }, { "{\"op\":\"undrain\"}", WEFTD_OP_UNDRAIN },
		{ "{\"op\":\"retry\",\"job\":\"j1\"}", WEFTD_OP_RETRY },
		{ "{\"op\":\"purge\",\"pipeline\":\"p\",\"all\":true}", WEFTD_OP_PURGE },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct weftd_request req;
		assert_int_equal(parse(&req, t[i].line), 0);
		assert_int_equal(req.op, t[i].op);
		assert_string_equal(req.id, "null");
		assert_non_null(strstr(t[i].line, weftd_op_name(req.op)));
		weftd_request_done(&req);
	}
}

static void test_fields(void **state)
{
	struct weftd_request req;

	assert_int_equal(parse(&req, "{\"id\":7,\"op\":\"submit\",\"pipeline\":\"thumbs\","
				     "\"payload\":\"a\\u0000b\",\"wait\":true,\"timeout\":\"1.5s\"}"), 0);
	assert_string_equal(req.pipeline, "thumbs");
	assert_int_equal(req.payload_len, 3);
	assert_memory_equal(req.payload, "a\0b", 3);
	assert_true(req.wait);
	assert_true(req.has_timeout);
	assert_int_equal(req.timeout_ns, 1500000000);
	weftd_request_done(&req);

	assert_int_equal(parse(&req, "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload_b64\":\"AP8=\"}"), 0);
	assert_int_equal(req.payload_len, 2);
	assert_memory_equal(req.payload, "\x00\xff", 2);
	weftd_request_done(&req);
	/* an empty base64 payload is valid: 0 bytes */
	assert_int_equal(parse(&req, "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload_b64\":\"\"}"), 0);
	assert_int_equal(req.payload_len, 0);
	weftd_request_done(&req);

	assert_int_equal(parse(&req, "{\"op\":\"submit\",\"pipeline\":\"p\"}"), 0);
	assert_int_equal(req.payload_len, 0);
	weftd_request_done(&req);

	assert_int_equal(parse(&req, "{\"op\":\"wait\",\"jobs\":[\"a\",\"b\"],\"timeout\":250}"), 0);
	assert_int_equal(req.njobs, 2);
	assert_string_equal(weftd_request_job(&req, 1), "b");
	assert_null(weftd_request_job(&req, 2));
	assert_int_equal(req.timeout_ns, 250000000);
	weftd_request_done(&req);

	assert_int_equal(parse(&req, "{\"op\":\"list\",\"pipeline\":\"p\",\"state\":\"failed\",\"limit\":5}"), 0);
	assert_true(req.has_state);
	assert_int_equal(req.state, WEFTD_JOB_FAILED);
	assert_int_equal(req.limit, 5);
	weftd_request_done(&req);

	assert_int_equal(parse(&req, "{\"op\":\"list\"}"), 0);
	assert_false(req.has_state);
	assert_int_equal(req.limit, WEFTD_LIST_DEFAULT);
	weftd_request_done(&req);
}

static void test_ids(void **state)
{
	static const struct { const char *line, *id; int r; } t[] = {
		{ "{\"id\":1,\"op\":\"ping\"}", "1", 0 },
		{ "{\"id\":-2.5e3,\"op\":\"ping\"}", "-2500.0", 0 },
		{ "{\"id\":\"abc\\\"\\u00e9\",\"op\":\"ping\"}", "\"abc\\\"\xc3\xa9\"", 0 },
		{ "{\"id\":null,\"op\":\"ping\"}", "null", 0 },
		{ "{\"id\":true,\"op\":\"ping\"}", "true", 0 },
		{ "{\"op\":\"ping\"}", "null", 0 },
		{ "{\"id\":[1],\"op\":\"ping\"}", "null", -EINVAL },
		{ "{\"id\":\"" "0123456789012345678901234567890123456789012345678901234567890123" "\",\"op\":\"ping\"}",
		  "null", -EINVAL },
		{ "{\"id\":9,\"op\":\"nope\"}", "9", -EINVAL },
		{ "{\"id\":\"x\",\"op\":\"status\"}", "\"x\"", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct weftd_request req;
		assert_int_equal(parse(&req, t[i].line), t[i].r);
		assert_string_equal(req.id, t[i].id);
		weftd_request_done(&req);
	}
}

/* Malformed requests: each gives a structured error code and never crashes. */
/* issue 11 item 9: huge timeouts are clamped, never overflow into a short deadline */
static void test_timeout_clamp(void **state)
{
	static const char *const lines[] = {
		"{\"op\":\"wait\",\"job\":\"a\",\"timeout\":9223372036854}",
		"{\"op\":\"wait\",\"job\":\"a\",\"timeout\":9223372036854775807}",
		"{\"op\":\"wait\",\"job\":\"a\",\"timeout\":9e12}",
		"{\"op\":\"wait\",\"job\":\"a\",\"timeout\":\"2562047h47m16s\"}",
	};
	struct weftd_request req;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(parse(&req, lines[i]), 0);
		assert_true(req.has_timeout);
		assert_true(req.timeout_ns == WEFTD_TIMEOUT_MAX_NS);
		assert_true((int64_t)req.timeout_ns > 0);
		weftd_request_done(&req);
	}
	assert_int_equal(parse(&req, "{\"op\":\"wait\",\"job\":\"a\",\"timeout\":86400000}"), 0);
	assert_true(req.timeout_ns == 86400ULL * 1000000000ULL);
	weftd_request_done(&req);
	/* a fractional number at the low edge: 0.0 ms is a timeout of 0, not an error */
	assert_int_equal(parse(&req, "{\"op\":\"wait\",\"job\":\"a\",\"timeout\":0.0}"), 0);
	assert_true(req.has_timeout);
	assert_true(req.timeout_ns == 0);
	weftd_request_done(&req);
	assert_int_equal(parse(&req, "{\"op\":\"wait\",\"job\":\"a\",\"timeout\":0.5}"), 0);
	assert_true(req.timeout_ns == 500000);
	weftd_request_done(&req);
}

static void test_errors(void **state)
{
	static const struct { const char *line; enum weftd_err e; } t[] = {
		{ "", WEFTD_ERR_BAD_JSON }, { "\n", WEFTD_ERR_BAD_JSON }, { "{", WEFTD_ERR_BAD_JSON },
		{ "[1]", WEFTD_ERR_BAD_JSON }, { "\"ping\"", WEFTD_ERR_BAD_JSON },
		{ "{\"op\":\"ping\"} {}", WEFTD_ERR_BAD_JSON }, { "{\"op\":\"ping\",\"op\":\"ping\"}", WEFTD_ERR_BAD_JSON },
		{ "{\"op\":\"p\xff\"}", WEFTD_ERR_BAD_JSON }, { "{}", WEFTD_ERR_MISSING_FIELD },
		{ "{\"op\":1}", WEFTD_ERR_BAD_FIELD }, { "{\"op\":\"PING\"}", WEFTD_ERR_UNKNOWN_OP },
		{ "{\"op\":\"submit\"}", WEFTD_ERR_MISSING_FIELD },
		{ "{\"op\":\"submit\",\"pipeline\":\"\"}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"submit\",\"pipeline\":5}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":1}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"a\",\"payload_b64\":\"YQ==\"}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload_b64\":\"Y\"}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"wait\":1}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"status\",\"job\":\"\"}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"status\",\"job\":\"a\\u0000b\"}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"cancel\"}", WEFTD_ERR_MISSING_FIELD }, { "{\"op\":\"wait\"}", WEFTD_ERR_MISSING_FIELD },
		{ "{\"op\":\"wait\",\"job\":\"a\",\"jobs\":[\"b\"]}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"wait\",\"jobs\":[]}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"wait\",\"jobs\":[\"a\",2]}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"wait\",\"job\":\"a\",\"timeout\":-1}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"wait\",\"job\":\"a\",\"timeout\":\"10q\"}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"wait\",\"job\":\"a\",\"timeout\":1e300}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"list\",\"state\":\"gone\"}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"list\",\"limit\":0}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"list\",\"limit\":100001}", WEFTD_ERR_BAD_FIELD },
		{ "{\"op\":\"stats\",\"pipeline\":[]}", WEFTD_ERR_BAD_FIELD },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct weftd_request req;
		if (parse(&req, t[i].line) != -EINVAL || req.err != t[i].e)
			fail_msg("case %zu (%s): err %d want %d: %s", i, t[i].line, req.err, t[i].e, req.errmsg);
		assert_true(req.errmsg[0] != '\0');
		weftd_request_done(&req);
	}
	struct weftd_request req;
	assert_int_equal(weftd_request_parse(&req, NULL, 0, MAXREQ), -EINVAL);
	weftd_request_done(&req);
	assert_int_equal(weftd_request_parse(NULL, "{}", 2, MAXREQ), -EINVAL);
}

static void test_too_large(void **state)
{
	struct weftd_request req;
	size_t n = 5000;
	char *line = malloc(n + 64);
	int off = sprintf(line, "{\"id\":3,\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"");
	memset(line + off, 'a', n);
	strcpy(line + off + n, "\"}");
	assert_int_equal(weftd_request_parse(&req, line, strlen(line), 4096), -EINVAL);
	assert_int_equal(req.err, WEFTD_ERR_TOO_LARGE);
	weftd_request_done(&req);
	assert_int_equal(weftd_request_parse(&req, line, strlen(line), 8192), 0);
	assert_int_equal(req.payload_len, n);
	weftd_request_done(&req);
	free(line);
	/* A pipeline name over WEFTD_NAME_MAX is a bad field, not a crash or truncation. */
	char big[200];
	snprintf(big, sizeof(big), "{\"op\":\"submit\",\"pipeline\":\"%0100d\"}", 0);
	assert_int_equal(parse(&req, big), -EINVAL);
	assert_int_equal(req.err, WEFTD_ERR_BAD_FIELD);
	weftd_request_done(&req);
}

static void test_base64(void **state)
{
	static const struct { const char *raw, *enc; } t[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char enc[64], dec[64];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = weftd_b64_encode(t[i].raw, strlen(t[i].raw), enc);
		assert_int_equal(n, strlen(t[i].enc));
		assert_memory_equal(enc, t[i].enc, n);
		assert_int_equal(weftd_b64_decode(enc, n, dec), strlen(t[i].raw));
		assert_memory_equal(dec, t[i].raw, strlen(t[i].raw));
	}
	assert_int_equal(weftd_b64_decode("Zm8", 3, dec), 2);  /* padding optional */
	static const char *const bad[] = { "Z", "Zm9=", "Zh==", "Zm9v=", "Z===", "Zm 9", "Zm9v\n", "=Zm9", "Zg=A" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (weftd_b64_decode(bad[i], strlen(bad[i]), dec) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
	/* In place, as the parser decodes an escaped payload_b64. */
	char inplace[] = "Zm9vYmFy";
	assert_int_equal(weftd_b64_decode(inplace, 8, inplace), 6);
	assert_memory_equal(inplace, "foobar", 6);
	/* Round trip of every byte value at every length up to 300. */
	unsigned char raw[300], back[WEFTD_B64_DEC_MAX(WEFTD_B64_ENC_LEN(300))];
	char e[WEFTD_B64_ENC_LEN(300)];
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(raw); len++) {
		size_t n = weftd_b64_encode(raw, len, e);
		assert_int_equal(weftd_b64_decode(e, n, back), len);
		assert_memory_equal(back, raw, len);
	}
}

static void test_utf8(void **state)
{
	static const struct { const char *s; bool ok; } t[] = {
		{ "plain", true }, { "\xc3\xa9", true }, { "\xe2\x82\xac", true }, { "\xf0\x9f\x98\x80", true },
		{ "\xff", false }, { "\xc0\xaf", false }, { "\xe0\x80\xaf", false }, { "\xed\xa0\x80", false },
		{ "\xf4\x90\x80\x80", false }, { "\xc3", false }, { "\xe2\x82", false }, { "\x80", false },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(weftd_utf8_valid(t[i].s, strlen(t[i].s)), t[i].ok);
}

/* Output must always be one line of valid JSON; check with jansson. */
static json_t *check_line(struct weftd_buf *b)
{
	json_error_t e;
	assert_true(b->len > 0 && b->data[b->len - 1] == '\n');
	assert_null(memchr(b->data, '\n', b->len - 1));
	json_t *j = json_loadb(b->data, b->len, JSON_ALLOW_NUL, &e);
	if (!j)
		fail_msg("invalid JSON (%s): %.*s", e.text, (int)b->len, b->data);
	return j;
}

static void test_responses(void **state)
{
	struct weftd_buf b;
	char mem[512];
	weftd_buf_init(&b, mem, sizeof(mem));
	weftd_resp_begin(&b, "\"x\"");
	weftd_json_cstr(&b, "job", "j1");
	weftd_json_arr_begin(&b, "list");
	weftd_json_u64(&b, NULL, 1);
	weftd_json_i64(&b, NULL, -2);
	weftd_json_bool(&b, NULL, true);
	weftd_json_null(&b, NULL);
	weftd_json_obj_begin(&b, NULL);
	weftd_json_double(&b, "d", 0.5);
	weftd_json_obj_end(&b);
	weftd_json_arr_end(&b);
	assert_int_equal(weftd_resp_end(&b), 0);
	const char want[] = "{\"id\":\"x\",\"ok\":true,\"job\":\"j1\",\"list\":[1,-2,true,null,{\"d\":0.5}]}\n";
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);

	weftd_buf_reset(&b);
	assert_int_equal(weftd_resp_error(&b, "7", WEFTD_ERR_UNKNOWN_PIPELINE, "no pipeline \"q\"\n\xff"), 0);
	json_t *j = check_line(&b);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 7);
	assert_true(json_is_false(json_object_get(j, "ok")));
	json_t *err = json_object_get(j, "error");
	assert_string_equal(json_string_value(json_object_get(err, "code")), "unknown_pipeline");
	assert_string_equal(json_string_value(json_object_get(err, "message")), "no pipeline \"q\"\n\xef\xbf\xbd");
	json_decref(j);

	/* Overflow of a fixed buffer is reported, never written past. */
	char small[16];
	weftd_buf_init(&b, small, sizeof(small));
	weftd_resp_begin(&b, "1");
	weftd_json_cstr(&b, "k", "a long string value");
	assert_int_equal(weftd_resp_end(&b), -ENOBUFS);
}

/* issue 11 item 7: binary output as base64, answers bounded by weftd_buf_limit */
static void test_bounded_answers(void **state)
{
	static char zeros[1 << 20];
	struct weftd_buf b;
	struct weftd_request req;
	struct weftd_job_view v = { .id = "j", .pipeline = "p", .state = WEFTD_JOB_DONE,
				    .has_output = true, .output = zeros, .output_len = sizeof(zeros) };

	(void)state;
	weftd_buf_init(&b, NULL, 0);
	weftd_resp_begin(&b, "1");
	weftd_json_job(&b, "job", &v);
	assert_int_equal(weftd_resp_end(&b), 0);
	assert_true(b.len < sizeof(zeros) * 4 / 3 + 256); /* not 6x */
	json_t *j = check_line(&b), *job = json_object_get(j, "job");
	assert_null(json_object_get(job, "output"));
	assert_int_equal(json_string_length(json_object_get(job, "output_b64")), WEFTD_B64_ENC_LEN(sizeof(zeros)));
	json_decref(j);

	/* short text with a tab or two stays text */
	v.output = "a\tb\tc";
	v.output_len = 5;
	weftd_buf_reset(&b);
	weftd_resp_begin(&b, "1");
	weftd_json_job(&b, "job", &v);
	assert_int_equal(weftd_resp_end(&b), 0);
	j = check_line(&b);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "job"), "output")), "a\tb\tc");
	json_decref(j);

	/* past the limit: -E2BIG before the memory is taken; lifted, writing goes on */
	weftd_buf_reset(&b);
	WEFTD_BUF_PUTS(&b, "{\"id\":1}\n");
	size_t mark = b.len;
	weftd_buf_limit(&b, mark + 4096);
	v.output = zeros;
	v.output_len = sizeof(zeros);
	weftd_resp_begin(&b, "2");
	weftd_json_job(&b, "job", &v);
	assert_int_equal(weftd_resp_end(&b), -E2BIG);
	assert_true(b.len <= mark + 4096);
	weftd_buf_limit(&b, 0);
	b.err = 0;
	b.len = mark;
	assert_int_equal(weftd_resp_error(&b, "2", WEFTD_ERR_TOO_LARGE, "big"), 0);
	weftd_buf_done(&b);

	assert_int_equal(parse(&req, "{\"op\":\"list\",\"outputs\":true}"), 0);
	assert_true(req.outputs);
	weftd_request_done(&req);
	assert_int_equal(parse(&req, "{\"op\":\"list\"}"), 0);
	assert_false(req.outputs);
	weftd_request_done(&req);
	assert_int_equal(parse(&req, "{\"op\":\"list\",\"outputs\":1}"), -EINVAL);
	assert_int_equal(req.err, WEFTD_ERR_BAD_FIELD);
	weftd_request_done(&req);
}

static void test_job_output(void **state)
{
	struct weftd_buf b;
	weftd_buf_init(&b, NULL, 0);
	struct weftd_job_view v = { .id = "j42", .pipeline = "p", .state = WEFTD_JOB_DONE, .stage = "s",
				    .attempts = 2, .has_output = true, .output = "\x00\xff\xfe", .output_len = 3,
				    .log_tail = "err\x01", .log_tail_len = 4, .created_ms = 1700000000000 };
	weftd_resp_begin(&b, NULL);
	weftd_json_job(&b, "job", &v);
	assert_int_equal(weftd_resp_end(&b), 0);
	json_t *j = check_line(&b), *job = json_object_get(j, "job");
	assert_true(json_is_null(json_object_get(j, "id")));
	assert_string_equal(json_string_value(json_object_get(job, "state")), "done");
	assert_null(json_object_get(job, "output"));
	assert_string_equal(json_string_value(json_object_get(job, "output_b64")), "AP/+");
	assert_string_equal(json_string_value(json_object_get(job, "log")), "err\x01");
	assert_int_equal(json_integer_value(json_object_get(job, "created_ms")), 1700000000000);
	assert_null(json_object_get(job, "finished_ms"));
	json_decref(j);

	/* Valid UTF-8 (with NUL and controls) goes out as text. */
	weftd_buf_reset(&b);
	v.output = "h\xc3\xa9\0\t\"\\";
	v.output_len = 7;
	weftd_resp_begin(&b, "1");
	weftd_json_job(&b, "job", &v);
	assert_int_equal(weftd_resp_end(&b), 0);
	j = check_line(&b);
	json_t *out = json_object_get(json_object_get(j, "job"), "output");
	assert_int_equal(json_string_length(out), 7);
	assert_memory_equal(json_string_value(out), "h\xc3\xa9\0\t\"\\", 7);
	json_decref(j);

	/* Every byte value through the escaper stays valid JSON. */
	char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	weftd_buf_reset(&b);
	weftd_resp_begin(&b, "1");
	weftd_json_str(&b, "s", all, sizeof(all));
	assert_int_equal(weftd_resp_end(&b), 0);
	json_decref(check_line(&b));
	weftd_buf_done(&b);
}

/* The parser reads every line as the reference (jansson, proto_ref.h) does: the usual
 * requests, escapes and reals, unknown members of any shape, and malformed lines. The
 * usual ones (flat, no escapes, small payload) need no malloc. */
static void test_reference(void **state)
{
	static const struct { const char *line; bool no_heap; } t[] = {
		{ "{\"id\":1,\"op\":\"submit\",\"pipeline\":\"noop\",\"payload\":\"x\"}", true },
		{ " { \"op\" : \"submit\" , \"pipeline\":\"p\" ,\"payload\":\"\",\"wait\":true,\"timeout\":250 } \r\n", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload_b64\":\"/w==\",\"timeout\":\"1.5s\"}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"h\u00e9 \\u00e9\"}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"\xc3\xa9t\xc3\xa9\"}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"\xc3\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"\xed\xa0\x80\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"timeout\":1.5}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":\"30s\"}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":\"2026-12-03T14:00:00Z\"}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":1796302800}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":1796302800.25}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":\"soon\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":-1}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":true}", false },
		{ "{\"op\":\"list\",\"deadline\":\"1s\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"timeout\":-1}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"timeout\":\"soon\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"\"}", false },
		{ "{\"op\":\"submit\",\"payload\":\"x\"}", false },
		{ "{\"op\":\"submit\",\"payload\":1}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":1}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"a\",\"payload_b64\":\"YQ==\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload_b64\":\"!!\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload_b64\":\"\\u0041P8=\"}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"wait\":1}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"pipeline\":\"q\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"pip\\u0065line\":\"q\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\"}x", false },
		{ "{\"op\":\"submit\" \"pipeline\":\"p\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\"::\"p\"}", false },
		{ "{\"op\":\"submit\",,\"pipeline\":\"p\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":tru}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":truex}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":01}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":-}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":1.}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":1e}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":1e400}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":1e-400}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":99999999999999999999}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":9223372036854775807}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":9223372036854775808}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":-9223372036854775808}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":-9223372036854775809}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":[1,{}]}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":[1,{\"a\":[],\"b\":{\"a\":2}}]}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":{\"a\":1,\"a\":2}}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":{\"a\":1,\"\\u0061\":2}}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":1,\"x\":2}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":[[] 1]}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":[1,]}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":{\"a\\u0000\":1}}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"\\u0000\":1}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":\"\\ud83d\\ude00\"}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":\"\\ud83d\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":\"\\ude00\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":\"\\ud83d\\u0041\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":\"\\x\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"x\":\"\\u12g4\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"a\tb\"}", false },
		{ "{\"op\":\"submit\",\"pipeline\":\"a\\\"b\"}", true },
		{ "{\"op\":\"submit\",\"pipeline\":\"a\\u0000b\"}", false },
		{ "{\"op\":\"su\\u0062mit\",\"pipeline\":\"p\"}", true },
		{ "{\"\\u006fp\":\"ping\"}", true },
		{ "{\"id\":\"abc\",\"op\":\"ping\"}", true }, { "{\"id\":-0,\"op\":\"ping\"}", true },
		{ "{\"id\":-42,\"op\":\"ping\"}", true }, { "{\"id\":0,\"op\":\"ping\"}", true },
		{ "{\"id\":-123456789012345678,\"op\":\"ping\"}", true },
		{ "{\"id\":true,\"op\":\"ping\"}", true }, { "{\"id\":null,\"op\":\"ping\"}", true },
		{ "{\"id\":1e3,\"op\":\"ping\"}", true }, { "{\"id\":{},\"op\":\"ping\"}", false },
		{ "{\"id\":0.1,\"op\":\"ping\"}", true }, { "{\"id\":1e300,\"op\":\"ping\"}", true },
		{ "{\"id\":-1.5E-7,\"op\":\"ping\"}", true }, { "{\"id\":5e-324,\"op\":\"ping\"}", true },
		{ "{\"id\":\"a\\u001f\\u007f\\/\\b\\f\\t\\r\\n\\u0000\\ud83d\\ude00\",\"op\":\"ping\"}", true },
		{ "{\"id\":\"0123456789012345678901234567890123456789012345678901234567890\",\"op\":\"ping\"}", true },
		{ "{\"id\":\"01234567890123456789012345678901234567890123456789012345678901\",\"op\":\"ping\"}", true },
		{ "{\"id\":\"012345678901234567890123456789012345678901234567890123456789012\",\"op\":\"ping\"}", false },
		{ "{\"id\":\"0123456789012345678901234567890123456789012345678901234567890\\n\",\"op\":\"ping\"}", false },
		{ "{\"op\":\"pong\"}", false }, { "{\"op\":1}", false }, { "{}", false }, { "[]", false },
		{ "{\"op\":\"pingpingpingpingpingpingpingpingpingpingpingping\"}", false },
		{ "{\"op\":\"ping\\u0000\"}", false },
		{ "", false }, { "{", false }, { "{\"op\":\"ping\"", false }, { "\"op\"", false },
		{ "{\"op\":\"ping\"}\n\n", true }, { "{\"op\":\"ping\"} \t", true },
		{ "{\"op\":\"status\",\"job\":\"0123456789abcdef\"}", true },
		{ "{\"op\":\"wait\",\"job\":\"j\",\"timeout\":0}", true },
		{ "{\"op\":\"wait\",\"jobs\":[\"a\",\"b\"]}", true },
		{ "{\"op\":\"wait\",\"jobs\":[\"a\",\"\\u0062\"]}", true },
		{ "{\"op\":\"wait\",\"jobs\":[\"a\",\"\"]}", false },
		{ "{\"op\":\"wait\",\"jobs\":[\"a\",[\"b\"]]}", false },
		{ "{\"op\":\"wait\",\"jobs\":\"a\"}", false },
		{ "{\"op\":\"wait\",\"job\":\"a\",\"jobs\":[\"b\"]}", false },
		{ "{\"op\":\"wait\",\"job\":1,\"jobs\":[\"b\"]}", false },
		{ "{\"op\":\"wait\",\"timeout\":\"x\"}", false },
		{ "{\"op\":\"list\",\"pipeline\":\"p\",\"state\":\"done\",\"limit\":5}", true },
		{ "{\"op\":\"list\",\"state\":\"d\\u006fne\"}", true },
		{ "{\"op\":\"list\",\"state\":\"sleeping\"}", false }, { "{\"op\":\"list\",\"limit\":0}", false },
		{ "{\"op\":\"list\",\"limit\":10001}", false }, { "{\"op\":\"list\",\"limit\":5.0}", false },
		{ "{\"op\":\"stats\",\"pipeline\":\"p\"}", true },
		{ "{\"op\":\"cancel\"}", false }, { "{\"op\":\"drain\",\"extra\":[1]}", true },
		{ "{\"op\":\"status\",\"job\":\"j\",\"pipeline\":5,\"payload\":[]}", true },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *why;
		size_t len = strlen(t[i].line);
		if (!proto_check(t[i].line, len, MAXREQ, &why))
			fail_msg("%s: differs from the reference: %s", t[i].line, why);
		struct weftd_request req;
		if (weftd_request_parse(&req, t[i].line, len, MAXREQ) == 0 && t[i].no_heap &&
		    (req.heap[0] || req.heap[1] || req.heap[2]))
			fail_msg("%s: allocated", t[i].line);
		weftd_request_done(&req);
	}
	/* NUL bytes in the line itself: never valid JSON. */
	static const char nul1[] = "{\"op\":\"ping\"}\0", nul2[] = "{\"op\":\"pi\0ng\"}";
	assert_true(proto_check(nul1, sizeof(nul1) - 1, MAXREQ, NULL));
	assert_true(proto_check(nul2, sizeof(nul2) - 1, MAXREQ, NULL));
}

/* Nesting: refused past JSCAN_DEPTH_MAX with a bad_json reply, without recursion (this
 * one is 100,000 deep), and accepted up to it. */
static void test_nesting(void **state)
{
	static const char head[] = "{\"op\":\"ping\",\"x\":";
	size_t deep = 100000, n = strlen(head);
	char *line = malloc(n + 2 * deep + 2);
	struct weftd_request req;

	memcpy(line, head, n);
	memset(line + n, '[', deep);
	memset(line + n + deep, ']', deep);
	strcpy(line + n + 2 * deep, "}");
	assert_int_equal(weftd_request_parse(&req, line, strlen(line), 1 << 20), -EINVAL);
	assert_int_equal(req.err, WEFTD_ERR_BAD_JSON);
	assert_non_null(strstr(req.errmsg, "nested deeper than"));
	weftd_request_done(&req);

	for (size_t d = JSCAN_DEPTH_MAX - 2; d <= JSCAN_DEPTH_MAX; d++) { /* the object is one */
		n = strlen(head);
		memset(line + n, '[', d);
		memset(line + n + d, ']', d);
		strcpy(line + n + 2 * d, "}");
		/* valid JSON up to the limit: then refused only for its unknown member */
		int r = weftd_request_parse(&req, line, strlen(line), 1 << 20);
		assert_int_equal(r, -EINVAL);
		assert_int_equal(req.err, d < JSCAN_DEPTH_MAX ? WEFTD_ERR_BAD_FIELD : WEFTD_ERR_BAD_JSON);
		weftd_request_done(&req);
		/* objects as well as arrays */
		n = strlen(head);
		for (size_t k = 0; k < d; k++)
			memcpy(line + n + 6 * k, "{\"a\":", 5), line[n + 6 * k + 5] = ' ';
		memcpy(line + n + 6 * d, "1", 1);
		memset(line + n + 6 * d + 1, '}', d + 1);
		line[n + 7 * d + 2] = '\0';
		r = weftd_request_parse(&req, line, strlen(line), 1 << 20);
		assert_int_equal(r, -EINVAL);
		assert_int_equal(req.err, d < JSCAN_DEPTH_MAX ? WEFTD_ERR_BAD_FIELD : WEFTD_ERR_BAD_JSON);
		weftd_request_done(&req);
	}
	free(line);
}

/* On a stack as small as a fiber's: the parse of a line nested 100,000 deep uses a few KiB
 * of stack, whatever the depth (jansson used one frame pair per level). */
static void *parse_deep(void *line)
{
	struct weftd_request *req = malloc(sizeof(*req));
	intptr_t r = weftd_request_parse(req, line, strlen(line), 1 << 20);

	r = r == -EINVAL && req->err == WEFTD_ERR_BAD_JSON && strstr(req->errmsg, "nested deeper");
	weftd_request_done(req);
	free(req);
	return (void *)r;
}

static void test_nesting_small_stack(void **state)
{
	static const char head[] = "{\"op\":\"ping\",\"x\":";
	size_t deep = 100000, n = strlen(head);
	char *line = malloc(n + deep + 2);
	pthread_attr_t attr;
	pthread_t t;
	void *ok;

	memcpy(line, head, n);
	memset(line + n, '[', deep);
	line[n + deep] = '\0';
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstacksize(&attr, 64 * 1024), 0);
	assert_int_equal(pthread_create(&t, &attr, parse_deep, line), 0);
	assert_int_equal(pthread_join(t, &ok), 0);
	assert_true(ok);
	pthread_attr_destroy(&attr);
	free(line);
}

/* Objects with many keys grow the duplicate check onto the heap and still find one. */
static void test_many_keys(void **state)
{
	char *line = malloc(64 * 1024);
	struct weftd_request req;
	int n = sprintf(line, "{\"op\":\"ping\",\"x\":{");

	for (int i = 0; i < 3000; i++)
		n += sprintf(line + n, "%s\"k%d\":%d", i ? "," : "", i, i);
	strcpy(line + n, "}}");
	/* valid JSON: refused only for the unknown member "x" */
	assert_int_equal(weftd_request_parse(&req, line, strlen(line), 1 << 20), -EINVAL);
	assert_int_equal(req.err, WEFTD_ERR_BAD_FIELD);
	assert_non_null(strstr(req.errmsg, "unknown field \"x\""));
	weftd_request_done(&req);
	n += sprintf(line + n, ",\"k1234\":0}}");
	assert_int_equal(weftd_request_parse(&req, line, strlen(line), 1 << 20), -EINVAL);
	assert_int_equal(req.err, WEFTD_ERR_BAD_JSON);
	weftd_request_done(&req);
	free(line);
}

/* issue 12: the submit options, the new ops' members, and members no op reads refused by
 * name instead of ignored (a misspelt "delay" used to run the job at once). */
static void test_strict_fields(void **state)
{
	static const struct {
		const char *line;
		enum weftd_err err;   /* WEFTD_ERR_NONE: parses */
		const char *msg;      /* a part of the message, or NULL */
	} t[] = {
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"dealy\":\"1h\"}", WEFTD_ERR_BAD_FIELD, "unknown field \"dealy\" for op submit" },
		{ "{\"op\":\"ping\",\"x\":1}", WEFTD_ERR_BAD_FIELD, "unknown field \"x\"" },
		{ "{\"x\":1,\"op\":\"status\"}", WEFTD_ERR_BAD_FIELD, "unknown field \"x\"" }, /* before missing job */
		{ "{\"op\":\"submit\",\"pipline\":\"p\"}", WEFTD_ERR_BAD_FIELD, "unknown field \"pipline\"" },
		{ "{\"op\":\"ping\",\"a\\nb\":1}", WEFTD_ERR_BAD_FIELD, "unknown field \"a?b\"" },
		{ "{\"op\":\"ping\",\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}", WEFTD_ERR_BAD_FIELD,
		  "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"..." },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"limit\":5}", WEFTD_ERR_BAD_FIELD, "field \"limit\" does not apply to op submit" },
		{ "{\"op\":\"ping\",\"pipeline\":\"p\"}", WEFTD_ERR_BAD_FIELD, "does not apply to op ping" },
		{ "{\"op\":\"status\",\"job\":\"j\",\"payload_b64\":\"\"}", WEFTD_ERR_BAD_FIELD, "does not apply" },
		{ "{\"op\":\"status\",\"job\":\"j\",\"payload\":\"x\"}", WEFTD_ERR_BAD_FIELD, "payload must be true or false" },
		{ "{\"op\":\"status\",\"job\":\"j\",\"payload\":true}", WEFTD_ERR_NONE, NULL },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"delay\":\"90s\",\"priority\":-7,\"key\":\"k1\"}", WEFTD_ERR_NONE, NULL },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"delay\":\"soon\"}", WEFTD_ERR_BAD_FIELD, "delay: invalid duration" },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"delay\":true}", WEFTD_ERR_BAD_FIELD, "delay must be" },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"delay\":1,\"run_at\":1}", WEFTD_ERR_BAD_FIELD, "run_at: give delay or run_at" },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"run_at\":\"2026-12-03T14:00:00Z\"}", WEFTD_ERR_NONE, NULL },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"run_at\":\"2026-12-03 14:00:00.5+01:00\"}", WEFTD_ERR_NONE, NULL },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"run_at\":\"2026-02-29T00:00:00Z\"}", WEFTD_ERR_BAD_FIELD, "run_at must be" },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"run_at\":\"tomorrow\"}", WEFTD_ERR_BAD_FIELD, "run_at must be" },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"run_at\":1.5}", WEFTD_ERR_NONE, NULL },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"priority\":1.0}", WEFTD_ERR_BAD_FIELD, "priority must be an integer" },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"key\":5}", WEFTD_ERR_BAD_FIELD, "key must be a string" },
		{ "{\"op\":\"submit\",\"pipeline\":\"p\",\"key\":\"a\\u0000\"}", WEFTD_ERR_BAD_FIELD, "key must be 1 to 256 bytes" },
		{ "{\"op\":\"pause\"}", WEFTD_ERR_MISSING_FIELD, "\"pipeline\"" },
		{ "{\"op\":\"pause\",\"pipeline\":\"p\",\"all\":true}", WEFTD_ERR_BAD_FIELD, "does not apply to op pause" },
		{ "{\"op\":\"undrain\",\"pipeline\":\"p\"}", WEFTD_ERR_BAD_FIELD, "does not apply to op undrain" },
		{ "{\"op\":\"retry\"}", WEFTD_ERR_MISSING_FIELD, "\"job\"" },
		{ "{\"op\":\"retry\",\"pipeline\":\"p\"}", WEFTD_ERR_BAD_FIELD, "all: a pipeline's dead letters" },
		{ "{\"op\":\"retry\",\"pipeline\":\"p\",\"all\":false}", WEFTD_ERR_BAD_FIELD, "all:" },
		{ "{\"op\":\"retry\",\"pipeline\":\"p\",\"all\":true,\"from_start\":true}", WEFTD_ERR_NONE, NULL },
		{ "{\"op\":\"retry\",\"job\":\"j\",\"pipeline\":\"p\"}", WEFTD_ERR_BAD_FIELD, "pipeline: give job" },
		{ "{\"op\":\"retry\",\"job\":\"j\",\"all\":true}", WEFTD_ERR_BAD_FIELD, "all: give job" },
		{ "{\"op\":\"purge\",\"job\":\"j\",\"from_start\":true}", WEFTD_ERR_BAD_FIELD, "does not apply to op purge" },
		{ "{\"op\":\"list\",\"state\":\"scheduled\"}", WEFTD_ERR_NONE, NULL },
	};
	struct weftd_request req;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = parse(&req, t[i].line);
		const char *why = NULL;
		if (r != (t[i].err ? -EINVAL : 0) || (r < 0 && req.err != t[i].err) ||
		    (t[i].msg && !strstr(req.errmsg, t[i].msg)))
			fail_msg("%s: %d %s \"%s\"", t[i].line, r, weftd_err_name(req.err), req.errmsg);
		if (!proto_check(t[i].line, strlen(t[i].line), MAXREQ, &why))
			fail_msg("%s: differs from the reference: %s", t[i].line, why);
		weftd_request_done(&req);
	}
	assert_int_equal(parse(&req, "{\"op\":\"submit\",\"pipeline\":\"p\",\"delay\":\"90s\",\"priority\":-7,\"key\":\"k1\"}"), 0);
	assert_true(req.has_delay && req.delay_ns == 90 * 1000000000ull && !req.has_run_at);
	assert_int_equal(req.priority, -7);
	assert_int_equal(req.key_len, 2);
	assert_memory_equal(req.key, "k1", 2);
	weftd_request_done(&req);
	assert_int_equal(parse(&req, "{\"op\":\"submit\",\"pipeline\":\"p\",\"run_at\":\"2026-12-03 14:00:00.5+01:00\"}"), 0);
	assert_true(req.has_run_at && req.run_at_ms == 1796302800500LL); /* 13:00:00.5Z */
	/* deadline (issue 17): a duration from now, or a time */
	assert_int_equal(parse(&req, "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":\"1.5s\"}"), 0);
	assert_true(req.has_deadline && req.deadline_rel && req.deadline_in_ns == 1500000000ull);
	assert_int_equal(parse(&req, "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":\"2026-12-03T13:00:00.5Z\"}"), 0);
	assert_true(req.has_deadline && !req.deadline_rel && req.deadline_ms == 1796302800500LL);
	assert_int_equal(parse(&req, "{\"op\":\"submit\",\"pipeline\":\"p\",\"deadline\":1796302800}"), 0);
	assert_true(req.has_deadline && !req.deadline_rel && req.deadline_ms == 1796302800000LL);
	weftd_request_done(&req);
	assert_int_equal(parse(&req, "{\"op\":\"retry\",\"pipeline\":\"p\",\"all\":true,\"from_start\":true}"), 0);
	assert_true(req.all && req.from_start && !req.job);
	assert_string_equal(req.pipeline, "p");
	weftd_request_done(&req);
	assert_int_equal(parse(&req, "{\"op\":\"status\",\"job\":\"j\",\"payload\":true}"), 0);
	assert_true(req.want_payload);
	weftd_request_done(&req);
}

/* issue 18 item 5: every request field with a limit, at min-1, min, max and max+1.
 * There is one request parser (weftd_request_parse; the old fast/slow split is gone), so
 * each row goes through the only path there is. Each line is pre + n bytes 'a' + post. */
static char *line_of(const char *pre, size_t n, char fill, const char *post)
{
	size_t a = strlen(pre), b = strlen(post);
	char *line = malloc(a + n + b + 1);

	assert_non_null(line);
	memcpy(line, pre, a);
	memset(line + a, fill, n);
	memcpy(line + a + n, post, b + 1);
	return line;
}

static void test_boundaries(void **state)
{
#define SUB "{\"op\":\"submit\",\"pipeline\":\""
	static const struct {
		const char *what, *pre, *post;
		size_t n;
		int r;
	} t[] = {
		/* id: at most WEFTD_ID_MAX bytes of raw JSON; a string id's quotes count */
		{ "id \"\"", "{\"op\":\"ping\",\"id\":\"", "\"}", 0, 0 },
		{ "id max-1", "{\"op\":\"ping\",\"id\":\"", "\"}", WEFTD_ID_MAX - 3, 0 },
		{ "id max", "{\"op\":\"ping\",\"id\":\"", "\"}", WEFTD_ID_MAX - 2, 0 },
		{ "id max+1", "{\"op\":\"ping\",\"id\":\"", "\"}", WEFTD_ID_MAX - 1, -EINVAL },
		/* pipeline: 1 to WEFTD_NAME_MAX bytes, decoded (an escape is its bytes) */
		{ "pipeline min-1", SUB, "\"}", 0, -EINVAL },
		{ "pipeline min", SUB, "\"}", 1, 0 },
		{ "pipeline max", SUB, "\"}", WEFTD_NAME_MAX, 0 },
		{ "pipeline max+1", SUB, "\"}", WEFTD_NAME_MAX + 1, -EINVAL },
		{ "pipeline max, escaped", SUB, "\\u00e9\"}", WEFTD_NAME_MAX - 2, 0 },
		{ "pipeline max+1, escaped", SUB, "\\u00e9\"}", WEFTD_NAME_MAX - 1, -EINVAL },
		/* job: 1 to WEFTD_JOB_ID_MAX bytes */
		{ "job min-1", "{\"op\":\"status\",\"job\":\"", "\"}", 0, -EINVAL },
		{ "job min", "{\"op\":\"status\",\"job\":\"", "\"}", 1, 0 },
		{ "job max", "{\"op\":\"cancel\",\"job\":\"", "\"}", WEFTD_JOB_ID_MAX, 0 },
		{ "job max+1", "{\"op\":\"wait\",\"job\":\"", "\"}", WEFTD_JOB_ID_MAX + 1, -EINVAL },
		/* each of "jobs": 1 to WEFTD_JOB_ID_MAX bytes */
		{ "jobs[1] min-1", "{\"op\":\"wait\",\"jobs\":[\"x\",\"", "\"]}", 0, -EINVAL },
		{ "jobs[1] min", "{\"op\":\"wait\",\"jobs\":[\"x\",\"", "\"]}", 1, 0 },
		{ "jobs[1] max", "{\"op\":\"wait\",\"jobs\":[\"x\",\"", "\"]}", WEFTD_JOB_ID_MAX, 0 },
		{ "jobs[1] max+1", "{\"op\":\"wait\",\"jobs\":[\"x\",\"", "\"]}", WEFTD_JOB_ID_MAX + 1,
		  -EINVAL },
		/* key: 1 to WEFTD_KEY_MAX bytes */
		{ "key min-1", SUB "p\",\"key\":\"", "\"}", 0, -EINVAL },
		{ "key min", SUB "p\",\"key\":\"", "\"}", 1, 0 },
		{ "key max", SUB "p\",\"key\":\"", "\"}", WEFTD_KEY_MAX, 0 },
		{ "key max+1", SUB "p\",\"key\":\"", "\"}", WEFTD_KEY_MAX + 1, -EINVAL },
		{ "key max+1, escaped", SUB "p\",\"key\":\"", "\\u00e9\"}", WEFTD_KEY_MAX - 1, -EINVAL },
	};
	struct weftd_request req;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *line = line_of(t[i].pre, t[i].n, 'a', t[i].post);
		int r = parse(&req, line);

		if (r != t[i].r)
			fail_msg("%s: %d, want %d (%s)", t[i].what, r, t[i].r, req.errmsg);
		if (r < 0)
			assert_int_equal(req.err, WEFTD_ERR_BAD_FIELD);
		weftd_request_done(&req);
		free(line);
	}

	/* Integers: limit 1..WEFTD_LIST_MAX; timeout >= 0 ms, clamped above
	 * WEFTD_TIMEOUT_MAX_NS (not refused: a deadline must not overflow). */
	const uint64_t tmax_ms = WEFTD_TIMEOUT_MAX_NS / 1000000;
	static const struct { const char *op; long long v; int r; } n[] = {
		{ "list\",\"limit", 0, -EINVAL }, { "list\",\"limit", 1, 0 },
		{ "list\",\"limit", WEFTD_LIST_MAX, 0 }, { "list\",\"limit", WEFTD_LIST_MAX + 1, -EINVAL },
		{ "list\",\"limit", -1, -EINVAL },
		{ "wait\",\"job\":\"j\",\"timeout", -1, -EINVAL },
		{ "wait\",\"job\":\"j\",\"timeout", 0, 0 },
		{ "submit\",\"pipeline\":\"p\",\"priority", WEFTD_PRIORITY_MIN - 1, -EINVAL },
		{ "submit\",\"pipeline\":\"p\",\"priority", WEFTD_PRIORITY_MIN, 0 },
		{ "submit\",\"pipeline\":\"p\",\"priority", WEFTD_PRIORITY_MAX, 0 },
		{ "submit\",\"pipeline\":\"p\",\"priority", WEFTD_PRIORITY_MAX + 1, -EINVAL },
		{ "submit\",\"pipeline\":\"p\",\"delay", -1, -EINVAL },
		{ "submit\",\"pipeline\":\"p\",\"delay", 0, 0 },
		{ "submit\",\"pipeline\":\"p\",\"run_at", -1, -EINVAL },
		{ "submit\",\"pipeline\":\"p\",\"run_at", 0, 0 },
		{ "submit\",\"pipeline\":\"p\",\"run_at", 253402300799LL, 0 },
		{ "submit\",\"pipeline\":\"p\",\"run_at", 253402300800LL, -EINVAL },
	};
	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
		char line[128];
		snprintf(line, sizeof(line), "{\"op\":\"%s\":%lld}", n[i].op, n[i].v);
		int r = parse(&req, line);
		if (r != n[i].r)
			fail_msg("%s: %d, want %d (%s)", line, r, n[i].r, req.errmsg);
		if (r == 0 && strstr(line, "limit"))
			assert_int_equal(req.limit, (uint32_t)n[i].v);
		if (r == 0 && strstr(line, "timeout"))
			assert_true(req.has_timeout && req.timeout_ns == 0);
		if (r == 0 && strstr(line, "priority"))
			assert_int_equal(req.priority, n[i].v);
		if (r == 0 && strstr(line, "run_at"))
			assert_true(req.has_run_at && req.run_at_ms == n[i].v * 1000);
		if (r < 0)
			assert_int_equal(req.err, WEFTD_ERR_BAD_FIELD);
		weftd_request_done(&req);
	}
	char line[128];
	snprintf(line, sizeof(line), "{\"op\":\"wait\",\"job\":\"j\",\"timeout\":%llu}",
		 (unsigned long long)tmax_ms);
	assert_int_equal(parse(&req, line), 0);
	assert_true(req.timeout_ns == tmax_ms * 1000000); /* max: kept, not clamped */
	weftd_request_done(&req);
	snprintf(line, sizeof(line), "{\"op\":\"wait\",\"job\":\"j\",\"timeout\":%llu}",
		 (unsigned long long)tmax_ms + 1);
	assert_int_equal(parse(&req, line), 0);
	assert_true(req.timeout_ns == WEFTD_TIMEOUT_MAX_NS); /* max+1: clamped */
	weftd_request_done(&req);

	/* state: the six names and nothing else, not a prefix, not one byte more */
	for (int s = 0; s < WEFTD_JOB__MAX; s++) {
		snprintf(line, sizeof(line), "{\"op\":\"list\",\"state\":\"%s\"}", weftd_job_state_name(s));
		assert_int_equal(parse(&req, line), 0);
		assert_true(req.has_state);
		assert_int_equal(req.state, s);
		weftd_request_done(&req);
		snprintf(line, sizeof(line), "{\"op\":\"list\",\"state\":\"%sx\"}", weftd_job_state_name(s));
		assert_int_equal(parse(&req, line), -EINVAL);
		weftd_request_done(&req);
		snprintf(line, sizeof(line), "{\"op\":\"list\",\"state\":\"%.*s\"}",
			 (int)strlen(weftd_job_state_name(s)) - 1, weftd_job_state_name(s));
		assert_int_equal(parse(&req, line), -EINVAL);
		weftd_request_done(&req);
	}
	assert_int_equal(parse(&req, "{\"op\":\"list\",\"state\":\"\"}"), -EINVAL);
	weftd_request_done(&req);
	assert_int_equal(parse(&req, "{\"op\":\"list\",\"state\":\"canceledcanceled\"}"), -EINVAL);
	weftd_request_done(&req);

	/* op: an unknown name is echoed, cut to its first 40 bytes (the longest op is 9) */
	for (size_t k = 39; k <= 42; k++) {
		char *l = line_of("{\"op\":\"", k, 'o', "\"}"), want[64];
		snprintf(want, sizeof(want), "unknown op \"%.*s\"", (int)(k < 40 ? k : 40),
			 "oooooooooooooooooooooooooooooooooooooooooooo");
		assert_int_equal(parse(&req, l), -EINVAL);
		assert_int_equal(req.err, WEFTD_ERR_UNKNOWN_OP);
		assert_string_equal(req.errmsg, want);
		weftd_request_done(&req);
		free(l);
	}

	/* A name that fills its arena block exactly keeps its NUL when an escaped payload
	 * is copied into the arena right after it */
	for (size_t k = 15; k <= WEFTD_NAME_MAX; k += 16) {
		for (size_t len = k; len <= k + 1; len++) {
			char *l = line_of(SUB, len, 'p', "\",\"payload\":\"q\\nq\"}");
			assert_int_equal(parse(&req, l), 0);
			assert_int_equal(strlen(req.pipeline), len);
			assert_int_equal(req.payload_len, 3);
			assert_memory_equal(req.payload, "q\nq", 3);
			weftd_request_done(&req);
			free(l);
		}
	}

	/* A duplicate member is named at its key's opening quote, known field or not */
	assert_int_equal(parse(&req, "{\"op\":\"ping\",\"op\":\"ping\"}"), -EINVAL);
	assert_int_equal(req.err, WEFTD_ERR_BAD_JSON);
	assert_string_equal(req.errmsg, "column 14: duplicate key");
	weftd_request_done(&req);
	assert_int_equal(parse(&req, "{\"op\":\"ping\",\"x\":1,\"x\":2}"), -EINVAL);
	assert_string_equal(req.errmsg, "column 20: duplicate key");
	weftd_request_done(&req);

	/* "jobs": 1 to WEFTD_WAIT_MAX_JOBS ids */
	static const struct { size_t n; int r; } c[] = {
		{ 0, -EINVAL }, { 1, 0 }, { WEFTD_WAIT_MAX_JOBS, 0 }, { WEFTD_WAIT_MAX_JOBS + 1, -EINVAL },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *big = malloc(32 + c[i].n * 4), *p = big;
		p += sprintf(p, "{\"op\":\"wait\",\"jobs\":[");
		for (size_t k = 0; k < c[i].n; k++)
			p += sprintf(p, "%s\"j\"", k ? "," : "");
		strcpy(p, "]}");
		int r = parse(&req, big);
		if (r != c[i].r)
			fail_msg("jobs x %zu: %d, want %d (%s)", c[i].n, r, c[i].r, req.errmsg);
		if (r == 0)
			assert_int_equal(req.njobs, c[i].n);
		else
			assert_int_equal(req.err, WEFTD_ERR_BAD_FIELD);
		weftd_request_done(&req);
		free(big);
	}

	/* The whole line: at most max_request_bytes, its "\n" or "\r\n" not counted */
	for (size_t max = 64; max <= 4096; max *= 64) {
		const char *pre = "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"";
		size_t fill = max - strlen(pre) - 2;
		for (int d = -1; d <= 1; d++) {
			char *l = line_of(pre, fill + d, 'a', "\"}\r\n");
			int r = weftd_request_parse(&req, l, strlen(l), max);
			assert_int_equal(r, d <= 0 ? 0 : -EINVAL);
			if (r == 0)
				assert_int_equal(req.payload_len, fill + d);
			else
				assert_int_equal(req.err, WEFTD_ERR_TOO_LARGE);
			weftd_request_done(&req);
			free(l);
		}
	}
#undef SUB
}

static void test_names(void **state)
{
	assert_string_equal(weftd_err_name(WEFTD_ERR_DRAINING), "draining");
	assert_null(weftd_err_name(WEFTD_ERR__MAX));
	assert_null(weftd_op_name(WEFTD_OP__MAX));
	assert_string_equal(weftd_job_state_name(WEFTD_JOB_CANCELED), "canceled");
	enum weftd_job_state s;
	assert_int_equal(weftd_job_state_parse("retrying", 8, &s), 0);
	assert_int_equal(s, WEFTD_JOB_RETRYING);
	assert_int_equal(weftd_job_state_parse("retry", 5, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops), cmocka_unit_test(test_fields), cmocka_unit_test(test_ids),
		cmocka_unit_test(test_errors), cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_timeout_clamp), cmocka_unit_test(test_bounded_answers),
		cmocka_unit_test(test_base64), cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_responses), cmocka_unit_test(test_job_output),
		cmocka_unit_test(test_names), cmocka_unit_test(test_reference),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_nesting_small_stack), cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_strict_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
