/* proto_same.h — for tests and the fuzzer: do the fast path and jansson read a line the same? */
#ifndef WEFTD_PROTO_SAME_H
#define WEFTD_PROTO_SAME_H
#include <stdbool.h>
#include <string.h>

#include "proto/proto.h"

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Parse line both ways; true when results agree on everything a caller can see. *fast is
 * set when the fast path read it (no jansson document behind the request). */
static bool proto_same(const char *line, size_t len, size_t max, bool *fast)
{
	struct weftd_request a, b;
	int ra = weftd_request_parse(&a, line, len, max);
	int rb = weftd_request_parse_jansson(&b, line, len, max);
	bool same = ra == rb && strcmp(a.id, b.id) == 0;

	if (fast)
		*fast = ra == 0 && a.root == NULL;
	if (same && ra < 0)
		same = a.err == b.err && strcmp(a.errmsg, b.errmsg) == 0;
	if (same && ra == 0) {
		same = a.op == b.op && same_str(a.pipeline, b.pipeline) && same_str(a.job, b.job) &&
		       a.njobs == b.njobs && a.payload_len == b.payload_len &&
		       (!a.payload_len || memcmp(a.payload, b.payload, a.payload_len) == 0) &&
		       !a.payload == !b.payload && a.wait == b.wait &&
		       a.has_timeout == b.has_timeout && a.timeout_ns == b.timeout_ns &&
		       a.has_state == b.has_state && (!a.has_state || a.state == b.state) &&
		       a.limit == b.limit;
		for (size_t i = 0; same && i < a.njobs; i++)
			same = same_str(weftd_request_job(&a, i), weftd_request_job(&b, i));
	}
	weftd_request_done(&a);
	weftd_request_done(&b);
	return same;
}
#endif
