/* SPDX-License-Identifier: MIT */
/* weftd wire protocol vocabulary (PROTOCOL.md): the ops a request names, the error codes
 * a reply carries, the job states it reports, their names on the wire, and the limits
 * every request is held to. Tables only: no state, no allocation. */
#ifndef WEFTD_PROTO_WIRE_H
#define WEFTD_PROTO_WIRE_H

#include <stddef.h>

#define WEFTD_ID_MAX        64    /* bytes of the raw JSON text of a request id */
#define WEFTD_JOB_ID_MAX    64    /* bytes of a job id string */
#define WEFTD_NAME_MAX      64    /* bytes of a pipeline name */
#define WEFTD_WAIT_MAX_JOBS 4096  /* ids in one "wait" */
#define WEFTD_LIST_DEFAULT  100
#define WEFTD_LIST_MAX      10000
#define WEFTD_KEY_MAX       256   /* bytes of a submit's idempotency key */
#define WEFTD_PRIORITY_MIN  (-100)
#define WEFTD_PRIORITY_MAX  100
#define WEFTD_SECONDS_MAX   60    /* trace: "seconds" is 1..60 */

enum weftd_op {
	WEFTD_OP_SUBMIT, WEFTD_OP_STATUS, WEFTD_OP_WAIT, WEFTD_OP_CANCEL, WEFTD_OP_LIST,
	WEFTD_OP_STATS, WEFTD_OP_PIPELINES, WEFTD_OP_PING, WEFTD_OP_RELOAD, WEFTD_OP_DRAIN,
	WEFTD_OP_PAUSE, WEFTD_OP_RESUME, WEFTD_OP_UNDRAIN, WEFTD_OP_RETRY, WEFTD_OP_PURGE,
	WEFTD_OP_METRICS, /* the Prometheus text of GET /metrics (obs/metrics.h) */
	WEFTD_OP_SCHEDULES, /* the periodic jobs: each schedule entry's next and last slot */
	WEFTD_OP_PROFILE, /* a CPU, heap, fiber, block or mutex profile (obs/profile.h) */
	WEFTD_OP_NODES,   /* the nodes working each broker pipeline (broker/broker.h) */
	WEFTD_OP_TRACE,   /* a scheduler trace, Chrome trace-event JSON (obs/trace.h) */
	WEFTD_OP__MAX,
};

enum weftd_err {
	WEFTD_ERR_NONE, WEFTD_ERR_BAD_JSON, WEFTD_ERR_TOO_LARGE, WEFTD_ERR_UNKNOWN_OP,
	WEFTD_ERR_MISSING_FIELD, WEFTD_ERR_BAD_FIELD, WEFTD_ERR_UNKNOWN_PIPELINE,
	WEFTD_ERR_UNKNOWN_JOB, WEFTD_ERR_BUSY, WEFTD_ERR_DRAINING, WEFTD_ERR_FORBIDDEN,
	WEFTD_ERR_INTERNAL, WEFTD_ERR_UNSUPPORTED, WEFTD_ERR_INVALID_CONFIG,
	WEFTD_ERR_UNAVAILABLE, /* the journal cannot write now (disk full...): retry later */
	WEFTD_ERR_CONFLICT,    /* the job is not in a state the op applies to */
	WEFTD_ERR__MAX,
};

enum weftd_job_state {
	WEFTD_JOB_QUEUED, WEFTD_JOB_RUNNING, WEFTD_JOB_RETRYING, WEFTD_JOB_DONE,
	WEFTD_JOB_FAILED, WEFTD_JOB_CANCELED,
	WEFTD_JOB_SCHEDULED, /* waiting for its due time (delay, run_at), holding no worker */
	WEFTD_JOB_EXPIRED,   /* final: its deadline passed before it finished */
	WEFTD_JOB__MAX,
};

/* Names on the wire ("submit", "bad_json", "queued"); NULL when out of range. */
const char *weftd_op_name(enum weftd_op op);
const char *weftd_err_name(enum weftd_err e);
const char *weftd_job_state_name(enum weftd_job_state s);

/* Reverse of weftd_op_name for the len bytes at s (no NUL needed); -EINVAL when unknown. */
int weftd_op_parse(const char *s, size_t len, enum weftd_op *ret);
/* Reverse of weftd_job_state_name for len bytes at s; -EINVAL when unknown. */
int weftd_job_state_parse(const char *s, size_t len, enum weftd_job_state *ret);

/* profile's kinds (PROTOCOL.md): the name of s[0..n) copied into ret (8 bytes) when it is
 * one, 0; else -EINVAL. */
#define WEFTD_PROFILE_KINDS "cpu, heap, fibers, block, mutex"
int weftd_profile_kind_parse(const char *s, size_t n, char *ret);

#endif
