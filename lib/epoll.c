/* SPDX-License-Identifier: MIT */
/* epoll.c — the epoll back end's core: each proc's epoll set, its eventfd,
 * waiting for readiness and reaping events (see epoll.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "epoll.h"
#include "proc.h"

#define EP_EFD UINT64_MAX /* the event's data for the proc's eventfd */
#define EP_BATCH 64

int weft__ep_setup(struct weft_proc *p)
{
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0)
		return -errno;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EP_EFD };
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->efd, &ev) < 0)
		return -errno;
	return 0;
}

void weft__ep_close(struct weft_proc *p)
{
	if (p->epfd >= 0)
		close(p->epfd);
	p->epfd = -EBADF;
	free(p->ep_slots);
	p->ep_slots = NULL;
	p->ep_nslots = 0;
}

static uint32_t wanted(const struct weft__ep_slot *sl)
{
	uint32_t ev = 0;
	for (const struct weft__ep_wait *w = sl->head; w; w = w->next)
		ev |= w->events;
	return ev;
}

/* Register fd for what its waiters want, once. The slot's idea of whether
 * the fd is in the set can be stale both ways (the kernel drops a closed
 * file; the fd number is reused), so each answer corrects it. */
static int arm(struct weft_proc *p, int fd, struct weft__ep_slot *sl)
{
	struct epoll_event ev = { .events = wanted(sl) | EPOLLONESHOT, .data.u64 = (uint64_t)fd };
	for (int tries = 0; tries < 3; tries++) {
		int op = sl->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
		if (epoll_ctl(p->epfd, op, fd, &ev) == 0) {
			sl->added = true;
			return 0;
		}
		if (errno == ENOENT && sl->added)
			sl->added = false;
		else if (errno == EEXIST && !sl->added)
			sl->added = true;
		else
			return -errno;
	}
	return -EIO;
}

static void unlink_wait(struct weft_proc *p, struct weft__ep_slot *sl, struct weft__ep_wait *w)
{
	for (struct weft__ep_wait **pp = &sl->head; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	w->linked = false;
	p->inflight--;
	atomic_fetch_add_explicit(&p->st.io_done, 1, memory_order_relaxed);
}

static int grow_slots(struct weft_proc *p, int fd)
{
	if ((size_t)fd < p->ep_nslots)
		return 0;
	size_t n = p->ep_nslots ? p->ep_nslots : 64;
	while (n <= (size_t)fd)
		n *= 2;
	struct weft__ep_slot *s = realloc(p->ep_slots, n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s + p->ep_nslots, 0, (n - p->ep_nslots) * sizeof(*s));
	p->ep_slots = s;
	p->ep_nslots = n;
	return 0;
}

int weft__ep_fd_wait(weft_ctx *ctx, int fd, uint32_t events)
{
	struct weft_proc *p = weft__proc();
	if (!p || !p->cur)
		return -EPERM;
	if (fd < 0)
		return -EBADF;
	int r = weft_ctx_err(ctx);
	if (r < 0)
		return r;
	if ((r = grow_slots(p, fd)) < 0)
		return r;
	struct weft_fiber *f = p->cur;
	struct weft__ep_slot *sl = &p->ep_slots[fd];
	struct weft__ep_wait op = { .events = events, .linked = true, .next = sl->head };
	weft__waiter_init(&op.w);
	sl->head = &op;
	p->inflight++;
	atomic_fetch_add_explicit(&p->st.io_sub, 1, memory_order_relaxed);
	if ((r = arm(p, fd, sl)) < 0) {
		unlink_wait(p, sl, &op);
		/* epoll refuses regular files and directories: they are always ready */
		return r == -EPERM ? (int)(events & (EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM)) : r;
	}
	if (!f->pinned)
		atomic_store_explicit(&f->home, p, memory_order_release);
	r = weft__wait(ctx, &op.w, "io");
	/* on p again (our home): the event or ctx won; unhook if ctx did */
	p = weft__proc();
	if (op.linked) {
		sl = &p->ep_slots[fd];
		unlink_wait(p, sl, &op);
		/* nobody else waits: take the fd out, so that no armed registration
		 * outlives the wait; else the set keeps what the others want */
		if (!sl->head) {
			if (sl->added)
				epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
			sl->added = false;
		}
	}
	if (!f->pinned)
		atomic_store_explicit(&f->home, NULL, memory_order_release);
	return r < 0 ? r : (int)op.revents;
}

/* End w's wait with rev (already unhooked), unless ctx won it: then the
 * fiber, on its way back to this proc, sees it unhooked. */
static void fire(struct weft__ep_wait *w, uint32_t rev)
{
	w->revents = rev;
	if (weft__waiter_claim(&w->w)) {
		struct weft_fiber *f = w->w.fiber;
		if (!f->pinned)
			atomic_store_explicit(&f->home, NULL, memory_order_release);
		weft__waiter_wake(&w->w, 0);
	}
}

/* fd reported rev: end the waits it satisfies, re-arm for the rest. */
static void fd_ready(struct weft_proc *p, int fd, uint32_t rev)
{
	if (fd < 0 || (size_t)fd >= p->ep_nslots)
		return;
	struct weft__ep_slot *sl = &p->ep_slots[fd];
	struct weft__ep_wait *w = sl->head, *next;
	for (; w; w = next) {
		next = w->next;
		if (!(rev & (w->events | EPOLLERR | EPOLLHUP)))
			continue;
		unlink_wait(p, sl, w);
		fire(w, rev);
	}
	/* one-shot: it fired, so it is disarmed; arm it again for the others */
	if (sl->head && arm(p, fd, sl) < 0) {
		/* cannot watch it any more (closed?): wake them to find out */
		for (w = sl->head; w; w = next) {
			next = w->next;
			unlink_wait(p, sl, w);
			fire(w, EPOLLERR);
		}
	}
}

static unsigned handle(struct weft_proc *p, struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u64 == EP_EFD) {
			eventfd_t v;
			eventfd_read(p->efd, &v); /* non-blocking: empty is fine */
			continue;
		}
		fd_ready(p, (int)evs[i].data.u64, evs[i].events);
	}
	return n > 0 ? (unsigned)n : 0;
}

unsigned weft__ep_reap(struct weft_proc *p)
{
	if (!p->inflight)
		return 0; /* nothing to collect: spare the syscall */
	struct epoll_event evs[EP_BATCH];
	return handle(p, evs, epoll_wait(p->epfd, evs, EP_BATCH, 0));
}

void weft__ep_wait(struct weft_proc *p, int64_t until)
{
	int64_t next = atomic_load(&p->next_timer);
	struct epoll_event evs[EP_BATCH];
	struct timespec ts, *tsp = NULL;
	if (next < until)
		until = next;
	if (until != INT64_MAX) {
		int64_t d = until - weft__now();
		if (d < 0)
			d = 0;
		ts.tv_sec = d / 1000000000;
		ts.tv_nsec = d % 1000000000;
		tsp = &ts;
	}
	/* epoll_pwait2 (5.11) for nanoseconds; a seccomp profile older than it
	 * answers EPERM or ENOSYS: then milliseconds, rounded up */
	int n = p->sched->test.no_epoll_pwait2 ? -1 : epoll_pwait2(p->epfd, evs, EP_BATCH, tsp, NULL);
	if (n < 0 && (p->sched->test.no_epoll_pwait2 || errno == ENOSYS || errno == EPERM)) {
		int ms = -1;
		if (tsp) {
			int64_t m = (ts.tv_sec * 1000000000 + ts.tv_nsec + 999999) / 1000000;
			ms = m > 1000000000 ? 1000000000 : (int)m;
		}
		n = epoll_wait(p->epfd, evs, EP_BATCH, ms);
	}
	handle(p, evs, n);
}
