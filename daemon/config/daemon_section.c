/* SPDX-License-Identifier: MIT */
/* The daemon: section: the socket, scheduler threads, limits, access control (users and
 * groups resolved at load), heartbeats, durability, retention, logging and the
 * HTTP listener (http.c). */
#include "config/sections.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "config/validate.h"

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
	r = cfg_uint(c, n, 1, WEFTD_MAX_PROCS, &v);
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
	int r = cfg_scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len && v <= 07777; i++) {
		if (s[i] < '0' || s[i] > '7')
			return cfg_fail(c, n, "invalid file mode \"%.*s\" (octal, e.g. \"0660\")",
					CFG_QUOTE(len), s);
		v = v * 8 + (uint32_t)(s[i] - '0');
	}
	if (len == 0 || v > 07777)
		return cfg_fail(c, n, "invalid file mode \"%.*s\" (octal, e.g. \"0660\")",
				CFG_QUOTE(len), s);
	d->socket_mode = v;
	return 0;
}

/* Look up a user or group name through NSS; false when it does not exist (or NSS fails). */
static bool id_lookup(const char *name, bool group, uint32_t *ret)
{
	char buf[16384];

	if (group) {
		struct group gr, *res = NULL;
		if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
			return false;
		*ret = gr.gr_gid;
	} else {
		struct passwd pw, *res = NULL;
		if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
			return false;
		*ret = pw.pw_uid;
	}
	return true;
}

/* A user or group given by number or name; names are resolved through NSS now, so a typo
 * fails the load instead of silently locking everyone out. */
static int id_value(struct pctx *c, yaml_node_t *n, bool group, uint32_t *ret)
{
	const char *s;
	size_t len;
	int r = cfg_scalar(c, n, &s, &len);
	if (r < 0)
		return r;
	if (len && s[0] >= '0' && s[0] <= '9') {
		uint64_t v;
		r = cfg_uint(c, n, 0, UINT32_MAX - 1, &v);
		*ret = (uint32_t)v;
		return r;
	}
	if (!id_lookup(s, group, ret) || !cfg_valid_name(s, len))
		return cfg_fail(c, n, "cannot resolve %s \"%.*s\"", group ? "group" : "user",
				CFG_QUOTE(len), s);
	return 0;
}

static int id_list(struct pctx *c, yaml_node_t *n, bool group, const uint32_t **ret, size_t *ret_n)
{
	size_t cnt;
	uint32_t *ids;
	int r = cfg_want_list(c, n, 0, WEFTD_MAX_ALLOW, &cnt);
	if (r < 0)
		return r;
	if (!(ids = cfg_alloc(c, (cnt + 1) * sizeof(*ids))))
		return cfg_oom(c);
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *item;
		size_t old = cfg_path_index(c, i);
		if ((r = cfg_node(c, n->data.sequence.items.start[i], n, &item)) == 0)
			r = id_value(c, item, group, &ids[i]);
		cfg_path_pop(c, old);
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

static int fn_admin_uids(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = obj;
	return id_list(c, n, false, (const uint32_t **)&d->admin_uids, &d->nadmin_uids);
}

static int fn_admin_groups(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = obj;
	return id_list(c, n, true, (const uint32_t **)&d->admin_gids, &d->nadmin_gids);
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
	r = cfg_bool(c, n, &on);
	if (r == 0)
		d->watchdog = on ? WEFTD_WATCHDOG_ON : WEFTD_WATCHDOG_OFF;
	return r;
}

static int fn_retention(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct cfg_field f[] = {
		{ "count", F_U32, offsetof(struct weftd_retention, count), 0, UINT32_MAX, 0, 0, 0 },
		{ "age", F_DUR, offsetof(struct weftd_retention, age_ns), 0, CFG_MAX_DUR, 0, 0, 0 },
		{ "bytes", F_SIZE, offsetof(struct weftd_retention, bytes), 0, UINT64_MAX, 0, 0, 0 },
	};
	return cfg_walk_map(c, n, f, ARRAY_SIZE(f), &((struct weftd_daemon_config *)obj)->retention);
}

static const char *const durability_names[] = { "none", "batch", "fsync", NULL };
static const char *const log_names[] = { "err", "warning", "notice", "info", "debug", NULL };
static const int log_values[] = { WEFTD_LOG_ERR, WEFTD_LOG_WARNING, WEFTD_LOG_NOTICE,
				  WEFTD_LOG_INFO, WEFTD_LOG_DEBUG };

static const struct cfg_field daemon_fields[] = {
	{ "socket", F_STR, DOFF(socket), 0, 0, 0, 0, 0 },
	{ "socket_mode", F_FN, 0, 0, 0, 0, 0, fn_socket_mode },
	{ "procs", F_FN, 0, 0, 0, 0, 0, fn_procs },
	{ "max_connections", F_U32, DOFF(max_connections), 1, 1u << 20, 0, 0, 0 },
	{ "max_request_bytes", F_SIZE, DOFF(max_request_bytes), 64, 1ULL << 30, 0, 0, 0 },
	{ "max_response_bytes", F_SIZE, DOFF(max_response_bytes), 4096, 1ULL << 34, 0, 0, 0 },
	{ "max_connections_per_uid", F_U32, DOFF(max_connections_per_uid), 0, 1u << 20, 0, 0, 0 },
	{ "idle_timeout", F_DUR, DOFF(idle_timeout_ns), 0, CFG_MAX_DUR, 0, 0, 0 },
	{ "request_timeout", F_DUR, DOFF(request_timeout_ns), 0, CFG_MAX_DUR, 0, 0, 0 },
	{ "shutdown_timeout", F_DUR, DOFF(shutdown_timeout_ns), 0, CFG_MAX_DUR, 0, 0, 0 },
	{ "allow_uids", F_FN, 0, 0, 0, 0, 0, fn_allow_uids },
	{ "allow_groups", F_FN, 0, 0, 0, 0, 0, fn_allow_groups },
	{ "admin_uids", F_FN, 0, 0, 0, 0, 0, fn_admin_uids },
	{ "admin_groups", F_FN, 0, 0, 0, 0, 0, fn_admin_groups },
	{ "heartbeat_interval", F_DUR, DOFF(heartbeat_interval_ns), WEFTD_NSEC_PER_MSEC, CFG_MAX_DUR, 0, 0, 0 },
	{ "heartbeat_timeout", F_DUR, DOFF(heartbeat_timeout_ns), WEFTD_NSEC_PER_MSEC, CFG_MAX_DUR, 0, 0, 0 },
	{ "watchdog", F_FN, 0, 0, 0, 0, 0, fn_watchdog },
	{ "durability", F_ENUM, DOFF(durability), 0, 0, durability_names, 0, 0 },
	{ "state_dir", F_STR, DOFF(state_dir), 0, 0, 0, 0, 0 },
	{ "retention", F_FN, 0, 0, 0, 0, 0, fn_retention },
	{ "log_level", F_ENUM, DOFF(log_level), 0, 0, log_names, log_values, 0 },
	{ "http", F_FN, 0, 0, 0, 0, 0, cfg_http_section },
	{ "brokers", F_FN, 0, 0, 0, 0, 0, cfg_brokers_section },
};

int cfg_daemon_section(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = &c->cfg->daemon;
	int r = cfg_walk_map(c, n, daemon_fields, ARRAY_SIZE(daemon_fields), d);

	if (r == 0)
		r = cfg_check_daemon(c, n, d);
	return r;
}
