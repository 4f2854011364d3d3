/* SPDX-License-Identifier: MIT */
/* http.h — the monitoring HTTP listener (daemon.http in the config; off by default).
 *
 *   GET /metrics   the Prometheus exposition (metrics.h), text/plain; version=0.0.4
 *   GET /healthz   200 "ok": the process is up and its scheduler runs this fiber
 *   GET /readyz    200 "ready" while submits are accepted, 503 "draining" while not
 *   GET /debug/trace?seconds=N   with daemon.http.debug only (else 404): a scheduler trace
 *                  of N seconds (1..60, default 1) as Chrome trace-event JSON (trace.h);
 *                  400 for a bad N, 409 while another trace runs (http_trace.c)
 *   anything else  404; a known path with another method than GET or HEAD: 405 (Allow:)
 *
 * Why libmicrohttpd, and why in a fiber: HTTP parsing is a classic source of bugs that
 * weftd should not hand-write, and libmicrohttpd (Debian's libmicrohttpd-dev, GNU, kept
 * up for 15 years) is a small C library made to be embedded. Its "external epoll" mode
 * runs no thread of its own: it exposes one epoll fd, which a fiber waits on through the
 * ring (weft_poll) before calling MHD_run, which does non-blocking I/O only and returns.
 * So a request is answered on a fiber of weftd's own scheduler, reading the same per-proc
 * counters the `stats` op reads, with no thread hand-off, no lock between the two, and
 * nothing new for TSan to reason about. Nothing the HTTP fiber does parks inside MHD_run
 * (the answer is built without parking), so libmicrohttpd's internal mutexes are never
 * held across a fiber switch. A client that stalls costs only its own socket buffers in
 * libmicrohttpd (writes are non-blocking; it is closed after http.timeout idle); no
 * worker or job waits on it; at most http.max_connections are open at once, each held to
 * a 32 KiB memory pool (a request's headers must fit). */
#ifndef WEFTD_OBS_HTTP_H
#define WEFTD_OBS_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <weft/weft.h>

#include "config/config.h"
#include "obs/metrics.h"

struct weftd_http;

/* The listening socket for h->listen: TCP (SO_REUSEADDR) at a numeric address, or a
 * Unix socket at an absolute path (a stale socket file is replaced, a live one is an
 * error; created with mode socket_mode through the umask, as daemon.socket is).
 * Non-blocking, close-on-exec. Plain syscalls: call before any thread (umask). Returns the
 * fd, or a negative errno with err filled. */
int weftd_http_listen(const struct weftd_http_config *h, uint32_t socket_mode, char *err,
		      size_t errlen);

/* Serve on lfd (taken over on success: libmicrohttpd closes it at weftd_http_free; on
 * failure the caller keeps it) with the figures of src (kept until free). Starts
 * libmicrohttpd, no fiber yet. Returns 0, -ENOMEM, or -EIO when libmicrohttpd refuses. */
int weftd_http_new(int lfd, const struct weftd_http_config *h, const struct weftd_metrics_src *src,
		   struct weftd_http **ret);
/* Answer requests until ctx is done (returns 0) or waiting on the epoll fd fails (its
 * error). Fiber only. */
int weftd_http_run(struct weftd_http *s, weft_ctx *ctx);
/* http_trace.c: GET /debug/trace on conn (con_cls: libmicrohttpd's per-request pointer).
 * Suspends conn while a fiber traces (until ctx is done at the latest; counted in wg, which
 * weftd_http_run waits for before it returns: libmicrohttpd must not be stopped with a
 * connection suspended); answers when called again after the resume (the fiber writes
 * to the eventfd wake_fd after it, which the HTTP fiber waits on beside libmicrohttpd's
 * epoll fd). Returns an enum MHD_Result (MHD_YES, or MHD_NO: close the connection). */
struct MHD_Connection;
int weftd_http_trace(struct MHD_Connection *conn, void **con_cls, weft_ctx *ctx, weft_wg *wg,
		     int wake_fd);
/* A request ended without its answer (the client went away while its trace ran): free
 * what weftd_http_trace left in *con_cls. Returns true if *con_cls was a trace's (tagged:
 * other endpoints keep their own state there), false when it was not ours. From
 * libmicrohttpd's completion callback. */
bool weftd_http_trace_done(void **con_cls);
/* Stop libmicrohttpd (open connections are closed), close the socket, remove a Unix
 * socket file this process created (if it is still the one it bound). NULL ok; returns
 * NULL. After run returned. */
struct weftd_http *weftd_http_free(struct weftd_http *s);

#endif
