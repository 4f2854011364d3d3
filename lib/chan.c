/* SPDX-License-Identifier: MIT */
/* chan.c — channels and select, after Go's runtime/chan.go and select.go.
 *
 * A channel is a lock, a ring buffer (cap elements, inline after the struct)
 * and two FIFO queues of parked fibers: senders waiting for room or a
 * receiver, receivers waiting for a value. A queue entry is a chan_node on
 * the parked fiber's stack. It points at the fiber's weft__waiter, which is
 * shared by all the nodes of one select (one node per case, on as many
 * queues), so a waiter can sit on several channels at once; whoever claims
 * the waiter first (weft__waiter_claim, Go's selectDone CAS) wins the whole
 * operation, the others skip the node.
 *
 * Hand-off: when a sender finds a parked receiver (or a receiver a parked
 * sender) it claims the receiver's waiter under the channel lock, copies the
 * element straight into/out of the node's buffer (bypassing the ring), sets
 * w->data to the winning node and w->index to its case, unlocks and only then
 * readies the fiber. The woken fiber reads w->data: non-NULL means a channel
 * completed its operation (result 0, or -EPIPE from close); NULL means ctx
 * won, and the fiber unhooks its node(s) under the channel lock(s).
 *
 * Lock order: a select locks its channels in address order; every other
 * operation holds at most one channel lock, and no lock is held while a
 * fiber parks or is readied.
 */
#include <stdlib.h>
#include <string.h>
#include <weft/chan.h>

#include "internal.h"
#include "rand.h"

#define SEL_MAX 64
#define ELEM_MAX 65536

struct chan_node {
	struct weft__waiter *w;        /* the parked fiber's (possibly shared) waiter */
	struct chan_node *next, *prev; /* the channel's sendq or recvq */
	void *elem;                    /* send: the value; recv: where it goes (NULL: discard) */
	long case_idx;                 /* select case, -1 for a plain send/recv */
	bool linked;                   /* on a queue (guarded by the channel lock) */
};

struct nodeq {
	struct chan_node *head, *tail;
};

struct weft_chan {
	weft__lock lock;
	bool closed;                   /* guarded by lock */
	size_t elem_size;
	size_t cap;                    /* ring slots; 0 = unbuffered */
	size_t count;                  /* elements in the ring (guarded by lock) */
	size_t sendx, recvx;           /* ring indices (guarded by lock) */
	struct nodeq sendq, recvq;     /* parked senders / receivers (guarded by lock) */
	atomic_long refs;
	_Alignas(16) unsigned char buf[]; /* cap * elem_size bytes */
};

/* ---- wait queues ---------------------------------------------------------- */

static inline void q_push(struct nodeq *q, struct chan_node *n)
{
	n->next = NULL;
	n->prev = q->tail;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	n->linked = true;
}

static inline void q_remove(struct nodeq *q, struct chan_node *n)
{
	if (!n->linked)
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		q->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		q->tail = n->prev;
	n->next = n->prev = NULL;
	n->linked = false;
}

/* The first node whose waiter this caller wins, unlinked; NULL if none.
 * Nodes whose waiter was already won elsewhere (ctx, another select case)
 * are dropped: their owner will find them unlinked. */
static inline struct chan_node *q_claim(struct nodeq *q)
{
	struct chan_node *n;
	while ((n = q->head)) {
		q_remove(q, n);
		if (weft__waiter_claim(n->w))
			return n;
	}
	return NULL;
}

/* ---- element copies ------------------------------------------------------- */

static inline void elem_copy(void *dst, const void *src, size_t size)
{
	/* the common sizes as fixed-size copies: no call into memcpy */
	switch (size) {
	case 8: memcpy(dst, src, 8); break;
	case 4: memcpy(dst, src, 4); break;
	case 16: memcpy(dst, src, 16); break;
	default: memcpy(dst, src, size); break;
	}
}

static inline void *slot(weft_chan *ch, size_t i)
{
	return ch->buf + i * ch->elem_size;
}

/* After a claim under ch->lock: hand the node's result over (w->data tells
 * the fiber a channel won). The caller unlocks, then calls weft__waiter_wake. */
static inline void node_won(struct chan_node *n)
{
	n->w->data = n;
	n->w->index = n->case_idx;
}

/* ---- lifecycle ------------------------------------------------------------ */

int weft_chan_new(size_t elem_size, size_t cap, weft_chan **ret)
{
	if (!ret || elem_size == 0 || elem_size > ELEM_MAX)
		return -EINVAL;
	/* the size below rounds up by 15: keep that from wrapping too */
	if (cap > (SIZE_MAX - sizeof(weft_chan) - 15) / elem_size)
		return -EINVAL;
	weft_chan *ch = aligned_alloc(16, (sizeof(*ch) + cap * elem_size + 15) & ~(size_t)15);
	if (!ch)
		return -ENOMEM;
	memset(ch, 0, sizeof(*ch));
	ch->elem_size = elem_size;
	ch->cap = cap;
	atomic_init(&ch->refs, 1);
	*ret = ch;
	return 0;
}

weft_chan *weft_chan_ref(weft_chan *ch)
{
	if (ch)
		atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
	return ch;
}

weft_chan *weft_chan_unref(weft_chan *ch)
{
	if (ch && atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel) == 1)
		free(ch);
	return NULL;
}

/* ---- the two halves of every operation, under ch->lock ---------------------
 * Each returns 1 when it completed (*res = 0 or -EPIPE, and *wake = a claimed
 * waiter to wake after unlocking, or NULL), 0 when the caller must wait. */

static inline int send_locked(weft_chan *ch, const void *elem, int *res,
			      struct weft__waiter **wake)
{
	*wake = NULL;
	if (WEFT__UNLIKELY(ch->closed)) {
		*res = -EPIPE;
		return 1;
	}
	struct chan_node *n = q_claim(&ch->recvq);
	if (n) { /* a parked receiver: the ring is empty, copy straight to it */
		if (n->elem)
			elem_copy(n->elem, elem, ch->elem_size);
		node_won(n);
		*wake = n->w;
		*res = 0;
		return 1;
	}
	if (ch->count < ch->cap) {
		elem_copy(slot(ch, ch->sendx), elem, ch->elem_size);
		if (++ch->sendx == ch->cap)
			ch->sendx = 0;
		ch->count++;
		*res = 0;
		return 1;
	}
	return 0;
}

static inline int recv_locked(weft_chan *ch, void *elem, int *res, struct weft__waiter **wake)
{
	*wake = NULL;
	struct chan_node *n = q_claim(&ch->sendq);
	if (n) {
		if (ch->cap == 0) { /* unbuffered: straight from the sender */
			if (elem)
				elem_copy(elem, n->elem, ch->elem_size);
		} else {
			/* full ring: take its head, put the sender's value at the
			 * tail, which is the same slot (Go's recv) */
			void *s = slot(ch, ch->recvx);
			if (elem)
				elem_copy(elem, s, ch->elem_size);
			elem_copy(s, n->elem, ch->elem_size);
			if (++ch->recvx == ch->cap)
				ch->recvx = 0;
			ch->sendx = ch->recvx;
		}
		node_won(n);
		*wake = n->w;
		*res = 0;
		return 1;
	}
	if (ch->count > 0) {
		if (elem)
			elem_copy(elem, slot(ch, ch->recvx), ch->elem_size);
		if (++ch->recvx == ch->cap)
			ch->recvx = 0;
		ch->count--;
		*res = 0;
		return 1;
	}
	if (ch->closed) {
		if (elem)
			memset(elem, 0, ch->elem_size); /* Go's zero value */
		*res = -EPIPE;
		return 1;
	}
	return 0;
}

static inline void wake(struct weft__waiter *w, int res)
{
	if (w)
		weft__waiter_wake(w, res);
}

/* ---- send / recv ---------------------------------------------------------- */

/* Park on q until a channel operation or ctx completes. ch->lock is held on
 * entry and released. */
static int park_on(weft_ctx *ctx, weft_chan *ch, struct nodeq *q, void *elem, const char *why)
{
	struct weft_fiber *self = weft__self();
	if (WEFT__UNLIKELY(!self)) {
		weft__lock_release(&ch->lock);
		return -EPERM; /* only a fiber can wait */
	}
	struct weft__waiter w = { .fiber = self };
	struct chan_node n = { .w = &w, .elem = elem, .case_idx = -1 };
	q_push(q, &n);
	weft__lock_release(&ch->lock);
	int r = weft__wait(ctx, &w, why);
	if (w.data)
		return r; /* a channel won: n was unlinked by it */
	weft__lock_acquire(&ch->lock);
	q_remove(q, &n);
	weft__lock_release(&ch->lock);
	return r;
}

static int nil_wait(weft_ctx *ctx)
{
	if (!weft__self())
		return -EPERM;
	struct weft__waiter w;
	weft__waiter_init(&w);
	return weft__wait(ctx, &w, "chan nil");
}

int weft_chan_send(weft_ctx *ctx, weft_chan *ch, const void *elem)
{
	/* "fiber only" is checked where it matters: before parking */
	if (!ch)
		return nil_wait(ctx);
	if (!elem)
		return -EINVAL;
	struct weft__waiter *w;
	int res;
	weft__lock_acquire(&ch->lock);
	if (send_locked(ch, elem, &res, &w)) {
		weft__lock_release(&ch->lock);
		wake(w, 0);
		return res;
	}
	return park_on(ctx, ch, &ch->sendq, (void *)elem, "chan send");
}

int weft_chan_recv(weft_ctx *ctx, weft_chan *ch, void *elem)
{
	/* "fiber only" is checked where it matters: before parking */
	if (!ch)
		return nil_wait(ctx);
	struct weft__waiter *w;
	int res;
	weft__lock_acquire(&ch->lock);
	if (recv_locked(ch, elem, &res, &w)) {
		weft__lock_release(&ch->lock);
		wake(w, 0);
		return res;
	}
	return park_on(ctx, ch, &ch->recvq, elem, "chan recv");
}

int weft_chan_try_send(weft_chan *ch, const void *elem)
{
	if (!ch)
		return -EAGAIN; /* a nil channel is never ready */
	if (!elem)
		return -EINVAL;
	struct weft__waiter *w;
	int res;
	weft__lock_acquire(&ch->lock);
	int done = send_locked(ch, elem, &res, &w);
	weft__lock_release(&ch->lock);
	if (!done)
		return -EAGAIN;
	wake(w, 0);
	return res;
}

int weft_chan_try_recv(weft_chan *ch, void *elem)
{
	if (!ch)
		return -EAGAIN;
	struct weft__waiter *w;
	int res;
	weft__lock_acquire(&ch->lock);
	int done = recv_locked(ch, elem, &res, &w);
	weft__lock_release(&ch->lock);
	if (!done)
		return -EAGAIN;
	wake(w, 0);
	return res;
}

int weft_chan_close(weft_chan *ch)
{
	if (!ch)
		return -EINVAL;
	weft__lock_acquire(&ch->lock);
	if (ch->closed) {
		weft__lock_release(&ch->lock);
		return -EPIPE;
	}
	ch->closed = true;
	/* claim everybody under the lock, wake them after it (Go's glist) */
	struct chan_node *won = NULL, *n;
	while ((n = q_claim(&ch->recvq))) {
		if (n->elem)
			memset(n->elem, 0, ch->elem_size);
		node_won(n);
		n->next = won;
		won = n;
	}
	while ((n = q_claim(&ch->sendq))) {
		node_won(n);
		n->next = won;
		won = n;
	}
	weft__lock_release(&ch->lock);
	while (won) {
		n = won;
		won = n->next; /* read before the wake: n dies with it */
		weft__waiter_wake(n->w, -EPIPE);
	}
	return 0;
}

ssize_t weft_chan_len(weft_chan *ch)
{
	if (!ch)
		return -EINVAL;
	weft__lock_acquire(&ch->lock);
	size_t n = ch->count;
	weft__lock_release(&ch->lock);
	return (ssize_t)n;
}

ssize_t weft_chan_cap(weft_chan *ch)
{
	return ch ? (ssize_t)ch->cap : -EINVAL;
}

bool weft_chan_closed(weft_chan *ch)
{
	if (!ch)
		return false;
	weft__lock_acquire(&ch->lock);
	bool c = ch->closed;
	weft__lock_release(&ch->lock);
	return c;
}

int weft_chan_range(weft_ctx *ctx, weft_chan *ch, int (*fn)(void *elem, void *arg), void *arg,
		    void *elem_buf)
{
	if (!fn)
		return -EINVAL;
	for (;;) {
		int r = weft_chan_recv(ctx, ch, elem_buf);
		if (r == -EPIPE)
			return 0;
		if (r < 0)
			return r;
		r = fn(elem_buf, arg);
		if (r)
			return r;
	}
}

size_t weft_chan_elem_size(weft_chan *ch)
{
	return ch ? ch->elem_size : 0;
}

/* ---- select --------------------------------------------------------------- */

/* A cheap random source: the proc's generator when on a proc (only its own
 * thread touches it), else a per-call seed from the clock. */
static uint64_t *rand_state(uint64_t *local)
{
	struct weft_proc *p = weft__proc();
	if (p)
		return &p->rand;
	*local = (uint64_t)weft__now();
	return local;
}

static void lock_all(weft_chan **order, size_t n)
{
	for (size_t i = 0; i < n; i++)
		weft__lock_acquire(&order[i]->lock);
}

static void unlock_all(weft_chan **order, size_t n)
{
	for (size_t i = n; i-- > 0;)
		weft__lock_release(&order[i]->lock);
}

int weft_select(weft_ctx *ctx, struct weft_sel *cases, size_t n, bool nonblock)
{
	if (n > SEL_MAX || (n && !cases))
		return -EINVAL;
	if (!nonblock && WEFT__UNLIKELY(!weft__self()))
		return -EPERM;

	/* poll order: a uniform shuffle of the non-nil cases (Fisher-Yates) */
	uint8_t poll[SEL_MAX];
	weft_chan *order[SEL_MAX];
	size_t np = 0;
	uint64_t seed, *rs = rand_state(&seed);
	for (size_t i = 0; i < n; i++) {
		if (!cases[i].ch)
			continue;
		if (cases[i].op == WEFT_SEL_SEND && !cases[i].elem)
			return -EINVAL;
		size_t j = weft__rand_below(rs, (uint32_t)np + 1);
		poll[np] = j < np ? poll[j] : 0;
		poll[j] = (uint8_t)i;
		np++;
	}
	/* lock order: distinct channels by address (insertion sort, n <= 64) */
	size_t nl = 0;
	for (size_t k = 0; k < np; k++) {
		weft_chan *c = cases[poll[k]].ch;
		size_t j = nl;
		while (j > 0 && order[j - 1] > c)
			j--;
		if (j > 0 && order[j - 1] == c)
			continue;
		memmove(&order[j + 1], &order[j], (nl - j) * sizeof(order[0]));
		order[j] = c;
		nl++;
	}

	/* pass 1: the first ready case in poll order */
	lock_all(order, nl);
	for (size_t k = 0; k < np; k++) {
		struct weft_sel *c = &cases[poll[k]];
		struct weft__waiter *w;
		int res, done = c->op == WEFT_SEL_SEND ? send_locked(c->ch, c->elem, &res, &w)
						       : recv_locked(c->ch, c->elem, &res, &w);
		if (done) {
			unlock_all(order, nl);
			wake(w, 0);
			c->res = res;
			return poll[k];
		}
	}
	if (nonblock) {
		unlock_all(order, nl);
		return -EAGAIN;
	}

	/* pass 2: one waiter on every case's queue, in case order */
	struct weft__waiter w;
	weft__waiter_init(&w);
	struct chan_node nodes[SEL_MAX];
	for (size_t i = 0; i < n; i++) {
		weft_chan *ch = cases[i].ch;
		if (!ch)
			continue;
		nodes[i] = (struct chan_node){ .w = &w, .elem = cases[i].elem, .case_idx = (long)i };
		q_push(cases[i].op == WEFT_SEL_SEND ? &ch->sendq : &ch->recvq, &nodes[i]);
	}
	unlock_all(order, nl);
	int r = weft__wait(ctx, &w, "select");
	struct chan_node *won = w.data;

	/* pass 3: off every other queue */
	if (np > 1 || !won) {
		lock_all(order, nl);
		for (size_t i = 0; i < n; i++) {
			weft_chan *ch = cases[i].ch;
			if (ch && &nodes[i] != won)
				q_remove(cases[i].op == WEFT_SEL_SEND ? &ch->sendq : &ch->recvq, &nodes[i]);
		}
		unlock_all(order, nl);
	}
	if (!won)
		return r; /* ctx's error */
	cases[won->case_idx].res = r;
	return (int)won->case_idx;
}
