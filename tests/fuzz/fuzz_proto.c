/* SPDX-License-Identifier: MIT */
/* libFuzzer target: one request line through the parser, then the error or an echo
 * response through the writer. Invariants: the parser reads every line as the reference
 * does (jansson, tests/unit/proto_ref.h: same result, id, error code, fields); every
 * output is one line of valid JSON; a parse that succeeded re-reads the same from a line
 * rebuilt out of its fields. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "proto/request.h"
#include "../unit/proto_ref.h"

static void check_json(const struct weftd_buf *b)
{
	json_error_t e;
	json_t *j;

	if (b->err || !b->len || b->data[b->len - 1] != '\n' || memchr(b->data, '\n', b->len - 1))
		abort();
	j = json_loadb(b->data, b->len, JSON_ALLOW_NUL, &e);
	if (!j)
		abort();
	json_decref(j);
}

/* The request rebuilt as a line from its fields (payload as base64, so any bytes pass). */
static void rebuild(struct weftd_buf *b, const struct weftd_request *r)
{
	weftd_json_obj_begin(b, NULL);
	weftd_json_raw(b, "id", r->id, strlen(r->id));
	weftd_json_cstr(b, "op", weftd_op_name(r->op));
	if (r->pipeline)
		weftd_json_cstr(b, "pipeline", r->pipeline);
	if (r->job)
		weftd_json_cstr(b, "job", r->job);
	if (r->njobs) {
		weftd_json_arr_begin(b, "jobs");
		for (size_t i = 0; i < r->njobs; i++)
			weftd_json_cstr(b, NULL, weftd_request_job(r, i));
		weftd_json_arr_end(b);
	}
	if (r->op == WEFTD_OP_SUBMIT) {
		weftd_json_bytes(b, "payload", "payload_b64", r->payload, r->payload_len);
		weftd_json_bool(b, "wait", r->wait);
	}
	if (r->has_timeout)
		weftd_json_u64(b, "timeout", r->timeout_ns / 1000000); /* whole ms: compared so */
	if (r->has_state)
		weftd_json_cstr(b, "state", weftd_job_state_name(r->state));
	if (r->op == WEFTD_OP_LIST)
		weftd_json_u64(b, "limit", r->limit);
	if (r->has_delay)
		weftd_json_u64(b, "delay", r->delay_ns / 1000000); /* whole ms, as timeout */
	if (r->has_run_at)
		weftd_json_i64(b, "run_at", r->run_at_ms / 1000);   /* whole seconds */
	if (r->op == WEFTD_OP_SUBMIT)
		weftd_json_i64(b, "priority", r->priority);
	if (r->key)
		weftd_json_str(b, "key", r->key, r->key_len);
	if (r->all)
		weftd_json_bool(b, "all", true);
	if (r->from_start)
		weftd_json_bool(b, "from_start", true);
	if (r->want_payload)
		weftd_json_bool(b, "payload", true);
	if (r->op == WEFTD_OP_PROFILE) {
		weftd_json_cstr(b, "kind", r->prof.kind);
		if (r->prof.has_seconds)
			weftd_json_u64(b, "seconds", r->prof.seconds);
		weftd_json_u64(b, "debug", (uint64_t)r->prof.debug);
	}
	weftd_json_obj_end(b);
}

static void check_rebuilt(const struct weftd_request *a)
{
	struct weftd_request b;
	struct weftd_buf line;

	weftd_buf_init(&line, NULL, 0);
	rebuild(&line, a);
	if (line.err || weftd_request_parse(&b, line.data, line.len, 1 << 20) != 0 ||
	    strcmp(a->id, b.id) != 0 || a->op != b.op || !same_str(a->pipeline, b.pipeline) ||
	    !same_str(a->job, b.job) || a->njobs != b.njobs || a->payload_len != b.payload_len ||
	    (a->payload_len && memcmp(a->payload, b.payload, a->payload_len) != 0) ||
	    a->wait != b.wait || a->has_timeout != b.has_timeout ||
	    a->timeout_ns / 1000000 != b.timeout_ns / 1000000 || a->has_state != b.has_state ||
	    a->state != b.state || a->limit != b.limit || a->has_delay != b.has_delay ||
	    a->delay_ns / 1000000 != b.delay_ns / 1000000 || a->has_run_at != b.has_run_at ||
	    a->run_at_ms / 1000 != b.run_at_ms / 1000 || a->priority != b.priority ||
	    a->key_len != b.key_len || (a->key_len && memcmp(a->key, b.key, a->key_len) != 0) ||
	    a->all != b.all || a->from_start != b.from_start || a->want_payload != b.want_payload)
		abort();
	for (size_t i = 0; i < a->njobs; i++)
		if (strcmp(weftd_request_job(a, i), weftd_request_job(&b, i)) != 0)
			abort();
	weftd_request_done(&b);
	weftd_buf_done(&line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct weftd_request req;
	struct weftd_buf b;
	const char *why;
	int r;

	if (!proto_check((const char *)data, size, 1 << 16, &why)) {
		fprintf(stderr, "differs from the reference: %s\n", why);
		abort();
	}
	r = weftd_request_parse(&req, (const char *)data, size, 1 << 16);

	weftd_buf_init(&b, NULL, 0);
	if (r < 0) {
		weftd_resp_error(&b, req.id, req.err, req.errmsg);
	} else {
		struct weftd_job_view v = { .id = req.job ? req.job : "j", .pipeline = req.pipeline,
					    .has_output = true, .output = req.payload,
					    .output_len = req.payload_len, .error = req.errmsg };
		weftd_resp_begin(&b, req.id);
		weftd_json_job(&b, "job", &v);
		weftd_json_arr_begin(&b, "jobs");
		for (size_t i = 0; i < req.njobs; i++)
			weftd_json_cstr(&b, NULL, weftd_request_job(&req, i));
		weftd_json_arr_end(&b);
		weftd_resp_end(&b);
		check_rebuilt(&req);
	}
	check_json(&b);
	weftd_buf_done(&b);
	weftd_request_done(&req);
	return 0;
}
