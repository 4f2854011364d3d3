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

struct weft__stack {
	void *lo;      /* lowest usable address (above guard page and canary) */
	void *hi;      /* one past the top of the slot; the header sits at hi - WEFT__STACK_HEADER */
	bool guarded;  /* a PROT_NONE page lies just below */
};

struct weft__stack_pool;           /* shared by the procs of one scheduler; thread-safe */
struct weft__stack_cache;          /* one per proc; used only by its owner thread */

int weft__stack_pool_new(struct weft__stack_pool **ret, size_t default_size, enum weft_stack_mode mode);
void weft__stack_pool_free(struct weft__stack_pool *pool);   /* all stacks must be back */

int weft__stack_cache_new(struct weft__stack_pool *pool, struct weft__stack_cache **ret);
void weft__stack_cache_free(struct weft__stack_cache *cache); /* returns its stacks to the pool */

/* Get a stack of at least size usable bytes (0 = pool default). Returns 0 or
 * -ENOMEM (or -ENOMEM in GUARD mode when the map budget is spent). */
int weft__stack_get(struct weft__stack_cache *cache, size_t size, struct weft__stack *ret);
/* Return a stack; may be called from any proc's cache (stacks migrate). */
void weft__stack_put(struct weft__stack_cache *cache, const struct weft__stack *st);

/* Abort with "weft: stack overflow in fiber <name>" if the canary of st is
 * damaged (CANARY mode; cheap no-op for guarded stacks). */
void weft__stack_check(const struct weft__stack *st, const char *fiber_name);

/* Call fn(header, arg) for every stack currently handed out (for the fiber
 * dump). Takes the pool lock; fn must not call back into the pool. */
void weft__stack_pool_foreach(struct weft__stack_pool *pool, void (*fn)(void *header, void *arg), void *arg);

/* Install (once per process, idempotent) a SIGSEGV handler on an alternate
 * stack that reports a fault inside a guard page as
 * "weft: stack overflow in fiber <id> '<name>'" and then dies with SIGSEGV;
 * other faults go to the previous handler. name_of(header) returns the name. */
void weft__stack_overflow_handler_install(const char *(*name_of)(const void *header));
/* Each proc thread calls this once to get an alternate signal stack. */
int weft__stack_sigaltstack_setup(void);

#endif
