/* SPDX-License-Identifier: MIT */
/* rwmutex.c — readers-writer lock (Go's sync.RWMutex).
 *
 * A spinlock guards the counts and two FIFO queues. Writer preference: a
 * reader may enter only while no writer holds the lock or waits for it, so a
 * stream of readers cannot starve a writer. When a writer unlocks, the
 * readers queued behind it are all admitted first (they arrived before any
 * later writer's turn), then the next writer; so readers cannot starve
 * either. Wake-ups are hand-offs: the unlocker updates the counts for the
 * fibers it fires, and a fired fiber returns owning its share.
 */
#include <string.h>

#include "internal.h"

#define RWLOCK(rw) ((weft__lock *)&(rw)->lock)
#define RQ(rw) ((struct weft__waitq *)&(rw)->rhead)
#define WQ(rw) ((struct weft__waitq *)&(rw)->whead)

void weft_rwmutex_init(weft_rwmutex *rw)
{
	memset(rw, 0, sizeof(*rw));
}

static void admit_readers(weft_rwmutex *rw)
{
	struct weft__waiter *w;
	while ((w = weft__waitq_pop(RQ(rw)))) {
		rw->readers++;
		if (!weft__waiter_fire(w, 0))
			rw->readers--;
	}
}

/* Under the lock, when nothing is held. After a writer (readers_first):
 * the readers that queued behind it, else the next writer. After the last
 * reader: the first writer still waiting (queued readers came after it),
 * else, if every writer gave up, the readers. */
static void admit(weft_rwmutex *rw, bool readers_first)
{
	if (readers_first)
		admit_readers(rw);
	if (rw->readers)
		return;
	struct weft__waiter *w;
	while ((w = weft__waitq_pop(WQ(rw)))) {
		rw->writer = 1;
		if (weft__waiter_fire(w, 0))
			return;
		rw->writer = 0;
	}
	admit_readers(rw);
}

/* Called with the lock held when rw cannot be taken now: queue on q and park
 * (fiber only; a plain thread gets -EPERM). */
static int wait_on(weft_ctx *ctx, weft_rwmutex *rw, struct weft__waitq *q)
{
	if (!weft__self()) {
		weft__lock_release(RWLOCK(rw));
		return -EPERM;
	}
	struct weft__waiter waiter;
	struct weft__waiter *w = &waiter;
	weft__waiter_init(w);
	weft__waitq_push(q, w);
	weft__lock_release(RWLOCK(rw));
	int r = weft__wait(ctx, w, q == RQ(rw) ? "rwmutex read" : "rwmutex write");
	if (r >= 0)
		weft__lock_barrier(RWLOCK(rw));
	if (r < 0) {
		weft__lock_acquire(RWLOCK(rw));
		weft__waitq_remove(q, w);
		/* a writer that gives up may have been all that held readers back */
		if (q == WQ(rw) && !rw->writer && !WQ(rw)->head)
			admit_readers(rw);
		weft__lock_release(RWLOCK(rw));
	}
	return r;
}

static bool can_read(weft_rwmutex *rw)
{
	return !rw->writer && !WQ(rw)->head;
}

int weft_rwmutex_try_rlock(weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	int r = -EBUSY;
	weft__lock_acquire(RWLOCK(rw));
	if (can_read(rw)) {
		rw->readers++;
		r = 0;
	}
	weft__lock_release(RWLOCK(rw));
	return r;
}

int weft_rwmutex_rlock(weft_ctx *ctx, weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	weft__lock_acquire(RWLOCK(rw));
	if (can_read(rw)) {
		rw->readers++;
		weft__lock_release(RWLOCK(rw));
		return 0;
	}
	return wait_on(ctx, rw, RQ(rw));
}

int weft_rwmutex_runlock(weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	int r = 0;
	weft__lock_acquire(RWLOCK(rw));
	if (rw->readers <= 0)
		r = -EPERM;
	else if (--rw->readers == 0)
		admit(rw, false);
	weft__lock_release(RWLOCK(rw));
	return r;
}

int weft_rwmutex_try_lock(weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	int r = -EBUSY;
	weft__lock_acquire(RWLOCK(rw));
	if (!rw->writer && !rw->readers && !WQ(rw)->head) {
		rw->writer = 1;
		r = 0;
	}
	weft__lock_release(RWLOCK(rw));
	return r;
}

int weft_rwmutex_lock(weft_ctx *ctx, weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	weft__lock_acquire(RWLOCK(rw));
	if (!rw->writer && !rw->readers && !WQ(rw)->head) {
		rw->writer = 1;
		weft__lock_release(RWLOCK(rw));
		return 0;
	}
	return wait_on(ctx, rw, WQ(rw));
}

int weft_rwmutex_unlock(weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	int r = 0;
	weft__lock_acquire(RWLOCK(rw));
	if (!rw->writer) {
		r = -EPERM;
	} else {
		rw->writer = 0;
		admit(rw, true);
	}
	weft__lock_release(RWLOCK(rw));
	return r;
}
