/* SPDX-License-Identifier: MIT */
/* pprof_http.h — GET /debug/pprof/... on the monitoring listener (http.h), when
 * daemon.http.debug is true, as Go's net/http/pprof serves them:
 *
 *   /debug/pprof/profile?seconds=N   CPU profile (N 1..60, default 30)
 *   /debug/pprof/heap                jemalloc's heap profile (profile.h says when not)
 *   /debug/pprof/goroutine?debug=N   the fiber profile (0 pprof, 1 and 2 text)
 *   /debug/pprof/block?seconds=N     block profile over N seconds (default 5)
 *   /debug/pprof/mutex?seconds=N     mutex profile likewise
 *
 * 404 for any other path under /debug/pprof/ and for all of them while debug is false;
 * 405 for another method than GET or HEAD; 400 for seconds or debug out of range; 409 while
 * another CPU profile (or block/mutex window) is being taken; 501 when heap profiling is not
 * available. A profile is taken in a fiber of its own while libmicrohttpd keeps the request
 * suspended (MHD_suspend_connection): the listener's fiber never waits for it and serves
 * other requests meanwhile; the profile's fiber resumes the request when done. */
#ifndef WEFTD_OBS_PPROF_HTTP_H
#define WEFTD_OBS_PPROF_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <weft/weft.h>

struct weftd_pprof_http;

/* Returns 0 or -ENOMEM. */
int weftd_pprof_http_new(bool debug, struct weftd_pprof_http **ret);
/* A request for a path under /debug/pprof/ (libmicrohttpd's access handler hands it over
 * with its con_cls). Never parks. */
enum MHD_Result weftd_pprof_http_request(struct weftd_pprof_http *h, struct MHD_Connection *conn,
					 const char *url, const char *method, void **con_cls);
/* An eventfd that becomes readable when a profile's request was resumed: the listener's
 * fiber waits on it with libmicrohttpd's epoll fd, then calls MHD_run. Each call drains
 * it first. */
int weftd_pprof_http_wake_fd(struct weftd_pprof_http *h);
/* libmicrohttpd's MHD_OPTION_NOTIFY_COMPLETED for such a request: frees its state. */
void weftd_pprof_http_completed(void **con_cls);
/* Cancel the profiles being taken and park until their fibers have ended (their requests
 * are resumed, with what was sampled so far). Fiber only; before MHD_stop_daemon. NULL ok;
 * returns NULL. */
struct weftd_pprof_http *weftd_pprof_http_free(struct weftd_pprof_http *h);

#endif
