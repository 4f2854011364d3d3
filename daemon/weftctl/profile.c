/* SPDX-License-Identifier: MIT */
/* profile.c — `weftctl profile KIND`: the profile op's answer into a file (PROTOCOL.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/text.h"
#include "weftctl/ctl.h"

/* An integer option in [lo, hi] into the request, or a usage error. */
static int int_opt(struct ctl *c, json_t *req, const char *name, const char *v, long lo, long hi)
{
	char *end;
	long n;

	if (!v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < lo || n > hi) {
		ctl_usage_error(c->cmd, "profile: --%s takes an integer from %ld to %ld, not \"%s\"",
				name, lo, hi, v);
		return -1;
	}
	json_object_set_new(req, name, json_integer(n));
	return 0;
}

static int write_out(const char *path, const void *data, size_t len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "we") : stdout;

	if (!f || fwrite(data, 1, len, f) != len || (f != stdout && fclose(f) != 0)) {
		fprintf(stderr, "weftctl: profile: cannot write %s: %s\n", path, strerror(errno));
		return EX_USAGE;
	}
	if (f == stdout)
		fflush(stdout);
	return EX_OK;
}

int cmd_profile(struct ctl *c, const struct ctl_args *a)
{
	json_t *req = ctl_request(c, "profile"), *resp;
	const char *kind = a->pos[0];
	char *raw, *bin = NULL;
	int rc = EX_OK;

	json_object_set_new(req, "kind", json_string(kind));
	if (int_opt(c, req, "seconds", a->seconds, 1, 60) < 0 ||
	    int_opt(c, req, "debug", a->debug, 0, 2) < 0) {
		json_decref(req);
		return EX_USAGE;
	}
	if (!(resp = ctl_roundtrip(c, req, &raw, &rc)))
		return rc;
	if (c->json) {
		ctl_print_json(resp, raw);
		goto out;
	}
	json_t *t = json_object_get(resp, "text"), *b = json_object_get(resp, "data_b64");
	if (json_is_string(t)) {
		rc = write_out(a->output ? a->output : "-", json_string_value(t), json_string_length(t));
	} else if (json_is_string(b)) {
		size_t n = json_string_length(b);
		ssize_t len;
		if (!a->output) {
			fprintf(stderr, "weftctl: profile: a binary profile (gzipped pprof): give -o FILE (or -o - for standard output)\n");
			rc = EX_USAGE;
		} else if (!(bin = malloc(n / 4 * 3 + 3)) ||
			   (len = weftd_b64_decode(json_string_value(b), n, bin)) < 0) {
			fprintf(stderr, "weftctl: profile: the daemon's answer is not base64\n");
			rc = EX_CONN;
		} else {
			rc = write_out(a->output, bin, (size_t)len);
		}
	} else {
		fprintf(stderr, "weftctl: profile: the daemon's answer holds no profile\n");
		rc = EX_CONN;
	}
out:
	free(bin);
	json_decref(resp);
	free(raw);
	return rc;
}
