/* SPDX-License-Identifier: MIT */
/* Parsing one request line (PROTOCOL.md) into a struct weftd_request whose strings point
 * into the line or into the request's own arena: the usual request is parsed without one
 * malloc. Runtime independent, no global state, never blocks, never aborts on input. */
#ifndef WEFTD_PROTO_REQUEST_H
#define WEFTD_PROTO_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

/* "timeout" above this (~146 years) is clamped to it: a deadline is now + timeout, which
 * must not overflow int64 nanoseconds (9223372036854 ms used to come back after 58 ms). */
#define WEFTD_TIMEOUT_MAX_NS ((uint64_t)INT64_MAX / 2)
#define WEFTD_REQ_ARENA 2048 /* bytes in a request for its strings: a usual request is
				parsed without one malloc */

/* profile: what to take (PROTOCOL.md, obs/profile.h); copied into the op's handler. */
#define WEFTD_PROFILE_KIND_MAX 7
struct weftd_profile_args {
	char kind[WEFTD_PROFILE_KIND_MAX + 1]; /* "cpu", "heap", "fibers", "block", "mutex" */
	bool has_seconds;
	uint32_t seconds;           /* 1 .. WEFTD_PROFILE_SECONDS_MAX */
	int debug;                  /* 0 .. 2 */
};
#define WEFTD_PROFILE_SECONDS_MAX 60

/* One parsed request. Absent optional strings are NULL. Valid until weftd_request_done(). */
struct weftd_request {
	enum weftd_op op;
	char id[WEFTD_ID_MAX + 1];  /* raw JSON of "id" to echo ("null" when absent/unusable) */
	const char *pipeline;       /* submit, pause (required), list, stats (filters), resume,
				       retry, purge (with all) */
	const char *job;            /* status, cancel, wait (one of job / jobs), retry, purge */
	size_t njobs;               /* wait: ids in "jobs", see weftd_request_job() */
	const unsigned char *payload; /* submit: bytes from "payload" or "payload_b64"; */
	size_t payload_len;           /*   empty when neither is given */
	bool wait;                  /* submit: answer when the job ends (default false) */
	bool has_timeout;           /* wait, submit+wait: "timeout" given */
	uint64_t timeout_ns;        /*   ms number or duration string; 0 = answer at once;
	                               at most WEFTD_TIMEOUT_MAX_NS */
	bool has_state;             /* list: filter by "state" */
	enum weftd_job_state state;
	uint32_t limit;             /* list: default WEFTD_LIST_DEFAULT, 1 .. WEFTD_LIST_MAX */
	bool outputs;               /* list: the jobs' outputs too (default false) */
	bool has_delay;             /* submit: "delay" given (a duration, like timeout) */
	uint64_t delay_ns;          /*   at most WEFTD_TIMEOUT_MAX_NS */
	bool has_run_at;            /* submit: "run_at" given (RFC 3339 or Unix seconds) */
	int64_t run_at_ms;          /*   Unix epoch ms, >= 0 */
	int priority;               /* submit: WEFTD_PRIORITY_MIN..MAX, default 0 */
	const char *key;            /* submit: idempotency key, 1..WEFTD_KEY_MAX bytes, no NUL */
	size_t key_len;
	bool all;                   /* retry, purge: every dead letter of "pipeline" */
	bool from_start;            /* retry: from stage 1 with the payload */
	bool has_deadline;          /* submit: "deadline" given: the job ends expired if not
	                               finished by then */
	bool deadline_rel;          /*   a duration from now (deadline_in_ns), else a time */
	uint64_t deadline_in_ns;    /*   deadline_rel: at most WEFTD_TIMEOUT_MAX_NS */
	int64_t deadline_ms;        /*   !deadline_rel: Unix epoch ms, >= 0 */
	bool want_payload;          /* status: "payload": true shows the submitted input */
	struct weftd_profile_args prof; /* profile: "kind" (required), "seconds", "debug" */
	struct weft_ctx *conn_ctx;  /* not parsed: the server sets it in the copy an op
	                               handler gets (server.h), the connection's context,
	                               done when the client goes away */
	enum weftd_err err;         /* after a failed parse: code and message for the reply */
	char errmsg[128];
	const char **jobv;          /* private: the ids of "jobs" */
	void *heap[3];              /* private: what did not fit in the arena */
	size_t arena_used;          /* private: strings that do fit live in arena */
	_Alignas(16) unsigned char arena[WEFTD_REQ_ARENA];
};

/* Parse one request line of len bytes (no NUL needed; a trailing "\n" or "\r\n" is fine).
 * Strings without escapes are borrowed from line (the payload) or copied into req->arena,
 * so line must stay unchanged, and req where it is (not copied), until
 * weftd_request_done(). The whole line must be valid JSON, at most JSCAN_DEPTH_MAX (64)
 * objects and arrays deep; a member the op does not know is refused, not ignored (a
 * misspelt "delay" must not run a job at once).
 * max_len is daemon.max_request_bytes. Returns 0 on success; -EINVAL for a bad request,
 * with req->err, req->errmsg and req->id (recovered whenever the line was a JSON object
 * with a scalar id) ready for weftd_resp_error(); -ENOMEM likewise with WEFTD_ERR_INTERNAL.
 * Always call weftd_request_done() afterwards, whatever the result. */
int weftd_request_parse(struct weftd_request *req, const char *line, size_t len, size_t max_len);

/* Release what a parse holds; safe on a zeroed or already released request. */
void weftd_request_done(struct weftd_request *req);

/* The i-th id of a "wait" with "jobs" (i < req->njobs); NULL out of range. */
const char *weftd_request_job(const struct weftd_request *req, size_t i);

#endif
