/* SPDX-License-Identifier: MIT */
/* keeper.c — see keeper.h. */
#include "actions/keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct weftd_keeper {
	int fd;    /* weftd's end of the pipe */
	pid_t pid; /* the keeper */
};

/* The keeper's loop: a record is a pgid, negative to forget it. */
static void keeper_main(int fd)
{
	pid_t *groups = NULL;
	size_t n = 0, cap = 0;
	int32_t rec[256];

	prctl(PR_SET_NAME, "weftd-keeper");
	for (;;) {
		/* Every record is one 4-byte write, which a pipe keeps whole, so a read
		 * into a buffer of whole records returns whole records. */
		ssize_t r = read(fd, rec, sizeof(rec));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* weftd's end is closed: it is gone */
		for (size_t i = 0; i < (size_t)r / sizeof(rec[0]); i++) {
			pid_t g = rec[i];
			if (g > 0) {
				if (n == cap) {
					size_t ncap = cap ? cap * 2 : 64;
					pid_t *ng = realloc(groups, ncap * sizeof(*ng));
					if (!ng)
						continue; /* this one is not watched: no worse than before */
					groups = ng;
					cap = ncap;
				}
				groups[n++] = g;
			} else {
				for (size_t k = 0; k < n; k++)
					if (groups[k] == -g) {
						groups[k] = groups[--n];
						break;
					}
			}
		}
	}
	for (size_t k = 0; k < n; k++)
		kill(-groups[k], SIGKILL);
	_exit(0);
}

int weftd_keeper_start(struct weftd_keeper **ret)
{
	struct weftd_keeper *k = calloc(1, sizeof(*k));
	int p[2];

	if (!k)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC) < 0) {
		int e = errno;
		free(k);
		return -e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		free(k);
		return -e;
	}
	if (pid == 0) {
		close(p[1]);
		/* Only the pipe: not the listening socket systemd may have passed, nor a
		 * descriptor that would keep a peer from seeing weftd's end of something. */
		if (p[0] > 3)
			close_range(3, (unsigned)p[0] - 1, 0);
		close_range((unsigned)p[0] + 1, ~0u, 0);
		keeper_main(p[0]);
	}
	close(p[0]);
	k->fd = p[1];
	k->pid = pid;
	*ret = k;
	return 0;
}

static void send_rec(struct weftd_keeper *k, int32_t rec)
{
	if (!k)
		return;
	/* 4 bytes to a pipe go whole or not at all; a keeper that died leaves EPIPE
	 * (SIGPIPE is ignored): nothing more to do then. */
	while (write(k->fd, &rec, sizeof(rec)) < 0 && errno == EINTR)
		;
}

void weftd_keeper_watch(struct weftd_keeper *k, pid_t pgid)
{
	send_rec(k, (int32_t)pgid);
}

void weftd_keeper_forget(struct weftd_keeper *k, pid_t pgid)
{
	send_rec(k, -(int32_t)pgid);
}

void weftd_keeper_stop(struct weftd_keeper *k)
{
	if (!k)
		return;
	close(k->fd);
	while (waitpid(k->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(k);
}

pid_t weftd_keeper_pid(const struct weftd_keeper *k)
{
	return k ? k->pid : 0;
}
