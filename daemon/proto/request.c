/* SPDX-License-Identifier: MIT */
/* Request parsing. One parser: the scanner (jscan.c) validates the whole line in one pass
 * and records the members this table names; then every field the request's op reads is
 * taken from its recorded value, in table order, so the first bad field is the one
 * reported. It replaced a jsmn fast path and a jansson fallback that a test kept equal:
 * the scanner takes fewer instructions than the fast path did on the usual request, reads
 * the unusual ones itself (escapes, reals, nested unknown members) without a tree and,
 * unlike jansson, does not recurse: a request nested 1,800 deep used to overflow a
 * fiber's stack. tests/unit/proto_ref.h holds it to jansson's reading of every line. */
#include "proto/request.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/units.h"
#include "proto/jscan.h"
#include "proto/text.h"

enum field {
	F_ID, F_OP, F_PIPELINE, F_JOB, F_JOBS, F_PAYLOAD, F_PAYLOAD_B64, F_WAIT, F_TIMEOUT,
	F_STATE, F_LIMIT, F_OUTPUTS, F_DELAY, F_RUN_AT, F_PRIORITY, F_KEY, F_ALL, F_FROM_START,
	F_DEADLINE, F_KIND, F_SECONDS, F_DEBUG, F__N,
};

#define UNKNOWN_SHOWN 40 /* bytes of an unknown member's name quoted in the error */

/* One parse in progress: the line and the value of each known member. */
struct parse {
	struct weftd_request *req;
	const char *line;
	unsigned ops;                 /* bit of the request's op; every bit until "op" is read */
	struct jscan_val v[F__N];     /* JSCAN_NONE when absent */
	struct jscan_val unknown;     /* the first member no field names (JSCAN_NONE: none) */
};

typedef int field_fn(struct parse *p, enum field f);
static field_fn read_id, read_op, read_name, read_jobs, read_payload, read_payload_b64,
	read_bool, read_timeout, read_state, read_limit, read_run_at, read_priority,
	read_deadline, read_prof;

#define OP(x) (1u << WEFTD_OP_##x)
#define ALL_OPS ((1u << WEFTD_OP__MAX) - 1)

/* The request's members: what PROTOCOL.md lists, with the ops that read each one. Any
 * other member, or one the op does not read, is refused (bad_field): a misspelt or
 * misplaced option must not be dropped silently ("delay" ignored runs a job at once). */
static const struct field_def {
	const char *name;
	size_t len;
	unsigned ops;       /* ops that read it */
	unsigned required;  /* ops that need it ("wait" needs job or jobs: read_fields) */
	size_t max;         /* strings: bytes */
	field_fn *read;     /* called when present and read by the op */
} fields[F__N] = {
#define F(name) name, sizeof(name) - 1
	[F_ID]          = { F("id"), ALL_OPS, 0, 0, read_id },
	[F_OP]          = { F("op"), ALL_OPS, ALL_OPS, 0, read_op },
	[F_PIPELINE]    = { F("pipeline"), OP(SUBMIT) | OP(LIST) | OP(STATS) | OP(PAUSE) |
			    OP(RESUME) | OP(RETRY) | OP(PURGE) | OP(SCHEDULES), OP(SUBMIT) | OP(PAUSE),
			    WEFTD_NAME_MAX, read_name },
	[F_JOB]         = { F("job"), OP(STATUS) | OP(CANCEL) | OP(WAIT) | OP(RETRY) | OP(PURGE),
			    OP(STATUS) | OP(CANCEL), WEFTD_JOB_ID_MAX, read_name },
	[F_JOBS]        = { F("jobs"), OP(WAIT), 0, WEFTD_JOB_ID_MAX, read_jobs },
	[F_PAYLOAD]     = { F("payload"), OP(SUBMIT) | OP(STATUS), 0, 0, read_payload },
	[F_PAYLOAD_B64] = { F("payload_b64"), OP(SUBMIT), 0, 0, read_payload_b64 },
	[F_WAIT]        = { F("wait"), OP(SUBMIT), 0, 0, read_bool },
	[F_TIMEOUT]     = { F("timeout"), OP(SUBMIT) | OP(WAIT), 0, 0, read_timeout },
	[F_STATE]       = { F("state"), OP(LIST), 0, 0, read_state },
	[F_LIMIT]       = { F("limit"), OP(LIST), 0, 0, read_limit },
	[F_OUTPUTS]     = { F("outputs"), OP(LIST), 0, 0, read_bool },
	[F_DELAY]       = { F("delay"), OP(SUBMIT), 0, 0, read_timeout },
	[F_RUN_AT]      = { F("run_at"), OP(SUBMIT), 0, 0, read_run_at },
	[F_PRIORITY]    = { F("priority"), OP(SUBMIT), 0, 0, read_priority },
	[F_KEY]         = { F("key"), OP(SUBMIT), 0, WEFTD_KEY_MAX, read_name },
	[F_ALL]         = { F("all"), OP(RETRY) | OP(PURGE), 0, 0, read_bool },
	[F_FROM_START]  = { F("from_start"), OP(RETRY), 0, 0, read_bool },
	[F_DEADLINE]    = { F("deadline"), OP(SUBMIT), 0, 0, read_deadline },
	[F_KIND]        = { F("kind"), OP(PROFILE), OP(PROFILE), 0, read_prof },
	[F_SECONDS]     = { F("seconds"), OP(PROFILE) | OP(TRACE), 0, 0, read_prof },
	[F_DEBUG]       = { F("debug"), OP(PROFILE), 0, 0, read_prof },
#undef F
};

__attribute__((format(printf, 3, 4)))
static int req_fail(struct weftd_request *req, enum weftd_err e, const char *fmt, ...)
{
	va_list ap;

	req->err = e;
	va_start(ap, fmt);
	vsnprintf(req->errmsg, sizeof(req->errmsg), fmt, ap);
	va_end(ap);
	return e == WEFTD_ERR_INTERNAL ? -ENOMEM : -EINVAL;
}

/* n bytes for the request's lifetime: from the arena while it lasts, else the heap (a
 * request holds at most three such blocks: payload, jobs, timeout). */
static void *req_alloc(struct weftd_request *req, size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (need >= n && need <= sizeof(req->arena) - req->arena_used) {
		p = req->arena + req->arena_used;
		req->arena_used += need;
		return p;
	}
	for (size_t i = 0; i < sizeof(req->heap) / sizeof(req->heap[0]); i++)
		if (!req->heap[i])
			return req->heap[i] = malloc(n ? n : 1);
	return NULL;
}

/* The decoded bytes of string v: borrowed from the line when it has no escapes, else
 * decoded into request storage (NULL: out of memory). */
static const char *str_bytes(struct parse *p, const struct jscan_val *v, size_t *ret_len)
{
	char *s;

	*ret_len = v->esc ? jscan_str_copy(p->line, v, NULL, 0) : v->end - v->start;
	if (!v->esc)
		return p->line + v->start;
	if ((s = req_alloc(p->req, *ret_len)))
		jscan_str_copy(p->line, v, s, *ret_len);
	return s;
}

/* ---- fields ----------------------------------------------------------------------- */

/* Append k bytes to the id's JSON text; n counts what it would take, kept or not. */
static void id_put(char *id, size_t *n, const char *s, size_t k)
{
	if (*n + k <= WEFTD_ID_MAX)
		memcpy(id + *n, s, k);
	*n += k;
}

/* A string id, escaped the way jansson's compact dump does it (the id was echoed from
 * jansson's dump before, and clients may compare the text). */
static size_t id_string(struct parse *p, const struct jscan_val *v, char *id)
{
	char dec[WEFTD_ID_MAX];
	size_t len = jscan_str_copy(p->line, v, dec, sizeof(dec)), n = 0;

	if (len > WEFTD_ID_MAX - 2)
		return WEFTD_ID_MAX + 1;
	id_put(id, &n, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)dec[i];
		const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" :
				c == '\f' ? "\\f" : c == '\n' ? "\\n" : c == '\r' ? "\\r" :
				c == '\t' ? "\\t" : NULL;
		char u[8];
		if (e)
			id_put(id, &n, e, 2);
		else if (c < 0x20)
			id_put(id, &n, u, (size_t)snprintf(u, sizeof(u), "\\u%04X", c));
		else
			id_put(id, &n, dec + i, 1);
	}
	id_put(id, &n, "\"", 1);
	return n;
}

/* An integer in decimal (by hand: snprintf would be half the cost of a usual parse). */
static size_t id_int(int64_t v, char *out)
{
	char tmp[24], *q = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	size_t n;

	do
		*--q = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--q = '-';
	n = (size_t)(tmp + sizeof(tmp) - q);
	memcpy(out, q, n);
	return n;
}

/* A real as jansson prints it: %.17g, ".0" when it would read back as an integer, and
 * no '+' or leading zeros in the exponent. */
static size_t id_real(double d, char *out)
{
	char tmp[40], *e;
	int n = snprintf(tmp, sizeof(tmp) - 2, "%.17g", d);

	if (!strchr(tmp, '.') && !strchr(tmp, 'e'))
		strcpy(tmp + n, ".0");
	if ((e = strchr(tmp, 'e'))) {
		char *q = e + 1 + (e[1] == '-');
		if (*q == '+')
			memmove(q, q + 1, strlen(q));
		while (q[0] == '0' && q[1])
			memmove(q, q + 1, strlen(q));
	}
	n = (int)strlen(tmp);
	if (n <= WEFTD_ID_MAX)
		memcpy(out, tmp, (size_t)n);
	return (size_t)n;
}

/* Keep the id as compact JSON text so any scalar echoes back the same in meaning. */
static int read_id(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	struct weftd_request *req = p->req;
	size_t n;

	switch (v->type) {
	case JSCAN_OBJ:
	case JSCAN_ARR:
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "id must be a string, number or null");
	case JSCAN_STR:
		n = id_string(p, v, req->id);
		break;
	case JSCAN_INT:
		n = id_int(v->num.i, req->id);
		break;
	case JSCAN_REAL:
		n = id_real(v->num.d, req->id);
		break;
	default: /* true, false, null */
		n = v->end - v->start;
		memcpy(req->id, p->line + v->start, n);
		break;
	}
	if (n > WEFTD_ID_MAX) {
		strcpy(req->id, "null");
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "id longer than %d bytes of JSON", WEFTD_ID_MAX);
	}
	req->id[n] = '\0';
	return 0;
}

static int read_op(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	char name[41];
	size_t n;

	if (v->type != JSCAN_STR)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "op must be a string");
	n = jscan_str_copy(p->line, v, name, sizeof(name) - 1);
	if (n < sizeof(name) && weftd_op_parse(name, n, &p->req->op) == 0) {
		p->ops = 1u << p->req->op;
		return 0;
	}
	name[n < sizeof(name) ? n : sizeof(name) - 1] = '\0';
	return req_fail(p->req, WEFTD_ERR_UNKNOWN_OP, "unknown op \"%s\"", name);
}

/* "pipeline", "job", "key": 1 to max bytes without NUL, copied with a NUL into request
 * storage. */
static int read_name(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	size_t len = v->esc ? jscan_str_copy(p->line, v, NULL, 0) : v->end - v->start;
	char *s;

	if (v->type != JSCAN_STR)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "%s must be a string", fields[f].name);
	if (len == 0 || len > fields[f].max || v->nul)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "%s must be 1 to %zu bytes without NUL",
				fields[f].name, fields[f].max);
	if (!(s = req_alloc(p->req, len + 1))) /* never: 65 + 65 + 257 bytes fit in the arena */
		return req_fail(p->req, WEFTD_ERR_INTERNAL, "out of memory");
	jscan_str_copy(p->line, v, s, len);
	s[len] = '\0';
	if (f == F_KEY) {
		p->req->key = s;
		p->req->key_len = len;
	} else {
		*(f == F_PIPELINE ? &p->req->pipeline : &p->req->job) = s;
	}
	return 0;
}

/* Re-read the elements of array v (validated already: no error but the caller's). */
static void elems_begin(struct jscan *j, const char *line, const struct jscan_val *v)
{
	jscan_init(j, line, v->end);
	j->pos = v->start;
	j->nodups = true;
	jscan_open(j, '[', NULL);
}

/* "jobs": 1 to WEFTD_WAIT_MAX_JOBS ids, each like "job"; one block holds the pointers and
 * the strings (their raw text bounds their decoded bytes and NULs). */
static int read_jobs(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	struct jscan j;
	struct jscan_val e;
	size_t n = 0, i, len;
	bool first = true;
	const char **jobv;
	char *str;

	if (v->type == JSCAN_ARR)
		for (elems_begin(&j, p->line, v); n <= WEFTD_WAIT_MAX_JOBS &&
		     jscan_next(&j, ']', &first) > 0 && jscan_value(&j, &e) == 0; n++)
			;
	if (v->type != JSCAN_ARR || n == 0 || n > WEFTD_WAIT_MAX_JOBS)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "jobs must be an array of 1 to %d ids",
				WEFTD_WAIT_MAX_JOBS);
	if (!(jobv = req_alloc(p->req, n * sizeof(*jobv) + (v->end - v->start))))
		return req_fail(p->req, WEFTD_ERR_INTERNAL, "out of memory");
	str = (char *)(jobv + n);
	first = true;
	elems_begin(&j, p->line, v);
	for (i = 0; i < n; i++) {
		jscan_next(&j, ']', &first);
		jscan_value(&j, &e);
		len = e.type == JSCAN_STR ? jscan_str_copy(p->line, &e, str, fields[f].max) : 0;
		if (len == 0 || len > fields[f].max || e.nul)
			return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "jobs[%zu] must be a job id string", i);
		str[len] = '\0';
		jobv[i] = str;
		str += len + 1;
	}
	p->req->jobv = jobv;
	p->req->njobs = n;
	return 0;
}

static int read_payload(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];

	if (p->req->op == WEFTD_OP_STATUS) /* status: "payload": true asks for the input */
		return read_bool(p, f);
	if (p->v[F_PAYLOAD_B64].type != JSCAN_NONE)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "give payload or payload_b64, not both");
	if (v->type != JSCAN_STR)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "payload must be a string");
	if (!(p->req->payload = (const unsigned char *)str_bytes(p, v, &p->req->payload_len)))
		return req_fail(p->req, WEFTD_ERR_INTERNAL, "out of memory");
	return 0;
}

static int read_payload_b64(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	size_t len = v->esc ? jscan_str_copy(p->line, v, NULL, 0) : v->end - v->start;
	unsigned char *buf;
	ssize_t n;

	if (v->type != JSCAN_STR)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "payload_b64 must be a string");
	if (!(buf = req_alloc(p->req, WEFTD_B64_DEC_MAX(len) > len ? WEFTD_B64_DEC_MAX(len) : len)))
		return req_fail(p->req, WEFTD_ERR_INTERNAL, "out of memory");
	if (v->esc) /* decoded in place: base64 output never overtakes its input */
		jscan_str_copy(p->line, v, (char *)buf, len);
	n = weftd_b64_decode(v->esc ? (const char *)buf : p->line + v->start, len, buf);
	if (n < 0)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "payload_b64 is not valid base64");
	p->req->payload = buf;
	p->req->payload_len = (size_t)n;
	return 0;
}

static int read_bool(struct parse *p, enum field f)
{
	uint8_t t = p->v[f].type;
	bool *dst[F__N] = {
		[F_WAIT] = &p->req->wait, [F_OUTPUTS] = &p->req->outputs, [F_ALL] = &p->req->all,
		[F_FROM_START] = &p->req->from_start, [F_PAYLOAD] = &p->req->want_payload,
	};

	if (t != JSCAN_TRUE && t != JSCAN_FALSE)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "%s must be true or false", fields[f].name);
	*dst[f] = t == JSCAN_TRUE;
	return 0;
}

/* "timeout", "delay": milliseconds (number >= 0) or a duration string ("1.5s"), at most
 * WEFTD_TIMEOUT_MAX_NS (clamped, not refused: a deadline is now + it, which must not
 * overflow). */
static int read_timeout(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	struct weftd_request *req = p->req;
	bool delay = f == F_DELAY;
	uint64_t *ns = delay ? &req->delay_ns : &req->timeout_ns;
	const char *s;
	size_t len;

	*(delay ? &req->has_delay : &req->has_timeout) = true;
	if (v->type == JSCAN_STR) {
		if (!(s = str_bytes(p, v, &len)))
			return req_fail(req, WEFTD_ERR_INTERNAL, "out of memory");
		if (weftd_parse_duration(s, len, ns) < 0)
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "%s: invalid duration", fields[f].name);
		if (*ns > WEFTD_TIMEOUT_MAX_NS)
			*ns = WEFTD_TIMEOUT_MAX_NS;
		return 0;
	}
	if (v->type == JSCAN_INT && v->num.i >= 0) {
		*ns = (uint64_t)v->num.i > WEFTD_TIMEOUT_MAX_NS / WEFTD_NSEC_PER_MSEC ?
			WEFTD_TIMEOUT_MAX_NS : (uint64_t)v->num.i * WEFTD_NSEC_PER_MSEC;
		return 0;
	}
	if (v->type == JSCAN_REAL && v->num.d >= 0 && v->num.d <= 9e12) {
		*ns = v->num.d >= (double)(WEFTD_TIMEOUT_MAX_NS / WEFTD_NSEC_PER_MSEC) ?
			WEFTD_TIMEOUT_MAX_NS : (uint64_t)(v->num.d * 1e6);
		return 0;
	}
	return req_fail(req, WEFTD_ERR_BAD_FIELD,
			"%s must be milliseconds >= 0 or a duration string", fields[f].name);
}

/* "run_at": an RFC 3339 string, or Unix seconds (a number >= 0, fractions kept to the
 * millisecond), up to the year 9999. */
#define RUN_AT_MAX_S 253402300799LL /* 9999-12-31T23:59:59Z */
static int read_run_at(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	struct weftd_request *req = p->req;
	const char *s;
	size_t len;

	req->has_run_at = true;
	if (v->type == JSCAN_STR) {
		if (!(s = str_bytes(p, v, &len)))
			return req_fail(req, WEFTD_ERR_INTERNAL, "out of memory");
		if (weftd_parse_rfc3339(s, len, &req->run_at_ms) == 0 && req->run_at_ms >= 0)
			return 0;
	} else if (v->type == JSCAN_INT && v->num.i >= 0 && v->num.i <= RUN_AT_MAX_S) {
		req->run_at_ms = v->num.i * 1000;
		return 0;
	} else if (v->type == JSCAN_REAL && v->num.d >= 0 && v->num.d <= (double)RUN_AT_MAX_S) {
		req->run_at_ms = (int64_t)(v->num.d * 1000);
		return 0;
	}
	return req_fail(req, WEFTD_ERR_BAD_FIELD,
			"run_at must be an RFC 3339 time (\"2026-12-03T14:00:00Z\") or Unix seconds");
}

/* "deadline": a duration from now ("30s"), an RFC 3339 time, or Unix seconds (as run_at).
 * A string is a duration when it parses as one, else a time. */
static int read_deadline(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	struct weftd_request *req = p->req;
	const char *s;
	size_t len;

	req->has_deadline = true;
	if (v->type == JSCAN_STR) {
		if (!(s = str_bytes(p, v, &len)))
			return req_fail(req, WEFTD_ERR_INTERNAL, "out of memory");
		if (weftd_parse_duration(s, len, &req->deadline_in_ns) == 0) {
			req->deadline_rel = true;
			if (req->deadline_in_ns > WEFTD_TIMEOUT_MAX_NS)
				req->deadline_in_ns = WEFTD_TIMEOUT_MAX_NS;
			return 0;
		}
		if (weftd_parse_rfc3339(s, len, &req->deadline_ms) == 0 && req->deadline_ms >= 0)
			return 0;
	} else if (v->type == JSCAN_INT && v->num.i >= 0 && v->num.i <= RUN_AT_MAX_S) {
		req->deadline_ms = v->num.i * 1000;
		return 0;
	} else if (v->type == JSCAN_REAL && v->num.d >= 0 && v->num.d <= (double)RUN_AT_MAX_S) {
		req->deadline_ms = (int64_t)(v->num.d * 1000);
		return 0;
	}
	return req_fail(req, WEFTD_ERR_BAD_FIELD,
			"deadline must be a duration (\"30s\"), an RFC 3339 time or Unix seconds");
}

static int read_priority(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];

	if (v->type != JSCAN_INT || v->num.i < WEFTD_PRIORITY_MIN || v->num.i > WEFTD_PRIORITY_MAX)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "priority must be an integer from %d to %d",
				WEFTD_PRIORITY_MIN, WEFTD_PRIORITY_MAX);
	p->req->priority = (int)v->num.i;
	return 0;
}

static int read_state(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	char name[16];
	size_t n = v->type == JSCAN_STR ? jscan_str_copy(p->line, v, name, sizeof(name)) : 0;

	if (v->type != JSCAN_STR || n > sizeof(name) ||
	    weftd_job_state_parse(name, n, &p->req->state) < 0)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD,
				"state must be one of queued, scheduled, running, retrying, done, failed, canceled, expired");
	p->req->has_state = true;
	return 0;
}

static int read_limit(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];

	if (v->type != JSCAN_INT || v->num.i < 1 || v->num.i > WEFTD_LIST_MAX)
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "limit must be an integer from 1 to %d",
				WEFTD_LIST_MAX);
	p->req->limit = (uint32_t)v->num.i;
	return 0;
}

/* profile's members: a kind name, whole seconds, a debug level (PROTOCOL.md). */
static int read_prof(struct parse *p, enum field f)
{
	const struct jscan_val *v = &p->v[f];
	struct weftd_profile_args *a = &p->req->prof;
	char name[WEFTD_PROFILE_KIND_MAX + 1];
	long hi = f == F_SECONDS ? WEFTD_PROFILE_SECONDS_MAX : 2, lo = f == F_SECONDS;

	if (f == F_KIND) {
		size_t n = v->type == JSCAN_STR ? jscan_str_copy(p->line, v, name, sizeof(name)) : 0;
		if (weftd_profile_kind_parse(name, n, a->kind) < 0)
			return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "kind must be one of %s", WEFTD_PROFILE_KINDS);
	} else if (v->type != JSCAN_INT || v->num.i < lo || v->num.i > hi) {
		return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "%s must be an integer from %ld to %ld",
				fields[f].name, lo, hi);
	} else if (f == F_SECONDS) {
		a->has_seconds = true;
		a->seconds = (uint32_t)v->num.i;
	} else {
		a->debug = (int)v->num.i;
	}
	return 0;
}

/* A member no field names: bad_field quoting (the start of) its name as sent. */
static int unknown_field(struct parse *p)
{
	char name[UNKNOWN_SHOWN + 1];
	size_t n = jscan_str_copy(p->line, &p->unknown, name, UNKNOWN_SHOWN);

	if (n > UNKNOWN_SHOWN)
		n = UNKNOWN_SHOWN;
	for (size_t i = 0; i < n; i++) /* the message is text: no control bytes, no quotes */
		if ((unsigned char)name[i] < 0x20 || name[i] == '"' || name[i] == '\\')
			name[i] = '?';
	name[n] = '\0';
	return req_fail(p->req, WEFTD_ERR_BAD_FIELD, "unknown field \"%s\"%s for op %s", name,
			jscan_str_copy(p->line, &p->unknown, NULL, 0) > UNKNOWN_SHOWN ? "..." : "",
			weftd_op_name(p->req->op));
}

/* Every field the op reads, in table order; then the rules across fields. A member the
 * op does not read is refused where its field would be read; an unknown one right after
 * the op (so a misspelt required member is named as such, not as missing). */
static int read_fields(struct parse *p)
{
	struct weftd_request *req = p->req;
	int r;

	p->ops = ALL_OPS;
	for (int f = 0; f < F__N; f++) {
		if (f == F_OP + 1 && p->unknown.type != JSCAN_NONE)
			return unknown_field(p);
		if (!(fields[f].ops & p->ops)) {
			if (p->v[f].type != JSCAN_NONE)
				return req_fail(req, WEFTD_ERR_BAD_FIELD, "field \"%s\" does not apply to op %s",
						fields[f].name, weftd_op_name(req->op));
			continue;
		}
		if (p->v[f].type == JSCAN_NONE) {
			if (fields[f].required & p->ops)
				return req_fail(req, WEFTD_ERR_MISSING_FIELD, "missing field \"%s\"",
						fields[f].name);
			continue;
		}
		if ((r = fields[f].read(p, (enum field)f)) < 0)
			return r;
	}
	if (req->op == WEFTD_OP_SUBMIT && !req->payload)
		req->payload = (const unsigned char *)"";
	if (req->op == WEFTD_OP_WAIT && req->job && req->njobs)
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "give job or jobs, not both");
	if (req->op == WEFTD_OP_WAIT && !req->job && !req->njobs)
		return req_fail(req, WEFTD_ERR_MISSING_FIELD, "missing field \"job\"");
	if (req->has_delay && req->has_run_at)
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "run_at: give delay or run_at, not both");
	if (req->op == WEFTD_OP_RETRY || req->op == WEFTD_OP_PURGE) {
		/* one job, or every dead letter of a pipeline: never a silent "all" */
		if (req->job && (req->pipeline || req->all))
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "%s: give job, or pipeline with all, not both",
					req->pipeline ? "pipeline" : "all");
		if (!req->job && !req->pipeline)
			return req_fail(req, WEFTD_ERR_MISSING_FIELD, "missing field \"job\" (or \"pipeline\" with \"all\":true)");
		if (!req->job && !req->all)
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "all: a pipeline's dead letters need \"all\":true");
	}
	return 0;
}

/* ---- the line --------------------------------------------------------------------- */

static int field_of(const char *line, const struct jscan_val *key)
{
	char buf[12];
	const char *k = line + key->start;
	size_t n = key->end - key->start;

	if (key->esc) {
		if ((n = jscan_str_copy(line, key, buf, sizeof(buf))) > sizeof(buf))
			return -1;
		k = buf;
	}
	for (int f = 0; f < F__N; f++) /* first byte first: memcmp calls cost a seventh */
		if (fields[f].len == n && fields[f].name[0] == k[0] && memcmp(fields[f].name, k, n) == 0)
			return f;
	return -1;
}

/* The line's one object: known members into p->v, the others validated and skipped. */
static int scan_members(struct parse *p, struct jscan *j)
{
	struct jscan_val key, other;
	uint32_t obj;
	bool first = true;
	int r, f;

	if ((r = jscan_open(j, '{', &obj)) < 0)
		return r;
	while ((r = jscan_next(j, '}', &first)) > 0) {
		if ((r = jscan_key(j, &key)) < 0)
			return r;
		f = field_of(p->line, &key);
		if (f >= 0 && p->v[f].type != JSCAN_NONE)
			return jscan_fail(j, key.start - 1, "duplicate key");
		if (f < 0 && (r = jscan_key_unique(j, obj, &key)) < 0)
			return r;
		if (f < 0 && p->unknown.type == JSCAN_NONE) {
			p->unknown = key;
			p->unknown.type = JSCAN_STR;
		}
		if ((r = jscan_value(j, f >= 0 ? &p->v[f] : &other)) < 0)
			return r;
	}
	return r < 0 ? r : jscan_end(j);
}

static void req_reset(struct weftd_request *req)
{
	/* Not a compound literal: that would clear the whole arena as well. */
	memset(req, 0, offsetof(struct weftd_request, arena));
	req->limit = WEFTD_LIST_DEFAULT;
	strcpy(req->id, "null");
}

int weftd_request_parse(struct weftd_request *req, const char *line, size_t len, size_t max_len)
{
	struct parse p = { .req = req, .line = line }; /* p.v: JSCAN_NONE, all absent */
	struct jscan j;
	int r;

	if (!req)
		return -EINVAL;
	req_reset(req);
	if (!line)
		return req_fail(req, WEFTD_ERR_BAD_JSON, "empty request");
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len > max_len)
		return req_fail(req, WEFTD_ERR_TOO_LARGE, "request of %zu bytes exceeds %zu", len, max_len);
	jscan_init(&j, line, len);
	if (jscan_peek(&j) != '{')
		r = jscan_fail(&j, j.pos, "request must be a JSON object");
	else
		r = scan_members(&p, &j);
	jscan_done(&j);
	if (r == -ENOMEM)
		return req_fail(req, WEFTD_ERR_INTERNAL, "out of memory");
	if (r < 0)
		return req_fail(req, WEFTD_ERR_BAD_JSON, "column %zu: %s", j.err_at + 1, j.err);
	return read_fields(&p);
}

void weftd_request_done(struct weftd_request *req)
{
	if (!req)
		return;
	for (size_t i = 0; i < sizeof(req->heap) / sizeof(req->heap[0]); i++) {
		free(req->heap[i]);
		req->heap[i] = NULL;
	}
	req->jobv = NULL;
	req->njobs = 0;
	req->arena_used = 0;
}

const char *weftd_request_job(const struct weftd_request *req, size_t i)
{
	return req && i < req->njobs ? req->jobv[i] : NULL;
}
