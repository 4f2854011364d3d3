/* SPDX-License-Identifier: MIT */
/* listen.c — the listening socket, accepting, the server object (see server.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "util/log.h"
#include "server/server_impl.h"

/* Over the limit or not allowed: one error line, then close. */
static void refuse(int fd, int err, const char *msg)
{
	char mem[256];
	struct weftd_buf b;

	weftd_buf_init(&b, mem, sizeof(mem));
	srv_resp_errno(&b, NULL, err, msg);
	if (!b.err)
		weft_send(NULL, fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

#define EMFILE_LOG_PERIOD (10 * WEFT_SEC)  /* one "out of fds" line per period */

/* Out of fds: the spare fd makes room to accept one waiting client and tell it `busy`
 * (rather than leave thousands waiting unanswered); without one, back off. One log line
 * per EMFILE_LOG_PERIOD says how many were refused. Returns 0 or ctx's error. */
static int out_of_fds(struct weftd_server *s, weft_ctx *ctx, int err)
{
	int64_t now = weft_now();

	if (now - s->emfile_logged >= EMFILE_LOG_PERIOD) {
		weftd_warn("accept: %s (max_connections %u, RLIMIT_NOFILE?); %u clients refused "
			   "busy since the previous such line (one per %llds)", strerror(-err), s->d->max_connections,
			   s->emfile_refused, (long long)(EMFILE_LOG_PERIOD / WEFT_SEC));
		s->emfile_logged = now;
		s->emfile_refused = 0;
	}
	struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };
	/* the listener blocks: accept4 only with a client waiting (this fiber alone accepts) */
	if (s->spare_fd >= 0 && poll(&pfd, 1, 0) == 1) {
		close(s->spare_fd);
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			refuse(fd, -EBUSY, "the daemon is out of file descriptors: retry later");
			s->emfile_refused++;
		}
		s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			return 0;
	}
	return weft_sleep(ctx, 100 * WEFT_MSEC) < 0 ? weft_ctx_err(ctx) : 0;
}

int weftd_server_run(struct weftd_server *s, weft_ctx *ctx)
{
	for (;;) {
		int fd = weft_accept(ctx, s->lfd, NULL, NULL, 0);
		if (fd < 0) {
			if (fd == -ECANCELED || fd == -ETIMEDOUT)
				return fd;
			if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
				if (out_of_fds(s, ctx, fd) < 0)
					return weft_ctx_err(ctx);
				continue;
			}
			if (fd == -EINTR || fd == -ECONNABORTED || fd == -EAGAIN)
				continue;
			weftd_err("accept: %s", strerror(-fd));
			return fd;
		}
		uid_t uid;
		bool admin;
		if (srv_peer_check(fd, s->d, &uid, &admin) < 0) {
			refuse(fd, -EACCES, "peer uid/groups not in allow_uids/allow_groups");
			continue;
		}
		if (atomic_fetch_add(&s->nconns, 1) >= s->d->max_connections) {
			atomic_fetch_sub(&s->nconns, 1);
			refuse(fd, -EBUSY, "too many connections");
			continue;
		}
		if (srv_uid_take(s, uid) < 0) {
			atomic_fetch_sub(&s->nconns, 1);
			refuse(fd, -EBUSY, "too many connections from this uid (max_connections_per_uid)");
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c || weft_ctx_with_cancel(s->conns, &c->ctx) < 0) {
			free(c);
			srv_uid_put(s, uid);
			atomic_fetch_sub(&s->nconns, 1);
			refuse(fd, -ENOMEM, NULL);
			continue;
		}
		atomic_init(&c->refs, 1);
		c->fd = fd;
		c->srv = s;
		c->uid = uid;
		c->admin = admin;
		weft_mutex_init(&c->lock);
		weft_cond_init(&c->taken);
		weft_wg_init(&c->waits);
		weft_wg_init(&c->handlers);
		weft_wg_add(&s->live, 1); /* done when the last reference goes */
		weftd_buf_init(&c->out, NULL, 0);
		weftd_buf_init(&c->spare, NULL, 0);
		if (weft_go_opts(srv_conn_main, c, &(struct weft_go_opts){ .name = "conn" }) < 0)
			srv_conn_unref(c);
	}
}

/* ---- setup ------------------------------------------------------------------------ */

static int mkdir_parents(const char *path)
{
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

int weftd_server_listen(const struct weftd_daemon_config *d, bool *activated,
			struct weftd_sockfile *ret_file, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = sd_listen_fds(1), fd, r;

	*ret_file = (struct weftd_sockfile){ .owned = false };

	if (n > 0) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			snprintf(err, errlen, "socket activation: fd %d is not a listening Unix stream socket", fd);
			return -EINVAL;
		}
		*activated = true;
		return fd;
	}
	*activated = false;
	if (strlen(d->socket) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", d->socket);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, d->socket);
	r = mkdir_parents(d->socket);
	if (r < 0) {
		snprintf(err, errlen, "creating the directory of %s: %s", d->socket, strerror(-r));
		return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	struct stat st;
	if (lstat(d->socket, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", d->socket);
			close(fd);
			return -EEXIST;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			snprintf(err, errlen, "%s: another daemon is listening there", d->socket);
			close(fd);
			return -EADDRINUSE;
		}
		close(fd);
		unlink(d->socket); /* stale: nobody listens */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(err, errlen, "socket: %s", strerror(errno));
			return -errno;
		}
	}
	/* The file takes its mode from the umask at bind: no chmod by path afterwards, which
	 * would follow a symlink put there meanwhile (a directory writable by others). Before
	 * any thread exists, so nobody else creates files under this umask. */
	mode_t old = umask(~d->socket_mode & 0777);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || lstat(d->socket, &st) < 0 || listen(fd, 4096) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", d->socket, strerror(errno));
		close(fd);
		return r;
	}
	/* what weftd_server_unlink may remove: this file, not one bound there later */
	*ret_file = (struct weftd_sockfile){ .dev = st.st_dev, .ino = st.st_ino, .owned = true };
	strcpy(ret_file->path, d->socket);
	return fd;
}

int weftd_server_unlink(const struct weftd_sockfile *f)
{
	struct stat st;

	if (!f->owned)
		return 0;
	if (lstat(f->path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode) || st.st_dev != f->dev || st.st_ino != f->ino)
		return -ESTALE; /* another daemon's now: leave it */
	return unlink(f->path) < 0 ? -errno : 1;
}

/* Every connection is an fd: take the hard limit of RLIMIT_NOFILE, and say so when even
 * that is below what max_connections needs (plus the daemon's own, a rough 64). */
static void raise_nofile(const struct weftd_daemon_config *d)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)d->max_connections + 64 > rl.rlim_cur)
		weftd_warn("max_connections %u exceeds RLIMIT_NOFILE %llu (less 64 for the daemon): "
			   "clients past it are refused busy", d->max_connections,
			   (unsigned long long)rl.rlim_cur);
}

int weftd_server_new(struct weftd_engine *e, int lfd, const struct weftd_daemon_config *d,
		     struct weftd_server **ret)
{
	struct weftd_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (weft_ctx_with_cancel(NULL, &s->conns) < 0) {
		free(s);
		return -ENOMEM;
	}
	s->eng = e;
	s->d = d;
	s->lfd = lfd;
	if (srv_uids_init(s) < 0) {
		weft_ctx_unref(s->conns);
		free(s);
		return -ENOMEM;
	}
	raise_nofile(d);
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->emfile_logged = INT64_MIN / 2;
	weft_wg_init(&s->live);
	*ret = s;
	return 0;
}

int weftd_server_close_conns(struct weftd_server *s, int64_t linger_ns)
{
	weft_ctx *linger;
	int r;

	weft_ctx_cancel(s->conns);
	r = weft_ctx_with_timeout(NULL, linger_ns, &linger);
	if (r < 0)
		return r;
	r = weft_wg_wait(linger, &s->live);
	weft_ctx_unref(linger);
	s->lingering = r < 0;
	return r < 0 ? -ETIMEDOUT : 0;
}

struct weftd_server *weftd_server_free(struct weftd_server *s)
{
	/* connections that outlived close_conns' linger still point here: the process is
	 * exiting, leave it to them */
	if (s && !s->lingering && atomic_load(&s->nconns) == 0) {
		weft_ctx_unref(s->conns);
		srv_uids_done(s);
		if (s->spare_fd >= 0)
			close(s->spare_fd);
		free(s);
	}
	return NULL;
}

void weftd_server_set_handler(struct weftd_server *s, enum weftd_op op, weftd_op_handler fn, void *arg)
{
	if ((unsigned)op < WEFTD_OP__MAX)
		s->handlers[op] = (struct handler){ .fn = fn, .arg = arg };
}

void weftd_server_set_handler_args(struct weftd_server *s, enum weftd_op op,
				   weftd_op_handler_args fn, void *arg)
{
	if ((unsigned)op < WEFTD_OP__MAX)
		s->handlers[op] = (struct handler){ .arg = arg, .fn_args = fn };
}

unsigned weftd_server_connections(struct weftd_server *s)
{
	return atomic_load(&s->nconns);
}
