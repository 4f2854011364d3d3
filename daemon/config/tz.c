/* SPDX-License-Identifier: MIT */
/* Time zones read from TZif files and POSIX TZ rules (tz.h): each schedule entry holds its
 * own zone, so no thread ever touches the process's TZ. */
#include "config/tz.h"

#include <errno.h>
#include <string.h>

/* Rules beyond this many seconds from the epoch (about 34,000 years) are evaluated at the
 * bound: keeps the calendar arithmetic far from overflow whatever a file says. */
#define T_BOUND ((int64_t)1 << 40)

int64_t weftd_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void weftd_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool weftd_tz_valid_name(const char *s, size_t len)
{
	if (len == 0 || len > WEFTD_TZ_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool start = i == 0 || s[i - 1] == '/';
		if (s[i] == '/' || s[i] == '.') {
			if (start) /* empty part, absolute path, "..", hidden file */
				return false;
		} else if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
			   !(s[i] >= '0' && s[i] <= '9') && !strchr("_+-", s[i])) {
			return false;
		}
	}
	return s[len - 1] != '/';
}

/* ---- POSIX TZ strings ------------------------------------------------------------ */

struct scan {
	const char *s;
	size_t len, i;
};

static int peek(const struct scan *p)
{
	return p->i < p->len ? (unsigned char)p->s[p->i] : -1;
}

static bool digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* A number of at most max (no sign). */
static int num(struct scan *p, int max, int *ret)
{
	int v = 0;

	if (!digit(peek(p)))
		return -EINVAL;
	while (digit(peek(p))) {
		v = v * 10 + (p->s[p->i++] - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* [+-]hh[:mm[:ss]], hours up to maxh; seconds into *ret with the sign. */
static int hms(struct scan *p, int maxh, int32_t *ret)
{
	int sign = 1, h, mi = 0, s = 0;

	if (peek(p) == '+' || peek(p) == '-')
		sign = p->s[p->i++] == '-' ? -1 : 1;
	if (num(p, maxh, &h) < 0)
		return -EINVAL;
	if (peek(p) == ':') {
		p->i++;
		if (num(p, 59, &mi) < 0)
			return -EINVAL;
		if (peek(p) == ':') {
			p->i++;
			if (num(p, 59, &s) < 0)
				return -EINVAL;
		}
	}
	*ret = sign * (h * 3600 + mi * 60 + s);
	return 0;
}

/* A zone abbreviation: 3+ letters, or <...> of letters, digits, + and -. */
static int abbr(struct scan *p)
{
	size_t start = p->i;

	if (peek(p) == '<') {
		p->i++;
		while (peek(p) >= 0 && peek(p) != '>') {
			int ch = peek(p);
			if (!digit(ch) && !((ch | 32) >= 'a' && (ch | 32) <= 'z') && ch != '+' && ch != '-')
				return -EINVAL;
			p->i++;
		}
		if (peek(p) != '>' || p->i - start - 1 < 3)
			return -EINVAL;
		p->i++;
		return 0;
	}
	while ((peek(p) | 32) >= 'a' && (peek(p) | 32) <= 'z')
		p->i++;
	return p->i - start >= 3 ? 0 : -EINVAL;
}

static int date(struct scan *p, struct weftd_tz_date *d)
{
	int r;

	d->time = 2 * 3600;
	if (peek(p) == 'M') {
		p->i++;
		d->kind = WEFTD_TZ_MWD;
		if (num(p, 12, &d->month) < 0 || d->month < 1 || peek(p) != '.')
			return -EINVAL;
		p->i++;
		if (num(p, 5, &d->week) < 0 || d->week < 1 || peek(p) != '.')
			return -EINVAL;
		p->i++;
		r = num(p, 6, &d->day);
	} else if (peek(p) == 'J') {
		p->i++;
		d->kind = WEFTD_TZ_JULIAN1;
		r = num(p, 365, &d->day);
		if (r == 0 && d->day < 1)
			r = -EINVAL;
	} else {
		d->kind = WEFTD_TZ_JULIAN0;
		r = num(p, 365, &d->day);
	}
	if (r == 0 && peek(p) == '/') {
		p->i++;
		r = hms(p, 167, &d->time);
	}
	return r;
}

int weftd_tz_parse_posix(const char *s, size_t len, struct weftd_tz_rule *ret)
{
	struct scan p = { s, len, 0 };
	struct weftd_tz_rule r = { .has_dst = false };
	int32_t off;

	if (abbr(&p) < 0 || hms(&p, 24, &off) < 0)
		return -EINVAL;
	r.std_off = r.dst_off = -off;  /* POSIX counts west of Greenwich */
	if (p.i < len) {
		if (abbr(&p) < 0)
			return -EINVAL;
		r.has_dst = true;
		r.dst_off = r.std_off + 3600;
		if (peek(&p) != ',' && p.i < len) {
			if (hms(&p, 24, &off) < 0)
				return -EINVAL;
			r.dst_off = -off;
		}
		if (p.i == len) { /* no rule: the US one, as glibc does */
			r.start = (struct weftd_tz_date){ WEFTD_TZ_MWD, 0, 2, 3, 7200 };
			r.end = (struct weftd_tz_date){ WEFTD_TZ_MWD, 0, 1, 11, 7200 };
		} else if (peek(&p) != ',' || (p.i++, date(&p, &r.start)) < 0 || peek(&p) != ',' ||
			   (p.i++, date(&p, &r.end)) < 0) {
			return -EINVAL;
		}
	}
	if (p.i != len)
		return -EINVAL;
	*ret = r;
	return 0;
}

/* The day (since the epoch) of d in year y. */
static int64_t rule_day(const struct weftd_tz_date *d, int64_t y)
{
	int64_t jan1 = weftd_days_from_civil(y, 1, 1);

	if (d->kind == WEFTD_TZ_JULIAN1)
		return jan1 + d->day - 1 + (leap(y) && d->day >= 60);
	if (d->kind == WEFTD_TZ_JULIAN0)
		return jan1 + d->day;
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t first = weftd_days_from_civil(y, (unsigned)d->month, 1);
	int dow1 = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
	int day = 1 + (d->day - dow1 + 7) % 7 + (d->week - 1) * 7;
	int dim = mdays[d->month - 1] + (d->month == 2 && leap(y));
	while (day > dim)
		day -= 7;
	return first + day - 1;
}

static int32_t rule_offset(const struct weftd_tz_rule *r, int64_t t)
{
	int64_t y;
	unsigned m, d;

	if (!r->has_dst)
		return r->std_off;
	weftd_civil_from_days(((t + r->std_off) - (((t + r->std_off) % 86400 + 86400) % 86400)) / 86400,
			      &y, &m, &d);
	int64_t s = rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
	int64_t e = rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
	bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
	return dst ? r->dst_off : r->std_off;
}

int32_t weftd_tz_offset(const struct weftd_tz *tz, int64_t t)
{
	size_t lo = 0, hi = tz->ntrans;

	if (t > T_BOUND)
		t = T_BOUND;
	if (t < -T_BOUND)
		t = -T_BOUND;
	if (tz->ntrans == 0)
		return tz->has_rule ? rule_offset(&tz->rule, t) : tz->first_off;
	if (t < tz->trans[0])
		return tz->first_off;
	if (t >= tz->trans[tz->ntrans - 1] && tz->has_rule)
		return rule_offset(&tz->rule, t);
	while (hi - lo > 1) { /* the last transition at or before t */
		size_t mid = lo + (hi - lo) / 2;
		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->trans_off[lo];
}

/* ---- TZif files (RFC 8536) ------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct hdr {
	uint32_t isut, isstd, leap, time, type, chars;
	size_t block; /* bytes of the data block after the header */
};

static int header(const uint8_t *b, size_t len, unsigned tsize, struct hdr *h)
{
	if (len < 44 || memcmp(b, "TZif", 4) != 0)
		return -EINVAL;
	h->isut = be32(b + 20);
	h->isstd = be32(b + 24);
	h->leap = be32(b + 28);
	h->time = be32(b + 32);
	h->type = be32(b + 36);
	h->chars = be32(b + 40);
	if (h->type < 1 || h->type > 256 || h->chars < 1 || h->chars > 65536 ||
	    h->time > 100000 || h->leap > 100000 ||
	    (h->isut && h->isut != h->type) || (h->isstd && h->isstd != h->type))
		return -EINVAL;
	h->block = (size_t)h->time * (tsize + 1) + (size_t)h->type * 6 + h->chars +
		   (size_t)h->leap * (tsize + 4) + h->isstd + h->isut;
	return len - 44 >= h->block ? 0 : -EINVAL;
}

int weftd_tz_parse_tzif(const void *buf, size_t len, void *(*alloc)(void *arg, size_t size),
			void *arg, struct weftd_tz *ret)
{
	const uint8_t *b = buf;
	struct weftd_tz tz = { .ntrans = 0 };
	struct hdr h;
	unsigned tsize = 4;

	if (header(b, len, 4, &h) < 0)
		return -EINVAL;
	if (b[4] >= '2') { /* skip the 32-bit block: the 64-bit one follows */
		b += 44 + h.block;
		len -= 44 + h.block;
		tsize = 8;
		if (header(b, len, 8, &h) < 0)
			return -EINVAL;
	}
	const uint8_t *times = b + 44, *idx = times + (size_t)h.time * tsize,
		      *types = idx + h.time;
	int32_t offs[256];
	for (uint32_t i = 0; i < h.type; i++) {
		offs[i] = (int32_t)be32(types + 6 * i);
		if (offs[i] < -25 * 3600 || offs[i] > 26 * 3600 || types[6 * i + 4] > 1)
			return -EINVAL;
	}
	int64_t *tr = h.time ? alloc(arg, h.time * sizeof(*tr)) : NULL;
	int32_t *to = h.time ? alloc(arg, h.time * sizeof(*to)) : NULL;
	if (h.time && (!tr || !to))
		return -ENOMEM;
	for (uint32_t i = 0; i < h.time; i++) {
		tr[i] = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
		if (idx[i] >= h.type || (i && tr[i] <= tr[i - 1]))
			return -EINVAL;
		to[i] = offs[idx[i]];
	}
	tz.ntrans = h.time;
	tz.trans = tr;
	tz.trans_off = to;
	tz.first_off = offs[0];
	if (tsize == 8) { /* the footer: "\n" POSIX-TZ "\n"; empty: none */
		const uint8_t *f = b + 44 + h.block, *end = b + len, *nl;
		if (f >= end || *f != '\n' || !(nl = memchr(f + 1, '\n', (size_t)(end - f - 1))))
			return -EINVAL;
		if (nl > f + 1) {
			if (weftd_tz_parse_posix((const char *)f + 1, (size_t)(nl - f - 1), &tz.rule) < 0)
				return -EINVAL;
			tz.has_rule = true;
		}
	}
	*ret = tz;
	return 0;
}
