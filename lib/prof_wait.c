/* SPDX-License-Identifier: MIT */
/* prof_wait.c — the block and mutex profiles (weft/prof.h): weft__wait, the common end of
 * every blocking call, brackets its park with weft__prof_wait_begin/end (prof.h), which
 * cost one predictable branch while both rates are 0. A wait that is sampled is recorded
 * per stack (its wait site) in a table under a spinlock, held for a lookup and two adds. */
#include <stdlib.h>
#include <string.h>

#include "prof_wait.h"
#include "proc.h"
#include "rand.h"


#define table weft__wait_table
#define site weft__wait_site

atomic_bool weft__prof_waits_on;
static _Atomic int64_t block_rate;
static atomic_int mutex_frac;
struct weft__wait_table weft__block_tab, weft__mutex_tab;
static __thread uint64_t rnd;

static void turn_on_off(void)
{
	atomic_store(&weft__prof_waits_on, atomic_load(&block_rate) > 0 || atomic_load(&mutex_frac) > 0);
}

static void table_alloc(struct table *t)
{
	struct site *v = calloc(WEFT__WAIT_SITES, sizeof(*v));
	weft__lock_acquire(&t->lock);
	if (!t->v) {
		t->v = v;
		v = NULL;
	}
	weft__lock_release(&t->lock);
	free(v);
}

int64_t weft_prof_set_block_rate(int64_t rate_ns)
{
	if (rate_ns > 0) {
		table_alloc(&weft__block_tab);
		weft__unwind_prepare(); /* without it the sites are empty stacks, not wrong ones */
	}
	int64_t old = atomic_exchange(&block_rate, rate_ns > 0 ? rate_ns : 0);
	turn_on_off();
	return old;
}

int weft_prof_set_mutex_fraction(int fraction)
{
	if (fraction > 0) {
		table_alloc(&weft__mutex_tab);
		weft__unwind_prepare();
	}
	int old = atomic_exchange(&mutex_frac, fraction > 0 ? fraction : 0);
	turn_on_off();
	return old;
}

int64_t weft__prof_wait_begin_slow(void)
{
	return weft__now();
}

static void record(struct table *t, const uintptr_t *pcs, int depth, int64_t count, int64_t ns)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < depth; i++)
		h = (h ^ pcs[i]) * 1099511628211ull;
	h |= 1; /* 0 marks a free slot */
	weft__lock_acquire(&t->lock);
	if (!t->v)
		goto out;
	for (size_t i = h % WEFT__WAIT_SITES, k = 0; k < WEFT__WAIT_SITES; i = (i + 1) % WEFT__WAIT_SITES, k++) {
		struct site *s = &t->v[i];
		if (s->hash == h && s->depth == depth && !memcmp(s->pcs, pcs, depth * sizeof(*pcs))) {
			s->count += count;
			s->delay_ns += ns;
			goto out;
		}
		if (!s->hash) {
			if (t->n >= WEFT__WAIT_SITES * 3 / 4)
				break;
			s->hash = h;
			s->depth = (uint8_t)depth;
			memcpy(s->pcs, pcs, depth * sizeof(*pcs));
			s->count = count;
			s->delay_ns = ns;
			t->n++;
			goto out;
		}
	}
	t->dropped_count += count;
	t->dropped_ns += ns;
out:
	weft__lock_release(&t->lock);
}

WEFT__NO_SAN void weft__prof_wait_end_slow(int64_t t0, const char *reason)
{
	struct weft_fiber *f = weft__self();
	int64_t d = weft__now() - t0, count, ns;
	uintptr_t pcs[WEFT__PROF_DEPTH];
	struct table *t;

	if (!f || !reason || d <= 0)
		return;
	if (!rnd)
		rnd = (uint64_t)(uintptr_t)&rnd ^ (uint64_t)t0;
	if (strncmp(reason, "mutex", 5) == 0 || strncmp(reason, "rwmutex", 7) == 0) {
		int frac = atomic_load_explicit(&mutex_frac, memory_order_relaxed);
		if (frac <= 0 || (frac > 1 && weft__rand_below(&rnd, (uint32_t)frac) != 0))
			return;
		t = &weft__mutex_tab;
		count = frac;
		ns = d * frac;
	} else {
		int64_t rate = atomic_load_explicit(&block_rate, memory_order_relaxed);
		/* Go's block profile leaves out sleeping and I/O: waits the program asked for */
		if (rate <= 0 || !strcmp(reason, "sleep") || !strncmp(reason, "io", 2) ||
		    !strcmp(reason, "blocking"))
			return;
		if (d >= rate) {
			count = 1;
			ns = d;
		} else {
			if ((int64_t)(weft__rand64(&rnd) % (uint64_t)rate) >= d)
				return;
			count = rate / d;
			ns = rate;
		}
		t = &weft__block_tab;
	}
	/* from the wait site: this function's caller */
	int n = weft__unwind_here(1, (uintptr_t)f->stack.lo,
				  (uintptr_t)f->stack.hi - WEFT__STACK_HEADER, pcs, WEFT__PROF_DEPTH);
	record(t, pcs, n, count, ns);
}

