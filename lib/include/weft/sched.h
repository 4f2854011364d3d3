/* SPDX-License-Identifier: MIT */
/* weft/sched.h — fibers and the M:N scheduler (Go's goroutines and GMP).
 *
 * weft_run() starts N scheduler threads ("procs"), each owning a local run
 * queue and its own io_uring (or epoll set: enum weft_backend). Fibers are cooperative: a fiber runs until it
 * blocks (channel, I/O, sleep, sync wait) or calls weft_yield(). An idle proc
 * steals half of another proc's run queue when that queue is a backlog (it
 * has not emptied for 20 us), and otherwise parks in its ring.
 *
 * Every function here returns 0 (or a positive count) on success and a
 * negative errno on failure. Functions marked "fiber only" must be called
 * from a fiber running under weft_run(); elsewhere they return -EPERM.
 */
#ifndef WEFT_SCHED_H
#define WEFT_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_EXPORT __attribute__((visibility("default")))

typedef struct weft_fiber weft_fiber;
typedef void (*weft_fn)(void *arg);

/* How stack overflow is caught (see README "Stacks").
 * GUARD:  a PROT_NONE page below every stack. An overflow faults at once and
 *         is reported naming the fiber. Costs two memory maps per stack, so at
 *         most ~vm.max_map_count/2 stacks (about 32,000 by default).
 * CANARY: no guard page; a canary word at the stack limit is checked at every
 *         switch and an overflow aborts naming the fiber. Unlimited stacks, but
 *         an overflow is caught late and may already have corrupted a neighbour.
 * AUTO:   GUARD while the map budget allows, CANARY beyond (default).
 * The map budget is process-wide: (vm.max_map_count - 4096) / 2 guard pages.
 * The environment variable WEFT_STACK_GUARD_BUDGET, read once, lowers it (to
 * leave maps to the rest of a program); with WEFT_BACKEND (below) it is one of the
 * two environment variables libweft reads. */
enum weft_stack_mode { WEFT_STACK_AUTO = 0, WEFT_STACK_GUARD, WEFT_STACK_CANARY };

/* The I/O back end, chosen once per weft_run (see README "I/O back ends").
 * AUTO:     the environment variable WEFT_BACKEND ("io_uring" or "epoll") if set,
 *           else io_uring when io_uring_setup works here, else epoll (Docker's
 *           default seccomp profile, kernel.io_uring_disabled, gVisor...);
 *           weft_features() then says why in io_uring_error.
 * IO_URING: io_uring or nothing: weft_run fails with io_uring_setup's error.
 * EPOLL:    readiness-based: an epoll set per proc, non-blocking socket and pipe
 *           calls, an eventfd for cross-proc wake-ups, and file I/O (open, read and
 *           write of regular files, fsync, statx) on the weft_blocking pool.
 *           Every call keeps its contract; it is slower. */
enum weft_backend { WEFT_BACKEND_AUTO = 0, WEFT_BACKEND_IO_URING, WEFT_BACKEND_EPOLL };

struct weft_opts {
	unsigned procs;            /* scheduler threads; 0 = number of CPUs */
	size_t stack_size;         /* default fiber stack reserve; 0 = 64 KiB */
	enum weft_stack_mode stack_mode;
	unsigned ring_entries;     /* io_uring SQ size per proc; 0 = 256 */
	bool sqpoll;               /* run each ring in SQPOLL mode */
	bool return_with_main;     /* weft_run returns when main returns, even if
	                              other fibers are still alive (they are abandoned) */
	unsigned blocking_threads; /* weft_blocking helper threads; 0 = 4 */
	enum weft_backend backend; /* AUTO (0) unless forced */
};

/* Start the scheduler, run main_fn(arg) as the first fiber and return when it
 * and every fiber it spawned have ended (or when main returns, per
 * opts->return_with_main). opts may be NULL for defaults. Not reentrant: one
 * weft_run per thread at a time; several may run in one process.
 * Returns 0, or -ENOMEM/-EINVAL (a bad opts->backend or WEFT_BACKEND), or
 * -errno from setting up the back end (io_uring_setup's -EPERM or -ENOSYS where
 * io_uring is disabled and opts->backend forces it) without running main_fn. */
WEFT_EXPORT int weft_run(weft_fn main_fn, void *arg, const struct weft_opts *opts);

struct weft_go_opts {
	const char *name;   /* shown in the fiber dump; copied (truncated to 31 bytes) */
	size_t stack_size;  /* 0 = the scheduler default */
	bool pin;           /* never migrate: stays on the proc that spawned it */
	bool on_proc;       /* start on proc `proc` (0..weft_nprocs()-1) and never
	                       migrate from it (pin is then implied) */
	unsigned proc;      /* with on_proc; ignored otherwise */
};

/* Spawn fn(arg) as a new fiber, runnable at once (Go's `go fn(arg)`).
 * Fiber only (-EPERM elsewhere). Returns 0, -ENOMEM, or -EINVAL for a NULL
 * fn or an on_proc proc out of range. A zeroed (or NULL) opts is weft_go():
 * any proc, may migrate. The fiber is not joinable: use a
 * weft_wg (weft/sync.h) or a channel to wait for it.
 * May yield: once this proc's run queue is half full, the caller lets the
 * queued fibers run before it goes on (a spawning loop then runs in bounded
 * memory on warm stacks). So do not hold a spinlock across it. */
WEFT_EXPORT int weft_go(weft_fn fn, void *arg);
WEFT_EXPORT int weft_go_opts(weft_fn fn, void *arg, const struct weft_go_opts *opts);

/* Put the calling fiber at the back of the run queue and run another one.
 * Fiber only; returns 0 (or -EPERM outside a fiber). */
WEFT_EXPORT int weft_yield(void);

/* The calling fiber, or NULL outside weft_run. */
WEFT_EXPORT weft_fiber *weft_self(void);
/* Index of the proc running the caller (0..procs-1), or -EPERM. */
WEFT_EXPORT int weft_proc_id(void);
/* Number of procs of the running scheduler, or -EPERM. */
WEFT_EXPORT int weft_nprocs(void);
/* Unique id (>0) and name ("" when unnamed) of a fiber. */
WEFT_EXPORT uint64_t weft_fiber_id(const weft_fiber *f);
WEFT_EXPORT const char *weft_fiber_name(const weft_fiber *f);
/* Rename the calling fiber. */
WEFT_EXPORT void weft_set_name(const char *name);

/* Run fn(arg) on a helper thread while the calling fiber parks (for calls
 * that block the thread: getaddrinfo, a library without async I/O, ...).
 * Fiber only. Returns fn's return value (negative errno by convention), or
 * -ENOMEM. The call cannot be cancelled once started. */
typedef int (*weft_blocking_fn)(void *arg);
WEFT_EXPORT int weft_blocking(weft_blocking_fn fn, void *arg);

/* Scheduler counters (summed over procs) for metrics and tests. */
struct weft_sched_stats {
	uint64_t fibers_live;      /* spawned and not yet ended (a snapshot: procs settle
	                              their counts in batches) */
	uint64_t fibers_spawned;
	uint64_t switches;
	uint64_t steals;           /* fibers moved by work stealing */
	uint64_t parks;            /* times a proc went to sleep in its ring */
	uint64_t naps;             /* times an idle proc waited (briefly, in its ring) for
	                              another's queue to become a backlog worth stealing */
	uint64_t wakeups_msg_ring; /* cross-proc wake-ups sent by MSG_RING */
	uint64_t wakeups_eventfd;  /* ... and by eventfd */
	uint64_t io_submitted;
	uint64_t io_completed;
};
/* Fiber only (or from any thread of a running scheduler). */
WEFT_EXPORT int weft_sched_stats(struct weft_sched_stats *ret);

/* One proc's figures: its thread's CPU time (busy time: a proc with nothing to run
 * sleeps in its ring, costing none; the time spent per wall second is its utilisation)
 * and its own share of the counters weft_sched_stats sums. */
struct weft_proc_stats {
	uint64_t cpu_ns;           /* CPU time of the proc's thread (user + system) */
	uint64_t switches, steals, parks, io_submitted, io_completed;
};
/* Read proc (0..weft_nprocs()-1) without stopping it. Fiber only (or from any thread of
 * a running scheduler). Returns 0, -EINVAL (proc out of range), -EPERM. */
WEFT_EXPORT int weft_proc_stats(unsigned proc, struct weft_proc_stats *ret);

/* Features probed at start-up (the io_uring ones are false under epoll). */
struct weft_features {
	bool msg_ring, single_issuer, defer_taskrun, coop_taskrun, sqpoll, waitid, futex;
	enum weft_backend backend;  /* the back end running: IO_URING or EPOLL */
	int io_uring_error;         /* AUTO fell back to epoll: io_uring_setup's negative
	                               errno; 0 when io_uring runs or a back end was forced */
};
WEFT_EXPORT int weft_features(struct weft_features *ret);
/* "io_uring", "epoll" or "auto"; "?" for anything else. Any thread. */
WEFT_EXPORT const char *weft_backend_name(enum weft_backend b);

/* Write one line per live fiber ("id name state wait-reason age_ms") to fd,
 * after a first line "# backend <name> procs <n>". Safe from any fiber; the
 * listing is a snapshot. Returns the number of fibers. */
WEFT_EXPORT int weft_dump_fibers(int fd);

#ifdef __cplusplus
}
#endif
#endif
