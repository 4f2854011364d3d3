/* actor.h — what a stage does to one attempt of a job: the common face of
 * the exec, builtin and plugin actions. The pipeline engine prepares one
 * actor per stage and runs attempts on it from its worker fibers. */
#ifndef WEFTD_ACTOR_H
#define WEFTD_ACTOR_H

#include <stddef.h>
#include <stdint.h>
#include <weft/weft.h>

#include "config.h"

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
	/* out: set by the actor */
	char *out;                     /* malloc'd output payload, owned by the caller after */
	size_t out_len;
	char *log;                     /* malloc'd tail of stderr (exec), or NULL */
	size_t log_len;
	char error[256];               /* failure reason when run returns < 0 */
};

struct weftd_actor;

/* Prepare an actor for cfg (resolve builtin, dlopen plugin, check argv[0]).
 * Returns 0, or -EINVAL/-ENOENT... with err filled. Not on a hot path. */
int weftd_actor_new(const struct weftd_stage *cfg, struct weftd_actor **ret, char *err, size_t errlen);
/* Run one attempt (fiber only; parks while the action waits). Returns 0 on
 * success (at->out set), or a negative errno with at->error set: the ctx's
 * error when it was cancelled or timed out, -EIO for a failed command... */
int weftd_actor_run(struct weftd_actor *a, struct weftd_attempt *at);
struct weftd_actor *weftd_actor_free(struct weftd_actor *a);

#endif
