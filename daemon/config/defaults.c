/* SPDX-License-Identifier: MIT */
/* Every default of the config; config.h states them per field, test_config checks them. */
#include "config/defaults.h"

void cfg_daemon_defaults(struct weftd_daemon_config *d)
{
	*d = (struct weftd_daemon_config){
		.socket = "/run/weftd/weftd.sock", .socket_mode = 0660, .procs = 0,
		.max_connections = 1024, .max_request_bytes = 1u << 20,
		.max_response_bytes = 64u << 20, .idle_timeout_ns = 300 * WEFTD_NSEC_PER_SEC,
		.request_timeout_ns = 10 * WEFTD_NSEC_PER_SEC,
		.shutdown_timeout_ns = 30 * WEFTD_NSEC_PER_SEC,
		.heartbeat_interval_ns = WEFTD_NSEC_PER_SEC,
		.heartbeat_timeout_ns = 30 * WEFTD_NSEC_PER_SEC,
		.watchdog = WEFTD_WATCHDOG_AUTO, .durability = WEFTD_DURABILITY_NONE,
		.state_dir = "/var/lib/weftd",
		.retention = { .count = 10000, .age_ns = 3600 * WEFTD_NSEC_PER_SEC,
				.bytes = 256ull << 20 },
		.log_level = WEFTD_LOG_INFO,
		.http = { .max_connections = 16, .timeout_ns = 10 * WEFTD_NSEC_PER_SEC },
	};
}

void cfg_stage_defaults(struct weftd_stage *s)
{
	*s = (struct weftd_stage){
		.workers = 1, .queue = 1024, .timeout_ns = 60 * WEFTD_NSEC_PER_SEC,
		.kill_grace_ns = 5 * WEFTD_NSEC_PER_SEC, .max_output = WEFTD_MAX_OUTPUT_DEFAULT,
		.kill_group_on_exit = true,
		.retry = { .attempts = 1, .initial_ns = 100 * WEFTD_NSEC_PER_MSEC,
			   .max_ns = 30 * WEFTD_NSEC_PER_SEC, .multiplier = 2.0,
			   .jitter = WEFTD_JITTER_FULL },
	};
}

void cfg_stage_derived_defaults(struct weftd_stage *s)
{
	if (s->action == WEFTD_ACTION_PLUGIN && !s->plugin_symbol)
		s->plugin_symbol = "weftd_stage";
	/* burst: is at least 1 when given, so 0 means "not given": a bucket of one period's
	 * count. Without a rate_limit: both stay 0 (unlimited). */
	if (s->rate_limit.burst == 0)
		s->rate_limit.burst = s->rate_limit.count;
}
