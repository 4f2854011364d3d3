/* SPDX-License-Identifier: MIT */
/* weft/heartbeat.h — heartbeats: workers prove they are alive, a monitor
 * notices the ones that stop.
 *
 * Many workers register with one monitor (weft_hb_register) and call
 * weft_hb_beat() at an interval or per unit of work: a beat is one clock read
 * and one atomic store, cheap enough for every job. A worker is MISSING when
 * its last beat is older than its timeout. A worker that waits legitimately
 * (an idle worker parked on an empty queue) calls weft_hb_pause(); its next
 * beat resumes monitoring.
 *
 * The monitor can be used three ways:
 *   - waitable:  weft_hbmon_wait(ctx, m, &ev) parks until a worker goes
 *                missing or recovers (no polling: it sleeps until the earliest
 *                possible miss);
 *   - callbacks: weft_hbmon_run(ctx, m) loops over wait and calls the
 *                on_missed / on_recovered callbacks (run it in a fiber);
 *   - polled:    a supervisor fiber with its own loop calls weft_hbmon_missing()
 *                or weft_hbmon_foreach() to read every worker's last beat
 *                (e.g. to send WATCHDOG=1 only while nobody is missing).
 * All functions are thread-safe.
 */
#ifndef WEFT_HEARTBEAT_H
#define WEFT_HEARTBEAT_H

#include <stdbool.h>
#include <stdint.h>
#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_hbmon weft_hbmon;
typedef struct weft_hb weft_hb;

/* What the monitor reports. name and user are copies taken at registration,
 * so an event stays readable after the worker unregisters. */
struct weft_hb_event {
	bool missing;            /* true: went missing; false: recovered */
	uint64_t id;             /* the worker's id (weft_hb_id), unique per monitor */
	void *user;              /* as given to weft_hb_register */
	int64_t last_beat;       /* monotonic ns of its last beat */
	int64_t late_ns;         /* missing: now - last_beat at detection */
	char name[32];
};

struct weft_hbmon_opts {
	/* For weft_hbmon_run; called from the fiber running it (may park). */
	void (*on_missed)(const struct weft_hb_event *ev, void *arg);
	void (*on_recovered)(const struct weft_hb_event *ev, void *arg);
	void *arg;
};

/* opts may be NULL (wait/poll use only). Returns 0 with *ret owned by the
 * caller, -ENOMEM. */
WEFT_EXPORT int weft_hbmon_new(const struct weft_hbmon_opts *opts, weft_hbmon **ret);
/* Free the monitor (NULL ok; returns NULL). Never blocks, never refuses:
 * fibers in weft_hbmon_wait or weft_hbmon_run return -ECANCELED, and workers
 * still registered keep its memory until they unregister (nobody watches
 * them any more). m must not be passed to any call afterwards. */
WEFT_EXPORT weft_hbmon *weft_hbmon_free(weft_hbmon *m);

/* Register a worker that must beat at least every timeout_ns (> 0). Its
 * clock starts now (registration counts as a beat). name may be NULL (copied,
 * truncated to 31 bytes). Returns 0 with *ret owned by the caller until
 * weft_hb_unregister, -EINVAL, -ENOMEM. Any thread. */
WEFT_EXPORT int weft_hb_register(weft_hbmon *m, const char *name, int64_t timeout_ns, void *user,
				 weft_hb **ret);
/* Remove and free the worker (NULL ok); returns NULL. The worker itself
 * must not beat afterwards. */
WEFT_EXPORT weft_hb *weft_hb_unregister(weft_hb *hb);

/* I am alive. Never blocks; any thread. Resumes a paused worker. */
WEFT_EXPORT void weft_hb_beat(weft_hb *hb);
/* I am about to wait for work for an unbounded time: do not flag me until
 * my next beat. Never blocks. */
WEFT_EXPORT void weft_hb_pause(weft_hb *hb);
/* A unit of work with its own limit begins: from now on the worker must
 * beat at least every timeout_ns (> 0). Counts as a beat (resumes a paused
 * worker). Returns 0 or -EINVAL. Never blocks; any thread. */
WEFT_EXPORT int weft_hb_set_timeout(weft_hb *hb, int64_t timeout_ns);
/* Beat every interval_ns until ctx is done, then return ctx's error (Go's
 * ticker-driven heartbeat, for a fiber whose liveness is what matters).
 * Parks. Fiber only. */
WEFT_EXPORT int weft_hb_pulse(weft_ctx *ctx, weft_hb *hb, int64_t interval_ns);

WEFT_EXPORT uint64_t weft_hb_id(const weft_hb *hb);
/* Monotonic ns of the last beat. Never blocks. */
WEFT_EXPORT int64_t weft_hb_last(const weft_hb *hb);

/* Park until a worker goes missing or a missing worker recovers; fill *ret
 * and return 0. Each change is reported once (to one waiter when several
 * wait). Returns ctx's error when ctx is done first, -ECANCELED once the
 * monitor is freed, -EINVAL, -ENOMEM. Fiber only (-EPERM elsewhere). */
WEFT_EXPORT int weft_hbmon_wait(weft_ctx *ctx, weft_hbmon *m, struct weft_hb_event *ret);
/* Call opts.on_missed / on_recovered for every change until ctx is done
 * (returns its error) or the monitor is freed (-ECANCELED). Fiber only. */
WEFT_EXPORT int weft_hbmon_run(weft_ctx *ctx, weft_hbmon *m);

/* Number of workers missing right now (computed from the clock, whatever was
 * reported). 0 = healthy. Never blocks; any thread. */
WEFT_EXPORT int weft_hbmon_missing(weft_hbmon *m);
/* Snapshot of one worker for weft_hbmon_foreach. */
struct weft_hb_info {
	uint64_t id;
	const char *name;        /* valid during the callback */
	void *user;
	int64_t last_beat, timeout_ns;
	bool paused, missing;    /* missing: by the clock now */
};
/* Call fn for every registered worker, under the monitor's lock: fn must be
 * short and must not park or call into the monitor. Returns the count. */
WEFT_EXPORT int weft_hbmon_foreach(weft_hbmon *m, void (*fn)(const struct weft_hb_info *hb, void *arg),
				   void *arg);

#ifdef __cplusplus
}
#endif
#endif
