/* SPDX-License-Identifier: MIT */
/* errors.c — the protocol's answer to a negative errno: the one place where an errno of the
 * engine, the job table, the op handlers or the server itself becomes an error code of
 * PROTOCOL.md (a request the parser refused carries its code already: proto.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/reply.h"
#include "server/server_impl.h"

/* The message is fmt with the subject for %s: a pipeline's name, a job's id, or the whole
 * message (a limit's, a handler's). An errno missing here is internal, with strerror. */
static const struct errmap {
	int err;
	enum weftd_err code;
	const char *fmt;
} errmap[] = {
	{ ENOENT, WEFTD_ERR_UNKNOWN_PIPELINE, "no pipeline \"%.64s\"" },
	{ ESRCH, WEFTD_ERR_UNKNOWN_JOB, "no job \"%.64s\"" },
	{ EAGAIN, WEFTD_ERR_BUSY, "pipeline \"%.64s\" is full: retry later" },
	{ EBUSY, WEFTD_ERR_BUSY, "%s" }, /* a limit of the server or of a connection */
	{ ESHUTDOWN, WEFTD_ERR_DRAINING, "the daemon is draining: no new jobs" },
	{ EACCES, WEFTD_ERR_FORBIDDEN, "%s" },
	{ EMSGSIZE, WEFTD_ERR_TOO_LARGE, "request line longer than %s bytes" },
	{ E2BIG, WEFTD_ERR_TOO_LARGE, "answer over daemon.max_response_bytes (%s): ask for fewer jobs" },
	{ EOPNOTSUPP, WEFTD_ERR_UNSUPPORTED, "op \"%s\" has no handler in this server" },
	{ EINVAL, WEFTD_ERR_INVALID_CONFIG, "%s" },   /* reload: the config is not applied */
	{ ETIMEDOUT, WEFTD_ERR_INTERNAL, "%s" },      /* drain: jobs still running */
	{ ECANCELED, WEFTD_ERR_INTERNAL, "%s" },      /* drain: interrupted */
	{ ENOMEM, WEFTD_ERR_INTERNAL, "out of memory" },
	{ EALREADY, WEFTD_ERR_CONFLICT, "%s" },       /* trace: one runs already */
	/* the journal's write errors: it retries on its own (jobs/journal.h) */
	{ ENOSPC, WEFTD_ERR_UNAVAILABLE, "no space left for the journal: retry later" },
	{ EDQUOT, WEFTD_ERR_UNAVAILABLE, "disk quota exceeded for the journal: retry later" },
	{ EIO, WEFTD_ERR_UNAVAILABLE, "journal I/O error: retry later" },
	{ EROFS, WEFTD_ERR_UNAVAILABLE, "the journal's file system is read-only: retry later" },
	/* a broker pipeline's Redis (broker/broker.h) */
	{ ENOTCONN, WEFTD_ERR_UNAVAILABLE, "the broker of pipeline \"%.64s\" is unreachable: retry later" },
};

int srv_resp_errno(struct weftd_buf *b, const char *id, int err, const char *subject)
{
	const char *why = strerror(err < 0 ? -err : EIO);
	char msg[1280];

	for (size_t i = 0; i < sizeof(errmap) / sizeof(errmap[0]); i++)
		if (errmap[i].err == -err) {
			snprintf(msg, sizeof(msg), errmap[i].fmt, subject ? subject : why);
			return weftd_resp_error(b, id, errmap[i].code, msg);
		}
	return weftd_resp_error(b, id, WEFTD_ERR_INTERNAL, why);
}
