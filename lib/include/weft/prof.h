/* SPDX-License-Identifier: MIT */
/* weft/prof.h — profiles of a running program, in the format `go tool pprof` reads
 * (Go's runtime/pprof for fibers).
 *
 * Every profile comes out as a gzipped pprof protobuf (profile.proto, the format of
 * github.com/google/pprof) with function names resolved in the profile itself (from the
 * ELF symbol tables of the program and of every shared object loaded, plugins included),
 * so `go tool pprof -top FILE` needs no binary. Stacks are unwound by DWARF call-frame
 * information (.eh_frame, which gcc emits by default; libunwind reads it), so code built
 * without frame pointers unwinds fully. A frame without that information (hand-written
 * assembly lacking .cfi directives) ends its stack there. Requires glibc 2.35+
 * (_dl_find_object: the unwinder takes no loader lock inside the signal handler).
 *
 *   CPU      weft_prof_cpu_start/stop: each proc thread's CPU-time timer
 *            (timer_create(CLOCK_THREAD_CPUTIME_ID) aimed at the thread, SIGPROF) samples
 *            the interrupted stack 100 times per CPU second; each sample carries the
 *            running fiber's name (label "fiber") and its labels (weft_label_set).
 *   fibers   weft_prof_fibers: every fiber's stack unwound from its saved context,
 *            like Go's goroutine profile (debug 0: pprof, 1: text grouped by identical
 *            stack with counts, 2: one entry per fiber with wait reason and age).
 *   block    time fibers spent parked per wait site (channels, select, wait groups,
 *            conditions, events, semaphores, contexts: not sleep or I/O), sampled.
 *   mutex    time fibers waited for a weft_mutex or weft_rwmutex per lock site, sampled.
 *
 * Process-wide state: a process has one SIGPROF handler, so one CPU profile runs at a time
 * (the second start is -EBUSY); the block and mutex tables and rates are the process's
 * (as Go's are). The SIGPROF handler, once installed by the first start, stays installed
 * (a signal still in flight after a stop must not meet the default action, which kills);
 * it ignores signals while no profile runs. The block and mutex hooks cost one predictable
 * branch on a wait while their rate is 0 (the default).
 */
#ifndef WEFT_PROF_H
#define WEFT_PROF_H

#include <stddef.h>
#include <stdint.h>
#include <weft/sched.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fiber labels (Go's pprof.Labels) ---------------------------------------------- */

#define WEFT_LABELS_MAX 4          /* labels a fiber carries */
#define WEFT_LABEL_KEY_MAX 15      /* bytes of a key */
#define WEFT_LABEL_VALUE_MAX 39    /* bytes of a value (a longer one is truncated) */

/* Set key to value on the calling fiber (replacing the key's old value). Profiles show the
 * labels of the fiber each sample or stack belongs to; `go tool pprof -tags` lists them and
 * `-tagfocus key=value` selects by them. value NULL removes key. Fiber only (-EPERM).
 * Returns 0, -EINVAL (key empty, longer than WEFT_LABEL_KEY_MAX, or NULL), -ENOSPC
 * (WEFT_LABELS_MAX keys set already). Never blocks. */
WEFT_EXPORT int weft_label_set(const char *key, const char *value);
/* Remove every label of the calling fiber. Fiber only; no-op elsewhere. */
WEFT_EXPORT void weft_labels_clear(void);
/* The value of key on the calling fiber, or NULL. The string lives until the label
 * changes. */
WEFT_EXPORT const char *weft_label_get(const char *key);

/* ---- CPU ----------------------------------------------------------------------------- */

#define WEFT_PROF_HZ_DEFAULT 100
#define WEFT_PROF_HZ_MAX 1000

/* Start sampling every proc of the caller's scheduler at hz samples per CPU second of each
 * proc thread (0: WEFT_PROF_HZ_DEFAULT). Fiber only (-EPERM). Returns 0, -EBUSY (a CPU
 * profile runs already in this process), -EINVAL (hz > WEFT_PROF_HZ_MAX), -ENOMEM, or a
 * timer_create/sigaction errno. Spawns a collector fiber that runs until the stop. */
WEFT_EXPORT int weft_prof_cpu_start(unsigned hz);
/* Stop the CPU profile started by this scheduler and hand over its samples as a gzipped
 * pprof profile (sample types samples/count and cpu/nanoseconds): *ret_data (malloc'd, the
 * caller frees it) of *ret_len bytes. Fiber only; parks until the collector has drained the
 * procs' buffers. Returns the number of samples (>= 0), -ENOENT (none running), -ENOMEM. */
WEFT_EXPORT int weft_prof_cpu_stop(void **ret_data, size_t *ret_len);
/* Samples lost since the start because a proc's buffer was full (the collector drains it
 * every 20 ms; only a stalled collector loses any). */
WEFT_EXPORT uint64_t weft_prof_cpu_lost(void);

/* ---- fibers -------------------------------------------------------------------------- */

/* Every live fiber of the caller's scheduler: debug 0, a gzipped pprof profile (sample type
 * fibers/count, labels "fiber" (name), "state" and the fiber's labels); debug 1, text with one
 * entry per identical stack and label set ("N @ pc pc ..." then "#  pc  function+off" per
 * frame, as Go's goroutine?debug=1); debug 2, text with one entry per fiber: "fiber ID
 * [state, wait reason, age ms]: name" then its frames. Fibers running on a proc at that
 * moment show no stack (their stack is moving: no world to stop). The listing is a
 * snapshot; a parked fiber's stack is read while it may wake, so a frame may be stale.
 * *ret_data is malloc'd (the caller frees it). Fiber only. Returns the number of fibers,
 * -EINVAL (debug not 0..2), -ENOMEM. */
WEFT_EXPORT int weft_prof_fibers(int debug, void **ret_data, size_t *ret_len);

/* ---- block and mutex ----------------------------------------------------------------- */

/* Block profile rate (Go's runtime.SetBlockProfileRate): 0 off (the default), 1 every
 * wait, N: a wait of d ns is recorded when d >= N, else with probability d/N (its count and
 * time scaled up accordingly). Any thread. Returns the previous rate. */
WEFT_EXPORT int64_t weft_prof_set_block_rate(int64_t rate_ns);
/* Mutex profile fraction (Go's runtime.SetMutexProfileFraction): 0 off (the default), N:
 * on average 1 in N contended waits for a weft_mutex/weft_rwmutex is recorded (scaled up
 * by N). Any thread. Returns the previous fraction. */
WEFT_EXPORT int weft_prof_set_mutex_fraction(int fraction);
/* What was recorded since the rate was last turned on, as a gzipped pprof profile (sample
 * types contentions/count and delay/nanoseconds), one sample per wait site. At most
 * 4096 sites are kept; waits at further sites are counted in a "(sites dropped)" entry.
 * *ret_data malloc'd. Any thread. Returns the number of sites, or -ENOMEM. */
WEFT_EXPORT int weft_prof_block(void **ret_data, size_t *ret_len);
WEFT_EXPORT int weft_prof_mutex(void **ret_data, size_t *ret_len);
/* Forget what the block and mutex profiles recorded (rates unchanged). */
WEFT_EXPORT void weft_prof_waits_reset(void);

#ifdef __cplusplus
}
#endif
#endif
