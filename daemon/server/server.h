/* SPDX-License-Identifier: MIT */
/* server.h — the Unix socket front end: listen, accept, one fiber per connection, NDJSON
 * requests (proto.h) dispatched to the engine and the job table.
 *
 * Each connection's fiber reads with weft_recv into one buffer, handles every complete
 * line in it, and writes all the responses of that batch with one send. wait (and submit
 * with "wait":true) parks in a fiber of its own, so later requests on the connection are
 * not held up; its response goes out when the job ends (responses may come out of order:
 * the id says which). A client that disconnects cancels its connection's context, which
 * ends its waits; nothing stays behind. */
#ifndef WEFTD_SERVER_H
#define WEFTD_SERVER_H

#include <sys/types.h>
#include <weft/weft.h>

#include "config/config.h"
#include "engine/engine.h"
#include "proto/buf.h"
#include "proto/wire.h"

struct weftd_request;

struct weftd_server;

/* The socket file this process bound (dev and inode right after bind), so that it removes
 * that file at exit and never one another daemon bound at the same path since. */
struct weftd_sockfile {
	char path[108];                /* sizeof(sun_path) */
	dev_t dev;
	ino_t ino;
	bool owned;                    /* false: systemd's socket (or none): never removed */
};

/* The listening socket: from systemd socket activation when sd_listen_fds() passes one
 * (the first, SD_LISTEN_FDS_START), else a new Unix stream socket bound at d->socket (the
 * parent directory is created, a stale socket file replaced, the mode d->socket_mode set
 * through the umask at bind, never by a chmod on the path; a live daemon already
 * answering there is an error). Returns the fd (*activated says which way; *ret_file
 * names the file bound, if any) or a negative errno with err filled. Plain blocking
 * syscalls, and it changes the process umask for the bind: call before any thread. */
int weftd_server_listen(const struct weftd_daemon_config *d, bool *activated,
			struct weftd_sockfile *ret_file, char *err, size_t errlen);
/* Remove f's socket file if it is still the one bound (same device and inode). Returns 1
 * removed, 0 nothing to remove (not ours, or gone), -ESTALE when another socket has
 * taken the path (left alone), or another negative errno from lstat/unlink. */
int weftd_server_unlink(const struct weftd_sockfile *f);

/* A server on listening fd lfd, dispatching to e. Returns 0 or -ENOMEM. */
int weftd_server_new(struct weftd_engine *e, int lfd, const struct weftd_daemon_config *d,
		     struct weftd_server **ret);
/* Accept connections until ctx is done (returns its error) or accept fails hard.
 * Fiber only; connections live on in their own fibers, untouched by ctx: during a drain
 * they keep being served (status, wait, ...; submit answers `draining`). */
int weftd_server_run(struct weftd_server *s, weft_ctx *ctx);
/* End every connection (their waits too) and park until all have closed, at most
 * linger_ns. Fiber only. Returns 0, -ETIMEDOUT with connections still open (the server is
 * then never freed: they use it), or -ENOMEM. Called after the drain, so waits on drained
 * jobs have been answered. */
int weftd_server_close_conns(struct weftd_server *s, int64_t linger_ns);
/* Free after run returned and every connection ended (with connections left it frees
 * nothing: they use it); NULL ok. Does not close lfd. */
struct weftd_server *weftd_server_free(struct weftd_server *s);

/* An op the server does not implement itself (reload, drain, metrics): fn runs in a fiber of its
 * own and returns 0 with one whole response line for request id (raw JSON) in out, or a
 * negative errno with err filled (a message of at most errlen bytes): the server answers
 * with its errno table's code (errors.c: -EINVAL invalid_config, -ETIMEDOUT and -ECANCELED
 * internal). Without a handler those ops answer "unsupported". */
typedef int (*weftd_op_handler)(void *arg, const char *id, struct weftd_buf *out, char *err,
				size_t errlen);
void weftd_server_set_handler(struct weftd_server *s, enum weftd_op op, weftd_op_handler fn, void *arg);
/* The same for an op with arguments (profile): fn gets a copy of the request's (its
 * fiber outlives the request line). Replaces a handler set with the call above. */
typedef int (*weftd_op_handler_args)(void *arg, const struct weftd_request *args, const char *id,
				     struct weftd_buf *out, char *err, size_t errlen);
void weftd_server_set_handler_args(struct weftd_server *s, enum weftd_op op,
				   weftd_op_handler_args fn, void *arg);

/* Live connections. */
unsigned weftd_server_connections(struct weftd_server *s);

#endif
