/* SPDX-License-Identifier: MIT */
/* ctx.c — cancellation trees with deadlines and values (Go's context).
 *
 * Each cancellable context has a lock guarding its error, its children and
 * its watchers (waiters of fibers blocked under it). Cancelling fires every
 * watcher while holding the lock, so a fiber that unhooks its watcher after
 * waking never races with the canceller; children are then cancelled one by
 * one, top-down, each under its own lock.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A watch as its context holds it: what a cancel needs, here rather than
 * read from the watch (on its fiber's stack), so the cancel touches two
 * lines of each waiting fiber (its waiter's and its state's), not three,
 * and none of them only to find the others. */
struct watch_slot {
	struct weft__ctx_watch *cw;
	struct weft__waiter *w;
	struct weft_fiber *fiber;
};

struct weft_ctx {
	atomic_int refs;
	weft__lock lock;
	atomic_int err;                /* 0 while live */
	bool cancellable;              /* false for value contexts */
	bool in_parent;                /* linked in parent's children (guarded by parent lock) */
	bool has_timer;
	int64_t deadline;              /* effective deadline, INT64_MAX for none */
	struct weft_ctx *parent;       /* holds a reference */
	const weft_ctx_key *key;       /* value contexts */
	void *value;
	struct weft_ctx *child_head;   /* live cancellable children */
	struct weft_ctx *sib_next, *sib_prev;
	/* the watches hung on it, in an array rather than a list: a cancel
	 * with thousands of them reads ahead, each being on a cold stack */
	struct watch_slot *watch;
	unsigned nwatch, watch_cap;
	struct watch_slot watch_inline[2]; /* the usual few: no allocation */
	struct weft__timer timer;
};

#define PREFETCH_AHEAD 8

/* The nearest ancestor-or-self that can be done, or NULL (background). */
static weft_ctx *cancellable_of(const weft_ctx *c)
{
	while (c && !c->cancellable)
		c = c->parent;
	return (weft_ctx *)c;
}

static void unlink_child(weft_ctx *parent, weft_ctx *c)
{
	if (c->sib_prev)
		c->sib_prev->sib_next = c->sib_next;
	else
		parent->child_head = c->sib_next;
	if (c->sib_next)
		c->sib_next->sib_prev = c->sib_prev;
	c->sib_next = c->sib_prev = NULL;
	c->in_parent = false;
}

static void detach_from_parent(weft_ctx *c)
{
	weft_ctx *cp = cancellable_of(c->parent);
	if (!cp)
		return;
	weft__lock_acquire(&cp->lock);
	if (c->in_parent)
		unlink_child(cp, c);
	weft__lock_release(&cp->lock);
}

/* from_timer: called by c's own deadline timer, which must not delete itself */
static void cancel(weft_ctx *c, int err, bool from_timer)
{
	weft__lock_acquire(&c->lock);
	int exp = 0;
	if (!atomic_compare_exchange_strong(&c->err, &exp, err)) {
		weft__lock_release(&c->lock);
		return;
	}
	/* Win every waiter here, and queue the fibers in batches (one push and
	 * one wake-up per idle proc for each): readied one at a time, they
	 * would cost a wake-up each. A woken fiber's unwatch sees its watch
	 * unhooked and does not wait for this lock, so the first batches run
	 * on the other procs while we collect the rest. */
	struct weft__wake_batch wake = { 0 };
	int holds = 0;
	struct watch_slot *v = c->watch;
	unsigned n = c->nwatch;
	/* The claim says the cancel won, and whether it keeps the watch's
	 * reference on c, to drop with the others in one go (our caller holds
	 * one meanwhile); not from the timer, where nobody does: the woken
	 * fiber's unwatch reads it and has nothing else to do. A waiter another
	 * source won is not touched after the failed claim: its fiber's
	 * unwatch sees c done under the lock held here, so it finds no slot
	 * to take out, and its watch (on its stack) is never written here. */
	int claim = from_timer ? WEFT__CLAIM_CTX_KEEP : WEFT__CLAIM_CTX;
	for (unsigned i = 0; i < n; i++) {
		/* each waiter and fiber is on its own cold stack: bring in those
		 * a few ahead (their addresses are here, read in a row) */
		if (i + PREFETCH_AHEAD < n) {
			__builtin_prefetch(v[i + PREFETCH_AHEAD].w, 1);
			__builtin_prefetch(&v[i + PREFETCH_AHEAD].fiber->pstate, 1);
		}
		struct weft__waiter *w = v[i].w;
		int unclaimed = 0;
		if (!atomic_compare_exchange_strong_explicit(&w->claimed, &unclaimed, claim, memory_order_acq_rel,
							     memory_order_acquire))
			continue;
		w->result = err;
		holds += !from_timer;
		struct weft_fiber *f = v[i].fiber;
		if (weft__ready_claim(f))
			weft__batch_add(&wake, f);
	}
	/* done for good: no watch hangs on it again */
	c->nwatch = c->watch_cap = 0;
	c->watch = NULL;
	if (v != c->watch_inline)
		free(v);
	/* take the children with a reference each, so they outlive this loop;
	 * not one whose last reference is gone: its unref waits for this lock
	 * to unlink it and frees it next (a reference taken here would come
	 * back from 0 and the cancel below would run on freed memory) */
	weft_ctx *kids = NULL, *next;
	for (weft_ctx *k = c->child_head; k; k = next) {
		int r = atomic_load_explicit(&k->refs, memory_order_relaxed);
		next = k->sib_next;
		while (r > 0 && !atomic_compare_exchange_weak(&k->refs, &r, r + 1))
			;
		k->in_parent = false;
		k->sib_prev = NULL;
		k->sib_next = r > 0 ? kids : NULL;
		if (r > 0)
			kids = k;
	}
	c->child_head = NULL;
	weft__lock_release(&c->lock);
	weft__batch_flush(&wake);
	while (kids) {
		weft_ctx *k = kids;
		kids = k->sib_next;
		k->sib_next = k->sib_prev = NULL;
		cancel(k, err, false);
		weft_ctx_unref(k);
	}
	if (c->has_timer && !from_timer)
		weft__timer_del(&c->timer);
	detach_from_parent(c);
	if (holds) /* the woken fibers' references, not one atomic each on a shared line */
		atomic_fetch_sub_explicit(&c->refs, holds, memory_order_acq_rel);
}

static void deadline_fire(struct weft__timer *t)
{
	cancel(t->arg, -ETIMEDOUT, true);
}

static int derive(weft_ctx *parent, bool cancellable, weft_ctx **ret)
{
	if (!ret)
		return -EINVAL;
	weft_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	atomic_init(&c->refs, 1);
	c->cancellable = cancellable;
	c->deadline = parent ? parent->deadline : INT64_MAX;
	c->parent = weft_ctx_ref(parent);
	c->timer.index = -1;
	c->watch = c->watch_inline;
	c->watch_cap = 2;
	weft_ctx *cp = cancellable_of(parent);
	if (cancellable && cp) {
		weft__lock_acquire(&cp->lock);
		int err = atomic_load(&cp->err);
		if (err) {
			atomic_store(&c->err, err); /* born done */
		} else {
			c->sib_next = cp->child_head;
			if (cp->child_head)
				cp->child_head->sib_prev = c;
			cp->child_head = c;
			c->in_parent = true;
		}
		weft__lock_release(&cp->lock);
	}
	*ret = c;
	return 0;
}

int weft_ctx_with_cancel(weft_ctx *parent, weft_ctx **ret)
{
	return derive(parent, true, ret);
}

int weft_ctx_with_deadline(weft_ctx *parent, int64_t deadline_ns, weft_ctx **ret)
{
	weft_ctx *c;
	int r = derive(parent, true, &c);
	if (r < 0)
		return r;
	if (deadline_ns < c->deadline && !atomic_load(&c->err)) {
		c->deadline = deadline_ns;
		if (deadline_ns <= weft__now()) {
			cancel(c, -ETIMEDOUT, false);
		} else {
			r = weft__timer_add(&c->timer, deadline_ns, deadline_fire, c);
			if (r < 0) {
				weft_ctx_unref(c);
				return r;
			}
			c->has_timer = true;
		}
	}
	*ret = c;
	return 0;
}

int weft_ctx_with_timeout(weft_ctx *parent, int64_t timeout_ns, weft_ctx **ret)
{
	return weft_ctx_with_deadline(parent, weft__now() + timeout_ns, ret);
}

int weft_ctx_with_value(weft_ctx *parent, const weft_ctx_key *key, void *value, weft_ctx **ret)
{
	if (!key)
		return -EINVAL;
	int r = derive(parent, false, ret);
	if (r == 0) {
		(*ret)->key = key;
		(*ret)->value = value;
	}
	return r;
}

void *weft_ctx_value(const weft_ctx *ctx, const weft_ctx_key *key)
{
	for (; ctx; ctx = ctx->parent)
		if (ctx->key == key && key)
			return ctx->value;
	return NULL;
}

void weft_ctx_cancel_err(weft_ctx *ctx, int err)
{
	if (ctx && ctx->cancellable) {
		/* a woken waiter may drop the last outside reference while cancel
		 * still unlinks ctx from its parent: hold one of our own */
		weft_ctx_ref(ctx);
		cancel(ctx, err < 0 ? err : -ECANCELED, false);
		weft_ctx_unref(ctx);
	}
}

void weft_ctx_cancel(weft_ctx *ctx)
{
	weft_ctx_cancel_err(ctx, -ECANCELED);
}

int weft_ctx_err(const weft_ctx *ctx)
{
	/* a value context is done when its nearest cancellable ancestor is */
	const weft_ctx *c = cancellable_of(ctx);
	return c ? atomic_load_explicit(&c->err, memory_order_acquire) : 0;
}

int64_t weft_ctx_deadline(const weft_ctx *ctx)
{
	return ctx ? ctx->deadline : INT64_MAX;
}

weft_ctx *weft_ctx_ref(weft_ctx *ctx)
{
	if (ctx)
		atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
	return ctx;
}

weft_ctx *weft_ctx_unref(weft_ctx *ctx)
{
	if (!ctx)
		return NULL;
	int left = atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) - 1;
	if (left > 0)
		return NULL;
	if (ctx->cancellable) {
		if (ctx->has_timer)
			weft__timer_del(&ctx->timer);
		struct weft_proc *p = weft__proc();
		if (WEFT__UNLIKELY(p && p->sched->test.ctx_unref_last))
			p->sched->test.ctx_unref_last(ctx, p->sched->test.ctx_unref_arg);
		detach_from_parent(ctx);
	}
	weft_ctx_unref(ctx->parent);
	if (ctx->watch != ctx->watch_inline)
		free(ctx->watch);
	free(ctx);
	return NULL;
}

int weft__ctx_watch(weft_ctx *ctx, struct weft__ctx_watch *cw, struct weft__waiter *w)
{
	weft_ctx *c = cancellable_of(ctx);
	cw->w = w;
	cw->ctx = NULL;
	cw->hold = NULL;
	if (!c)
		return 0;
	cw->hold = weft_ctx_ref(c); /* the ctx outlives the wait even if its owner drops it */
	weft__lock_acquire(&c->lock);
	int err = atomic_load(&c->err);
	if (!err && c->nwatch == c->watch_cap) {
		unsigned cap = c->watch_cap * 2;
		struct watch_slot *v = malloc(cap * sizeof(*v));
		if (v) {
			memcpy(v, c->watch, c->nwatch * sizeof(*v));
			if (c->watch != c->watch_inline)
				free(c->watch);
			c->watch = v;
			c->watch_cap = cap;
		} else {
			err = -ENOMEM;
		}
	}
	if (!err) {
		cw->ctx = c;
		cw->idx = c->nwatch;
		c->watch[c->nwatch++] = (struct watch_slot){ .cw = cw, .w = w, .fiber = w->fiber };
	}
	weft__lock_release(&c->lock);
	return err;
}

void weft__ctx_unwatch(struct weft__ctx_watch *cw)
{
	weft_ctx *c = cw->hold;
	if (!c)
		return;
	if (!cw->ctx) { /* never hung */
		cw->hold = weft_ctx_unref(c);
		return;
	}
	cw->ctx = NULL;
	/* won by c's cancel, which is done with the waiter and the watch and
	 * emptied c's array: no need for the lock (the fiber was woken after
	 * the claim); the reference is gone too unless the timer cancelled */
	int won = atomic_load_explicit(&cw->w->claimed, memory_order_acquire);
	if (won == WEFT__CLAIM_CTX) {
		cw->hold = NULL;
		return;
	}
	if (won != WEFT__CLAIM_CTX_KEEP) {
		weft__lock_acquire(&c->lock);
		/* a cancel emptied the array, under this lock, as it set err */
		if (!atomic_load_explicit(&c->err, memory_order_relaxed)) {
			struct watch_slot last = c->watch[--c->nwatch];
			c->watch[cw->idx] = last;
			last.cw->idx = cw->idx;
		}
		weft__lock_release(&c->lock);
	}
	cw->hold = weft_ctx_unref(c);
}

int weft_ctx_wait(weft_ctx *ctx)
{
	if (!weft__self())
		return -EPERM;
	struct weft__waiter w;
	weft__waiter_init(&w);
	return weft__wait(ctx, &w, "ctx");
}
