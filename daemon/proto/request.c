/* Request parsing: a fast path with jsmn (zero-allocation tokenizer) for the usual request,
 * a flat object of plain strings, integers and literals; anything else, and every request
 * the fast path would refuse, goes through jansson (one json_loadb per line, fields
 * borrowed from the tree), so errors and unusual input behave exactly as before. */
#include "proto/request.h"

#include <errno.h>
#include <jansson.h>
#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/units.h"
#include "proto/text.h"

static int lookup_op(const char *s, size_t len)
{
	enum weftd_op op;
	return weftd_op_parse(s, len, &op) < 0 ? -EINVAL : (int)op;
}

/* ---- jansson allocations ------------------------------------------------------------ */

/* jansson's allocator is process-wide, and its other users (weftctl frees json_dumps
 * strings with free(), tests) need plain malloc blocks. So the hooks hand out plain malloc
 * blocks, except while a request is being parsed or released on this thread (`parsing`,
 * set only around json_loadb and json_decref, which never park: no fiber switch or
 * migration can come in between): then small blocks come from that request's arena, and
 * freeing a block inside the arena does nothing (the arena goes with the request). */
static __thread struct weftd_request *parsing;

static void *jalloc(size_t n)
{
	struct weftd_request *r = parsing;
	size_t need = (n + 15) & ~(size_t)15;

	if (r && need >= n && need <= sizeof(r->arena) - r->arena_used) {
		void *p = r->arena + r->arena_used;
		r->arena_used += need;
		return p;
	}
	return malloc(n);
}

static void jfree(void *p)
{
	struct weftd_request *r = parsing;

	if (r && (unsigned char *)p >= r->arena && (unsigned char *)p < r->arena + sizeof(r->arena))
		return;
	free(p);
}

__attribute__((constructor)) static void jalloc_install(void)
{
	json_set_alloc_funcs(jalloc, jfree);
}

/* ---- request parsing --------------------------------------------------------------- */

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

/* Keep the id as compact JSON text so any scalar echoes back byte-exact in meaning. */
static int parse_id(struct weftd_request *req, json_t *id)
{
	size_t n;

	if (!id)
		return 0;
	if (json_is_object(id) || json_is_array(id))
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "id must be a string, number or null");
	n = json_dumpb(id, req->id, WEFTD_ID_MAX, JSON_ENCODE_ANY | JSON_COMPACT);
	if (n == 0 || n > WEFTD_ID_MAX) {
		strcpy(req->id, "null");
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "id longer than %d bytes of JSON", WEFTD_ID_MAX);
	}
	req->id[n] = '\0';
	return 0;
}

/* Optional string member; max bytes, non-empty, no NUL. */
static int get_str(struct weftd_request *req, json_t *root, const char *key, size_t max,
		   const char **ret)
{
	json_t *v = json_object_get(root, key);
	size_t len;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "%s must be a string", key);
	len = json_string_length(v);
	if (len == 0 || len > max || memchr(json_string_value(v), '\0', len))
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "%s must be 1 to %zu bytes without NUL",
				key, max);
	*ret = json_string_value(v);
	return 0;
}

static int need(struct weftd_request *req, const void *field, const char *key)
{
	return field ? 0 : req_fail(req, WEFTD_ERR_MISSING_FIELD, "missing field \"%s\"", key);
}

/* "timeout": milliseconds (number >= 0) or a duration string ("1.5s"). */
static int get_timeout(struct weftd_request *req, json_t *root)
{
	json_t *v = json_object_get(root, "timeout");
	double ms;

	if (!v)
		return 0;
	req->has_timeout = true;
	if (json_is_string(v)) {
		if (weftd_parse_duration(json_string_value(v), json_string_length(v), &req->timeout_ns) < 0)
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "timeout: invalid duration");
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= INT64_MAX / (int64_t)WEFTD_NSEC_PER_MSEC) {
		req->timeout_ns = (uint64_t)json_integer_value(v) * WEFTD_NSEC_PER_MSEC;
		return 0;
	}
	ms = json_is_real(v) ? json_real_value(v) : -1;
	if (!(ms >= 0 && ms <= 9e12))
		return req_fail(req, WEFTD_ERR_BAD_FIELD,
				"timeout must be milliseconds >= 0 or a duration string");
	req->timeout_ns = (uint64_t)(ms * 1e6);
	return 0;
}

static int get_payload(struct weftd_request *req, json_t *root)
{
	json_t *p = json_object_get(root, "payload"), *b = json_object_get(root, "payload_b64");
	ssize_t n;

	if (p && b)
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "give payload or payload_b64, not both");
	if (p) {
		if (!json_is_string(p))
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "payload must be a string");
		req->payload = (const unsigned char *)json_string_value(p);
		req->payload_len = json_string_length(p);
	} else if (b) {
		if (!json_is_string(b))
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "payload_b64 must be a string");
		req->payload_buf = malloc(WEFTD_B64_DEC_MAX(json_string_length(b)));
		if (!req->payload_buf)
			return req_fail(req, WEFTD_ERR_INTERNAL, "out of memory");
		n = weftd_b64_decode(json_string_value(b), json_string_length(b), req->payload_buf);
		if (n < 0)
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "payload_b64 is not valid base64");
		req->payload = req->payload_buf;
		req->payload_len = (size_t)n;
	} else {
		req->payload = (const unsigned char *)"";
	}
	return 0;
}

static int get_bool(struct weftd_request *req, json_t *root, const char *key, bool *ret)
{
	json_t *v = json_object_get(root, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "%s must be true or false", key);
	*ret = json_is_true(v);
	return 0;
}

static int get_jobs(struct weftd_request *req, json_t *root)
{
	json_t *v = json_object_get(root, "jobs");
	size_t i;
	json_t *it;

	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > WEFTD_WAIT_MAX_JOBS)
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "jobs must be an array of 1 to %d ids",
				WEFTD_WAIT_MAX_JOBS);
	json_array_foreach(v, i, it) {
		size_t len = json_is_string(it) ? json_string_length(it) : 0;
		if (len == 0 || len > WEFTD_JOB_ID_MAX || memchr(json_string_value(it), '\0', len))
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "jobs[%zu] must be a job id string", i);
	}
	req->njobs = json_array_size(v);
	return 0;
}

static int get_list_filters(struct weftd_request *req, json_t *root)
{
	json_t *s = json_object_get(root, "state"), *l = json_object_get(root, "limit");

	if (s) {
		if (!json_is_string(s) ||
		    weftd_job_state_parse(json_string_value(s), json_string_length(s), &req->state) < 0)
			return req_fail(req, WEFTD_ERR_BAD_FIELD,
					"state must be one of queued, running, retrying, done, failed, canceled");
		req->has_state = true;
	}
	if (l) {
		if (!json_is_integer(l) || json_integer_value(l) < 1 ||
		    json_integer_value(l) > WEFTD_LIST_MAX)
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "limit must be an integer from 1 to %d",
					WEFTD_LIST_MAX);
		req->limit = (uint32_t)json_integer_value(l);
	}
	return 0;
}

/* Per-op fields; unknown members are ignored so newer clients work with older daemons. */
static int parse_fields(struct weftd_request *req, json_t *root)
{
	int r = 0;

	switch (req->op) {
	case WEFTD_OP_SUBMIT:
		if ((r = get_str(req, root, "pipeline", WEFTD_NAME_MAX, &req->pipeline)) < 0 ||
		    (r = need(req, req->pipeline, "pipeline")) < 0 ||
		    (r = get_payload(req, root)) < 0 || (r = get_bool(req, root, "wait", &req->wait)) < 0)
			return r;
		return get_timeout(req, root);
	case WEFTD_OP_STATUS:
	case WEFTD_OP_CANCEL:
		if ((r = get_str(req, root, "job", WEFTD_JOB_ID_MAX, &req->job)) < 0)
			return r;
		return need(req, req->job, "job");
	case WEFTD_OP_WAIT:
		if ((r = get_str(req, root, "job", WEFTD_JOB_ID_MAX, &req->job)) < 0 ||
		    (r = get_jobs(req, root)) < 0 || (r = get_timeout(req, root)) < 0)
			return r;
		if (req->job && req->njobs)
			return req_fail(req, WEFTD_ERR_BAD_FIELD, "give job or jobs, not both");
		return need(req, req->job || req->njobs ? "" : NULL, "job");
	case WEFTD_OP_LIST:
		if ((r = get_str(req, root, "pipeline", WEFTD_NAME_MAX, &req->pipeline)) < 0)
			return r;
		return get_list_filters(req, root);
	case WEFTD_OP_STATS:
		return get_str(req, root, "pipeline", WEFTD_NAME_MAX, &req->pipeline);
	default:
		return 0;
	}
}

static void strip_eol(const char *line, size_t *len)
{
	while (*len && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
		(*len)--;
}

static void req_reset(struct weftd_request *req)
{
	/* Not a compound literal: that would clear the whole arena as well. */
	memset(req, 0, offsetof(struct weftd_request, arena));
	req->limit = WEFTD_LIST_DEFAULT;
	strcpy(req->id, "null");
}

/* ---- the fast path ----------------------------------------------------------------- */

#define FAST_TOKENS 33 /* the object and up to 16 members */

struct fast {
	const char *s;            /* the line */
	const jsmntok_t *t;       /* tokens[1..n): key, value, key, value... */
	int n;
};

static bool json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Only whitespace in [a, b), then exactly one c at b (c == 0: nothing more). */
static bool gap_ok(const char *s, int a, int b, char c)
{
	while (a < b && json_ws(s[a]))
		a++;
	if (c) {
		if (a >= b || s[a] != c)
			return false;
		a++;
		while (a < b && json_ws(s[a]))
			a++;
	}
	return a == b;
}

/* A string token jansson would read as the same bytes: no escapes, no control bytes,
 * well-formed UTF-8. */
static bool plain_string(const char *s, const jsmntok_t *t)
{
	bool ascii = true;

	for (int i = t->start; i < t->end; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\' || c < 0x20)
			return false;
		ascii &= c < 0x80;
	}
	return ascii || weftd_utf8_valid(s + t->start, (size_t)(t->end - t->start));
}

/* The bytes of a token's text: a string's content without its quotes, a primitive. */
static const jsmntok_t *fast_get(const struct fast *f, const char *key)
{
	size_t klen = strlen(key);

	for (int i = 1; i + 1 < f->n; i += 2)
		if ((size_t)(f->t[i].end - f->t[i].start) == klen &&
		    memcmp(f->s + f->t[i].start, key, klen) == 0)
			return &f->t[i + 1];
	return NULL;
}

static bool tok_is(const struct fast *f, const jsmntok_t *t, const char *lit)
{
	size_t n = strlen(lit);
	return t->type == JSMN_PRIMITIVE && (size_t)(t->end - t->start) == n &&
	       memcmp(f->s + t->start, lit, n) == 0;
}

/* A JSON integer -?(0|[1-9][0-9]*) of at most 18 digits (no overflow: jansson takes
 * bigger ones as errors, reals as reals: both are left to it). */
static bool tok_int(const struct fast *f, const jsmntok_t *t, int64_t *ret)
{
	const char *p = f->s + t->start, *e = f->s + t->end;
	bool neg = false;
	int64_t v = 0;

	if (t->type != JSMN_PRIMITIVE)
		return false;
	if (p < e && *p == '-') {
		neg = true;
		p++;
	}
	if (p == e || e - p > 18 || (*p == '0' && e - p > 1))
		return false;
	for (; p < e; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
	}
	*ret = neg ? -v : v;
	return true;
}

/* Copy a string token into the arena with a NUL; NULL when it does not fit. */
static const char *fast_str(struct weftd_request *req, const struct fast *f, const jsmntok_t *t)
{
	size_t n = (size_t)(t->end - t->start);
	char *p;

	if (n + 1 > sizeof(req->arena) - req->arena_used)
		return NULL;
	p = (char *)req->arena + req->arena_used;
	memcpy(p, f->s + t->start, n);
	p[n] = '\0';
	req->arena_used += (n + 16) & ~(size_t)15;
	return p;
}

/* Optional string member of 1..max bytes; false when present and not that. */
static bool fast_opt_str(struct weftd_request *req, const struct fast *f, const char *key,
			 size_t max, const char **ret)
{
	const jsmntok_t *t = fast_get(f, key);

	if (!t)
		return true;
	if (t->type != JSMN_STRING || t->end == t->start || (size_t)(t->end - t->start) > max)
		return false;
	return (*ret = fast_str(req, f, t)) != NULL;
}

static bool fast_timeout(struct weftd_request *req, const struct fast *f)
{
	const jsmntok_t *t = fast_get(f, "timeout");
	int64_t ms;

	if (!t)
		return true;
	req->has_timeout = true;
	if (t->type == JSMN_STRING)
		return weftd_parse_duration(f->s + t->start, (size_t)(t->end - t->start),
					    &req->timeout_ns) == 0;
	if (!tok_int(f, t, &ms) || ms < 0 || ms > INT64_MAX / (int64_t)WEFTD_NSEC_PER_MSEC)
		return false;
	req->timeout_ns = (uint64_t)ms * WEFTD_NSEC_PER_MSEC;
	return true;
}

static bool fast_payload(struct weftd_request *req, const struct fast *f)
{
	const jsmntok_t *p = fast_get(f, "payload"), *b = fast_get(f, "payload_b64");
	ssize_t n;

	if (p && b)
		return false;
	if (p) {
		if (p->type != JSMN_STRING)
			return false;
		req->payload = (const unsigned char *)f->s + p->start; /* borrowed from the line */
		req->payload_len = (size_t)(p->end - p->start);
	} else if (b) {
		if (b->type != JSMN_STRING)
			return false;
		size_t len = (size_t)(b->end - b->start);
		if (!(req->payload_buf = malloc(WEFTD_B64_DEC_MAX(len))))
			return false;
		n = weftd_b64_decode(f->s + b->start, len, req->payload_buf);
		if (n < 0)
			return false;
		req->payload = req->payload_buf;
		req->payload_len = (size_t)n;
	} else {
		req->payload = (const unsigned char *)"";
	}
	return true;
}

static bool fast_fields(struct weftd_request *req, const struct fast *f)
{
	const jsmntok_t *t;
	int64_t v;

	switch (req->op) {
	case WEFTD_OP_SUBMIT:
		if (!fast_opt_str(req, f, "pipeline", WEFTD_NAME_MAX, &req->pipeline) ||
		    !req->pipeline || !fast_payload(req, f))
			return false;
		if ((t = fast_get(f, "wait"))) {
			if (!tok_is(f, t, "true") && !tok_is(f, t, "false"))
				return false;
			req->wait = tok_is(f, t, "true");
		}
		return fast_timeout(req, f);
	case WEFTD_OP_STATUS:
	case WEFTD_OP_CANCEL:
		return fast_opt_str(req, f, "job", WEFTD_JOB_ID_MAX, &req->job) && req->job;
	case WEFTD_OP_WAIT:
		return !fast_get(f, "jobs") && fast_opt_str(req, f, "job", WEFTD_JOB_ID_MAX, &req->job) &&
		       req->job && fast_timeout(req, f);
	case WEFTD_OP_LIST:
		if (!fast_opt_str(req, f, "pipeline", WEFTD_NAME_MAX, &req->pipeline))
			return false;
		if ((t = fast_get(f, "state"))) {
			if (t->type != JSMN_STRING ||
			    weftd_job_state_parse(f->s + t->start, (size_t)(t->end - t->start), &req->state) < 0)
				return false;
			req->has_state = true;
		}
		if ((t = fast_get(f, "limit"))) {
			if (!tok_int(f, t, &v) || v < 1 || v > WEFTD_LIST_MAX)
				return false;
			req->limit = (uint32_t)v;
		}
		return true;
	case WEFTD_OP_STATS:
		return fast_opt_str(req, f, "pipeline", WEFTD_NAME_MAX, &req->pipeline);
	default:
		return true;
	}
}

/* The fast path: true when the line is a flat JSON object of plain strings, integers and
 * literals without duplicate keys, and a well-formed request: then req is what the jansson
 * path would make of it. False for anything else, with req to be reset. */
static bool parse_fast(struct weftd_request *req, const char *line, size_t len)
{
	jsmntok_t tok[FAST_TOKENS];
	jsmn_parser jp;
	struct fast f = { .s = line, .t = tok };
	const jsmntok_t *t;
	int64_t v;
	int i;

	while (len && json_ws(line[len - 1]))
		len--;
	if (len > INT32_MAX)
		return false;
	jsmn_init(&jp);
	f.n = jsmn_parse(&jp, line, len, tok, FAST_TOKENS);
	if (f.n < 1 || f.n % 2 == 0 || tok[0].type != JSMN_OBJECT || tok[0].end != (int)len ||
	    !gap_ok(line, 0, tok[0].start, 0))
		return false;
	/* Every byte accounted for: '{' ws key ws ':' ws value ws ',' ... ws '}'. */
	int prev = tok[0].start + 1; /* after the last byte checked */
	for (i = 1; i < f.n; i += 2) {
		const jsmntok_t *k = &tok[i], *val = &tok[i + 1];
		int vstart = val->type == JSMN_STRING ? val->start - 1 : val->start;
		if (k->type != JSMN_STRING || !plain_string(line, k) ||
		    !gap_ok(line, prev, k->start - 1, i == 1 ? 0 : ',') ||
		    !gap_ok(line, k->end + 1, vstart, ':'))
			return false;
		if (val->type == JSMN_STRING) {
			if (!plain_string(line, val))
				return false;
			prev = val->end + 1;
		} else if (val->type == JSMN_PRIMITIVE) {
			if (!tok_is(&f, val, "true") && !tok_is(&f, val, "false") &&
			    !tok_is(&f, val, "null") && !tok_int(&f, val, &v))
				return false;
			prev = val->end;
		} else {
			return false;
		}
		for (int k2 = 1; k2 < i; k2 += 2) /* duplicates: jansson refuses them */
			if (tok[k2].end - tok[k2].start == k->end - k->start &&
			    memcmp(line + tok[k2].start, line + k->start, (size_t)(k->end - k->start)) == 0)
				return false;
	}
	if (!gap_ok(line, prev, tok[0].end - 1, 0) || line[tok[0].end - 1] != '}')
		return false;
	/* id: echoed as jansson's compact dump of it */
	if ((t = fast_get(&f, "id"))) {
		size_t n = (size_t)(t->end - t->start);
		if (t->type == JSMN_STRING) {
			if (n + 2 > WEFTD_ID_MAX)
				return false;
			req->id[0] = '"';
			memcpy(req->id + 1, line + t->start, n);
			req->id[n + 1] = '"';
			req->id[n + 2] = '\0';
		} else if (tok_int(&f, t, &v)) {
			char tmp[24], *q = tmp + sizeof(tmp);
			uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
			do
				*--q = (char)('0' + u % 10);
			while (u /= 10);
			if (v < 0)
				*--q = '-';
			memcpy(req->id, q, (size_t)(tmp + sizeof(tmp) - q));
			req->id[tmp + sizeof(tmp) - q] = '\0';
		} else {
			memcpy(req->id, line + t->start, n); /* true, false, null */
			req->id[n] = '\0';
		}
	}
	if (!(t = fast_get(&f, "op")) || t->type != JSMN_STRING)
		return false;
	i = lookup_op(line + t->start, (size_t)(t->end - t->start));
	if (i < 0)
		return false;
	req->op = (enum weftd_op)i;
	return fast_fields(req, &f);
}

/* ---- the jansson path ------------------------------------------------------------ */

static int parse_jansson(struct weftd_request *req, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *op;
	int i;

	parsing = req;
	req->root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	parsing = NULL;
	if (!req->root)
		return req_fail(req, WEFTD_ERR_BAD_JSON, "column %d: %.90s", jerr.column, jerr.text);
	if (!json_is_object(req->root))
		return req_fail(req, WEFTD_ERR_BAD_JSON, "request must be a JSON object");
	if ((i = parse_id(req, json_object_get(req->root, "id"))) < 0)
		return i;
	op = json_object_get(req->root, "op");
	if (!op)
		return req_fail(req, WEFTD_ERR_MISSING_FIELD, "missing field \"op\"");
	if (!json_is_string(op))
		return req_fail(req, WEFTD_ERR_BAD_FIELD, "op must be a string");
	i = lookup_op(json_string_value(op), json_string_length(op));
	if (i < 0)
		return req_fail(req, WEFTD_ERR_UNKNOWN_OP, "unknown op \"%.40s\"", json_string_value(op));
	req->op = (enum weftd_op)i;
	return parse_fields(req, req->root);
}

static int parse_common(struct weftd_request *req, const char *line, size_t len, size_t max_len,
			bool fast)
{
	if (!req)
		return -EINVAL;
	req_reset(req);
	if (!line)
		return req_fail(req, WEFTD_ERR_BAD_JSON, "empty request");
	strip_eol(line, &len);
	if (len > max_len)
		return req_fail(req, WEFTD_ERR_TOO_LARGE, "request of %zu bytes exceeds %zu", len, max_len);
	if (fast) {
		if (parse_fast(req, line, len))
			return 0;
		weftd_request_done(req);
		req_reset(req);
	}
	return parse_jansson(req, line, len);
}

int weftd_request_parse(struct weftd_request *req, const char *line, size_t len, size_t max_len)
{
	return parse_common(req, line, len, max_len, true);
}

int weftd_request_parse_jansson(struct weftd_request *req, const char *line, size_t len,
				size_t max_len)
{
	return parse_common(req, line, len, max_len, false);
}

void weftd_request_done(struct weftd_request *req)
{
	if (!req)
		return;
	parsing = req;
	json_decref(req->root);
	parsing = NULL;
	free(req->payload_buf);
	req->root = NULL;
	req->payload_buf = NULL;
	req->arena_used = 0;
}

const char *weftd_request_job(const struct weftd_request *req, size_t i)
{
	json_t *jobs;

	if (!req || !req->root || i >= req->njobs)
		return NULL;
	jobs = json_object_get(req->root, "jobs");
	return json_string_value(json_array_get(jobs, i));
}

