/* SPDX-License-Identifier: MIT */
/* prof.h — the profilers' shared parts (private to lib/; weft/prof.h is the API):
 *   prof_unwind.c  stacks unwound by DWARF CFI (libunwind), reads bounded to a known
 *                  stack and the loaded objects, no lock (signal-safe);
 *   prof_pb.c      the pprof protobuf writer (interned strings, locations,
 *                  functions), gzipped;
 *   prof_sym.c     addresses to function names from the ELF symbol tables of
 *                  the loaded objects, and their mappings;
 *   prof_cpu.c     the SIGPROF sampler; prof_fibers.c the fiber profile;
 *   prof_wait.c    the block and mutex profiles and their hook in weft__wait.
 */
#ifndef WEFT_PROF_PRIV_H
#define WEFT_PROF_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/prof.h>

#define WEFT__PROF_DEPTH 48 /* frames kept per stack */

/* The labels a fiber carries (in its header). busy is set while the fiber itself
 * changes them, so that a SIGPROF landing midway takes none. */
struct weft__labels {
	uint8_t n;
	volatile uint8_t busy;
	char key[WEFT_LABELS_MAX][WEFT_LABEL_KEY_MAX + 1];
	char val[WEFT_LABELS_MAX][WEFT_LABEL_VALUE_MAX + 1];
};

/* Reads of other contexts' stacks are deliberate and bounded: the sanitizers must not
 * instrument them (ASan would see redzones of frames, TSan a race with a fiber that
 * wakes meanwhile: a stale frame is acceptable in a profile). */
#define WEFT__NO_SAN __attribute__((no_sanitize_address, no_sanitize_thread, noinline))

/* Unwinding (prof_unwind.c). Each fills pcs[0..max) with the leaf's address first (a
 * return address for a parked fiber's leaf, the interrupted pc for a signal) and
 * return addresses after it, reading only the stack [lo, hi) and the loaded objects'
 * mappings; they return the depth (0 when nothing could be read). No lock, no
 * allocation: async-signal-safe once weft__unwind_prepare has run.
 *   prepare  once per profile, not in a handler: makes the unwinder, forgets the
 *            frame rules it cached (objects may have been unloaded since); -ENOMEM.
 *   signal   from a signal's ucontext (the interrupted thread); only its pc when the
 *            interrupted sp is outside [lo, hi).
 *   saved    a context suspended by weft__switch, its frame at sp.
 *   here     the caller's own stack, its skip innermost frames left out. */
int weft__unwind_prepare(void);
int weft__unwind_signal(const void *ucontext, uintptr_t lo, uintptr_t hi, uintptr_t *pcs, int max);
int weft__unwind_saved(const void *sp, uintptr_t lo, uintptr_t hi, uintptr_t *pcs, int max);
int weft__unwind_here(int skip, uintptr_t lo, uintptr_t hi, uintptr_t *pcs, int max);

/* ---- the pprof writer ---------------------------------------------------------------- */
struct weft__pprof;
struct weft__pprof_label { const char *key, *str; };

/* types: n pairs of (type, unit), e.g. {"samples","count"},{"cpu","nanoseconds"};
 * period_type likewise, period its value. Returns NULL when out of memory. */
struct weft__pprof *weft__pprof_new(const char *const types[][2], int n, const char *ptype,
				    const char *punit, int64_t period);
/* One sample: pcs[0] is the leaf (its own address; the others are return addresses and
 * are symbolized one byte back). pcs may be NULL with n 0 and then pseudo names one
 * frame of that name (e.g. "(running)"). Returns 0 or -ENOMEM (the profile is then
 * failed: finish returns -ENOMEM). */
int weft__pprof_sample(struct weft__pprof *p, const uintptr_t *pcs, int n, const char *pseudo,
		       const int64_t *values, const struct weft__pprof_label *labels, int nl);
void weft__pprof_set_time(struct weft__pprof *p, int64_t time_ns, int64_t duration_ns);
/* Symbolize, encode, gzip. *ret malloc'd. Frees p. Returns 0 or -ENOMEM. */
int weft__pprof_finish(struct weft__pprof *p, void **ret, size_t *ret_len);
void weft__pprof_free(struct weft__pprof *p);

/* ---- symbols ------------------------------------------------------------------------- */
struct weft__syms;
struct weft__sym_map {          /* an executable mapping, for pprof's mapping table */
	uintptr_t start, limit, offset;
	const char *file;
};
/* Load the symbol tables of every object loaded now (dl_iterate_phdr). NULL: no memory. */
struct weft__syms *weft__syms_load(void);
/* The function containing addr: its name (valid until free) and start address; NULL if
 * none. */
const char *weft__syms_find(const struct weft__syms *s, uintptr_t addr, uintptr_t *ret_start,
			    const struct weft__sym_map **ret_map);
/* The mappings, in load order. */
size_t weft__syms_maps(const struct weft__syms *s, const struct weft__sym_map **ret);
void weft__syms_free(struct weft__syms *s);

/* ---- block and mutex hooks (prof_wait.c), around the park in weft__wait ---------------- */
extern atomic_bool weft__prof_waits_on; /* either rate non-zero */
int64_t weft__prof_wait_begin_slow(void);
void weft__prof_wait_end_slow(int64_t t0, const char *reason);
/* Returns the start time when a profile may record this wait, else 0. */
static inline int64_t weft__prof_wait_begin(void)
{
	if (__builtin_expect(atomic_load_explicit(&weft__prof_waits_on, memory_order_relaxed), 0))
		return weft__prof_wait_begin_slow();
	return 0;
}
static inline void weft__prof_wait_end(int64_t t0, const char *reason)
{
	if (__builtin_expect(t0 != 0, 0))
		weft__prof_wait_end_slow(t0, reason);
}

#endif
