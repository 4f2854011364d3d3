/* SPDX-License-Identifier: MIT */
/* pprof_http.c — /debug/pprof/ on the monitoring listener (see pprof_http.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "obs/pprof_http.h"
#include "obs/profile.h"

struct weftd_pprof_http {
	bool debug;                    /* daemon.http.debug */
	weft_ctx *ctx;                 /* cancelled at free: profiles end early */
	weft_wg fibers;                /* profiles being taken */
	int efd;                       /* written after a resume: wakes the listener's fiber */
};

/* One suspended request and the profile its fiber takes. */
struct pending {
	struct weftd_pprof_http *h;
	struct MHD_Connection *conn;
	struct weftd_profile_args args;
	struct weftd_profile prof;
	int r;
	char err[256];
	atomic_bool done;              /* the fiber has filled r, prof and err */
};

int weftd_pprof_http_new(bool debug, struct weftd_pprof_http **ret)
{
	struct weftd_pprof_http *h = calloc(1, sizeof(*h));

	if (!h || (h->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		free(h);
		return -ENOMEM;
	}
	if (weft_ctx_with_cancel(NULL, &h->ctx) < 0) {
		close(h->efd);
		free(h);
		return -ENOMEM;
	}
	h->debug = debug;
	weft_wg_init(&h->fibers);
	*ret = h;
	return 0;
}

struct weftd_pprof_http *weftd_pprof_http_free(struct weftd_pprof_http *h)
{
	if (!h)
		return NULL;
	weft_ctx_cancel(h->ctx);
	weft_wg_wait(NULL, &h->fibers);
	weft_ctx_unref(h->ctx);
	close(h->efd);
	free(h);
	return NULL;
}

int weftd_pprof_http_wake_fd(struct weftd_pprof_http *h)
{
	uint64_t v;

	while (read(h->efd, &v, sizeof(v)) == sizeof(v))
		;
	return h->efd;
}

void weftd_pprof_http_completed(void **con_cls)
{
	struct pending *p = *con_cls;

	if (!p)
		return;
	free(p->prof.data);
	free(p);
	*con_cls = NULL;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
			     void *body, size_t len, bool take)
{
	struct MHD_Response *rsp = MHD_create_response_from_buffer(
		len, body, take ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
	enum MHD_Result r;

	if (!rsp) {
		if (take)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (status == MHD_HTTP_OK && !strncmp(ctype, "application/octet", 17))
		MHD_add_response_header(rsp, "Content-Disposition", "attachment; filename=\"profile\"");
	r = MHD_queue_response(conn, status, rsp);
	MHD_destroy_response(rsp);
	return r;
}

#define TEXT "text/plain; charset=utf-8"
static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return reply(conn, status, TEXT, (void *)msg, strlen(msg), false);
}

static void take_main(void *arg)
{
	struct pending *p = arg;
	struct weftd_pprof_http *h = p->h;

	p->r = weftd_profile_take(&p->args, h->ctx, &p->prof, p->err, sizeof(p->err));
	atomic_store(&p->done, true);
	MHD_resume_connection(p->conn); /* p may be freed from here on */
	/* libmicrohttpd's own wake-up for a resume is not in the epoll set it exposes */
	uint64_t one = 1;
	ssize_t n = write(h->efd, &one, sizeof(one));
	(void)n; /* a full counter: a wake-up is pending anyway */
	weft_wg_done(&h->fibers);
}

/* A query value as an integer in [lo, hi]: 0, 1 when absent (def kept), -1 when bad. */
static int query_int(struct MHD_Connection *conn, const char *key, long lo, long hi, long *v)
{
	const char *s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
	char *end;

	if (!s)
		return 1;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (!*s || *end || errno || n < lo || n > hi)
		return -1;
	*v = n;
	return 0;
}

static enum MHD_Result answer(struct pending *p)
{
	char msg[300];

	if (p->r == 0) {
		void *d = p->prof.data;
		p->prof.data = NULL;
		return reply(p->conn, MHD_HTTP_OK, p->prof.text ? TEXT : "application/octet-stream", d ? d : strdup(""),
			     p->prof.len, true);
	}
	snprintf(msg, sizeof(msg), "%s\n", p->err);
	return text(p->conn, p->r == -EOPNOTSUPP ? MHD_HTTP_NOT_IMPLEMENTED :
		    p->r == -EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
}

enum MHD_Result weftd_pprof_http_request(struct weftd_pprof_http *h, struct MHD_Connection *conn,
					 const char *url, const char *method, void **con_cls)
{
	static const struct { const char *path, *kind; } ends[] = {
		{ "profile", "cpu" }, { "heap", "heap" }, { "goroutine", "fibers" },
		{ "block", "block" }, { "mutex", "mutex" },
	};
	struct pending *p = *con_cls;
	const char *kind = NULL;
	long seconds = 0, debug = 0;
	int rs, rd;

	if (p) /* resumed: the profile is taken */
		return atomic_load(&p->done) ? answer(p) : MHD_YES;
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		if (strcmp(url + strlen("/debug/pprof/"), ends[i].path) == 0)
			kind = ends[i].kind;
	if (!h || !h->debug || !kind)
		return text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	rs = query_int(conn, "seconds", 1, WEFTD_PROFILE_SECONDS_MAX, &seconds);
	rd = query_int(conn, "debug", 0, 2, &debug);
	if (rs < 0 || rd < 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "%s\n", rs < 0 ? "seconds must be an integer from 1 to 60" :
			 "debug must be 0, 1 or 2");
		return text(conn, MHD_HTTP_BAD_REQUEST, msg);
	}
	if (!(p = calloc(1, sizeof(*p))))
		return MHD_NO;
	p->h = h;
	p->conn = conn;
	snprintf(p->args.kind, sizeof(p->args.kind), "%s", kind);
	p->args.has_seconds = rs == 0;
	p->args.seconds = (uint32_t)seconds;
	p->args.debug = (int)debug;
	if (weftd_profile_claim(&p->args) < 0) {
		free(p);
		return text(conn, MHD_HTTP_CONFLICT, "a profile of this kind is being taken already: retry when it ends\n");
	}
	*con_cls = p;
	weft_wg_add(&h->fibers, 1);
	MHD_suspend_connection(conn);
	if (weft_go_opts(take_main, p, &(struct weft_go_opts){ .name = "http/pprof" }) < 0) {
		weft_wg_done(&h->fibers);
		p->r = -ENOMEM; /* answered in the MHD_run that follows: a resume is processed there */
		snprintf(p->err, sizeof(p->err), "out of memory");
		weftd_profile_release(&p->args);
		atomic_store(&p->done, true);
		MHD_resume_connection(conn);
	}
	return MHD_YES;
}
