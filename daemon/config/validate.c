/* SPDX-License-Identifier: MIT */
/* The rules between keys. Each runs once the mapping it checks was walked, so the value
 * it reports on is parsed already and the error still names the key and its position. */
#include "config/validate.h"
#include "config/sections.h"

#include <string.h>

int cfg_check_daemon(struct pctx *c, yaml_node_t *n, const struct weftd_daemon_config *d)
{
	if (d->heartbeat_timeout_ns <= d->heartbeat_interval_ns)
		return cfg_fail_at_key(c, n, "heartbeat_timeout", "must be longer than heartbeat_interval");
	return 0;
}

int cfg_check_retry(struct pctx *c, yaml_node_t *n, const struct weftd_retry *rt)
{
	if (rt->max_ns < rt->initial_ns)
		return cfg_fail_at_key(c, n, "max", "must not be shorter than initial");
	return 0;
}

int cfg_check_rate_limit(struct pctx *c, yaml_node_t *n, const struct weftd_rate_limit *rl)
{
	if (rl->count == 0)
		return cfg_fail(c, n, "missing required key \"rate\"");
	return 0;
}

int cfg_check_plugin(struct pctx *c, yaml_node_t *n, const struct weftd_stage *s)
{
	if (!s->plugin_path)
		return cfg_fail(c, n, "missing required key \"path\"");
	return 0;
}

int cfg_check_stage(struct pctx *c, yaml_node_t *n, const struct weftd_stage *s,
		    int nactions, bool has_params)
{
	if (!s->name)
		return cfg_fail(c, n, "missing required key \"name\"");
	if (nactions == 0)
		return cfg_fail(c, n, "one of exec, builtin or plugin is required");
	if (has_params && s->action == WEFTD_ACTION_EXEC)
		return cfg_fail_at_key(c, n, "params", "params apply to builtin and plugin stages only");
	const uint64_t *pc = s->retry.permanent_exit_codes;
	if (s->action != WEFTD_ACTION_EXEC && (pc[0] | pc[1] | pc[2] | pc[3]))
		return cfg_fail_at_key(c, n, "retry",
				       "permanent_exit_codes apply to exec stages only (a plugin "
				       "returns -WEFTD_PLUGIN_EPERMANENT)");
	return 0;
}

int cfg_check_stage_unique(struct pctx *c, yaml_node_t *item, const struct weftd_stage *stages,
			   size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(stages[j].name, stages[i].name) == 0)
			return cfg_fail_at_key(c, item, "name", "duplicate stage name");
	return 0;
}

int cfg_check_pipeline(struct pctx *c, yaml_node_t *v, const struct weftd_pipeline *p)
{
	if (p->nstages == 0)
		return cfg_fail(c, v, "missing required key \"stages\"");
	return 0;
}

int cfg_check_pipeline_unique(struct pctx *c, yaml_node_t *key,
			      const struct weftd_pipeline *pipelines, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(pipelines[j].name, pipelines[i].name) == 0)
			return cfg_fail(c, key, "duplicate pipeline name");
	return 0;
}

int cfg_check_root(struct pctx *c, yaml_node_t *root, const struct weftd_config *cfg)
{
	if (cfg->npipelines == 0)
		return cfg_fail(c, root, "missing required key \"pipelines\"");
	return cfg_check_brokers(c, cfg);
}
