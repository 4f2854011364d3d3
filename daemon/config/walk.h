/* SPDX-License-Identifier: MIT */
/* The config loader's YAML walker, private to daemon/config/: the parse state, the
 * allocation arena a config owns, errors that name FILE:LINE:COLUMN and the key path,
 * table-driven mappings and the scalar value parsers (scalars.c).
 *
 * Every function returning int returns 0 or a negative errno: -EINVAL after recording
 * the error message (only the first error is kept: later ones are consequences), -ENOMEM
 * after recording "out of memory". Nothing here blocks (daemon_section.c's user and group
 * names go through NSS, which may). */
#ifndef WEFTD_CONFIG_WALK_H
#define WEFTD_CONFIG_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "config/config.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CFG_MAX_DUR   ((uint64_t)INT64_MAX)  /* durations are stored as int64-safe ns */
/* A value quoted in an error message is cut to this many bytes. */
#define CFG_QUOTE(len) ((int)((len) > 80 ? 80 : (len)))

/* One parse: owned by weftd_config_parse(), lives for the call only. */
struct pctx {
	const char *name;          /* FILE in error messages */
	yaml_document_t *doc;
	struct weftd_config *cfg;  /* being built; its arena owns every allocation */
	uint8_t *seen;             /* per node: walked already (alias) */
	size_t nnodes;
	char *err;
	size_t errlen;
	char path[512];            /* key path of the node being walked */
	size_t plen;
};

/* ---- the arena (walk.c) ------------------------------------------------------------ */

/* Create cfg's empty arena. Returns 0 or -ENOMEM (nothing recorded). */
int cfg_mem_new(struct weftd_config *cfg);
/* Free cfg's arena and everything allocated from it; a NULL arena is fine. */
void cfg_mem_free(struct weftd_config *cfg);
/* Zeroed memory owned by the config being built; NULL when out of memory (the caller
 * reports it with cfg_oom()). */
void *cfg_alloc(struct pctx *c, size_t size);
/* A NUL-terminated copy of len bytes at s, owned by the config; NULL when out of memory. */
char *cfg_strdup(struct pctx *c, const char *s, size_t len);

/* ---- errors and the key path (walk.c) ---------------------------------------------- */

/* Position of n, 1-based. */
struct weftd_mark cfg_mark(const yaml_node_t *n);
/* Record "FILE:LINE:COL: PATH: message" at n unless an error is recorded already.
 * Returns -EINVAL. */
__attribute__((format(printf, 3, 4)))
int cfg_fail(struct pctx *c, const yaml_node_t *n, const char *fmt, ...);
/* Record "FILE: out of memory" unless an error is recorded already. Returns -ENOMEM. */
int cfg_oom(struct pctx *c);
/* Cross-field error reported at key's value in map (or at map when the key is absent),
 * with key appended to the path. Returns -EINVAL. */
int cfg_fail_at_key(struct pctx *c, yaml_node_t *map, const char *key, const char *msg);
/* Append ".key" (or "key" at the root) / "[i]" to the key path; return the old length
 * for cfg_path_pop(). A path that would overflow is cut, never overrun. */
size_t cfg_path_key(struct pctx *c, const char *key);
size_t cfg_path_index(struct pctx *c, size_t i);
void cfg_path_pop(struct pctx *c, size_t old);

/* ---- nodes (walk.c) ---------------------------------------------------------------- */

/* Node idx, a child of parent. Fails on a broken document and on a node reached twice:
 * that came through an alias, which configs may not use (keeps the walk linear). */
int cfg_node(struct pctx *c, int idx, const yaml_node_t *parent, yaml_node_t **ret);
/* Fails ("expected a list, got a scalar") unless n is of type t. */
int cfg_want_type(struct pctx *c, const yaml_node_t *n, yaml_node_type_t t);
/* n is a list of min..max entries; *ret_count gets its length. */
int cfg_want_list(struct pctx *c, yaml_node_t *n, size_t min, size_t max, size_t *ret_count);
/* The value node of key in map, without marking it walked; NULL when absent. */
yaml_node_t *cfg_map_find(struct pctx *c, yaml_node_t *map, const char *key);

/* ---- table-driven mappings (walk.c) ------------------------------------------------ */

enum cfg_ftype { F_STR, F_NAME, F_U32, F_DUR, F_SIZE, F_ENUM, F_FN };

/* One key of a mapping: how its value is parsed and where it is stored in the object. */
struct cfg_field {
	const char *key;
	enum cfg_ftype type;
	size_t off;                 /* into the object */
	uint64_t min, max;          /* F_U32, F_DUR, F_SIZE */
	const char *const *names;   /* F_ENUM, NULL-terminated */
	const int *values;          /* F_ENUM, optional */
	int (*fn)(struct pctx *c, yaml_node_t *n, void *obj); /* F_FN: gets the whole object */
};

/* Walk mapping map into obj: every key must be in fields[] (at most 64), at most once;
 * each value is parsed by its field. Stops at the first error. */
int cfg_walk_map(struct pctx *c, yaml_node_t *map, const struct cfg_field *fields, size_t nf,
		 void *obj);

/* ---- scalar values (scalars.c) ------------------------------------------------------ */

/* n's text, which must be a scalar without NUL bytes; *s is not NUL-terminated by
 * contract (libyaml happens to terminate it). */
int cfg_scalar(struct pctx *c, const yaml_node_t *n, const char **s, size_t *len);
/* A string owned by the config; nonempty refuses "". */
int cfg_str(struct pctx *c, const yaml_node_t *n, const char **ret, bool nonempty);
/* True when s is a valid pipeline/stage/param name: 1..WEFTD_MAX_NAME of [A-Za-z0-9_.-]. */
bool cfg_valid_name(const char *s, size_t len);
/* A name (see cfg_valid_name) owned by the config. */
int cfg_name(struct pctx *c, const yaml_node_t *n, const char **ret);
/* A decimal integer in [min, max]. */
int cfg_uint(struct pctx *c, const yaml_node_t *n, uint64_t min, uint64_t max, uint64_t *ret);
/* A duration ("250ms", "1m30s") in [min, max] ns. */
int cfg_duration(struct pctx *c, const yaml_node_t *n, uint64_t min, uint64_t max, uint64_t *ret);
/* A size ("64KiB") in [min, max] bytes. */
int cfg_size(struct pctx *c, const yaml_node_t *n, uint64_t min, uint64_t max, uint64_t *ret);
/* One of names[] (NULL-terminated); stores values[i], or i when values is NULL. */
int cfg_enum(struct pctx *c, const yaml_node_t *n, const char *const *names,
	     const int *values, int *ret);
/* true/false/yes/no/on/off. */
int cfg_bool(struct pctx *c, const yaml_node_t *n, bool *ret);

#endif
