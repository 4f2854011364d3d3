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
 *
 * Read bias (BRAVO, Dice and Kogan, "BRAVO: Biased Locking for Reader-Writer
 * Locks", USENIX ATC 2019): even one atomic add a read moves the count's
 * line between the cores of every reading proc. While rw's bias is on, a
 * fiber reads by marking a slot of a process-wide table (picked by hashing
 * rw and the fiber) with itself, its header naming rw; the slots of fibers
 * on different procs are mostly on different lines. A writer, once it holds
 * rw against counted readers, turns the bias off and then waits for every
 * slot whose fiber names rw to clear. The reader marks its slot and then
 * reads the bias (and SLOW: new readers queue behind a waiting writer, as
 * on the count); the writer clears the bias and then reads the slots (both
 * sequentially consistent): so either the reader sees the bias off and
 * takes its mark back, or the writer sees the mark and waits. A fiber holds
 * one biased read at a time, its other reads go to the count. The bias
 * comes back at a counted read, once no writer holds or waits and the
 * inhibit time (9 scans' worth after the last writer, at least 1 ms) has
 * passed: a lock that writers take often stays on the count.
 */
#include <string.h>

#include "internal.h"

#define RWLOCK(rw) ((weft__lock *)&(rw)->lock)
#define RQ(rw) ((struct weft__waitq *)&(rw)->rhead)
#define WQ(rw) ((struct weft__waitq *)&(rw)->whead)
#define COUNT(rw) ((_Atomic long *)&(rw)->readers)
#define BIAS(rw) ((_Atomic int *)&(rw)->bias)
#define INHIBIT(rw) ((_Atomic long *)&(rw)->inhibit)
#define SLOW 1L   /* in COUNT: a writer holds or waits */
#define READER 2L /* in COUNT: one reader (the count is COUNT >> 1) */

_Static_assert(sizeof(_Atomic long) == sizeof(long), "rwmutex count layout");
_Static_assert(sizeof(_Atomic int) == sizeof(int), "rwmutex bias layout");

/* ---- the biased readers' table ------------------------------------------------
 * Process-wide, as the locks are: an rwmutex may be read by the fibers of
 * any scheduler, and its writer must see them all. */
#define VR_BITS 12
#define VR_SLOTS (1u << VR_BITS) /* 32 KiB: a writer's scan takes a few microseconds */
#define INHIBIT_FACTOR 9
#define INHIBIT_MIN_NS (1000 * 1000L)

static struct weft_fiber *_Atomic vr_table[VR_SLOTS] __attribute__((aligned(64)));

static unsigned vr_index(const weft_rwmutex *rw, const struct weft_fiber *f)
{
	uint64_t h = (uint64_t)(uintptr_t)rw * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)f * 0xc2b2ae3d27d4eb4full;
	return (unsigned)((h ^ h >> 29) * 0xbf58476d1ce4e5b9ull >> (64 - VR_BITS));
}

/* A read on the bias: mark f's slot, then check that the bias still holds
 * and no writer holds or waits. */
static bool read_biased(weft_rwmutex *rw)
{
	if (!atomic_load_explicit(BIAS(rw), memory_order_relaxed))
		return false;
	struct weft_fiber *f = weft__self();
	if (!f || atomic_load_explicit(&f->rb_slot, memory_order_relaxed))
		return false; /* not a fiber, or one biased read held already */
	unsigned i = vr_index(rw, f);
	struct weft_fiber *none = NULL;
	atomic_store_explicit(&f->rb_rw, rw, memory_order_relaxed); /* published by the CAS */
	atomic_store_explicit(&f->rb_slot, i + 1, memory_order_relaxed);
	if (atomic_compare_exchange_strong(&vr_table[i], &none, f)) {
		/* a writer that waits, even before its turn, turns new readers
		 * to the queue behind it (writer preference) */
		if (WEFT__LIKELY(atomic_load(BIAS(rw)) && !(atomic_load(COUNT(rw)) & SLOW)))
			return true;
		atomic_store_explicit(&vr_table[i], NULL, memory_order_release);
	}
	atomic_store_explicit(&f->rb_rw, NULL, memory_order_relaxed);
	atomic_store_explicit(&f->rb_slot, 0, memory_order_relaxed);
	return false;
}

/* Leave f's biased read of rw, if f holds one. The CAS on f's claim makes
 * one leave of one read: the owner's own, or another fiber's runlock
 * releasing it (release_other). */
static bool leave_biased(struct weft_fiber *f, weft_rwmutex *rw)
{
	weft_rwmutex *held = rw;
	/* the slot is read before the claim goes: f may start another biased
	 * read (and write rb_slot) as soon as it is gone. Until the slot is
	 * cleared it still holds f, so no read of f's lands in it meanwhile.
	 * rb_rw is stale (not zeroed at spawn) unless rb_slot is set. */
	unsigned slot = atomic_load_explicit(&f->rb_slot, memory_order_relaxed);
	if (!slot || atomic_load_explicit(&f->rb_rw, memory_order_relaxed) != rw ||
	    !atomic_compare_exchange_strong_explicit(&f->rb_rw, &held, NULL, memory_order_acq_rel,
						     memory_order_relaxed))
		return false;
	atomic_store_explicit(&f->rb_slot, 0, memory_order_relaxed);
	atomic_store_explicit(&vr_table[slot - 1], NULL, memory_order_release);
	return true;
}

void weft__rwmutex_fiber_exit(struct weft_fiber *f)
{
	weft_rwmutex *rw = atomic_load_explicit(&f->rb_rw, memory_order_acquire);
	if (!rw)
		return;
	/* counted first, then unmarked: the read never stops being seen. The
	 * slot must not outlive f, whose header is gone once its stack is. */
	atomic_fetch_add_explicit(COUNT(rw), READER, memory_order_acq_rel);
	if (!leave_biased(f, rw))
		atomic_fetch_sub_explicit(COUNT(rw), READER, memory_order_acq_rel); /* released meanwhile */
}

/* A runlock that no counted reader matches: a fiber may runlock what
 * another rlocked, so take one biased read of rw if there is one. */
static bool release_other(weft_rwmutex *rw)
{
	for (unsigned i = 0; i < VR_SLOTS; i++) {
		struct weft_fiber *f = atomic_load_explicit(&vr_table[i], memory_order_acquire);
		if (f && leave_biased(f, rw))
			return true;
	}
	return false;
}

/* After a counted read got in: the bias comes back once no writer holds or
 * waits and the inhibit time is over. Fibers only (the time is the proc's). */
static void bias_maybe(weft_rwmutex *rw)
{
	if (atomic_load_explicit(BIAS(rw), memory_order_relaxed))
		return;
	struct weft_proc *p = weft__proc();
	if (!p || !p->cur || p->now_cache < atomic_load_explicit(INHIBIT(rw), memory_order_relaxed) ||
	    (atomic_load_explicit(COUNT(rw), memory_order_relaxed) & SLOW))
		return;
	atomic_store_explicit(BIAS(rw), 1, memory_order_relaxed);
}

/* Wait the n-th time for a biased reader: yield a few times, then sleep
 * longer each time, up to 1 ms. */
static int bias_backoff(weft_ctx *ctx, unsigned n)
{
	if (n < 8)
		return weft_yield() < 0 ? -EPERM : 0;
	int shift = n - 8 < 7 ? (int)(n - 8) : 7;
	return weft_sleep(ctx, (int64_t)8 * 1000 << shift);
}

/* The writer holds rw against counted readers: turn the bias off, then wait
 * for the biased readers to leave (can_wait false: -EBUSY at the first one
 * found; a ctx error when ctx ends first). A writer that gives up turns the
 * bias back on before it unlocks: "bias off" must mean "no biased reader",
 * since the next writer skips the scan then. */
static int bias_revoke(weft_ctx *ctx, weft_rwmutex *rw, bool can_wait)
{
	if (!atomic_load_explicit(BIAS(rw), memory_order_relaxed))
		return 0;
	int64_t t0 = weft__now();
	atomic_store(BIAS(rw), 0);
	for (unsigned i = 0; i < VR_SLOTS; i++) {
		for (unsigned n = 0;; n++) {
			struct weft_fiber *f = atomic_load(&vr_table[i]);
			if (!f || atomic_load_explicit(&f->rb_rw, memory_order_acquire) != rw)
				break;
			int r = can_wait ? bias_backoff(ctx, n) : -EBUSY;
			if (r < 0) {
				atomic_store(BIAS(rw), 1);
				return r;
			}
		}
	}
	int64_t t = weft__now(), wait = (t - t0) * INHIBIT_FACTOR;
	atomic_store_explicit(INHIBIT(rw), t + (wait > INHIBIT_MIN_NS ? wait : INHIBIT_MIN_NS),
			      memory_order_relaxed);
	return 0;
}

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
	if (read_biased(rw))
		return 0;
	if (!read_fast(rw))
		return -EBUSY;
	bias_maybe(rw);
	return 0;
}

int weft_rwmutex_rlock(weft_ctx *ctx, weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	if (read_biased(rw))
		return 0;
	if (WEFT__LIKELY(read_fast(rw))) {
		bias_maybe(rw);
		return 0;
	}
	weft__lock_acquire(RWLOCK(rw));
	/* SLOW changes only under the lock: clear now, the writers left */
	if (!(atomic_load_explicit(COUNT(rw), memory_order_relaxed) & SLOW)) {
		atomic_fetch_add_explicit(COUNT(rw), READER, memory_order_acquire);
		weft__lock_release(RWLOCK(rw));
		bias_maybe(rw);
		return 0;
	}
	return wait_on(ctx, rw, RQ(rw));
}

int weft_rwmutex_runlock(weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	struct weft_fiber *f = weft__self();
	if (f && leave_biased(f, rw))
		return 0;
	long c = atomic_fetch_sub_explicit(COUNT(rw), READER, memory_order_release);
	if (WEFT__LIKELY(c >= READER && !(c & SLOW)))
		return 0;
	/* a writer holds or waits (the last reader out lets it in), or no
	 * counted reader held rw: the subtract is taken back, and the read
	 * left is another fiber's biased one, if any */
	weft__lock_acquire(RWLOCK(rw));
	if (c < READER)
		atomic_fetch_add_explicit(COUNT(rw), READER, memory_order_relaxed);
	read_left(rw);
	weft__lock_release(RWLOCK(rw));
	return c >= READER || release_other(rw) ? 0 : -EPERM;
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

/* rw is held for writing against counted readers: now against biased
 * ones too, or given back (err: what to return then, when biased readers
 * hold it and the caller may not wait for them). */
static int write_revoke(weft_ctx *ctx, weft_rwmutex *rw, bool can_wait, int err)
{
	int r = bias_revoke(ctx, rw, can_wait);
	if (WEFT__LIKELY(r == 0))
		return 0;
	weft_rwmutex_unlock(rw);
	return r == -EBUSY ? err : r;
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
	return r ? r : write_revoke(NULL, rw, false, -EBUSY);
}

int weft_rwmutex_lock(weft_ctx *ctx, weft_rwmutex *rw)
{
	if (!rw)
		return -EINVAL;
	weft__lock_acquire(RWLOCK(rw));
	if (write_take(rw)) {
		weft__lock_release(RWLOCK(rw));
		return write_revoke(ctx, rw, weft__self() != NULL, -EPERM);
	}
	int r = wait_on(ctx, rw, WQ(rw));
	return r < 0 ? r : write_revoke(ctx, rw, true, -EPERM);
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
