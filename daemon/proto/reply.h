/* SPDX-License-Identifier: MIT */
/* One response line (PROTOCOL.md): {"id":..,"ok":true,...}\n or the error line, and the
 * job object that several replies carry. Framing is one JSON object per line: everything
 * written between weftd_resp_begin and weftd_resp_end stays on that line. */
#ifndef WEFTD_PROTO_REPLY_H
#define WEFTD_PROTO_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/wire.h"

/* Start a success line: {"id":<id>,"ok":true  — id is raw JSON (req->id); NULL -> null. */
void weftd_resp_begin(struct weftd_buf *b, const char *id);
/* Close the line with "}\n". Returns 0 or the buffer's error. */
int weftd_resp_end(struct weftd_buf *b);
/* A whole error line {"id":..,"ok":false,"error":{"code":..,"message":..}}\n.
 * msg may be NULL (then the code's name is used). Returns 0 or the buffer's error. */
int weftd_resp_error(struct weftd_buf *b, const char *id, enum weftd_err code, const char *msg);

/* What the job table exposes of a job, for weftd_json_job(). */
struct weftd_job_view {
	const char *id;
	const char *pipeline;
	enum weftd_job_state state;
	const char *stage;          /* current (or last) stage; NULL omitted */
	uint32_t stage_index;
	uint32_t attempts;          /* of the current stage */
	bool has_output;            /* done jobs: the last stage's output */
	const void *output;
	size_t output_len;
	const char *error;          /* failed/canceled: why; NULL omitted */
	const void *log_tail;       /* stderr tail of exec stages; omitted when empty */
	size_t log_tail_len;
	int64_t created_ms;         /* Unix epoch milliseconds; 0 = omitted */
	int64_t started_ms;
	int64_t finished_ms;
	int priority;
	const char *key;            /* idempotency key; NULL omitted */
	size_t key_len;
	int64_t run_at_ms;          /* scheduled, retrying: due time; 0 = omitted */
	int64_t deadline_ms;        /* its deadline (submit's); 0 = omitted */
	bool has_payload;           /* status payload:true: the submitted input */
	const void *payload;
	size_t payload_len;
};

/* The job object of PROTOCOL.md as a member (key) or array element (NULL). */
void weftd_json_job(struct weftd_buf *b, const char *key, const struct weftd_job_view *j);

#endif
