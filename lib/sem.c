/* SPDX-License-Identifier: MIT */
/* sem.c — weighted semaphore (golang.org/x/sync/semaphore).
 *
 * Waiters queue FIFO with their weight in w->index. A release grants units
 * to the head waiters while they fit and stops at the first that does not:
 * a big request blocks the smaller ones behind it, so it cannot starve.
 * Units are granted by the releaser (cur is raised for the waiter before it
 * is fired), so a woken acquirer already owns them. A waiter whose ctx won
 * is skipped and its units are not taken; one that leaves the head of the
 * queue re-runs the grant loop, since the next ones may fit now.
 */
#include "internal.h"

#define SLOCK(s) ((weft__lock *)&(s)->lock)
#define Q(s) ((struct weft__waitq *)&(s)->head)

void weft_sem_init(weft_sem *s, long size)
{
	*s = (weft_sem)WEFT_SEM_INIT(size);
}

/* Under the lock. */
static void grant(weft_sem *s)
{
	struct weft__waiter *w;
	while ((w = Q(s)->head) && s->size - s->cur >= w->index) {
		weft__waitq_pop(Q(s));
		s->cur += w->index;
		if (!weft__waiter_fire(w, 0))
			s->cur -= w->index; /* its ctx won: it takes nothing */
	}
}

int weft_sem_try_acquire(weft_sem *s, long n)
{
	if (!s || n < 0)
		return -EINVAL;
	int r = -EBUSY;
	weft__lock_acquire(SLOCK(s));
	if (s->size - s->cur >= n && !Q(s)->head) {
		s->cur += n;
		r = 0;
	}
	weft__lock_release(SLOCK(s));
	return r;
}

int weft_sem_acquire(weft_ctx *ctx, weft_sem *s, long n)
{
	if (!s || n < 0 || n > s->size)
		return -EINVAL;
	int r = weft_sem_try_acquire(s, n);
	if (r != -EBUSY)
		return r;
	if (!weft__self())
		return -EPERM;
	struct weft__waiter w;
	weft__waiter_init(&w);
	w.index = n;
	weft__lock_acquire(SLOCK(s));
	if (s->size - s->cur >= n && !Q(s)->head) { /* freed since the try */
		s->cur += n;
		weft__lock_release(SLOCK(s));
		return 0;
	}
	weft__waitq_push(Q(s), &w);
	weft__lock_release(SLOCK(s));
	r = weft__wait(ctx, &w, "sem");
	if (r >= 0)
		weft__lock_barrier(SLOCK(s));
	if (r < 0) {
		weft__lock_acquire(SLOCK(s));
		bool was_head = Q(s)->head == &w;
		weft__waitq_remove(Q(s), &w);
		if (was_head)
			grant(s);
		weft__lock_release(SLOCK(s));
	}
	return r;
}

int weft_sem_release(weft_sem *s, long n)
{
	if (!s || n < 0)
		return -EINVAL;
	int r = 0;
	weft__lock_acquire(SLOCK(s));
	if (n > s->cur) {
		r = -EINVAL;
	} else {
		s->cur -= n;
		grant(s);
	}
	weft__lock_release(SLOCK(s));
	return r;
}
