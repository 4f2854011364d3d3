/* SPDX-License-Identifier: MIT */
/* trace.c — `weftctl trace`: a scheduler trace of the daemon, written as Chrome
 * trace-event JSON for Perfetto or chrome://tracing (daemon/obs/trace.h says what is in it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "weftctl/ctl.h"

#define TRACE_SECONDS_MAX 60 /* the daemon's limit (PROTOCOL.md, trace) */

int cmd_trace(struct ctl *c, const struct ctl_args *a)
{
	long seconds = 1;
	json_t *req, *resp;
	char *raw, *end;
	int rc = EX_OK;
	FILE *f;

	if (a->seconds) {
		errno = 0;
		seconds = strtol(a->seconds, &end, 10);
		if (errno || *end || end == a->seconds || seconds < 1 || seconds > TRACE_SECONDS_MAX)
			return ctl_usage_error(c->cmd, "--seconds must be a whole number from 1 to %d",
					       TRACE_SECONDS_MAX);
	}
	if (!a->output && !c->json)
		return ctl_usage_error(c->cmd, "-o FILE is needed (\"-\" for stdout)");
	req = ctl_request(c, "trace");
	json_object_set_new(req, "seconds", json_integer(seconds));
	if (!(resp = ctl_roundtrip(c, req, &raw, &rc)))
		return rc;
	if (c->json && !a->output) {
		ctl_print_json(resp, raw);
	} else {
		bool out = strcmp(a->output, "-") == 0;
		if (!(f = out ? stdout : fopen(a->output, "we"))) {
			fprintf(stderr, "weftctl: %s: %s\n", a->output, strerror(errno));
			rc = EX_USAGE;
		} else {
			if (json_dumpf(json_object_get(resp, "trace"), f, JSON_COMPACT) < 0 ||
			    fputc('\n', f) == EOF || (out ? fflush(f) : fclose(f)) != 0) {
				fprintf(stderr, "weftctl: writing %s failed\n", a->output);
				rc = EX_USAGE;
			}
		}
	}
	json_decref(resp);
	free(raw);
	return rc;
}
