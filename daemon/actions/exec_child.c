/* SPDX-License-Identifier: MIT */
/* exec_child.c — see exec_child.h. */
#include "actions/exec_child.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "actions/keeper.h"

#define BEAT_NS (500 * WEFT_MSEC) /* beats while the child lives */

int weftd_exec_child_wait(weft_ctx *ctx, pid_t pid, uint64_t kill_grace_ns,
			  struct weftd_attempt *at, siginfo_t *si)
{
	weft_ctx *grace = NULL;
	int r;

	memset(si, 0, sizeof(*si));
	/* Wait in slices, beating between them. */
	for (;;) {
		weft_ctx *slice = NULL;
		if (weft_ctx_with_timeout(ctx, BEAT_NS, &slice) < 0) {
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
	if (kill_grace_ns && weft_ctx_with_timeout(NULL, (int64_t)kill_grace_ns, &grace) == 0) {
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

void weftd_exec_child_kill(pid_t pid)
{
	kill(-pid, SIGKILL);
}

void weftd_exec_child_reap(pid_t pid, struct weftd_keeper *keeper)
{
	siginfo_t reaped;

	weftd_keeper_forget(keeper, pid); /* still a zombie: the pid is not reused yet */
	waitid(P_PID, (id_t)pid, &reaped, WEXITED | WNOHANG);
}
