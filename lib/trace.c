/* SPDX-License-Identifier: MIT */
/* trace.c — the execution trace: per-proc event rings, the hooks the scheduler calls
 * while a trace runs, collecting without stopping the procs, user spans (trace.h and
 * weft/trace.h). */
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "trace.h"

#define DEFAULT_EVENTS 16384u
#define MAX_EVENTS (1u << 24)

/* ---- writing (the proc's own thread only) ------------------------------------------ */

static inline void put(struct weft__trace_slot *s, unsigned i, uint64_t v)
{
	atomic_store_explicit(&s->w[i], v, memory_order_release);
}

/* Copy up to n bytes of text (NUL-padded to whole words) into words from..15. */
static void put_text(struct weft__trace_slot *s, unsigned from, const char *t, size_t n)
{
	for (unsigned i = from; i < WEFT__TRACE_WORDS && n; i++) {
		uint64_t v = 0;
		size_t k = n < 8 ? n : 8;
		memcpy(&v, t, k);
		put(s, i, v);
		t += k;
		n -= k;
	}
}

/* Claim the next slot: the head moves first (see trace.h), then the words; the caller
 * publishes the event with publish() once its text is in. */
static struct weft__trace_slot *emit(struct weft__trace_ring *tr, enum weft_trace_type type,
				     uint32_t aux, uint64_t fiber, uint64_t arg, uint64_t arg2)
{
	uint64_t h = atomic_load_explicit(&tr->head, memory_order_relaxed);
	struct weft__trace_slot *s = &tr->slots[h & tr->mask];

	atomic_store_explicit(&tr->head, h + 1, memory_order_relaxed);
	put(s, 0, (uint64_t)weft__now());
	put(s, 1, (uint64_t)type | (uint64_t)tr->proc << 16 | (uint64_t)aux << 32);
	put(s, 2, fiber);
	put(s, 3, arg);
	put(s, 4, arg2);
	put(s, 5, 0); /* no text unless the caller writes one */
	return s;
}

static inline void publish(struct weft__trace_ring *tr)
{
	atomic_store_explicit(&tr->done, atomic_load_explicit(&tr->head, memory_order_relaxed),
			      memory_order_release);
}

#define TEXT_WORD 5 /* the first word of the text */

void weft__trace_switch(struct weft__trace_ring *tr, struct weft_fiber *from, struct weft_fiber *to)
{
	struct weft__trace_slot *s = emit(tr, WEFT_TRACE_SWITCH, 0, to ? to->id : 0, from ? from->id : 0, 0);
	if (to && to->name[0])
		put_text(s, TEXT_WORD, to->name, strnlen(to->name, sizeof(to->name) - 1) + 1);
	publish(tr);
}

void weft__trace_park(struct weft__trace_ring *tr, struct weft_fiber *f, const char *reason)
{
	struct weft__trace_slot *s = emit(tr, WEFT_TRACE_PARK, 0, f->id, 0, 0);
	if (reason)
		put_text(s, TEXT_WORD, reason, strnlen(reason, 31) + 1);
	publish(tr);
}

void weft__trace_wake(struct weft__trace_ring *tr, struct weft_proc *p, struct weft_fiber *f)
{
	emit(tr, WEFT_TRACE_WAKE, 0, f->id, p->cur ? p->cur->id : 0, 0);
	publish(tr);
}

void weft__trace_steal(struct weft__trace_ring *tr, struct weft_fiber *f, unsigned victim)
{
	emit(tr, WEFT_TRACE_STEAL, victim, f->id, 0, 0);
	publish(tr);
}

void weft__trace_ring_counts(struct weft__trace_ring *tr, struct weft_proc *p)
{
	uint64_t sub = atomic_load_explicit(&p->st.io_sub, memory_order_relaxed);
	uint64_t done = atomic_load_explicit(&p->st.io_done, memory_order_relaxed);
	if (sub == tr->ring_sub && done == tr->ring_done)
		return;
	tr->ring_sub = sub;
	tr->ring_done = done;
	emit(tr, WEFT_TRACE_RING, 0, 0, sub, done);
	publish(tr);
}

/* ---- starting and stopping ------------------------------------------------------------ */

static struct weft__trace *trace_new(struct weft_sched *s, const struct weft_trace_opts *o)
{
	uint64_t size = o && o->events_per_proc ? o->events_per_proc : DEFAULT_EVENTS;
	uint64_t n = 1;
	while (n < size)
		n <<= 1;
	struct weft__trace *t = calloc(1, sizeof(*t) + s->nprocs * sizeof(t->rings[0]));
	if (!t)
		return NULL;
	t->nprocs = s->nprocs;
	t->size = n;
	for (unsigned i = 0; i < s->nprocs; i++) {
		t->rings[i].proc = i;
		t->rings[i].mask = n - 1;
		t->rings[i].slots = aligned_alloc(64, n * sizeof(struct weft__trace_slot));
		if (!t->rings[i].slots) {
			while (i--)
				free(t->rings[i].slots);
			free(t);
			return NULL;
		}
		/* touch every page now: a proc's first lap must not page-fault in the hooks */
		memset(t->rings[i].slots, 0, n * sizeof(struct weft__trace_slot));
	}
	return t;
}

int weft_trace_start(const struct weft_trace_opts *o)
{
	struct weft_proc *p = weft__proc();
	if (!p)
		return -EPERM;
	if (o && o->events_per_proc > MAX_EVENTS)
		return -EINVAL;
	struct weft_sched *s = p->sched;
	struct weft__trace *t = atomic_load_explicit(&s->trace, memory_order_acquire);
	if (!t) {
		struct weft__trace *mine = trace_new(s, o), *exp = NULL;
		if (!mine)
			return -ENOMEM;
		if (atomic_compare_exchange_strong(&s->trace, &exp, mine)) {
			t = mine;
		} else { /* another fiber's start won */
			weft__trace_free_rings(mine);
			t = exp;
		}
	}
	bool exp = false;
	if (!atomic_compare_exchange_strong(&t->running, &exp, true))
		return -EBUSY;
	for (unsigned i = 0; i < t->nprocs; i++)
		t->rings[i].read = atomic_load_explicit(&t->rings[i].done, memory_order_acquire);
	for (unsigned i = 0; i < t->nprocs; i++)
		atomic_store_explicit(&s->procs[i]->trace, &t->rings[i], memory_order_release);
	return 0;
}

static long collect(struct weft__trace *t, weft_trace_fn fn, void *arg);

long weft_trace_stop(weft_trace_fn fn, void *arg)
{
	struct weft_proc *p = weft__proc();
	if (!p)
		return -EPERM;
	struct weft_sched *s = p->sched;
	struct weft__trace *t = atomic_load_explicit(&s->trace, memory_order_acquire);
	if (!t || !atomic_load(&t->running) || atomic_load(&t->stopping))
		return -ENOENT;
	atomic_store(&t->stopping, true);
	for (unsigned i = 0; i < t->nprocs; i++)
		atomic_store_explicit(&s->procs[i]->trace, NULL, memory_order_release);
	/* the rest, before the next start may reset the cursors (a proc still in a hook
	 * finishes its event meanwhile: it may come out or be left for nobody) */
	long n = fn ? collect(t, fn, arg) : 0;
	atomic_store(&t->stopping, false);
	atomic_store(&t->running, false);
	return n;
}

bool weft_trace_enabled(void)
{
	struct weft_proc *p = weft__proc();
	return p && atomic_load_explicit(&p->trace, memory_order_acquire);
}

void weft__trace_free_rings(struct weft__trace *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->nprocs; i++)
		free(t->rings[i].slots);
	free(t);
}

void weft__trace_free(struct weft_sched *s)
{
	weft__trace_free_rings(atomic_exchange(&s->trace, NULL));
}

/* ---- collecting (any proc, while the owners write) ------------------------------------ */

static void read_slot(const struct weft__trace_slot *s, struct weft_trace_event *ev)
{
	uint64_t w[WEFT__TRACE_WORDS];
	for (unsigned i = 0; i < WEFT__TRACE_WORDS; i++)
		w[i] = atomic_load_explicit(&s->w[i], memory_order_acquire);
	ev->ts_ns = (int64_t)w[0];
	ev->type = (uint16_t)w[1];
	ev->proc = (uint16_t)(w[1] >> 16);
	ev->aux = (uint32_t)(w[1] >> 32);
	ev->fiber = w[2];
	ev->arg = w[3];
	ev->arg2 = w[4];
	memcpy(ev->text, &w[TEXT_WORD], sizeof(ev->text));
	ev->text[sizeof(ev->text) - 1] = 0;
}

/* The new events of one ring, in batches copied out before their validity is checked. */
static long collect_ring(struct weft__trace_ring *tr, weft_trace_fn fn, void *arg)
{
	enum { BATCH = 64 };
	struct weft_trace_event evs[BATCH];
	long n = 0;

	for (;;) {
		/* every event below done is whole; head says which were overwritten since */
		uint64_t h1 = atomic_load_explicit(&tr->done, memory_order_acquire);
		uint64_t size = tr->mask + 1, from = tr->read;
		if (h1 > size && from < h1 - size)
			from = h1 - size; /* overwritten already */
		uint64_t to = h1 - from > BATCH ? from + BATCH : h1;
		for (uint64_t i = from; i < to; i++)
			read_slot(&tr->slots[i & tr->mask], &evs[i - from]);
		uint64_t h2 = atomic_load_explicit(&tr->head, memory_order_acquire);
		/* events below h2 - size may have been rewritten, in part */
		uint64_t valid = h2 >= size ? h2 - size : 0;
		uint64_t first = from > valid ? from : valid;
		if (first > tr->read) {
			struct weft_trace_event lost = {
				.ts_ns = weft__now(), .type = WEFT_TRACE_LOST, .proc = (uint16_t)tr->proc,
				.arg = first - tr->read,
			};
			int r = fn(arg, &lost);
			if (r < 0)
				return r;
			n++;
		}
		for (uint64_t i = first; i < to; i++) {
			int r = fn(arg, &evs[i - from]);
			if (r < 0)
				return r;
			n++;
		}
		tr->read = to > first ? to : first;
		if (to == h1 && tr->read >= h1)
			return n;
	}
}

long weft_trace_collect(weft_trace_fn fn, void *arg)
{
	struct weft_proc *p = weft__proc();
	if (!fn)
		return -EINVAL;
	if (!p)
		return -EPERM;
	struct weft__trace *t = atomic_load_explicit(&p->sched->trace, memory_order_acquire);
	if (!t || !atomic_load(&t->running))
		return -ENOENT;
	return collect(t, fn, arg);
}

static long collect(struct weft__trace *t, weft_trace_fn fn, void *arg)
{
	bool exp = false;
	if (!atomic_compare_exchange_strong(&t->collecting, &exp, true))
		return -EBUSY;
	long n = 0;
	for (unsigned i = 0; i < t->nprocs; i++) {
		long r = collect_ring(&t->rings[i], fn, arg);
		if (r < 0) {
			n = r;
			break;
		}
		n += r;
	}
	atomic_store(&t->collecting, false);
	return n;
}

/* ---- spans ---------------------------------------------------------------------------- */

uint64_t weft_trace_begin(const char *name, const char *args)
{
	struct weft_proc *p = weft__proc();
	struct weft__trace_ring *tr = p ? atomic_load_explicit(&p->trace, memory_order_acquire) : NULL;
	if (!tr || !p->cur)
		return 0;
	char text[WEFT_TRACE_TEXT] = "";
	size_t nl = strnlen(name ? name : "", sizeof(text) - 2);
	memcpy(text, name ? name : "", nl);
	size_t al = args ? strnlen(args, sizeof(text) - nl - 2) : 0;
	if (al)
		memcpy(text + nl + 1, args, al);
	uint64_t id = (uint64_t)(tr->proc + 1) << 48 | ++tr->spans;
	struct weft__trace_slot *s = emit(tr, WEFT_TRACE_SPAN_BEGIN, 0, p->cur->id, id, 0);
	put_text(s, TEXT_WORD, text, nl + al + 2);
	publish(tr);
	return id;
}

void weft_trace_end(uint64_t span)
{
	struct weft_proc *p;
	struct weft__trace_ring *tr;
	if (!span || !(p = weft__proc()) || !(tr = atomic_load_explicit(&p->trace, memory_order_acquire)))
		return;
	emit(tr, WEFT_TRACE_SPAN_END, 0, p->cur ? p->cur->id : 0, span, 0);
	publish(tr);
}
