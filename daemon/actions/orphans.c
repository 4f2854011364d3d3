/* SPDX-License-Identifier: MIT */
/* orphans.c — see orphans.h. */
#include "actions/orphans.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <weft/weft.h>

#define MAX_CHILDREN 4096 /* per round; the rest waits for the next */
#define MAX_ROUNDS   64   /* each round ends one more generation of escapees */

static bool enabled;          /* set once at start, before any fiber */
static pid_t self, self_sid, self_pgid, keeper_pid;
/* The exec leaders alive (counted from after their spawn to before their reap) and a
 * count of those changes: a sweep that lists just them and the keeper, unchanged while
 * it listed, has nothing to look at more closely (no per-child syscalls). */
static atomic_int live_leaders;
static atomic_uint leader_changes;
static atomic_ulong examined;  /* children looked at one by one (weftd_orphans_examined) */

void weftd_orphans_leader(int delta)
{
	atomic_fetch_add_explicit(&leader_changes, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&live_leaders, delta, memory_order_relaxed);
	atomic_fetch_add_explicit(&leader_changes, 1, memory_order_release);
}

int weftd_orphans_init(pid_t keeper)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return -errno;
	self = getpid();
	self_sid = getsid(0);
	self_pgid = getpgid(0);
	keeper_pid = keeper;
	enabled = true;
	return 0;
}

/* /proc/PID/stat of one of our children: state, parent, group, session. 0 or -errno. */
static int child_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgid, pid_t *sid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the name may hold anything but not after ')' */
	int pp, pg, se;
	if (!p || sscanf(p + 1, " %c %d %d %d", state, &pp, &pg, &se) != 4)
		return -EIO;
	*ppid = pp, *pgid = pg, *sid = se;
	return 0;
}

/* One child: reap it if it exited; kill and reap it if it left weftd's session or is in
 * group killed. Returns 1 when it was killed (its own children may now be ours), else 0. */
static int sweep_child(pid_t pid, pid_t killed)
{
	char state = 0;
	pid_t ppid = 0, pgid = 0, sid = 0;
	siginfo_t si;

	if (pid == keeper_pid)
		return 0;
	/* A pidfd first: the stat read through it is of this very process, which stays
	 * ours (only we reap an adopted child) unless it is an exec leader reaped meanwhile. */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return 0;
	int r = 0;
	if (child_stat(pid, &state, &ppid, &pgid, &sid) < 0 || ppid != self ||
	    (sid == self_sid && (pgid == pid || pgid == self_pgid)))
		goto out; /* gone, not ours, an exec leader, or in weftd's own group */
	if (state == 'Z') {
		waitid(P_PIDFD, (id_t)pfd, &si, WEXITED | WNOHANG);
	} else if (sid != self_sid || (killed > 0 && pgid == killed)) {
		/* again for a group member forked after the group's SIGKILL */
		syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
		weft_waitid(NULL, P_PIDFD, (id_t)pfd, &si, WEXITED); /* ECHILD: reaped by another */
		r = 1;
	}
out:
	close(pfd);
	return r;
}

/* Every thread's children into pids (at most max). Returns how many. */
static int list_children(pid_t *pids, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char path[300], buf[4096];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		for (char *p = buf, *end; n < max; p = end) {
			long pid = strtol(p, &end, 10);
			if (end == p)
				break;
			pids[n++] = (pid_t)pid;
		}
	}
	closedir(d);
	return n;
}

/* One pass over weftd's children. Returns how many were killed. */
static int sweep_round(pid_t killed_pgid)
{
	static _Thread_local pid_t pids[MAX_CHILDREN];
	unsigned g = atomic_load_explicit(&leader_changes, memory_order_acquire);
	int live = atomic_load_explicit(&live_leaders, memory_order_relaxed);
	int n = list_children(pids, MAX_CHILDREN), killed = 0;

	if (g % 2 == 0 && atomic_load_explicit(&leader_changes, memory_order_acquire) == g &&
	    n == live + (keeper_pid > 0))
		return 0; /* only the leaders and the keeper */
	atomic_fetch_add_explicit(&examined, (unsigned long)n, memory_order_relaxed);
	for (int i = 0; i < n; i++)
		killed += sweep_child(pids[i], killed_pgid);
	return killed;
}

unsigned long weftd_orphans_examined(void)
{
	return atomic_load_explicit(&examined, memory_order_relaxed);
}

void weftd_orphans_sweep(pid_t killed_pgid)
{
	if (!enabled)
		return;
	for (int i = 0; i < MAX_ROUNDS && sweep_round(killed_pgid) > 0; i++)
		;
}
