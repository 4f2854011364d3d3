/* SPDX-License-Identifier: MIT */
/* prof_wait.c — the block and mutex profiles (weft/prof.h): weft__wait, the common end of
 * every blocking call, brackets its park with weft__prof_wait_begin/end (prof.h), which
 * cost one predictable branch while both rates are 0. A wait that is sampled is recorded
 * per stack (its wait site) in a table under a spinlock, held for a lookup and two adds. */
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "rand.h"

#define SITES 4096 /* wait sites kept per profile; more are counted as dropped */

struct site {
	uint64_t hash;
	int64_t count, delay_ns;
	uint8_t depth;
	uintptr_t pcs[WEFT__PROF_DEPTH];
};

struct table {
	weft__lock lock;
	struct site *v;                /* SITES slots, open addressing; NULL until first on */
	size_t n;
	int64_t dropped_count, dropped_ns;
};

atomic_bool weft__prof_waits_on;
static _Atomic int64_t block_rate;
static atomic_int mutex_frac;
static struct table block_tab, mutex_tab;
static __thread uint64_t rnd;

static void turn_on_off(void)
{
	atomic_store(&weft__prof_waits_on, atomic_load(&block_rate) > 0 || atomic_load(&mutex_frac) > 0);
}

static void table_alloc(struct table *t)
{
	struct site *v = calloc(SITES, sizeof(*v));
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
	if (rate_ns > 0)
		table_alloc(&block_tab);
	int64_t old = atomic_exchange(&block_rate, rate_ns > 0 ? rate_ns : 0);
	turn_on_off();
	return old;
}

int weft_prof_set_mutex_fraction(int fraction)
{
	if (fraction > 0)
		table_alloc(&mutex_tab);
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
	for (size_t i = h % SITES, k = 0; k < SITES; i = (i + 1) % SITES, k++) {
		struct site *s = &t->v[i];
		if (s->hash == h && s->depth == depth && !memcmp(s->pcs, pcs, depth * sizeof(*pcs))) {
			s->count += count;
			s->delay_ns += ns;
			goto out;
		}
		if (!s->hash) {
			if (t->n >= SITES * 3 / 4)
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
		t = &mutex_tab;
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
		t = &block_tab;
	}
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
	int n = weft__unwind((uintptr_t)__builtin_return_address(0), fp, fp,
			     (uintptr_t)f->stack.hi - WEFT__STACK_HEADER, pcs, WEFT__PROF_DEPTH);
	record(t, pcs, n, count, ns);
}

static int write_table(struct table *t, void **ret, size_t *ret_len)
{
	static const char *const types[][2] = { { "contentions", "count" }, { "delay", "nanoseconds" } };
	struct weft__pprof *pp = weft__pprof_new(types, 2, "contentions", "count", 1);
	struct site *copy = NULL;
	size_t n = 0;
	int64_t dc, dn;

	if (!pp)
		return -ENOMEM;
	weft__lock_acquire(&t->lock);
	if (t->v && t->n && (copy = malloc(t->n * sizeof(*copy))))
		for (size_t i = 0; i < SITES; i++)
			if (t->v[i].hash)
				copy[n++] = t->v[i];
	dc = t->dropped_count;
	dn = t->dropped_ns;
	bool oom = t->v && t->n && !copy;
	weft__lock_release(&t->lock);
	if (oom) {
		weft__pprof_free(pp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t v[2] = { copy[i].count, copy[i].delay_ns };
		weft__pprof_sample(pp, copy[i].pcs, copy[i].depth, NULL, v, NULL, 0);
	}
	if (dc) {
		int64_t v[2] = { dc, dn };
		weft__pprof_sample(pp, NULL, 0, "(sites dropped)", v, NULL, 0);
	}
	free(copy);
	int r = weft__pprof_finish(pp, ret, ret_len);
	return r < 0 ? r : (int)n;
}

int weft_prof_block(void **ret_data, size_t *ret_len)
{
	if (!ret_data || !ret_len)
		return -EINVAL;
	return write_table(&block_tab, ret_data, ret_len);
}

int weft_prof_mutex(void **ret_data, size_t *ret_len)
{
	if (!ret_data || !ret_len)
		return -EINVAL;
	return write_table(&mutex_tab, ret_data, ret_len);
}

static void table_reset(struct table *t)
{
	weft__lock_acquire(&t->lock);
	if (t->v)
		memset(t->v, 0, SITES * sizeof(*t->v));
	t->n = 0;
	t->dropped_count = t->dropped_ns = 0;
	weft__lock_release(&t->lock);
}

void weft_prof_waits_reset(void)
{
	table_reset(&block_tab);
	table_reset(&mutex_tab);
}
