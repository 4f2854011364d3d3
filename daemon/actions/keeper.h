/* SPDX-License-Identifier: MIT */
/* keeper — exec children do not outlive a weftd that was killed.
 *
 * A daemon stopped by a signal it can catch kills its children itself (stage timeout,
 * cancel, drain). One killed with SIGKILL, or crashed, cannot: its children would run on,
 * orphaned, while a restarted daemon runs their jobs again from the journal. Under
 * systemd KillMode=control-group cleans them up; run by hand, nothing would.
 *
 * The keeper is a small process forked at start-up, before any thread. weftd tells it,
 * over a pipe, each exec child's process group as it is spawned and as it is reaped.
 * When the pipe reaches end of file (weftd's end closed: it exited, however it died) the
 * keeper sends SIGKILL to every group still listed and exits. No job can be running by
 * then, so there is nothing to wait for.
 *
 * A child spawned in the moment between its spawn and its registration can still escape
 * a SIGKILL of weftd; a child reaped is forgotten while still a zombie, so its pid cannot
 * have been reused. The calls below write 4 bytes each and never block in practice (the
 * keeper reads at once; a full pipe would hold 16,384 records). */
#ifndef WEFTD_KEEPER_H
#define WEFTD_KEEPER_H

#include <sys/types.h>

struct weftd_keeper;

/* Fork the keeper. Call before any thread exists (fork copies only the caller) and
 * after the signal mask is set: the keeper keeps weftd's blocked signals blocked, so
 * a SIGTERM to the whole service leaves it to finish its work when weftd exits.
 * Returns 0 or a negative errno. */
int weftd_keeper_start(struct weftd_keeper **ret);

/* pgid is a child's process group (its pid: children lead their own groups).
 * Safe from any thread; NULL k does nothing. */
void weftd_keeper_watch(struct weftd_keeper *k, pid_t pgid);
void weftd_keeper_forget(struct weftd_keeper *k, pid_t pgid);

/* The keeper's pid (0 for NULL k). */
pid_t weftd_keeper_pid(const struct weftd_keeper *k);

/* Close weftd's end (the keeper then kills what is still listed, normally nothing)
 * and reap the keeper. NULL k does nothing. */
void weftd_keeper_stop(struct weftd_keeper *k);

#endif
