/* SPDX-License-Identifier: MIT */
/* pool.c — object pool with per-proc caches (Go's sync.Pool).
 *
 * Each proc owns a small array cache touched only by the fiber running on
 * that proc. get and put never park, and a fiber changes proc only when it
 * parks, so between reading weft_proc_id() and the end of the operation no
 * other fiber can touch that cache: no lock, no atomic. A full cache moves
 * half of its objects to the shared list (one spinlock, one splice), an
 * empty one takes a batch back; plain threads use the shared list directly.
 *
 * Objects carry a hidden 16-byte header (the shared list's link), so their
 * contents survive a trip through the pool and ctor runs once per object.
 */
#include <stdlib.h>

#include "internal.h"

#define CACHE 32             /* objects per proc cache */
#define BATCH (CACHE / 2)    /* moved to/from the shared list at once */
#define HDR 16               /* keeps the object 16-byte aligned */

struct obj { struct obj *next; };

struct cache {
	unsigned n;
	void *slot[CACHE];
} __attribute__((aligned(64))); /* no false sharing between procs */

struct weft_pool {
	struct weft_pool_opts o;
	weft__lock lock;             /* guards the shared list */
	struct obj *shared;
	size_t nshared;
	unsigned ncaches;
	struct cache caches[];
};

#define OBJ(h) ((void *)((char *)(h) + HDR))
#define HDR_OF(p) ((struct obj *)((char *)(p) - HDR))

int weft_pool_new(const struct weft_pool_opts *opts, weft_pool **ret)
{
	if (!opts || !ret || opts->size == 0 || opts->size > SIZE_MAX / 2)
		return -EINVAL;
	int np = weft_nprocs();
	unsigned n = np > 0 ? (unsigned)np : 64;
	weft_pool *p;
	if (posix_memalign((void **)&p, 64, sizeof(*p) + n * sizeof(struct cache)))
		return -ENOMEM;
	*p = (weft_pool){ .o = *opts, .ncaches = n };
	if (!p->o.max_idle)
		p->o.max_idle = 1024;
	for (unsigned i = 0; i < n; i++)
		p->caches[i].n = 0;
	*ret = p;
	return 0;
}

static void destroy(weft_pool *p, void *obj)
{
	if (p->o.dtor)
		p->o.dtor(obj, p->o.ud);
	free(HDR_OF(obj));
}

static void *create(weft_pool *p)
{
	struct obj *h;
	if (posix_memalign((void **)&h, HDR, HDR + p->o.size))
		return NULL;
	if (p->o.ctor && p->o.ctor(OBJ(h), p->o.ud) < 0) {
		free(h);
		return NULL;
	}
	return OBJ(h);
}

static struct cache *my_cache(weft_pool *p)
{
	struct weft_proc *pr = weft__proc();
	if (!pr || pr->id >= p->ncaches)
		return NULL;
	return &p->caches[pr->id];
}

/* Shared list: take up to max objects into out[], return how many. */
static unsigned shared_take(weft_pool *p, void **out, unsigned max)
{
	unsigned n = 0;
	weft__lock_acquire(&p->lock);
	while (n < max && p->shared) {
		struct obj *h = p->shared;
		p->shared = h->next;
		p->nshared--;
		out[n++] = OBJ(h);
	}
	weft__lock_release(&p->lock);
	return n;
}

/* Shared list: add objs; returns how many did not fit (left at the front of objs). */
static unsigned shared_give(weft_pool *p, void **objs, unsigned n)
{
	weft__lock_acquire(&p->lock);
	while (n && p->nshared < p->o.max_idle) {
		struct obj *h = HDR_OF(objs[--n]);
		h->next = p->shared;
		p->shared = h;
		p->nshared++;
	}
	weft__lock_release(&p->lock);
	return n;
}

void *weft_pool_get(weft_pool *p)
{
	if (!p)
		return NULL;
	struct cache *c = my_cache(p);
	if (!c) {
		void *obj;
		return shared_take(p, &obj, 1) ? obj : create(p);
	}
	if (WEFT__LIKELY(c->n))
		return c->slot[--c->n];
	c->n = shared_take(p, c->slot, BATCH);
	return c->n ? c->slot[--c->n] : create(p);
}

void weft_pool_put(weft_pool *p, void *obj)
{
	if (!p || !obj)
		return;
	struct cache *c = my_cache(p);
	if (!c) {
		if (shared_give(p, &obj, 1))
			destroy(p, obj);
		return;
	}
	if (WEFT__UNLIKELY(c->n == CACHE)) {
		unsigned left = shared_give(p, c->slot + CACHE - BATCH, BATCH);
		while (left)
			destroy(p, c->slot[CACHE - BATCH + --left]);
		c->n = CACHE - BATCH;
	}
	c->slot[c->n++] = obj;
}

weft_pool *weft_pool_free(weft_pool *p)
{
	if (!p)
		return NULL;
	for (unsigned i = 0; i < p->ncaches; i++)
		while (p->caches[i].n)
			destroy(p, p->caches[i].slot[--p->caches[i].n]);
	while (p->shared) {
		struct obj *h = p->shared;
		p->shared = h->next;
		destroy(p, OBJ(h));
	}
	free(p);
	return NULL;
}
