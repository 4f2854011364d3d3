/* SPDX-License-Identifier: MIT */
/* prof_cpu.c — the CPU profile (weft/prof.h): SIGPROF from each proc thread's CPU-time
 * timer, the interrupted stack unwound by its DWARF CFI (prof_unwind.c) into a per-proc
 * ring, a collector fiber moving samples into the pprof writer.
 *
 * Signal safety: the handler runs on the proc's alternate signal stack (SA_ONSTACK; every
 * proc thread has one for stack overflows), touches only its proc's ring (single producer:
 * the proc's own thread; single consumer: the collector), never allocates, and takes no
 * lock that a thread it interrupts could hold (prof_unwind.c says why: no loader lock).
 * Stopping: the handler announces itself (busy = 1) before it looks at `on`; the stop
 * clears `on` then waits for busy to fall, so no handler writes into a ring being freed
 * (Dekker's pattern, sequentially consistent on both sides). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "proc.h"

#define RING 512 /* samples per proc between two drains (20 ms: 1000 Hz fits twice) */
#define DRAIN_NS (20 * WEFT_MSEC)

struct sample {
	uint8_t depth, nlabels;
	char fiber[32];
	char key[WEFT_LABELS_MAX][WEFT_LABEL_KEY_MAX + 1];
	char val[WEFT_LABELS_MAX][WEFT_LABEL_VALUE_MAX + 1];
	uintptr_t pcs[WEFT__PROF_DEPTH];
};

struct pring {
	atomic_uint head, tail;        /* head: the handler's next slot; tail: the collector's */
	atomic_int busy;               /* a handler is inside */
	uintptr_t tlo, thi;            /* the proc thread's own stack */
	timer_t timer;
	bool has_timer;
	struct sample s[RING];
};

/* The running profile (one per process: one SIGPROF handler). */
static struct {
	atomic_int state;              /* 0 idle, 1 starting/running/stopping: owned */
	atomic_bool on;                /* handlers record */
	struct weft_sched *sched;
	struct pring *rings[WEFT__MAX_PROCS];
	unsigned nprocs, hz;
	atomic_uint_fast64_t lost;
	int64_t t0;
	struct weft__pprof *pp;
	int nsamples;
	weft_event stopped;            /* the collector's end */
	bool collecting;
	atomic_bool stop;
} cpu;

static atomic_bool handler_installed;

WEFT__NO_SAN static void record(struct pring *r, struct weft_proc *p, const ucontext_t *uc)
{
	unsigned h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (h - atomic_load_explicit(&r->tail, memory_order_acquire) >= RING) {
		atomic_fetch_add_explicit(&cpu.lost, 1, memory_order_relaxed);
		return;
	}
	struct sample *s = &r->s[h % RING];
	uintptr_t sp;
#if defined(__x86_64__)
	sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	sp = (uintptr_t)uc->uc_mcontext.sp;
#else
	sp = 0;
#endif
	struct weft_fiber *f = p->cur;
	uintptr_t lo = 0, hi = 0;
	s->fiber[0] = 0;
	s->nlabels = 0;
	if (f && sp >= (uintptr_t)f->stack.lo && sp < (uintptr_t)f->stack.hi) {
		lo = (uintptr_t)f->stack.lo;
		hi = (uintptr_t)f->stack.hi - WEFT__STACK_HEADER;
		memcpy(s->fiber, f->name, sizeof(s->fiber));
		s->fiber[sizeof(s->fiber) - 1] = 0;
		if (!f->labels.busy) {
			s->nlabels = f->labels.n;
			memcpy(s->key, f->labels.key, sizeof(s->key));
			memcpy(s->val, f->labels.val, sizeof(s->val));
		}
	} else if (sp >= r->tlo && sp < r->thi) { /* the scheduler loop, on the thread's stack */
		lo = r->tlo;
		hi = r->thi;
	}
	s->depth = (uint8_t)weft__unwind_signal(uc, lo, hi, s->pcs, WEFT__PROF_DEPTH);
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

static void on_sigprof(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	struct weft_proc *p = weft__proc();

	if (p && p->id < WEFT__MAX_PROCS) {
		struct pring *r = atomic_load_explicit((struct pring *_Atomic *)&cpu.rings[p->id],
						       memory_order_acquire);
		if (r) {
			atomic_store(&r->busy, 1);
			if (atomic_load(&cpu.on) && p->sched == cpu.sched)
				record(r, p, ucv);
			atomic_store(&r->busy, 0);
		}
	}
	errno = saved;
}

static int install_handler(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigprof, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART };

	if (atomic_load(&handler_installed))
		return 0;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPROF, &sa, NULL) < 0)
		return -errno;
	atomic_store(&handler_installed, true);
	return 0;
}

/* ---- per proc: the timer, made on the proc's own thread ------------------------------ */

struct arm { struct pring *r; unsigned hz; int err; weft_wg *wg; };

static void arm_main(void *arg)
{
	struct arm *a = arg;
	struct pring *r = a->r;
	pthread_attr_t at;
	void *addr;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &at) == 0) {
		if (pthread_attr_getstack(&at, &addr, &size) == 0) {
			r->tlo = (uintptr_t)addr;
			r->thi = (uintptr_t)addr + size;
		}
		pthread_attr_destroy(&at);
	}
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGPROF };
	ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	long ns = 1000000000L / a->hz;
	struct itimerspec its = { .it_interval = { ns / 1000000000L, ns % 1000000000L },
				  .it_value = { ns / 1000000000L, ns % 1000000000L } };
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &r->timer) < 0) {
		a->err = -errno;
	} else {
		r->has_timer = true;
		if (timer_settime(r->timer, 0, &its, NULL) < 0)
			a->err = -errno;
	}
	weft_wg_done(a->wg);
}

/* ---- the collector ------------------------------------------------------------------- */

static void drain(void)
{
	for (unsigned i = 0; i < cpu.nprocs; i++) {
		struct pring *r = cpu.rings[i];
		unsigned t = atomic_load_explicit(&r->tail, memory_order_relaxed);
		unsigned h = atomic_load_explicit(&r->head, memory_order_acquire);
		for (; t != h; t++) {
			const struct sample *s = &r->s[t % RING];
			struct weft__pprof_label l[WEFT_LABELS_MAX + 1];
			int nl = 0;
			int64_t v[2] = { 1, 1000000000 / cpu.hz };
			if (s->fiber[0])
				l[nl++] = (struct weft__pprof_label){ "fiber", s->fiber };
			for (int k = 0; k < s->nlabels && k < WEFT_LABELS_MAX; k++)
				l[nl++] = (struct weft__pprof_label){ s->key[k], s->val[k] };
			weft__pprof_sample(cpu.pp, s->pcs, s->depth, s->fiber[0] ? NULL : "(scheduler)",
					   v, l, nl);
			cpu.nsamples++;
		}
		atomic_store_explicit(&r->tail, t, memory_order_release);
	}
}

static void collector_main(void *arg)
{
	while (!atomic_load(&cpu.stop)) {
		weft_sleep(NULL, DRAIN_NS);
		drain();
	}
	weft_event_set(&cpu.stopped, 1);
}

/* ---- start and stop ------------------------------------------------------------------ */

static void release(void)
{
	atomic_store(&cpu.on, false);
	for (unsigned i = 0; i < cpu.nprocs; i++) {
		struct pring *r = cpu.rings[i];
		if (!r)
			continue;
		if (r->has_timer)
			timer_delete(r->timer);
		atomic_store((struct pring *_Atomic *)&cpu.rings[i], NULL);
		while (atomic_load(&r->busy))
			weft__cpu_relax();
		free(r);
	}
	weft__pprof_free(cpu.pp);
	cpu.pp = NULL;
	cpu.sched = NULL;
	cpu.nprocs = 0;
	atomic_store(&cpu.state, 0);
}

int weft_prof_cpu_start(unsigned hz)
{
	static const char *const types[][2] = { { "samples", "count" }, { "cpu", "nanoseconds" } };
	struct weft_proc *p = weft__proc();
	int exp = 0, r;

	if (!p || !p->cur)
		return -EPERM;
	if (hz > WEFT_PROF_HZ_MAX)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&cpu.state, &exp, 1))
		return -EBUSY;
	cpu.hz = hz ? hz : WEFT_PROF_HZ_DEFAULT;
	cpu.sched = p->sched;
	cpu.nprocs = p->sched->nprocs;
	cpu.nsamples = 0;
	atomic_store(&cpu.lost, 0);
	atomic_store(&cpu.stop, false);
	cpu.t0 = weft_now();
	cpu.pp = weft__pprof_new(types, 2, "cpu", "nanoseconds", 1000000000 / cpu.hz);
	if (!cpu.pp) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = weft__unwind_prepare()) < 0 || (r = install_handler()) < 0)
		goto fail;
	struct arm arms[WEFT__MAX_PROCS];
	weft_wg wg = WEFT_WG_INIT;
	for (unsigned i = 0; i < cpu.nprocs; i++) {
		struct pring *ring = calloc(1, sizeof(*ring));
		if (!ring) {
			r = -ENOMEM;
			goto fail;
		}
		cpu.rings[i] = ring;
	}
	atomic_store(&cpu.on, true);
	weft_wg_add(&wg, (int)cpu.nprocs);
	for (unsigned i = 0; i < cpu.nprocs; i++) {
		arms[i] = (struct arm){ .r = cpu.rings[i], .hz = cpu.hz, .wg = &wg };
		if (weft_go_opts(arm_main, &arms[i], &(struct weft_go_opts){ .name = "prof-arm",
			.on_proc = true, .proc = i }) < 0) {
			arms[i].err = -ENOMEM;
			weft_wg_done(&wg);
		}
	}
	weft_wg_wait(NULL, &wg);
	r = 0;
	for (unsigned i = 0; i < cpu.nprocs; i++)
		if (arms[i].err)
			r = arms[i].err;
	if (r < 0)
		goto fail;
	weft_event_init(&cpu.stopped);
	if (weft_go_opts(collector_main, NULL, &(struct weft_go_opts){ .name = "prof-cpu" }) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	cpu.collecting = true;
	return 0;
fail:
	release();
	return r;
}

int weft_prof_cpu_stop(void **ret_data, size_t *ret_len)
{
	struct weft_proc *p = weft__proc();
	int r;

	if (!p || !p->cur)
		return -EPERM;
	if (!ret_data || !ret_len)
		return -EINVAL;
	if (atomic_load(&cpu.state) != 1 || cpu.sched != p->sched || !cpu.collecting)
		return -ENOENT;
	cpu.collecting = false; /* one stop at a time */
	atomic_store(&cpu.stop, true);
	weft_event_wait(NULL, &cpu.stopped);
	atomic_store(&cpu.on, false);
	for (unsigned i = 0; i < cpu.nprocs; i++) { /* stop the timers, let handlers leave */
		struct pring *ring = cpu.rings[i];
		if (ring->has_timer)
			timer_delete(ring->timer);
		ring->has_timer = false;
		while (atomic_load(&ring->busy))
			weft__cpu_relax();
	}
	drain();
	weft__pprof_set_time(cpu.pp, 0, weft_now() - cpu.t0); /* time: kept from the start */
	int n = cpu.nsamples;
	struct weft__pprof *pp = cpu.pp;
	cpu.pp = NULL;
	r = weft__pprof_finish(pp, ret_data, ret_len);
	release();
	return r < 0 ? r : n;
}

uint64_t weft_prof_cpu_lost(void)
{
	return atomic_load(&cpu.lost);
}
