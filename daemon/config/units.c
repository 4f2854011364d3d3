/* SPDX-License-Identifier: MIT */
/* Durations, sizes and rates. Hand-written scanners rather than strtod so that rounding,
 * locale and overflow are exactly defined (configs must parse the same everywhere). */
#include "config/units.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Accumulate decimal digits into *v; -ERANGE past max. Returns digits consumed or error. */
static int scan_uint(const char *s, size_t len, size_t *pos, uint64_t max, uint64_t *v)
{
	size_t start = *pos;

	*v = 0;
	while (*pos < len && is_digit(s[*pos])) {
		unsigned d = (unsigned)(s[*pos] - '0');
		if (*v > (max - d) / 10)
			return -ERANGE;
		*v = *v * 10 + d;
		(*pos)++;
	}
	return (int)(*pos - start);
}

struct unit { const char *name; uint64_t mult; };

static const struct unit duration_units[] = {
	{ "ns", 1 }, { "us", WEFTD_NSEC_PER_USEC }, { "\xc2\xb5s", WEFTD_NSEC_PER_USEC },
	{ "ms", WEFTD_NSEC_PER_MSEC }, { "s", WEFTD_NSEC_PER_SEC },
	{ "m", 60 * WEFTD_NSEC_PER_SEC }, { "h", 3600 * WEFTD_NSEC_PER_SEC },
};

/* Longest unit name that matches at s[pos]; "ms" must win over "m". */
static const struct unit *match_unit(const struct unit *u, size_t n, const char *s, size_t len,
				     size_t *pos)
{
	const struct unit *best = NULL;
	size_t bestlen = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(u[i].name);
		if (l > bestlen && len - *pos >= l && memcmp(s + *pos, u[i].name, l) == 0) {
			best = &u[i];
			bestlen = l;
		}
	}
	*pos += bestlen;
	return best;
}

/* One "<int>[.<frac>]<unit>" term, added to *total. */
static int duration_term(const char *s, size_t len, size_t *pos, uint64_t *total)
{
	const uint64_t max = INT64_MAX;
	uint64_t ip, frac = 0, scale = 1;
	int n = scan_uint(s, len, pos, max, &ip);
	int nf = 0;

	if (n < 0)
		return n;
	if (*pos < len && s[*pos] == '.') {
		(*pos)++;
		/* Keep at most 18 fractional digits: more cannot change a ns result. */
		while (*pos < len && is_digit(s[*pos])) {
			if (scale < 1000000000000000000ULL) {
				frac = frac * 10 + (uint64_t)(s[*pos] - '0');
				scale *= 10;
			}
			(*pos)++;
			nf++;
		}
	}
	if (n == 0 && nf == 0)
		return -EINVAL;
	const struct unit *u = match_unit(duration_units,
					  sizeof(duration_units) / sizeof(duration_units[0]), s, len, pos);
	if (!u)
		return -EINVAL;
	if (ip > max / u->mult)
		return -ERANGE;
	uint64_t v = ip * u->mult;
	/* frac/scale * mult without overflow: frac < scale <= 1e18 and mult <= 3.6e12. */
	v += (uint64_t)((unsigned __int128)frac * u->mult / scale);
	if (v > max - *total)
		return -ERANGE;
	*total += v;
	return 0;
}

int weftd_parse_duration(const char *s, size_t len, uint64_t *ret_ns)
{
	uint64_t total = 0;
	size_t pos = 0;

	if (!s || !ret_ns || len == 0)
		return -EINVAL;
	if (len == 1 && s[0] == '0') {
		*ret_ns = 0;
		return 0;
	}
	while (pos < len) {
		int r = duration_term(s, len, &pos, &total);
		if (r < 0)
			return r;
	}
	*ret_ns = total;
	return 0;
}

static const struct unit size_units[] = {
	{ "B", 1 },
	{ "K", 1ULL << 10 }, { "KiB", 1ULL << 10 }, { "KB", 1000ULL },
	{ "M", 1ULL << 20 }, { "MiB", 1ULL << 20 }, { "MB", 1000000ULL },
	{ "G", 1ULL << 30 }, { "GiB", 1ULL << 30 }, { "GB", 1000000000ULL },
	{ "T", 1ULL << 40 }, { "TiB", 1ULL << 40 }, { "TB", 1000000000000ULL },
};

int weftd_parse_size(const char *s, size_t len, uint64_t *ret)
{
	size_t pos = 0;
	uint64_t v;
	int n;

	if (!s || !ret)
		return -EINVAL;
	n = scan_uint(s, len, &pos, UINT64_MAX, &v);
	if (n <= 0)
		return n < 0 ? n : -EINVAL;
	if (pos < len) {
		const struct unit *u = match_unit(size_units, sizeof(size_units) / sizeof(size_units[0]),
						  s, len, &pos);
		if (!u || pos != len)
			return -EINVAL;
		if (v > UINT64_MAX / u->mult)
			return -ERANGE;
		v *= u->mult;
	}
	*ret = v;
	return 0;
}

static const struct unit rate_units[] = {
	{ "ms", WEFTD_NSEC_PER_MSEC }, { "s", WEFTD_NSEC_PER_SEC },
	{ "m", 60 * WEFTD_NSEC_PER_SEC }, { "h", 3600 * WEFTD_NSEC_PER_SEC },
};

int weftd_parse_rate(const char *s, size_t len, uint32_t *ret_count, uint64_t *ret_per_ns)
{
	size_t pos = 0;
	uint64_t v;
	int n;

	if (!s || !ret_count || !ret_per_ns)
		return -EINVAL;
	n = scan_uint(s, len, &pos, UINT64_MAX, &v);
	if (n <= 0)
		return n < 0 ? -ERANGE : -EINVAL;
	if (v > UINT32_MAX)
		return -ERANGE;
	if (v == 0 || pos >= len || s[pos] != '/')
		return -EINVAL;
	pos++;
	const struct unit *u = match_unit(rate_units, sizeof(rate_units) / sizeof(rate_units[0]),
					  s, len, &pos);
	if (!u || pos != len)
		return -EINVAL;
	*ret_count = (uint32_t)v;
	*ret_per_ns = u->mult;
	return 0;
}

int weftd_format_duration(uint64_t ns, char *buf, size_t size)
{
	static const struct unit big[] = {
		{ "h", 3600 * WEFTD_NSEC_PER_SEC }, { "m", 60 * WEFTD_NSEC_PER_SEC },
		{ "s", WEFTD_NSEC_PER_SEC }, { "ms", WEFTD_NSEC_PER_MSEC },
		{ "us", WEFTD_NSEC_PER_USEC }, { "ns", 1 },
	};
	size_t off = 0;

	if (ns == 0)
		return snprintf(buf, size, "0s");
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]) && ns; i++) {
		if (ns < big[i].mult)
			continue;
		int w = snprintf(buf + (off < size ? off : size), off < size ? size - off : 0,
				 "%llu%s", (unsigned long long)(ns / big[i].mult), big[i].name);
		off += (size_t)w;
		ns %= big[i].mult;
	}
	return (int)off;
}

/* n decimal digits at s[*pos], in [lo, hi]; -1 when not. */
static int digits(const char *s, size_t len, size_t *pos, int n, int lo, int hi)
{
	int v = 0;

	if (*pos + (size_t)n > len)
		return -1;
	for (int i = 0; i < n; i++) {
		char c = s[(*pos)++];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	return v >= lo && v <= hi ? v : -1;
}

static bool sep_at(const char *s, size_t len, size_t *pos, const char *any)
{
	if (*pos >= len || !strchr(any, s[*pos]) || s[*pos] == '\0')
		return false;
	(*pos)++;
	return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil: no table, no timegm, no TZ). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int weftd_parse_rfc3339(const char *s, size_t len, int64_t *ret_ms)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	size_t pos = 0;
	int y, mo, d, h, mi, sec, ms = 0, off = 0;

	if (!s || !ret_ms)
		return -EINVAL;
	if ((y = digits(s, len, &pos, 4, 1970, 9999)) < 0 || !sep_at(s, len, &pos, "-") ||
	    (mo = digits(s, len, &pos, 2, 1, 12)) < 0 || !sep_at(s, len, &pos, "-") ||
	    (d = digits(s, len, &pos, 2, 1, mdays[mo - 1])) < 0 || !sep_at(s, len, &pos, "Tt ") ||
	    (h = digits(s, len, &pos, 2, 0, 23)) < 0 || !sep_at(s, len, &pos, ":") ||
	    (mi = digits(s, len, &pos, 2, 0, 59)) < 0 || !sep_at(s, len, &pos, ":") ||
	    (sec = digits(s, len, &pos, 2, 0, 60)) < 0)
		return -EINVAL;
	if (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400)))
		return -EINVAL;
	if (sec == 60) { /* a leap second: the last instant of the minute */
		sec = 59;
		ms = 999;
	}
	if (sep_at(s, len, &pos, ".")) {
		int k = 0;
		for (; pos < len && s[pos] >= '0' && s[pos] <= '9'; pos++, k++)
			if (k < 3 && ms != 999)
				ms = ms * 10 + (s[pos] - '0');
		if (k == 0)
			return -EINVAL;
		for (; k < 3 && ms != 999; k++)
			ms *= 10;
	}
	if (sep_at(s, len, &pos, "Zz")) {
		off = 0;
	} else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
		int sign = s[pos++] == '-' ? -1 : 1, oh, om;
		if ((oh = digits(s, len, &pos, 2, 0, 23)) < 0 || !sep_at(s, len, &pos, ":") ||
		    (om = digits(s, len, &pos, 2, 0, 59)) < 0)
			return -EINVAL;
		off = sign * (oh * 60 + om);
	} else {
		return -EINVAL;
	}
	if (pos != len)
		return -EINVAL;
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
		       (int64_t)off * 60;
	*ret_ms = secs * 1000 + ms;
	return 0;
}
