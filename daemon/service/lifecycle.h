/* SPDX-License-Identifier: MIT */
/* lifecycle — what weftd does about signals, drains and systemd while it runs.
 *
 * weftd_lifecycle_run() is the daemon's main fiber once the engine and the server exist:
 * it serves until SIGTERM/SIGINT, then drains and returns. Signals are read from a signalfd
 * by a fiber (signals.h): TERM/INT start the graceful shutdown (a second one skips the
 * wait), HUP reloads (weftd_engine_reload; RELOADING=1 ... READY=1 around it), USR1 dumps the fibers and the per-stage counters to
 * the log. READY=1 is sent once serving, STATUS= every few seconds, STOPPING=1 and
 * EXTEND_TIMEOUT_USEC= during the drain, WATCHDOG=1 by the supervisor (supervisor.h).
 *
 * Drain (SIGTERM and the `drain` op): intake closes (submits answer `draining`), queued and
 * running jobs get daemon.shutdown_timeout to finish; on shutdown what is left is cancelled
 * by weftd_engine_stop(). Connections live on through the drain (their waits get answers);
 * they are closed after it. */
#ifndef WEFTD_LIFECYCLE_H
#define WEFTD_LIFECYCLE_H

#include "engine/engine.h"
#include "server/server.h"

/* Serve (e started) until a shutdown signal, then drain, stop the engine (what is left is
 * cancelled) and close the connections (their waits answered first). SIGHUP and the reload
 * op re-read config_path. Fiber only. Returns 0 after a clean drain, -ETIMEDOUT when jobs
 * were left, or -errno when the server or the signalfd failed. */
int weftd_lifecycle_run(struct weftd_engine *e, struct weftd_server *srv, const char *config_path);

#endif
