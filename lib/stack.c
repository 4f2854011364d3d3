/* SPDX-License-Identifier: MIT */
/* stack.c — pooled fiber stacks (see stack.h).
 *
 * Slot layout, low to high: [page: guard (PROT_NONE) or slack] [canary 32 B]
 * [usable ...] [header 512 B] = slot_size, page-aligned. Slots are carved in
 * order from arenas of a size class; an arena is one mapping until guard
 * pages split it. Free stacks live in vectors (never in linked lists through
 * the stacks themselves: that would commit a page of every free stack).
 */
#include "stack.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CANARY_BYTES 32
#define CACHE_MAX 64     /* stacks per proc cache */
#define BATCH 32         /* stacks moved between a cache and the pool at once */
#define HIWAT 256        /* free stacks per class kept committed in the pool */
#define MAP_RESERVE 4096 /* memory maps left to the rest of the process */
#define NCLASSES 40
#define DEFAULT_SIZE (64 * 1024)
#define DEFAULT_ARENA_SLOTS 1024
#define BIG_ARENA_SLOTS 16
#define NZONES 8192      /* arenas the SIGSEGV reporter knows about */
#define PREFAULT_FREE 16384 /* free-vector entries touched ahead (arena_new) */

struct size_class;

struct weft__arena {
	struct weft__arena *next;
	struct size_class *cls;
	char *base;              /* slot 0 */
	size_t slot_size;
	uint32_t nslots, ncarved;
	long nguarded;
	int zone;                /* index in zones[], or -1 */
	_Atomic uint8_t inuse[]; /* per slot: handed out (for foreach only) */
};

struct size_class {
	size_t slot_size;            /* 0: class unused */
	uint32_t arena_slots;
	struct weft__arena *arenas;  /* newest first: slots are carved from the head */
	struct weft__stack *free;    /* LIFO, so recently used (warm) stacks go out first */
	size_t nfree, cap;
	struct weft__stack *clean;   /* free stacks whose pages went back to the kernel */
	size_t nclean, clean_cap;
};

struct weft__stack_pool {
	pthread_mutex_t lock;
	enum weft_stack_mode mode;
	size_t page;
	long guard_limit, guards;    /* per-pool cap and count of guard pages */
	struct size_class cls[NCLASSES]; /* cls[0]: the default size */
};

struct weft__stack_cache {
	struct weft__stack_pool *pool;
	unsigned n;
	struct weft__stack s[CACHE_MAX];
};

/* ---- process-wide state -------------------------------------------------
 * Memory maps and signal handlers belong to the process, not to a pool:
 * the guard budget and the fault-address registry are global on purpose. */

static atomic_long guard_budget;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void guard_budget_init(void)
{
	long max = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 65530;
		fclose(f);
	}
	long b = (max - MAP_RESERVE) / 2;
	/* libweft's one environment variable (documented in weft/sched.h) */
	const char *env = getenv("WEFT_STACK_GUARD_BUDGET");
	if (env && *env && atol(env) >= 0 && atol(env) < b)
		b = atol(env);
	atomic_store(&guard_budget, b > 0 ? b : 0);
}

static bool guard_take(struct weft__stack_pool *pool)
{
	if (pool->guards >= pool->guard_limit)
		return false;
	if (atomic_fetch_sub(&guard_budget, 1) <= 0) {
		atomic_fetch_add(&guard_budget, 1);
		return false;
	}
	pool->guards++;
	return true;
}

static void guard_give(struct weft__stack_pool *pool, long n)
{
	pool->guards -= n;
	atomic_fetch_add(&guard_budget, n);
}

/* Arenas the SIGSEGV reporter may look at: base == 0 free, 1 being filled. */
struct zone {
	_Atomic uintptr_t base;
	uintptr_t end;
	size_t slot_size, page;
};
static struct zone zones[NZONES];
static const char *(*_Atomic overflow_name_of)(const void *header);

static int zone_add(const struct weft__arena *a, size_t page)
{
	for (int i = 0; i < NZONES; i++) {
		uintptr_t zero = 0;
		if (!atomic_compare_exchange_strong(&zones[i].base, &zero, 1))
			continue;
		zones[i].end = (uintptr_t)a->base + a->nslots * a->slot_size;
		zones[i].slot_size = a->slot_size;
		zones[i].page = page;
		atomic_store_explicit(&zones[i].base, (uintptr_t)a->base, memory_order_release);
		return i;
	}
	return -1; /* still usable, only its overflows are reported as plain SIGSEGV */
}

/* ---- arenas and classes -------------------------------------------------- */

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static size_t slot_size_for(const struct weft__stack_pool *pool, size_t usable)
{
	return round_up(usable + WEFT__STACK_HEADER + CANARY_BYTES, pool->page) + pool->page;
}

static struct weft__arena *arena_new(struct weft__stack_pool *pool, struct size_class *c)
{
	size_t len = (size_t)c->arena_slots * c->slot_size;
	struct weft__arena *a = calloc(1, sizeof(*a) + c->arena_slots);
	if (!a)
		return NULL;
	/* NORESERVE: a million 64 KiB stacks reserve 72 GiB they never use. */
	a->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a->base == MAP_FAILED) {
		free(a);
		return NULL;
	}
	/* A huge page would commit 2 MiB for a fiber touching 4 KiB. */
	madvise(a->base, len, MADV_NOHUGEPAGE);
	/* Room in the free vector for every stack of the class, its first
	 * PREFAULT_FREE entries touched now: grown by the first exits instead,
	 * it page-faults there, under the pool lock (80 faults when 10,000
	 * fibers end at once, each dear in a VM, the other procs waiting for
	 * the lock meanwhile). Not beyond: a million parked fibers would pay
	 * 32 bytes each for a vector that fills only if they all end. */
	size_t slots = c->arena_slots;
	for (struct weft__arena *x = c->arenas; x; x = x->next)
		slots += x->nslots;
	if (slots > c->cap) {
		struct weft__stack *v = realloc(c->free, slots * sizeof(*v));
		if (v) {
			size_t touch = slots < PREFAULT_FREE ? slots : PREFAULT_FREE;
			if (touch > c->cap)
				memset(v + c->cap, 0, (touch - c->cap) * sizeof(*v));
			c->free = v;
			c->cap = slots;
		} /* else pool_give grows it, or keeps stacks carved */
	}
	a->cls = c;
	a->slot_size = c->slot_size;
	a->nslots = c->arena_slots;
	a->zone = zone_add(a, pool->page);
	a->next = c->arenas;
	c->arenas = a;
	return a;
}

static void arena_free(struct weft__stack_pool *pool, struct weft__arena *a)
{
	if (a->zone >= 0)
		atomic_store(&zones[a->zone].base, 0);
	guard_give(pool, a->nguarded);
	munmap(a->base, (size_t)a->nslots * a->slot_size);
	free(a);
}

/* Carve the next slot of class c (pool locked). */
static int carve(struct weft__stack_pool *pool, struct size_class *c, struct weft__stack *ret)
{
	struct weft__arena *a = c->arenas;
	if ((!a || a->ncarved == a->nslots) && !(a = arena_new(pool, c)))
		return -ENOMEM;
	bool guard = pool->mode != WEFT_STACK_CANARY && guard_take(pool);
	if (!guard && pool->mode == WEFT_STACK_GUARD)
		return -ENOMEM;
	char *slot = a->base + (size_t)a->ncarved * a->slot_size;
	if (guard && mprotect(slot, pool->page, PROT_NONE) != 0) {
		guard_give(pool, 1);
		if (pool->mode == WEFT_STACK_GUARD)
			return -ENOMEM;
		guard = false;
	}
	a->nguarded += guard;
	*ret = (struct weft__stack){
		.lo = slot + pool->page + CANARY_BYTES,
		.hi = slot + a->slot_size,
		.guarded = guard,
		.slot = a->ncarved++,
		.arena = a,
	};
	return 0;
}

/* Take one stack of class c: a free one, else a new slot (pool locked). */
static int class_take(struct weft__stack_pool *pool, struct size_class *c, struct weft__stack *ret)
{
	if (c->nfree) {
		*ret = c->free[--c->nfree];
		return 0;
	}
	if (c->nclean) {
		*ret = c->clean[--c->nclean];
		return 0;
	}
	return carve(pool, c, ret);
}

/* The class for a request above the default: usable size rounded up to a
 * power of two, so that few classes exist (pool locked). */
static struct size_class *big_class(struct weft__stack_pool *pool, size_t size)
{
	size_t usable = DEFAULT_SIZE;
	while (usable < size)
		usable *= 2;
	size_t ss = slot_size_for(pool, usable);
	for (int i = 1; i < NCLASSES; i++) {
		struct size_class *c = &pool->cls[i];
		if (c->slot_size == ss)
			return c;
		if (!c->slot_size) {
			c->slot_size = ss;
			c->arena_slots = BIG_ARENA_SLOTS;
			return c;
		}
	}
	return NULL;
}

/* Return stacks to their class. Their pages stay committed: returning
 * them to the kernel is a syscall with a TLB shootdown per call, so it is
 * left to weft__stack_pool_trim, which procs call when they go idle. */
static void pool_give(struct weft__stack_pool *pool, struct weft__stack *st, size_t n)
{
	struct size_class *c = st[0].arena->cls;
	pthread_mutex_lock(&pool->lock);
	if (c->nfree + n > c->cap) {
		size_t cap = (c->nfree + n) * 2;
		struct weft__stack *v = realloc(c->free, cap * sizeof(*v));
		if (v) {
			c->free = v;
			c->cap = cap;
		} else {
			n = c->cap - c->nfree; /* out of memory: the rest stay carved, unused */
		}
	}
	memcpy(c->free + c->nfree, st, n * sizeof(*st));
	c->nfree += n;
	pthread_mutex_unlock(&pool->lock);
}

#define TRIM_BATCH 256             /* stacks released per trim call */

static int stack_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct weft__stack *)a)->hi;
	uintptr_t y = (uintptr_t)((const struct weft__stack *)b)->hi;
	return x < y ? -1 : x > y;
}

/* One madvise per run of adjacent slots, not per stack: each call costs a
 * TLB shootdown on every CPU of the process. Whole slots, guard pages
 * included (zapping PROT_NONE memory is a no-op). */
static void release_runs(struct weft__stack_pool *pool, struct weft__stack *st, size_t n)
{
	(void)pool;
	qsort(st, n, sizeof(*st), stack_cmp);
	char *lo = NULL, *hi = NULL;
	for (size_t i = 0; i <= n; i++) {
		char *slot = i < n ? (char *)st[i].hi - st[i].arena->slot_size : NULL;
		if (i < n && slot == hi) {
			hi = st[i].hi;
			continue;
		}
		if (lo)
			madvise(lo, (size_t)(hi - lo), MADV_DONTNEED);
		if (i < n) {
			lo = slot;
			hi = st[i].hi;
		}
	}
}

/* Move up to max dirty stacks beyond the high-water mark out of c (locked). */
static size_t take_dirty(struct size_class *c, struct weft__stack *out, size_t max)
{
	size_t n = c->nfree > HIWAT ? c->nfree - HIWAT : 0;
	if (n > max)
		n = max;
	c->nfree -= n;
	if (n) /* c->free may still be NULL, and memcpy's arguments must not be */
		memcpy(out, c->free + c->nfree, n * sizeof(*out));
	return n;
}

size_t weft__stack_pool_trim(struct weft__stack_pool *pool)
{
	struct weft__stack batch[TRIM_BATCH];
	size_t total = 0;
	for (int i = 0; i < NCLASSES && total < TRIM_BATCH; i++) {
		struct size_class *c = &pool->cls[i];
		pthread_mutex_lock(&pool->lock);
		size_t n = take_dirty(c, batch, TRIM_BATCH - total);
		pthread_mutex_unlock(&pool->lock);
		if (!n) /* nothing to trim; the lists may still be NULL (memcpy) */
			continue;
		/* the syscalls run without the lock: other procs keep allocating */
		release_runs(pool, batch, n);
		pthread_mutex_lock(&pool->lock);
		if (c->nclean + n > c->clean_cap) {
			size_t cap = (c->nclean + n) * 2;
			struct weft__stack *v = realloc(c->clean, cap * sizeof(*v));
			if (!v) { /* keep them as dirty free stacks rather than lose them */
				memcpy(c->free + c->nfree, batch, n * sizeof(*batch));
				c->nfree += n;
				pthread_mutex_unlock(&pool->lock);
				break;
			}
			c->clean = v;
			c->clean_cap = cap;
		}
		memcpy(c->clean + c->nclean, batch, n * sizeof(*batch));
		c->nclean += n;
		pthread_mutex_unlock(&pool->lock);
		total += n;
	}
	return total;
}

/* ---- pool and caches ----------------------------------------------------- */

int weft__stack_pool_new(struct weft__stack_pool **ret, size_t default_size, enum weft_stack_mode mode)
{
	if (!ret || mode > WEFT_STACK_CANARY)
		return -EINVAL;
	pthread_once(&guard_once, guard_budget_init);
	struct weft__stack_pool *pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pthread_mutex_init(&pool->lock, NULL);
	pool->mode = mode;
	pool->page = (size_t)sysconf(_SC_PAGESIZE);
	pool->guard_limit = LONG_MAX;
	pool->cls[0].slot_size = slot_size_for(pool, default_size ? default_size : DEFAULT_SIZE);
	pool->cls[0].arena_slots = DEFAULT_ARENA_SLOTS;
	*ret = pool;
	return 0;
}

void weft__stack_pool_free(struct weft__stack_pool *pool)
{
	if (!pool)
		return;
	for (int i = 0; i < NCLASSES; i++) {
		struct size_class *c = &pool->cls[i];
		while (c->arenas) {
			struct weft__arena *a = c->arenas;
			c->arenas = a->next;
			arena_free(pool, a);
		}
		free(c->free);
		free(c->clean);
	}
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

void weft__stack_pool_set_guard_limit(struct weft__stack_pool *pool, long max_guards)
{
	pool->guard_limit = max_guards < 0 ? 0 : max_guards;
}

int weft__stack_cache_new(struct weft__stack_pool *pool, struct weft__stack_cache **ret)
{
	if (!pool || !ret)
		return -EINVAL;
	struct weft__stack_cache *cache = calloc(1, sizeof(*cache));
	if (!cache)
		return -ENOMEM;
	cache->pool = pool;
	*ret = cache;
	return 0;
}

void weft__stack_cache_free(struct weft__stack_cache *cache)
{
	if (!cache)
		return;
	if (cache->n)
		pool_give(cache->pool, cache->s, cache->n);
	free(cache);
}

/* Fill an empty cache with up to BATCH default stacks. */
static int cache_refill(struct weft__stack_cache *cache)
{
	struct weft__stack_pool *pool = cache->pool;
	int r = 0;
	pthread_mutex_lock(&pool->lock);
	while (cache->n < BATCH && (r = class_take(pool, &pool->cls[0], &cache->s[cache->n])) == 0)
		cache->n++;
	pthread_mutex_unlock(&pool->lock);
	return cache->n ? 0 : r;
}

static void mark(const struct weft__stack *st, uint8_t inuse)
{
	atomic_store_explicit(&st->arena->inuse[st->slot], inuse, memory_order_relaxed);
}

int weft__stack_get(struct weft__stack_cache *cache, size_t size, struct weft__stack *ret)
{
	struct weft__stack_pool *pool = cache->pool;
	if (slot_size_for(pool, size) <= pool->cls[0].slot_size) {
		if (!cache->n) {
			int r = cache_refill(cache);
			if (r < 0)
				return r;
		}
		*ret = cache->s[--cache->n];
	} else {
		pthread_mutex_lock(&pool->lock);
		struct size_class *c = big_class(pool, size);
		int r = c ? class_take(pool, c, ret) : -ENOMEM;
		pthread_mutex_unlock(&pool->lock);
		if (r < 0)
			return r;
	}
	mark(ret, 1);
	return 0;
}

void weft__stack_put(struct weft__stack_cache *cache, const struct weft__stack *st)
{
	struct weft__stack_pool *pool = cache->pool;
	struct weft__stack copy = *st;
	mark(st, 0);
	if (st->arena->cls != &pool->cls[0]) {
		pool_give(pool, &copy, 1);
		return;
	}
	if (cache->n == CACHE_MAX) {
		/* The oldest (coldest) half goes to the pool; the warm top stays. */
		pool_give(pool, cache->s, BATCH);
		memmove(cache->s, cache->s + BATCH, (CACHE_MAX - BATCH) * sizeof(*st));
		cache->n -= BATCH;
	}
	cache->s[cache->n++] = copy;
}

void weft__stack_pool_foreach(struct weft__stack_pool *pool, void (*fn)(void *header, void *arg), void *arg)
{
	pthread_mutex_lock(&pool->lock);
	for (int i = 0; i < NCLASSES; i++) {
		for (struct weft__arena *a = pool->cls[i].arenas; a; a = a->next) {
			for (uint32_t s = 0; s < a->ncarved; s++)
				if (atomic_load_explicit(&a->inuse[s], memory_order_relaxed))
					fn(a->base + (size_t)(s + 1) * a->slot_size - WEFT__STACK_HEADER, arg);
		}
	}
	pthread_mutex_unlock(&pool->lock);
}

/* ---- overflow detection -------------------------------------------------- */

/* Async-signal-safe: write(2) only. */
static void report_overflow(const char *name)
{
	static const char a[] = "weft: stack overflow in fiber '", b[] = "'\n";
	char buf[256];
	size_t n = 0, len = name ? strnlen(name, 200) : 0;
	memcpy(buf, a, sizeof(a) - 1);
	n += sizeof(a) - 1;
	memcpy(buf + n, name, len);
	n += len;
	memcpy(buf + n, b, sizeof(b) - 1);
	n += sizeof(b) - 1;
	ssize_t w = write(STDERR_FILENO, buf, n);
	(void)w;
}

void weft__stack_overflow(const char *fiber_name)
{
	report_overflow(fiber_name);
	abort();
}

void weft__stack_check(const struct weft__stack *st, const char *fiber_name)
{
	if (st->guarded)
		return;
	const volatile uint64_t *c = (const volatile uint64_t *)((char *)st->lo - CANARY_BYTES);
	if ((c[0] | c[1] | c[2] | c[3]) == 0)
		return;
	report_overflow(fiber_name);
	abort();
}

static struct sigaction old_segv;

/* The header of the slot whose guard page holds addr, or NULL. */
static void *guard_header(uintptr_t addr)
{
	for (int i = 0; i < NZONES; i++) {
		uintptr_t base = atomic_load_explicit(&zones[i].base, memory_order_acquire);
		if (base <= 1 || addr < base || addr >= zones[i].end)
			continue;
		uintptr_t off = (addr - base) % zones[i].slot_size;
		if (off >= zones[i].page)
			return NULL;
		return (void *)(addr - off + zones[i].slot_size - WEFT__STACK_HEADER);
	}
	return NULL;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	void *header = guard_header((uintptr_t)si->si_addr);
	if (header) {
		const char *(*name_of)(const void *) = atomic_load(&overflow_name_of);
		report_overflow(name_of ? name_of(header) : "?");
	} else if (old_segv.sa_flags & SA_SIGINFO) {
		old_segv.sa_sigaction(sig, si, uc);
		return;
	} else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
		return;
	}
	/* Die by SIGSEGV: the faulting access repeats with the default action. */
	signal(SIGSEGV, SIG_DFL);
}

void weft__stack_overflow_handler_install(const char *(*name_of)(const void *header))
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	atomic_store(&overflow_name_of, name_of);
	/* Checked every time, not once: someone (a test harness, say) may have
	 * put its own handler in since; ours chains to it. */
	pthread_mutex_lock(&lock);
	struct sigaction cur;
	if (sigaction(SIGSEGV, NULL, &cur) == 0 &&
	    !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_segv)) {
		struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGSEGV, &sa, &old_segv);
	}
	pthread_mutex_unlock(&lock);
}

static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;

static void altstack_release(void *mem)
{
	stack_t ss = { .ss_flags = SS_DISABLE };
	sigaltstack(&ss, NULL);
	munmap(mem, (size_t)sysconf(_SC_SIGSTKSZ) < 65536 ? 65536 : (size_t)sysconf(_SC_SIGSTKSZ));
}

static void altstack_key_init(void)
{
	pthread_key_create(&altstack_key, altstack_release);
}

int weft__stack_sigaltstack_setup(void)
{
	stack_t old;
	if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
		return 0; /* the thread has one already (e.g. the sanitizer's) */
	long min = sysconf(_SC_SIGSTKSZ);
	size_t size = min < 65536 ? 65536 : (size_t)min;
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	stack_t ss = { .ss_sp = mem, .ss_size = size };
	if (sigaltstack(&ss, NULL) != 0) {
		int e = errno;
		munmap(mem, size);
		return -e;
	}
	pthread_once(&altstack_once, altstack_key_init);
	pthread_setspecific(altstack_key, mem); /* unmapped when the thread exits */
	return 0;
}
