/* SPDX-License-Identifier: MIT */
/* attempt.c — see attempt.h. */
#include "actions/attempt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int weftd_attempt_fail(struct weftd_attempt *at, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(at->error, sizeof(at->error), fmt, ap);
	va_end(ap);
	return r;
}

int weftd_attempt_ctx_fail(struct weftd_attempt *at, int r, uint64_t timeout_ns)
{
	char d[32];

	if (r == -ETIMEDOUT && timeout_ns) {
		weftd_format_duration(timeout_ns, d, sizeof(d));
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
	if (at->in_keep && p == at->in && len == at->in_len && at->in) {
		at->out = (char *)at->in; /* an alias the caller recognises: nothing to free */
		at->out_len = len;
		return 0;
	}
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

void weftd_attempt_output_take(struct weftd_attempt *at, char *buf, size_t len)
{
	if (!at->in_keep || at->out != at->in) /* an alias of in_keep's is not ours */
		free(at->out);
	at->out = buf;
	at->out_len = len;
}

char *weftd_attempt_output_buffer(struct weftd_attempt *at, size_t len)
{
	char *p = len < SIZE_MAX ? malloc(len + 1) : NULL;

	if (!p)
		return NULL;
	p[len] = '\0';
	weftd_attempt_output_take(at, p, len);
	return p;
}

void weftd_attempt_log(struct weftd_attempt *at, const void *p, size_t len)
{
	size_t n = len < WEFTD_ACTOR_LOG_TAIL ? len : WEFTD_ACTOR_LOG_TAIL;

	if (!n || !(at->log = malloc(n + 1)))
		return;
	memcpy(at->log, (const char *)p + len - n, n);
	at->log[n] = '\0';
	at->log_len = n;
}

const char *weftd_stage_param(const struct weftd_stage *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->nparams; i++)
		if (strcmp(cfg->params[i].key, key) == 0)
			return cfg->params[i].value;
	return NULL;
}
