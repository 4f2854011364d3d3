/* SPDX-License-Identifier: MIT */
/* example.c — an example weftd plugin (build: make → build/plugins/example.so).
 *
 *   stages:
 *     - name: rev
 *       plugin: {path: ./build/plugins/example.so}            # weftd_stage = reverse
 *     - name: count
 *       plugin: {path: ./build/plugins/example.so, symbol: example_count}
 *       params: {delay: 50ms, max: 1MiB}
 *
 * weftd_stage / example_reverse: the payload reversed, byte by byte; yields to
 *   the other fibers every 64 KiB (it runs as a fiber of weftd).
 * example_count: the payload's length in decimal, after sleeping params.delay
 *   (default 0) with weft_sleep — a parked fiber, not a blocked thread — and
 *   failing when the input is longer than params.max bytes (when set).
 * example_stage: "<params.greeting>, <payload>" (greeting default "hello").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weftd_plugin.h"

WEFTD_PLUGIN_DEFINE_ABI;

WEFTD_PLUGIN_EXPORT int example_reverse(struct weftd_plugin_call *call)
{
	const char *in = call->in;
	char *out = call->output_buffer(call, call->in_len);

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < call->in_len; i++) {
		if (i && i % (64u << 10) == 0) {
			call->beat(call);
			weft_yield();
			if (weft_ctx_err(call->ctx))
				return weft_ctx_err(call->ctx);
		}
		out[i] = in[call->in_len - 1 - i];
	}
	return 0;
}

WEFTD_PLUGIN_EXPORT int weftd_stage(struct weftd_plugin_call *call)
{
	return example_reverse(call);
}

/* "250ms", "2s" or a plain number of milliseconds */
static long long parse_ms(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return -1;
	if (strcmp(end, "s") == 0)
		return (long long)(v * 1000);
	if (strcmp(end, "ms") == 0 || *end == '\0')
		return (long long)v;
	return -1;
}

WEFTD_PLUGIN_EXPORT int example_count(struct weftd_plugin_call *call)
{
	const char *delay = call->param(call, "delay"), *max = call->param(call, "max");
	char buf[32];
	int r;

	if (max && call->in_len > strtoull(max, NULL, 10)) {
		call->set_error(call, "input of %zu bytes is over max %s", call->in_len, max);
		return -EMSGSIZE;
	}
	if (delay) {
		long long ms = parse_ms(delay);
		if (ms < 0) {
			call->set_error(call, "bad delay \"%s\"", delay);
			return -EINVAL;
		}
		if ((r = weft_sleep(call->ctx, ms * WEFT_MSEC)) < 0)
			return r; /* timed out or cancelled: weftd says which */
	}
	int n = snprintf(buf, sizeof(buf), "%zu", call->in_len);
	return call->set_output(call, buf, (size_t)n);
}

WEFTD_PLUGIN_EXPORT int example_stage(struct weftd_plugin_call *call)
{
	const char *greeting = call->param(call, "greeting");
	size_t glen;
	char *out;

	if (!greeting)
		greeting = "hello";
	glen = strlen(greeting);
	if (!(out = call->output_buffer(call, glen + 2 + call->in_len)))
		return -ENOMEM;
	memcpy(out, greeting, glen);
	memcpy(out + glen, ", ", 2);
	if (call->in_len)
		memcpy(out + glen + 2, call->in, call->in_len);
	return 0;
}
