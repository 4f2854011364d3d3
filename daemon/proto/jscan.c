/* SPDX-License-Identifier: MIT */
/* The scanner: a byte loop per string, a digit loop per number, and for objects and
 * arrays an explicit stack instead of recursion. */
#include "proto/jscan.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/text.h"

#define ARRAY_OPEN UINT32_MAX /* on the nesting stack: an array, not an object's serial */

int jscan_fail(struct jscan *j, size_t at, const char *fmt, ...)
{
	va_list ap;

	j->err_at = at;
	va_start(ap, fmt);
	vsnprintf(j->err, sizeof(j->err), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void jscan_init(struct jscan *j, const char *s, size_t len)
{
	j->s = s;
	j->len = len;
	j->pos = 0;
	j->depth = 0;
	j->nobj = 0;
	j->nodups = false;
	j->keys = j->small;
	j->nkeys = 0;
	j->capkeys = JSCAN_SMALL_KEYS; /* small[] cleared on first use: most lines need none */
	j->err_at = 0;
	j->err[0] = '\0';
}

void jscan_done(struct jscan *j)
{
	if (j->keys != j->small)
		free(j->keys);
	j->keys = j->small;
}

int jscan_peek(struct jscan *j)
{
	while (j->pos < j->len) {
		char c = j->s[j->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return (unsigned char)c;
		j->pos++;
	}
	return -1;
}

int jscan_open(struct jscan *j, char c, uint32_t *ret_obj)
{
	if (jscan_peek(j) != c)
		return jscan_fail(j, j->pos, "'%c' expected", c);
	if (j->depth >= JSCAN_DEPTH_MAX)
		return jscan_fail(j, j->pos, "nested deeper than %d", JSCAN_DEPTH_MAX);
	j->depth++;
	j->pos++;
	if (ret_obj)
		*ret_obj = ++j->nobj;
	return 0;
}

int jscan_next(struct jscan *j, char close, bool *first)
{
	int c = jscan_peek(j);

	if (c == close) { /* after a ',' the caller read a value or key and failed there */
		j->pos++;
		j->depth--;
		return 0;
	}
	if (*first) {
		*first = false;
		return 1;
	}
	if (c != ',')
		return jscan_fail(j, j->pos, "',' or '%c' expected", close);
	j->pos++;
	return 1;
}

/* ---- strings ---------------------------------------------------------------------- */

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (c | 0x20) - 'a' + 10;
		else
			return -1;
	}
	return v;
}

/* Validate the escape at s[i] == '\\' and step over it (a surrogate pair as one). */
static int scan_escape(struct jscan *j, size_t *i, struct jscan_val *v)
{
	const char *s = j->s;
	size_t at = *i;
	int cp, lo;

	if (at + 1 >= j->len)
		return jscan_fail(j, at, "unterminated string");
	v->esc = true;
	if (strchr("\"\\/bfnrt", s[at + 1]) && s[at + 1]) {
		*i = at + 2;
		return 0;
	}
	if (s[at + 1] != 'u' || at + 6 > j->len || (cp = hex4(s + at + 2)) < 0)
		return jscan_fail(j, at, "invalid escape");
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return jscan_fail(j, at, "lone low surrogate \\u%04X", (unsigned)cp);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (at + 12 > j->len || s[at + 6] != '\\' || s[at + 7] != 'u' ||
		    (lo = hex4(s + at + 8)) < 0xdc00 || lo > 0xdfff)
			return jscan_fail(j, at, "high surrogate \\u%04X without a low one", (unsigned)cp);
		*i = at + 12;
		return 0;
	}
	v->nul |= cp == 0;
	*i = at + 6;
	return 0;
}

/* Bytes a string may hold as they are: printable ASCII but '"' and '\\' (a table: the
 * string loop is most of a request's parse). */
#define P(c) ((c) >= 0x20 && (c) < 0x80 && (c) != '"' && (c) != '\\')
#define P4(c) P(c), P((c) + 1), P((c) + 2), P((c) + 3)
#define P16(c) P4(c), P4((c) + 4), P4((c) + 8), P4((c) + 12)
#define P64(c) P16(c), P16((c) + 16), P16((c) + 32), P16((c) + 48)
static const bool plain[256] = { P64(0), P64(64), P64(128), P64(192) };
#undef P
#undef P4
#undef P16
#undef P64

static int scan_string(struct jscan *j, struct jscan_val *v)
{
	const unsigned char *s = (const unsigned char *)j->s;
	size_t i = j->pos + 1, n = j->len, k;
	int r;

	v->type = JSCAN_STR;
	v->esc = v->nul = false;
	v->start = i;
	for (;;) {
		while (i < n && plain[s[i]])
			i++;
		if (i >= n)
			return jscan_fail(j, i, "unterminated string");
		if (s[i] == '"')
			break;
		if (s[i] == '\\') {
			if ((r = scan_escape(j, &i, v)) < 0)
				return r;
		} else if (s[i] < 0x20) {
			return jscan_fail(j, i, "control character 0x%x in a string", s[i]);
		} else if ((k = weftd_utf8_seq(s + i, n - i))) {
			i += k;
		} else {
			return jscan_fail(j, i, "invalid UTF-8 byte 0x%x", s[i]);
		}
	}
	v->end = i;
	j->pos = i + 1;
	return 0;
}

/* One decoded character of an escape at *p (validated): its UTF-8 bytes into out. */
static int decode_escape(const char **p, char out[4])
{
	const char *s = *p;
	unsigned cp;

	switch (s[1]) {
	case 'b': out[0] = '\b'; break;
	case 'f': out[0] = '\f'; break;
	case 'n': out[0] = '\n'; break;
	case 'r': out[0] = '\r'; break;
	case 't': out[0] = '\t'; break;
	case 'u': goto unicode;
	default: out[0] = s[1]; break;
	}
	*p = s + 2;
	return 1;
unicode:
	cp = (unsigned)hex4(s + 2);
	*p = s + 6;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned)hex4(s + 8) - 0xdc00);
		*p = s + 12;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

size_t jscan_str_copy(const char *s, const struct jscan_val *v, char *dst, size_t cap)
{
	const char *p = s + v->start, *e = s + v->end;
	size_t n = 0;

	if (!v->esc) {
		n = (size_t)(e - p);
		if (cap)
			memcpy(dst, p, n < cap ? n : cap);
		return n;
	}
	while (p < e) {
		const char *bs = memchr(p, '\\', (size_t)(e - p));
		size_t run = (size_t)((bs ? bs : e) - p);
		if (n < cap)
			memcpy(dst + n, p, run < cap - n ? run : cap - n);
		n += run;
		p += run;
		if (p < e) {
			char u[4];
			int k = decode_escape(&p, u);
			for (int i = 0; i < k; i++, n++)
				if (n < cap)
					dst[n] = u[i];
		}
	}
	return n;
}

/* ---- duplicate keys --------------------------------------------------------------- */

/* The decoded bytes of a key, one at a time. */
struct dec {
	const char *p, *e;
	char u[4];
	int n, i;
};

static void dec_init(struct dec *d, const char *s, const struct jscan_key *k)
{
	*d = (struct dec){ .p = s + k->start, .e = s + k->end };
}

static int dec_next(struct dec *d)
{
	if (d->i < d->n)
		return (unsigned char)d->u[d->i++];
	if (d->p >= d->e)
		return -1;
	if (*d->p != '\\')
		return (unsigned char)*d->p++;
	d->n = decode_escape(&d->p, d->u);
	d->i = 1;
	return (unsigned char)d->u[0];
}

static bool key_equal(const char *s, const struct jscan_key *ka, const struct jscan_key *kb)
{
	struct dec x, y;
	int a, b;

	dec_init(&x, s, ka);
	dec_init(&y, s, kb);
	do {
		a = dec_next(&x);
		b = dec_next(&y);
	} while (a == b && a >= 0);
	return a == b;
}

static void key_put(struct jscan_key *t, uint32_t cap, const struct jscan_key *k)
{
	uint32_t i = k->hash & (cap - 1);

	while (t[i].obj)
		i = (i + 1) & (cap - 1);
	t[i] = *k;
}

static int keys_grow(struct jscan *j)
{
	uint32_t cap = j->capkeys * 2;
	struct jscan_key *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < j->capkeys; i++)
		if (j->keys[i].obj)
			key_put(t, cap, &j->keys[i]);
	jscan_done(j);
	j->keys = t;
	j->capkeys = cap;
	return 0;
}

int jscan_key_unique(struct jscan *j, uint32_t obj, const struct jscan_val *key)
{
	struct jscan_key k = { .obj = obj, .start = key->start, .end = key->end };
	uint32_t h = 2166136261u ^ obj * 0x9e3779b9u, i;
	struct dec d;
	int c;

	if (j->nodups)
		return 0;
	if (j->nkeys == 0 && j->keys == j->small)
		memset(j->small, 0, sizeof(j->small));
	dec_init(&d, j->s, &k);
	while ((c = dec_next(&d)) >= 0)
		h = (h ^ (uint32_t)c) * 16777619u;
	k.hash = h;
	for (i = h & (j->capkeys - 1); j->keys[i].obj; i = (i + 1) & (j->capkeys - 1))
		if (j->keys[i].hash == h && j->keys[i].obj == obj && key_equal(j->s, &j->keys[i], &k))
			return jscan_fail(j, key->start - 1, "duplicate key");
	if ((j->nkeys + 1) * 2 > j->capkeys && keys_grow(j) < 0)
		return -ENOMEM;
	key_put(j->keys, j->capkeys, &k);
	j->nkeys++;
	return 0;
}

int jscan_key(struct jscan *j, struct jscan_val *key)
{
	int r;

	if (jscan_peek(j) != '"')
		return jscan_fail(j, j->pos, "string key expected");
	if ((r = scan_string(j, key)) < 0)
		return r;
	if (key->nul)
		return jscan_fail(j, key->start, "NUL byte in a key");
	if (jscan_peek(j) != ':')
		return jscan_fail(j, j->pos, "':' expected");
	j->pos++;
	return 0;
}

/* ---- numbers and literals --------------------------------------------------------- */

static bool digit(const char *s, size_t i, size_t n)
{
	return i < n && s[i] >= '0' && s[i] <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?: an int64 without fraction or
 * exponent (else out of range), a finite double otherwise. */
static int scan_number(struct jscan *j, struct jscan_val *v)
{
	const char *s = j->s;
	size_t i = j->pos, n = j->len;
	bool neg = s[i] == '-', real = false;
	uint64_t acc = 0, lim;
	char *end;

	v->start = i;
	i += neg;
	if (!digit(s, i, n))
		return jscan_fail(j, i, "invalid number");
	if (s[i] == '0' && digit(s, i + 1, n))
		return jscan_fail(j, i, "leading zero");
	while (digit(s, i, n))
		i++;
	if (i < n && s[i] == '.') {
		if (!digit(s, ++i, n))
			return jscan_fail(j, i, "digit expected after '.'");
		while (digit(s, i, n))
			i++;
		real = true;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i += i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-') ? 2 : 1;
		if (!digit(s, i, n))
			return jscan_fail(j, i, "digit expected in the exponent");
		while (digit(s, i, n))
			i++;
		real = true;
	}
	/* Something must follow inside the line (a number never ends a request), so strtod
	 * below stops before its end. */
	if (i >= n)
		return jscan_fail(j, i, "premature end of the line");
	v->end = j->pos = i;
	if (real) {
		v->type = JSCAN_REAL;
		v->num.d = strtod(s + v->start, &end);
		if (end != s + i || isinf(v->num.d))
			return jscan_fail(j, v->start, "number out of range");
		return 0;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (size_t k = v->start + neg; k < i; k++) {
		unsigned d = (unsigned)(s[k] - '0');
		if (acc > (lim - d) / 10)
			return jscan_fail(j, v->start, "integer out of range");
		acc = acc * 10 + d;
	}
	v->type = JSCAN_INT;
	v->num.i = neg ? -(int64_t)(acc - 1) - 1 : (int64_t)acc;
	if (neg && acc == 0)
		v->num.i = 0;
	return 0;
}

static int scan_literal(struct jscan *j, struct jscan_val *v)
{
	static const struct { const char *text; uint8_t type; } lits[] = {
		{ "true", JSCAN_TRUE }, { "false", JSCAN_FALSE }, { "null", JSCAN_NULL },
	};

	for (size_t k = 0; k < sizeof(lits) / sizeof(lits[0]); k++) {
		size_t n = strlen(lits[k].text);
		if (j->len - j->pos >= n && memcmp(j->s + j->pos, lits[k].text, n) == 0) {
			v->type = lits[k].type;
			v->start = j->pos;
			v->end = j->pos += n;
			return 0;
		}
	}
	return jscan_fail(j, j->pos, "invalid token");
}

static int scan_scalar(struct jscan *j, struct jscan_val *v, int c)
{
	if (c == '"')
		return scan_string(j, v);
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_number(j, v);
	if (c < 0)
		return jscan_fail(j, j->pos, "premature end of the line");
	return scan_literal(j, v);
}

/* ---- objects and arrays ----------------------------------------------------------- */

/* Walk an object or array to its end. stack[] holds, per level open in this value, the
 * object's serial (for its keys) or ARRAY_OPEN. */
static int scan_nested(struct jscan *j, struct jscan_val *v)
{
	uint32_t stack[JSCAN_DEPTH_MAX];
	struct jscan_val x;
	int sp = 0, c, r;
	bool first = true, open = true;

	v->type = j->s[j->pos] == '{' ? JSCAN_OBJ : JSCAN_ARR;
	v->start = j->pos;
	for (;;) {
		if (open) {
			c = jscan_peek(j);
			stack[sp] = ARRAY_OPEN;
			if ((r = jscan_open(j, (char)c, c == '{' ? &stack[sp] : NULL)) < 0)
				return r;
			sp++;
			first = true;
		}
		char close = stack[sp - 1] == ARRAY_OPEN ? ']' : '}';
		if ((r = jscan_next(j, close, &first)) < 0)
			return r;
		if (r == 0) {
			if (--sp == 0)
				break;
			open = first = false; /* the parent is after a value now */
			continue;
		}
		if (close == '}' && ((r = jscan_key(j, &x)) < 0 ||
				     (r = jscan_key_unique(j, stack[sp - 1], &x)) < 0))
			return r;
		c = jscan_peek(j);
		open = c == '{' || c == '[';
		if (!open && (r = scan_scalar(j, &x, c)) < 0)
			return r;
	}
	v->end = j->pos;
	return 0;
}

int jscan_value(struct jscan *j, struct jscan_val *v)
{
	int c = jscan_peek(j);

	v->esc = v->nul = false;
	if (c == '{' || c == '[')
		return scan_nested(j, v);
	return scan_scalar(j, v, c);
}

int jscan_end(struct jscan *j)
{
	return jscan_peek(j) < 0 ? 0 : jscan_fail(j, j->pos, "end of the line expected");
}
