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
