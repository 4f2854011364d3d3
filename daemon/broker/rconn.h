/* SPDX-License-Identifier: MIT */
/* rconn.h — one connection to Redis over weft's own sockets, shared by many fibers.
 *
 * hiredis formats the commands (redisFormatCommand*) and parses the replies (its
 * redisReader); the bytes go through libweft's fiber calls (weft_connect, weft_write_all,
 * weft_recv) on the ring of whichever proc runs the caller. No hand-written RESP.
 *
 * Pipelining: a caller appends its batch (one or more commands, e.g. MULTI ... EXEC) to
 * the connection's output under a short spinlock and queues a slot for its replies in
 * FIFO order; the first caller to find no write in progress writes everything queued so
 * far (later callers' batches ride along); one reader fiber per connection reads, feeds
 * hiredis and hands each reply to the oldest slot. So a thousand fibers share one socket
 * with one write and one read per round rather than one each.
 *
 * Reconnects: the reader fiber owns the socket's life. It connects, sends the hello
 * (AUTH, SELECT, or a subscription: rconn_opts), and serves replies until the socket
 * fails; then every queued slot fails with -ENOTCONN, and it reconnects after a backoff
 * with jitter (50 ms doubling to 2 s). While down, rconn_exec answers -ENOTCONN at once:
 * callers decide (submit answers unavailable, a worker backs off).
 *
 * Replies that no slot waits for (pub/sub messages on a subscribed connection) go to
 * opts.on_push. A command that blocks in Redis (XREADGROUP BLOCK) holds every later
 * reply on its connection: give blocking readers a connection of their own.
 */
#ifndef WEFTD_BROKER_RCONN_H
#define WEFTD_BROKER_RCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include <weft/weft.h>

struct rconn;

/* A batch of formatted commands, filled by rbatch_cmd / rbatch_argv; caller storage. */
struct rbatch {
	char *buf;
	size_t len, cap;
	size_t n;                      /* commands in it */
	int err;                       /* the first failure (-ENOMEM, -EINVAL): exec refuses */
};

void rbatch_init(struct rbatch *b);
void rbatch_done(struct rbatch *b);
/* Append one command in redisFormatCommand's format (%s C string, %b pointer + size_t). */
void rbatch_cmd(struct rbatch *b, const char *fmt, ...);
/* Append one command of argc arguments (binary safe). */
void rbatch_argv(struct rbatch *b, int argc, const char **argv, const size_t *lens);

struct rconn_opts {
	bool is_unix;
	char addr[108];                /* socket path, or host (numeric or resolved at connect) */
	unsigned port, db;
	const char *password;          /* AUTH; NULL: none (the caller keeps it alive) */
	const char *subscribe;         /* PSUBSCRIBE this pattern after each connect; replies
	                                  then all go to on_push */
	/* A reply no slot waits for (ownership passes: freeReplyObject it). Reader fiber. */
	void (*on_push)(void *arg, redisReply *r);
	/* Each time the connection is (re)established (reader fiber, must not park long). */
	void (*on_up)(void *arg);
	void *arg;
	const char *name;              /* for the log: "broker main" */
};

/* A connection per opts (copied; password and name kept by pointer), not yet connected:
 * rconn_start spawns its reader. Returns 0 or -ENOMEM. */
int rconn_new(const struct rconn_opts *o, struct rconn **ret);
/* Spawn the reader fiber (it connects, and reconnects for ever until rconn_stop).
 * Fiber only. 0 or -ENOMEM. */
int rconn_start(struct rconn *c);
/* End the reader (queued calls fail with -ENOTCONN) and park until it has. Fiber only. */
void rconn_stop(struct rconn *c);
/* Free after stop (or never started). NULL ok; returns NULL. */
struct rconn *rconn_free(struct rconn *c);

/* Whether the connection is up now. */
bool rconn_up(struct rconn *c);
/* Wait until the connection is up or ctx is done: 0 or ctx's error. Fiber only. */
int rconn_wait_up(weft_ctx *ctx, struct rconn *c);

/* Send b's commands (contiguously: MULTI/EXEC stays whole) and park for their replies:
 * ret[i] receives command i's reply (the caller frees each with freeReplyObject; a
 * REDIS_REPLY_ERROR is a reply, not a failure). Returns 0; -ENOTCONN (down, or it went
 * down before every reply came: the commands may or may not have run); b->err; or ctx's
 * error (the replies are then dropped when they come). Fiber only. */
int rconn_exec(weft_ctx *ctx, struct rconn *c, struct rbatch *b, redisReply **ret);

/* The SHA1 of a Lua script's body in hex, for EVALSHA. Pure. */
void rscript_sha(const char *body, char ret[41]);
/* rconn_exec of a batch of one EVALSHA of body: when Redis answers NOSCRIPT (first use,
 * or after a restart), SCRIPT LOAD body and send it again. Same returns. Fiber only. */
int rconn_evalsha(weft_ctx *ctx, struct rconn *c, struct rbatch *b, const char *body, redisReply **ret);

/* Convenience for the replies: is r an error reply (or NULL)? */
static inline bool rreply_err(const redisReply *r)
{
	return !r || r->type == REDIS_REPLY_ERROR;
}

#endif
