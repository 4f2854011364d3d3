/* SPDX-License-Identifier: MIT */
/* The config's rules between keys, private to daemon/config/: required keys, one key
 * bounded by another, unique names. A rule on one value alone (a range, an enum) is in
 * that key's cfg_field instead. Each check runs after the mapping it names was walked
 * without error, returns 0 or -EINVAL, and reports at the node the message is about. */
#ifndef WEFTD_CONFIG_VALIDATE_H
#define WEFTD_CONFIG_VALIDATE_H

#include <stdbool.h>

#include "config/walk.h"

/* daemon: n is its mapping. heartbeat_timeout > heartbeat_interval. */
int cfg_check_daemon(struct pctx *c, yaml_node_t *n, const struct weftd_daemon_config *d);

/* retry: n is its mapping. max >= initial. */
int cfg_check_retry(struct pctx *c, yaml_node_t *n, const struct weftd_retry *rt);

/* rate_limit: n is its mapping. rate is required. */
int cfg_check_rate_limit(struct pctx *c, yaml_node_t *n, const struct weftd_rate_limit *rl);

/* plugin: n is its mapping. path is required. */
int cfg_check_plugin(struct pctx *c, yaml_node_t *n, const struct weftd_stage *s);

/* A stage, n its mapping: name is required, one action is required (nactions: how many
 * were given; more than one is refused while walking), params only with builtin/plugin
 * (has_params: the stage has a params: key). */
int cfg_check_stage(struct pctx *c, yaml_node_t *n, const struct weftd_stage *s,
		    int nactions, bool has_params);

/* stages[i] (mapping item) against the stages before it: names are unique. */
int cfg_check_stage_unique(struct pctx *c, yaml_node_t *item, const struct weftd_stage *stages,
			   size_t i);

/* A pipeline, v its mapping: stages is required. */
int cfg_check_pipeline(struct pctx *c, yaml_node_t *v, const struct weftd_pipeline *p);

/* pipelines[i] (key its name node) against the pipelines before it: names are unique. */
int cfg_check_pipeline_unique(struct pctx *c, yaml_node_t *key,
			      const struct weftd_pipeline *pipelines, size_t i);

/* The whole file, root its mapping: pipelines is required. */
int cfg_check_root(struct pctx *c, yaml_node_t *root, const struct weftd_config *cfg);

#endif
