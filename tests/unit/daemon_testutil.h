/* SPDX-License-Identifier: MIT */
/* daemon_testutil.h — shared by the daemon's unit tests: a config from YAML text (a
 * parse error fails the test with its message), and the wall clock in Unix ms (for due
 * times, run_at, deadlines). Include after cmocka.h. */
#ifndef WEFTD_DAEMON_TESTUTIL_H
#define WEFTD_DAEMON_TESTUTIL_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "config/config.h"

__attribute__((unused)) static struct weftd_config *conf(const char *yaml)
{
	struct weftd_config *c = NULL;
	char err[512];

	if (weftd_config_parse(yaml, strlen(yaml), "test.yaml", &c, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	return c;
}

__attribute__((unused)) static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
