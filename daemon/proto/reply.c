/* SPDX-License-Identifier: MIT */
/* Response lines and the job object. */
#include "proto/reply.h"

#include <string.h>

#include "proto/json.h"

#define put weftd_buf_put
#define PUTS WEFTD_BUF_PUTS

static void put_id(struct weftd_buf *b, const char *id)
{
	PUTS(b, "{\"id\":");
	if (id)
		put(b, id, strlen(id));
	else
		PUTS(b, "null");
}

void weftd_resp_begin(struct weftd_buf *b, const char *id)
{
	put_id(b, id);
	PUTS(b, ",\"ok\":true");
}

int weftd_resp_end(struct weftd_buf *b)
{
	PUTS(b, "}\n");
	return b->err;
}

int weftd_resp_error(struct weftd_buf *b, const char *id, enum weftd_err code, const char *msg)
{
	const char *name = weftd_err_name(code) ? weftd_err_name(code) : "internal";

	put_id(b, id);
	PUTS(b, ",\"ok\":false,\"error\":{");
	weftd_json_cstr(b, "code", name);
	weftd_json_cstr(b, "message", msg ? msg : name);
	PUTS(b, "}}\n");
	return b->err;
}

void weftd_json_job(struct weftd_buf *b, const char *key, const struct weftd_job_view *j)
{
	weftd_json_obj_begin(b, key);
	weftd_json_cstr(b, "id", j->id);
	weftd_json_cstr(b, "pipeline", j->pipeline);
	weftd_json_cstr(b, "state", weftd_job_state_name(j->state));
	if (j->stage) {
		weftd_json_cstr(b, "stage", j->stage);
		weftd_json_u64(b, "stage_index", j->stage_index);
	}
	weftd_json_u64(b, "attempts", j->attempts);
	weftd_json_i64(b, "priority", j->priority);
	if (j->key)
		weftd_json_str(b, "key", j->key, j->key_len);
	if (j->run_at_ms)
		weftd_json_i64(b, "run_at_ms", j->run_at_ms);
	if (j->deadline_ms)
		weftd_json_i64(b, "deadline_ms", j->deadline_ms);
	if (j->has_payload)
		weftd_json_bytes(b, "payload", "payload_b64", j->payload, j->payload_len);
	if (j->has_output)
		weftd_json_bytes(b, "output", "output_b64", j->output, j->output_len);
	if (j->error)
		weftd_json_cstr(b, "error", j->error);
	if (j->log_tail_len)
		weftd_json_str(b, "log", j->log_tail, j->log_tail_len);
	if (j->created_ms)
		weftd_json_i64(b, "created_ms", j->created_ms);
	if (j->started_ms)
		weftd_json_i64(b, "started_ms", j->started_ms);
	if (j->finished_ms)
		weftd_json_i64(b, "finished_ms", j->finished_ms);
	weftd_json_obj_end(b);
}
