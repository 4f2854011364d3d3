/* SPDX-License-Identifier: MIT */
/* action.h — what one kind of stage action provides: an ops table. Each action
 * (exec.c, builtin.c, plugin.c) keeps its state private behind a void pointer and
 * exports one const table; the actor (actor.c) picks the table by the stage's
 * action kind and calls through it. Private to daemon/actions/. */
#ifndef WEFTD_ACTION_H
#define WEFTD_ACTION_H

#include <stdbool.h>
#include <stddef.h>

#include "actions/attempt.h"
#include "config/config.h"

struct weftd_action_ops {
	const char *name;  /* "exec", "builtin", "plugin": the config's word */
	/* Check cfg and prepare the action's private state once (resolve argv[0], find a
	 * builtin and parse its params, dlopen a plugin). Returns 0 with *ret_state set
	 * (NULL is a valid state), or a negative errno with err filled. Not on a hot path;
	 * may block the thread (file system). cfg outlives the state. */
	int (*init)(const struct weftd_stage *cfg, void **ret_state, char *err, size_t errlen);
	/* One attempt; the contract is weftd_actor_run's (actor.h). Called from many
	 * fibers at once with the same state: run only reads it. at's out fields are
	 * clear on entry and at->ctx not yet done. */
	int (*run)(const void *state, struct weftd_attempt *at);
	/* Release the state (NULL is fine). No run is in progress. */
	void (*done)(void *state);
	/* Optional (NULL = false): every run ends without parking and never reads
	 * at->ctx (see weftd_actor_instant). */
	bool (*instant)(const void *state);
};

extern const struct weftd_action_ops weftd_action_exec;
extern const struct weftd_action_ops weftd_action_builtin;
extern const struct weftd_action_ops weftd_action_plugin;

#endif
