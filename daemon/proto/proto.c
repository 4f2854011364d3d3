/* Request parsing: a fast path with jsmn (zero-allocation tokenizer) for the usual request,
 * a flat object of plain strings, integers and literals; anything else, and every request
 * the fast path would refuse, goes through jansson (one json_loadb per line, fields
 * borrowed from the tree), so errors and unusual input behave exactly as before.
 * Responses are encoded by hand (no tree per response: the hot path is a few memcpy). */
#include "proto/proto.h"

#include <errno.h>
#include <jansson.h>
#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/units.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *const op_names[WEFTD_OP__MAX] = {
	"submit", "status", "wait", "cancel", "list", "stats", "pipelines", "ping", "reload", "drain",
};
static const char *const err_names[WEFTD_ERR__MAX] = {
	"none", "bad_json", "too_large", "unknown_op", "missing_field", "bad_field",
	"unknown_pipeline", "unknown_job", "busy", "draining", "forbidden", "internal",
	"unsupported", "invalid_config",
};
static const char *const state_names[WEFTD_JOB__MAX] = {
	"queued", "running", "retrying", "done", "failed", "canceled",
};

const char *weftd_op_name(enum weftd_op op)
{
	return (unsigned)op < WEFTD_OP__MAX ? op_names[op] : NULL;
}

const char *weftd_err_name(enum weftd_err e)
{
	return (unsigned)e < WEFTD_ERR__MAX ? err_names[e] : NULL;
}

const char *weftd_job_state_name(enum weftd_job_state s)
{
	return (unsigned)s < WEFTD_JOB__MAX ? state_names[s] : NULL;
}

static int lookup(const char *const *names, int n, const char *s, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -EINVAL;
}

int weftd_job_state_parse(const char *s, size_t len, enum weftd_job_state *ret)
{
	int i = s && ret ? lookup(state_names, WEFTD_JOB__MAX, s, len) : -EINVAL;
	if (i < 0)
		return i;
	*ret = (enum weftd_job_state)i;
	return 0;
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
	i = lookup(op_names, WEFTD_OP__MAX, line + t->start, (size_t)(t->end - t->start));
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
	i = lookup(op_names, WEFTD_OP__MAX, json_string_value(op), json_string_length(op));
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

/* ---- output buffer ----------------------------------------------------------------- */

void weftd_buf_init(struct weftd_buf *b, char *mem, size_t cap)
{
	*b = (struct weftd_buf){ .data = mem, .cap = mem ? cap : 0, .fixed = mem != NULL };
}

void weftd_buf_reset(struct weftd_buf *b)
{
	b->len = 0;
	b->err = 0;
}

void weftd_buf_done(struct weftd_buf *b)
{
	if (!b->fixed)
		free(b->data);
	*b = (struct weftd_buf){ 0 };
}

/* Make room for n more bytes; false (with b->err set) when impossible. */
static bool buf_reserve(struct weftd_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return false;
	if (b->cap - b->len >= n)
		return true;
	if (b->fixed) {
		b->err = -ENOBUFS;
		return false;
	}
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	if (!(p = realloc(b->data, cap))) {
		b->err = -ENOMEM;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

static void put(struct weftd_buf *b, const void *s, size_t n)
{
	if (buf_reserve(b, n)) {
		memcpy(b->data + b->len, s, n);
		b->len += n;
	}
}

#define PUTS(b, lit) put((b), (lit), sizeof(lit) - 1)

/* ---- UTF-8 and base64 -------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return len >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		return len >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		return len >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
		       (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

bool weftd_utf8_valid(const void *s, size_t len)
{
	const unsigned char *p = s;

	for (size_t i = 0, n; i < len; i += n)
		if (!(n = utf8_seq(p + i, len - i)))
			return false;
	return true;
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t weftd_b64_encode(const void *src, size_t len, char *dst)
{
	const unsigned char *s = src;
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		dst[o++] = b64_alphabet[v >> 18];
		dst[o++] = b64_alphabet[(v >> 12) & 63];
		dst[o++] = b64_alphabet[(v >> 6) & 63];
		dst[o++] = b64_alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
		dst[o++] = b64_alphabet[v >> 18];
		dst[o++] = b64_alphabet[(v >> 12) & 63];
		dst[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		dst[o++] = '=';
	}
	return o;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

ssize_t weftd_b64_decode(const char *src, size_t len, void *dst)
{
	unsigned char *d = dst;
	uint32_t acc = 0;
	size_t o = 0, n;

	/* Up to two '=' at the very end, and only to complete a 4-character group. */
	if (len % 4 == 0 && len && src[len - 1] == '=')
		len -= len >= 2 && src[len - 2] == '=' ? 2 : 1;
	if (len % 4 == 1)
		return -EINVAL;
	for (n = 0; n < len; n++) {
		int v = b64_value(src[n]);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		if (n % 4 == 3) {
			d[o++] = (unsigned char)(acc >> 16);
			d[o++] = (unsigned char)(acc >> 8);
			d[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (len % 4 == 2) {
		if (acc & 0xf)
			return -EINVAL;
		d[o++] = (unsigned char)(acc >> 4);
	} else if (len % 4 == 3) {
		if (acc & 0x3)
			return -EINVAL;
		d[o++] = (unsigned char)(acc >> 10);
		d[o++] = (unsigned char)(acc >> 2);
	}
	return (ssize_t)o;
}

/* ---- JSON writers ------------------------------------------------------------------ */

static void sep_key(struct weftd_buf *b, const char *key)
{
	if (b->len && !b->err) {
		char last = b->data[b->len - 1];
		if (last != '{' && last != '[' && last != ':')
			PUTS(b, ",");
	}
	if (key) {
		PUTS(b, "\"");
		put(b, key, strlen(key)); /* keys are our own literals: no escaping needed */
		PUTS(b, "\":");
	}
}

/* Escape s as a JSON string body; runs of plain ASCII are copied in one go. */
static void put_escaped(struct weftd_buf *b, const unsigned char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run;

	while (i < len) {
		for (run = i; run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
			      s[run] != '\\'; run++)
			;
		put(b, s + i, run - i);
		if ((i = run) >= len)
			break;
		unsigned char c = s[i];
		size_t n = c >= 0x80 ? utf8_seq(s + i, len - i) : 1;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(b, e, 2);
		} else if (c == '\n') {
			PUTS(b, "\\n");
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			put(b, e, 6);
		} else if (n) {
			put(b, s + i, n);
		} else {
			PUTS(b, "\\ufffd"); /* one invalid byte, resynchronise at the next */
			n = 1;
		}
		i += n ? n : 1;
	}
}

void weftd_json_str(struct weftd_buf *b, const char *key, const char *s, size_t len)
{
	sep_key(b, key);
	PUTS(b, "\"");
	put_escaped(b, (const unsigned char *)s, len);
	PUTS(b, "\"");
}

void weftd_json_cstr(struct weftd_buf *b, const char *key, const char *s)
{
	if (s)
		weftd_json_str(b, key, s, strlen(s));
	else
		weftd_json_null(b, key);
}

void weftd_json_u64(struct weftd_buf *b, const char *key, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	sep_key(b, key);
	put(b, tmp, (size_t)n);
}

void weftd_json_i64(struct weftd_buf *b, const char *key, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	sep_key(b, key);
	put(b, tmp, (size_t)n);
}

void weftd_json_double(struct weftd_buf *b, const char *key, double v)
{
	char tmp[32];
	int n = isfinite(v) ? snprintf(tmp, sizeof(tmp), "%.17g", v) : snprintf(tmp, sizeof(tmp), "null");
	sep_key(b, key);
	put(b, tmp, (size_t)n);
}

void weftd_json_bool(struct weftd_buf *b, const char *key, bool v)
{
	sep_key(b, key);
	if (v)
		PUTS(b, "true");
	else
		PUTS(b, "false");
}

void weftd_json_null(struct weftd_buf *b, const char *key)
{
	sep_key(b, key);
	PUTS(b, "null");
}

void weftd_json_raw(struct weftd_buf *b, const char *key, const char *json, size_t len)
{
	sep_key(b, key);
	put(b, json, len);
}

void weftd_json_obj_begin(struct weftd_buf *b, const char *key)
{
	sep_key(b, key);
	PUTS(b, "{");
}

void weftd_json_obj_end(struct weftd_buf *b)
{
	PUTS(b, "}");
}

void weftd_json_arr_begin(struct weftd_buf *b, const char *key)
{
	sep_key(b, key);
	PUTS(b, "[");
}

void weftd_json_arr_end(struct weftd_buf *b)
{
	PUTS(b, "]");
}

void weftd_json_bytes(struct weftd_buf *b, const char *key, const char *key_b64,
		      const void *data, size_t len)
{
	if (weftd_utf8_valid(data, len)) {
		weftd_json_str(b, key, data, len);
		return;
	}
	sep_key(b, key_b64);
	PUTS(b, "\"");
	if (buf_reserve(b, WEFTD_B64_ENC_LEN(len)))
		b->len += weftd_b64_encode(data, len, b->data + b->len);
	PUTS(b, "\"");
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

void weftd_resp_begin(struct weftd_buf *b, const char *id)
{
	PUTS(b, "{\"id\":");
	if (id)
		put(b, id, strlen(id));
	else
		PUTS(b, "null");
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

	PUTS(b, "{\"id\":");
	if (id)
		put(b, id, strlen(id));
	else
		PUTS(b, "null");
	PUTS(b, ",\"ok\":false,\"error\":{");
	weftd_json_cstr(b, "code", name);
	weftd_json_cstr(b, "message", msg ? msg : name);
	PUTS(b, "}}\n");
	return b->err;
}
