/* SPDX-License-Identifier: MIT */
/* orphans — what an exec job leaves behind once its attempt ended.
 *
 * An attempt's end (its leader exited, or was stopped) SIGKILLs the job's process group
 * (stage key kill_group_on_exit, default true): a `sleep 100 &` left in the group dies
 * with the job. A process that left the group cannot be reached that way; weftd is a
 * child subreaper (PR_SET_CHILD_SUBREAPER), so such a process is adopted by weftd, not
 * init, once its parent is gone. After every exec attempt weftd sweeps its children:
 *   - a child in another session (it called setsid: `setsid sleep 100 &`, a daemon's
 *     double fork) gets SIGKILL and is reaped, and so do, round after round, the
 *     children it leaves in turn;
 *   - a child in the group of the attempt that just ended (kill_group_on_exit) gets
 *     SIGKILL again (it may have forked after the group's) and is reaped;
 *   - any other adopted child that has exited is reaped (with kill_group_on_exit: false
 *     the group's leftovers run on, and are reaped at the first sweep after they exit);
 *   - exec leaders (their own group, weftd's session) and the keeper are left alone, and
 *     so is a process that made itself a group leader in weftd's session (setpgid).
 * Not covered: what escaped while weftd was not a subreaper (an old weftd), and
 * orphans of a weftd that was itself killed (under systemd KillMode=mixed ends them). */
#ifndef WEFTD_ORPHANS_H
#define WEFTD_ORPHANS_H

#include <sys/types.h>

/* Make weftd a child subreaper and enable the sweeps; keeper (0: none) is spared.
 * Call once at start. Returns 0 or a negative errno (then sweeps stay off). */
int weftd_orphans_init(pid_t keeper);

/* An exec leader was spawned (+1) or is about to be reaped (-1): lets a sweep that finds
 * nothing else skip the per-child checks. Any thread. */
void weftd_orphans_leader(int delta);

/* Sweep weftd's adopted children as described above, in rounds until one kills
 * nothing; killed_pgid is the group just SIGKILLed (0: none). Fiber only; parks for a
 * killed process to exit. Several sweeps may run at once (each child is handled through
 * a pidfd). Does nothing before weftd_orphans_init. Reads /proc/self/task/TID/children
 * and each child's stat (procfs: never waits for a disk). */
void weftd_orphans_sweep(pid_t killed_pgid);

/* The children sweeps have examined one by one since start (the per-child checks that
 * weftd_orphans_leader's count lets a sweep skip when it finds only the exec leaders and
 * the keeper). For tests; one relaxed add per examining sweep. Any thread. */
unsigned long weftd_orphans_examined(void);

#endif
