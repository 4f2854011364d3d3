/* SPDX-License-Identifier: MIT */
/* exec_child.h — an exec child's end: waiting for it while the attempt beats,
 * stopping it (SIGTERM to its group, a grace period, SIGKILL) and reaping it.
 * The child is awaited with WNOWAIT and reaped only at the very end, so its pid
 * (and with it the group id) cannot be reused while we may still signal the
 * group. Private to the exec action (exec.c). */
#ifndef WEFTD_EXEC_CHILD_H
#define WEFTD_EXEC_CHILD_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <weft/weft.h>

#include "actions/attempt.h"

struct weftd_keeper;

/* Wait (fiber only, parks) for child pid, the leader of its own process group, to
 * exit, beating at's heartbeat while it lives (a silent child is not a stuck
 * worker). When ctx is done first: SIGTERM to the group, up to kill_grace_ns (0 =
 * none) for it to exit, then SIGKILL and wait for good. The child is left a zombie.
 * Returns 0 when it exited by itself, 1 when it was stopped; *si says how it ended. */
int weftd_exec_child_wait(weft_ctx *ctx, pid_t pid, uint64_t kill_grace_ns,
			  struct weftd_attempt *at, siginfo_t *si);

/* SIGKILL to what is left of pid's process group (its pid is not reused while the
 * child is an unreaped zombie). */
void weftd_exec_child_kill(pid_t pid);

/* Reap pid, which must have exited (a zombie: no wait), after it is forgotten by
 * keeper (NULL: none) while its pid still cannot be reused. */
void weftd_exec_child_reap(pid_t pid, struct weftd_keeper *keeper);

#endif
