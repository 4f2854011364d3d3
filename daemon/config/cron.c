/* SPDX-License-Identifier: MIT */
/* Cron expressions: the parser and the slot arithmetic (cron.h). Slots are searched in
 * local civil time (a match skips a whole month, day or hour at once), then mapped to UTC
 * instants through the zone, which is where daylight saving comes in. */
#include "config/cron.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/units.h"

#define HORIZON_YEARS 50
#define T_LIMIT ((int64_t)1 << 40)
#define MAX_SHIFT (3 * 3600)  /* the largest DST shift searched around (Lord Howe: 30m,
				 Antarctica/Troll: 2h) */

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
					    "jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

struct field {
	const char *what;
	int min, max;
	const char *const *names; /* names[i] is value min + i */
	int nnames;
};

static const struct field fields[5] = {
	{ "minute", 0, 59, NULL, 0 },
	{ "hour", 0, 23, NULL, 0 },
	{ "day of month", 1, 31, NULL, 0 },
	{ "month", 1, 12, month_names, 12 },
	{ "day of week", 0, 7, dow_names, 7 },
};

struct parse {
	const char *s;
	size_t len, i;
	size_t *off;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct parse *p, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (p->off)
		*p->off = at;
	if (p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int value(struct parse *p, const struct field *f, int *ret)
{
	size_t at = p->i;
	int v = 0;

	if (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
		while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
			v = v * 10 + (p->s[p->i++] - '0');
			if (v > 1000)
				break;
		}
		if (v < f->min || v > f->max)
			return fail(p, at, "%s %d out of range %d-%d", f->what, v, f->min, f->max);
		*ret = v;
		return 0;
	}
	for (int k = 0; k < f->nnames; k++)
		if (p->len - p->i >= 3 && strncasecmp(p->s + p->i, f->names[k], 3) == 0 &&
		    (p->len - p->i == 3 || !((p->s[p->i + 3] | 32) >= 'a' && (p->s[p->i + 3] | 32) <= 'z'))) {
			p->i += 3;
			*ret = f->min + k;
			return 0;
		}
	return fail(p, at, "expected a %s%s", f->what, f->names ? " (a number or a name)" : " (a number)");
}

/* One field into *bits (bit v for value v); *star when it starts with "*". */
static int field(struct parse *p, const struct field *f, uint64_t *bits, bool *star)
{
	*bits = 0;
	*star = p->i < p->len && p->s[p->i] == '*';
	for (;;) {
		int lo = f->min, hi = f->max, step = 1;
		size_t at = p->i;
		bool single = false;
		int r;

		if (p->i < p->len && p->s[p->i] == '*') {
			p->i++;
		} else {
			if ((r = value(p, f, &lo)) < 0)
				return r;
			if (p->i < p->len && p->s[p->i] == '-') {
				p->i++;
				if ((r = value(p, f, &hi)) < 0)
					return r;
				if (hi < lo)
					return fail(p, at, "%s range %d-%d runs backwards", f->what, lo, hi);
			} else {
				single = true;
			}
		}
		if (p->i < p->len && p->s[p->i] == '/') {
			size_t sat = ++p->i;
			step = 0;
			while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9' && step <= 1000)
				step = step * 10 + (p->s[p->i++] - '0');
			if (sat == p->i || step < 1 || step > f->max - f->min + 1)
				return fail(p, sat, "%s step must be 1 to %d", f->what, f->max - f->min + 1);
			if (single) /* "N/step": N to the maximum */
				hi = f->max;
		} else if (single) {
			hi = lo;
		}
		for (int v = lo; v <= hi; v += step)
			*bits |= 1ull << v;
		if (p->i < p->len && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->len && !blank(p->s[p->i]))
			return fail(p, p->i, "unexpected '%c' in the %s field", p->s[p->i], f->what);
		return 0;
	}
}

/* "@every D". */
static int every(struct parse *p, struct weftd_cron *c)
{
	uint64_t ns;
	size_t at;

	while (p->i < p->len && blank(p->s[p->i]))
		p->i++;
	at = p->i;
	size_t end = p->len;
	while (end > at && blank(p->s[end - 1]))
		end--;
	if (weftd_parse_duration(p->s + at, end - at, &ns) < 0)
		return fail(p, at, "@every needs a duration (\"30s\", \"5m\", \"1h30m\")");
	if (ns < WEFTD_NSEC_PER_SEC || ns % WEFTD_NSEC_PER_SEC)
		return fail(p, at, "@every takes whole seconds, at least 1s");
	c->every_s = ns / WEFTD_NSEC_PER_SEC;
	return 0;
}

static const struct { const char *name, *expr; } macros[] = {
	{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" }, { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

static int fields5(struct parse *p, struct weftd_cron *c)
{
	uint64_t bits[5];
	bool star[5];
	int r;

	for (int k = 0; k < 5; k++) {
		while (p->i < p->len && blank(p->s[p->i]))
			p->i++;
		if (p->i == p->len)
			return fail(p, p->i, "%d fields, expected 5 (minute hour day-of-month month day-of-week)", k);
		if ((r = field(p, &fields[k], &bits[k], &star[k])) < 0)
			return r;
	}
	while (p->i < p->len && blank(p->s[p->i]))
		p->i++;
	if (p->i < p->len)
		return fail(p, p->i, "more than 5 fields (seconds are not supported: use @every)");
	c->minutes = bits[0];
	c->hours = (uint32_t)bits[1];
	c->doms = (uint32_t)bits[2];
	c->months = (uint16_t)bits[3];
	c->dows = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 is Sunday too */
	c->hour_star = star[1];
	c->dom_star = star[2];
	c->dow_star = star[4];
	return 0;
}

/* Can a day ever match? Only the day of month alone can make it never ("30 2"). */
static bool can_fire(const struct weftd_cron *c)
{
	static const int maxdays[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (!c->dow_star && !c->dom_star)
		return true; /* either: a weekday comes every week */
	for (int m = 1; m <= 12; m++)
		if (c->months >> m & 1 && (c->doms & ((2u << maxdays[m]) - 2)))
			return true;
	return false;
}

int weftd_cron_parse(const char *s, size_t len, struct weftd_cron *ret, size_t *ret_off,
		     char *err, size_t errlen)
{
	struct parse p = { s, len, 0, ret_off, err, errlen };
	struct weftd_cron c = { .every_s = 0 };
	int r;

	if (len > WEFTD_CRON_MAX_EXPR)
		return fail(&p, 0, "longer than %d bytes", WEFTD_CRON_MAX_EXPR);
	if (memchr(s, '\0', len))
		return fail(&p, 0, "contains a NUL byte");
	while (p.i < len && blank(s[p.i]))
		p.i++;
	if (p.i < len && s[p.i] == '@') {
		size_t at = p.i, end = at;
		while (end < len && !blank(s[end]))
			end++;
		if (end - at == 6 && memcmp(s + at, "@every", 6) == 0) {
			p.i = end;
			r = every(&p, &c);
		} else {
			size_t k;
			for (k = 0; k < sizeof(macros) / sizeof(macros[0]); k++)
				if (strlen(macros[k].name) == end - at && memcmp(macros[k].name, s + at, end - at) == 0)
					break;
			if (k == sizeof(macros) / sizeof(macros[0]))
				return fail(&p, at, "unknown macro \"%.*s\" (known: @yearly @annually @monthly @weekly @daily @midnight @hourly @every)",
					    (int)(end - at > 40 ? 40 : end - at), s + at);
			while (end < len && blank(s[end]))
				end++;
			if (end < len)
				return fail(&p, end, "nothing may follow %s", macros[k].name);
			struct parse q = { macros[k].expr, strlen(macros[k].expr), 0, NULL, NULL, 0 };
			r = fields5(&q, &c);
		}
	} else {
		r = fields5(&p, &c);
	}
	if (r == 0 && !c.every_s && !can_fire(&c))
		return fail(&p, 0, "never fires: no selected month has the selected days");
	if (r == 0)
		*ret = c;
	return r;
}

/* ---- slots ------------------------------------------------------------------------ */

static unsigned days_in(int64_t y, unsigned m)
{
	static const unsigned char md[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return md[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static bool day_ok(const struct weftd_cron *c, int64_t y, unsigned m, unsigned d)
{
	int64_t days = weftd_days_from_civil(y, m, d);
	unsigned dow = (unsigned)(((days + 4) % 7 + 7) % 7);
	bool dom = c->doms >> d & 1, wd = c->dows >> dow & 1;
	return c->dom_star || c->dow_star ? dom && wd : dom || wd;
}

static int64_t floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The first local civil minute at or after L (seconds, read as UTC) that c matches, as
 * seconds; -1 past the horizon. */
static int64_t civil_next(const struct weftd_cron *c, int64_t L)
{
	int64_t days = floordiv(L, 86400), y, y0;
	int64_t sod = L - days * 86400;
	unsigned m, d, h = (unsigned)(sod / 3600), mi = (unsigned)(sod % 3600 / 60);

	if (sod % 60 && ++mi == 60) {
		mi = 0;
		h++;
	}
	weftd_civil_from_days(days, &y, &m, &d);
	y0 = y;
	for (;;) {
		if (mi > 59) { mi = 0; h++; }
		if (h > 23) { h = 0; d++; }
		if (m > 12) { m = 1; y++; }
		if (d > days_in(y, m) && (d = 1, ++m > 12)) { m = 1; y++; }
		if (y > y0 + HORIZON_YEARS)
			return -1;
		if (!(c->months >> m & 1)) { m++; d = 1; h = 0; mi = 0; continue; }
		if (!day_ok(c, y, m, d)) { d++; h = 0; mi = 0; continue; }
		if (!(c->hours >> h & 1)) { h++; mi = 0; continue; }
		if (!(c->minutes >> mi & 1)) { mi++; continue; }
		return weftd_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
	}
}

/* The UTC instants of local civil time L: one, or two in a repeated hour (ascending); a
 * time skipped by a change gets the offset from before it (it moves forward by the gap). */
static int instants(const struct weftd_tz *tz, int64_t L, int64_t out[2])
{
	int32_t oa = weftd_tz_offset(tz, L - 86400), ob = weftd_tz_offset(tz, L + 86400);
	int n = 0;

	if (weftd_tz_offset(tz, L - oa) == oa)
		out[n++] = L - oa;
	if (ob != oa && weftd_tz_offset(tz, L - ob) == ob)
		out[n++] = L - ob;
	if (n == 0)
		out[n++] = L - oa;
	if (n == 2 && out[0] > out[1]) {
		int64_t t = out[0];
		out[0] = out[1];
		out[1] = t;
	}
	return n;
}

int weftd_cron_next(const struct weftd_cron *c, const struct weftd_tz *tz, int64_t after,
		    int64_t *ret)
{
	int64_t best = INT64_MAX;

	if (after < -T_LIMIT || after > T_LIMIT)
		return -ERANGE;
	if (c->every_s) {
		*ret = (floordiv(after, (int64_t)c->every_s) + 1) * (int64_t)c->every_s;
		return 0;
	}
	/* Search from a little before after's local time: in a repeated hour a civil time
	 * earlier than after's may still come later in UTC. */
	int64_t L = after + weftd_tz_offset(tz, after) - MAX_SHIFT;
	for (;;) {
		int64_t cv = civil_next(c, L), in[2];
		if (cv < 0)
			break;
		int n = instants(tz, cv, in);
		for (int k = 0; k < n; k++)
			if ((k == 0 || c->hour_star) && in[k] > after && in[k] < best)
				best = in[k];
		if (best != INT64_MAX && cv > best + weftd_tz_offset(tz, best) + MAX_SHIFT)
			break;
		L = cv + 60;
	}
	if (best == INT64_MAX)
		return -ERANGE;
	*ret = best;
	return 0;
}

int weftd_cron_last(const struct weftd_cron *c, const struct weftd_tz *tz, int64_t after,
		    int64_t upto, int64_t *ret)
{
	int64_t s, w = 3600;

	if (upto <= after)
		return -ENOENT;
	if (c->every_s) {
		s = floordiv(upto, (int64_t)c->every_s) * (int64_t)c->every_s;
		if (s <= after)
			return -ENOENT;
		*ret = s;
		return 0;
	}
	/* Widen a window back from upto until it holds a slot, then walk it forward: a few
	 * next() calls whatever the gap, not one per missed slot. */
	for (;;) {
		int64_t from = upto - w > after ? upto - w : after;
		if (weftd_cron_next(c, tz, from, &s) == 0 && s <= upto) {
			int64_t t;
			while (weftd_cron_next(c, tz, s, &t) == 0 && t <= upto)
				s = t;
			*ret = s;
			return 0;
		}
		if (from == after)
			return -ENOENT;
		w *= 4;
	}
}
