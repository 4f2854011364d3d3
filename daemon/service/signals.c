/* SPDX-License-Identifier: MIT */
/* signals.c — signalfd read from a fiber (see signals.h). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "service/signals.h"

struct weftd_signals {
	int fd;
};

void weftd_signals_set(sigset_t *ret)
{
	sigemptyset(ret);
	sigaddset(ret, SIGTERM);
	sigaddset(ret, SIGINT);
	sigaddset(ret, SIGHUP);
	sigaddset(ret, SIGUSR1);
}

int weftd_signals_block(void)
{
	sigset_t set;
	weftd_signals_set(&set);
	int r = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (r)
		return -r;
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGPIPE, &sa, NULL) < 0 ? -errno : 0;
}

int weftd_signals_open(struct weftd_signals **ret)
{
	if (!ret)
		return -EINVAL;
	struct weftd_signals *s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	sigset_t set;
	weftd_signals_set(&set);
	s->fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->fd < 0) {
		int e = -errno;
		free(s);
		return e;
	}
	*ret = s;
	return 0;
}

int weftd_signals_next(weft_ctx *ctx, struct weftd_signals *s)
{
	if (!s)
		return -EINVAL;
	for (;;) {
		struct signalfd_siginfo si;
		/* The fd is non-blocking, so io_uring answers -EAGAIN at once when nothing is
		 * pending instead of parking a kernel worker on it; the poll parks us instead. */
		int n = weft_read(ctx, s->fd, &si, sizeof(si), -1);
		if (n == (int)sizeof(si))
			return (int)si.ssi_signo;
		if (n >= 0)
			return -EIO;
		if (n != -EAGAIN && n != -EINTR)
			return n;
		n = weft_poll(ctx, s->fd, POLLIN);
		if (n < 0)
			return n;
	}
}

int weftd_signals_run(weft_ctx *ctx, struct weftd_signals *s, int (*fn)(int signo, void *arg),
		      void *arg)
{
	if (!s || !fn)
		return -EINVAL;
	for (;;) {
		int sig = weftd_signals_next(ctx, s);
		if (sig < 0)
			return sig;
		int r = fn(sig, arg);
		if (r)
			return r;
	}
}

struct weftd_signals *weftd_signals_free(struct weftd_signals *s)
{
	if (s) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
	}
	return NULL;
}
