/* actor.c — one face for the three stage actions: dispatch by action and the
 * helpers every action shares (params, error texts, output ownership). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions/actor_impl.h"

int weftd_actor_new(const struct weftd_stage *cfg, struct weftd_actor **ret, char *err, size_t errlen)
{
	struct weftd_actor *a;
	int r;

	if (errlen)
		err[0] = '\0';
	if (!cfg || !ret)
		return -EINVAL;
	if (!(a = calloc(1, sizeof(*a)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->cfg = cfg;
	a->action = cfg->action;
	switch (cfg->action) {
	case WEFTD_ACTION_BUILTIN: r = weftd_builtin_init(a, err, errlen); break;
	case WEFTD_ACTION_EXEC:    r = weftd_exec_init(a, err, errlen); break;
	case WEFTD_ACTION_PLUGIN:  r = weftd_plugin_init(a, err, errlen); break;
	default:
		snprintf(err, errlen, "unknown stage action %d", (int)cfg->action);
		r = -EINVAL;
	}
	if (r < 0) {
		weftd_actor_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

int weftd_actor_run(struct weftd_actor *a, struct weftd_attempt *at)
{
	if (!a || !at)
		return -EINVAL;
	at->out = NULL;
	at->out_len = 0;
	at->log = NULL;
	at->log_len = 0;
	at->error[0] = '\0';
	if (!weft_self())
		return weftd_attempt_fail(at, -EPERM, "not running in a fiber");
	int r = weft_ctx_err(at->ctx);
	if (r < 0)
		return weftd_attempt_ctx_fail(a, at, r);
	switch (a->action) {
	case WEFTD_ACTION_BUILTIN: r = a->builtin(a, at); break;
	case WEFTD_ACTION_EXEC:    r = weftd_exec_run(a, at); break;
	case WEFTD_ACTION_PLUGIN:  r = weftd_plugin_run(a, at); break;
	default:                   r = weftd_attempt_fail(at, -EINVAL, "bad action");
	}
	if (r < 0) {
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
	return a && a->action == WEFTD_ACTION_BUILTIN && a->instant;
}

struct weftd_actor *weftd_actor_free(struct weftd_actor *a)
{
	if (!a)
		return NULL;
	if (a->action == WEFTD_ACTION_EXEC)
		weftd_exec_done(a);
	else if (a->action == WEFTD_ACTION_PLUGIN)
		weftd_plugin_done(a);
	free(a);
	return NULL;
}

const char *weftd_actor_param(const struct weftd_stage *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->nparams; i++)
		if (strcmp(cfg->params[i].key, key) == 0)
			return cfg->params[i].value;
	return NULL;
}

int weftd_attempt_fail(struct weftd_attempt *at, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(at->error, sizeof(at->error), fmt, ap);
	va_end(ap);
	return r;
}

int weftd_attempt_ctx_fail(const struct weftd_actor *a, struct weftd_attempt *at, int r)
{
	char d[32];

	if (r == -ETIMEDOUT && a->cfg->timeout_ns) {
		weftd_format_duration(a->cfg->timeout_ns, d, sizeof(d));
		return weftd_attempt_fail(at, r, "timed out after %s", d);
	}
	if (r == -ETIMEDOUT)
		return weftd_attempt_fail(at, r, "timed out");
	if (r == -ECANCELED)
		return weftd_attempt_fail(at, r, "canceled");
	return weftd_attempt_fail(at, r, "stopped: %s", strerror(-r));
}

int weftd_attempt_output(struct weftd_attempt *at, const void *p, size_t len)
{
	if (at->in_movable && p == at->in && len == at->in_len && at->in) {
		at->out = (char *)at->in; /* ownership moves from the caller's in to out */
		at->out_len = len;
		at->in_movable = false;
		return 0;
	}
	if (!(at->out = malloc(len + 1)))
		return weftd_attempt_fail(at, -ENOMEM, "out of memory (%zu-byte output)", len);
	if (len)
		memcpy(at->out, p, len);
	at->out[len] = '\0';
	at->out_len = len;
	return 0;
}
