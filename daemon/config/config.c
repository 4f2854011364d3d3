/* Config loading with libyaml's document API: the whole (<= 1 MiB) file becomes a node
 * tree first, so every error can point at the node's line:column and the walk can look
 * ahead (sequence lengths, sibling keys) without a state machine. */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Every allocation of a config hangs off one list, so freeing (also a half-built config
 * after an error) is a single walk and the structs can expose const pointers. */
struct blk { struct blk *next; max_align_t data[]; };
struct weftd_config_mem { struct blk *head; };

struct pctx {
	const char *name;          /* FILE in error messages */
	yaml_document_t *doc;
	struct weftd_config *cfg;
	uint8_t *seen;             /* per node: walked already (alias) */
	size_t nnodes;
	char *err;
	size_t errlen;
	char path[512];            /* key path of the node being walked */
	size_t plen;
};

static void *cmalloc(struct pctx *c, size_t size)
{
	struct blk *b = calloc(1, sizeof(*b) + size);
	if (!b)
		return NULL;
	b->next = c->cfg->mem->head;
	c->cfg->mem->head = b;
	return b->data;
}

static char *cstrdup(struct pctx *c, const char *s, size_t len)
{
	char *p = cmalloc(c, len + 1);
	if (p)
		memcpy(p, s, len);
	return p;
}

static struct weftd_mark mark_of(const yaml_node_t *n)
{
	return (struct weftd_mark){ (unsigned)n->start_mark.line + 1, (unsigned)n->start_mark.column + 1 };
}

/* Record the first error only: later ones are consequences. Returns -EINVAL. */
__attribute__((format(printf, 3, 4)))
static int fail(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int off;

	if (!c->errlen || c->err[0])
		return -EINVAL;
	off = snprintf(c->err, c->errlen, "%s:%u:%u: %s: ", c->name, mark_of(n).line,
		       mark_of(n).column, c->plen ? c->path : "(root)");
	if (off >= 0 && (size_t)off < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + off, c->errlen - (size_t)off, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int oom(struct pctx *c)
{
	if (c->errlen && !c->err[0])
		snprintf(c->err, c->errlen, "%s: out of memory", c->name);
	return -ENOMEM;
}

/* Append ".key" (or "key" at the root) or "[i]" to the path; returns the old length. */
static size_t path_key(struct pctx *c, const char *key)
{
	size_t old = c->plen;
	int w = snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old ? "." : "", key);
	c->plen = w < 0 || (size_t)w >= sizeof(c->path) - old ? sizeof(c->path) - 1 : old + (size_t)w;
	return old;
}

static size_t path_index(struct pctx *c, size_t i)
{
	size_t old = c->plen;
	int w = snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);
	c->plen = w < 0 || (size_t)w >= sizeof(c->path) - old ? sizeof(c->path) - 1 : old + (size_t)w;
	return old;
}

static void path_pop(struct pctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* Fetch node idx; a node reached twice came through an alias, which we refuse: it keeps
 * the walk linear (no "billion laughs") and configs explicit. */
static int node_get(struct pctx *c, int idx, const yaml_node_t *parent, yaml_node_t **ret)
{
	yaml_node_t *n = yaml_document_get_node(c->doc, idx);
	if (!n)
		return fail(c, parent, "broken YAML document");
	if (c->seen[idx]++)
		return fail(c, n, "YAML aliases are not supported");
	*ret = n;
	return 0;
}

static const char *node_kind(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "a mapping" :
	       n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

static int want_type(struct pctx *c, const yaml_node_t *n, yaml_node_type_t t)
{
	static const char *const names[] = {
		[YAML_SCALAR_NODE] = "a scalar", [YAML_SEQUENCE_NODE] = "a list",
		[YAML_MAPPING_NODE] = "a mapping",
	};
	if (n->type != t)
		return fail(c, n, "expected %s, got %s", names[t], node_kind(n));
	return 0;
}

/* A scalar's text; rejects embedded NULs (from "\0" escapes) that C strings would cut. */
static int scalar(struct pctx *c, const yaml_node_t *n, const char **s, size_t *len)
{
	int r = want_type(c, n, YAML_SCALAR_NODE);
	if (r < 0)
		return r;
	*s = (const char *)n->data.scalar.value;
	*len = n->data.scalar.length;
	if (memchr(*s, '\0', *len))
		return fail(c, n, "contains a NUL byte");
	return 0;
}

static int str_value(struct pctx *c, const yaml_node_t *n, const char **ret, bool nonempty)
{
	const char *s;
	size_t len;
	int r = scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	if (nonempty && len == 0)
		return fail(c, n, "must not be empty");
	if (!(*ret = cstrdup(c, s, len)))
		return oom(c);
	return 0;
}

static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len > WEFTD_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && !strchr("_.-", s[i]))
			return false;
	return true;
}

static int name_value(struct pctx *c, const yaml_node_t *n, const char **ret)
{
	const char *s;
	size_t len;
	int r = scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	if (!valid_name(s, len))
		return fail(c, n, "invalid name \"%.*s\" (1-%d characters of A-Z a-z 0-9 _ . -)",
			    (int)(len > 80 ? 80 : len), s, WEFTD_MAX_NAME);
	if (!(*ret = cstrdup(c, s, len)))
		return oom(c);
	return 0;
}

/* Decimal unsigned integer in [min, max]. */
static int uint_value(struct pctx *c, const yaml_node_t *n, uint64_t min, uint64_t max,
		      uint64_t *ret)
{
	const char *s;
	size_t len;
	uint64_t v = 0;
	int r = scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return fail(c, n, "invalid integer \"%.*s\"", (int)(len > 80 ? 80 : len), s);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (len == 0)
		return fail(c, n, "invalid integer \"\"");
	if (v < min || v > max)
		return fail(c, n, "must be between %llu and %llu, got %llu",
			    (unsigned long long)min, (unsigned long long)max, (unsigned long long)v);
	*ret = v;
	return 0;
}

static int duration_value(struct pctx *c, const yaml_node_t *n, uint64_t min, uint64_t max,
			  uint64_t *ret)
{
	const char *s;
	size_t len;
	uint64_t v;
	char a[32], b[32];
	int r = scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	r = weftd_parse_duration(s, len, &v);
	if (r < 0)
		return fail(c, n, "%s duration \"%.*s\"", r == -ERANGE ? "out of range" : "invalid",
			    (int)(len > 80 ? 80 : len), s);
	if (v < min || v > max) {
		weftd_format_duration(min, a, sizeof(a));
		weftd_format_duration(max, b, sizeof(b));
		return fail(c, n, "must be between %s and %s, got \"%.*s\"", a, b,
			    (int)(len > 80 ? 80 : len), s);
	}
	*ret = v;
	return 0;
}

static int size_value(struct pctx *c, const yaml_node_t *n, uint64_t min, uint64_t max,
		      uint64_t *ret)
{
	const char *s;
	size_t len;
	uint64_t v;
	int r = scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	r = weftd_parse_size(s, len, &v);
	if (r < 0)
		return fail(c, n, "%s size \"%.*s\"", r == -ERANGE ? "out of range" : "invalid",
			    (int)(len > 80 ? 80 : len), s);
	if (v < min || v > max)
		return fail(c, n, "must be between %llu and %llu bytes, got %llu",
			    (unsigned long long)min, (unsigned long long)max, (unsigned long long)v);
	*ret = v;
	return 0;
}

/* One of names[]; stores values[i] (or i when values is NULL). */
static int enum_value(struct pctx *c, const yaml_node_t *n, const char *const *names,
		      const int *values, int *ret)
{
	const char *s;
	size_t len;
	char list[160] = "";
	int r = scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	for (int i = 0; names[i]; i++) {
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
			*ret = values ? values[i] : i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
	}
	return fail(c, n, "invalid value \"%.*s\" (expected one of: %s)", (int)(len > 80 ? 80 : len),
		    s, list);
}

static int bool_value(struct pctx *c, const yaml_node_t *n, bool *ret)
{
	static const char *const names[] = { "true", "false", "yes", "no", "on", "off", NULL };
	int v, r = enum_value(c, n, names, NULL, &v);
	if (r == 0)
		*ret = v % 2 == 0;
	return r;
}

/* ---- table-driven mappings --------------------------------------------------------- */

enum ftype { F_STR, F_NAME, F_U32, F_DUR, F_SIZE, F_ENUM, F_FN };

struct field {
	const char *key;
	enum ftype type;
	size_t off;                 /* into the object */
	uint64_t min, max;          /* F_U32, F_DUR, F_SIZE */
	const char *const *names;   /* F_ENUM */
	const int *values;          /* F_ENUM, optional */
	int (*fn)(struct pctx *c, yaml_node_t *n, void *obj);
};

static int set_field(struct pctx *c, const struct field *f, yaml_node_t *n, void *obj)
{
	char *p = (char *)obj + f->off;
	uint64_t v;
	int r;

	switch (f->type) {
	case F_STR:  return str_value(c, n, (const char **)p, true);
	case F_NAME: return name_value(c, n, (const char **)p);
	case F_U32:
		r = uint_value(c, n, f->min, f->max, &v);
		if (r == 0)
			*(uint32_t *)p = (uint32_t)v;
		return r;
	case F_DUR:  return duration_value(c, n, f->min, f->max, (uint64_t *)p);
	case F_SIZE: return size_value(c, n, f->min, f->max, (uint64_t *)p);
	case F_ENUM: return enum_value(c, n, f->names, f->values, (int *)p);
	case F_FN:   return f->fn(c, n, obj);
	}
	return -EINVAL;
}

/* Walk a mapping: every key must be in fields[], at most once. */
static int walk_map(struct pctx *c, yaml_node_t *map, const struct field *fields, size_t nf,
		    void *obj)
{
	uint64_t seen = 0;
	int r = want_type(c, map, YAML_MAPPING_NODE);

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     r == 0 && p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k, *v;
		const char *key;
		size_t klen, i;

		if ((r = node_get(c, p->key, map, &k)) < 0 || (r = scalar(c, k, &key, &klen)) < 0)
			break;
		for (i = 0; i < nf; i++)
			if (strlen(fields[i].key) == klen && memcmp(fields[i].key, key, klen) == 0)
				break;
		size_t old = path_key(c, i < nf ? fields[i].key : key);
		if (i == nf)
			r = fail(c, k, "unknown key");
		else if (seen & (1ULL << i))
			r = fail(c, k, "duplicate key");
		else if ((r = node_get(c, p->value, map, &v)) == 0)
			r = set_field(c, &fields[i], v, obj);
		seen |= 1ULL << (i & 63);
		path_pop(c, old);
	}
	return r;
}

/* The value node of key in map, without marking it seen (for cross-field checks). */
static yaml_node_t *map_find(struct pctx *c, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
		    memcmp(k->data.scalar.value, key, strlen(key)) == 0)
			return yaml_document_get_node(c->doc, p->value);
	}
	return NULL;
}

/* Cross-field error reported at key's value (or the mapping when the key is absent). */
static int fail_at_key(struct pctx *c, yaml_node_t *map, const char *key, const char *msg)
{
	yaml_node_t *n = map_find(c, map, key);
	size_t old = path_key(c, key);
	int r = fail(c, n ? n : map, "%s", msg);
	path_pop(c, old);
	return r;
}

/* Iterate a list: ret_items gets the node ids, checked against max. */
static int want_list(struct pctx *c, yaml_node_t *n, size_t min, size_t max, size_t *ret_count)
{
	int r = want_type(c, n, YAML_SEQUENCE_NODE);
	if (r < 0)
		return r;
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt < min)
		return fail(c, n, min == 1 ? "must not be empty" : "needs at least %zu entries", min);
	if (cnt > max)
		return fail(c, n, "too many entries (%zu, at most %zu)", cnt, max);
	*ret_count = cnt;
	return 0;
}

/* ---- daemon: ---------------------------------------------------------------------- */

#define MAX_DUR ((uint64_t)INT64_MAX)
#define DOFF(f) offsetof(struct weftd_daemon_config, f)

static int fn_procs(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = obj;
	uint64_t v;
	int r;

	if (n->type == YAML_SCALAR_NODE && strcmp((const char *)n->data.scalar.value, "auto") == 0) {
		d->procs = 0;
		return 0;
	}
	r = uint_value(c, n, 1, WEFTD_MAX_PROCS, &v);
	if (r == 0)
		d->procs = (uint32_t)v;
	return r;
}

/* Octal, whether written "0660" or 0660 (YAML 1.2 would read the latter as decimal). */
static int fn_socket_mode(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = obj;
	const char *s;
	size_t len;
	uint32_t v = 0;
	int r = scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len && v <= 07777; i++) {
		if (s[i] < '0' || s[i] > '7')
			return fail(c, n, "invalid file mode \"%.*s\" (octal, e.g. \"0660\")",
				    (int)(len > 80 ? 80 : len), s);
		v = v * 8 + (uint32_t)(s[i] - '0');
	}
	if (len == 0 || v > 07777)
		return fail(c, n, "invalid file mode \"%.*s\" (octal, e.g. \"0660\")",
			    (int)(len > 80 ? 80 : len), s);
	d->socket_mode = v;
	return 0;
}

/* A user or group given by number or name; names are resolved through NSS now, so a typo
 * fails the load instead of silently locking everyone out. */
static int id_value(struct pctx *c, yaml_node_t *n, bool group, uint32_t *ret)
{
	const char *s;
	size_t len;
	char buf[16384];
	int r = scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	if (len && s[0] >= '0' && s[0] <= '9') {
		uint64_t v;
		r = uint_value(c, n, 0, UINT32_MAX - 1, &v);
		*ret = (uint32_t)v;
		return r;
	}
	bool found = false;
	if (group) {
		struct group gr, *res = NULL;
		r = getgrnam_r(s, &gr, buf, sizeof(buf), &res);
		if (r == 0 && res) {
			*ret = gr.gr_gid;
			found = true;
		}
	} else {
		struct passwd pw, *res = NULL;
		r = getpwnam_r(s, &pw, buf, sizeof(buf), &res);
		if (r == 0 && res) {
			*ret = pw.pw_uid;
			found = true;
		}
	}
	if (!found || !valid_name(s, len))
		return fail(c, n, "cannot resolve %s \"%.*s\"", group ? "group" : "user",
			    (int)(len > 80 ? 80 : len), s);
	return 0;
}

static int id_list(struct pctx *c, yaml_node_t *n, bool group, const uint32_t **ret, size_t *ret_n)
{
	size_t cnt;
	uint32_t *ids;
	int r = want_list(c, n, 0, WEFTD_MAX_ALLOW, &cnt);
	if (r < 0)
		return r;
	if (!(ids = cmalloc(c, (cnt + 1) * sizeof(*ids))))
		return oom(c);
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *item;
		size_t old = path_index(c, i);
		if ((r = node_get(c, n->data.sequence.items.start[i], n, &item)) == 0)
			r = id_value(c, item, group, &ids[i]);
		path_pop(c, old);
	}
	*ret = ids;
	*ret_n = cnt;
	return r;
}

static int fn_allow_uids(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = obj;
	_Static_assert(sizeof(uid_t) == sizeof(uint32_t), "uid_t is 32 bits");
	return id_list(c, n, false, (const uint32_t **)&d->allow_uids, &d->nallow_uids);
}

static int fn_allow_groups(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = obj;
	_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");
	return id_list(c, n, true, (const uint32_t **)&d->allow_gids, &d->nallow_gids);
}

static int fn_watchdog(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = obj;
	bool on;
	int r;

	if (n->type == YAML_SCALAR_NODE && strcmp((const char *)n->data.scalar.value, "auto") == 0) {
		d->watchdog = WEFTD_WATCHDOG_AUTO;
		return 0;
	}
	r = bool_value(c, n, &on);
	if (r == 0)
		d->watchdog = on ? WEFTD_WATCHDOG_ON : WEFTD_WATCHDOG_OFF;
	return r;
}

static int fn_retention(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field f[] = {
		{ "count", F_U32, offsetof(struct weftd_retention, count), 0, UINT32_MAX, 0, 0, 0 },
		{ "age", F_DUR, offsetof(struct weftd_retention, age_ns), 0, MAX_DUR, 0, 0, 0 },
	};
	return walk_map(c, n, f, ARRAY_SIZE(f), &((struct weftd_daemon_config *)obj)->retention);
}

static const char *const durability_names[] = { "none", "batch", "fsync", NULL };
static const char *const log_names[] = { "err", "warning", "notice", "info", "debug", NULL };
static const int log_values[] = { WEFTD_LOG_ERR, WEFTD_LOG_WARNING, WEFTD_LOG_NOTICE,
				  WEFTD_LOG_INFO, WEFTD_LOG_DEBUG };

static const struct field daemon_fields[] = {
	{ "socket", F_STR, DOFF(socket), 0, 0, 0, 0, 0 },
	{ "socket_mode", F_FN, 0, 0, 0, 0, 0, fn_socket_mode },
	{ "procs", F_FN, 0, 0, 0, 0, 0, fn_procs },
	{ "max_connections", F_U32, DOFF(max_connections), 1, 1u << 20, 0, 0, 0 },
	{ "max_request_bytes", F_SIZE, DOFF(max_request_bytes), 64, 1ULL << 30, 0, 0, 0 },
	{ "shutdown_timeout", F_DUR, DOFF(shutdown_timeout_ns), 0, MAX_DUR, 0, 0, 0 },
	{ "allow_uids", F_FN, 0, 0, 0, 0, 0, fn_allow_uids },
	{ "allow_groups", F_FN, 0, 0, 0, 0, 0, fn_allow_groups },
	{ "heartbeat_interval", F_DUR, DOFF(heartbeat_interval_ns), WEFTD_NSEC_PER_MSEC, MAX_DUR, 0, 0, 0 },
	{ "heartbeat_timeout", F_DUR, DOFF(heartbeat_timeout_ns), WEFTD_NSEC_PER_MSEC, MAX_DUR, 0, 0, 0 },
	{ "watchdog", F_FN, 0, 0, 0, 0, 0, fn_watchdog },
	{ "durability", F_ENUM, DOFF(durability), 0, 0, durability_names, 0, 0 },
	{ "state_dir", F_STR, DOFF(state_dir), 0, 0, 0, 0, 0 },
	{ "retention", F_FN, 0, 0, 0, 0, 0, fn_retention },
	{ "log_level", F_ENUM, DOFF(log_level), 0, 0, log_names, log_values, 0 },
};

static int fn_daemon(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = &c->cfg->daemon;
	int r = walk_map(c, n, daemon_fields, ARRAY_SIZE(daemon_fields), d);

	if (r == 0 && d->heartbeat_timeout_ns <= d->heartbeat_interval_ns)
		r = fail_at_key(c, n, "heartbeat_timeout", "must be longer than heartbeat_interval");
	return r;
}

/* ---- stages ----------------------------------------------------------------------- */

#define SOFF(f) offsetof(struct weftd_stage, f)

/* A stage being built: the stage must stay first so SOFF() offsets apply to it. */
struct stage_build {
	struct weftd_stage s;
	int nactions;
	yaml_node_t *params;       /* to refuse params on exec stages */
};

static int one_action(struct pctx *c, yaml_node_t *n, struct stage_build *b, enum weftd_action a)
{
	if (b->nactions++)
		return fail(c, n, "a stage has exactly one of exec, builtin or plugin");
	b->s.action = a;
	return 0;
}

static int fn_exec(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct stage_build *b = obj;
	const char **argv;
	size_t cnt;
	int r = one_action(c, n, b, WEFTD_ACTION_EXEC);

	if (r < 0 || (r = want_list(c, n, 1, WEFTD_MAX_ARGV, &cnt)) < 0)
		return r;
	if (!(argv = cmalloc(c, (cnt + 1) * sizeof(*argv))))
		return oom(c);
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *item;
		size_t old = path_index(c, i);
		if ((r = node_get(c, n->data.sequence.items.start[i], n, &item)) == 0)
			r = str_value(c, item, &argv[i], i == 0);
		path_pop(c, old);
	}
	b->s.argv = argv;
	b->s.argc = cnt;
	return r;
}

static int fn_builtin(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const char *const builtins[] = WEFTD_BUILTINS;
	struct stage_build *b = obj;
	const char *s;
	size_t len;
	int r = one_action(c, n, b, WEFTD_ACTION_BUILTIN);

	if (r < 0 || (r = scalar(c, n, &s, &len)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(builtins); i++)
		if (strlen(builtins[i]) == len && memcmp(builtins[i], s, len) == 0)
			return str_value(c, n, &b->s.builtin, true);
	return fail(c, n, "unknown builtin \"%.*s\" (known: noop, echo, upper, sha256, sleep, fail)",
		    (int)(len > 80 ? 80 : len), s);
}

static int fn_plugin(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field f[] = {
		{ "path", F_STR, SOFF(plugin_path), 0, 0, 0, 0, 0 },
		{ "symbol", F_STR, SOFF(plugin_symbol), 0, 0, 0, 0, 0 },
	};
	struct stage_build *b = obj;
	int r = one_action(c, n, b, WEFTD_ACTION_PLUGIN);

	if (r == 0)
		r = walk_map(c, n, f, ARRAY_SIZE(f), &b->s);
	if (r == 0 && !b->s.plugin_path)
		r = fail(c, n, "missing required key \"path\"");
	return r;
}

static int fn_params(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct stage_build *b = obj;
	struct weftd_param *ps;
	size_t cnt;
	int r = want_type(c, n, YAML_MAPPING_NODE);

	if (r < 0)
		return r;
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (cnt > WEFTD_MAX_PARAMS)
		return fail(c, n, "too many params (%zu, at most %d)", cnt, WEFTD_MAX_PARAMS);
	if (!(ps = cmalloc(c, (cnt + 1) * sizeof(*ps))))
		return oom(c);
	b->params = n;
	b->s.params = ps;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *k, *v;
		if ((r = node_get(c, n->data.mapping.pairs.start[i].key, n, &k)) < 0 ||
		    (r = name_value(c, k, &ps[i].key)) < 0)
			break;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ps[j].key, ps[i].key) == 0)
				return fail(c, k, "duplicate key \"%s\"", ps[i].key);
		size_t old = path_key(c, ps[i].key);
		if ((r = node_get(c, n->data.mapping.pairs.start[i].value, n, &v)) == 0)
			r = str_value(c, v, &ps[i].value, false);
		path_pop(c, old);
		b->s.nparams = i + 1;
	}
	return r;
}

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
	int r = scalar(c, n, &s, &len);

	if (r < 0)
		return r;
	v = len && len < 32 ? strtod(s, &end) : NAN;
	if (len == 0 || len >= 32 || end != s + len || !isfinite(v) || v < 1.0 || v > 1000.0)
		return fail(c, n, "invalid multiplier \"%.*s\" (a number from 1 to 1000)",
			    (int)(len > 80 ? 80 : len), s);
	rt->multiplier = v;
	return 0;
}

static int fn_retry(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field f[] = {
		{ "attempts", F_U32, offsetof(struct weftd_retry, attempts), 1, 1000000, 0, 0, 0 },
		{ "initial", F_DUR, offsetof(struct weftd_retry, initial_ns), 0, MAX_DUR, 0, 0, 0 },
		{ "max", F_DUR, offsetof(struct weftd_retry, max_ns), 0, MAX_DUR, 0, 0, 0 },
		{ "multiplier", F_FN, 0, 0, 0, 0, 0, fn_multiplier },
		{ "jitter", F_ENUM, offsetof(struct weftd_retry, jitter), 0, 0, jitter_names, 0, 0 },
	};
	struct weftd_retry *rt = &((struct stage_build *)obj)->s.retry;
	int r = walk_map(c, n, f, ARRAY_SIZE(f), rt);

	if (r == 0 && rt->max_ns < rt->initial_ns)
		r = fail_at_key(c, n, "max", "must not be shorter than initial");
	return r;
}

static int fn_rate(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_rate_limit *rl = obj;
	const char *s;
	size_t len;
	int r = scalar(c, n, &s, &len);

	if (r < 0)
		return r;
	if (weftd_parse_rate(s, len, &rl->count, &rl->per_ns) < 0)
		return fail(c, n, "invalid rate \"%.*s\" (e.g. \"50/s\", \"5/ms\", \"100/m\")",
			    (int)(len > 80 ? 80 : len), s);
	return 0;
}

static int fn_rate_limit(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct field f[] = {
		{ "rate", F_FN, 0, 0, 0, 0, 0, fn_rate },
		{ "burst", F_U32, offsetof(struct weftd_rate_limit, burst), 1, UINT32_MAX, 0, 0, 0 },
	};
	struct weftd_rate_limit *rl = &((struct stage_build *)obj)->s.rate_limit;
	int r = walk_map(c, n, f, ARRAY_SIZE(f), rl);

	if (r == 0 && rl->count == 0)
		r = fail(c, n, "missing required key \"rate\"");
	if (r == 0 && rl->burst == 0)
		rl->burst = rl->count;
	return r;
}

static const struct field stage_fields[] = {
	{ "name", F_NAME, SOFF(name), 0, 0, 0, 0, 0 },
	{ "exec", F_FN, 0, 0, 0, 0, 0, fn_exec },
	{ "builtin", F_FN, 0, 0, 0, 0, 0, fn_builtin },
	{ "plugin", F_FN, 0, 0, 0, 0, 0, fn_plugin },
	{ "params", F_FN, 0, 0, 0, 0, 0, fn_params },
	{ "workers", F_U32, SOFF(workers), 1, WEFTD_MAX_WORKERS, 0, 0, 0 },
	{ "queue", F_U32, SOFF(queue), 1, WEFTD_MAX_QUEUE, 0, 0, 0 },
	{ "timeout", F_DUR, SOFF(timeout_ns), 0, MAX_DUR, 0, 0, 0 },
	{ "retry", F_FN, 0, 0, 0, 0, 0, fn_retry },
	{ "rate_limit", F_FN, 0, 0, 0, 0, 0, fn_rate_limit },
	{ "kill_grace", F_DUR, SOFF(kill_grace_ns), 0, MAX_DUR, 0, 0, 0 },
	{ "heartbeat_timeout", F_DUR, SOFF(heartbeat_timeout_ns), WEFTD_NSEC_PER_MSEC, MAX_DUR, 0, 0, 0 },
};

static void stage_defaults(struct weftd_stage *s)
{
	*s = (struct weftd_stage){
		.workers = 1, .queue = 1024, .timeout_ns = 60 * WEFTD_NSEC_PER_SEC,
		.kill_grace_ns = 5 * WEFTD_NSEC_PER_SEC,
		.retry = { .attempts = 1, .initial_ns = 100 * WEFTD_NSEC_PER_MSEC,
			   .max_ns = 30 * WEFTD_NSEC_PER_SEC, .multiplier = 2.0,
			   .jitter = WEFTD_JITTER_FULL },
	};
}

static int parse_stage(struct pctx *c, yaml_node_t *n, struct weftd_stage *out)
{
	struct stage_build b = { .nactions = 0 };
	int r;

	stage_defaults(&b.s);
	b.s.mark = mark_of(n);
	r = walk_map(c, n, stage_fields, ARRAY_SIZE(stage_fields), &b);
	if (r == 0 && !b.s.name)
		r = fail(c, n, "missing required key \"name\"");
	if (r == 0 && b.nactions == 0)
		r = fail(c, n, "one of exec, builtin or plugin is required");
	if (r == 0 && b.params && b.s.action == WEFTD_ACTION_EXEC)
		r = fail_at_key(c, n, "params", "params apply to builtin and plugin stages only");
	if (r == 0 && b.s.action == WEFTD_ACTION_PLUGIN && !b.s.plugin_symbol)
		b.s.plugin_symbol = "weftd_stage";
	*out = b.s;
	return r;
}

static int fn_stages(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_pipeline *p = obj;
	struct weftd_stage *st;
	size_t cnt;
	int r = want_list(c, n, 1, WEFTD_MAX_STAGES, &cnt);

	if (r < 0)
		return r;
	if (!(st = cmalloc(c, cnt * sizeof(*st))))
		return oom(c);
	p->stages = st;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *item;
		size_t old = path_index(c, i);
		if ((r = node_get(c, n->data.sequence.items.start[i], n, &item)) == 0)
			r = parse_stage(c, item, &st[i]);
		for (size_t j = 0; r == 0 && j < i; j++)
			if (strcmp(st[j].name, st[i].name) == 0)
				r = fail_at_key(c, item, "name", "duplicate stage name");
		path_pop(c, old);
		p->nstages = i + 1;
	}
	return r;
}

/* ---- pipelines: and the root ------------------------------------------------------ */

static int parse_pipeline(struct pctx *c, yaml_node_t *k, yaml_node_t *v, struct weftd_pipeline *p)
{
	static const struct field f[] = { { "stages", F_FN, 0, 0, 0, 0, 0, fn_stages } };
	int r = name_value(c, k, &p->name);

	p->mark = mark_of(k);
	if (r == 0)
		r = walk_map(c, v, f, ARRAY_SIZE(f), p);
	if (r == 0 && p->nstages == 0)
		r = fail(c, v, "missing required key \"stages\"");
	return r;
}

static int fn_pipelines(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_pipeline *ps;
	size_t cnt;
	int r = want_type(c, n, YAML_MAPPING_NODE);

	if (r < 0)
		return r;
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (cnt == 0)
		return fail(c, n, "at least one pipeline is required");
	if (cnt > WEFTD_MAX_PIPELINES)
		return fail(c, n, "too many pipelines (%zu, at most %d)", cnt, WEFTD_MAX_PIPELINES);
	if (!(ps = cmalloc(c, cnt * sizeof(*ps))))
		return oom(c);
	c->cfg->pipelines = ps;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *k, *v;
		if ((r = node_get(c, n->data.mapping.pairs.start[i].key, n, &k)) < 0)
			break;
		size_t old = path_key(c, k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?");
		if ((r = node_get(c, n->data.mapping.pairs.start[i].value, n, &v)) == 0)
			r = parse_pipeline(c, k, v, &ps[i]);
		for (size_t j = 0; r == 0 && j < i; j++)
			if (strcmp(ps[j].name, ps[i].name) == 0)
				r = fail(c, k, "duplicate pipeline name");
		path_pop(c, old);
		c->cfg->npipelines = i + 1;
	}
	return r;
}

static void daemon_defaults(struct weftd_daemon_config *d)
{
	*d = (struct weftd_daemon_config){
		.socket = "/run/weftd/weftd.sock", .socket_mode = 0660, .procs = 0,
		.max_connections = 1024, .max_request_bytes = 1u << 20,
		.shutdown_timeout_ns = 30 * WEFTD_NSEC_PER_SEC,
		.heartbeat_interval_ns = WEFTD_NSEC_PER_SEC,
		.heartbeat_timeout_ns = 30 * WEFTD_NSEC_PER_SEC,
		.watchdog = WEFTD_WATCHDOG_AUTO, .durability = WEFTD_DURABILITY_NONE,
		.state_dir = "/var/lib/weftd",
		.retention = { .count = 10000, .age_ns = 3600 * WEFTD_NSEC_PER_SEC },
		.log_level = WEFTD_LOG_INFO,
	};
}

static int parse_root(struct pctx *c)
{
	static const struct field f[] = {
		{ "daemon", F_FN, 0, 0, 0, 0, 0, fn_daemon },
		{ "pipelines", F_FN, 0, 0, 0, 0, 0, fn_pipelines },
	};
	yaml_node_t *root = yaml_document_get_root_node(c->doc);
	yaml_node_t dummy = { .type = YAML_SCALAR_NODE };
	int r;

	if (!root)
		return fail(c, &dummy, "empty config (a \"pipelines:\" section is required)");
	c->seen[1] = 1;
	r = walk_map(c, root, f, ARRAY_SIZE(f), c->cfg);
	if (r == 0 && c->cfg->npipelines == 0)
		r = fail(c, root, "missing required key \"pipelines\"");
	return r;
}

/* ---- public API ------------------------------------------------------------------- */

static int yaml_fail(struct pctx *c, yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return oom(c);
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s:%zu:%zu: yaml: %s%s%s", c->name,
			 p->problem_mark.line + 1, p->problem_mark.column + 1,
			 p->problem ? p->problem : "syntax error",
			 p->context ? " " : "", p->context ? p->context : "");
	return -EINVAL;
}

/* Load exactly one YAML document into doc. */
static int load_document(struct pctx *c, const char *buf, size_t len, yaml_document_t *doc)
{
	yaml_parser_t p;
	yaml_document_t extra;
	int r = 0;

	if (!yaml_parser_initialize(&p))
		return oom(c);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, doc)) {
		r = yaml_fail(c, &p);
		yaml_parser_delete(&p);
		return r;
	}
	if (!yaml_parser_load(&p, &extra)) {
		r = yaml_fail(c, &p);
	} else {
		yaml_node_t *n = yaml_document_get_root_node(&extra);
		if (n)
			r = fail(c, n, "only one YAML document is allowed");
		yaml_document_delete(&extra);
	}
	if (r < 0)
		yaml_document_delete(doc);
	yaml_parser_delete(&p);
	return r;
}

int weftd_config_parse(const char *buf, size_t len, const char *name_for_errors,
		       struct weftd_config **ret, char *err, size_t errlen)
{
	struct pctx c = { .name = name_for_errors ? name_for_errors : "<config>",
			  .err = err, .errlen = err ? errlen : 0 };
	yaml_document_t doc;
	int r;

	if ((!buf && len) || !ret)
		return -EINVAL;
	if (c.errlen)
		err[0] = '\0';
	if (len > WEFTD_CONFIG_MAX_BYTES) {
		if (c.errlen)
			snprintf(err, errlen, "%s: file too large (%zu bytes, at most %u)", c.name, len,
				 WEFTD_CONFIG_MAX_BYTES);
		return -EFBIG;
	}
	if (!(c.cfg = calloc(1, sizeof(*c.cfg))) || !(c.cfg->mem = calloc(1, sizeof(*c.cfg->mem)))) {
		free(c.cfg);
		return oom(&c);
	}
	daemon_defaults(&c.cfg->daemon);
	r = load_document(&c, buf ? buf : "", len, &doc);
	if (r < 0) {
		weftd_config_free(c.cfg);
		return r;
	}
	c.doc = &doc;
	c.nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
	c.seen = calloc(c.nnodes + 2, 1);
	r = c.seen ? parse_root(&c) : oom(&c);
	free(c.seen);
	yaml_document_delete(&doc);
	if (r < 0) {
		weftd_config_free(c.cfg);
		return r;
	}
	*ret = c.cfg;
	return 0;
}

/* Read the whole file, refusing more than WEFTD_CONFIG_MAX_BYTES. */
static int read_file(const char *path, char **ret_buf, size_t *ret_len)
{
	size_t cap = WEFTD_CONFIG_MAX_BYTES + 1, len = 0;
	char *buf;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (!(buf = malloc(cap))) {
		close(fd);
		return -ENOMEM;
	}
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r == 0 && len > WEFTD_CONFIG_MAX_BYTES)
		r = -EFBIG;
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int weftd_config_load(const char *path, struct weftd_config **ret, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (!path || !ret)
		return -EINVAL;
	r = read_file(path, &buf, &len);
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path,
				 r == -EFBIG ? "file too large (at most 1 MiB)" : strerror(-r));
		return r;
	}
	r = weftd_config_parse(buf, len, path, ret, err, errlen);
	free(buf);
	return r;
}

struct weftd_config *weftd_config_free(struct weftd_config *c)
{
	if (!c)
		return NULL;
	if (c->mem) {
		for (struct blk *b = c->mem->head, *next; b; b = next) {
			next = b->next;
			free(b);
		}
		free(c->mem);
	}
	free(c);
	return NULL;
}

const struct weftd_pipeline *weftd_config_pipeline(const struct weftd_config *c, const char *name)
{
	if (!c || !name)
		return NULL;
	for (size_t i = 0; i < c->npipelines; i++)
		if (strcmp(c->pipelines[i].name, name) == 0)
			return &c->pipelines[i];
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool stage_equal(const struct weftd_stage *a, const struct weftd_stage *b)
{
	if (!str_eq(a->name, b->name) || a->action != b->action || a->argc != b->argc ||
	    !str_eq(a->builtin, b->builtin) || !str_eq(a->plugin_path, b->plugin_path) ||
	    !str_eq(a->plugin_symbol, b->plugin_symbol) || a->nparams != b->nparams ||
	    a->workers != b->workers || a->queue != b->queue || a->timeout_ns != b->timeout_ns ||
	    a->kill_grace_ns != b->kill_grace_ns ||
	    a->heartbeat_timeout_ns != b->heartbeat_timeout_ns)
		return false;
	if (a->retry.attempts != b->retry.attempts || a->retry.initial_ns != b->retry.initial_ns ||
	    a->retry.max_ns != b->retry.max_ns || a->retry.multiplier != b->retry.multiplier ||
	    a->retry.jitter != b->retry.jitter)
		return false;
	if (a->rate_limit.count != b->rate_limit.count || a->rate_limit.per_ns != b->rate_limit.per_ns ||
	    a->rate_limit.burst != b->rate_limit.burst)
		return false;
	for (size_t i = 0; i < a->argc; i++)
		if (!str_eq(a->argv[i], b->argv[i]))
			return false;
	for (size_t i = 0; i < a->nparams; i++)
		if (!str_eq(a->params[i].key, b->params[i].key) ||
		    !str_eq(a->params[i].value, b->params[i].value))
			return false;
	return true;
}

bool weftd_pipeline_equal(const struct weftd_pipeline *a, const struct weftd_pipeline *b)
{
	if (!a || !b)
		return a == b;
	if (!str_eq(a->name, b->name) || a->nstages != b->nstages)
		return false;
	for (size_t i = 0; i < a->nstages; i++)
		if (!stage_equal(&a->stages[i], &b->stages[i]))
			return false;
	return true;
}
