/* SPDX-License-Identifier: MIT */
/* http.c — the monitoring listener on libmicrohttpd, driven from a fiber (see http.h). */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/engine.h"
#include "obs/http.h"
#include "obs/pprof_http.h"
#include "util/log.h"

#define CONN_MEMORY (32 * 1024) /* a connection's pool: request line and headers */

struct weftd_http {
	struct MHD_Daemon *mhd;
	int lfd;
	struct weftd_metrics_src src;
	bool debug;                   /* daemon.http.debug: the /debug/ endpoints */
	weft_ctx *ctx;                /* weftd_http_run's: ends the traces */
	weft_wg traces;               /* /debug/trace fibers running (http_trace.c) */
	int wake_fd;                  /* the eventfd a resumed request's fiber writes (pprof_http.h) */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* a Unix socket we bound */
	dev_t dev;
	ino_t ino;
	struct weftd_pprof_http *pprof; /* /debug/pprof/ (pprof_http.h) */
};

/* ---- the socket ------------------------------------------------------------------ */

/* Is a daemon answering at the Unix socket path? */
static bool unix_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return live;
}

static int bind_unix(int fd, const char *path, uint32_t mode, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "daemon.http.listen: %s exists and is not a socket", path);
			return -EEXIST;
		}
		if (unix_live(&sa)) {
			snprintf(err, errlen, "daemon.http.listen: %s: a process answers there already", path);
			return -EADDRINUSE;
		}
		unlink(path); /* stale: a daemon that died */
	}
	old = umask(~mode & 0777);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (r < 0)
		snprintf(err, errlen, "daemon.http.listen: bind %s: %s", path, strerror(-r));
	return r;
}

int weftd_http_listen(const struct weftd_http_config *h, uint32_t socket_mode, char *err,
		      size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned len = 0;
	bool path = h->listen[0] == '/';
	int fd, r, one = 1;

	if (!path && weftd_http_addr_parse(h->listen, &ss, &len) < 0) {
		snprintf(err, errlen, "daemon.http.listen: invalid address \"%s\"", h->listen);
		return -EINVAL;
	}
	fd = socket(path ? AF_UNIX : ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "daemon.http.listen: socket: %s%s", strerror(-r),
			 r == -EAFNOSUPPORT ? " (systemd's RestrictAddressFamilies? see weftd.yaml(5))" : "");
		return r;
	}
	if (path) {
		r = bind_unix(fd, h->listen, socket_mode, err, errlen);
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		r = bind(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
		if (r < 0)
			snprintf(err, errlen, "daemon.http.listen: bind %s: %s", h->listen, strerror(-r));
	}
	if (r == 0 && listen(fd, 64) < 0) {
		r = -errno;
		snprintf(err, errlen, "daemon.http.listen: listen %s: %s", h->listen, strerror(-r));
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* ---- requests -------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
			     const void *body, size_t len, const char *allow)
{
	struct MHD_Response *rsp =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result r;

	if (!rsp)
		return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, allow);
	r = MHD_queue_response(conn, status, rsp);
	MHD_destroy_response(rsp);
	return r;
}

#define TEXT "text/plain; charset=utf-8"
#define REPLY_STR(conn, status, s, allow) reply((conn), (status), TEXT, (s), strlen(s), (allow))

static enum MHD_Result metrics(struct weftd_http *s, struct MHD_Connection *conn)
{
	struct weftd_buf b;
	enum MHD_Result r;

	weftd_buf_init(&b, NULL, 0);
	if (weftd_metrics_write(&b, &s->src) < 0)
		r = REPLY_STR(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	else
		r = reply(conn, MHD_HTTP_OK, WEFTD_EXPO_CONTENT_TYPE, b.data ? b.data : "", b.len, NULL);
	weftd_buf_done(&b);
	return r;
}

/* libmicrohttpd's access handler: called once the headers are in (GET has no body to
 * wait for; any other method is answered 405 at once, its body discarded). Runs inside
 * MHD_run on the HTTP fiber and never parks. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct weftd_http *s = cls;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	enum { METRICS, HEALTHZ, READYZ, TRACE, NONE } what = NONE;

	if (strncmp(url, "/debug/pprof/", strlen("/debug/pprof/")) == 0)
		return weftd_pprof_http_request(s->pprof, conn, url, method, con_cls);
	if (strcmp(url, "/metrics") == 0)
		what = METRICS;
	else if (strcmp(url, "/healthz") == 0)
		what = HEALTHZ;
	else if (strcmp(url, "/readyz") == 0)
		what = READYZ;
	else if (s->debug && strcmp(url, "/debug/trace") == 0)
		what = TRACE;
	if (what == NONE)
		return REPLY_STR(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
	if (!get)
		return REPLY_STR(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
	switch (what) {
	case METRICS:
		return metrics(s, conn);
	case HEALTHZ:
		return REPLY_STR(conn, MHD_HTTP_OK, "ok\n", NULL);
	case TRACE:
		return (enum MHD_Result)weftd_http_trace(conn, con_cls, s->ctx, &s->traces, s->wake_fd);
	default:
		if (weftd_engine_intake_open(s->src.e))
			return REPLY_STR(conn, MHD_HTTP_OK, "ready\n", NULL);
		return REPLY_STR(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "draining\n", NULL);
	}
}

/* A request ended: a /debug/trace or a /debug/pprof/ request that never answered leaves
 * its state behind (each tags its own, so either can tell whose it is). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	if (!weftd_http_trace_done(con_cls))
		weftd_pprof_http_completed(con_cls);
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = 0;
	weftd_debug("http: %s", msg);
}

/* ---- the server ------------------------------------------------------------------ */

int weftd_http_new(int lfd, const struct weftd_http_config *h, const struct weftd_metrics_src *src,
		   struct weftd_http **ret)
{
	struct weftd_http *s = calloc(1, sizeof(*s));
	unsigned timeout = (unsigned)(h->timeout_ns / 1000000000u);

	if (!s)
		return -ENOMEM;
	s->lfd = -EBADF; /* libmicrohttpd owns lfd once it started: MHD_stop_daemon closes it */
	s->src = *src;
	s->debug = h->debug;
	weft_wg_init(&s->traces);
	if (h->listen[0] == '/') {
		struct stat st;
		if (lstat(h->listen, &st) == 0) {
			snprintf(s->path, sizeof(s->path), "%s", h->listen);
			s->dev = st.st_dev;
			s->ino = st.st_ino;
		}
	}
	/* No MHD thread (MHD_USE_EPOLL alone: "external epoll"), weftd's socket, bounded. */
	if (weftd_pprof_http_new(h->debug, &s->pprof) < 0) {
		free(s);
		return -ENOMEM;
	}
	/* suspend/resume: a profile or a trace is taken in a fiber of its own (pprof_http.h,
	 * http_trace.c) */
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC, 0,
				  NULL, NULL, on_request, s,
				  MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				  MHD_OPTION_LISTEN_SOCKET, lfd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->max_connections,
				  MHD_OPTION_CONNECTION_TIMEOUT, timeout ? timeout : 1u,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				  MHD_OPTION_END);
	if (!s->mhd) {
		s->path[0] = 0; /* the caller still owns lfd and its file on failure */
		weftd_http_free(s);
		return -EIO;
	}
	*ret = s;
	return 0;
}

static unsigned open_conns(struct weftd_http *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return i ? i->num_connections : 0;
}

/* At max_connections libmicrohttpd takes the listening socket out of its epoll set, and
 * puts it back only in the MHD_run after the one that closed a connection. Nothing would
 * wake this fiber for that second call (no connection left: no timeout; a client waiting
 * in the backlog is not in the set), so it follows at once when the count went down. */
static void run_once(struct weftd_http *s)
{
	unsigned before = open_conns(s);

	MHD_run(s->mhd);
	if (open_conns(s) < before)
		MHD_run(s->mhd);
}

int weftd_http_run(struct weftd_http *s, weft_ctx *ctx)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	int epfd = info ? info->epoll_fd : -1, r = 0;

	if (epfd < 0)
		return -EIO;
	/* libmicrohttpd's epoll fd and the profiles' wake-up, in one set (pprof_http.h) */
	int set = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	if (set < 0 || epoll_ctl(set, EPOLL_CTL_ADD, epfd, &ev) < 0 ||
	    epoll_ctl(set, EPOLL_CTL_ADD, weftd_pprof_http_wake_fd(s->pprof), &ev) < 0) {
		if (set >= 0)
			close(set);
		return -EIO;
	}
	epfd = set;
	s->ctx = ctx;
	s->wake_fd = weftd_pprof_http_wake_fd(s->pprof);
	while (weft_ctx_err(ctx) == 0) {
		MHD_UNSIGNED_LONG_LONG ms;
		weft_ctx *wait = ctx;

		/* MHD_run must come again within its timeout (idle connections expire); a
		 * resumed request wakes the set through wake_fd */
		bool has = MHD_get_timeout(s->mhd, &ms) == MHD_YES;
		if (has &&
		    weft_ctx_with_timeout(ctx, (int64_t)ms * WEFT_MSEC, &wait) < 0)
			wait = ctx; /* out of memory: the next request wakes it instead */
		r = weft_poll(wait, epfd, POLLIN);
		if (wait != ctx)
			weft_ctx_unref(wait);
		if (r < 0 && r != -ETIMEDOUT && r != -ECANCELED)
			break;
		weftd_pprof_http_wake_fd(s->pprof);
		if (weft_ctx_err(ctx) == 0)
			run_once(s);
	}
	close(set);
	weft_wg_wait(NULL, &s->traces); /* they end with ctx, resuming their connections */
	return r < 0 && r != -ETIMEDOUT && r != -ECANCELED ? r : 0;
}

struct weftd_http *weftd_http_free(struct weftd_http *s)
{
	struct stat st;

	if (!s)
		return NULL;
	s->pprof = weftd_pprof_http_free(s->pprof); /* resumes every suspended request */
	if (s->mhd)
		MHD_stop_daemon(s->mhd); /* closes the connections; the listening fd is ours */
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->path[0] && lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s);
	return NULL;
}
