/* SPDX-License-Identifier: MIT */
/* exec.c — the exec action: one child process per attempt.
 *
 * The payload goes to the child's stdin from a writer fiber, stdout and stderr
 * are read by two reader fibers, and the exit is awaited with weft_waitid (an
 * io_uring WAITID, or a pidfd poll): nothing here blocks a proc's thread. The
 * child is spawned into a process group of its own (exec_spawn.c) and, when the
 * attempt's ctx is done or stdout goes over the limit, stopped: SIGTERM to the
 * group, kill_grace, then SIGKILL (exec_child.c). While it lives, the keeper
 * (keeper.h) knows its group, so that a SIGKILLed weftd does not leave it behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actions/action.h"
#include "actions/exec_child.h"
#include "actions/exec_spawn.h"
#include "actions/keeper.h"
#include "actions/orphans.h"

#define READ_CHUNK  (64u << 10)
#define OUT_FIRST   (4u << 10)  /* first stdout buffer: most outputs are small, and a big
				   first buffer (malloc'd by mmap) costs a munmap with its TLB
				   shootdown across the procs' CPUs per job */
#define WRITE_CHUNK (1u << 20)

/* One stage's exec: the program, found once. */
struct xstate {
	const struct weftd_stage *cfg;  /* borrowed: outlives the state */
	char *path;                     /* argv[0] resolved, malloc'd */
};

static int exec_init(const struct weftd_stage *cfg, void **ret_state, char *err, size_t errlen)
{
	struct xstate *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		snprintf(err, errlen, "stage %s: exec: out of memory", cfg->name);
		return -ENOMEM;
	}
	s->cfg = cfg;
	r = weftd_exec_find(cfg->name, cfg->argv && cfg->argc ? cfg->argv[0] : NULL, &s->path,
			    err, errlen);
	if (r < 0) {
		free(s);
		return r;
	}
	weftd_exec_signals_init();
	*ret_state = s;
	return 0;
}

static void exec_done(void *state)
{
	struct xstate *s = state;

	if (s)
		free(s->path);
	free(s);
}

/* ---- one run ---- */
struct exec_run {
	const struct xstate *s;
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
			if (cap > x->at->max_output + READ_CHUNK + 1)
				cap = x->at->max_output + READ_CHUNK + 1;
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
		if (x->out_len > x->at->max_output) {
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

static int result(struct exec_run *x, const siginfo_t *si, bool stopped)
{
	struct weftd_attempt *at = x->at;
	int r = weft_ctx_err(x->io);

	if (r == -EFBIG)
		return weftd_attempt_fail(at, -EFBIG, "output exceeds the stage's max_output of "
					  "%zu bytes", at->max_output);
	if (x->out_err)
		return weftd_attempt_fail(at, x->out_err, "reading stdout: %s", strerror(-x->out_err));
	if (stopped || r < 0) {
		/* the attempt's own ctx error when it has one, else ours (-ENOMEM...) */
		int e = weft_ctx_err(at->ctx);
		return weftd_attempt_ctx_fail(at, e < 0 ? e : r < 0 ? r : -ECANCELED,
					      x->s->cfg->timeout_ns);
	}
	if (si->si_code == CLD_EXITED && si->si_status != 0) {
		at->permanent = weftd_retry_permanent(&x->s->cfg->retry, si->si_status);
		return weftd_attempt_fail(at, -EIO, "exit status %d", si->si_status);
	}
	if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
		return weftd_attempt_fail(at, -EIO, "killed by signal %d", si->si_status);
	if (si->si_code != CLD_EXITED)
		return weftd_attempt_fail(at, -EIO, "child ended oddly (code %d)", si->si_code);
	if (x->in_err)
		return weftd_attempt_fail(at, x->in_err, "writing stdin: %s", strerror(-x->in_err));
	if (!x->out && !(x->out = malloc(1)))
		return weftd_attempt_fail(at, -ENOMEM, "out of memory");
	x->out[x->out_len] = '\0'; /* the reader always leaves a byte spare */
	weftd_attempt_output_take(at, x->out, x->out_len);
	x->out = NULL;
	return 0;
}

/* Spawn the child on three new pipes and start the pipe fibers on our ends.
 * Returns 0 with *ret_pid, or a negative errno (at->error set, nothing left open). */
static int start_child(struct exec_run *x, pid_t *ret_pid)
{
	int pin[2] = { -EBADF, -EBADF }, pout[2] = { -EBADF, -EBADF }, perr[2] = { -EBADF, -EBADF };
	struct weftd_attempt *at = x->at;
	int r;

	if ((r = weftd_exec_pipe(pin)) < 0 || (r = weftd_exec_pipe(pout)) < 0 ||
	    (r = weftd_exec_pipe(perr)) < 0 ||
	    (r = weftd_exec_spawn(x->s->path, x->s->cfg->argv, pin[0], pout[1], perr[1], ret_pid)) < 0)
		weftd_attempt_fail(at, r, "spawn %s: %s", x->s->path, strerror(-r));
	else {
		weftd_keeper_watch(at->keeper, *ret_pid);
		weftd_orphans_leader(+1);
	}
	close_fd(&pin[0]);
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	x->in_w = pin[1];
	x->out_r = pout[0];
	x->err_r = perr[0];
	if (r < 0 || at->in_len == 0)
		close_fd(&x->in_w);
	if (r < 0) {
		close_fd(&x->out_r);
		close_fd(&x->err_r);
		return r;
	}
	if (x->in_w >= 0)
		start_fiber(x, feed_stdin, &x->in_w);
	start_fiber(x, read_stdout, &x->out_r);
	start_fiber(x, read_stderr, &x->err_r);
	return 0;
}

static int exec_run(const void *state, struct weftd_attempt *at)
{
	const struct xstate *s = state;
	struct exec_run *x = calloc(1, sizeof(*x));
	siginfo_t si;
	pid_t pid;
	int r, stopped;

	if (!x)
		return weftd_attempt_fail(at, -ENOMEM, "out of memory");
	x->s = s;
	x->at = at;
	weft_wg_init(&x->wg);
	if ((r = weft_ctx_with_cancel(at->ctx, &x->io)) < 0) {
		free(x);
		return weftd_attempt_fail(at, r, "out of memory");
	}
	if ((r = start_child(x, &pid)) < 0)
		goto out;
	stopped = weftd_exec_child_wait(x->io, pid, s->cfg->kill_grace_ns, at, &si);
	if (stopped || s->cfg->kill_group_on_exit)
		weftd_exec_child_kill(pid); /* whatever else is left of its group */
	/* Drain the pipes; a grandchild holding them open is stopped with the ctx. The ctx
	 * ending also ends the pipe fibers' reads: the wait may see them done first. */
	if (weft_wg_wait(x->io, &x->wg) < 0 || weft_ctx_err(x->io)) {
		weftd_exec_child_kill(pid);
		weft_ctx_cancel(x->io);
		weft_wg_wait(NULL, &x->wg);
	}
	weftd_orphans_leader(-1); /* before the reap: never counted once gone */
	weftd_exec_child_reap(pid, at->keeper);
	/* what escaped the group, or was in it, and is now ours (orphans.h) */
	weftd_orphans_sweep(stopped || s->cfg->kill_group_on_exit ? pid : 0);
	r = result(x, &si, stopped);
	weftd_attempt_log(at, x->tail, x->tail_len);
out:
	weft_ctx_unref(x->io);
	free(x->out);
	free(x);
	return r;
}

const struct weftd_action_ops weftd_action_exec = {
	.name = "exec",
	.init = exec_init,
	.run = exec_run,
	.done = exec_done,
};
