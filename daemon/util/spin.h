/* SPDX-License-Identifier: MIT */
/* spin.h — the daemon's spinlock, for critical sections of a few loads and
 * stores (a job's fields, a table's links, a connection's output queue).
 *
 * Never park while holding one: a fiber that parks with the lock held leaves
 * every other proc spinning. Where a wait is needed, use weft_mutex or an
 * event from the public headers. Test-and-test-and-set: the spin reads the word
 * without writing it, so waiters do not bounce the cache line.
 */
#ifndef WEFTD_SPIN_H
#define WEFTD_SPIN_H

#include <stdatomic.h>

typedef struct { atomic_int v; } weftd_spin;
#define WEFTD_SPIN_INIT { 0 }

static inline void weftd_spin_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static inline void weftd_spin_lock(weftd_spin *l)
{
	for (;;) {
		if (!atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(&l->v, memory_order_relaxed))
			weftd_spin_relax();
	}
}

static inline void weftd_spin_unlock(weftd_spin *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_release);
}

#endif
