/* SPDX-License-Identifier: MIT */
/* The pipelines: section: named pipelines in file order, each a list of stages; a stage
 * is a worker pool with one action (exec, builtin or plugin) and its policies
 * (policies.c). */
#include "config/sections.h"

#include <string.h>

#include "config/defaults.h"
#include "config/validate.h"

#define SOFF(f) offsetof(struct weftd_stage, f)

/* A stage being built: the stage must stay first so SOFF() offsets and the policy
 * parsers (which take a struct weftd_stage *) apply to it. */
struct stage_build {
	struct weftd_stage s;
	int nactions;
	yaml_node_t *params;       /* to refuse params on exec stages */
};

/* Refused at the second action's node, where the reader's mistake is. */
static int one_action(struct pctx *c, yaml_node_t *n, struct stage_build *b, enum weftd_action a)
{
	if (b->nactions++)
		return cfg_fail(c, n, "a stage has exactly one of exec, builtin or plugin");
	b->s.action = a;
	return 0;
}

static int fn_exec(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct stage_build *b = obj;
	const char **argv;
	size_t cnt;
	int r = one_action(c, n, b, WEFTD_ACTION_EXEC);

	if (r < 0 || (r = cfg_want_list(c, n, 1, WEFTD_MAX_ARGV, &cnt)) < 0)
		return r;
	if (!(argv = cfg_alloc(c, (cnt + 1) * sizeof(*argv))))
		return cfg_oom(c);
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *item;
		size_t old = cfg_path_index(c, i);
		if ((r = cfg_node(c, n->data.sequence.items.start[i], n, &item)) == 0)
			r = cfg_str(c, item, &argv[i], i == 0);
		cfg_path_pop(c, old);
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

	if (r < 0 || (r = cfg_scalar(c, n, &s, &len)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(builtins); i++)
		if (strlen(builtins[i]) == len && memcmp(builtins[i], s, len) == 0)
			return cfg_str(c, n, &b->s.builtin, true);
	return cfg_fail(c, n, "unknown builtin \"%.*s\" (known: noop, echo, upper, sha256, sleep, fail)",
			CFG_QUOTE(len), s);
}

static int fn_plugin(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct cfg_field f[] = {
		{ "path", F_STR, SOFF(plugin_path), 0, 0, 0, 0, 0 },
		{ "symbol", F_STR, SOFF(plugin_symbol), 0, 0, 0, 0, 0 },
	};
	struct stage_build *b = obj;
	int r = one_action(c, n, b, WEFTD_ACTION_PLUGIN);

	if (r == 0)
		r = cfg_walk_map(c, n, f, ARRAY_SIZE(f), &b->s);
	if (r == 0)
		r = cfg_check_plugin(c, n, &b->s);
	return r;
}

/* Free-form "key: value" strings handed to the builtin or plugin; keys are names. */
static int fn_params(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct stage_build *b = obj;
	struct weftd_param *ps;
	size_t cnt;
	int r = cfg_want_type(c, n, YAML_MAPPING_NODE);

	if (r < 0)
		return r;
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (cnt > WEFTD_MAX_PARAMS)
		return cfg_fail(c, n, "too many params (%zu, at most %d)", cnt, WEFTD_MAX_PARAMS);
	if (!(ps = cfg_alloc(c, (cnt + 1) * sizeof(*ps))))
		return cfg_oom(c);
	b->params = n;
	b->s.params = ps;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *k, *v;
		if ((r = cfg_node(c, n->data.mapping.pairs.start[i].key, n, &k)) < 0 ||
		    (r = cfg_name(c, k, &ps[i].key)) < 0)
			break;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ps[j].key, ps[i].key) == 0)
				return cfg_fail(c, k, "duplicate key \"%s\"", ps[i].key);
		size_t old = cfg_path_key(c, ps[i].key);
		if ((r = cfg_node(c, n->data.mapping.pairs.start[i].value, n, &v)) == 0)
			r = cfg_str(c, v, &ps[i].value, false);
		cfg_path_pop(c, old);
		b->s.nparams = i + 1;
	}
	return r;
}

static int fn_kill_group(struct pctx *c, yaml_node_t *n, void *obj)
{
	return cfg_bool(c, n, &((struct stage_build *)obj)->s.kill_group_on_exit);
}

static const struct cfg_field stage_fields[] = {
	{ "name", F_NAME, SOFF(name), 0, 0, 0, 0, 0 },
	{ "exec", F_FN, 0, 0, 0, 0, 0, fn_exec },
	{ "builtin", F_FN, 0, 0, 0, 0, 0, fn_builtin },
	{ "plugin", F_FN, 0, 0, 0, 0, 0, fn_plugin },
	{ "params", F_FN, 0, 0, 0, 0, 0, fn_params },
	{ "workers", F_U32, SOFF(workers), 1, WEFTD_MAX_WORKERS, 0, 0, 0 },
	{ "queue", F_U32, SOFF(queue), 1, WEFTD_MAX_QUEUE, 0, 0, 0 },
	{ "timeout", F_DUR, SOFF(timeout_ns), 0, CFG_MAX_DUR, 0, 0, 0 },
	{ "retry", F_FN, 0, 0, 0, 0, 0, cfg_retry_section },
	{ "rate_limit", F_FN, 0, 0, 0, 0, 0, cfg_rate_limit_section },
	{ "kill_grace", F_DUR, SOFF(kill_grace_ns), 0, CFG_MAX_DUR, 0, 0, 0 },
	{ "kill_group_on_exit", F_FN, 0, 0, 0, 0, 0, fn_kill_group },
	{ "heartbeat_timeout", F_DUR, SOFF(heartbeat_timeout_ns), WEFTD_NSEC_PER_MSEC, CFG_MAX_DUR, 0, 0, 0 },
	{ "max_output", F_SIZE, SOFF(max_output), 1, 1u << 30, 0, 0, 0 },
};

static int parse_stage(struct pctx *c, yaml_node_t *n, struct weftd_stage *out)
{
	struct stage_build b = { .nactions = 0 };
	int r;

	cfg_stage_defaults(&b.s);
	b.s.mark = cfg_mark(n);
	r = cfg_walk_map(c, n, stage_fields, ARRAY_SIZE(stage_fields), &b);
	if (r == 0)
		r = cfg_check_stage(c, n, &b.s, b.nactions, b.params != NULL);
	if (r == 0)
		cfg_stage_derived_defaults(&b.s);
	*out = b.s;
	return r;
}

static int fn_stages(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_pipeline *p = obj;
	struct weftd_stage *st;
	size_t cnt;
	int r = cfg_want_list(c, n, 1, WEFTD_MAX_STAGES, &cnt);

	if (r < 0)
		return r;
	if (!(st = cfg_alloc(c, cnt * sizeof(*st))))
		return cfg_oom(c);
	p->stages = st;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *item;
		size_t old = cfg_path_index(c, i);
		if ((r = cfg_node(c, n->data.sequence.items.start[i], n, &item)) == 0)
			r = parse_stage(c, item, &st[i]);
		if (r == 0)
			r = cfg_check_stage_unique(c, item, st, i);
		cfg_path_pop(c, old);
		p->nstages = i + 1;
	}
	return r;
}

/* k is the pipeline's name node, v its mapping. */
static int parse_pipeline(struct pctx *c, yaml_node_t *k, yaml_node_t *v, struct weftd_pipeline *p)
{
	static const struct cfg_field f[] = {
		{ "stages", F_FN, 0, 0, 0, 0, 0, fn_stages },
		{ "schedule", F_FN, 0, 0, 0, 0, 0, cfg_schedule_section },
		{ "broker", F_FN, 0, 0, 0, 0, 0, cfg_pipeline_broker },
	};
	int r = cfg_name(c, k, &p->name);

	p->mark = cfg_mark(k);
	if (r == 0)
		r = cfg_walk_map(c, v, f, ARRAY_SIZE(f), p);
	if (r == 0)
		r = cfg_check_pipeline(c, v, p);
	return r;
}

int cfg_pipelines_section(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_pipeline *ps;
	size_t cnt;
	int r = cfg_want_type(c, n, YAML_MAPPING_NODE);

	if (r < 0)
		return r;
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (cnt == 0)
		return cfg_fail(c, n, "at least one pipeline is required");
	if (cnt > WEFTD_MAX_PIPELINES)
		return cfg_fail(c, n, "too many pipelines (%zu, at most %d)", cnt, WEFTD_MAX_PIPELINES);
	if (!(ps = cfg_alloc(c, cnt * sizeof(*ps))))
		return cfg_oom(c);
	c->cfg->pipelines = ps;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *k, *v;
		if ((r = cfg_node(c, n->data.mapping.pairs.start[i].key, n, &k)) < 0)
			break;
		size_t old = cfg_path_key(c, k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?");
		if ((r = cfg_node(c, n->data.mapping.pairs.start[i].value, n, &v)) == 0)
			r = parse_pipeline(c, k, v, &ps[i]);
		if (r == 0)
			r = cfg_check_pipeline_unique(c, k, ps, i);
		cfg_path_pop(c, old);
		c->cfg->npipelines = i + 1;
	}
	return r;
}
