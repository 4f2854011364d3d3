/* SPDX-License-Identifier: MIT */
/* rwmutex.c — readers-writer lock (Go's sync.RWMutex).
 *
 * A spinlock guards the writer flag and two FIFO queues. Writer preference:
 * a reader may enter only while no writer holds the lock or waits for it, so
 * a stream of readers cannot starve a writer. When a writer unlocks, the
 * readers queued behind it are all admitted first (they arrived before any
 * later writer's turn), then the next writer; so readers cannot starve
 * either. Wake-ups are hand-offs: the unlocker updates the counts for the
 * fibers it fires, and a fired fiber returns owning its share.
 *
 * The readers' count is one atomic word outside the spinlock, as Go's
 * readerCount: rlock and runlock are one atomic add each while no writer
 * holds or waits, so readers on different procs share one line instead of
 * handing a lock around, and never fail each other's CAS. The word's low
 * bit, SLOW, says "a writer holds or waits": it is kept equal to (writer ||
 * writers queued), changed only under the spinlock, and a reader whose add
 * finds it up takes the spinlock path. Readers count in steps of 2, so an
 * add or a subtract never carries into SLOW, even one that takes the count
 * below 0 for a moment (a runlock without rlock, undone under the lock).
 * A writer raises SLOW with the instruction that reads the count, so no
 * reader slips in between.
 */
#include <string.h>

#include "internal.h"

#define RWLOCK(rw) ((weft__lock *)&(rw)->lock)
#define RQ(rw) ((struct weft__waitq *)&(rw)->rhead)
#define WQ(rw) ((struct weft__waitq *)&(rw)->whead)
#define COUNT(rw) ((_Atomic long *)&(rw)->readers)
#define SLOW 1L   /* in COUNT: a writer holds or waits */
#define READER 2L /* in COUNT: one reader (the count is COUNT >> 1) */

_Static_assert(sizeof(_Atomic long) == sizeof(long), "rwmutex count layout");

void weft_rwmutex_init(weft_rwmutex *rw)
{
	memset(rw, 0, sizeof(*rw));
}

static long readers(weft_rwmutex *rw)
{
	return atomic_load_explicit(COUNT(rw), memory_order_acquire) >> 1;
}

/* Under the lock, after writer or the writers' queue changed. */
static void sync_slow(weft_rwmutex *rw)
{
	if (rw->writer || WQ(rw)->head)
		atomic_fetch_or_explicit(COUNT(rw), SLOW, memory_order_acq_rel);
	else
		atomic_fetch_and_explicit(COUNT(rw), ~SLOW, memory_order_acq_rel);
}

static void admit_readers(weft_rwmutex *rw)
{
	struct weft__waiter *w;
	while ((w = weft__waitq_pop(RQ(rw)))) {
		atomic_fetch_add_explicit(COUNT(rw), READER, memory_order_relaxed);
		if (!weft__waiter_fire(w, 0))
			atomic_fetch_sub_explicit(COUNT(rw), READER, memory_order_relaxed);
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
	if (!readers(rw)) {
		struct weft__waiter *w;
		bool taken = false;
		while (!taken && (w = weft__waitq_pop(WQ(rw)))) {
			rw->writer = 1;
			taken = weft__waiter_fire(w, 0);
			if (!taken)
				rw->writer = 0;
		}
		if (!taken)
			admit_readers(rw);
	}
	sync_slow(rw);
}

/* Under the lock, after a reader left the count: the last one out lets a
 * queued writer in. */
static void read_left(weft_rwmutex *rw)
{
	if (!readers(rw) && !rw->writer)
		admit(rw, false);
}

/* Under the lock: take back a reader counted by read_fast. */
static void read_undo(weft_rwmutex *rw)
{
	atomic_fetch_sub_explicit(COUNT(rw), READER, memory_order_acq_rel);
	read_left(rw);
}

/* Called with the lock held when rw cannot be taken now: queue on q and park
 * (fiber only; a plain thread gets -EPERM). */
static int wait_on(weft_ctx *ctx, weft_rwmutex *rw, struct weft__waitq *q)
{
	if (!weft__self()) {
		sync_slow(rw); /* write_take may have raised SLOW */
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
		sync_slow(rw);
		weft__lock_release(RWLOCK(rw));
	}
	return r;
}

/* The fast path: one more reader while SLOW is clear. An add rather than
 * a CAS (readers on two procs would fail each other's); one that finds SLOW
 * up is taken back under the lock, where the count reaching 0 lets a queued
 * writer in as the last reader's runlock would. */
static bool read_fast(weft_rwmutex *rw)
{
	if (WEFT__LIKELY(!(atomic_fetch_add_explicit(COUNT(rw), READER, memory_order_acquire) & SLOW)))
		return true;
	weft__lock_acquire(RWLOCK(rw));
	read_undo(rw);
	weft__lock_release(RWLOCK(rw));
	return false;
}

int weft_rwmutex_try_rlock(weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	return read_fast(rw) ? 0 : -EBUSY;
}

int weft_rwmutex_rlock(weft_ctx *ctx, weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	if (WEFT__LIKELY(read_fast(rw)))
		return 0;
	weft__lock_acquire(RWLOCK(rw));
	/* SLOW changes only under the lock: clear now, the writers left */
	if (!(atomic_load_explicit(COUNT(rw), memory_order_relaxed) & SLOW)) {
		atomic_fetch_add_explicit(COUNT(rw), READER, memory_order_acquire);
		weft__lock_release(RWLOCK(rw));
		return 0;
	}
	return wait_on(ctx, rw, RQ(rw));
}

int weft_rwmutex_runlock(weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	long c = atomic_fetch_sub_explicit(COUNT(rw), READER, memory_order_release);
	if (WEFT__LIKELY(c >= READER && !(c & SLOW)))
		return 0;
	/* a writer holds or waits (the last reader out lets it in), or no
	 * reader held rw: the subtract is taken back */
	int r = 0;
	weft__lock_acquire(RWLOCK(rw));
	if (c < READER) {
		atomic_fetch_add_explicit(COUNT(rw), READER, memory_order_relaxed);
		r = -EPERM;
	}
	read_left(rw);
	weft__lock_release(RWLOCK(rw));
	return r;
}

/* Under the lock: take rw for writing if nothing holds it and no writer is
 * queued. SLOW goes up before the count is read, in the same instruction:
 * from then on a reader neither enters nor leaves without the lock, so a
 * count above 0 here is one that the last reader out will see (and admit
 * us). If rw is not taken and nobody queues, the caller calls sync_slow. */
static bool write_take(weft_rwmutex *rw)
{
	if (rw->writer || WQ(rw)->head)
		return false;
	long c = atomic_fetch_or_explicit(COUNT(rw), SLOW, memory_order_acq_rel);
	if (c >> 1)
		return false;
	rw->writer = 1;
	return true;
}

int weft_rwmutex_try_lock(weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	weft__lock_acquire(RWLOCK(rw));
	int r = write_take(rw) ? 0 : -EBUSY;
	if (r)
		sync_slow(rw); /* SLOW back down if we raised it */
	weft__lock_release(RWLOCK(rw));
	return r;
}

int weft_rwmutex_lock(weft_ctx *ctx, weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	weft__lock_acquire(RWLOCK(rw));
	if (write_take(rw)) {
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
