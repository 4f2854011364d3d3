/* SPDX-License-Identifier: MIT */
/* ring.c — each proc's io_uring: set-up and feature probes, submitting the
 * prepared SQEs, reaping completions, the cross-proc wake-up (MSG_RING, or
 * the eventfd the ring keeps a read on) and waiting in the ring.
 *
 * These are the scheduler's only doors to the I/O back end: under the epoll
 * back end (sched->epoll) they hand over to epoll.c, and there is never an
 * SQE to submit.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "epoll.h"
#include "proc.h"

struct io_uring_sqe *weft__sqe(struct weft_proc *p)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
	while (!sqe) {
		weft__ring_flush(p);
		sqe = io_uring_get_sqe(&p->ring);
	}
	p->sq_pending++;
	return sqe;
}

/* The prepared SQEs are about to go to the kernel. */
static void count_submitted(struct weft_proc *p)
{
	atomic_fetch_add_explicit(&p->st.io_sub, p->sq_pending, memory_order_relaxed);
	p->sq_pending = 0;
}

/* Submit the prepared SQEs (and with events, collect deferred completions). */
int weft__ring_submit(struct weft_proc *p, bool events)
{
	if (p->sched->epoll)
		return 0;
	count_submitted(p);
	int r = events ? io_uring_submit_and_get_events(&p->ring) : io_uring_submit(&p->ring);
	return r < 0 ? r : 0;
}

int weft__ring_flush(struct weft_proc *p)
{
	return p->sq_pending ? weft__ring_submit(p, false) : 0;
}

static void arm_eventfd(struct weft_proc *p)
{
	struct io_uring_sqe *sqe = weft__sqe(p);
	io_uring_prep_read(sqe, p->efd, &p->efd_buf, sizeof(p->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, WEFT__UD_EVENTFD);
}

unsigned weft__ring_reap(struct weft_proc *p)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	if (p->sched->epoll)
		return weft__ep_reap(p);
	io_uring_for_each_cqe(&p->ring, head, cqe) {
		uint64_t ud = cqe->user_data;
		int res = cqe->res;
		n++;
		if (ud == WEFT__UD_WAKE || ud == WEFT__UD_IGNORE)
			continue;
		if (ud == WEFT__UD_EVENTFD) {
			arm_eventfd(p);
		} else if (ud & 1) {
			/* a MSG_RING wake-up failed: fall back to the eventfd */
			eventfd_write(((struct weft_proc *)(uintptr_t)(ud & ~(uint64_t)1))->efd, 1);
		} else {
			atomic_fetch_add_explicit(&p->st.io_done, 1, memory_order_relaxed);
			weft__io_complete(p, (struct weft__io_op *)(uintptr_t)ud, res);
		}
	}
	io_uring_cq_advance(&p->ring, n);
	return n;
}

void weft__ring_send_wake(struct weft_proc *self, struct weft_proc *q)
{
	struct weft_sched *s = q->sched;
	/* (never under epoll: feat.msg_ring is false there) */
	if (self && self->sched == s && s->feat.msg_ring && !s->test.no_msg_ring) {
		struct io_uring_sqe *sqe = weft__sqe(self);
		io_uring_prep_msg_ring(sqe, q->ring.ring_fd, 0, WEFT__UD_WAKE, 0);
		/* our own completion only matters if it failed: then use the eventfd */
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)q | 1);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		weft__ring_flush(self);
		STAT_INC(self, wake_msg);
		return;
	}
	eventfd_write(q->efd, 1);
	atomic_fetch_add_explicit(&q->st.wake_efd, 1, memory_order_relaxed); /* not our proc's */
}

/* Submit what is prepared and wait in the ring for a completion (a wake-up is
 * one), until the next timer or `until` (INT64_MAX: no limit). */
void weft__ring_wait(struct weft_proc *p, int64_t until)
{
	int64_t next = atomic_load(&p->next_timer);
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	if (p->sched->epoll) {
		weft__ep_wait(p, until);
		return;
	}
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
	count_submitted(p);
	io_uring_submit_and_wait_timeout(&p->ring, &cqe, 1, tsp, NULL);
}

static int uring_setup(struct weft_proc *p);

/* Proc 0 sets up first, alone: under AUTO its io_uring_setup decides the
 * back end for all (the others start after it and read sched->epoll). */
int weft__ring_setup(struct weft_proc *p)
{
	struct weft_sched *s = p->sched;
	if (s->epoll)
		return weft__ep_setup(p);
	int r = uring_setup(p);
	if (r < 0 && p->id == 0 && s->opts.backend == WEFT_BACKEND_AUTO) {
		s->feat.io_uring_error = r;
		s->epoll = true;
		return weft__ep_setup(p);
	}
	return r;
}

static int uring_setup(struct weft_proc *p)
{
	struct weft_sched *s = p->sched;
	unsigned entries = s->opts.ring_entries ? s->opts.ring_entries : 256;
	struct io_uring_params prm;
	/* best first; SUBMIT_ALL (5.18) keeps a batch going past a bad entry */
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		0,
	};
	int r = -EINVAL;
	if (s->opts.sqpoll) {
		memset(&prm, 0, sizeof(prm));
		prm.flags = IORING_SETUP_SQPOLL;
		prm.sq_thread_idle = 50;
		r = io_uring_queue_init_params(entries, &p->ring, &prm);
		if (r == 0)
			p->ring_flags = prm.flags;
	} else {
		for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
			memset(&prm, 0, sizeof(prm));
			prm.flags = tries[i];
			r = io_uring_queue_init_params(entries, &p->ring, &prm);
			if (r == 0) {
				p->ring_flags = tries[i];
				break;
			}
		}
	}
	if (r < 0)
		return r;
	p->ring_ok = true;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0)
		return -errno;
	arm_eventfd(p);
	weft__ring_flush(p);
	return 0;
}

void weft__ring_probe(struct weft_sched *s)
{
	s->feat.backend = s->epoll ? WEFT_BACKEND_EPOLL : WEFT_BACKEND_IO_URING;
	if (s->epoll)
		return; /* no io_uring feature: all false */
	struct io_uring_probe *pr = io_uring_get_probe();
	if (pr) {
		s->feat.msg_ring = io_uring_opcode_supported(pr, IORING_OP_MSG_RING);
		s->feat.waitid = pr->last_op >= 50 && io_uring_opcode_supported(pr, 50);
		s->feat.futex = pr->last_op >= 51 && io_uring_opcode_supported(pr, 51);
		io_uring_free_probe(pr);
	}
	if (s->test.no_waitid_op)
		s->feat.waitid = false;
	unsigned flags = s->procs[0]->ring_flags; /* the others tried the same list */
	s->feat.single_issuer = flags & IORING_SETUP_SINGLE_ISSUER;
	s->feat.defer_taskrun = flags & IORING_SETUP_DEFER_TASKRUN;
	s->feat.coop_taskrun = flags & IORING_SETUP_COOP_TASKRUN;
	s->feat.sqpoll = flags & IORING_SETUP_SQPOLL;
}
