/* SPDX-License-Identifier: MIT */
/* exec_spawn.c — see exec_spawn.h.
 *
 * posix_spawn is clone(CLONE_VM|CLONE_VFORK) in glibc: safe in a multi-threaded
 * process, and no copy of the daemon's memory. The daemon blocks signals for its
 * signalfd: children must not inherit that mask. */
#include "actions/exec_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char *search_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int dlen = (int)(end - p);
		/* an empty entry is the current directory, as execvp has it */
		int n = dlen ? snprintf(buf, sizeof(buf), "%.*s/%s", dlen, p, name)
			     : snprintf(buf, sizeof(buf), "%s", name);
		if (n > 0 && (size_t)n < sizeof(buf) && is_executable(buf))
			return dlen ? strdup(buf) : realpath(buf, NULL);
		if (!*end)
			return NULL;
		p = end;
	}
}

int weftd_exec_find(const char *stage, const char *argv0, char **ret_path, char *err, size_t errlen)
{
	char *path;

	if (!argv0 || !*argv0) {
		snprintf(err, errlen, "stage %s: exec: empty argv", stage);
		return -EINVAL;
	}
	if (strchr(argv0, '/')) {
		if (!is_executable(argv0)) {
			int e = access(argv0, F_OK) == 0 ? EACCES : ENOENT;
			snprintf(err, errlen, "stage %s: exec: %s: %s", stage, argv0,
				 e == EACCES ? "not an executable file" : "no such file");
			return -e;
		}
		path = argv0[0] == '/' ? strdup(argv0) : realpath(argv0, NULL);
	} else if (!(path = search_path(argv0))) {
		snprintf(err, errlen, "stage %s: exec: %s: not found in PATH", stage, argv0);
		return -ENOENT;
	}
	if (!path) {
		snprintf(err, errlen, "stage %s: exec: out of memory", stage);
		return -ENOMEM;
	}
	*ret_path = path;
	return 0;
}

/* A stdin writer must see EPIPE when the child exits without reading: a
 * process that dies of SIGPIPE there would be a disaster, so exec ignores
 * SIGPIPE unless the program already chose a disposition. */
static void ignore_sigpipe(void)
{
	struct sigaction old, ign = { .sa_handler = SIG_IGN };

	if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
	    !(old.sa_flags & SA_SIGINFO))
		sigaction(SIGPIPE, &ign, NULL);
}

/* The signals a child must have reset to SIG_DFL: execve already resets caught ones, so
 * only the ignored ones (SIGPIPE, and whatever the daemon inherited ignored) are left.
 * Asking posix_spawn for all 64 costs 64 sigaction calls in the vfork child per job,
 * while the spawning proc's thread waits for it. Dispositions do not change after
 * start-up (SIGPIPE is the only one the daemon sets to SIG_IGN), so once is enough. */
static sigset_t sigdefault;
static pthread_once_t sigdefault_once = PTHREAD_ONCE_INIT;

static void sigdefault_init(void)
{
	struct sigaction sa;

	sigemptyset(&sigdefault);
	sigaddset(&sigdefault, SIGPIPE);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
		    sa.sa_handler == SIG_IGN)
			sigaddset(&sigdefault, sig);
}

void weftd_exec_signals_init(void)
{
	ignore_sigpipe();
	pthread_once(&sigdefault_once, sigdefault_init);
}

int weftd_exec_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0) {
		p[0] = p[1] = -EBADF;
		return -errno;
	}
	for (int i = 0; i < 2; i++) {
		if (p[i] > 2)
			continue;
		int fd = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			int e = -errno;
			close(p[0]);
			close(p[1]);
			p[0] = p[1] = -EBADF;
			return e;
		}
		close(p[i]);
		p[i] = fd;
	}
	return 0;
}

int weftd_exec_spawn(const char *path, const char *const *argv, int in_r, int out_w, int err_w,
		     pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	int r;

	sigemptyset(&none);
	if ((r = posix_spawn_file_actions_init(&fa)) != 0)
		return -r;
	if ((r = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	if ((r = posix_spawn_file_actions_adddup2(&fa, in_r, 0)) == 0 &&
	    (r = posix_spawn_file_actions_adddup2(&fa, out_w, 1)) == 0 &&
	    (r = posix_spawn_file_actions_adddup2(&fa, err_w, 2)) == 0 &&
	    (r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						    POSIX_SPAWN_SETPGROUP)) == 0 &&
	    (r = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (r = posix_spawnattr_setsigdefault(&attr, &sigdefault)) == 0 &&
	    (r = posix_spawnattr_setpgroup(&attr, 0)) == 0)
		r = posix_spawn(ret_pid, path, &fa, &attr, (char *const *)argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}
