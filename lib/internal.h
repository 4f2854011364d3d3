/* SPDX-License-Identifier: MIT */
/* internal.h — the runtime's private core: fibers, procs, parking, waiters,
 * timers. Every other module (channels, sync, contexts, I/O) blocks and
 * wakes fibers only through the few primitives declared here.
 *
 * Parking protocol (a permit, like a futex word per fiber):
 *   A waker calls weft__ready(f) exactly once per wait it wins. If f is
 *   parked it becomes runnable; if f is still running (it has published its
 *   waiter but not yet switched out) the wake is remembered and f's next
 *   weft__park() returns at once. So a fiber can register itself anywhere,
 *   drop every lock and then park, without a lost wake-up.
 *
 * Waiters: a blocked fiber owns one weft__waiter (on its stack) and may hang
 * it on several sources (a channel's queue, a context, a timer). A source
 * wins the waiter with weft__waiter_fire(); exactly one wins; the winner
 * writes the result and readies the fiber, and must not touch the waiter
 * afterwards. Losers see the claim fail and move on. After waking, the fiber
 * unhooks the waiter from every source that did not win (under that source's
 * lock), so no source can see it after the wait returns.
 */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/weft.h>

#include "prof.h"
#include "stack.h"
#include "switch.h"
#include "testing.h"

#define WEFT__LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WEFT__INLINE inline __attribute__((always_inline))

#if defined(__x86_64__) || defined(__i386__)
#define weft__cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define weft__cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define weft__cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

/* ---- spinlock: test-and-test-and-set; for short critical sections only -- */
typedef struct { atomic_int v; } weft__lock;
#define WEFT__LOCK_INIT { 0 }
static inline void weft__lock_acquire(weft__lock *l)
{
	for (;;) {
		if (!atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(&l->v, memory_order_relaxed))
			weft__cpu_relax();
	}
}
static inline void weft__lock_release(weft__lock *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_release);
}
/* Wait until whoever holds l has released it. A fiber woken by a waker that
 * still holds the object's lock calls this before returning: the caller may
 * free the object at once, while the waker is yet to release the lock. */
static inline void weft__lock_barrier(weft__lock *l)
{
	weft__lock_acquire(l);
	weft__lock_release(l);
}

/* ---- fibers -------------------------------------------------------------- */
enum weft__pstate {
	WEFT__RUNNING = 0, /* running or runnable */
	WEFT__PARKING,     /* decided to park, not yet switched out */
	WEFT__PARKED,      /* switched out, on no queue */
	WEFT__NOTIFIED,    /* woken before it finished parking */
	WEFT__DEAD,
};

#define WEFT__FIBER_MAGIC 0x77656674u /* "weft": header of a live fiber */

struct weft_proc;
struct weft_sched;

struct weft_fiber {
	struct weft__ctx ctx;          /* saved machine context */
	/* in ctx's cache line: walking the global queue brings in the line
	 * that the switch to the fiber needs next */
	struct weft_fiber *next;       /* link in the global queue or a proc's inbox */
	/* what waking, resuming and ending a parked fiber touch, in the first
	 * two lines with ctx: a cancel wakes thousands of cold fibers, and
	 * every line more is a miss more for each */
	struct weft__stack stack;      /* where it lives (this struct is at its top) */
	struct weft_sched *sched;
	struct weft_proc *_Atomic home;/* non-NULL: only this proc may run it */
	const char *_Atomic wait_reason; /* static string while parked, for the dump */
	bool pinned;                   /* home is permanent (weft_go_opts.pin) */
	atomic_int pstate;             /* enum weft__pstate */
	atomic_uint magic;             /* WEFT__FIBER_MAGIC while alive */
	_Atomic uint32_t rb_slot;      /* its biased read of an rwmutex (rwmutex.c): the slot
	                                  it marked + 1, or 0; here, where its end looks */
	/* the rest: at its start, and for the dump */
	weft_fn fn;
	void *arg;
	uint64_t id;
	int64_t created_ns;
	char name[32];
	/* not zeroed at spawn: meaningful only while rb_slot is set */
	struct weft_rwmutex *_Atomic rb_rw; /* the lock of its biased read */
	/* last, and not zeroed with the rest at spawn (only its count): weft_label_set */
	struct weft__labels labels;
};
_Static_assert(sizeof(struct weft_fiber) <= WEFT__STACK_HEADER, "fiber header too big");
_Static_assert(offsetof(struct weft_fiber, rb_slot) < 128, "the hot fields span more than two lines");

/* The proc running the calling thread, or NULL. It must never be cached
 * across a context switch: the fiber may resume on another thread.
 * x86-64: with the initial-exec TLS model each read is a %fs-relative load,
 * which the compiler redoes after the switch (an opaque call). Elsewhere the
 * thread pointer itself may be cached within a function (aarch64 reads it
 * into a register), so the read goes through a function the compiler cannot
 * see into. */
extern __thread struct weft_proc *weft__tls_proc __attribute__((tls_model("initial-exec")));
#if defined(__x86_64__)
static inline struct weft_proc *weft__proc(void)
{
	return weft__tls_proc;
}
#else
struct weft_proc *weft__proc(void);
#endif
struct weft_fiber *weft__self(void);
/* A fiber that ends holding a biased read of an rwmutex (f->rb_slot set):
 * the read stays held, moved to the lock's count (rwmutex.c). */
void weft__rwmutex_fiber_exit(struct weft_fiber *f);

/* Park the calling fiber until weft__ready() (see the protocol above).
 * reason is a static string shown in the dump. Fiber only. */
void weft__park(const char *reason);
/* Make f runnable (from any thread). Exactly once per won wait. */
void weft__ready(struct weft_fiber *f);
/* weft__ready in two steps, for a waker with many fibers to wake (a context
 * cancelled under thousands of waiters): ready_claim does the state change
 * and returns true if the caller must queue f (it had parked), false if f
 * sees the wake by itself. The caller adds the fibers it must queue to a
 * batch (zeroed first): an array, so that no cold fiber header is written to
 * link it and a proc taking the fibers reads their addresses in a row and
 * can fetch their stacks ahead. Every WEFT__BATCH_MAX fibers the array goes
 * to the global queue whole (one push, one wake-up per idle proc), and the
 * rest at the flush (fewer than WEFT__BATCH_MIN in all: one by one, as
 * weft__ready would, with no allocation). Any thread. */
#define WEFT__BATCH_MIN 8
#define WEFT__BATCH_MAX 128 /* half a run queue: a proc takes a chunk at once */
struct weft__fiber_chunk {
	struct weft__fiber_chunk *next; /* in the global queue */
	unsigned n, taken;              /* fibers in f[], of which taken left already */
	struct weft_fiber *f[WEFT__BATCH_MAX];
};
struct weft__wake_batch {
	struct weft__fiber_chunk *chunk; /* allocated at the WEFT__BATCH_MIN-th fiber */
	struct weft_fiber *few[WEFT__BATCH_MIN];
	unsigned n;                     /* fibers in few[] or chunk */
};
bool weft__ready_claim(struct weft_fiber *f);
void weft__batch_add(struct weft__wake_batch *b, struct weft_fiber *f);
void weft__batch_flush(struct weft__wake_batch *b);

/* ---- waiters ------------------------------------------------------------- */
/* A waiter's claimed word: who won it. A context's cancel says so, and
 * whether it kept the wait's reference on the context, so that the woken
 * fiber need not be told through its watch (ctx.c): one line less of each
 * woken fiber's stack written by the canceller. */
enum {
	WEFT__CLAIM_SOURCE = 1,  /* any source (weft__waiter_claim) */
	WEFT__CLAIM_CTX,         /* a cancel, which also dropped the watch's reference */
	WEFT__CLAIM_CTX_KEEP,    /* a cancel by the deadline timer: the reference is the fiber's */
};
struct weft__waiter {
	struct weft_fiber *fiber;
	atomic_int claimed;            /* 0 until a source wins it, then WEFT__CLAIM_* */
	int result;                    /* written by the winner */
	void *data;                    /* for the source (e.g. element buffer) */
	long index;                    /* for the source (e.g. select case) */
	struct weft__waiter *next, *prev; /* the source's wait list */
	bool linked;                   /* on a source's wait list */
};

static inline void weft__waiter_init(struct weft__waiter *w)
{
	*w = (struct weft__waiter){ .fiber = weft__self() };
}
/* Win w without waking anyone (a source that then does more work before
 * weft__waiter_wake, or the fiber itself giving up). */
static inline bool weft__waiter_claim(struct weft__waiter *w)
{
	int exp = 0;
	return atomic_compare_exchange_strong_explicit(&w->claimed, &exp, WEFT__CLAIM_SOURCE,
						       memory_order_acq_rel, memory_order_acquire);
}
/* After a successful claim by a source: store the result, ready the fiber.
 * w is dead to the caller afterwards. */
static inline void weft__waiter_wake(struct weft__waiter *w, int result)
{
	struct weft_fiber *f = w->fiber;
	w->result = result;
	weft__ready(f);
}
static inline bool weft__waiter_fire(struct weft__waiter *w, int result)
{
	if (!weft__waiter_claim(w))
		return false;
	weft__waiter_wake(w, result);
	return true;
}

/* Doubly linked FIFO of waiters, for sources (guarded by the source's lock). */
struct weft__waitq { struct weft__waiter *head, *tail; };
void weft__waitq_push(struct weft__waitq *q, struct weft__waiter *w);
void weft__waitq_remove(struct weft__waitq *q, struct weft__waiter *w); /* no-op if unlinked */
struct weft__waiter *weft__waitq_pop(struct weft__waitq *q);

/* Contexts: hang a waiter on ctx so that ctx becoming done fires it with the
 * ctx error. Returns 0 when hung (or ctx never ends: NULL), or the ctx error
 * if it is already done, or -ENOMEM (then nothing was hung). */
struct weft__ctx_watch {
	struct weft__waiter *w;
	struct weft_ctx *ctx;          /* the cancellable ctx it hangs on, or NULL once unhooked
	                                  (its fiber's own field: a cancel never writes it) */
	struct weft_ctx *hold;         /* reference kept for the duration of the watch */
	unsigned idx;                  /* its slot in the ctx's array of watches */
};
int weft__ctx_watch(struct weft_ctx *ctx, struct weft__ctx_watch *cw, struct weft__waiter *w);
void weft__ctx_unwatch(struct weft__ctx_watch *cw);

/* The usual end of a blocking call: w is already hung on its source(s).
 * Hang it on ctx too, park until some source wins, unhook from ctx and return
 * the winner's result. If ctx is already done, claims w itself (result = ctx
 * error) — unless a source won first. The caller then unhooks w from its own
 * sources if w->linked. */
int weft__wait(struct weft_ctx *ctx, struct weft__waiter *w, const char *reason);

/* ---- timers (per-proc heap) --------------------------------------------- */
struct weft__timer {
	int64_t when;                  /* monotonic ns */
	void (*fn)(struct weft__timer *t); /* runs on the owning proc's scheduler
	                                      stack; must not block */
	void *arg;
	struct weft_proc *proc;        /* heap it is on */
	long index;                    /* heap slot, -1 when not queued */
	atomic_int state;              /* internal */
};
/* Queue t on the calling thread's proc (fiber or scheduler context). */
int weft__timer_add(struct weft__timer *t, int64_t when, void (*fn)(struct weft__timer *), void *arg);
/* Unqueue t. Returns true if it was removed before firing; false if it fired
 * (waits for a running callback to finish, so t may be freed afterwards).
 * Must not be called from t's own callback. */
bool weft__timer_del(struct weft__timer *t);

/* ---- procs and the scheduler -------------------------------------------- */
#define WEFT__RUNQ_SIZE 256
#define WEFT__MAX_PROCS 64
#define WEFT__UD_WAKE    ((uint64_t)1) /* MSG_RING wake-up */
#define WEFT__UD_EVENTFD ((uint64_t)2) /* eventfd read completed */
#define WEFT__UD_IGNORE  ((uint64_t)3) /* completion nobody waits for */

enum weft__after { WEFT__AFTER_NONE, WEFT__AFTER_PARK, WEFT__AFTER_YIELD, WEFT__AFTER_EXIT };

struct weft__proc_stats {
	atomic_uint_fast64_t switches, steals, parks, wake_msg, wake_efd, io_sub, io_done, spawned, naps;
};

struct weft__trace_ring;
struct weft__trace;

struct weft_proc {
	struct weft_sched *sched;
	unsigned id;
	struct weft__trace_ring *_Atomic trace; /* its ring while a trace runs, else NULL
	                                           (trace.h: the hooks test it) */
	pthread_t thread;
	struct io_uring ring;
	bool ring_ok;
	unsigned ring_flags;           /* the io_uring set-up flags that worked */
	int efd;                       /* eventfd wake-up (non-proc wakers, fallback; the only
	                                  way under epoll) */
	uint64_t efd_buf;
	/* the epoll back end (epoll.c): its set, and per fd number the fibers of this
	 * proc waiting on it (only this proc's thread touches them) */
	int epfd;
	struct weft__ep_slot *ep_slots;
	size_t ep_nslots;
	struct weft__ctx g0;           /* the thread's own context: the scheduler loop */
	struct weft_fiber *cur;        /* running fiber, NULL on g0 */
	bool solo;                     /* the only proc: no thieves, so the owner's run-queue
	                                  operations need no read-modify-write */
	/* Go's local run queue: owner pushes at tail, owner and thieves take at head */
	_Atomic uint32_t rq_head, rq_tail;
	struct weft_fiber *_Atomic rq[WEFT__RUNQ_SIZE];
	struct weft_fiber *_Atomic runnext;
	/* fibers that must run here (pinned, I/O cancel), pushed by anyone */
	weft__lock inbox_lock;
	struct weft_fiber *inbox_head, *inbox_tail;
	atomic_uint inbox_len;
	/* what the next context to run on this thread does for the last one */
	enum weft__after after;
	struct weft_fiber *after_fiber;
	/* timers */
	weft__lock tlock;
	struct weft__timer **heap;
	size_t nheap, heap_cap;
	atomic_int_fast64_t next_timer; /* earliest 'when', INT64_MAX if none */
	/* parking */
	atomic_int parked;             /* 1 while (about to be) asleep in the ring, 2 while
	                                  napping (waits for a victim's backlog to age) */
	unsigned until_g0;             /* fiber-to-fiber switches left before the scheduler loop
	                                  runs (polls the ring, looks at the global queue);
	                                  >= 1 while a fiber runs */
	unsigned passes;               /* scheduler passes: the inbox and the queue alternate */
	_Atomic uint32_t drains;       /* times the owner took its last queued fiber (owner writes):
	                                  a thief reads it to tell a backlog from a busy queue */
	int64_t now_cache;             /* weft__now() at the last scheduler pass */
	unsigned sq_pending;           /* prepared, not yet submitted SQEs */
	bool batching;                 /* readying a poll's fibers: one wakep after, not each */
	unsigned inflight;             /* submitted ops not yet completed */
	unsigned cold;                 /* queued fibers of a mass wake-up not yet fetched ahead
	                                  (proc.h: runq_fetch_ahead) */
	long wg_hint;                  /* the count this proc last left in a wait group (wg.c) */
	struct weft__stack_cache *stack_cache;
	uint64_t rand;                 /* weft__rand64's state (rand.h) */
	uint64_t id_next, id_end;      /* fiber ids this proc hands out, taken in batches */
	/* its share of sched->live not yet settled (owner writes, stats read) */
	atomic_long live_credit;       /* spawns reserved in sched->live, not yet made */
	atomic_long live_exits;        /* fibers ended here, not yet subtracted */
	struct weft__proc_stats st;
	clockid_t cpu_clock;           /* the proc thread's CPU-time clock (weft_proc_stats) */
	bool cpu_clock_ok;
	struct weft__steal_watch {     /* per victim: its backlog, as this proc last saw it */
		int64_t since;         /* when the backlog was first seen, 0 if none */
		uint32_t drains;       /* the victim's drains then */
	} watch[WEFT__MAX_PROCS];
};

struct weft_sched {
	struct weft_opts opts;
	struct weft__test_opts test;   /* zero outside libweft's tests */
	unsigned nprocs;
	struct weft_proc **procs;
	struct weft__stack_pool *stacks;
	struct weft_features feat;
	bool epoll;                    /* the epoll back end runs (feat.backend == EPOLL) */
	/* global run queue */
	pthread_mutex_t gq_lock;
	struct weft_fiber *gq_head, *gq_tail;
	struct weft__fiber_chunk *gq_chunks, *gq_chunks_tail; /* mass wake-ups, as arrays */
	atomic_uint gq_len;            /* fibers in both */
	atomic_int npidle;             /* procs parked in their ring */
	/* fibers alive, plus what procs have not settled yet (see live_settle):
	 * on a line of its own, away from npidle and the queue */
	_Alignas(64) atomic_long live;
	char live_pad[64 - sizeof(atomic_long)];
	atomic_uint_fast64_t next_id;  /* next batch of fiber ids */
	atomic_bool stop;
	_Atomic int64_t last_trim;     /* when idle procs last trimmed the stack pool */
	struct weft_fiber *main;
	atomic_bool main_done;
	/* startup barrier */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	unsigned started;
	int start_err;
	struct weft__blocking *blocking; /* lazily started helper threads */
	struct weft__trace *_Atomic trace; /* the trace's rings, from the first start (trace.c) */
	pthread_mutex_t blocking_lock;
};

/* Ring access for the I/O module: an SQE on the calling proc's ring,
 * submitting first if the queue is full. Never NULL. */
struct io_uring_sqe *weft__sqe(struct weft_proc *p);
/* Called by the scheduler for each completion whose user_data is an op. */
struct weft__io_op;
void weft__io_complete(struct weft_proc *p, struct weft__io_op *op, int res);
/* Pending submissions are flushed by the scheduler once per pass. */
int weft__ring_flush(struct weft_proc *p);

void weft__blocking_shutdown(struct weft_sched *s);

int64_t weft__now(void);

#endif
