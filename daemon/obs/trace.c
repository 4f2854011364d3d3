/* SPDX-License-Identifier: MIT */
/* trace.c — a trace of weftd's scheduler for N seconds (trace.h): the `trace` op and what
 * GET /debug/trace runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "obs/trace.h"
#include "proto/reply.h"
#include "proto/request.h"
#include "util/log.h"

#define COLLECT_EVERY (100 * WEFT_MSEC) /* a proc's ring (16384 events) lasts longer than
					   this unless it switches over 160,000 times a second */

int weftd_trace_run(weft_ctx *ctx, unsigned seconds, struct weftd_buf *out, const char *key)
{
	struct weftd_trace_json *tj;
	int64_t t0, end;
	int r;

	if (seconds < 1 || seconds > WEFTD_TRACE_SECONDS_MAX)
		return -EINVAL;
	if (!(tj = malloc(sizeof(*tj))))
		return -ENOMEM;
	t0 = weft_now(); /* before the start: no event has a negative ts */
	if ((r = weft_trace_start(NULL)) < 0) {
		free(tj);
		return r;
	}
	end = t0 + (int64_t)seconds * WEFT_SEC;
	weftd_info("trace: started for %u s", seconds);
	weftd_trace_json_begin(tj, out, key, (unsigned)weft_nprocs(), t0, WEFTD_TRACE_MAX_BYTES);
	while (weft_ctx_err(ctx) == 0 && weft_now() < end) {
		int64_t next = weft_now() + COLLECT_EVERY;
		weft_sleep_until(ctx, next < end ? next : end);
		weft_trace_collect(weftd_trace_json_event, tj);
	}
	weft_trace_stop(weftd_trace_json_event, tj); /* and what came before the stop */
	r = weftd_trace_json_end(tj, weft_now(), seconds);
	weftd_info("trace: ended after %.1f s%s: %llu events, %llu lost (a ring overran), %llu "
		   "dropped (over %u MiB of JSON)", (double)(weft_now() - t0) / 1e9,
		   weft_ctx_err(ctx) ? " (cancelled)" : "", (unsigned long long)tj->events,
		   (unsigned long long)tj->lost, (unsigned long long)tj->dropped,
		   WEFTD_TRACE_MAX_BYTES >> 20);
	free(tj);
	return r;
}

int weftd_trace_answer(void *arg, const struct weftd_request *args, const char *id,
		       struct weftd_buf *out, char *err, size_t errlen)
{
	int r;

	(void)arg;
	weftd_resp_begin(out, id);
	/* a client that goes away ends its trace (and frees the next one to start) */
	r = weftd_trace_run(args->conn_ctx, args->prof.has_seconds ? args->prof.seconds : 1, out, "trace");
	if (r == -EBUSY) {
		snprintf(err, errlen, "a trace runs already (one at a time)");
		r = -EALREADY; /* answered conflict, not busy: retrying at once will not help */
	} else if (r == -EINVAL) {
		snprintf(err, errlen, "seconds must be from 1 to %d", WEFTD_TRACE_SECONDS_MAX);
	}
	if (r < 0)
		return r;
	return weftd_resp_end(out);
}
