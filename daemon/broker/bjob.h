/* SPDX-License-Identifier: MIT */
/* bjob.h — a broker job's hash (weft:{P}:j:ID, broker.h) as the protocol's job object,
 * private to daemon/broker/: the client ops (bops.c, blist.c) read a job's fields with
 * HMGET in bjob_field_names' order (only what is shown: no payload unless asked), then
 * render them here, the one place a broker job becomes JSON. */
#ifndef WEFTD_BJOB_H
#define WEFTD_BJOB_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config/config.h"
#include "proto/buf.h"

/* The fields shown, in the order of bjob_field_names (an HMGET's order). */
enum bjob_field {
	BF_STATE, BF_STAGE, BF_ATTEMPTS, BF_OUTPUT, BF_ERROR, BF_CREATED, BF_STARTED, BF_FINISHED,
	BF_PRIORITY, BF_KEY, BF_RUN_AT, BF_DEADLINE, BF_OWNER, BF_PAYLOAD, BF__N
};
extern const char *const bjob_field_names[BF__N];

/* Pointers into a reply (not owned): NULL where the hash has no such field. */
struct bjob_fields {
	const redisReply *v[BF__N];
};

/* From an HMGET of bjob_field_names[0..n) in order (n <= BF__N; the rest NULL). */
void bjob_fields_hmget(struct bjob_fields *f, const redisReply *h);

/* What to show besides the job's state. */
struct bjob_show {
	bool outputs;                  /* a done job's output */
	bool payload;                  /* the submitted payload (status "payload":true) */
	const struct weftd_pipeline *cfg; /* its pipeline (stage_index), or NULL */
};

/* The job object of id as member key of b (NULL: an array element). -ESRCH: no state
 * (unknown or expired), or another's job unless admin. */
int bjob_put(struct weftd_buf *b, const char *key, const char *id, const struct bjob_fields *f, uid_t uid,
	     bool admin, const struct bjob_show *show);

#endif
