/* SPDX-License-Identifier: MIT */
/* notify — the sd_notify(3) side of the service manager protocol (libsystemd).
 *
 * Thin wrappers that format the messages weftd sends; each is a no-op returning 0 when
 * NOTIFY_SOCKET is unset (not started by systemd). Returns > 0 when the message was sent,
 * 0 when there is no manager to send to, or a negative errno (sendmsg failed).
 * Sending is one datagram on a Unix socket (never waits for the manager to read it), so
 * these are called straight from fibers. */
#ifndef WEFTD_NOTIFY_H
#define WEFTD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* READY=1 (and STATUS= when status is not NULL). */
int weftd_notify_ready(const char *status);
/* RELOADING=1 + MONOTONIC_USEC=<now>, as systemd 253's notify-reload expects. */
int weftd_notify_reloading(void);
/* STOPPING=1. */
int weftd_notify_stopping(void);
/* STATUS=<one line> (newlines are replaced by spaces). */
int weftd_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* WATCHDOG=1. */
int weftd_notify_watchdog(void);
/* EXTEND_TIMEOUT_USEC=<usec>: the current start/stop/reload timeout becomes usec from now. */
int weftd_notify_extend_timeout(uint64_t usec);

/* The watchdog interval to honour: when wanted (daemon.watchdog is auto or on), systemd's
 * WATCHDOG_USEC if it is set for this pid (sd_watchdog_enabled); when not wanted, 0.
 * Returns the interval in microseconds, 0 when no watchdog is expected, or -errno when
 * WATCHDOG_USEC is malformed. Wanted without WATCHDOG_USEC is 0 as well: nobody would listen. */
int64_t weftd_notify_watchdog_usec(bool wanted);

#endif
