/* SPDX-License-Identifier: MIT */
/* daemon.brokers and a pipeline's broker: (config.h: struct weftd_broker_config): the
 * Redis servers that broker-backed pipelines share between weftd nodes (broker/broker.h).
 * The URL is checked at load so that a typo fails --check-config, not the start. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config/sections.h"

static int parse_uint(const char *s, size_t n, unsigned max, unsigned *ret)
{
	unsigned long v = 0;

	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int weftd_broker_url_parse(const char *url, char *out, size_t len, bool *ret_unix,
			   unsigned *ret_port, unsigned *ret_db)
{
	const char *rest, *end;
	size_t n;

	if (!url || !out || len == 0)
		return -EINVAL;
	*ret_db = 0;
	*ret_port = 0;
	if (strncmp(url, "unix://", 7) == 0) {
		rest = url + 7;
		if (rest[0] != '/')
			return -EINVAL; /* an absolute path: unix:///run/redis/redis.sock */
		end = strchr(rest, '?');
		n = end ? (size_t)(end - rest) : strlen(rest);
		if (n >= len || n >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return -EINVAL;
		if (end && (strncmp(end, "?db=", 4) != 0 || parse_uint(end + 4, strlen(end + 4), 65535, ret_db) < 0))
			return -EINVAL;
		memcpy(out, rest, n);
		out[n] = 0;
		*ret_unix = true;
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return -EINVAL;
	rest = url + 8;
	const char *colon = strchr(rest, ':'), *slash = strchr(rest, '/');
	if (slash && colon && colon > slash)
		colon = NULL;
	end = colon ? colon : slash ? slash : rest + strlen(rest);
	n = (size_t)(end - rest);
	if (n == 0 || n >= len)
		return -EINVAL;
	memcpy(out, rest, n);
	out[n] = 0;
	*ret_port = 6379;
	if (colon) {
		const char *pe = slash ? slash : colon + strlen(colon);
		if (parse_uint(colon + 1, (size_t)(pe - colon - 1), 65535, ret_port) < 0 || *ret_port == 0)
			return -EINVAL;
	}
	if (slash && slash[1] && parse_uint(slash + 1, strlen(slash + 1), 65535, ret_db) < 0)
		return -EINVAL;
	*ret_unix = false;
	return 0;
}

static int fn_redis(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_broker_config *b = obj;
	char buf[256];
	bool ux;
	unsigned port, db;
	int r = cfg_str(c, n, &b->redis, true);

	if (r < 0)
		return r;
	if (weftd_broker_url_parse(b->redis, buf, sizeof(buf), &ux, &port, &db) < 0)
		return cfg_fail(c, n, "invalid redis URL \"%s\" (\"unix:///path/redis.sock\" or \"redis://host:6379/0\")",
				b->redis);
	return 0;
}

static int parse_broker(struct pctx *c, yaml_node_t *k, yaml_node_t *v, struct weftd_broker_config *b)
{
	static const struct cfg_field f[] = {
		{ "redis", F_FN, 0, 0, 0, 0, 0, fn_redis },
		{ "password_file", F_STR, offsetof(struct weftd_broker_config, password_file), 0, 0, 0, 0, 0 },
	};
	int r = cfg_name(c, k, &b->name);

	b->mark = cfg_mark(k);
	if (r == 0)
		r = cfg_walk_map(c, v, f, ARRAY_SIZE(f), b);
	if (r == 0 && !b->redis)
		return cfg_fail(c, v, "missing required key \"redis\"");
	return r;
}

int cfg_brokers_section(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_daemon_config *d = obj ? obj : &c->cfg->daemon;
	struct weftd_broker_config *bs;
	size_t cnt;
	int r = cfg_want_type(c, n, YAML_MAPPING_NODE);

	if (r < 0)
		return r;
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (cnt > WEFTD_MAX_BROKERS)
		return cfg_fail(c, n, "too many brokers (%zu, at most %d)", cnt, WEFTD_MAX_BROKERS);
	if (cnt && !(bs = cfg_alloc(c, cnt * sizeof(*bs))))
		return cfg_oom(c);
	if (!cnt)
		return 0;
	d->brokers = bs;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *k, *v;
		if ((r = cfg_node(c, n->data.mapping.pairs.start[i].key, n, &k)) < 0)
			break;
		size_t old = cfg_path_key(c, k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?");
		if ((r = cfg_node(c, n->data.mapping.pairs.start[i].value, n, &v)) == 0)
			r = parse_broker(c, k, v, &bs[i]);
		for (size_t j = 0; r == 0 && j < i; j++)
			if (strcmp(bs[j].name, bs[i].name) == 0)
				r = cfg_fail(c, k, "duplicate broker \"%s\"", bs[i].name);
		cfg_path_pop(c, old);
		d->nbrokers = i + 1;
	}
	return r;
}

int cfg_pipeline_broker(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_pipeline *p = obj;

	p->broker_mark = cfg_mark(n);
	return cfg_name(c, n, &p->broker);
}

int cfg_check_brokers(struct pctx *c, const struct weftd_config *cfg)
{
	for (size_t i = 0; i < cfg->npipelines; i++) {
		const struct weftd_pipeline *p = &cfg->pipelines[i];
		bool found = false;
		if (!p->broker)
			continue;
		for (size_t k = 0; k < cfg->daemon.nbrokers && !found; k++)
			found = strcmp(cfg->daemon.brokers[k].name, p->broker) == 0;
		if (!found) {
			/* the pipeline's broker: key, wherever daemon: came in the file */
			yaml_node_t at = { .type = YAML_SCALAR_NODE };
			at.start_mark.line = p->broker_mark.line - 1;
			at.start_mark.column = p->broker_mark.column - 1;
			size_t o1 = cfg_path_key(c, "pipelines");
			cfg_path_key(c, p->name);
			cfg_path_key(c, "broker");
			int r = cfg_fail(c, &at, "no broker \"%s\" in daemon.brokers", p->broker);
			cfg_path_pop(c, o1);
			return r;
		}
	}
	return 0;
}
