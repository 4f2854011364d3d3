/* SPDX-License-Identifier: MIT */
/* bjob.c — a broker job's hash as the job object (bjob.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/bjob.h"
#include "broker/broker_impl.h"
#include "proto/reply.h"

const char *const bjob_field_names[BF__N] = {
	[BF_STATE] = "state", [BF_STAGE] = "stage", [BF_ATTEMPTS] = "attempts", [BF_OUTPUT] = "output",
	[BF_ERROR] = "error", [BF_CREATED] = "created_ms", [BF_STARTED] = "started_ms",
	[BF_FINISHED] = "finished_ms",
	[BF_PRIORITY] = "priority", [BF_KEY] = "key", [BF_RUN_AT] = "run_at_ms",
	[BF_DEADLINE] = "deadline_ms", [BF_OWNER] = "owner", [BF_PAYLOAD] = "payload",
};

void bjob_fields_hmget(struct bjob_fields *f, const redisReply *h)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i < h->elements && i < BF__N; i++)
		if (h->element[i]->type == REDIS_REPLY_STRING)
			f->v[i] = h->element[i];
}

static int64_t num(const struct bjob_fields *f, enum bjob_field n)
{
	return f->v[n] ? strtoll(f->v[n]->str, NULL, 10) : 0;
}

/* The first attempt's start, marked at its entry's fetch (bworker.c) by the clock of the
 * node that fetched it, within [created_ms, finished_ms], which other nodes' clocks took
 * (the submitter's, the one that ended it): a fetch's time is taken as it is sent, and a
 * submit can land before it, so a job may look started a moment before it was created. */
static int64_t started_ms(const struct bjob_fields *f)
{
	int64_t s = num(f, BF_STARTED), c = num(f, BF_CREATED), e = num(f, BF_FINISHED);

	if (!s)
		return 0;
	if (s < c)
		s = c;
	if (e && s > e)
		s = e;
	return s;
}

/* The stage's place in its pipeline (the hash keeps its name). */
static uint32_t stage_index(const struct weftd_pipeline *cfg, const redisReply *stage)
{
	for (size_t i = 0; cfg && stage && i < cfg->nstages; i++)
		if (strcmp(cfg->stages[i].name, stage->str) == 0)
			return (uint32_t)i;
	return 0;
}

int bjob_put(struct weftd_buf *b, const char *key, const char *id, const struct bjob_fields *f, uid_t uid,
	     bool admin, const struct bjob_show *show)
{
	const redisReply *st = f->v[BF_STATE], *stage = f->v[BF_STAGE], *out = f->v[BF_OUTPUT],
			 *err = f->v[BF_ERROR], *kv = f->v[BF_KEY], *pl = f->v[BF_PAYLOAD];
	char pipe[WEFTD_MAX_NAME + 1];
	enum weftd_job_state state;
	const char *hex;

	if (!st || weftd_job_state_parse(st->str, st->len, &state) < 0 ||
	    (!admin && num(f, BF_OWNER) != (int64_t)uid) || bjob_split(id, pipe, &hex) < 0)
		return -ESRCH;
	weftd_json_job(b, key, &(struct weftd_job_view){
		.id = id, .pipeline = pipe, .state = state, .stage = stage ? stage->str : NULL,
		.stage_index = stage_index(show->cfg, stage),
		/* a running job's hash keeps the attempts made before this one (bworker.c) */
		.attempts = (uint32_t)num(f, BF_ATTEMPTS) + (state == WEFTD_JOB_RUNNING),
		.has_output = show->outputs && state == WEFTD_JOB_DONE && out, .output = out ? out->str : NULL,
		.output_len = out ? out->len : 0, .error = err && state != WEFTD_JOB_DONE ? err->str : NULL,
		.created_ms = num(f, BF_CREATED), .started_ms = started_ms(f), .finished_ms = num(f, BF_FINISHED),
		.priority = (int)num(f, BF_PRIORITY), .key = kv ? kv->str : NULL, .key_len = kv ? kv->len : 0,
		.run_at_ms = state == WEFTD_JOB_SCHEDULED || state == WEFTD_JOB_RETRYING ? num(f, BF_RUN_AT) : 0,
		.deadline_ms = num(f, BF_DEADLINE),
		/* (a job submitted by a weftd that kept no payload shows none) */
		.has_payload = show->payload && pl, .payload = pl ? pl->str : NULL, .payload_len = pl ? pl->len : 0,
	});
	return 0;
}
