/* SPDX-License-Identifier: MIT */
/* Comparing pipelines for reload: a pipeline equal to its old self keeps running
 * untouched. Every setting that changes how a stage runs takes part; file positions
 * do not. */
#include "config/config.h"

#include <string.h>

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
	    a->kill_grace_ns != b->kill_grace_ns || a->max_output != b->max_output ||
	    a->kill_group_on_exit != b->kill_group_on_exit ||
	    a->heartbeat_timeout_ns != b->heartbeat_timeout_ns)
		return false;
	if (a->retry.attempts != b->retry.attempts || a->retry.initial_ns != b->retry.initial_ns ||
	    a->retry.max_ns != b->retry.max_ns || a->retry.multiplier != b->retry.multiplier ||
	    a->retry.jitter != b->retry.jitter ||
	    memcmp(a->retry.permanent_exit_codes, b->retry.permanent_exit_codes,
		   sizeof(a->retry.permanent_exit_codes)) != 0)
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
	if (!str_eq(a->name, b->name) || a->nstages != b->nstages || !str_eq(a->broker, b->broker))
		return false;
	for (size_t i = 0; i < a->nstages; i++)
		if (!stage_equal(&a->stages[i], &b->stages[i]))
			return false;
	return true;
}
