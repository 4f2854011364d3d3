/* SPDX-License-Identifier: MIT */
/* switch.c — weft__ctx: the raw switch plus sanitizer bookkeeping.
 *
 * ASan must know which stack is current (start/finish_switch_fiber around
 * every switch, finish first thing on the new stack, including a fiber's
 * first entry); TSan must know which fiber runs (switch_to_fiber). Without
 * sanitizers a switch is two calls and the register shuffle in assembly.
 */
#include "switch.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(WEFT_ASAN)
#define WEFT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(WEFT_TSAN)
#define WEFT_TSAN 1
#endif

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* In switch_<arch>.S. */
void weft__ctx_trampoline(void);
/* Called by the trampoline; not static so the assembly can reach it. */
__attribute__((visibility("hidden"), noreturn)) void weft__ctx_first(void (*entry)(void *), void *arg);

void weft__ctx_first(void (*entry)(void *), void *arg)
{
#ifdef WEFT_ASAN
	/* No fake stack of ours exists yet: NULL save slot. */
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	entry(arg);
	abort(); /* entry must end with weft__ctx_switch_final */
}

void weft__ctx_init_thread(struct weft__ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->is_thread = true;
#ifdef WEFT_ASAN
	/* ASan needs the bounds of the stack we switch back to. */
	pthread_attr_t attr;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &c->stack_lo, &c->stack_size);
		pthread_attr_destroy(&attr);
	}
#endif
#ifdef WEFT_TSAN
	c->tsan_fiber = __tsan_get_current_fiber();
#endif
}

/* Build the frame weft__switch pops: callee-saved registers, FP control
 * words inherited from the creator, and the trampoline as return address. */
static void *initial_frame(void *top, void (*entry)(void *), void *arg)
{
	uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
#if defined(__x86_64__)
	uint64_t *f = (uint64_t *)(t - 64); /* after ret, rsp = t: 16-aligned */
	uint16_t fcw;
	uint32_t mxcsr;
	__asm__ volatile("fnstcw %0; stmxcsr %1" : "=m"(fcw), "=m"(mxcsr));
	memset(f, 0, 64);
	f[0] = fcw | (uint64_t)(mxcsr & ~0x3fu) << 32; /* drop sticky status flags */
	f[3] = (uintptr_t)arg;                          /* r13 */
	f[4] = (uintptr_t)entry;                        /* r12 */
	f[7] = (uintptr_t)weft__ctx_trampoline;         /* return address */
#elif defined(__aarch64__)
	uint64_t *f = (uint64_t *)(t - 176);
	uint64_t fpcr;
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	memset(f, 0, 176);
	f[0] = (uintptr_t)entry;                /* x19 */
	f[1] = (uintptr_t)arg;                  /* x20 */
	f[11] = (uintptr_t)weft__ctx_trampoline; /* x30 */
	f[20] = fpcr;
#else
#error "weft: no context switch for this architecture"
#endif
	return f;
}

int weft__ctx_init(struct weft__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
	assert(lo && size >= 256 && entry);
	memset(c, 0, sizeof(*c));
	c->stack_lo = lo;
	c->stack_size = size;
#ifdef WEFT_ASAN
	/* A reused stack may keep poisoned redzones of frames that never
	 * returned (the previous fiber ended by switching away). */
	ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
#ifdef WEFT_TSAN
	c->tsan_fiber = __tsan_create_fiber(0);
	if (!c->tsan_fiber)
		return -ENOMEM;
#endif
	c->sp = initial_frame((char *)lo + size, entry, arg);
	return 0;
}

#ifndef WEFT__SWITCH_INLINE
__attribute__((noinline)) void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to)
{
#ifdef WEFT_ASAN
	__sanitizer_start_switch_fiber(&from->asan_fake, to->stack_lo, to->stack_size);
#endif
#ifdef WEFT_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	weft__switch(&from->sp, to->sp);
#ifdef WEFT_ASAN
	__sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
}
#endif

__attribute__((noinline)) void weft__ctx_switch_final(struct weft__ctx *from, struct weft__ctx *to)
{
#ifdef WEFT_ASAN
	/* NULL slot: this context never resumes, ASan frees its fake stack. */
	__sanitizer_start_switch_fiber(NULL, to->stack_lo, to->stack_size);
#endif
#ifdef WEFT_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	weft__switch(&from->sp, to->sp);
	__builtin_unreachable();
}

void weft__ctx_done(struct weft__ctx *c)
{
	if (!c)
		return;
#ifdef WEFT_TSAN
	if (!c->is_thread && c->tsan_fiber)
		__tsan_destroy_fiber(c->tsan_fiber);
#endif
	c->tsan_fiber = NULL;
}
