/* SPDX-License-Identifier: MIT */
/* switch.h — the machine context switch (private).
 *
 * A suspended context is its stack pointer: weft__switch pushes the
 * callee-saved registers (and the FP control words the ABI asks callers to
 * preserve) on the current stack, saves sp, loads the other sp and pops.
 * No ucontext, no syscall. x86-64 and aarch64 in assembly.
 *
 * weft__ctx wraps it with the sanitizer bookkeeping: ASan is told about the
 * stack we move to (__sanitizer_start/finish_switch_fiber) and TSan about the
 * fiber (__tsan_switch_to_fiber), so both work across fiber switches.
 */
#ifndef WEFT_SWITCH_H
#define WEFT_SWITCH_H

#include <stdbool.h>
#include <stddef.h>

struct weft__ctx {
	void *sp;          /* saved stack pointer while suspended */
	void *stack_lo;    /* lowest usable address (ASan); NULL for a thread's own stack */
	size_t stack_size; /* usable bytes above stack_lo (ASan) */
	void *asan_fake;   /* ASan fake-stack save slot */
	void *tsan_fiber;  /* TSan fiber handle */
	bool is_thread;    /* from weft__ctx_init_thread: its TSan fiber is the thread's */
};

/* Capture the calling thread's own stack as a context (a proc's scheduler
 * context, "g0"): nothing to allocate, only sanitizer handles. */
void weft__ctx_init_thread(struct weft__ctx *c);

/* Prepare c so that the first switch to it runs entry(arg) on the stack
 * [lo, lo + size). entry must never return: it ends by switching away with
 * weft__ctx_switch_final. Returns 0 (or -ENOMEM from TSan fiber creation). */
int weft__ctx_init(struct weft__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg);

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WEFT__SWITCH_HOOKS 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT__SWITCH_HOOKS 1
#endif

/* The raw switch (assembly): save callee-saved state on this stack, store
 * sp in *save_sp, continue on new_sp. */
void weft__switch(void **save_sp, void *new_sp);

/* Suspend the running context into from and resume to. Returns when some
 * other context switches back to from. The fiber may resume on another
 * thread: thread-local addresses must not be cached across it. Without
 * sanitizer hooks on x86-64 it is inline (one call fewer, one fewer
 * mispredicted return per switch): TLS there is read %fs-relative after any
 * opaque call. Elsewhere it is an out-of-line noinline function. */
#if defined(__x86_64__) && !defined(WEFT__SWITCH_HOOKS)
#define WEFT__SWITCH_INLINE 1
static inline void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to)
{
	weft__switch(&from->sp, to->sp);
}
#else
void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to);
#endif

/* Like weft__ctx_switch, for a context that ends for good and is never
 * resumed (ASan releases its fake stack). Does not return. */
__attribute__((noreturn)) void weft__ctx_switch_final(struct weft__ctx *from, struct weft__ctx *to);

/* Release sanitizer state of a context that ended (called from another
 * context, after the final switch). */
void weft__ctx_done(struct weft__ctx *c);

#endif
