/* SPDX-License-Identifier: MIT */
/* permanent.c — a test plugin whose stage fails permanently for the payload "bad"
 * (-WEFTD_PLUGIN_EPERMANENT: no retry), fails to be retried for "fail" (-EIO), and passes
 * anything else on unchanged (tests/integration/test_permanent.sh, bench_retry.c). */
#include <errno.h>
#include <string.h>

#include "weftd_plugin.h"

WEFTD_PLUGIN_DEFINE_ABI;

WEFTD_PLUGIN_EXPORT int weftd_stage(struct weftd_plugin_call *call)
{
	if (call->in_len == 3 && memcmp(call->in, "bad", 3) == 0) {
		call->set_error(call, "bad input, attempt %u", call->attempt);
		return -WEFTD_PLUGIN_EPERMANENT;
	}
	if (call->in_len == 4 && memcmp(call->in, "fail", 4) == 0)
		return -EIO;
	return call->set_output(call, call->in, call->in_len);
}
