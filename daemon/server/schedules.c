/* SPDX-License-Identifier: MIT */
/* schedules.c — the schedules op (PROTOCOL.md): the periodic jobs of every pipeline (or
 * one), each entry's settings with its next and last slot. The engine keeps the entries
 * (engine/periodic.c); this file only writes them out. */
#include <errno.h>

#include "engine/engine.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "proto/request.h"
#include "server/server_impl.h"

static void entry_json(const struct weftd_schedule_info *s, void *arg)
{
	struct weftd_buf *b = arg;

	weftd_json_obj_begin(b, NULL);
	weftd_json_cstr(b, "pipeline", s->pipeline);
	weftd_json_cstr(b, "name", s->cfg->name);
	weftd_json_cstr(b, "cron", s->cfg->expr);
	weftd_json_cstr(b, "tz", s->cfg->tz_name ? s->cfg->tz_name : "local");
	weftd_json_bool(b, "catch_up", s->cfg->catch_up);
	weftd_json_str(b, "payload", s->cfg->payload, s->cfg->payload_len);
	if (s->next_ms)
		weftd_json_i64(b, "next_run_ms", s->next_ms);
	else
		weftd_json_null(b, "next_run_ms");
	if (s->last_ms)
		weftd_json_i64(b, "last_fire_ms", s->last_ms);
	else
		weftd_json_null(b, "last_fire_ms");
	weftd_json_obj_end(b);
}

void srv_op_schedules(struct conn *c, struct weftd_buf *b, const struct weftd_request *req)
{
	size_t mark = b->len;
	int r;

	weftd_resp_begin(b, req->id);
	weftd_json_arr_begin(b, "schedules");
	r = weftd_engine_schedules(c->srv->eng, req->pipeline, entry_json, b);
	if (r < 0) {
		b->len = mark;
		srv_resp_errno(b, req->id, r, req->pipeline);
		return;
	}
	weftd_json_arr_end(b);
	weftd_resp_end(b);
}
