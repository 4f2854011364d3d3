/* SPDX-License-Identifier: MIT */
/* attempt.h — one attempt of a job at a stage, as every action sees it: the
 * input, the output it hands back, the heartbeat hook, the log tail and the
 * failure text; and the helpers the actions share to fill them in, so that
 * exec, builtin and plugin report outputs and errors the same way. */
#ifndef WEFTD_ATTEMPT_H
#define WEFTD_ATTEMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/weft.h>

#include "config/config.h"

struct weftd_keeper;

struct weftd_attempt {
	/* in */
	weft_ctx *ctx;                 /* done on timeout, cancel, heartbeat loss, shutdown */
	const char *job_id;
	const char *pipeline;
	unsigned attempt;              /* 1-based */
	const void *in;                /* input payload (not owned) */
	size_t in_len;
	void (*beat)(void *beat_arg);  /* call while working (long actions): heartbeat */
	void *beat_arg;
	struct weftd_keeper *keeper;   /* optional: exec registers its children there (keeper.h) */
	size_t max_output;             /* set by weftd_actor_run: the stage's max_output */
	bool in_movable;               /* optional: in is a malloc'd buffer the action may take as
	                                  its output (noop, echo without text): it then sets out =
	                                  in and clears in_movable; while in_movable is still set
	                                  after run the caller owns in. Default false: a copy. */
	bool in_keep;                  /* optional: in stays valid and unchanged as long as the
	                                  caller's job (its payload): an action passing it on
	                                  unchanged may set out = in without a copy; the caller
	                                  then sees out == in and must not free it */
	/* out: set by the action */
	char *out;                     /* malloc'd output payload, owned by the caller after */
	size_t out_len;
	char *log;                     /* malloc'd tail of stderr (exec), or NULL */
	size_t log_len;
	char error[256];               /* failure reason when run returns < 0 */
	bool permanent;                /* with a failure: retrying cannot help (an exec exit code
	                                  in retry.permanent_exit_codes, a plugin's
	                                  -WEFTD_PLUGIN_EPERMANENT): the job fails at once */
};

#define WEFTD_ACTOR_LOG_TAIL   4096u       /* exec stderr bytes kept */

/* Clear the out fields before a run (inline: every job's path). */
static inline void weftd_attempt_reset(struct weftd_attempt *at)
{
	at->out = NULL;
	at->out_len = 0;
	at->log = NULL;
	at->log_len = 0;
	at->error[0] = '\0';
	at->permanent = false;
}

/* printf into at->error; returns r (a negative errno), for "return weftd_attempt_fail(...)". */
int weftd_attempt_fail(struct weftd_attempt *at, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* at->error for a done ctx ("timed out after 10s" with the stage's timeout_ns, 0 =
 * none; "canceled"; "stopped: ..."); returns r, the ctx's error. */
int weftd_attempt_ctx_fail(struct weftd_attempt *at, int r, uint64_t timeout_ns);

/* Set at->out to a malloc'd, NUL-terminated copy of len bytes at p, or move at->in
 * there when p is at->in and in_movable allows it (no allocation: the noop path).
 * Returns 0 or -ENOMEM (at->error set). */
int weftd_attempt_output(struct weftd_attempt *at, const void *p, size_t len);

/* Hand buf (malloc'd, len bytes followed by a NUL) to at->out, freeing an earlier
 * output. Never fails; the attempt owns buf afterwards. */
void weftd_attempt_output_take(struct weftd_attempt *at, char *buf, size_t len);

/* Replace at->out with a new buffer of len bytes plus a NUL, for the action to fill.
 * Returns it, or NULL (out of memory; at->out unchanged). */
char *weftd_attempt_output_buffer(struct weftd_attempt *at, size_t len);

/* Set at->log to a malloc'd copy of the last WEFTD_ACTOR_LOG_TAIL bytes of the len
 * bytes at p (nothing for len 0, or when out of memory: a log is best effort). */
void weftd_attempt_log(struct weftd_attempt *at, const void *p, size_t len);

/* The heartbeat: long actions call it while they work. Cheap; no-op without a hook. */
static inline void weftd_attempt_beat(struct weftd_attempt *at)
{
	if (at->beat)
		at->beat(at->beat_arg);
}

/* The value of the stage param key (params: in the config), or NULL. */
const char *weftd_stage_param(const struct weftd_stage *cfg, const char *key);

#endif
