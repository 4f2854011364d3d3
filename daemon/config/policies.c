/* SPDX-License-Identifier: MIT */
/* A stage's policies: retry (attempts and exponential backoff with jitter, the exit codes
 * that fail at once) and
 * rate_limit (a token bucket: rate and burst). */
#include "config/sections.h"

#include <math.h>
#include <stdlib.h>

#include "config/validate.h"

static const char *const jitter_names[] = { "none", "full", "equal", NULL };

/* strtod is fine here: the value is NUL-terminated by libyaml and the daemon keeps the
 * "C" locale. */
static int fn_multiplier(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_retry *rt = obj;
	const char *s;
	size_t len;
	char *end;
	double v;
	int r = cfg_scalar(c, n, &s, &len);

	if (r < 0)
		return r;
	v = len && len < 32 ? strtod(s, &end) : NAN;
	if (len == 0 || len >= 32 || end != s + len || !isfinite(v) || v < 1.0 || v > 1000.0)
		return cfg_fail(c, n, "invalid multiplier \"%.*s\" (a number from 1 to 1000)",
				CFG_QUOTE(len), s);
	rt->multiplier = v;
	return 0;
}

/* permanent_exit_codes: a list of exit codes 1..255 (0 is success: never a failure). */
static int fn_permanent(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_retry *rt = obj;
	size_t cnt;
	int r = cfg_want_list(c, n, 0, 255, &cnt);

	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *item;
		const char *s;
		size_t len, old = cfg_path_index(c, i);
		char *end;
		long v = 0;
		if ((r = cfg_node(c, n->data.sequence.items.start[i], n, &item)) == 0 &&
		    (r = cfg_scalar(c, item, &s, &len)) == 0) {
			v = len && len < 4 ? strtol(s, &end, 10) : 0;
			if (!len || len >= 4 || end != s + len || v < 1 || v > 255)
				r = cfg_fail(c, item, "invalid exit code \"%.*s\" (1 to 255)",
					     CFG_QUOTE(len), s);
			else
				rt->permanent_exit_codes[v / 64] |= 1ull << (v % 64);
		}
		cfg_path_pop(c, old);
	}
	return r;
}

int cfg_retry_section(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct cfg_field f[] = {
		{ "attempts", F_U32, offsetof(struct weftd_retry, attempts), 1, 1000000, 0, 0, 0 },
		{ "initial", F_DUR, offsetof(struct weftd_retry, initial_ns), 0, CFG_MAX_DUR, 0, 0, 0 },
		{ "max", F_DUR, offsetof(struct weftd_retry, max_ns), 0, CFG_MAX_DUR, 0, 0, 0 },
		{ "multiplier", F_FN, 0, 0, 0, 0, 0, fn_multiplier },
		{ "jitter", F_ENUM, offsetof(struct weftd_retry, jitter), 0, 0, jitter_names, 0, 0 },
		{ "permanent_exit_codes", F_FN, 0, 0, 0, 0, 0, fn_permanent },
	};
	struct weftd_retry *rt = &((struct weftd_stage *)obj)->retry;
	int r = cfg_walk_map(c, n, f, ARRAY_SIZE(f), rt);

	if (r == 0)
		r = cfg_check_retry(c, n, rt);
	return r;
}

static int fn_rate(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_rate_limit *rl = obj;
	const char *s;
	size_t len;
	int r = cfg_scalar(c, n, &s, &len);

	if (r < 0)
		return r;
	if (weftd_parse_rate(s, len, &rl->count, &rl->per_ns) < 0)
		return cfg_fail(c, n, "invalid rate \"%.*s\" (e.g. \"50/s\", \"5/ms\", \"100/m\")",
				CFG_QUOTE(len), s);
	return 0;
}

int cfg_rate_limit_section(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct cfg_field f[] = {
		{ "rate", F_FN, 0, 0, 0, 0, 0, fn_rate },
		{ "burst", F_U32, offsetof(struct weftd_rate_limit, burst), 1, UINT32_MAX, 0, 0, 0 },
	};
	struct weftd_rate_limit *rl = &((struct weftd_stage *)obj)->rate_limit;
	int r = cfg_walk_map(c, n, f, ARRAY_SIZE(f), rl);

	if (r == 0)
		r = cfg_check_rate_limit(c, n, rl);
	return r;
}
