/* exec.c — the exec action: one child process per attempt.
 *
 * The payload goes to the child's stdin from a writer fiber, stdout and stderr
 * are read by two reader fibers, and the exit is awaited with weft_waitid (an
 * io_uring WAITID, or a pidfd poll): nothing here blocks a proc's thread. The
 * child is spawned with posix_spawn (clone(CLONE_VM|CLONE_VFORK) in glibc: safe
 * in a multi-threaded process, no copy of the daemon's memory) into a process
 * group of its own, with an empty signal mask and every signal at its default,
 * since the daemon blocks signals for its signalfd and children must not
 * inherit that.
 *
 * Stopping (the attempt ctx is done, or stdout went over the limit): SIGTERM to
 * the group, up to kill_grace for the child to exit, then SIGKILL. The child
 * is awaited with WNOWAIT and reaped only at the very end, so its pid (and
 * with it the group id) cannot be reused while we may still signal the group.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actions/actor_impl.h"
#include "actions/keeper.h"

extern char **environ;

#define READ_CHUNK  (64u << 10)
#define OUT_FIRST   (4u << 10)  /* first stdout buffer: most outputs are small, and a big
				   first buffer (malloc'd by mmap) costs a munmap with its TLB
				   shootdown across the procs' CPUs per job */
#define WRITE_CHUNK (1u << 20)

/* ---- actor_new: find argv[0] once ---- */
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

/* A stdin writer must see EPIPE when the child exits without reading: a
 * process that dies of SIGPIPE there would be a disaster, so an exec actor
 * ignores SIGPIPE unless the program already chose a disposition. */
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

int weftd_exec_init(struct weftd_actor *a, char *err, size_t errlen)
{
	const struct weftd_stage *cfg = a->cfg;
	const char *argv0 = cfg->argv && cfg->argc ? cfg->argv[0] : NULL;

	if (!argv0 || !*argv0) {
		snprintf(err, errlen, "stage %s: exec: empty argv", cfg->name);
		return -EINVAL;
	}
	if (strchr(argv0, '/')) {
		if (!is_executable(argv0)) {
			int e = access(argv0, F_OK) == 0 ? EACCES : ENOENT;
			snprintf(err, errlen, "stage %s: exec: %s: %s", cfg->name, argv0,
				 e == EACCES ? "not an executable file" : "no such file");
			return -e;
		}
		a->path = argv0[0] == '/' ? strdup(argv0) : realpath(argv0, NULL);
	} else if (!(a->path = search_path(argv0))) {
		snprintf(err, errlen, "stage %s: exec: %s: not found in PATH", cfg->name, argv0);
		return -ENOENT;
	}
	if (!a->path) {
		snprintf(err, errlen, "stage %s: exec: out of memory", cfg->name);
		return -ENOMEM;
	}
	ignore_sigpipe();
	pthread_once(&sigdefault_once, sigdefault_init);
	return 0;
}

void weftd_exec_done(struct weftd_actor *a)
{
	free(a->path);
	a->path = NULL;
}

/* ---- one run ---- */
struct exec_run {
	const struct weftd_actor *a;
	struct weftd_attempt *at;
	weft_ctx *io;           /* child of at->ctx; also cancelled with -EFBIG on overflow */
	weft_wg wg;             /* the pipe fibers */
	int in_w, out_r, err_r; /* our ends; each owned (and closed) by its fiber */
	int in_err;             /* stdin writer's error other than EPIPE */
	char *out;              /* stdout, out_len bytes in out_cap */
	size_t out_len, out_cap;
	int out_err;            /* stdout reader's error (not the ctx's) */
	char tail[2 * WEFTD_ACTOR_LOG_TAIL]; /* stderr: the last LOG_TAIL bytes are kept */
	size_t tail_len;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -EBADF;
}

static void feed_stdin(void *arg)
{
	struct exec_run *x = arg;
	const char *p = x->at->in;
	size_t left = x->at->in_len;

	while (left) {
		int n = weft_write(x->io, x->in_w, p, left < WRITE_CHUNK ? left : WRITE_CHUNK, -1);
		if (n < 0) {
			/* EPIPE: the child did not want (all of) its input; its exit
			 * status decides. A ctx error is reported by the run itself. */
			if (n != -EPIPE && n != -ECANCELED && n != -ETIMEDOUT && weft_ctx_err(x->io) == 0)
				x->in_err = n;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	close_fd(&x->in_w);
	weft_wg_done(&x->wg);
}

static void read_stdout(void *arg)
{
	struct exec_run *x = arg;

	for (;;) {
		if (x->out_cap - x->out_len < 2) {
			size_t cap = x->out_cap ? x->out_cap * 2 : OUT_FIRST;
			if (cap > (size_t)WEFTD_ACTOR_MAX_OUTPUT + READ_CHUNK + 1)
				cap = (size_t)WEFTD_ACTOR_MAX_OUTPUT + READ_CHUNK + 1;
			char *nb = cap > x->out_cap ? realloc(x->out, cap) : NULL;
			if (!nb) {
				x->out_err = -ENOMEM;
				weft_ctx_cancel_err(x->io, -ENOMEM);
				break;
			}
			x->out = nb;
			x->out_cap = cap;
		}
		int n = weft_read(x->io, x->out_r, x->out + x->out_len, x->out_cap - x->out_len - 1, -1);
		if (n <= 0) {
			if (n < 0 && weft_ctx_err(x->io) == 0)
				x->out_err = n;
			break;
		}
		x->out_len += (size_t)n;
		if (x->out_len > WEFTD_ACTOR_MAX_OUTPUT) {
			weft_ctx_cancel_err(x->io, -EFBIG);
			break;
		}
	}
	close_fd(&x->out_r);
	weft_wg_done(&x->wg);
}

static void read_stderr(void *arg)
{
	struct exec_run *x = arg;

	for (;;) {
		if (x->tail_len == sizeof(x->tail)) {
			memmove(x->tail, x->tail + WEFTD_ACTOR_LOG_TAIL, WEFTD_ACTOR_LOG_TAIL);
			x->tail_len = WEFTD_ACTOR_LOG_TAIL;
		}
		int n = weft_read(x->io, x->err_r, x->tail + x->tail_len, sizeof(x->tail) - x->tail_len, -1);
		if (n <= 0)
			break;
		x->tail_len += (size_t)n;
	}
	close_fd(&x->err_r);
	weft_wg_done(&x->wg);
}

/* pipe2 with both ends at fd >= 3, so that dup2 onto 0/1/2 in the child never
 * meets an fd already there (dup2(fd, fd) would keep O_CLOEXEC). */
static int make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
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

static int spawn_child(const struct weftd_actor *a, int in_r, int out_w, int err_w, pid_t *ret)
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
		r = posix_spawn(ret, a->path, &fa, &attr, (char *const *)a->cfg->argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

#define EXEC_BEAT_NS (500 * WEFT_MSEC)

/* Wait (WNOWAIT: the child stays a zombie) with ctx; on ctx done, escalate:
 * SIGTERM to the group, kill_grace, SIGKILL, then wait for good. */
static int await_child(const struct weftd_actor *a, struct weftd_attempt *at, weft_ctx *ctx,
		       pid_t pid, siginfo_t *si)
{
	weft_ctx *grace = NULL;
	int r;

	memset(si, 0, sizeof(*si));
	/* Beat while the child lives (a silent child is not a stuck worker): wait in slices. */
	for (;;) {
		weft_ctx *slice = NULL;
		if (weft_ctx_with_timeout(ctx, EXEC_BEAT_NS, &slice) < 0) {
			r = weft_waitid(ctx, P_PID, (id_t)pid, si, WEXITED | WNOWAIT);
		} else {
			r = weft_waitid(slice, P_PID, (id_t)pid, si, WEXITED | WNOWAIT);
			weft_ctx_unref(slice);
		}
		if (r == 0)
			return 0;
		if (r != -ETIMEDOUT || weft_ctx_err(ctx) < 0)
			break;
		weftd_attempt_beat(at);
	}
	kill(-pid, SIGTERM);
	if (a->cfg->kill_grace_ns &&
	    weft_ctx_with_timeout(NULL, (int64_t)a->cfg->kill_grace_ns, &grace) == 0) {
		r = weft_waitid(grace, P_PID, (id_t)pid, si, WEXITED | WNOWAIT);
		weft_ctx_unref(grace);
		if (r == 0)
			return 1;
	}
	kill(-pid, SIGKILL);
	do
		r = weft_waitid(NULL, P_PID, (id_t)pid, si, WEXITED | WNOWAIT);
	while (r == -EINTR || r == -EAGAIN || r == -ENOMEM);
	return 1;
}

static int result(struct exec_run *x, const siginfo_t *si, bool stopped)
{
	struct weftd_attempt *at = x->at;
	int r = weft_ctx_err(x->io);

	if (r == -EFBIG)
		return weftd_attempt_fail(at, -EFBIG, "output exceeds %u MiB",
					  WEFTD_ACTOR_MAX_OUTPUT >> 20);
	if (x->out_err)
		return weftd_attempt_fail(at, x->out_err, "reading stdout: %s", strerror(-x->out_err));
	if (stopped || r < 0) {
		/* the attempt's own ctx error when it has one, else ours (-ENOMEM...) */
		int e = weft_ctx_err(at->ctx);
		return weftd_attempt_ctx_fail(x->a, at, e < 0 ? e : r < 0 ? r : -ECANCELED);
	}
	if (si->si_code == CLD_EXITED && si->si_status != 0)
		return weftd_attempt_fail(at, -EIO, "exit status %d", si->si_status);
	if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
		return weftd_attempt_fail(at, -EIO, "killed by signal %d", si->si_status);
	if (si->si_code != CLD_EXITED)
		return weftd_attempt_fail(at, -EIO, "child ended oddly (code %d)", si->si_code);
	if (x->in_err)
		return weftd_attempt_fail(at, x->in_err, "writing stdin: %s", strerror(-x->in_err));
	if (!x->out && !(x->out = malloc(1)))
		return weftd_attempt_fail(at, -ENOMEM, "out of memory");
	x->out[x->out_len] = '\0'; /* the reader always leaves a byte spare */
	at->out = x->out;
	at->out_len = x->out_len;
	x->out = NULL;
	return 0;
}

static void keep_log(struct exec_run *x)
{
	size_t n = x->tail_len < WEFTD_ACTOR_LOG_TAIL ? x->tail_len : WEFTD_ACTOR_LOG_TAIL;

	if (!n || !(x->at->log = malloc(n + 1)))
		return;
	memcpy(x->at->log, x->tail + x->tail_len - n, n);
	x->at->log[n] = '\0';
	x->at->log_len = n;
}

static int start_fiber(struct exec_run *x, weft_fn fn, int *fd)
{
	weft_wg_add(&x->wg, 1);
	int r = weft_go(fn, x);
	if (r < 0) {
		weft_wg_done(&x->wg);
		close_fd(fd);
		weft_ctx_cancel_err(x->io, r);
	}
	return r;
}

int weftd_exec_run(const struct weftd_actor *a, struct weftd_attempt *at)
{
	int pin[2] = { -EBADF, -EBADF }, pout[2] = { -EBADF, -EBADF }, perr[2] = { -EBADF, -EBADF };
	struct exec_run *x = calloc(1, sizeof(*x));
	siginfo_t si;
	pid_t pid;
	int r, stopped;

	if (!x)
		return weftd_attempt_fail(at, -ENOMEM, "out of memory");
	x->a = a;
	x->at = at;
	weft_wg_init(&x->wg);
	if ((r = weft_ctx_with_cancel(at->ctx, &x->io)) < 0) {
		free(x);
		return weftd_attempt_fail(at, r, "out of memory");
	}
	if ((r = make_pipe(pin)) < 0 || (r = make_pipe(pout)) < 0 || (r = make_pipe(perr)) < 0 ||
	    (r = spawn_child(a, pin[0], pout[1], perr[1], &pid)) < 0) {
		weftd_attempt_fail(at, r, "spawn %s: %s", a->path, strerror(-r));
		close_fd(&pin[1]);
		close_fd(&pout[0]);
		close_fd(&perr[0]);
		goto out_close;
	}
	weftd_keeper_watch(at->keeper, pid);
	close_fd(&pin[0]);
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	x->in_w = pin[1];
	x->out_r = pout[0];
	x->err_r = perr[0];
	if (at->in_len == 0)
		close_fd(&x->in_w);
	else
		start_fiber(x, feed_stdin, &x->in_w);
	start_fiber(x, read_stdout, &x->out_r);
	start_fiber(x, read_stderr, &x->err_r);

	stopped = await_child(a, x->at, x->io, pid, &si);
	if (stopped)
		kill(-pid, SIGKILL); /* whatever else is left of its group */
	/* Drain the pipes; a grandchild holding them open is stopped with the ctx. */
	if (weft_wg_wait(x->io, &x->wg) < 0) {
		kill(-pid, SIGKILL);
		weft_ctx_cancel(x->io);
		weft_wg_wait(NULL, &x->wg);
	}
	siginfo_t reaped;
	weftd_keeper_forget(at->keeper, pid); /* still a zombie: the pid is not reused yet */
	waitid(P_PID, (id_t)pid, &reaped, WEXITED | WNOHANG); /* a zombie by now: no wait */
	r = result(x, &si, stopped);
	keep_log(x);
out_close:
	close_fd(&pin[0]);
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	weft_ctx_unref(x->io);
	free(x->out);
	free(x);
	return r;
}
