/* SPDX-License-Identifier: MIT */
/* log.c — see log.h. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static atomic_int log_level = WEFTD_LOG_INFO;
static bool log_prefix = true;

void weftd_log_init(enum weftd_log_level level)
{
	atomic_store(&log_level, level);
	log_prefix = getenv("JOURNAL_STREAM") || !isatty(STDERR_FILENO);
}

void weftd_log_set_level(enum weftd_log_level level)
{
	atomic_store(&log_level, level);
}

bool weftd_log_enabled(enum weftd_log_level prio)
{
	return (int)prio <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

static const char *level_name(enum weftd_log_level p)
{
	switch (p) {
	case WEFTD_LOG_ERR: return "error";
	case WEFTD_LOG_WARNING: return "warning";
	case WEFTD_LOG_NOTICE: return "notice";
	case WEFTD_LOG_INFO: return "info";
	default: return "debug";
	}
}

void weftd_log(enum weftd_log_level prio, const char *fmt, ...)
{
	char line[1100];
	int n;
	va_list ap;

	if (!weftd_log_enabled(prio))
		return;
	if (log_prefix)
		n = snprintf(line, sizeof(line), "<%d>", (int)prio);
	else
		n = snprintf(line, sizeof(line), "weftd: %s: ", level_name(prio));
	/* vsnprintf returns the length it wanted, not what it wrote: cap n to the bytes really
	 * in line (room is kept for the newline), or a long message sends stack garbage */
	size_t room = sizeof(line) - 1 - (size_t)n;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, room, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m < room ? m : (int)room - 1;
	line[n++] = '\n';
	/* A short blocking write to stderr (a pipe to journald or a terminal): logging is rare
	 * and must work from any context, including before and after the scheduler runs. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
