/* SPDX-License-Identifier: MIT */
/* run.c — weft_run: the scheduler's set-up, its procs' threads and teardown;
 * introspection (ids, names, stats, features, the fiber dump).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "epoll.h"
#include "proc.h"
#include "trace.h"

#define tls_proc weft__tls_proc

/* ---- procs: setup and teardown ------------------------------------------------------- */

static int proc_start(struct weft_proc *p)
{
	tls_proc = p;
	p->cpu_clock_ok = pthread_getcpuclockid(pthread_self(), &p->cpu_clock) == 0;
	weft__ctx_init_thread(&p->g0);
	weft__stack_sigaltstack_setup();
	int r = weft__stack_cache_new(p->sched->stacks, &p->stack_cache);
	if (r == 0)
		r = weft__ring_setup(p);
	return r;
}

static void proc_stop(struct weft_proc *p)
{
	if (p->stack_cache)
		weft__stack_cache_free(p->stack_cache);
	p->stack_cache = NULL;
	if (p->ring_ok)
		io_uring_queue_exit(&p->ring);
	p->ring_ok = false;
	weft__ep_close(p);
	if (p->efd >= 0)
		close(p->efd);
	p->efd = -EBADF;
	tls_proc = NULL;
}

static void *proc_thread(void *arg)
{
	struct weft_proc *p = arg;
	struct weft_sched *s = p->sched;
	int r = proc_start(p);
	pthread_mutex_lock(&s->start_lock);
	if (r < 0 && !s->start_err)
		s->start_err = r;
	s->started++;
	pthread_cond_broadcast(&s->start_cond);
	while (s->started != UINT32_MAX && !s->start_err)
		pthread_cond_wait(&s->start_cond, &s->start_lock);
	r = s->start_err;
	pthread_mutex_unlock(&s->start_lock);
	if (r == 0)
		weft__proc_loop(p);
	/* rings and eventfds are closed by weft_run after every proc has
	 * stopped: another proc may still be waking this one */
	return NULL;
}

static void sched_free(struct weft_sched *s)
{
	if (!s)
		return;
	weft__trace_free(s);
	for (unsigned i = 0; s->procs && i < s->nprocs; i++) {
		if (s->procs[i])
			free(s->procs[i]->heap);
		free(s->procs[i]);
	}
	free(s->procs);
	if (s->stacks)
		weft__stack_pool_free(s->stacks);
	while (s->gq_chunks) { /* fibers left queued when the scheduler stopped */
		struct weft__fiber_chunk *c = s->gq_chunks;
		s->gq_chunks = c->next;
		free(c);
	}
	pthread_mutex_destroy(&s->gq_lock);
	pthread_mutex_destroy(&s->start_lock);
	pthread_cond_destroy(&s->start_cond);
	pthread_mutex_destroy(&s->blocking_lock);
	free(s);
}

const char *weft__fiber_name_of(const void *header)
{
	const struct weft_fiber *f = header;
	return f->name;
}

static struct weft_sched *sched_new(const struct weft_opts *opts, const struct weft__test_opts *t)
{
	struct weft_sched *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (opts)
		s->opts = *opts;
	if (t)
		s->test = *t;
	s->epoll = s->opts.backend == WEFT_BACKEND_EPOLL;
	s->nprocs = s->opts.procs ? s->opts.procs : (unsigned)get_nprocs();
	if (s->nprocs > WEFT__MAX_PROCS)
		s->nprocs = WEFT__MAX_PROCS;
	atomic_store(&s->next_id, 1);
	pthread_mutex_init(&s->gq_lock, NULL);
	pthread_mutex_init(&s->start_lock, NULL);
	pthread_cond_init(&s->start_cond, NULL);
	pthread_mutex_init(&s->blocking_lock, NULL);
	s->procs = calloc(s->nprocs, sizeof(*s->procs));
	if (!s->procs)
		goto fail;
	for (unsigned i = 0; i < s->nprocs; i++) {
		struct weft_proc *p = aligned_alloc(64, (sizeof(*p) + 63) & ~(size_t)63);
		if (!p)
			goto fail;
		memset(p, 0, sizeof(*p));
		p->sched = s;
		p->id = i;
		p->solo = s->nprocs == 1;
		p->efd = -EBADF;
		p->epfd = -EBADF;
		p->rand = i; /* any seed will do (rand.h) */
		atomic_store(&p->next_timer, INT64_MAX);
		s->procs[i] = p;
	}
	if (weft__stack_pool_new(&s->stacks, s->opts.stack_size, s->opts.stack_mode) < 0)
		goto fail;
	return s;
fail:
	sched_free(s);
	return NULL;
}

int weft_run(weft_fn main_fn, void *arg, const struct weft_opts *opts)
{
	return weft__run_test(main_fn, arg, opts, NULL);
}

const char *weft_backend_name(enum weft_backend b)
{
	switch (b) {
	case WEFT_BACKEND_AUTO:
		return "auto";
	case WEFT_BACKEND_IO_URING:
		return "io_uring";
	case WEFT_BACKEND_EPOLL:
		return "epoll";
	}
	return "?";
}

/* opts->backend, else WEFT_BACKEND from the environment (for tests and
 * containers), else AUTO. -EINVAL for a value neither knows. */
static int backend_wanted(const struct weft_opts *opts, enum weft_backend *ret)
{
	*ret = opts ? opts->backend : WEFT_BACKEND_AUTO;
	if (*ret > WEFT_BACKEND_EPOLL)
		return -EINVAL;
	const char *env = getenv("WEFT_BACKEND");
	if (*ret != WEFT_BACKEND_AUTO || !env || !*env)
		return 0;
	if (strcmp(env, "epoll") == 0)
		*ret = WEFT_BACKEND_EPOLL;
	else if (strcmp(env, "io_uring") == 0)
		*ret = WEFT_BACKEND_IO_URING;
	else if (strcmp(env, "auto") != 0)
		return -EINVAL;
	return 0;
}

int weft__run_test(weft_fn main_fn, void *arg, const struct weft_opts *opts,
		   const struct weft__test_opts *t)
{
	if (!main_fn)
		return -EINVAL;
	if (tls_proc)
		return -EBUSY;
	struct weft_opts o = opts ? *opts : (struct weft_opts){ 0 };
	int r = backend_wanted(opts, &o.backend);
	if (r < 0)
		return r;
	struct weft_sched *s = sched_new(&o, t);
	if (!s)
		return -ENOMEM;
	weft__stack_overflow_handler_install(weft__fiber_name_of);
	struct weft_proc *p0 = s->procs[0];
	r = proc_start(p0);
	p0->now_cache = weft__now();
	unsigned nthreads = 0;
	s->started = 1;
	for (unsigned i = 1; r == 0 && i < s->nprocs; i++) {
		if (pthread_create(&s->procs[i]->thread, NULL, proc_thread, s->procs[i]) != 0) {
			r = -EAGAIN;
			break;
		}
		nthreads++;
	}
	pthread_mutex_lock(&s->start_lock);
	while (s->started < nthreads + 1)
		pthread_cond_wait(&s->start_cond, &s->start_lock);
	if (r < 0 && !s->start_err)
		s->start_err = r;
	r = s->start_err;
	s->started = UINT32_MAX;
	pthread_cond_broadcast(&s->start_cond);
	pthread_mutex_unlock(&s->start_lock);
	if (r == 0) {
		weft__ring_probe(s);
		r = weft__spawn(p0, main_fn, arg, &(struct weft_go_opts){ .name = "main" }, &s->main);
		if (r == 0)
			weft__proc_loop(p0);
		else {
			atomic_store(&s->stop, true);
			weft__wake_all(s);
		}
	}
	for (unsigned i = 1; i <= nthreads; i++)
		pthread_join(s->procs[i]->thread, NULL);
	weft__blocking_shutdown(s);
	for (unsigned i = 0; i < s->nprocs; i++)
		proc_stop(s->procs[i]);
	sched_free(s);
	return r;
}

/* ---- introspection --------------------------------------------------------------------- */

weft_fiber *weft_self(void)
{
	return weft__self();
}

int weft_proc_id(void)
{
	struct weft_proc *p = weft__proc();
	return p ? (int)p->id : -EPERM;
}

int weft_nprocs(void)
{
	struct weft_proc *p = weft__proc();
	return p ? (int)p->sched->nprocs : -EPERM;
}

uint64_t weft_fiber_id(const weft_fiber *f)
{
	return f ? f->id : 0;
}

const char *weft_fiber_name(const weft_fiber *f)
{
	return f ? f->name : "";
}

void weft_set_name(const char *name)
{
	struct weft_fiber *f = weft__self();
	if (f)
		snprintf(f->name, sizeof(f->name), "%s", name ? name : "");
}

int weft_sched_stats(struct weft_sched_stats *ret)
{
	struct weft_proc *self = weft__proc();
	if (!ret)
		return -EINVAL;
	if (!self)
		return -EPERM;
	struct weft_sched *s = self->sched;
	memset(ret, 0, sizeof(*ret));
	long live = atomic_load(&s->live);
	for (unsigned i = 0; i < s->nprocs; i++) {
		struct weft__proc_stats *st = &s->procs[i]->st;
		live -= atomic_load_explicit(&s->procs[i]->live_credit, memory_order_relaxed) +
			atomic_load_explicit(&s->procs[i]->live_exits, memory_order_relaxed);
		ret->fibers_spawned += atomic_load_explicit(&st->spawned, memory_order_relaxed);
		ret->switches += atomic_load_explicit(&st->switches, memory_order_relaxed);
		ret->steals += atomic_load_explicit(&st->steals, memory_order_relaxed);
		ret->parks += atomic_load_explicit(&st->parks, memory_order_relaxed);
		ret->naps += atomic_load_explicit(&st->naps, memory_order_relaxed);
		ret->wakeups_msg_ring += atomic_load_explicit(&st->wake_msg, memory_order_relaxed);
		ret->wakeups_eventfd += atomic_load_explicit(&st->wake_efd, memory_order_relaxed);
		ret->io_submitted += atomic_load_explicit(&st->io_sub, memory_order_relaxed);
		ret->io_completed += atomic_load_explicit(&st->io_done, memory_order_relaxed);
	}
	/* exact when the procs are quiet; a snapshot of moving parts otherwise */
	ret->fibers_live = live > 0 ? (uint64_t)live : 0;
	return 0;
}

int weft_proc_stats(unsigned proc, struct weft_proc_stats *ret)
{
	struct weft_proc *self = weft__proc();
	struct timespec ts;

	if (!ret)
		return -EINVAL;
	if (!self)
		return -EPERM;
	if (proc >= self->sched->nprocs)
		return -EINVAL;
	struct weft_proc *p = self->sched->procs[proc];
	struct weft__proc_stats *st = &p->st;
	memset(ret, 0, sizeof(*ret));
	/* the procs' threads live as long as the scheduler this caller runs on */
	if (p->cpu_clock_ok && clock_gettime(p->cpu_clock, &ts) == 0)
		ret->cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	ret->switches = atomic_load_explicit(&st->switches, memory_order_relaxed);
	ret->steals = atomic_load_explicit(&st->steals, memory_order_relaxed);
	ret->parks = atomic_load_explicit(&st->parks, memory_order_relaxed);
	ret->io_submitted = atomic_load_explicit(&st->io_sub, memory_order_relaxed);
	ret->io_completed = atomic_load_explicit(&st->io_done, memory_order_relaxed);
	return 0;
}

int weft_features(struct weft_features *ret)
{
	struct weft_proc *p = weft__proc();
	if (!ret)
		return -EINVAL;
	if (!p)
		return -EPERM;
	*ret = p->sched->feat;
	return 0;
}

struct dump_arg {
	int fd;
	int n;
	int64_t now;
};

static void dump_one(void *header, void *arg)
{
	static const char *const names[] = { "running", "parking", "parked", "waking", "dead" };
	struct weft_fiber *f = header;
	struct dump_arg *d = arg;
	if (atomic_load_explicit(&f->magic, memory_order_acquire) != WEFT__FIBER_MAGIC)
		return;
	int st = atomic_load(&f->pstate);
	const char *why = atomic_load_explicit(&f->wait_reason, memory_order_relaxed);
	dprintf(d->fd, "fiber %llu '%s' %s%s%s age_ms=%lld\n", (unsigned long long)f->id, f->name,
		names[st < 5 ? st : 4], why ? " on " : "", why ? why : "",
		(long long)((d->now - f->created_ns) / 1000000));
	d->n++;
}

int weft_dump_fibers(int fd)
{
	struct weft_proc *p = weft__proc();
	if (!p)
		return -EPERM;
	struct dump_arg d = { .fd = fd, .now = weft__now() };
	dprintf(fd, "# backend %s procs %u\n", weft_backend_name(p->sched->feat.backend), p->sched->nprocs);
	weft__stack_pool_foreach(p->sched->stacks, dump_one, &d);
	return d.n;
}
