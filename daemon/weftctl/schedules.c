/* SPDX-License-Identifier: MIT */
/* `weftctl schedules [PIPELINE]`: the periodic jobs as a table, each entry's next run and
 * last fire in UTC (RFC 3339). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "weftctl/ctl.h"

/* Unix ms as "2026-12-03T14:00:00Z"; "-" for null (none). */
static const char *utc(json_t *v, char *buf, size_t size)
{
	struct tm tm;
	time_t t;

	if (!json_is_integer(v))
		return "-";
	t = (time_t)(json_integer_value(v) / 1000);
	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return "?";
	return buf;
}

int cmd_schedules(struct ctl *c, const struct ctl_args *a)
{
	json_t *req = ctl_request(c, "schedules"), *resp, *s;
	char *raw, nb[32], lb[32];
	int rc = EX_OK;
	size_t i;

	if (a->npos)
		json_object_set_new(req, "pipeline", json_string(a->pos[0]));
	if (!(resp = ctl_roundtrip(c, req, &raw, &rc)))
		return rc;
	if (c->json) {
		ctl_print_json(resp, raw);
	} else {
		printf("%-16s %-16s %-20s %-16s %-21s %s\n", "PIPELINE", "NAME", "CRON", "TZ",
		       "NEXT (UTC)", "LAST FIRED (UTC)");
		json_array_foreach(json_object_get(resp, "schedules"), i, s)
			printf("%-16s %-16s %-20s %-16s %-21s %s%s\n", ctl_gets(s, "pipeline"),
			       ctl_gets(s, "name"), ctl_gets(s, "cron"), ctl_gets(s, "tz"),
			       utc(json_object_get(s, "next_run_ms"), nb, sizeof(nb)),
			       utc(json_object_get(s, "last_fire_ms"), lb, sizeof(lb)),
			       json_is_true(json_object_get(s, "catch_up")) ? " (catch_up)" : "");
	}
	json_decref(resp);
	free(raw);
	return rc;
}
