/* SPDX-License-Identifier: MIT */
/* nodes.c — weftctl nodes: the weftd nodes working each broker pipeline (op "nodes"). */
#include <stdio.h>
#include <stdlib.h>

#include "weftctl/ctl.h"

static void show(json_t *pipes)
{
	const char *name;
	json_t *p;

	printf("%-20s %-24s %10s %s\n", "PIPELINE", "NODE", "LAST_SEEN", "");
	json_object_foreach(pipes, name, p) {
		size_t i;
		json_t *n;
		json_array_foreach(json_object_get(p, "nodes"), i, n) {
			char age[32];
			snprintf(age, sizeof(age), "%.1fs ago", (double)ctl_geti(n, "age_ms") / 1000.0);
			printf("%-20s %-24s %10s %s\n", name, ctl_gets(n, "node"), age,
			       json_is_true(json_object_get(n, "self")) ? "(this node)" : "");
		}
	}
}

int cmd_nodes(struct ctl *c, const struct ctl_args *a)
{
	char *raw;
	int rc = EX_OK;
	json_t *resp = ctl_roundtrip(c, ctl_request(c, "nodes"), &raw, &rc);

	if (!resp)
		return rc;
	if (c->json)
		ctl_print_json(resp, raw);
	else
		show(json_object_get(resp, "pipelines"));
	json_decref(resp);
	free(raw);
	return rc;
}
