/* SPDX-License-Identifier: MIT */
/* log.h — weftd's log lines on stderr.
 *
 * journald-friendly: under systemd (JOURNAL_STREAM set) or when stderr is not a terminal,
 * each line starts with a "<N>" syslog priority prefix that journald turns into the entry's
 * priority; in a terminal lines are plain "weftd: level: message". Lines above the configured
 * level are dropped. One write(2) per line, so lines from several procs never interleave.
 * The only global state of the daemon: the level and the prefix mode, set once at start-up. */
#ifndef WEFTD_LOG_H
#define WEFTD_LOG_H

#include <stdbool.h>

/* Values are syslog priorities, so they double as journald "<N>" prefixes. */
enum weftd_log_level {
	WEFTD_LOG_ERR = 3, WEFTD_LOG_WARNING = 4, WEFTD_LOG_NOTICE = 5,
	WEFTD_LOG_INFO = 6, WEFTD_LOG_DEBUG = 7,
};

/* Decide the output form from the environment and stderr; level: WEFTD_LOG_*. */
void weftd_log_init(enum weftd_log_level level);
void weftd_log_set_level(enum weftd_log_level level);
/* True when a line of priority prio would be written (skip building costly messages). */
bool weftd_log_enabled(enum weftd_log_level prio);
/* Write one line (a trailing newline is added; longer than 1 KiB is truncated). */
void weftd_log(enum weftd_log_level prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define weftd_err(...)    weftd_log(WEFTD_LOG_ERR, __VA_ARGS__)
#define weftd_warn(...)   weftd_log(WEFTD_LOG_WARNING, __VA_ARGS__)
#define weftd_notice(...) weftd_log(WEFTD_LOG_NOTICE, __VA_ARGS__)
#define weftd_info(...)   weftd_log(WEFTD_LOG_INFO, __VA_ARGS__)
#define weftd_debug(...)  weftd_log(WEFTD_LOG_DEBUG, __VA_ARGS__)

#endif
