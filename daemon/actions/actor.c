/* SPDX-License-Identifier: MIT */
/* actor.c — one face for the stage actions: the ops table for the stage's
 * action kind, its private state, and what every run does around the action
 * (out fields cleared, a done ctx refused, the output dropped on failure). */
#include "actions/actor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions/action.h"

struct weftd_actor {
	const struct weftd_action_ops *ops;
	void *state;                    /* the action's, from ops->init */
	const struct weftd_stage *cfg;  /* borrowed: outlives the actor */
	bool instant;                   /* see weftd_actor_instant, asked once */
};

static const struct weftd_action_ops *const actions[] = {
	[WEFTD_ACTION_EXEC] = &weftd_action_exec,
	[WEFTD_ACTION_BUILTIN] = &weftd_action_builtin,
	[WEFTD_ACTION_PLUGIN] = &weftd_action_plugin,
};

int weftd_actor_new(const struct weftd_stage *cfg, struct weftd_actor **ret, char *err, size_t errlen)
{
	const struct weftd_action_ops *ops = NULL;
	struct weftd_actor *a;
	int r;

	if (errlen)
		err[0] = '\0';
	if (!cfg || !ret)
		return -EINVAL;
	if ((unsigned)cfg->action < sizeof(actions) / sizeof(actions[0]))
		ops = actions[cfg->action];
	if (!ops) {
		snprintf(err, errlen, "unknown stage action %d", (int)cfg->action);
		return -EINVAL;
	}
	if (!(a = calloc(1, sizeof(*a)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->cfg = cfg;
	if ((r = ops->init(cfg, &a->state, err, errlen)) < 0) {
		free(a);
		return r;
	}
	a->ops = ops;
	a->instant = ops->instant && ops->instant(a->state);
	*ret = a;
	return 0;
}

int weftd_actor_new_at(const struct weftd_config *c, const struct weftd_pipeline *p, size_t i,
		       struct weftd_actor **ret, char *err, size_t errlen)
{
	const struct weftd_stage *s = &p->stages[i];
	char aerr[512] = "";
	int r = weftd_actor_new(s, ret, aerr, sizeof(aerr));

	if (r < 0 && !aerr[0]) /* the actions' own errors begin with "stage S: " */
		snprintf(aerr, sizeof(aerr), "stage %s: %s", s->name, strerror(-r));
	if (r < 0)
		snprintf(err, errlen, "%s:%u:%u: pipeline %s: %s", c->name ? c->name : "<config>",
			 s->mark.line, s->mark.column, p->name, aerr);
	return r;
}

int weftd_actor_check_config(const struct weftd_config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->npipelines; i++)
		for (size_t k = 0; k < c->pipelines[i].nstages; k++) {
			struct weftd_actor *a;
			int r = weftd_actor_new_at(c, &c->pipelines[i], k, &a, err, errlen);
			if (r < 0)
				return r;
			weftd_actor_free(a);
		}
	return 0;
}

int weftd_actor_run(struct weftd_actor *a, struct weftd_attempt *at)
{
	if (!a || !at)
		return -EINVAL;
	weftd_attempt_reset(at);
	if (!weft_self())
		return weftd_attempt_fail(at, -EPERM, "not running in a fiber");
	int r = weft_ctx_err(at->ctx);
	if (r < 0)
		return weftd_attempt_ctx_fail(at, r, a->cfg->timeout_ns);
	at->max_output = a->cfg->max_output ? (size_t)a->cfg->max_output : WEFTD_MAX_OUTPUT_DEFAULT;
	r = a->ops->run(a->state, at);
	if (r == 0 && at->out_len > at->max_output) /* exec stops reading at the limit itself */
		r = weftd_attempt_fail(at, -EFBIG, "output of %zu bytes exceeds the stage's "
				       "max_output of %zu bytes", at->out_len, at->max_output);
	if (r < 0) {
		if (!at->in_keep || at->out != at->in) /* an alias of in_keep's is not ours */
			free(at->out);
		at->out = NULL;
		at->out_len = 0;
		if (!at->error[0])
			snprintf(at->error, sizeof(at->error), "%s", strerror(-r));
	}
	return r;
}

bool weftd_actor_instant(const struct weftd_actor *a)
{
	return a && a->instant;
}

struct weftd_actor *weftd_actor_free(struct weftd_actor *a)
{
	if (!a)
		return NULL;
	a->ops->done(a->state);
	free(a);
	return NULL;
}
