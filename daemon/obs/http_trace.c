/* SPDX-License-Identifier: MIT */
/* http_trace.c — GET /debug/trace?seconds=N (http.h): the `trace` op's JSON over HTTP.
 *
 * The answer takes N seconds, and libmicrohttpd's handler must not park (it runs inside
 * MHD_run on the HTTP fiber, which serves every other client meanwhile). So the handler
 * suspends the connection and hands the trace to a fiber of its own; that fiber resumes
 * the connection when the JSON is ready, and the handler, called again by MHD_run, queues
 * it. In libmicrohttpd's external epoll mode a resume does not make its epoll fd readable
 * (seen with 0.9.75: the HTTP fiber slept on), so after the resume the trace's fiber
 * writes to the eventfd the HTTP fiber waits on beside it (http.c: wake_fd). */
#include <errno.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obs/http.h"
#include "obs/trace.h"

#define TRACE_MAGIC UINT64_C(0x7765667474726163) /* "wefttrac": what *con_cls holds */

struct http_trace {
	uint64_t magic;               /* TRACE_MAGIC: another endpoint's con_cls is not ours */
	struct MHD_Connection *conn;
	weft_ctx *ctx;
	weft_wg *wg;
	int wake_fd;                  /* written after the resume: wakes the HTTP fiber */
	unsigned seconds;
	struct weftd_buf b;
	int r;
	atomic_bool done;             /* the fiber finished: b and r are final */
};

static void trace_main(void *arg)
{
	struct http_trace *t = arg;

	weft_wg *wg = t->wg;

	t->r = weftd_trace_run(t->ctx, t->seconds, &t->b, NULL);
	atomic_store(&t->done, true);
	int wake = t->wake_fd;
	MHD_resume_connection(t->conn); /* t is the handler's from here on */
	/* libmicrohttpd's own wake-up for a resume is not in the epoll set it exposes */
	uint64_t one = 1;
	ssize_t n = write(wake, &one, sizeof(one));
	(void)n; /* a full counter: a wake-up is pending anyway */
	weft_wg_done(wg);
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *s)
{
	struct MHD_Response *rsp =
		MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result r;

	if (!rsp)
		return MHD_NO;
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	r = MHD_queue_response(conn, status, rsp);
	MHD_destroy_response(rsp);
	return r;
}

/* The trace is ready: answer with it (or with why not) and free t. */
static enum MHD_Result answer(struct MHD_Connection *conn, struct http_trace *t)
{
	struct MHD_Response *rsp;
	enum MHD_Result r;

	if (t->r == -EBUSY)
		r = text(conn, MHD_HTTP_CONFLICT, "a trace runs already (one at a time)\n");
	else if (t->r < 0 || t->b.err)
		r = text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	else if (!(rsp = MHD_create_response_from_buffer(t->b.len, t->b.data, MHD_RESPMEM_MUST_FREE)))
		r = MHD_NO;
	else {
		t->b.data = NULL; /* libmicrohttpd frees it with the response */
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		MHD_add_response_header(rsp, "Content-Disposition", "attachment; filename=\"weftd.trace.json\"");
		r = MHD_queue_response(conn, MHD_HTTP_OK, rsp);
		MHD_destroy_response(rsp);
	}
	weftd_buf_done(&t->b);
	free(t);
	return r;
}

bool weftd_http_trace_done(void **con_cls)
{
	struct http_trace *t = *con_cls;

	if (!t || t->magic != TRACE_MAGIC)
		return false;
	*con_cls = NULL;
	weftd_buf_done(&t->b);
	free(t);
	return true;
}

int weftd_http_trace(struct MHD_Connection *conn, void **con_cls, weft_ctx *ctx, weft_wg *wg,
		     int wake_fd)
{
	struct http_trace *t = *con_cls;
	const char *arg;
	char *end;
	long secs = 1;

	if (t && t->magic == TRACE_MAGIC) { /* resumed: the trace is done */
		*con_cls = NULL;
		return answer(conn, t);
	}
	if ((arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "seconds"))) {
		errno = 0;
		secs = strtol(arg, &end, 10);
		if (errno || *end || end == arg || secs < 1 || secs > WEFTD_TRACE_SECONDS_MAX)
			return text(conn, MHD_HTTP_BAD_REQUEST, "seconds must be a whole number from 1 to 60\n");
	}
	if (weft_trace_enabled())
		return text(conn, MHD_HTTP_CONFLICT, "a trace runs already (one at a time)\n");
	if (!(t = calloc(1, sizeof(*t))))
		return MHD_NO;
	t->magic = TRACE_MAGIC;
	t->conn = conn;
	t->ctx = ctx;
	t->wg = wg;
	t->wake_fd = wake_fd;
	t->seconds = (unsigned)secs;
	weftd_buf_init(&t->b, NULL, 0);
	MHD_suspend_connection(conn);
	weft_wg_add(wg, 1);
	if (weft_go_opts(trace_main, t, &(struct weft_go_opts){ .name = "http trace" }) < 0) {
		weft_wg_done(wg);
		MHD_resume_connection(conn);
		t->r = -ENOMEM;
	}
	*con_cls = t;
	return MHD_YES;
}
