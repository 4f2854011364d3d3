/* SPDX-License-Identifier: MIT */
/* bad_abi.c — a plugin built for another ABI version: weftd must refuse it. */
#include "weftd_plugin.h"

WEFTD_PLUGIN_EXPORT const uint32_t weftd_plugin_abi = WEFTD_PLUGIN_ABI + 1000;

WEFTD_PLUGIN_EXPORT int weftd_stage(struct weftd_plugin_call *call)
{
	return call->set_output(call, "should not run", 14);
}
