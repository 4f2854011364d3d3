/* actor_impl.h — private to the actor module (actor.c, builtin.c, exec.c,
 * plugin.c): the layout of struct weftd_actor and the per-action hooks. */
#ifndef WEFTD_ACTOR_IMPL_H
#define WEFTD_ACTOR_IMPL_H

#include <stdarg.h>
#include <stdbool.h>

#include "actions/actor.h"

struct weftd_actor;
typedef int (*weftd_builtin_fn)(const struct weftd_actor *a, struct weftd_attempt *at);
struct weftd_plugin_call;
typedef int (*weftd_plugin_fn)(struct weftd_plugin_call *call);

struct weftd_actor {
	const struct weftd_stage *cfg;  /* borrowed: outlives the actor */
	enum weftd_action action;
	/* builtin: the function and its params, parsed once in new */
	weftd_builtin_fn builtin;
	bool instant;                   /* see weftd_actor_instant */
	const char *text;               /* echo: param text, or NULL = the input */
	const char *message;            /* fail: the error text */
	uint64_t duration_ns;           /* sleep */
	bool sleep_silent;              /* sleep: beat: false (never beats) */
	uint64_t fail_times;            /* fail: attempts that fail; UINT64_MAX = all */
	/* exec */
	char *path;                     /* argv[0] resolved once, malloc'd */
	/* plugin */
	void *dl;                       /* dlopen handle */
	weftd_plugin_fn plugin;
};

/* Per-action constructors / destructors / runners; errors go to err. */
int weftd_builtin_init(struct weftd_actor *a, char *err, size_t errlen);
int weftd_exec_init(struct weftd_actor *a, char *err, size_t errlen);
void weftd_exec_done(struct weftd_actor *a);
int weftd_exec_run(const struct weftd_actor *a, struct weftd_attempt *at);
int weftd_plugin_init(struct weftd_actor *a, char *err, size_t errlen);
void weftd_plugin_done(struct weftd_actor *a);
int weftd_plugin_run(const struct weftd_actor *a, struct weftd_attempt *at);

/* Shared helpers (actor.c). */
/* The value of param key, or NULL. */
const char *weftd_actor_param(const struct weftd_stage *cfg, const char *key);
/* printf into at->error; returns r (a negative errno) for "return fail(...)". */
int weftd_attempt_fail(struct weftd_attempt *at, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* at->error for a done ctx ("timed out after 10s", "canceled"); returns the ctx error. */
int weftd_attempt_ctx_fail(const struct weftd_actor *a, struct weftd_attempt *at, int r);
/* Set at->out to a malloc'd copy of len bytes at p (or a move of at->in when allowed).
 * Returns 0 or -ENOMEM (at->error set). */
int weftd_attempt_output(struct weftd_attempt *at, const void *p, size_t len);
static inline void weftd_attempt_beat(struct weftd_attempt *at)
{
	if (at->beat)
		at->beat(at->beat_arg);
}

#endif
