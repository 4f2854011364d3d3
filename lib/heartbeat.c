/* SPDX-License-Identifier: MIT */
/* heartbeat.c — workers' beats and a monitor that notices missing ones.
 *
 * The beat is the hot path: store the time, then look at one flag (attn).
 * Everything else happens under the monitor's lock. attn is set while the
 * monitor needs to hear about the next beat (the worker is paused, or was
 * reported missing); the beat then takes the slow path and wakes waiters.
 *
 * The race between a beat and the monitor deciding "missing" is closed
 * Dekker-style with sequentially consistent accesses: the beat stores last
 * then loads attn; the monitor stores attn then reloads last. At least one
 * sees the other: either the monitor sees the fresh beat and reports
 * nothing, or the beat sees attn and wakes the monitor to report recovery.
 *
 * The owner, each registered worker and each fiber inside weft_hbmon_wait
 * hold a reference to the monitor: weft_hbmon_free never has to refuse.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include <weft/heartbeat.h>

struct weft_hb {
	weft_hbmon *m;
	_Atomic int64_t last;          /* last beat */
	atomic_bool attn;              /* beat must take the slow path */
	int64_t timeout;
	bool paused;                   /* guarded by m->lock */
	bool reported;                 /* reported missing, recovery not yet; m->lock */
	uint64_t id;
	void *user;
	char name[32];
	struct weft_hb *next, *prev;   /* m's list; m->lock */
};

struct weft_hbmon {
	weft__lock lock;
	struct weft_hbmon_opts o;
	struct weft_hb *head;
	uint64_t next_id;
	struct weft__waitq waiters;    /* fibers in weft_hbmon_wait */
	int64_t wake_at;               /* the waiters rescan by then anyway (INT64_MAX:
	                                  no timer, or nobody waits) */
	long refs;                     /* owner (until free), workers, waiters; lock */
	bool closed;                   /* freed by its owner: waits end */
};

/* Drop a reference taken under the lock; the lock is released. */
static void unref_unlock(weft_hbmon *m)
{
	bool last = --m->refs == 0;
	weft__lock_release(&m->lock);
	if (last)
		free(m);
}

/* Under the lock: every waiter rescans (a recovery is to be reported). */
static void wake_all(weft_hbmon *m)
{
	struct weft__waiter *w;
	while ((w = weft__waitq_pop(&m->waiters)))
		weft__waiter_fire(w, 0);
	m->wake_at = INT64_MAX;
}

/* Under the lock: a worker may now go missing after deadline; the waiters
 * rescan if that is sooner than they planned (a worker starting a unit of
 * work usually is not, and costs the monitor nothing). */
static void wake_before(weft_hbmon *m, int64_t deadline)
{
	if (deadline < m->wake_at)
		wake_all(m);
}

int weft_hbmon_new(const struct weft_hbmon_opts *opts, weft_hbmon **ret)
{
	if (!ret)
		return -EINVAL;
	weft_hbmon *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (opts)
		m->o = *opts;
	m->next_id = 1;
	m->wake_at = INT64_MAX;
	m->refs = 1;
	*ret = m;
	return 0;
}

weft_hbmon *weft_hbmon_free(weft_hbmon *m)
{
	if (!m)
		return NULL;
	weft__lock_acquire(&m->lock);
	m->closed = true;
	wake_all(m);
	unref_unlock(m);
	return NULL;
}

int weft_hb_register(weft_hbmon *m, const char *name, int64_t timeout_ns, void *user, weft_hb **ret)
{
	if (!m || !ret || timeout_ns <= 0)
		return -EINVAL;
	weft_hb *hb = calloc(1, sizeof(*hb));
	if (!hb)
		return -ENOMEM;
	hb->m = m;
	hb->timeout = timeout_ns;
	hb->user = user;
	if (name)
		snprintf(hb->name, sizeof(hb->name), "%s", name);
	atomic_store(&hb->last, weft__now());
	weft__lock_acquire(&m->lock);
	m->refs++;
	hb->id = m->next_id++;
	hb->next = m->head;
	if (m->head)
		m->head->prev = hb;
	m->head = hb;
	wake_before(m, atomic_load(&hb->last) + timeout_ns + 1);
	weft__lock_release(&m->lock);
	*ret = hb;
	return 0;
}

weft_hb *weft_hb_unregister(weft_hb *hb)
{
	if (!hb)
		return NULL;
	weft_hbmon *m = hb->m;
	weft__lock_acquire(&m->lock);
	if (hb->prev)
		hb->prev->next = hb->next;
	else
		m->head = hb->next;
	if (hb->next)
		hb->next->prev = hb->prev;
	free(hb);
	unref_unlock(m);
	return NULL;
}

/* Under the lock, after a beat: monitor hb again. */
static void resume(weft_hbmon *m, weft_hb *hb)
{
	hb->paused = false;
	atomic_store(&hb->attn, hb->reported);
	if (hb->reported)
		wake_all(m); /* to report the recovery */
	else
		wake_before(m, atomic_load(&hb->last) + hb->timeout + 1);
}

void weft_hb_beat(weft_hb *hb)
{
	if (!hb)
		return;
	atomic_store(&hb->last, weft__now());
	if (WEFT__LIKELY(!atomic_load(&hb->attn)))
		return;
	weft_hbmon *m = hb->m;
	weft__lock_acquire(&m->lock);
	resume(m, hb);
	weft__lock_release(&m->lock);
}

int weft_hb_set_timeout(weft_hb *hb, int64_t timeout_ns)
{
	if (!hb || timeout_ns <= 0)
		return -EINVAL;
	weft_hbmon *m = hb->m;
	weft__lock_acquire(&m->lock);
	hb->timeout = timeout_ns;
	atomic_store(&hb->last, weft__now());
	resume(m, hb);
	weft__lock_release(&m->lock);
	return 0;
}

void weft_hb_pause(weft_hb *hb)
{
	if (!hb)
		return;
	weft_hbmon *m = hb->m;
	atomic_store(&hb->last, weft__now()); /* pausing proves life too */
	weft__lock_acquire(&m->lock);
	hb->paused = true;
	atomic_store(&hb->attn, true);
	if (hb->reported)
		wake_all(m);
	weft__lock_release(&m->lock);
}

int weft_hb_pulse(weft_ctx *ctx, weft_hb *hb, int64_t interval_ns)
{
	if (!hb || interval_ns <= 0)
		return -EINVAL;
	for (;;) {
		weft_hb_beat(hb);
		int r = weft_sleep(ctx, interval_ns);
		if (r < 0)
			return r;
	}
}

uint64_t weft_hb_id(const weft_hb *hb)
{
	return hb ? hb->id : 0;
}

int64_t weft_hb_last(const weft_hb *hb)
{
	return hb ? atomic_load(&((weft_hb *)hb)->last) : 0;
}

static void fill_event(struct weft_hb_event *ev, weft_hb *hb, bool missing, int64_t last, int64_t now)
{
	*ev = (struct weft_hb_event){ .missing = missing, .id = hb->id, .user = hb->user,
				      .last_beat = last, .late_ns = missing ? now - last : 0 };
	memcpy(ev->name, hb->name, sizeof(ev->name));
}

/* Under the lock: report one change into *ev and return true, or return
 * false with *next set to the earliest time a change could happen without
 * anyone waking us (INT64_MAX: none). */
static bool scan(weft_hbmon *m, int64_t now, struct weft_hb_event *ev, int64_t *next)
{
	*next = INT64_MAX;
	for (weft_hb *hb = m->head; hb; hb = hb->next) {
		int64_t last = atomic_load(&hb->last);
		if (hb->reported) {
			if (hb->paused || now - last <= hb->timeout) {
				hb->reported = false;
				atomic_store(&hb->attn, hb->paused);
				fill_event(ev, hb, false, last, now);
				return true;
			}
			continue; /* its recovery comes with a beat, which wakes us */
		}
		if (hb->paused)
			continue;
		if (now - last > hb->timeout) {
			atomic_store(&hb->attn, true);
			last = atomic_load(&hb->last); /* see the header comment */
			if (now - last > hb->timeout) {
				hb->reported = true;
				fill_event(ev, hb, true, last, now);
				return true;
			}
			atomic_store(&hb->attn, false);
		}
		if (last + hb->timeout + 1 < *next)
			*next = last + hb->timeout + 1;
	}
	return false;
}

static void timer_fire(struct weft__timer *t)
{
	weft__waiter_fire(t->arg, 0);
}

static void hold(weft_hbmon *m)
{
	weft__lock_acquire(&m->lock);
	m->refs++;
	weft__lock_release(&m->lock);
}

/* One scan, then park until something may have changed. Returns 0 with *ret
 * filled, 1 to scan again, or ctx's error, -ECANCELED once the monitor is
 * freed, -ENOMEM. The caller holds a reference. */
static int wait_once(weft_ctx *ctx, weft_hbmon *m, struct weft_hb_event *ret)
{
	struct weft__waiter w;
	struct weft__timer t;
	int64_t next;
	int r = weft_ctx_err(ctx);
	if (r < 0)
		return r;
	weft__waiter_init(&w);
	weft__lock_acquire(&m->lock);
	if (m->closed || scan(m, weft__now(), ret, &next)) {
		r = m->closed ? -ECANCELED : 0;
		weft__lock_release(&m->lock);
		return r;
	}
	weft__waitq_push(&m->waiters, &w);
	if (next < m->wake_at)
		m->wake_at = next;
	weft__lock_release(&m->lock);
	bool timed = next != INT64_MAX;
	if (timed && (r = weft__timer_add(&t, next, timer_fire, &w)) < 0) {
		timed = false;
		if (!weft__waiter_claim(&w))
			weft__park("heartbeat"); /* a wake-up is on its way: take it */
	} else {
		r = weft__wait(ctx, &w, "heartbeat");
	}
	if (timed)
		weft__timer_del(&t);
	weft__lock_acquire(&m->lock);
	weft__waitq_remove(&m->waiters, &w);
	/* Our planned rescan (by a timer or anything else) is over: until the
	 * next park says when, anything sooner than never must wake us. Left
	 * as it was, a wake_at in the past would let a worker registered after
	 * the last worker left go unwatched: the monitor, parked with no timer,
	 * would never learn of it. */
	m->wake_at = INT64_MAX;
	weft__lock_release(&m->lock);
	return r < 0 ? r : 1;
}

static int wait_event(weft_ctx *ctx, weft_hbmon *m, struct weft_hb_event *ret)
{
	int r;
	while ((r = wait_once(ctx, m, ret)) == 1)
		;
	return r;
}

int weft_hbmon_wait(weft_ctx *ctx, weft_hbmon *m, struct weft_hb_event *ret)
{
	if (!m || !ret)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	hold(m);
	int r = wait_event(ctx, m, ret);
	weft__lock_acquire(&m->lock);
	unref_unlock(m);
	return r;
}

int weft_hbmon_run(weft_ctx *ctx, weft_hbmon *m)
{
	if (!m)
		return -EINVAL;
	if (!weft__self())
		return -EPERM;
	hold(m);
	struct weft_hb_event ev;
	int r;
	while ((r = wait_event(ctx, m, &ev)) == 0) {
		if (ev.missing && m->o.on_missed)
			m->o.on_missed(&ev, m->o.arg);
		else if (!ev.missing && m->o.on_recovered)
			m->o.on_recovered(&ev, m->o.arg);
	}
	weft__lock_acquire(&m->lock);
	unref_unlock(m);
	return r;
}

int weft_hbmon_missing(weft_hbmon *m)
{
	if (!m)
		return -EINVAL;
	int64_t now = weft__now();
	int n = 0;
	weft__lock_acquire(&m->lock);
	for (weft_hb *hb = m->head; hb; hb = hb->next)
		if (!hb->paused && now - atomic_load(&hb->last) > hb->timeout)
			n++;
	weft__lock_release(&m->lock);
	return n;
}

int weft_hbmon_foreach(weft_hbmon *m, void (*fn)(const struct weft_hb_info *hb, void *arg), void *arg)
{
	if (!m || !fn)
		return -EINVAL;
	int64_t now = weft__now();
	int n = 0;
	weft__lock_acquire(&m->lock);
	for (weft_hb *hb = m->head; hb; hb = hb->next, n++) {
		struct weft_hb_info info = { .id = hb->id, .name = hb->name, .user = hb->user,
					     .last_beat = atomic_load(&hb->last),
					     .timeout_ns = hb->timeout, .paused = hb->paused };
		info.missing = !hb->paused && now - info.last_beat > hb->timeout;
		fn(&info, arg);
	}
	weft__lock_release(&m->lock);
	return n;
}
