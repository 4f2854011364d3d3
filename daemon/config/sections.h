/* SPDX-License-Identifier: MIT */
/* The parsers of the config's sections, private to daemon/config/: each is a cfg_field
 * F_FN (see walk.h) that walks one mapping into the config being built. They return 0 or
 * a negative errno with the error recorded in the parse context. */
#ifndef WEFTD_CONFIG_SECTIONS_H
#define WEFTD_CONFIG_SECTIONS_H

#include "config/walk.h"

/* daemon: into c->cfg->daemon (obj unused). Resolves allow_uids/allow_groups names
 * through NSS, so it may block. daemon_section.c */
int cfg_daemon_section(struct pctx *c, yaml_node_t *n, void *obj);
/* daemon.http: into obj's (a struct weftd_daemon_config) http. http.c */
int cfg_http_section(struct pctx *c, yaml_node_t *n, void *obj);
/* daemon.brokers: into obj's (a struct weftd_daemon_config) brokers; a pipeline's
 * broker: (obj a struct weftd_pipeline); and the cross-check that every pipeline's broker
 * is configured (from cfg_check_root). brokers.c */
int cfg_brokers_section(struct pctx *c, yaml_node_t *n, void *obj);
int cfg_pipeline_broker(struct pctx *c, yaml_node_t *n, void *obj);
int cfg_check_brokers(struct pctx *c, const struct weftd_config *cfg);

/* pipelines: into c->cfg->pipelines (obj unused): every pipeline, its stages and each
 * stage's action. pipelines.c */
int cfg_pipelines_section(struct pctx *c, yaml_node_t *n, void *obj);

/* A stage's retry: and rate_limit: mappings; obj is the struct weftd_stage being built.
 * policies.c */
int cfg_retry_section(struct pctx *c, yaml_node_t *n, void *obj);
int cfg_rate_limit_section(struct pctx *c, yaml_node_t *n, void *obj);

/* A pipeline's schedule: list; obj is the struct weftd_pipeline being built. Reads each
 * entry's time zone file (blocking file I/O). schedule.c */
int cfg_schedule_section(struct pctx *c, yaml_node_t *n, void *obj);

#endif
