/* SPDX-License-Identifier: MIT */
/* The connection to weftd: one Unix stream socket, request lines out, response lines in
 * (PROTOCOL.md). Responses may come out of order; callers match them by id. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "weftctl/ctl.h"

const char *ctl_default_socket(void)
{
	const char *s = getenv("WEFT_SOCKET");
	struct stat st;

	if (s && *s)
		return s;
	if (stat("./run/weftd.sock", &st) == 0)
		return "./run/weftd.sock";
	return "/run/weftd/weftd.sock";
}

int ctl_connect(struct ctl *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "weftctl: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "weftctl: cannot connect to %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

json_t *ctl_request(struct ctl *c, const char *op)
{
	json_t *r = json_object();
	json_object_set_new(r, "id", json_integer(c->next_id++));
	json_object_set_new(r, "op", json_string(op));
	return r;
}

/* A send failed (EPIPE, ECONNRESET): the daemon may have closed after answering already,
 * as it does when it refuses a connection (one `forbidden` or `busy` line, then close).
 * Print that answer and exit as for any error response; without one, say the send's error. */
static void send_failed(struct ctl *c, int err)
{
	char *raw = NULL;
	json_t *resp = NULL;
	bool timed_out;

	if (err == EPIPE || err == ECONNRESET) {
		c->quiet = true; /* no answer is no news: the send's error is said below */
		resp = ctl_recv(c, &raw, 1000, &timed_out);
		c->quiet = false;
	}
	int rc = resp && json_object_get(resp, "error") ? ctl_error_exit(c, resp, raw) : -1;
	json_decref(resp);
	free(raw);
	if (rc >= 0)
		exit(rc);
	fprintf(stderr, "weftctl: send: %s\n", strerror(err));
}

int ctl_send(struct ctl *c, json_t *req)
{
	/* JSON_ALLOW_NUL is a load flag; dumping writes \u0000 for a NUL in a string anyway */
	char *s = json_dumps(req, JSON_COMPACT);
	size_t len, off = 0;

	json_decref(req);
	if (!s) {
		fprintf(stderr, "weftctl: out of memory\n");
		return -1;
	}
	len = strlen(s);
	s[len++] = '\n'; /* json_dumps leaves room for the NUL we overwrite */
	while (off < len) {
		ssize_t w = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			free(s);
			send_failed(c, err);
			return -1;
		}
		off += (size_t)w;
	}
	free(s);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

json_t *ctl_recv(struct ctl *c, char **raw, int timeout_ms, bool *timed_out)
{
	long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;

	*timed_out = false;
	*raw = NULL;
	for (;;) {
		char *nl = c->rlen ? memchr(c->rbuf, '\n', c->rlen) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - c->rbuf);
			json_error_t je;
			/* JSON_ALLOW_NUL: an output with a NUL byte is "\u0000" in a string;
			 * jansson refuses it otherwise, and the whole line with it. */
			json_t *v = json_loadb(c->rbuf, n, JSON_ALLOW_NUL, &je);
			*raw = strndup(c->rbuf, n);
			memmove(c->rbuf, nl + 1, c->rlen - n - 1);
			c->rlen -= n + 1;
			if (!v || !json_is_object(v)) {
				ctl_progress_clear(c);
				if (!c->quiet)
					fprintf(stderr, "weftctl: bad response from the daemon: %s\n",
						v ? "not an object" : je.text);
				json_decref(v);
				free(*raw);
				*raw = NULL;
				return NULL;
			}
			return v;
		}
		if (c->rlen == c->rcap) {
			size_t cap = c->rcap ? c->rcap * 2 : 65536;
			char *nb = realloc(c->rbuf, cap);
			if (!nb) {
				fprintf(stderr, "weftctl: out of memory\n");
				return NULL;
			}
			c->rbuf = nb;
			c->rcap = cap;
		}
		if (deadline >= 0) {
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			long long left = deadline - now_ms();
			int r = left > 0 ? poll(&p, 1, (int)left) : 0;
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0) {
				*timed_out = true;
				return NULL;
			}
		}
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ctl_progress_clear(c);
			if (!c->quiet)
				fprintf(stderr, "weftctl: connection closed by the daemon%s%s\n",
					r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
			return NULL;
		}
		c->rlen += (size_t)r;
	}
}

int ctl_error_exit(struct ctl *c, json_t *resp, const char *raw)
{
	json_t *e = json_object_get(resp, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	ctl_progress_clear(c);
	if (c->json)
		ctl_print_json(resp, raw);
	else
		fprintf(stderr, "weftctl: %s: %s\n", code ? code : "error", msg ? msg : "");
	if (code && (!strcmp(code, "busy") || !strcmp(code, "draining") || !strcmp(code, "unavailable")))
		return EX_BUSY;
	if (code && !strcmp(code, "conflict"))
		return EX_CONFLICT;
	return EX_REJECTED;
}

json_t *ctl_roundtrip(struct ctl *c, json_t *req, char **raw, int *rc)
{
	json_t *resp;
	bool timed_out;

	*raw = NULL;
	if (ctl_send(c, req) < 0 || !(resp = ctl_recv(c, raw, -1, &timed_out))) {
		*rc = EX_CONN;
		return NULL;
	}
	if (!json_is_true(json_object_get(resp, "ok"))) {
		*rc = ctl_error_exit(c, resp, *raw);
		json_decref(resp);
		free(*raw);
		*raw = NULL;
		return NULL;
	}
	return resp;
}
