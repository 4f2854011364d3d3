/* SPDX-License-Identifier: MIT */
/* rconn.c — a pipelined Redis connection over weft's sockets (see rconn.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker/rconn.h"
#include "util/log.h"
#include "util/spin.h"

#define RECV_CHUNK (64 * 1024)
#define BACKOFF_MIN_NS (50 * WEFT_MSEC)
#define BACKOFF_MAX_NS (2000 * WEFT_MSEC)

/* One caller's batch waiting for its replies (on the caller's stack unless abandoned:
 * then on the heap, freed by the reader). */
struct rcall {
	weft_event ev;                 /* set with 0 (all replies in) or -ENOTCONN */
	size_t n, got;
	redisReply **out;
	bool abandoned;                /* the caller gave up: drop the replies */
	struct rcall *next;
};

struct rconn {
	struct rconn_opts o;
	weftd_spin lock;               /* everything below but the reader's own */
	int fd;                        /* -EBADF while down */
	atomic_bool up;                /* written under lock; rconn_up reads it without */
	bool writing;                  /* a caller is writing out[] (only one at a time) */
	char *out;                     /* bytes not yet handed to the socket */
	size_t outlen, outcap;
	struct rcall *head, *tail;     /* slots in reply order */
	weft_ctx *ctx;                 /* the reader's; cancelled by rconn_stop */
	weft_event ended;              /* the reader returned */
	bool started;
	weft_mutex up_lock;            /* with up_cond: rconn_wait_up */
	weft_cond up_cond;
	uint64_t rnd;                  /* backoff jitter */
};

/* ---- batches -------------------------------------------------------------------- */

void rbatch_init(struct rbatch *b)
{
	*b = (struct rbatch){ 0 };
}

void rbatch_done(struct rbatch *b)
{
	free(b->buf);
	*b = (struct rbatch){ 0 };
}

static void batch_append(struct rbatch *b, const char *cmd, int len)
{
	if (len < 0) {
		b->err = b->err ? b->err : -EINVAL;
		return;
	}
	if (b->len + (size_t)len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + (size_t)len)
			cap *= 2;
		char *nb = realloc(b->buf, cap);
		if (!nb) {
			b->err = -ENOMEM;
			return;
		}
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, cmd, (size_t)len);
	b->len += (size_t)len;
	b->n++;
}

void rbatch_cmd(struct rbatch *b, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	batch_append(b, cmd, len);
	if (len >= 0)
		redisFreeCommand(cmd);
}

void rbatch_argv(struct rbatch *b, int argc, const char **argv, const size_t *lens)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, lens);

	batch_append(b, cmd, len);
	if (len >= 0)
		redisFreeCommand(cmd);
}

/* ---- life ------------------------------------------------------------------------ */

int rconn_new(const struct rconn_opts *o, struct rconn **ret)
{
	struct rconn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->o = *o;
	c->fd = -EBADF;
	c->rnd = (uint64_t)weft_now() ^ (uintptr_t)c;
	weft_event_init(&c->ended);
	weft_mutex_init(&c->up_lock);
	weft_cond_init(&c->up_cond);
	*ret = c;
	return 0;
}

struct rconn *rconn_free(struct rconn *c)
{
	if (!c)
		return NULL;
	weft_ctx_unref(c->ctx);
	free(c->out);
	free(c);
	return NULL;
}

bool rconn_up(struct rconn *c)
{
	/* no lock: every command asks (bnet_conn), and the lock is the writers' */
	return atomic_load_explicit(&c->up, memory_order_acquire);
}

int rconn_wait_up(weft_ctx *ctx, struct rconn *c)
{
	int r = 0;

	weft_mutex_lock(NULL, &c->up_lock);
	while (!rconn_up(c) && (r = weft_cond_wait(ctx, &c->up_cond, &c->up_lock)) == 0)
		;
	weft_mutex_unlock(&c->up_lock);
	return rconn_up(c) ? 0 : r;
}

/* ---- calls ----------------------------------------------------------------------- */

/* Hand reply r to the oldest slot (or on_push when none waits). Reader only. */
static void deliver(struct rconn *c, redisReply *r)
{
	struct rcall *k;

	weftd_spin_lock(&c->lock);
	k = c->head;
	if (!k) {
		weftd_spin_unlock(&c->lock);
		if (c->o.on_push)
			c->o.on_push(c->o.arg, r);
		else
			freeReplyObject(r);
		return;
	}
	if (k->abandoned)
		freeReplyObject(r);
	else
		k->out[k->got] = r;
	if (++k->got < k->n) {
		weftd_spin_unlock(&c->lock);
		return;
	}
	c->head = k->next;
	if (!c->head)
		c->tail = NULL;
	if (k->abandoned) {
		weftd_spin_unlock(&c->lock);
		free(k);
		return;
	}
	/* set under the lock: an abandoning caller decides under it too (event.h) */
	weft_event_set(&k->ev, 0);
	weftd_spin_unlock(&c->lock);
}

/* Fail every queued slot (the socket went down). Lock held by the caller. */
static void fail_all(struct rconn *c)
{
	struct rcall *k = c->head, *next;

	c->head = c->tail = NULL;
	for (; k; k = next) {
		next = k->next;
		if (k->abandoned) {
			free(k);
			continue;
		}
		weft_event_set(&k->ev, -ENOTCONN);
	}
}

/* Write what is queued until nothing is; the caller set c->writing. Later callers append
 * into a fresh buffer meanwhile (one allocation per round, shared by a round's calls). */
static void write_out(struct rconn *c)
{
	weftd_spin_lock(&c->lock);
	while (c->outlen && c->up) {
		char *buf = c->out;
		size_t len = c->outlen;
		int fd = c->fd;
		c->out = NULL;
		c->outcap = c->outlen = 0;
		weftd_spin_unlock(&c->lock);
		int r = weft_write_all(NULL, fd, buf, len);
		free(buf);
		if (r < 0)
			shutdown(fd, SHUT_RDWR); /* the reader sees it and fails the slots */
		weftd_spin_lock(&c->lock);
		if (r < 0)
			break;
	}
	if (!c->up)
		c->outlen = 0;
	c->writing = false;
	weftd_spin_unlock(&c->lock);
}

int rconn_exec(weft_ctx *ctx, struct rconn *c, struct rbatch *b, redisReply **ret)
{
	struct rcall call = { .n = b->n, .out = ret }, *k = &call;
	bool write;
	int r;

	if (b->err)
		return b->err;
	if (b->n == 0)
		return 0;
	memset(ret, 0, b->n * sizeof(*ret));
	weft_event_init(&call.ev);
	weftd_spin_lock(&c->lock);
	if (!c->up) {
		weftd_spin_unlock(&c->lock);
		return -ENOTCONN;
	}
	if (c->outlen + b->len > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		while (cap < c->outlen + b->len)
			cap *= 2;
		char *nb = realloc(c->out, cap);
		if (!nb) {
			weftd_spin_unlock(&c->lock);
			return -ENOMEM;
		}
		c->out = nb;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, b->buf, b->len);
	c->outlen += b->len;
	if (c->tail)
		c->tail->next = k;
	else
		c->head = k;
	c->tail = k;
	write = !c->writing;
	c->writing = true;
	weftd_spin_unlock(&c->lock);
	if (write)
		write_out(c);
	r = weft_event_wait(ctx, &call.ev);
	if (r == 0 || r == -ENOTCONN) {
		if (r < 0)
			for (size_t i = 0; i < call.n; i++)
				if (ret[i])
					ret[i] = (freeReplyObject(ret[i]), NULL);
		return r;
	}
	/* ctx done first: unless the replies are all in, the slot moves to the heap and the
	 * reader drops them when they come */
	weftd_spin_lock(&c->lock);
	if (weft_event_is_set(&call.ev, &r)) {
		weftd_spin_unlock(&c->lock);
		for (size_t i = 0; i < call.n; i++)
			if (ret[i])
				ret[i] = (freeReplyObject(ret[i]), NULL);
		return r == 0 ? weft_ctx_err(ctx) : r;
	}
	struct rcall *h = malloc(sizeof(*h));
	if (!h) { /* cannot let go of the stack slot: wait it out */
		weftd_spin_unlock(&c->lock);
		weft_event_wait(NULL, &call.ev);
		for (size_t i = 0; i < call.n; i++)
			if (ret[i])
				ret[i] = (freeReplyObject(ret[i]), NULL);
		return weft_ctx_err(ctx);
	}
	*h = call;
	h->abandoned = true;
	for (size_t i = 0; i < call.got; i++)
		freeReplyObject(ret[i]);
	/* relink h in place of the stack slot */
	struct rcall **pp = &c->head, *prev = NULL;
	while (*pp && *pp != k) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp) {
		*pp = h;
		if (c->tail == k)
			c->tail = h;
		(void)prev;
	} else {
		free(h); /* not queued any more (failed meanwhile) */
	}
	weftd_spin_unlock(&c->lock);
	return weft_ctx_err(ctx);
}

void rscript_sha(const char *body, char ret[41])
{
	unsigned char md[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)body, strlen(body), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(ret + 2 * i, 3, "%02x", md[i]);
}

int rconn_evalsha(weft_ctx *ctx, struct rconn *c, struct rbatch *b, const char *body, redisReply **ret)
{
	int r = rconn_exec(ctx, c, b, ret);

	if (r < 0 || (*ret)->type != REDIS_REPLY_ERROR || strncmp((*ret)->str, "NOSCRIPT", 8) != 0)
		return r;
	freeReplyObject(*ret);
	struct rbatch l;
	redisReply *lr;
	rbatch_init(&l);
	rbatch_cmd(&l, "SCRIPT LOAD %s", body);
	r = rconn_exec(ctx, c, &l, &lr);
	rbatch_done(&l);
	if (r < 0)
		return r;
	freeReplyObject(lr);
	return rconn_exec(ctx, c, b, ret);
}

/* ---- the reader ------------------------------------------------------------------ */

struct lookup {
	const char *host;
	unsigned port;
	struct sockaddr_storage *sa;
	socklen_t *salen;
};

static int lookup_blocking(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	char port[8];

	snprintf(port, sizeof(port), "%u", l->port);
	int r = getaddrinfo(l->host, port, &hints, &res);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : r == EAI_AGAIN ? -EAGAIN : r == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
	memcpy(l->sa, res->ai_addr, res->ai_addrlen); /* the first answer (getaddrinfo orders them) */
	*l->salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* host:port as a socket address: a numeric address at once, a name through getaddrinfo on
 * libweft's blocking pool (resolved again at each connect: a moved Redis is found). */
static int resolve(const char *host, unsigned port, struct sockaddr_storage *sa, socklen_t *salen)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;

	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*salen = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*salen = sizeof(*in6);
		return 0;
	}
	return weft_blocking(lookup_blocking, &(struct lookup){ host, port, sa, salen });
}

static int dial(struct rconn *c)
{
	int fd, r;

	if (c->o.is_unix) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		memcpy(sa.sun_path, c->o.addr, sizeof(sa.sun_path) - 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		r = weft_connect(c->ctx, fd, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct sockaddr_storage sa;
		socklen_t salen;
		if ((r = resolve(c->o.addr, c->o.port, &sa, &salen)) < 0)
			return r;
		fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		r = weft_connect(c->ctx, fd, (struct sockaddr *)&sa, salen);
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* Read replies off fd into rd until one is complete: 0 with *ret, or -errno. */
static int read_reply(struct rconn *c, int fd, redisReader *rd, char *buf, redisReply **ret)
{
	void *rep = NULL;

	for (;;) {
		if (redisReaderGetReply(rd, &rep) != REDIS_OK)
			return -EPROTO;
		if (rep) {
			*ret = rep;
			return 0;
		}
		int n = weft_recv(c->ctx, fd, buf, RECV_CHUNK, 0);
		if (n <= 0)
			return n < 0 ? n : -ECONNRESET;
		if (redisReaderFeed(rd, buf, (size_t)n) != REDIS_OK)
			return -EPROTO;
	}
}

/* AUTH, SELECT and PSUBSCRIBE on a new socket, before anyone else may use it. */
static int hello(struct rconn *c, int fd, redisReader *rd, char *buf, char *why, size_t whylen)
{
	struct rbatch b;
	int r = 0;

	rbatch_init(&b);
	if (c->o.password)
		rbatch_cmd(&b, "AUTH %s", c->o.password);
	if (c->o.db)
		rbatch_cmd(&b, "SELECT %u", c->o.db);
	if (c->o.subscribe)
		rbatch_cmd(&b, "PSUBSCRIBE %s", c->o.subscribe);
	if (b.err)
		r = b.err;
	else if (b.len)
		r = weft_write_all(c->ctx, fd, b.buf, b.len);
	for (size_t i = 0; r >= 0 && i < b.n; i++) {
		redisReply *rep;
		if ((r = read_reply(c, fd, rd, buf, &rep)) < 0)
			break;
		if (rep->type == REDIS_REPLY_ERROR) {
			snprintf(why, whylen, "%s", rep->str);
			r = -EACCES;
		}
		freeReplyObject(rep);
	}
	rbatch_done(&b);
	return r < 0 ? r : 0;
}

static void set_up(struct rconn *c, int fd)
{
	weft_mutex_lock(NULL, &c->up_lock);
	weftd_spin_lock(&c->lock);
	c->fd = fd;
	c->up = fd >= 0;
	if (fd < 0)
		fail_all(c);
	/* Bytes still queued belong to the slots just failed: a writer whose write failed
	 * before the reader saw the socket go leaves them behind (it stops at its error
	 * while up is still true). Sent on the next socket, they would run a second time
	 * and their replies would go to the next callers' slots, every reply after them
	 * one slot off (a wait answering with another job's hash). */
	c->outlen = 0;
	weftd_spin_unlock(&c->lock);
	weft_cond_broadcast(&c->up_cond);
	weft_mutex_unlock(&c->up_lock);
}

/* Serve one socket until it fails (returns the error). */
static int serve(struct rconn *c, int fd, redisReader *rd, char *buf)
{
	for (;;) {
		int n = weft_recv(c->ctx, fd, buf, RECV_CHUNK, 0);
		if (n <= 0)
			return n < 0 ? n : -ECONNRESET;
		if (redisReaderFeed(rd, buf, (size_t)n) != REDIS_OK)
			return -EPROTO;
		for (;;) {
			void *rep = NULL;
			if (redisReaderGetReply(rd, &rep) != REDIS_OK)
				return -EPROTO;
			if (!rep)
				break;
			deliver(c, rep);
		}
	}
}

static void reader_main(void *arg)
{
	struct rconn *c = arg;
	char *buf = malloc(RECV_CHUNK);
	int64_t backoff = BACKOFF_MIN_NS;
	bool was_up = true; /* log the first failure */

	while (buf && weft_ctx_err(c->ctx) == 0) {
		char why[256] = "";
		redisReader *rd = redisReaderCreate();
		int fd = rd ? dial(c) : -ENOMEM;
		int r = fd;
		if (fd >= 0 && (r = hello(c, fd, rd, buf, why, sizeof(why))) == 0) {
			set_up(c, fd);
			weftd_notice("%s: connected to redis %s", c->o.name, c->o.addr);
			was_up = true;
			backoff = BACKOFF_MIN_NS;
			if (c->o.on_up)
				c->o.on_up(c->o.arg);
			r = serve(c, fd, rd, buf);
			set_up(c, -EBADF);
			/* a writer may still be in the socket: shut it down and let it see so */
			shutdown(fd, SHUT_RDWR);
			for (;;) {
				weftd_spin_lock(&c->lock);
				bool w = c->writing;
				weftd_spin_unlock(&c->lock);
				if (!w)
					break;
				weft_sleep(NULL, WEFT_MSEC); /* pacing: the write fails at once */
			}
		}
		if (fd >= 0)
			close(fd);
		if (rd)
			redisReaderFree(rd);
		if (weft_ctx_err(c->ctx))
			break;
		if (was_up)
			weftd_warn("%s: redis %s unreachable (%s%s%s): retrying", c->o.name, c->o.addr,
				   strerror(-r), why[0] ? ": " : "", why);
		was_up = false;
		/* full jitter: nodes that lost Redis together do not come back in step */
		c->rnd = c->rnd * 6364136223846793005ull + 1442695040888963407ull;
		weft_sleep(c->ctx, backoff / 2 + (int64_t)((c->rnd >> 33) % (uint64_t)(backoff / 2 + 1)));
		backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff * 2;
	}
	set_up(c, -EBADF);
	free(buf);
	weft_event_set(&c->ended, 0);
}

int rconn_start(struct rconn *c)
{
	int r = weft_ctx_with_cancel(NULL, &c->ctx);

	if (r < 0)
		return r;
	if (weft_go_opts(reader_main, c, &(struct weft_go_opts){ .name = "redis" }) < 0)
		return -ENOMEM;
	c->started = true;
	return 0;
}

void rconn_stop(struct rconn *c)
{
	if (!c || !c->started)
		return;
	weft_ctx_cancel(c->ctx);
	weftd_spin_lock(&c->lock);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	weftd_spin_unlock(&c->lock);
	weft_event_wait(NULL, &c->ended);
	c->started = false;
}
