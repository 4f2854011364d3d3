/* SPDX-License-Identifier: MIT */
/* plugin.c — the plugin action: a stage function from a shared object (the
 * ABI is weftd_plugin.h), called in the worker's fiber once per attempt. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actions/action.h"
#include "actions/weftd_plugin.h"

/* One stage's plugin: the loaded object and its stage function. */
struct pstate {
	const struct weftd_stage *cfg;  /* borrowed: outlives the state */
	void *dl;                       /* dlopen handle */
	weftd_stage_fn *fn;
};

static void plugin_done(void *state)
{
	struct pstate *s = state;

	if (!s)
		return;
	if (s->dl)
		dlclose(s->dl);
	free(s);
}

/* dlopen cfg's object into s, check its ABI and find the stage function. */
static int plugin_load(struct pstate *s, char *err, size_t errlen)
{
	const struct weftd_stage *cfg = s->cfg;
	const char *sym = cfg->plugin_symbol ? cfg->plugin_symbol : "weftd_stage";
	const uint32_t *abi;
	char path[4096];

	if (!cfg->plugin_path || !*cfg->plugin_path) {
		snprintf(err, errlen, "stage %s: plugin: no path", cfg->name);
		return -EINVAL;
	}
	/* a bare name is a file here, not a library search */
	snprintf(path, sizeof(path), "%s%s", strchr(cfg->plugin_path, '/') ? "" : "./", cfg->plugin_path);
	if (access(path, R_OK) < 0) {
		int e = errno;
		snprintf(err, errlen, "stage %s: plugin %s: %s", cfg->name, path, strerror(e));
		return -e;
	}
	if (!(s->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		const char *why = dlerror();
		snprintf(err, errlen, "stage %s: plugin: %s", cfg->name, why ? why : path);
		return -EINVAL;
	}
	if (!(abi = dlsym(s->dl, "weftd_plugin_abi"))) {
		snprintf(err, errlen, "stage %s: plugin %s: not a weftd plugin (no weftd_plugin_abi)",
			 cfg->name, path);
		return -EINVAL;
	}
	if (*abi != WEFTD_PLUGIN_ABI) {
		snprintf(err, errlen, "stage %s: plugin %s: ABI %u, weftd speaks ABI %u",
			 cfg->name, path, (unsigned)*abi, (unsigned)WEFTD_PLUGIN_ABI);
		return -EINVAL;
	}
	if (!(s->fn = (weftd_stage_fn *)dlsym(s->dl, sym))) {
		snprintf(err, errlen, "stage %s: plugin %s: no symbol \"%s\"", cfg->name, path, sym);
		return -ENOENT;
	}
	return 0;
}

static int plugin_init(const struct weftd_stage *cfg, void **ret_state, char *err, size_t errlen)
{
	struct pstate *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		snprintf(err, errlen, "stage %s: out of memory", cfg->name);
		return -ENOMEM;
	}
	s->cfg = cfg;
	if ((r = plugin_load(s, err, errlen)) < 0) {
		plugin_done(s);
		return r;
	}
	*ret_state = s;
	return 0;
}

/* weftd_private points at this for the callbacks */
struct call_priv {
	const struct pstate *s;
	struct weftd_attempt *at;
};

static struct weftd_attempt *attempt_of(const struct weftd_plugin_call *call)
{
	return ((struct call_priv *)call->weftd_private)->at;
}

static const char *cb_param(const struct weftd_plugin_call *call, const char *key)
{
	return key ? weftd_stage_param(((struct call_priv *)call->weftd_private)->s->cfg, key) : NULL;
}

static void cb_beat(const struct weftd_plugin_call *call)
{
	weftd_attempt_beat(attempt_of(call));
}

static char *cb_output_buffer(struct weftd_plugin_call *call, size_t len)
{
	return weftd_attempt_output_buffer(attempt_of(call), len);
}

static int cb_set_output(struct weftd_plugin_call *call, const void *data, size_t len)
{
	char *p = cb_output_buffer(call, len);

	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p, data, len);
	return 0;
}

static void cb_set_error(struct weftd_plugin_call *call, const char *fmt, ...)
{
	struct weftd_attempt *at = attempt_of(call);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(at->error, sizeof(at->error), fmt, ap);
	va_end(ap);
}

static int plugin_run(const void *state, struct weftd_attempt *at)
{
	const struct pstate *s = state;
	struct call_priv priv = { s, at };
	struct weftd_plugin_call call = {
		.abi = WEFTD_PLUGIN_ABI, .attempt = at->attempt, .ctx = at->ctx,
		.job_id = at->job_id, .pipeline = at->pipeline, .stage = s->cfg->name,
		.in = at->in, .in_len = at->in_len,
		.param = cb_param, .beat = cb_beat, .set_output = cb_set_output,
		.output_buffer = cb_output_buffer, .set_error = cb_set_error,
		.weftd_private = &priv,
	};
	int r = s->fn(&call);

	if (r > 0)
		return weftd_attempt_fail(at, -EIO, "plugin returned %d (want 0 or a negative errno)", r);
	if (r == -WEFTD_PLUGIN_EPERMANENT) { /* no retry: the job fails at once */
		at->permanent = true;
		if (!at->error[0])
			weftd_attempt_fail(at, r, "plugin failed permanently");
		return r;
	}
	if (r < 0) {
		int e = weft_ctx_err(at->ctx);
		if (!at->error[0] && e < 0 && r == e)
			return weftd_attempt_ctx_fail(at, r, s->cfg->timeout_ns);
		if (!at->error[0])
			weftd_attempt_fail(at, r, "plugin failed: %s", strerror(-r));
		return r;
	}
	at->error[0] = '\0';
	if (!at->out && !weftd_attempt_output_buffer(at, 0))
		return weftd_attempt_fail(at, -ENOMEM, "out of memory");
	return 0;
}

const struct weftd_action_ops weftd_action_plugin = {
	.name = "plugin",
	.init = plugin_init,
	.run = plugin_run,
	.done = plugin_done,
};
