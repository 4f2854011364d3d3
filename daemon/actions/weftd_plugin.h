/* SPDX-License-Identifier: MIT */
/* weftd_plugin.h — the ABI between weftd and stage plugins (version 1).
 *
 * A plugin is a shared object that exports
 *
 *   WEFTD_PLUGIN_EXPORT const uint32_t weftd_plugin_abi = WEFTD_PLUGIN_ABI;
 *   WEFTD_PLUGIN_EXPORT int weftd_stage(struct weftd_plugin_call *call);
 *
 * (the stage function's name comes from the stage config, plugin.symbol,
 * default "weftd_stage"; one object may export several). weftd loads it once
 * per stage with dlopen(RTLD_NOW | RTLD_LOCAL), refuses it when
 * weftd_plugin_abi is missing or differs from its own WEFTD_PLUGIN_ABI, and
 * unloads it when the stage goes away (reload, shutdown).
 *
 * The stage function runs as a fiber of weftd, once per attempt, possibly
 * many at once (one per worker) on several threads: keep no unsynchronised
 * global state. It may use libweft (weft/weft.h: weft_sleep, weft_read,
 * weft_go, channels...), whose symbols resolve from the weftd executable; it
 * must not block the thread (use weft_blocking() for calls that would), and it
 * should give up promptly once call->ctx is done (timeout, cancel, shutdown),
 * returning weft_ctx_err(call->ctx).
 *
 * Return 0 on success (the output is what set_output/output_buffer gave, or
 * empty), or a negative errno on failure with a reason from set_error (else
 * strerror is used): the attempt is retried per the stage's retry policy. Return
 * -WEFTD_PLUGIN_EPERMANENT for a failure no retry can mend (bad input): the job
 * fails (dead letter) at once, with the reason from set_error (else "plugin
 * failed permanently"). A weftd older than this return code retries it as any
 * error (the ABI number did not change: nothing in the struct did). Build: cc -shared -fPIC -I<weft>/lib/include -I<weft>/daemon/actions.
 * Bump WEFTD_PLUGIN_ABI on any change to this struct other than appending.
 */
#ifndef WEFTD_PLUGIN_H
#define WEFTD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <weft/weft.h>

#define WEFTD_PLUGIN_ABI 1
#define WEFTD_PLUGIN_EXPORT __attribute__((visibility("default")))
/* Return -WEFTD_PLUGIN_EPERMANENT: a permanent failure, not retried (above). Outside the
 * errno range, so no errno means it by accident. */
#define WEFTD_PLUGIN_EPERMANENT 4096
/* Declares the ABI symbol: put WEFTD_PLUGIN_DEFINE_ABI; once in the plugin. */
#define WEFTD_PLUGIN_DEFINE_ABI \
	WEFTD_PLUGIN_EXPORT const uint32_t weftd_plugin_abi = WEFTD_PLUGIN_ABI

struct weftd_plugin_call {
	uint32_t abi;            /* WEFTD_PLUGIN_ABI of the running weftd */
	uint32_t attempt;        /* 1-based attempt of this job at this stage */
	weft_ctx *ctx;           /* done on timeout, cancel, shutdown */
	const char *job_id;
	const char *pipeline;
	const char *stage;
	const void *in;          /* the input payload, valid during the call */
	size_t in_len;
	/* The value of a stage param (params: in the config), or NULL. */
	const char *(*param)(const struct weftd_plugin_call *call, const char *key);
	/* Heartbeat: call every second or so while working on a long job. */
	void (*beat)(const struct weftd_plugin_call *call);
	/* Set the output to a copy of len bytes at data (replacing an earlier one).
	 * Returns 0 or -ENOMEM. */
	int (*set_output)(struct weftd_plugin_call *call, const void *data, size_t len);
	/* Set the output to a new buffer of len bytes (plus a NUL after it) for the
	 * plugin to fill; weftd owns it. Returns it, or NULL for out of memory. */
	char *(*output_buffer)(struct weftd_plugin_call *call, size_t len);
	/* The failure reason shown in the job's error (printf-style, truncated). */
	void (*set_error)(struct weftd_plugin_call *call, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	void *weftd_private;     /* weftd's; do not touch */
};

typedef int weftd_stage_fn(struct weftd_plugin_call *call);

#endif
