/* SPDX-License-Identifier: MIT */
/* The config's public entry points: read the file, load exactly one YAML document into
 * libyaml's node tree, walk its root (daemon: in daemon_section.c, pipelines: in
 * pipelines.c) and hand the caller a config that owns its memory (walk.c's arena).
 * weftd_pipeline_equal() is in equal.c. */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/defaults.h"
#include "config/sections.h"
#include "config/validate.h"
#include "config/walk.h"

static int parse_root(struct pctx *c)
{
	static const struct cfg_field f[] = {
		{ "daemon", F_FN, 0, 0, 0, 0, 0, cfg_daemon_section },
		{ "pipelines", F_FN, 0, 0, 0, 0, 0, cfg_pipelines_section },
	};
	yaml_node_t *root = yaml_document_get_root_node(c->doc);
	yaml_node_t dummy = { .type = YAML_SCALAR_NODE };
	int r;

	if (!root)
		return cfg_fail(c, &dummy, "empty config (a \"pipelines:\" section is required)");
	c->seen[1] = 1;
	r = cfg_walk_map(c, root, f, ARRAY_SIZE(f), c->cfg);
	if (r == 0)
		r = cfg_check_root(c, root, c->cfg);
	return r;
}

static int yaml_fail(struct pctx *c, yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return cfg_oom(c);
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
		return cfg_oom(c);
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
			r = cfg_fail(c, n, "only one YAML document is allowed");
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
	if (!(c.cfg = calloc(1, sizeof(*c.cfg))) || cfg_mem_new(c.cfg) < 0) {
		free(c.cfg);
		return cfg_oom(&c);
	}
	cfg_daemon_defaults(&c.cfg->daemon);
	if (!(c.cfg->name = cfg_strdup(&c, c.name, strlen(c.name)))) {
		weftd_config_free(c.cfg);
		return cfg_oom(&c);
	}
	r = load_document(&c, buf ? buf : "", len, &doc);
	if (r < 0) {
		weftd_config_free(c.cfg);
		return r;
	}
	c.doc = &doc;
	c.nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
	c.seen = calloc(c.nnodes + 2, 1);
	r = c.seen ? parse_root(&c) : cfg_oom(&c);
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
	cfg_mem_free(c);
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

