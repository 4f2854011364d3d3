/* SPDX-License-Identifier: MIT */
/* stack.h — pooled fiber stacks carved from large arenas (private).
 *
 * Arenas are reserved with mmap(PROT_NONE... or PROT_READ|WRITE,
 * MAP_NORESERVE) so a stack costs only the pages a fiber touches. Freed
 * stacks go to a per-proc cache, then to the shared pool; past a high-water
 * mark their pages are returned to the kernel (MADV_DONTNEED).
 * Overflow detection per enum weft_stack_mode (weft/sched.h).
 *
 * Slot layout, low to high: [guard page (GUARD mode)] [canary] [usable ...
 * ... top]. The top WEFT__STACK_HEADER bytes of each slot are reserved for the
 * caller (the scheduler keeps the fiber struct there), so the dump and the
 * overflow report can find a fiber from its stack address.
 */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/sched.h>

#define WEFT__STACK_HEADER 512 /* bytes at the top of each slot, for the fiber struct */

struct weft__arena;

/* Filled by weft__stack_get; hand the same struct back to weft__stack_put. */
struct weft__stack {
	void *lo;      /* lowest usable address (above guard page and canary) */
	void *hi;      /* one past the top of the slot; the header sits at hi - WEFT__STACK_HEADER */
	bool guarded;  /* a PROT_NONE page lies just below */
	uint32_t slot;             /* index in its arena (pool private) */
	struct weft__arena *arena; /* owning arena (pool private) */
};

/* Usable bytes of st: from lo up to the header. */
static inline size_t weft__stack_usable(const struct weft__stack *st)
{
	return (size_t)((char *)st->hi - WEFT__STACK_HEADER - (char *)st->lo);
}

struct weft__stack_pool;           /* shared by the procs of one scheduler; thread-safe */
struct weft__stack_cache;          /* one per proc; used only by its owner thread */

int weft__stack_pool_new(struct weft__stack_pool **ret, size_t default_size, enum weft_stack_mode mode);
void weft__stack_pool_free(struct weft__stack_pool *pool);   /* all stacks must be back */

int weft__stack_cache_new(struct weft__stack_pool *pool, struct weft__stack_cache **ret);
void weft__stack_cache_free(struct weft__stack_cache *cache); /* returns its stacks to the pool */

/* Get a stack of at least size usable bytes (0 = pool default). Returns 0 or
 * -ENOMEM (or -ENOMEM in GUARD mode when the map budget is spent). Sizes up
 * to the default come from the per-proc cache; larger ones are rounded up to
 * a power of two and served from the shared pool under its lock.
 * Only the pages a fiber touches are committed. A stack that comes back from
 * the pool past its high-water mark has had its pages (header included)
 * returned to the kernel: the caller must not keep data in the header of a
 * stack it has put. */
int weft__stack_get(struct weft__stack_cache *cache, size_t size, struct weft__stack *ret);
/* Return a stack; may be called from any proc's cache (stacks migrate). */
void weft__stack_put(struct weft__stack_cache *cache, const struct weft__stack *st);

/* Return the pages of free stacks beyond the high-water mark to the kernel
 * (MADV_DONTNEED), at most a bounded batch per call; the syscalls run
 * without the pool lock. Procs call it, rate-limited, when they go idle.
 * Returns the number of stacks released. */
size_t weft__stack_pool_trim(struct weft__stack_pool *pool);

/* Report an overflow of the named fiber and abort. */
__attribute__((noreturn)) void weft__stack_overflow(const char *fiber_name);

/* Abort with "weft: stack overflow in fiber '<name>'" if the canary of st is
 * damaged (CANARY mode; cheap no-op for guarded stacks). The scheduler calls
 * it before putting the stack back, and checks the stack depth against lo at
 * every switch: reading the canary there would fault in the stack's bottom
 * page (on this kernel even a read commits a page), a second page per parked
 * fiber. The canary is the 32 bytes just below lo and must stay zero: a zero
 * canary is never written, so it costs no committed page. */
void weft__stack_check(const struct weft__stack *st, const char *fiber_name);

/* Call fn(header, arg) for every stack currently handed out (for the fiber
 * dump). Takes the pool lock; fn must not call back into the pool. */
void weft__stack_pool_foreach(struct weft__stack_pool *pool, void (*fn)(void *header, void *arg), void *arg);

/* Guard pages cost up to two memory maps each. The process-wide budget is
 * (vm.max_map_count - 4096) / 2 guard pages, 4096 maps being left for the
 * rest of the process; the environment variable WEFT_STACK_GUARD_BUDGET
 * (read once) lowers it. This caps one pool's guard pages further (tests:
 * AUTO mode turning to canaries). Not thread-safe against concurrent gets. */
void weft__stack_pool_set_guard_limit(struct weft__stack_pool *pool, long max_guards);

/* Install (once per process, idempotent) a SIGSEGV handler on an alternate
 * stack that reports a fault inside a guard page as
 * "weft: stack overflow in fiber '<name>'" and then dies with SIGSEGV;
 * other faults go to the previous handler. name_of(header) returns the name. */
void weft__stack_overflow_handler_install(const char *(*name_of)(const void *header));
/* Each proc thread calls this once to get an alternate signal stack. */
int weft__stack_sigaltstack_setup(void);

#endif
