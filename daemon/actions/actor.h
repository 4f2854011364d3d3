/* SPDX-License-Identifier: MIT */
/* actor.h — what a stage does to one attempt of a job: the common face of
 * the exec, builtin and plugin actions. The pipeline engine prepares one
 * actor per stage and runs attempts on it from its worker fibers; the actor
 * calls the action's ops table (action.h) for the stage's action kind. */
#ifndef WEFTD_ACTOR_H
#define WEFTD_ACTOR_H

#include <stdbool.h>

#include "actions/attempt.h" /* struct weftd_attempt, the output limits */
#include "config/config.h"

struct weftd_actor;

/* Prepare an actor for cfg (resolve builtin, dlopen plugin, check argv[0]).
 * Returns 0, or -EINVAL/-ENOENT... with err filled. Not on a hot path.
 * cfg (and the config owning it) must outlive the actor. Blocking file system
 * calls (PATH search, dlopen): call before weft_run or through weft_blocking.
 * An exec actor sets SIGPIPE to SIG_IGN when it is SIG_DFL (the stdin writer
 * must get EPIPE, not die, when a child exits without reading its input);
 * children start with every signal at its default and an empty mask.
 * Builtin params (unknown params are config errors):
 *   echo   text      output this instead of the input
 *   sleep  duration  how long (default 1s); output = input
 *          beat      false: never beat (a stuck attempt, for heartbeat tests)
 *   fail   message   the error text; times: N fails attempts 1..N only, then
 *                    succeeds with output = input (default: every attempt) */
int weftd_actor_new(const struct weftd_stage *cfg, struct weftd_actor **ret, char *err, size_t errlen);
/* weftd_actor_new for stage i of pipeline p in config c, with err as "FILE:LINE:COL:
 * pipeline P: stage S: why" (the stage's position in c's file). Start and reload prepare
 * stages through this. */
int weftd_actor_new_at(const struct weftd_config *c, const struct weftd_pipeline *p, size_t i,
		       struct weftd_actor **ret, char *err, size_t errlen);
/* What start and reload check beyond loading c: every stage's actor can be prepared
 * (builtin and plugin params, the exec program found in PATH, the plugin opened, its ABI
 * and symbol found); each is freed again. Returns 0, or the first failure's negative
 * errno with err as weftd_actor_new_at's. Blocking (PATH search, dlopen). For
 * weftd --check-config. */
int weftd_actor_check_config(const struct weftd_config *c, char *err, size_t errlen);
/* Run one attempt (fiber only; parks while the action waits). Returns 0 on
 * success (at->out set), or a negative errno with at->error set: the ctx's
 * error when it was cancelled or timed out, -EIO for a failed command...
 * On success at->out is non-NULL (at least a 1-byte allocation even
 * for an empty output); on failure at->out is NULL. at->log may be set either
 * way (exec: the last 4 KiB of stderr). Errors: -ETIMEDOUT "timed out after
 * 10s", -ECANCELED "canceled" (or ctx's own error), -EIO "exit status 3" /
 * "killed by signal 9" / a builtin's or plugin's failure, -EFBIG output over
 * the stage's max_output (any action), -ENOMEM, or spawn's errno. The actor may be run
 * from many fibers at once. */
int weftd_actor_run(struct weftd_actor *a, struct weftd_attempt *at);
/* True when every attempt runs to its end without parking and never reads at->ctx
 * (builtin noop and echo): the engine then needs no attempt ctx or heartbeat watch. */
bool weftd_actor_instant(const struct weftd_actor *a);
/* Free an actor (NULL is fine; dlcloses a plugin); returns NULL. No attempt
 * may be running on it. */
struct weftd_actor *weftd_actor_free(struct weftd_actor *a);

#endif
