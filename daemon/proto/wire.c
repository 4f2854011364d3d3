/* SPDX-License-Identifier: MIT */
/* The protocol's names: one table per enum, looked up both ways. */
#include "proto/wire.h"

#include <errno.h>
#include <string.h>

static const char *const op_names[WEFTD_OP__MAX] = {
	"submit", "status", "wait", "cancel", "list", "stats", "pipelines", "ping", "reload", "drain",
	"pause", "resume", "undrain", "retry", "purge", "metrics",
	"schedules",
	"profile",
	"nodes",
	"trace",
};
static const char *const err_names[WEFTD_ERR__MAX] = {
	"none", "bad_json", "too_large", "unknown_op", "missing_field", "bad_field",
	"unknown_pipeline", "unknown_job", "busy", "draining", "forbidden", "internal",
	"unsupported", "invalid_config",
	"unavailable", "conflict",
};
static const char *const state_names[WEFTD_JOB__MAX] = {
	"queued", "running", "retrying", "done", "failed", "canceled", "scheduled", "expired",
};

const char *weftd_op_name(enum weftd_op op)
{
	return (unsigned)op < WEFTD_OP__MAX ? op_names[op] : NULL;
}

const char *weftd_err_name(enum weftd_err e)
{
	return (unsigned)e < WEFTD_ERR__MAX ? err_names[e] : NULL;
}

const char *weftd_job_state_name(enum weftd_job_state s)
{
	return (unsigned)s < WEFTD_JOB__MAX ? state_names[s] : NULL;
}

static int lookup(const char *const *names, int n, const char *s, size_t len)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -EINVAL;
}

int weftd_op_parse(const char *s, size_t len, enum weftd_op *ret)
{
	int i = ret ? lookup(op_names, WEFTD_OP__MAX, s, len) : -EINVAL;
	if (i < 0)
		return i;
	*ret = (enum weftd_op)i;
	return 0;
}

int weftd_job_state_parse(const char *s, size_t len, enum weftd_job_state *ret)
{
	int i = ret ? lookup(state_names, WEFTD_JOB__MAX, s, len) : -EINVAL;
	if (i < 0)
		return i;
	*ret = (enum weftd_job_state)i;
	return 0;
}

int weftd_profile_kind_parse(const char *s, size_t n, char *ret)
{
	static const char *const kinds[] = { "cpu", "heap", "fibers", "block", "mutex" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (n == strlen(kinds[i]) && memcmp(s, kinds[i], n) == 0) {
			memcpy(ret, kinds[i], n + 1);
			return 0;
		}
	return -EINVAL;
}
