/* SPDX-License-Identifier: MIT */
/* The YAML walker: the config's allocation arena, errors with FILE:LINE:COLUMN and the
 * key path, node access (aliases refused) and table-driven mappings. The loader reads the
 * whole file into libyaml's node tree first (config.c), so every error can point at its
 * node and a walk can look ahead (list lengths, sibling keys) without a state machine. */
#include "config/walk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

/* Every allocation of a config hangs off one list, so freeing (also a half-built config
 * after an error) is a single walk and the structs can expose const pointers. */
struct blk {
	SLIST_ENTRY(blk) link;
	max_align_t data[];
};
struct weftd_config_mem {
	SLIST_HEAD(, blk) blocks;
};

int cfg_mem_new(struct weftd_config *cfg)
{
	cfg->mem = calloc(1, sizeof(*cfg->mem));
	if (!cfg->mem)
		return -ENOMEM;
	SLIST_INIT(&cfg->mem->blocks);
	return 0;
}

void cfg_mem_free(struct weftd_config *cfg)
{
	struct blk *b;

	if (!cfg->mem)
		return;
	while ((b = SLIST_FIRST(&cfg->mem->blocks))) {
		SLIST_REMOVE_HEAD(&cfg->mem->blocks, link);
		free(b);
	}
	free(cfg->mem);
	cfg->mem = NULL;
}

void *cfg_alloc(struct pctx *c, size_t size)
{
	struct blk *b = calloc(1, sizeof(*b) + size);
	if (!b)
		return NULL;
	SLIST_INSERT_HEAD(&c->cfg->mem->blocks, b, link);
	return b->data;
}

char *cfg_strdup(struct pctx *c, const char *s, size_t len)
{
	char *p = cfg_alloc(c, len + 1);
	if (p)
		memcpy(p, s, len);
	return p;
}

/* ---- errors and the key path ------------------------------------------------------- */

struct weftd_mark cfg_mark(const yaml_node_t *n)
{
	return (struct weftd_mark){ (unsigned)n->start_mark.line + 1, (unsigned)n->start_mark.column + 1 };
}

int cfg_fail(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int off;

	if (!c->errlen || c->err[0])
		return -EINVAL;
	off = snprintf(c->err, c->errlen, "%s:%u:%u: %s: ", c->name, cfg_mark(n).line,
		       cfg_mark(n).column, c->plen ? c->path : "(root)");
	if (off >= 0 && (size_t)off < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + off, c->errlen - (size_t)off, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int cfg_oom(struct pctx *c)
{
	if (c->errlen && !c->err[0])
		snprintf(c->err, c->errlen, "%s: out of memory", c->name);
	return -ENOMEM;
}

size_t cfg_path_key(struct pctx *c, const char *key)
{
	size_t old = c->plen;
	int w = snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old ? "." : "", key);
	c->plen = w < 0 || (size_t)w >= sizeof(c->path) - old ? sizeof(c->path) - 1 : old + (size_t)w;
	return old;
}

size_t cfg_path_index(struct pctx *c, size_t i)
{
	size_t old = c->plen;
	int w = snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);
	c->plen = w < 0 || (size_t)w >= sizeof(c->path) - old ? sizeof(c->path) - 1 : old + (size_t)w;
	return old;
}

void cfg_path_pop(struct pctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

int cfg_fail_at_key(struct pctx *c, yaml_node_t *map, const char *key, const char *msg)
{
	yaml_node_t *n = cfg_map_find(c, map, key);
	size_t old = cfg_path_key(c, key);
	int r = cfg_fail(c, n ? n : map, "%s", msg);
	cfg_path_pop(c, old);
	return r;
}

/* ---- nodes ------------------------------------------------------------------------- */

int cfg_node(struct pctx *c, int idx, const yaml_node_t *parent, yaml_node_t **ret)
{
	yaml_node_t *n = yaml_document_get_node(c->doc, idx);
	if (!n)
		return cfg_fail(c, parent, "broken YAML document");
	if (c->seen[idx]++)
		return cfg_fail(c, n, "YAML aliases are not supported");
	*ret = n;
	return 0;
}

static const char *node_kind(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "a mapping" :
	       n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

int cfg_want_type(struct pctx *c, const yaml_node_t *n, yaml_node_type_t t)
{
	static const char *const names[] = {
		[YAML_SCALAR_NODE] = "a scalar", [YAML_SEQUENCE_NODE] = "a list",
		[YAML_MAPPING_NODE] = "a mapping",
	};
	if (n->type != t)
		return cfg_fail(c, n, "expected %s, got %s", names[t], node_kind(n));
	return 0;
}

int cfg_want_list(struct pctx *c, yaml_node_t *n, size_t min, size_t max, size_t *ret_count)
{
	int r = cfg_want_type(c, n, YAML_SEQUENCE_NODE);
	if (r < 0)
		return r;
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt < min)
		return cfg_fail(c, n, min == 1 ? "must not be empty" : "needs at least %zu entries", min);
	if (cnt > max)
		return cfg_fail(c, n, "too many entries (%zu, at most %zu)", cnt, max);
	*ret_count = cnt;
	return 0;
}

yaml_node_t *cfg_map_find(struct pctx *c, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
		    memcmp(k->data.scalar.value, key, strlen(key)) == 0)
			return yaml_document_get_node(c->doc, p->value);
	}
	return NULL;
}

/* ---- table-driven mappings --------------------------------------------------------- */

static int set_field(struct pctx *c, const struct cfg_field *f, yaml_node_t *n, void *obj)
{
	char *p = (char *)obj + f->off;
	uint64_t v;
	int r;

	switch (f->type) {
	case F_STR:  return cfg_str(c, n, (const char **)p, true);
	case F_NAME: return cfg_name(c, n, (const char **)p);
	case F_U32:
		r = cfg_uint(c, n, f->min, f->max, &v);
		if (r == 0)
			*(uint32_t *)p = (uint32_t)v;
		return r;
	case F_DUR:  return cfg_duration(c, n, f->min, f->max, (uint64_t *)p);
	case F_SIZE: return cfg_size(c, n, f->min, f->max, (uint64_t *)p);
	case F_ENUM: return cfg_enum(c, n, f->names, f->values, (int *)p);
	case F_FN:   return f->fn(c, n, obj);
	}
	return -EINVAL;
}

int cfg_walk_map(struct pctx *c, yaml_node_t *map, const struct cfg_field *fields, size_t nf,
		 void *obj)
{
	uint64_t seen = 0;
	int r = cfg_want_type(c, map, YAML_MAPPING_NODE);

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     r == 0 && p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k, *v;
		const char *key;
		size_t klen, i;

		if ((r = cfg_node(c, p->key, map, &k)) < 0 || (r = cfg_scalar(c, k, &key, &klen)) < 0)
			break;
		for (i = 0; i < nf; i++)
			if (strlen(fields[i].key) == klen && memcmp(fields[i].key, key, klen) == 0)
				break;
		size_t old = cfg_path_key(c, i < nf ? fields[i].key : key);
		if (i == nf)
			r = cfg_fail(c, k, "unknown key");
		else if (seen & (1ULL << i))
			r = cfg_fail(c, k, "duplicate key");
		else if ((r = cfg_node(c, p->value, map, &v)) == 0)
			r = set_field(c, &fields[i], v, obj);
		seen |= 1ULL << (i & 63);
		cfg_path_pop(c, old);
	}
	return r;
}
