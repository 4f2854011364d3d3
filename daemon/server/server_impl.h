/* SPDX-License-Identifier: MIT */
/* server_impl.h — the server's shared state, private to daemon/server/ (see server.h).
 *
 * listen.c: the listening socket, accepting, the server object; conn.c: a connection, its
 * reader and its writer; peer.c: the peer's credentials and what they allow; ops.c: the op table and its handlers (waits parked in fibers of
 * their own); errors.c: errno to protocol error; render.c: figures to JSON (render.h). */
#ifndef WEFTD_SERVER_IMPL_H
#define WEFTD_SERVER_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <weft/weft.h>

#include "server/server.h"
#include "util/spin.h"

#define READ_CHUNK         (64 * 1024)
#define OUT_HIGH_WATER     (16u << 20)   /* pause reading while this much output is unsent */
#define MAX_ASYNC_PER_CONN 65536         /* parked waits per connection */
#define LINES_PER_TURN     16            /* requests handled before letting others run */
#define WAITS_LINGER       WEFT_SEC      /* for waits' answers once the server closes */

struct handler {
	weftd_op_handler fn;
	void *arg;
	weftd_op_handler_args fn_args; /* instead of fn: an op with arguments */
};

struct uid_count {
	uid_t uid;
	unsigned count;                /* 0: a free slot */
};

struct weftd_server {
	struct weftd_engine *eng;
	const struct weftd_daemon_config *d;
	int lfd;
	weft_ctx *conns;               /* every connection's parent: cancelled by close_conns,
	                                  after the drain, not by the end of accepting */
	atomic_uint nconns;            /* live and being accepted (the max_connections check) */
	weft_wg live;                  /* live connections: close_conns waits for them */
	bool lingering;                /* close_conns gave up on some connections */
	struct handler handlers[WEFTD_OP__MAX];
	weftd_spin uids_lock;          /* guards uids */
	struct uid_count *uids;        /* live connections per peer uid (uids.c) */
	size_t nuids;                  /* slots: max_connections */
	unsigned per_uid;              /* a uid's share: max_connections_per_uid */
	int spare_fd;                  /* closed to accept and refuse a client on EMFILE */
	int64_t emfile_logged;         /* last "out of fds" log line (one per period) */
	unsigned emfile_refused;       /* clients refused since */
};

struct weftd_request;

struct conn {
	atomic_int refs;               /* reader + each parked wait */
	int fd;
	_Atomic int64_t wrote_at;      /* when the writer last finished (idle_timeout) */
	struct weftd_server *srv;
	uid_t uid;                     /* the peer's (SO_PEERCRED at accept): owns what it submits;
	                                  counted in srv->uids */
	bool admin;                    /* may see every job, drain, reload (peer.c) */
	weft_ctx *ctx;                 /* cancelled when the client goes away */
	weft_mutex lock;               /* guards out, spare, writing, dead, backlogged */
	struct weftd_buf out;          /* responses not yet sent */
	struct weftd_buf spare;
	bool writing;                  /* some fiber is sending: others only append */
	bool dead;
	unsigned backlogged;           /* readers waiting for the writer to take out */
	weft_cond taken;               /* the writer took out (or stopped writing) */
	atomic_uint async;             /* parked waits (the MAX_ASYNC_PER_CONN check) */
	weft_wg waits;                 /* parked waits, for the reader's end */
	weft_wg handlers;              /* reload/drain calls running */
};

/* conn.c */
/* Drop a reference (the reader's, or a parked op's); the last closes the fd. */
void srv_conn_unref(struct conn *c);
/* Send everything appended so far (see conn.c). May park. */
void srv_conn_flush(struct conn *c);
/* Append a batch of whole response lines (dropped once the connection is dead); may take
 * b's storage (b is then empty, with other storage). */
void srv_conn_append(struct conn *c, struct weftd_buf *b);
/* A connection's fiber: reads requests until the client goes or the server closes it,
 * then drops the reader's reference. */
void srv_conn_main(void *arg);

/* peer.c */
/* Read fd's peer credentials and full group list: *ret_uid, and *ret_admin when the peer is
 * root, the daemon's own uid, or in d->admin_uids / admin_groups. Returns 0 when d's
 * allow_uids / allow_groups let it in (or are empty), -EACCES when not, -errno when the
 * credentials cannot be read. Without SO_PEERGROUPS, falls back on NSS (blocking). */
int srv_peer_check(int fd, const struct weftd_daemon_config *d, uid_t *ret_uid, bool *ret_admin);

/* ops.c */
/* Handle one request line, appending its response (if any, now) to b. May park (submit
 * under the journal) and spawns fibers for waits and handlers. */
void srv_handle_line(struct conn *c, struct weftd_buf *b, const char *line, size_t len);

/* uids.c: a peer uid's share of max_connections (max_connections_per_uid, default three
 * quarters). init: the table for s->d (-ENOMEM); take: count one more connection of uid,
 * 0 or -EBUSY over its share; put: one fewer. Any thread; never parks. */
int srv_uids_init(struct weftd_server *s);
void srv_uids_done(struct weftd_server *s);
int srv_uid_take(struct weftd_server *s, uid_t uid);
void srv_uid_put(struct weftd_server *s, uid_t uid);

/* errors.c */
/* Write the error response to request id for negative errno err: the protocol code and
 * the message from the one errno table (errors.c); subject fills the message in (a
 * pipeline's name, a job's id, a handler's message; NULL: strerror). Returns
 * weftd_resp_error's result. */
int srv_resp_errno(struct weftd_buf *b, const char *id, int err, const char *subject);

/* ops.c: the job called id if the peer may see it (a new reference), else answers
 * unknown_job into b and returns NULL. */
struct weftd_job *srv_find_job(struct conn *c, struct weftd_buf *b, const char *reqid, const char *id);

/* steer.c: the operator's controls (PROTOCOL.md: pause, resume, retry, purge). Each
 * answers into b; never parks (but the journal's record of a re-drive). */
void srv_op_pause(struct conn *c, struct weftd_buf *b, const struct weftd_request *req);
void srv_op_dead_letters(struct conn *c, struct weftd_buf *b, const struct weftd_request *req);

#endif
