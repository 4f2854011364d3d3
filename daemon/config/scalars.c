/* SPDX-License-Identifier: MIT */
/* Scalar values of the config: strings, names, integers, durations, sizes, enums and
 * booleans, each with its range check and the error message that quotes the value.
 * The unit grammar itself (durations, sizes, rates) is units.c's. */
#include "config/walk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Rejects embedded NULs (from "\0" escapes) that C strings would cut. */
int cfg_scalar(struct pctx *c, const yaml_node_t *n, const char **s, size_t *len)
{
	int r = cfg_want_type(c, n, YAML_SCALAR_NODE);
	if (r < 0)
		return r;
	*s = (const char *)n->data.scalar.value;
	*len = n->data.scalar.length;
	if (memchr(*s, '\0', *len))
		return cfg_fail(c, n, "contains a NUL byte");
	return 0;
}

int cfg_str(struct pctx *c, const yaml_node_t *n, const char **ret, bool nonempty)
{
	const char *s;
	size_t len;
	int r = cfg_scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	if (nonempty && len == 0)
		return cfg_fail(c, n, "must not be empty");
	if (!(*ret = cfg_strdup(c, s, len)))
		return cfg_oom(c);
	return 0;
}

bool cfg_valid_name(const char *s, size_t len)
{
	if (len == 0 || len > WEFTD_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && !strchr("_.-", s[i]))
			return false;
	return true;
}

int cfg_name(struct pctx *c, const yaml_node_t *n, const char **ret)
{
	const char *s;
	size_t len;
	int r = cfg_scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	if (!cfg_valid_name(s, len))
		return cfg_fail(c, n, "invalid name \"%.*s\" (1-%d characters of A-Z a-z 0-9 _ . -)",
				CFG_QUOTE(len), s, WEFTD_MAX_NAME);
	if (!(*ret = cfg_strdup(c, s, len)))
		return cfg_oom(c);
	return 0;
}

int cfg_uint(struct pctx *c, const yaml_node_t *n, uint64_t min, uint64_t max, uint64_t *ret)
{
	const char *s;
	size_t len;
	uint64_t v = 0;
	int r = cfg_scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return cfg_fail(c, n, "invalid integer \"%.*s\"", CFG_QUOTE(len), s);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (len == 0)
		return cfg_fail(c, n, "invalid integer \"\"");
	if (v < min || v > max)
		return cfg_fail(c, n, "must be between %llu and %llu, got %llu",
				(unsigned long long)min, (unsigned long long)max, (unsigned long long)v);
	*ret = v;
	return 0;
}

int cfg_duration(struct pctx *c, const yaml_node_t *n, uint64_t min, uint64_t max, uint64_t *ret)
{
	const char *s;
	size_t len;
	uint64_t v;
	char a[32], b[32];
	int r = cfg_scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	r = weftd_parse_duration(s, len, &v);
	if (r < 0)
		return cfg_fail(c, n, "%s duration \"%.*s\"", r == -ERANGE ? "out of range" : "invalid",
				CFG_QUOTE(len), s);
	if (v < min || v > max) {
		weftd_format_duration(min, a, sizeof(a));
		weftd_format_duration(max, b, sizeof(b));
		return cfg_fail(c, n, "must be between %s and %s, got \"%.*s\"", a, b,
				CFG_QUOTE(len), s);
	}
	*ret = v;
	return 0;
}

int cfg_size(struct pctx *c, const yaml_node_t *n, uint64_t min, uint64_t max, uint64_t *ret)
{
	const char *s;
	size_t len;
	uint64_t v;
	int r = cfg_scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	r = weftd_parse_size(s, len, &v);
	if (r < 0)
		return cfg_fail(c, n, "%s size \"%.*s\"", r == -ERANGE ? "out of range" : "invalid",
				CFG_QUOTE(len), s);
	if (v < min || v > max)
		return cfg_fail(c, n, "must be between %llu and %llu bytes, got %llu",
				(unsigned long long)min, (unsigned long long)max, (unsigned long long)v);
	*ret = v;
	return 0;
}

int cfg_enum(struct pctx *c, const yaml_node_t *n, const char *const *names,
	     const int *values, int *ret)
{
	const char *s;
	size_t len;
	char list[160] = "";
	int r = cfg_scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	for (int i = 0; names[i]; i++) {
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
			*ret = values ? values[i] : i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
	}
	return cfg_fail(c, n, "invalid value \"%.*s\" (expected one of: %s)", CFG_QUOTE(len),
			s, list);
}

int cfg_bool(struct pctx *c, const yaml_node_t *n, bool *ret)
{
	static const char *const names[] = { "true", "false", "yes", "no", "on", "off", NULL };
	int v, r = cfg_enum(c, n, names, NULL, &v);
	if (r == 0)
		*ret = v % 2 == 0;
	return r;
}
