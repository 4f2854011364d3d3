/* SPDX-License-Identifier: MIT */
/* weft/sync.h — fiber-aware locks and friends (Go's sync and
 * x/sync/semaphore): mutex, rwmutex, once, cond, weighted semaphore and an
 * object pool with per-proc caches.
 *
 * Every wait parks the fiber, never the thread. Waits that take a context
 * return its error (-ECANCELED, -ETIMEDOUT, or the cancel error) promptly
 * once it is done; NULL means "never cancelled". Functions that may park are
 * fiber only and return -EPERM elsewhere (when they would have to park).
 *
 * Mutex, rwmutex, once, cond and sem live in caller storage: their layouts
 * are public only for that (and for the mutex's inline fast path); use the
 * functions, never the fields. A zeroed object is a valid, unlocked one (the
 * semaphore needs its size: WEFT_SEM_INIT(n) or weft_sem_init). None needs
 * a destructor; none may be moved or copied while in use.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stddef.h>
#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- mutex (Go's sync.Mutex) ------------------------------------------------
 * Not reentrant and not owned by a fiber: any fiber may unlock (as in Go).
 * Contended lockers spin briefly (only with several procs), then park in
 * FIFO order. A woken waiter competes with newcomers; once a waiter has been
 * waiting for more than 1 ms the mutex turns to starvation mode and hands
 * ownership directly to the head waiter at each unlock, until the queue
 * drains or a waiter got it quickly. */
typedef struct weft_mutex {
	unsigned state;       /* internal: atomic LOCKED|WOKEN|STARVING|WAITERS */
	int qlock;            /* internal: spinlock guarding the queue */
	void *head, *tail;    /* internal: parked fibers */
} weft_mutex;

#define WEFT_MUTEX_INIT { 0, 0, 0, 0 }
WEFT_EXPORT void weft_mutex_init(weft_mutex *m);
/* Lock m, parking while it is held. Returns 0 (m is now held by the caller)
 * or ctx's error (m untouched). -EINVAL if m is NULL; -EPERM outside a
 * fiber when m is held. May park. */
WEFT_EXPORT int weft_mutex_lock(weft_ctx *ctx, weft_mutex *m);
/* Lock m only if that needs no waiting: 0, or -EBUSY. Never parks. */
WEFT_EXPORT int weft_mutex_try_lock(weft_mutex *m);
/* Release m, waking (or, in starvation mode, handing m to) the longest
 * waiter. Returns 0, or -EPERM if m was not locked. Never parks. */
WEFT_EXPORT int weft_mutex_unlock(weft_mutex *m);

/* ---- rwmutex (Go's sync.RWMutex) -------------------------------------------
 * Many readers or one writer. Writer preference: once a writer waits, new
 * readers wait behind it, so writers never starve; when a writer unlocks,
 * the readers that queued meanwhile go first, so readers never starve
 * either. Not reentrant: a reader must not rlock again while a writer may
 * be waiting (it would deadlock, as in Go). Not owned by a fiber: any fiber
 * may runlock what another rlocked (as in Go).
 *
 * Read-mostly locks are read-biased (BRAVO, Dice and Kogan 2019): while no
 * writer has come for a while, a fiber's rlock marks a slot of its own in a
 * process-wide table instead of the shared count, so readers on different
 * procs share no cache line. A writer turns the bias off and waits for the
 * marked readers to leave (yielding, then sleeping), which costs it a scan
 * of the table (32 KiB); the bias stays off for 9 times that scan, and at
 * least 1 ms, after each writer. A fiber holds at most one biased read at a
 * time; its other reads use the count. */
typedef struct weft_rwmutex {
	int lock;             /* internal spinlock */
	int writer;           /* internal: a writer holds it */
	long readers;         /* internal: readers holding it, and a flag (atomic) */
	void *rhead, *rtail;  /* internal: parked readers */
	void *whead, *wtail;  /* internal: parked writers */
	int bias;             /* internal: readers may take the biased path (atomic) */
	long inhibit;         /* internal: no bias before this time, ns (atomic) */
} weft_rwmutex;

#define WEFT_RWMUTEX_INIT { 0, 0, 0, 0, 0, 0, 0, 0, 0 }
WEFT_EXPORT void weft_rwmutex_init(weft_rwmutex *rw);
/* Shared lock. 0 or ctx's error (nothing held). May park. */
WEFT_EXPORT int weft_rwmutex_rlock(weft_ctx *ctx, weft_rwmutex *rw);
/* 0 or -EPERM if no reader holds it. Never parks. */
WEFT_EXPORT int weft_rwmutex_runlock(weft_rwmutex *rw);
/* Exclusive lock. 0 or ctx's error (nothing held). May park. */
WEFT_EXPORT int weft_rwmutex_lock(weft_ctx *ctx, weft_rwmutex *rw);
/* 0 or -EPERM if no writer holds it. Never parks. */
WEFT_EXPORT int weft_rwmutex_unlock(weft_rwmutex *rw);
/* Non-parking forms: 0 or -EBUSY. */
WEFT_EXPORT int weft_rwmutex_try_rlock(weft_rwmutex *rw);
WEFT_EXPORT int weft_rwmutex_try_lock(weft_rwmutex *rw);

/* ---- once (Go's sync.Once) ------------------------------------------------- */
typedef struct weft_once {
	int state;            /* internal: atomic 0 new, 1 running, 2 done */
	int lock;             /* internal spinlock */
	void *head, *tail;    /* internal: parked callers */
} weft_once;

#define WEFT_ONCE_INIT { 0, 0, 0, 0 }
/* Run fn(arg) if no call on once has run it yet; concurrent callers park
 * until it has returned, so on return fn's effects are visible to every
 * caller. Returns 1 to the caller that ran fn, 0 to the others, -EINVAL for
 * NULL arguments, -EPERM outside a fiber if it would have to wait. fn must
 * not call weft_once_do on the same once (deadlock, as in Go). May park. */
WEFT_EXPORT int weft_once_do(weft_once *once, weft_fn fn, void *arg);

/* ---- cond (Go's sync.Cond) ------------------------------------------------- */
typedef struct weft_cond {
	int lock;             /* internal spinlock */
	void *head, *tail;    /* internal: parked waiters */
} weft_cond;

#define WEFT_COND_INIT { 0, 0, 0 }
WEFT_EXPORT void weft_cond_init(weft_cond *c);
/* With m held: release m, park until signalled (or ctx is done), lock m
 * again. Always returns with m held. Returns 0 when signalled, ctx's error
 * otherwise; as in Go, re-check the condition in a loop. -EINVAL for NULL
 * c or m. Fiber only. */
WEFT_EXPORT int weft_cond_wait(weft_ctx *ctx, weft_cond *c, weft_mutex *m);
/* Wake the longest waiter / all waiters. Return how many were woken. Any
 * fiber or thread; holding the mutex is allowed, not required. */
WEFT_EXPORT int weft_cond_signal(weft_cond *c);
WEFT_EXPORT int weft_cond_broadcast(weft_cond *c);

/* ---- weighted semaphore (golang.org/x/sync/semaphore) ----------------------
 * FIFO: a request that does not fit blocks every request behind it, even a
 * smaller one that would fit, so big requests are not starved. */
typedef struct weft_sem {
	long size;            /* internal: capacity */
	long cur;             /* internal: units held */
	int lock;             /* internal spinlock */
	void *head, *tail;    /* internal: parked acquirers */
} weft_sem;

#define WEFT_SEM_INIT(n) { (n), 0, 0, 0, 0 }
WEFT_EXPORT void weft_sem_init(weft_sem *s, long size);
/* Take n units, parking in FIFO order until they are free. Returns 0 or
 * ctx's error (nothing taken). -EINVAL if n < 0 or n > size (it could never
 * succeed; Go would wait for ctx instead). May park. */
WEFT_EXPORT int weft_sem_acquire(weft_ctx *ctx, weft_sem *s, long n);
/* Take n units only if free now and nobody waits: 0 or -EBUSY. Never parks. */
WEFT_EXPORT int weft_sem_try_acquire(weft_sem *s, long n);
/* Return n units, waking waiters that now fit. 0, or -EINVAL if more than
 * held (nothing released). Never parks. */
WEFT_EXPORT int weft_sem_release(weft_sem *s, long n);

/* ---- pool (Go's sync.Pool) --------------------------------------------------
 * A cache of reusable, fixed-size objects allocated by the pool. Each proc
 * keeps a small private cache used without locks or atomics (get/put never
 * park, so a fiber stays on its proc meanwhile); a full cache spills half
 * to a shared list, an empty one refills from it; beyond max_idle pooled
 * objects, put destroys them. Unlike Go's, a pooled object is never dropped
 * behind the caller's back, and its contents survive put/get (ctor runs
 * once per object, when it is allocated). A pool serves the fibers of one
 * weft_run at a time (caches are indexed by proc id) and plain threads (they
 * use the shared list). */
typedef struct weft_pool weft_pool;

struct weft_pool_opts {
	size_t size;                            /* object size in bytes (> 0) */
	int (*ctor)(void *obj, void *ud);       /* optional: init a new object; <0 fails get */
	void (*dtor)(void *obj, void *ud);      /* optional: before an object is freed */
	void *ud;                               /* passed to ctor and dtor */
	size_t max_idle;                        /* objects kept in the shared list; 0 = 1024 */
};

/* Returns 0 with *ret owned by the caller, -EINVAL or -ENOMEM. */
WEFT_EXPORT int weft_pool_new(const struct weft_pool_opts *opts, weft_pool **ret);
/* A pooled object, or a new one (size bytes, 16-byte aligned). NULL if
 * allocation or ctor failed. The caller owns it until put. Never parks. */
WEFT_EXPORT void *weft_pool_get(weft_pool *p);
/* Give obj (from weft_pool_get of this pool; NULL is ignored) back. Never parks. */
WEFT_EXPORT void weft_pool_put(weft_pool *p, void *obj);
/* Destroy every pooled object and the pool (objects still out must not be
 * put afterwards; free them with weft_pool_put before). NULL is fine.
 * Returns NULL. */
WEFT_EXPORT weft_pool *weft_pool_free(weft_pool *p);

#ifdef __cplusplus
}
#endif
#endif
