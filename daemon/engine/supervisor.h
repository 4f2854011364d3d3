/* SPDX-License-Identifier: MIT */
/* supervisor — worker heartbeats and the systemd watchdog.
 *
 * Heartbeats: each worker fiber registers a slot (weftd_hb_register) and wraps every attempt
 * in weftd_hb_begin/weftd_hb_end; the attempt beats through weftd_hb_beat (the actor
 * contract's at->beat, with beat_arg = the slot) at least every heartbeat_interval while it
 * works. For exec stages the worker beats while the child is alive: a child may legitimately
 * be silent, so a missed beat means the worker fiber or its proc is wedged, not the child.
 * A slot is a worker of libweft's heartbeat monitor (weft/heartbeat.h), paused between
 * attempts; the monitor's fiber sleeps until the earliest possible miss (no scan loop). An
 * attempt silent for longer than its timeout gets its ctx cancelled with WEFTD_ERR_HEARTBEAT
 * (killing an exec child), and weftd_hb_end() then returns true so the engine retries it per
 * the stage's retry policy (counted as heartbeat_timeouts).
 *
 * The supervisor's own gaps: the monitor wakes at each attempt's deadline, so a miss it
 * notices much later than the deadline (more than WEFTD_SUP_GAP_NS, or heartbeat_interval if
 * longer) means it was not running itself: the process was stopped (SIGSTOP, a frozen
 * cgroup) or every proc stalled, and the workers, stopped with it, could not beat. It then
 * blames nobody: every running attempt gets a fresh heartbeat_timeout from now (logged,
 * counted as supervisor_gaps), and an attempt still silent after that is cancelled.
 *
 * Watchdog: when a watchdog interval is set, WATCHDOG=1 is sent every interval/2 only if the
 * watchdog fiber runs and every proc's scheduler is making progress: a tiny probe fiber
 * pinned on each proc stamps the time every interval/4, and a proc whose stamp is older than
 * interval/2 is wedged (a fiber spinning, a thread stuck in a syscall): no ping, and systemd
 * restarts the service. */
#ifndef WEFTD_SUPERVISOR_H
#define WEFTD_SUPERVISOR_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <weft/weft.h>

/* The error an attempt's ctx is cancelled with when its heartbeat is lost. */
#define WEFTD_ERR_HEARTBEAT (-ETIME)
#define WEFTD_SUP_MAX_PROCS 64
/* The least lateness of the monitor that counts as a gap of its own (see above). */
#define WEFTD_SUP_GAP_NS (250 * WEFT_MSEC)

struct weftd_sup;
struct weftd_hb;

struct weftd_sup_opts {
	int64_t heartbeat_interval_ns;  /* probe period without a watchdog; 0 = 1s */
	int64_t heartbeat_timeout_ns;   /* default per-attempt silence limit; 0 = 30s */
	int64_t watchdog_usec;          /* systemd's WatchdogSec; 0 = no pings */
	/* called (from the monitor fiber, must not park) for each expired attempt */
	void (*on_timeout)(void *arg, const char *what, const char *job_id, int64_t silent_ns);
	int (*ping)(void);              /* sends WATCHDOG=1; NULL = weftd_notify_watchdog */
	void *arg;
};

struct weftd_sup_stats {
	uint64_t heartbeat_timeouts;    /* attempts cancelled for heartbeat loss */
	uint64_t supervisor_gaps;       /* misses forgiven: the supervisor was not running */
	uint64_t watchdog_pings;        /* WATCHDOG=1 sent */
	uint64_t watchdog_withheld;     /* pings skipped because a proc made no progress */
	unsigned probes;                /* procs with a progress probe placed */
	int64_t probe_age_ns[WEFTD_SUP_MAX_PROCS]; /* per proc: time since its probe last ran */
};

/* Create a supervisor. Any thread. Returns 0 or -EINVAL/-ENOMEM. */
int weftd_sup_new(const struct weftd_sup_opts *o, struct weftd_sup **ret);
/* Spawn the monitor fiber, the watchdog fiber (if any) and the per-proc probes. Fiber only. Returns 0, -EALREADY,
 * -ENOMEM. */
int weftd_sup_start(struct weftd_sup *s);
/* Stop the supervisor and its probes and wait for them. Fiber only; idempotent. */
int weftd_sup_stop(struct weftd_sup *s);
/* Free after stop (or if never started). NULL ok; returns NULL. Slots must be unregistered. */
struct weftd_sup *weftd_sup_free(struct weftd_sup *s);
void weftd_sup_stats(struct weftd_sup *s, struct weftd_sup_stats *ret);

/* A worker's slot. what ("pipeline/stage") is copied, for the log. Returns NULL on ENOMEM.
 * Any fiber. */
struct weftd_hb *weftd_hb_register(struct weftd_sup *s, const char *what);
/* Remove a slot (not during an attempt). NULL ok. */
void weftd_hb_unregister(struct weftd_sup *s, struct weftd_hb *hb);

/* An attempt starts: the slot holds a reference to ctx (cancelled on heartbeat loss) and
 * job_id (borrowed until end) and counts as beaten now. timeout_ns 0 = the default. */
void weftd_hb_begin(struct weftd_hb *hb, weft_ctx *ctx, const char *job_id, int64_t timeout_ns);
/* A beat: cheap (one clock read and a store); signature fits weftd_attempt.beat. */
void weftd_hb_beat(void *hb);
/* The attempt ended. Returns true when the supervisor cancelled it for heartbeat loss. */
bool weftd_hb_end(struct weftd_hb *hb);

/* The pure decisions, exposed for tests. */
/* True when a slot busy since its last beat at last_ns is past timeout_ns at now. */
bool weftd_hb_expired(int64_t now, int64_t last_ns, int64_t timeout_ns);
/* True when a miss of an attempt silent for silent_ns with limit timeout_ns, noticed now,
 * is more than gap_ns past its deadline: the supervisor itself was not running. */
bool weftd_sup_was_away(int64_t silent_ns, int64_t timeout_ns, int64_t gap_ns);
/* True when WATCHDOG=1 may be sent: there are nprocs probes, every one placed (last > 0)
 * and none older than stale_ns at now. */
bool weftd_watchdog_healthy(int64_t now, const int64_t *probe_last, unsigned nprocs,
			    int64_t stale_ns);

#endif
