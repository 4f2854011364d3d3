/* SPDX-License-Identifier: MIT */
/* no_abi.c — a shared object with a stage function but no weftd_plugin_abi:
 * not a weftd plugin, weftd must refuse it. */
#include "weftd_plugin.h"

WEFTD_PLUGIN_EXPORT int weftd_stage(struct weftd_plugin_call *call)
{
	return call->set_output(call, "should not run", 14);
}
