/* SPDX-License-Identifier: MIT */
/* prof_fibers.c — the fiber profile (weft/prof.h: weft_prof_fibers), Go's goroutine
 * profile: every fiber's stack walked from its saved context. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

struct fent {
	uint64_t id;
	int64_t age_ms;
	int state;
	const char *reason;            /* static strings (weft__park's) */
	bool running;                  /* on a proc now: no stack to read */
	uint8_t depth;
	struct weft__labels labels;
	char name[32];
	uintptr_t pcs[WEFT__PROF_DEPTH];
};

struct collect {
	struct weft_sched *s;
	struct weft_fiber *self;
	int64_t now;
	struct fent *v;
	size_t n, cap;
	bool oom;
};

/* A parked fiber's stack, from the registers weft__switch saved on it. */
WEFT__NO_SAN static int unwind_saved(struct weft_fiber *f, uintptr_t *pcs)
{
	return weft__unwind_saved(f->ctx.sp, (uintptr_t)f->stack.lo,
				  (uintptr_t)f->stack.hi - WEFT__STACK_HEADER, pcs, WEFT__PROF_DEPTH);
}

WEFT__NO_SAN static bool on_a_proc(struct weft_sched *s, struct weft_fiber *f)
{
	for (unsigned i = 0; i < s->nprocs; i++)
		if (*(struct weft_fiber *volatile *)&s->procs[i]->cur == f)
			return true;
	return false;
}

WEFT__NO_SAN static void one(void *header, void *arg)
{
	struct collect *c = arg;
	struct weft_fiber *f = header;

	if (atomic_load_explicit(&f->magic, memory_order_acquire) != WEFT__FIBER_MAGIC || c->oom)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct fent *n = realloc(c->v, cap * sizeof(*n));
		if (!n) {
			c->oom = true;
			return;
		}
		c->v = n;
		c->cap = cap;
	}
	struct fent *e = &c->v[c->n++];
	e->id = f->id;
	e->age_ms = (c->now - f->created_ns) / 1000000;
	e->state = atomic_load(&f->pstate);
	e->reason = atomic_load_explicit(&f->wait_reason, memory_order_relaxed);
	memcpy(e->name, f->name, sizeof(e->name));
	e->name[sizeof(e->name) - 1] = 0;
	e->labels = f->labels;
	if (e->labels.busy || e->labels.n > WEFT_LABELS_MAX)
		e->labels.n = 0;
	e->running = false;
	e->depth = 0;
	if (f == c->self) { /* from the caller of this function, as the old walk did */
		e->depth = (uint8_t)weft__unwind_here(1, (uintptr_t)f->stack.lo,
						      (uintptr_t)f->stack.hi - WEFT__STACK_HEADER,
						      e->pcs, WEFT__PROF_DEPTH);
	} else if (e->state == WEFT__RUNNING && on_a_proc(c->s, f)) {
		e->running = true;
	} else {
		e->depth = (uint8_t)unwind_saved(f, e->pcs);
	}
}

static const char *state_name(const struct fent *e)
{
	static const char *const names[] = { "runnable", "parking", "parked", "waking", "dead" };
	return e->running ? "running" : names[e->state >= 0 && e->state < 5 ? e->state : 4];
}

/* ---- text ---------------------------------------------------------------------------- */

struct tbuf { char *d; size_t len, cap; bool oom; };

__attribute__((format(printf, 2, 3))) static void tprintf(struct tbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = b->oom ? 0 : vsnprintf(b->d ? b->d + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (b->oom || n < 0)
			return;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *d = realloc(b->d, cap);
		if (!d) {
			b->oom = true;
			return;
		}
		b->d = d;
		b->cap = cap;
	}
}

static void frames(struct tbuf *b, const struct weft__syms *syms, const struct fent *e, bool go1)
{
	for (int i = 0; i < e->depth; i++) {
		uintptr_t a = i ? e->pcs[i] - 1 : e->pcs[i], start = a;
		const struct weft__sym_map *m;
		const char *fn = syms ? weft__syms_find(syms, a, &start, &m) : NULL;
		if (go1)
			tprintf(b, "#\t0x%lx\t%s+0x%lx\n", (unsigned long)e->pcs[i], fn ? fn : "?",
				(unsigned long)(e->pcs[i] - start));
		else
			tprintf(b, "%s+0x%lx\n\t0x%lx\n", fn ? fn : "?", (unsigned long)(e->pcs[i] - start),
				(unsigned long)e->pcs[i]);
	}
	if (e->running)
		tprintf(b, go1 ? "#\t(running on a proc: its stack is not read)\n" :
			"(running on a proc: its stack is not read)\n");
}

static void labels_text(struct tbuf *b, const struct fent *e)
{
	tprintf(b, "# labels: {\"fiber\":\"%s\"", e->name);
	for (int k = 0; k < e->labels.n; k++)
		tprintf(b, ", \"%s\":\"%s\"", e->labels.key[k], e->labels.val[k]);
	tprintf(b, "}\n");
}

static bool same_group(const struct fent *a, const struct fent *b)
{
	if (a->depth != b->depth || a->running != b->running || a->labels.n != b->labels.n ||
	    memcmp(a->pcs, b->pcs, a->depth * sizeof(a->pcs[0])) != 0)
		return false;
	for (int k = 0; k < a->labels.n; k++)
		if (strcmp(a->labels.key[k], b->labels.key[k]) || strcmp(a->labels.val[k], b->labels.val[k]))
			return false;
	return true;
}

static void text(struct tbuf *b, struct collect *c, int debug)
{
	struct weft__syms *syms = weft__syms_load();
	bool *done = calloc(c->n ? c->n : 1, sizeof(*done));

	if (!done) {
		b->oom = true;
		weft__syms_free(syms);
		return;
	}
	if (debug == 1)
		tprintf(b, "fiber profile: total %zu\n", c->n);
	for (size_t i = 0; i < c->n; i++) {
		const struct fent *e = &c->v[i];
		if (debug == 2) {
			tprintf(b, "fiber %llu [%s%s%s, %lld ms]: %s\n", (unsigned long long)e->id,
				state_name(e), e->reason && !e->running ? ", " : "",
				e->reason && !e->running ? e->reason : "", (long long)e->age_ms, e->name);
			for (int k = 0; k < e->labels.n; k++)
				tprintf(b, "label %s=%s\n", e->labels.key[k], e->labels.val[k]);
			frames(b, syms, e, false);
			tprintf(b, "\n");
			continue;
		}
		if (done[i])
			continue;
		size_t count = 0;
		for (size_t j = i; j < c->n; j++)
			if (!done[j] && same_group(e, &c->v[j])) {
				done[j] = true;
				count++;
			}
		tprintf(b, "%zu @", count);
		for (int k = 0; k < e->depth; k++)
			tprintf(b, " 0x%lx", (unsigned long)e->pcs[k]);
		tprintf(b, "\n");
		labels_text(b, e);
		frames(b, syms, e, true);
		tprintf(b, "\n");
	}
	free(done);
	weft__syms_free(syms);
}

/* ---- pprof --------------------------------------------------------------------------- */

static int pprof(struct collect *c, void **ret, size_t *ret_len)
{
	static const char *const types[][2] = { { "fibers", "count" } };
	struct weft__pprof *pp = weft__pprof_new(types, 1, "fibers", "count", 1);

	if (!pp)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++) {
		const struct fent *e = &c->v[i];
		struct weft__pprof_label l[WEFT_LABELS_MAX + 3];
		int nl = 0;
		int64_t one = 1;
		l[nl++] = (struct weft__pprof_label){ "fiber", e->name };
		l[nl++] = (struct weft__pprof_label){ "state", state_name(e) };
		if (e->reason && !e->running)
			l[nl++] = (struct weft__pprof_label){ "wait", e->reason };
		for (int k = 0; k < e->labels.n; k++)
			l[nl++] = (struct weft__pprof_label){ e->labels.key[k], e->labels.val[k] };
		weft__pprof_sample(pp, e->pcs, e->depth, e->running ? "(running)" : NULL, &one, l, nl);
	}
	return weft__pprof_finish(pp, ret, ret_len);
}

int weft_prof_fibers(int debug, void **ret_data, size_t *ret_len)
{
	struct weft_proc *p = weft__proc();
	int r;

	if (!p || !p->cur)
		return -EPERM;
	if (debug < 0 || debug > 2 || !ret_data || !ret_len)
		return -EINVAL;
	if ((r = weft__unwind_prepare()) < 0)
		return r;
	struct collect c = { .s = p->sched, .self = p->cur, .now = weft__now() };
	weft__stack_pool_foreach(p->sched->stacks, one, &c);
	if (c.oom) {
		free(c.v);
		return -ENOMEM;
	}
	if (debug == 0) {
		r = pprof(&c, ret_data, ret_len);
	} else {
		struct tbuf b = { 0 };
		text(&b, &c, debug);
		r = b.oom ? -ENOMEM : 0;
		if (r == 0 && !b.d)
			tprintf(&b, "%s", "");
		if (r == 0) {
			*ret_data = b.d;
			*ret_len = b.len;
		} else {
			free(b.d);
		}
	}
	free(c.v);
	return r < 0 ? r : (int)c.n;
}
