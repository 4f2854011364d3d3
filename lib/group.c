/* SPDX-License-Identifier: MIT */
/* group.c — error groups (errgroup): members, first error, limit.
 *
 * A weft_wg counts live members; the limit is a weighted semaphore of one
 * unit per member, taken before the spawn and returned when the member
 * ends. The first error wins a CAS on err and cancels the context with it.
 * The owner and each live member hold a reference: freeing a group whose
 * members still run cancels them and leaves the last one to release it.
 */
#include <stdlib.h>

#include "internal.h"

struct weft_group {
	weft_ctx *ctx;                 /* derived from the parent; owned */
	weft_wg wg;                    /* live members */
	weft_sem sem;                  /* the limit, when limited */
	bool limited;
	atomic_int err;                /* first member error, 0 while none */
	atomic_long refs;              /* the owner's, until free, and one per member */
};

struct member {
	weft_group *g;
	weft_group_fn fn;
	void *arg;
};

int weft_group_new(weft_ctx *parent, weft_group **ret)
{
	if (!ret)
		return -EINVAL;
	weft_group *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	int r = weft_ctx_with_cancel(parent, &g->ctx);
	if (r < 0) {
		free(g);
		return r;
	}
	weft_wg_init(&g->wg);
	atomic_init(&g->refs, 1);
	*ret = g;
	return 0;
}

static void group_unref(weft_group *g)
{
	if (atomic_fetch_sub(&g->refs, 1) == 1) {
		weft_ctx_unref(g->ctx);
		free(g);
	}
}

weft_ctx *weft_group_ctx(weft_group *g)
{
	return g ? g->ctx : NULL;
}

int weft_group_set_limit(weft_group *g, long n)
{
	if (!g)
		return -EINVAL;
	/* a live member holds a unit of the current sem: changing it under
	 * the member would corrupt the count */
	weft__lock_acquire((weft__lock *)&g->wg.lock);
	long live = g->wg.count;
	weft__lock_release((weft__lock *)&g->wg.lock);
	if (live)
		return -EBUSY;
	g->limited = n > 0;
	weft_sem_init(&g->sem, n > 0 ? n : 0);
	return 0;
}

static void member_main(void *arg)
{
	struct member m = *(struct member *)arg;
	free(arg);
	weft_group *g = m.g;
	int r = m.fn(g->ctx, m.arg);
	if (r < 0) {
		int exp = 0;
		if (atomic_compare_exchange_strong(&g->err, &exp, r))
			weft_ctx_cancel_err(g->ctx, r);
	}
	if (g->limited)
		weft_sem_release(&g->sem, 1);
	weft_wg_done(&g->wg);
	group_unref(g); /* last touch of g: the owner may have freed it */
}

static int spawn(weft_group *g, weft_group_fn fn, void *arg)
{
	struct member *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	*m = (struct member){ g, fn, arg };
	atomic_fetch_add(&g->refs, 1);
	weft_wg_add(&g->wg, 1);
	int r = weft_go(member_main, m);
	if (r < 0) {
		free(m);
		weft_wg_done(&g->wg);
		atomic_fetch_sub(&g->refs, 1); /* the owner's is still held */
	}
	return r;
}

int weft_group_go(weft_group *g, weft_group_fn fn, void *arg)
{
	if (!g || !fn)
		return -EINVAL;
	if (g->limited) {
		int r = weft_sem_acquire(NULL, &g->sem, 1);
		if (r < 0)
			return r;
	}
	int r = spawn(g, fn, arg);
	if (r < 0 && g->limited)
		weft_sem_release(&g->sem, 1);
	return r;
}

int weft_group_try_go(weft_group *g, weft_group_fn fn, void *arg)
{
	if (!g || !fn)
		return -EINVAL;
	if (g->limited && weft_sem_try_acquire(&g->sem, 1) < 0)
		return -EAGAIN;
	int r = spawn(g, fn, arg);
	if (r < 0 && g->limited)
		weft_sem_release(&g->sem, 1);
	return r;
}

int weft_group_wait(weft_group *g)
{
	if (!g)
		return -EINVAL;
	int r = weft_wg_wait(NULL, &g->wg);
	if (r < 0)
		return r;
	int err = atomic_load(&g->err);
	weft_ctx_cancel_err(g->ctx, err ? err : -ECANCELED);
	return err;
}

weft_group *weft_group_free(weft_group *g)
{
	if (!g)
		return NULL;
	weft_ctx_cancel(g->ctx); /* members still running: end them (after wait: done already) */
	group_unref(g);
	return NULL;
}
