/* SPDX-License-Identifier: MIT */
/* proto_ref.h — for tests and the fuzzer: a reference reading of a request line with
 * jansson (the daemon's parser before it had one of its own, kept here as an oracle), and
 * proto_check(), which holds weftd_request_parse() to it. The one intended difference:
 * weftd refuses lines nested deeper than JSCAN_DEPTH_MAX, jansson only past 2,048. And
 * one jansson quirk is not copied: it drops a raw NUL byte that follows a number (its
 * stream reads NUL as "buffer empty" after an unget), where weftd refuses any raw NUL.
 * Error messages are compared for field errors; for bad JSON only the code is. */
#ifndef WEFTD_PROTO_REF_H
#define WEFTD_PROTO_REF_H
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/units.h"
#include "proto/jscan.h"
#include "proto/request.h"
#include "proto/text.h"

/* What the reference makes of a line: the fields of struct weftd_request a caller sees. */
struct ref {
	enum weftd_op op;
	char id[WEFTD_ID_MAX + 1];
	const char *pipeline, *job;
	size_t njobs;
	const unsigned char *payload;
	size_t payload_len;
	bool wait, has_timeout, has_state, outputs;
	uint64_t timeout_ns;
	bool has_delay, has_run_at, all, from_start, want_payload;
	uint64_t delay_ns;
	int64_t run_at_ms;
	bool has_deadline, deadline_rel;
	uint64_t deadline_in_ns;
	int64_t deadline_ms;
	int priority;
	const char *key;
	size_t key_len;
	struct weftd_profile_args prof;
	enum weftd_job_state state;
	uint32_t limit;
	enum weftd_err err;
	char errmsg[128];
	json_t *root;
	unsigned char *payload_buf;
};

__attribute__((format(printf, 3, 4)))
static int ref_req_fail(struct ref *req, enum weftd_err e, const char *fmt, ...)
{
	va_list ap;

	req->err = e;
	va_start(ap, fmt);
	vsnprintf(req->errmsg, sizeof(req->errmsg), fmt, ap);
	va_end(ap);
	return e == WEFTD_ERR_INTERNAL ? -ENOMEM : -EINVAL;
}

/* Keep the id as compact JSON text so any scalar echoes back byte-exact in meaning. */
static int ref_parse_id(struct ref *req, json_t *id)
{
	size_t n;

	if (!id)
		return 0;
	if (json_is_object(id) || json_is_array(id))
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "id must be a string, number or null");
	n = json_dumpb(id, req->id, WEFTD_ID_MAX, JSON_ENCODE_ANY | JSON_COMPACT);
	if (n == 0 || n > WEFTD_ID_MAX) {
		strcpy(req->id, "null");
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "id longer than %d bytes of JSON", WEFTD_ID_MAX);
	}
	req->id[n] = '\0';
	return 0;
}

/* Optional string member; max bytes, non-empty, no NUL. */
static int ref_get_str(struct ref *req, json_t *root, const char *key, size_t max,
		   const char **ret)
{
	json_t *v = json_object_get(root, key);
	size_t len;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "%s must be a string", key);
	len = json_string_length(v);
	if (len == 0 || len > max || memchr(json_string_value(v), '\0', len))
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "%s must be 1 to %zu bytes without NUL",
				key, max);
	*ret = json_string_value(v);
	return 0;
}

static int ref_need(struct ref *req, const void *field, const char *key)
{
	return field ? 0 : ref_req_fail(req, WEFTD_ERR_MISSING_FIELD, "missing field \"%s\"", key);
}

/* "timeout", "delay": milliseconds (number >= 0) or a duration string ("1.5s"). */
static int ref_get_duration(struct ref *req, json_t *root, const char *key, bool *has, uint64_t *ns)
{
	json_t *v = json_object_get(root, key);
	double ms;

	if (!v)
		return 0;
	*has = true;
	if (json_is_string(v)) {
		if (weftd_parse_duration(json_string_value(v), json_string_length(v), ns) < 0)
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "%s: invalid duration", key);
		goto clamp;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		ms = (double)json_integer_value(v);
		if (ms >= (double)(WEFTD_TIMEOUT_MAX_NS / WEFTD_NSEC_PER_MSEC))
			*ns = WEFTD_TIMEOUT_MAX_NS;
		else
			*ns = (uint64_t)json_integer_value(v) * WEFTD_NSEC_PER_MSEC;
		goto clamp;
	}
	ms = json_is_real(v) ? json_real_value(v) : -1;
	if (!(ms >= 0 && ms <= 9e12))
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD,
				"%s must be milliseconds >= 0 or a duration string", key);
	*ns = ms >= (double)(WEFTD_TIMEOUT_MAX_NS / WEFTD_NSEC_PER_MSEC) ?
		WEFTD_TIMEOUT_MAX_NS : (uint64_t)(ms * 1e6);
clamp:
	if (*ns > WEFTD_TIMEOUT_MAX_NS)
		*ns = WEFTD_TIMEOUT_MAX_NS;
	return 0;
}

static int ref_get_run_at(struct ref *req, json_t *root)
{
	json_t *v = json_object_get(root, "run_at");
	const int64_t max_s = 253402300799LL; /* 9999-12-31T23:59:59Z */

	if (!v)
		return 0;
	req->has_run_at = true;
	if (json_is_string(v)) {
		if (weftd_parse_rfc3339(json_string_value(v), json_string_length(v), &req->run_at_ms) == 0 &&
		    req->run_at_ms >= 0)
			return 0;
	} else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max_s) {
		req->run_at_ms = json_integer_value(v) * 1000;
		return 0;
	} else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) <= (double)max_s) {
		req->run_at_ms = (int64_t)(json_real_value(v) * 1000);
		return 0;
	}
	return ref_req_fail(req, WEFTD_ERR_BAD_FIELD,
			"run_at must be an RFC 3339 time (\"2026-12-03T14:00:00Z\") or Unix seconds");
}

static int ref_get_deadline(struct ref *req, json_t *root)
{
	json_t *v = json_object_get(root, "deadline");
	const int64_t max_s = 253402300799LL;

	if (!v)
		return 0;
	req->has_deadline = true;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		if (weftd_parse_duration(s, len, &req->deadline_in_ns) == 0) {
			req->deadline_rel = true;
			if (req->deadline_in_ns > WEFTD_TIMEOUT_MAX_NS)
				req->deadline_in_ns = WEFTD_TIMEOUT_MAX_NS;
			return 0;
		}
		if (weftd_parse_rfc3339(s, len, &req->deadline_ms) == 0 && req->deadline_ms >= 0)
			return 0;
	} else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max_s) {
		req->deadline_ms = json_integer_value(v) * 1000;
		return 0;
	} else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) <= (double)max_s) {
		req->deadline_ms = (int64_t)(json_real_value(v) * 1000);
		return 0;
	}
	return ref_req_fail(req, WEFTD_ERR_BAD_FIELD,
			"deadline must be a duration (\"30s\"), an RFC 3339 time or Unix seconds");
}

static int ref_get_priority(struct ref *req, json_t *root)
{
	json_t *v = json_object_get(root, "priority");

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < WEFTD_PRIORITY_MIN ||
	    json_integer_value(v) > WEFTD_PRIORITY_MAX)
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "priority must be an integer from %d to %d",
				WEFTD_PRIORITY_MIN, WEFTD_PRIORITY_MAX);
	req->priority = (int)json_integer_value(v);
	return 0;
}

static int ref_get_payload(struct ref *req, json_t *root)
{
	json_t *p = json_object_get(root, "payload"), *b = json_object_get(root, "payload_b64");
	ssize_t n;

	if (p && b)
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "give payload or payload_b64, not both");
	if (p) {
		if (!json_is_string(p))
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "payload must be a string");
		req->payload = (const unsigned char *)json_string_value(p);
		req->payload_len = json_string_length(p);
	} else if (b) {
		if (!json_is_string(b))
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "payload_b64 must be a string");
		req->payload_buf = malloc(WEFTD_B64_DEC_MAX(json_string_length(b)));
		if (!req->payload_buf)
			return ref_req_fail(req, WEFTD_ERR_INTERNAL, "out of memory");
		n = weftd_b64_decode(json_string_value(b), json_string_length(b), req->payload_buf);
		if (n < 0)
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "payload_b64 is not valid base64");
		req->payload = req->payload_buf;
		req->payload_len = (size_t)n;
	} else {
		req->payload = (const unsigned char *)"";
	}
	return 0;
}

static int ref_get_bool(struct ref *req, json_t *root, const char *key, bool *ret)
{
	json_t *v = json_object_get(root, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "%s must be true or false", key);
	*ret = json_is_true(v);
	return 0;
}

static int ref_get_jobs(struct ref *req, json_t *root)
{
	json_t *v = json_object_get(root, "jobs");
	size_t i;
	json_t *it;

	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > WEFTD_WAIT_MAX_JOBS)
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "jobs must be an array of 1 to %d ids",
				WEFTD_WAIT_MAX_JOBS);
	json_array_foreach(v, i, it) {
		size_t len = json_is_string(it) ? json_string_length(it) : 0;
		if (len == 0 || len > WEFTD_JOB_ID_MAX || memchr(json_string_value(it), '\0', len))
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "jobs[%zu] must be a job id string", i);
	}
	req->njobs = json_array_size(v);
	return 0;
}

static int ref_get_list_filters(struct ref *req, json_t *root, const char *which)
{
	json_t *s = strcmp(which, "state") == 0 ? json_object_get(root, "state") : NULL;
	json_t *l = strcmp(which, "limit") == 0 ? json_object_get(root, "limit") : NULL;

	if (s) {
		if (!json_is_string(s) ||
		    weftd_job_state_parse(json_string_value(s), json_string_length(s), &req->state) < 0)
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD,
					"state must be one of queued, scheduled, running, retrying, done, failed, canceled, expired");
		req->has_state = true;
	}
	if (l) {
		if (!json_is_integer(l) || json_integer_value(l) < 1 ||
		    json_integer_value(l) > WEFTD_LIST_MAX)
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "limit must be an integer from 1 to %d",
					WEFTD_LIST_MAX);
		req->limit = (uint32_t)json_integer_value(l);
	}
	return 0;
}

/* profile: "kind" (required, a name), "seconds" 1..60, "debug" 0..2. */
static int ref_get_prof(struct ref *req, json_t *root, const char *k)
{
	json_t *v = json_object_get(root, k);
	long lo = strcmp(k, "seconds") == 0, hi = lo ? WEFTD_PROFILE_SECONDS_MAX : 2;

	if (strcmp(k, "kind") == 0) {
		if (!v)
			return ref_need(req, NULL, "kind");
		if (!json_is_string(v) || weftd_profile_kind_parse(json_string_value(v),
								    json_string_length(v), req->prof.kind) < 0)
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "kind must be one of %s", WEFTD_PROFILE_KINDS);
		return 0;
	}
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "%s must be an integer from %ld to %ld", k, lo, hi);
	if (lo) {
		req->prof.has_seconds = true;
		req->prof.seconds = (uint32_t)json_integer_value(v);
	} else {
		req->prof.debug = (int)json_integer_value(v);
	}
	return 0;
}

/* The members in the order the parser reads them (its field table), with the ops reading
 * each: an unknown member fails right after "op", one the op does not read at its place. */
#define RO(x) (1u << WEFTD_OP_##x)
static const struct { const char *name; unsigned ops; } ref_fields[] = {
	{ "pipeline", RO(SUBMIT) | RO(LIST) | RO(STATS) | RO(PAUSE) | RO(RESUME) | RO(RETRY) | RO(PURGE) },
	{ "job", RO(STATUS) | RO(CANCEL) | RO(WAIT) | RO(RETRY) | RO(PURGE) },
	{ "jobs", RO(WAIT) }, { "payload", RO(SUBMIT) | RO(STATUS) }, { "payload_b64", RO(SUBMIT) },
	{ "wait", RO(SUBMIT) }, { "timeout", RO(SUBMIT) | RO(WAIT) }, { "state", RO(LIST) },
	{ "limit", RO(LIST) }, { "outputs", RO(LIST) }, { "delay", RO(SUBMIT) },
	{ "run_at", RO(SUBMIT) }, { "priority", RO(SUBMIT) }, { "key", RO(SUBMIT) },
	{ "all", RO(RETRY) | RO(PURGE) }, { "from_start", RO(RETRY) }, { "deadline", RO(SUBMIT) },
	{ "kind", RO(PROFILE) }, { "seconds", RO(PROFILE) | RO(TRACE) }, { "debug", RO(PROFILE) },
};
#define REF_NFIELDS (sizeof(ref_fields) / sizeof(ref_fields[0]))

static int ref_read_field(struct ref *req, json_t *root, size_t f)
{
	const char *k = ref_fields[f].name;
	const char *key = NULL;
	int r;

	switch (f) {
	case 0: return ref_get_str(req, root, k, WEFTD_NAME_MAX, &req->pipeline);
	case 1: return ref_get_str(req, root, k, WEFTD_JOB_ID_MAX, &req->job);
	case 2: return ref_get_jobs(req, root);
	case 3:
		if (req->op == WEFTD_OP_STATUS)
			return ref_get_bool(req, root, k, &req->want_payload);
		return ref_get_payload(req, root);
	case 4: return 0; /* read with payload */
	case 5: return ref_get_bool(req, root, k, &req->wait);
	case 6: return ref_get_duration(req, root, k, &req->has_timeout, &req->timeout_ns);
	case 7:
	case 8: return ref_get_list_filters(req, root, f == 7 ? "state" : "limit");
	case 9: return ref_get_bool(req, root, k, &req->outputs);
	case 10: return ref_get_duration(req, root, k, &req->has_delay, &req->delay_ns);
	case 11: return ref_get_run_at(req, root);
	case 12: return ref_get_priority(req, root);
	case 13:
		if ((r = ref_get_str(req, root, k, WEFTD_KEY_MAX, &key)) == 0 && key) {
			req->key = key;
			req->key_len = strlen(key);
		}
		return r;
	case 14: return ref_get_bool(req, root, k, &req->all);
	case 15: return ref_get_bool(req, root, k, &req->from_start);
	case 16: return ref_get_deadline(req, root);
	default: return ref_get_prof(req, root, k);
	}
}

static bool ref_known(const char *key)
{
	if (strcmp(key, "id") == 0 || strcmp(key, "op") == 0)
		return true;
	for (size_t f = 0; f < REF_NFIELDS; f++)
		if (strcmp(key, ref_fields[f].name) == 0)
			return true;
	return false;
}

static int ref_parse_fields(struct ref *req, json_t *root)
{
	unsigned op = 1u << req->op;
	const char *key;
	json_t *v;
	int r;

	json_object_foreach(root, key, v) {
		if (ref_known(key))
			continue;
		char name[41];
		size_t n = strlen(key) < 40 ? strlen(key) : 40;
		memcpy(name, key, n);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)name[i] < 0x20 || name[i] == '"' || name[i] == '\\')
				name[i] = '?';
		name[n] = '\0';
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "unknown field \"%s\"%s for op %s", name,
				    strlen(key) > 40 ? "..." : "", weftd_op_name(req->op));
	}
	for (size_t f = 0; f < REF_NFIELDS; f++) {
		bool present = json_object_get(root, ref_fields[f].name) != NULL;
		if (present && !(ref_fields[f].ops & op))
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "field \"%s\" does not apply to op %s",
					    ref_fields[f].name, weftd_op_name(req->op));
		if (!(ref_fields[f].ops & op))
			continue;
		if ((r = ref_read_field(req, root, f)) < 0)
			return r;
		if (f == 0 && (req->op == WEFTD_OP_SUBMIT || req->op == WEFTD_OP_PAUSE) &&
		    (r = ref_need(req, req->pipeline, "pipeline")) < 0)
			return r;
		if (f == 1 && (req->op == WEFTD_OP_STATUS || req->op == WEFTD_OP_CANCEL) &&
		    (r = ref_need(req, req->job, "job")) < 0)
			return r;
	}
	if (req->op == WEFTD_OP_SUBMIT && !req->payload)
		req->payload = (const unsigned char *)"";
	if (req->op == WEFTD_OP_WAIT && req->job && req->njobs)
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "give job or jobs, not both");
	if (req->op == WEFTD_OP_WAIT && (r = ref_need(req, req->job || req->njobs ? "" : NULL, "job")) < 0)
		return r;
	if (req->has_delay && req->has_run_at)
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "run_at: give delay or run_at, not both");
	if (req->op == WEFTD_OP_RETRY || req->op == WEFTD_OP_PURGE) {
		if (req->job && (req->pipeline || req->all))
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "%s: give job, or pipeline with all, not both",
					    req->pipeline ? "pipeline" : "all");
		if (!req->job && !req->pipeline)
			return ref_req_fail(req, WEFTD_ERR_MISSING_FIELD,
					    "missing field \"job\" (or \"pipeline\" with \"all\":true)");
		if (!req->job && !req->all)
			return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "all: a pipeline's dead letters need \"all\":true");
	}
	return 0;
}

static int ref_parse(struct ref *req, const char *line, size_t len, size_t max_len)
{
	json_error_t jerr;
	json_t *op;
	enum weftd_op o;

	memset(req, 0, sizeof(*req));
	req->limit = WEFTD_LIST_DEFAULT;
	strcpy(req->id, "null");
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len > max_len)
		return ref_req_fail(req, WEFTD_ERR_TOO_LARGE, "request of %zu bytes exceeds %zu", len, max_len);
	req->root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!req->root)
		return ref_req_fail(req, WEFTD_ERR_BAD_JSON, "column %d: %.90s", jerr.column, jerr.text);
	if (!json_is_object(req->root))
		return ref_req_fail(req, WEFTD_ERR_BAD_JSON, "request must be a JSON object");
	if (ref_parse_id(req, json_object_get(req->root, "id")) < 0)
		return -EINVAL;
	op = json_object_get(req->root, "op");
	if (!op)
		return ref_req_fail(req, WEFTD_ERR_MISSING_FIELD, "missing field \"op\"");
	if (!json_is_string(op))
		return ref_req_fail(req, WEFTD_ERR_BAD_FIELD, "op must be a string");
	if (weftd_op_parse(json_string_value(op), json_string_length(op), &o) < 0)
		return ref_req_fail(req, WEFTD_ERR_UNKNOWN_OP, "unknown op \"%.40s\"", json_string_value(op));
	req->op = o;
	return ref_parse_fields(req, req->root);
}

static void ref_done(struct ref *req)
{
	json_decref(req->root);
	free(req->payload_buf);
}

static const char *ref_job(const struct ref *req, size_t i)
{
	return json_string_value(json_array_get(json_object_get(req->root, "jobs"), i));
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Does weftd_request_parse() read the line as the reference does? On a difference, what
 * differs goes to *why (when given). */
static bool proto_check(const char *line, size_t len, size_t max, const char **why)
{
	struct weftd_request a;
	struct ref b;
	int ra = weftd_request_parse(&a, line, len, max);
	int rb = ref_parse(&b, line, len, max);
	const char *w = NULL;

	if (ra < 0 && a.err == WEFTD_ERR_BAD_JSON &&
	    (strstr(a.errmsg, "nested deeper than") || memchr(line, '\0', len)))
		goto out; /* the intended differences */
	if (ra != rb)
		w = "result";
	else if (strcmp(a.id, b.id) != 0)
		w = "id";
	else if (ra < 0 && a.err != b.err)
		w = "error code";
	else if (ra < 0 && a.err != WEFTD_ERR_BAD_JSON && strcmp(a.errmsg, b.errmsg) != 0)
		w = "error message";
	else if (ra == 0 && (a.op != b.op || !same_str(a.pipeline, b.pipeline) ||
			     !same_str(a.job, b.job) || a.njobs != b.njobs))
		w = "op, pipeline, job or njobs";
	else if (ra == 0 && (a.payload_len != b.payload_len || !a.payload != !b.payload ||
			     (a.payload_len && memcmp(a.payload, b.payload, a.payload_len) != 0)))
		w = "payload";
	else if (ra == 0 && (a.has_delay != b.has_delay || a.delay_ns != b.delay_ns ||
			     a.has_run_at != b.has_run_at || a.run_at_ms != b.run_at_ms ||
			     a.priority != b.priority || a.key_len != b.key_len ||
			     !same_str(a.key, b.key) || a.all != b.all || a.from_start != b.from_start ||
			     a.want_payload != b.want_payload))
		w = "delay, run_at, priority, key, all, from_start or payload:true";
	else if (ra == 0 && (a.has_deadline != b.has_deadline || a.deadline_rel != b.deadline_rel ||
			     a.deadline_in_ns != b.deadline_in_ns || a.deadline_ms != b.deadline_ms))
		w = "deadline";
	else if (ra == 0 && memcmp(&a.prof, &b.prof, sizeof(a.prof)) != 0)
		w = "profile's kind, seconds or debug";
	else if (ra == 0 && (a.wait != b.wait || a.has_timeout != b.has_timeout ||
			     a.timeout_ns != b.timeout_ns || a.has_state != b.has_state ||
			     (a.has_state && a.state != b.state) || a.limit != b.limit ||
			     a.outputs != b.outputs))
		w = "wait, timeout, state, limit or outputs";
	for (size_t i = 0; !w && ra == 0 && i < a.njobs; i++)
		if (!same_str(weftd_request_job(&a, i), ref_job(&b, i)))
			w = "jobs";
out:
	weftd_request_done(&a);
	ref_done(&b);
	if (why)
		*why = w;
	return !w;
}
#endif
