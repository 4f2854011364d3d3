/* SPDX-License-Identifier: MIT */
/* notify.c — sd_notify wrappers (see notify.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "util/notify.h"

static int notify_send(const char *msg)
{
	/* sd_notify returns 0 when NOTIFY_SOCKET is unset, > 0 when sent */
	return sd_notify(0, msg);
}

int weftd_notify_ready(const char *status)
{
	if (!status)
		return notify_send("READY=1");
	char buf[512];
	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	for (char *p = buf + 16; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return notify_send(buf);
}

int weftd_notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
			  (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
}

int weftd_notify_stopping(void)
{
	return notify_send("STOPPING=1");
}

int weftd_notify_status(const char *fmt, ...)
{
	char buf[512] = "STATUS=";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
	va_end(ap);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return notify_send(buf);
}

int weftd_notify_watchdog(void)
{
	return notify_send("WATCHDOG=1");
}

int weftd_notify_extend_timeout(uint64_t usec)
{
	return sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
}

int64_t weftd_notify_watchdog_usec(bool wanted)
{
	if (!wanted)
		return 0;
	uint64_t usec = 0;
	int r = sd_watchdog_enabled(0, &usec);
	if (r < 0)
		return r;
	return r > 0 ? (int64_t)usec : 0;
}
