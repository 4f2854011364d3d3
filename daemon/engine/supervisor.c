/* SPDX-License-Identifier: MIT */
/* supervisor.c — heartbeat slots, the supervisor fiber and the watchdog probes (see
 * supervisor.h). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "util/log.h"
#include "util/spin.h"
#include "util/notify.h"
#include "engine/supervisor.h"

struct weftd_hb {
	LIST_ENTRY(weftd_hb) link;     /* registry, under sup->lock */
	weft_hb *hb;                   /* the library's worker: paused between attempts */
	weftd_spin lock;               /* guards the fields below */
	bool busy;                     /* inside begin/end */
	bool expired;                  /* the supervisor cancelled this attempt */
	weft_ctx *ctx;                 /* the attempt's ctx (a reference), while busy */
	const char *job_id;
	int64_t timeout_ns;            /* the attempt's limit */
	int64_t default_ns;            /* the limit of an attempt that sets none */
	char what[];
};

struct weftd_sup {
	struct weftd_sup_opts o;
	int64_t wd_ns;                 /* watchdog interval, 0 = none */
	int64_t gap_ns;                /* monitor lateness that is a gap of its own */
	weft_hbmon *mon;               /* notices silent attempts (no scan loop) */
	weftd_spin lock;               /* registry and stats */
	LIST_HEAD(, weftd_hb) slots;
	struct weftd_sup_stats st;
	weft_ctx *ctx;                 /* cancelled by stop */
	weft_wg wg;                    /* the monitor, the watchdog and the probes */
	bool started, stopped;
	unsigned nprocs;
	atomic_int placed[WEFTD_SUP_MAX_PROCS];
	_Atomic int64_t probe_last[WEFTD_SUP_MAX_PROCS];
};

bool weftd_hb_expired(int64_t now, int64_t last_ns, int64_t timeout_ns)
{
	return timeout_ns > 0 && now - last_ns > timeout_ns;
}

bool weftd_sup_was_away(int64_t silent_ns, int64_t timeout_ns, int64_t gap_ns)
{
	return silent_ns - timeout_ns > gap_ns;
}

bool weftd_watchdog_healthy(int64_t now, const int64_t *probe_last, unsigned nprocs,
			    int64_t stale_ns)
{
	if (nprocs == 0)
		return false;
	for (unsigned i = 0; i < nprocs; i++)
		if (probe_last[i] <= 0 || now - probe_last[i] > stale_ns)
			return false;
	return true;
}

static void missed(const struct weft_hb_event *ev, void *arg);

int weftd_sup_new(const struct weftd_sup_opts *o, struct weftd_sup **ret)
{
	if (!o || !ret || o->heartbeat_interval_ns < 0 || o->heartbeat_timeout_ns < 0 ||
	    o->watchdog_usec < 0)
		return -EINVAL;
	struct weftd_sup *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	if (!s->o.heartbeat_interval_ns)
		s->o.heartbeat_interval_ns = WEFT_SEC;
	if (!s->o.heartbeat_timeout_ns)
		s->o.heartbeat_timeout_ns = 30 * WEFT_SEC;
	if (!s->o.ping)
		s->o.ping = weftd_notify_watchdog;
	s->wd_ns = o->watchdog_usec * WEFT_USEC;
	s->gap_ns = s->o.heartbeat_interval_ns > WEFTD_SUP_GAP_NS ? s->o.heartbeat_interval_ns
								   : WEFTD_SUP_GAP_NS;
	weft_wg_init(&s->wg);
	int r = weft_hbmon_new(&(struct weft_hbmon_opts){ .on_missed = missed, .arg = s }, &s->mon);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* ---- heartbeat slots ---- */

struct weftd_hb *weftd_hb_register(struct weftd_sup *s, const char *what)
{
	size_t n = what ? strlen(what) : 0;
	struct weftd_hb *hb = calloc(1, sizeof(*hb) + n + 1);
	if (!s || !hb ||
	    weft_hb_register(s->mon, what, s->o.heartbeat_timeout_ns, NULL, &hb->hb) < 0) {
		free(hb);
		return NULL;
	}
	weft_hb_pause(hb->hb); /* idle until its first attempt */
	hb->default_ns = s->o.heartbeat_timeout_ns;
	if (n)
		memcpy(hb->what, what, n);
	weftd_spin_lock(&s->lock);
	LIST_INSERT_HEAD(&s->slots, hb, link);
	weftd_spin_unlock(&s->lock);
	return hb;
}

static void slot_free(struct weftd_hb *hb)
{
	weft_hb_unregister(hb->hb);
	weft_ctx_unref(hb->ctx);
	free(hb);
}

void weftd_hb_unregister(struct weftd_sup *s, struct weftd_hb *hb)
{
	if (!s || !hb)
		return;
	weftd_spin_lock(&s->lock);
	LIST_REMOVE(hb, link);
	weftd_spin_unlock(&s->lock);
	slot_free(hb);
}

void weftd_hb_begin(struct weftd_hb *hb, weft_ctx *ctx, const char *job_id, int64_t timeout_ns)
{
	if (!timeout_ns)
		timeout_ns = hb->default_ns;
	/* The beat first: a report about the previous attempt, handled late, then
	 * finds this attempt fresh and leaves it alone. */
	weft_hb_set_timeout(hb->hb, timeout_ns);
	weftd_spin_lock(&hb->lock);
	weft_ctx *old = hb->ctx;
	hb->ctx = weft_ctx_ref(ctx);
	hb->job_id = job_id;
	hb->timeout_ns = timeout_ns;
	hb->expired = false;
	hb->busy = true;
	weftd_spin_unlock(&hb->lock);
	weft_ctx_unref(old);
}

void weftd_hb_beat(void *arg)
{
	weft_hb_beat(((struct weftd_hb *)arg)->hb);
}

bool weftd_hb_end(struct weftd_hb *hb)
{
	weftd_spin_lock(&hb->lock);
	weft_ctx *c = hb->ctx;
	bool expired = hb->expired;
	hb->ctx = NULL;
	hb->job_id = NULL;
	hb->busy = false;
	weftd_spin_unlock(&hb->lock);
	weft_hb_pause(hb->hb); /* waiting for the next job is not silence */
	weft_ctx_unref(c);
	return expired;
}

/* Under hb->lock: is hb's attempt still the silent one the monitor reported?
 * (It may have ended, or a new one begun, since.) */
static bool still_silent(struct weftd_hb *hb, int64_t now)
{
	return hb->busy && !hb->expired &&
	       weftd_hb_expired(now, weft_hb_last(hb->hb), hb->timeout_ns);
}

/* Under s->lock: the supervisor was not running: every running attempt's clock restarts
 * now (a beat on its behalf; idle slots stay paused). */
static void restart_clocks(struct weftd_sup *s)
{
	struct weftd_hb *hb;

	LIST_FOREACH(hb, &s->slots, link) {
		weftd_spin_lock(&hb->lock);
		if (hb->busy && !hb->expired)
			weft_hb_beat(hb->hb);
		weftd_spin_unlock(&hb->lock);
	}
	s->st.supervisor_gaps++;
}

/* The monitor reports a silent worker: cancel its attempt, unless the monitor itself
 * was away (see supervisor.h). Runs in the monitor fiber; the slot is looked up by id,
 * under the registry lock, since it may have been unregistered since. */
static void missed(const struct weft_hb_event *ev, void *arg)
{
	struct weftd_sup *s = arg;
	int64_t now = weft_now(), away = 0;
	weft_ctx *c = NULL;
	struct weftd_hb *hb;
	weftd_spin_lock(&s->lock);
	LIST_FOREACH(hb, &s->slots, link) {
		if (weft_hb_id(hb->hb) != ev->id)
			continue;
		weftd_spin_lock(&hb->lock);
		int64_t silent = now - weft_hb_last(hb->hb);
		if (still_silent(hb, now) && weftd_sup_was_away(silent, hb->timeout_ns, s->gap_ns)) {
			away = silent - hb->timeout_ns;
		} else if (still_silent(hb, now)) {
			hb->expired = true;
			c = weft_ctx_ref(hb->ctx);
			s->st.heartbeat_timeouts++;
			if (s->o.on_timeout)
				s->o.on_timeout(s->o.arg, hb->what, hb->job_id ? hb->job_id : "",
						now - weft_hb_last(hb->hb));
		}
		weftd_spin_unlock(&hb->lock);
		break;
	}
	if (away)
		restart_clocks(s);
	weftd_spin_unlock(&s->lock);
	if (away)
		weftd_warn("heartbeats: the supervisor was not running for at least %lldms (process "
			   "stopped?): running attempts get a fresh heartbeat_timeout",
			   (long long)(away / WEFT_MSEC));
	if (c) {
		weft_ctx_cancel_err(c, WEFTD_ERR_HEARTBEAT);
		weft_ctx_unref(c);
	}
}

static void monitor(void *arg)
{
	struct weftd_sup *s = arg;
	weft_hbmon_run(s->ctx, s->mon); /* until stop */
	weft_wg_done(&s->wg);
}

/* ---- progress probes: one pinned fiber per proc ---- */

struct probe_arg {
	struct weftd_sup *s;
	unsigned id;
};

static int64_t probe_period(struct weftd_sup *s)
{
	return s->wd_ns ? s->wd_ns / 4 : s->o.heartbeat_interval_ns;
}

static void probe(void *arg)
{
	struct weftd_sup *s = ((struct probe_arg *)arg)->s;
	unsigned id = ((struct probe_arg *)arg)->id;
	free(arg);
	if (weft_proc_id() == (int)id) /* spawned there for good (on_proc) */
		atomic_store(&s->placed[id], 1);
	do
		atomic_store(&s->probe_last[id], weft_now());
	while (weft_sleep(s->ctx, probe_period(s)) == 0);
	weft_wg_done(&s->wg);
}

static unsigned probes_placed(struct weftd_sup *s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->nprocs; i++)
		n += atomic_load(&s->placed[i]) != 0;
	return n;
}

static int spawn_probes(struct weftd_sup *s)
{
	for (unsigned i = 0; i < s->nprocs; i++) {
		struct probe_arg *pa = malloc(sizeof(*pa));
		if (!pa)
			return -ENOMEM;
		*pa = (struct probe_arg){ .s = s, .id = i };
		weft_wg_add(&s->wg, 1);
		int r = weft_go_opts(probe, pa,
				     &(struct weft_go_opts){ .name = "probe", .on_proc = true, .proc = i });
		if (r < 0) {
			free(pa);
			weft_wg_done(&s->wg);
			return r;
		}
	}
	return 0;
}

/* WATCHDOG=1 every interval/2 while every proc's probe is fresh. */
static void watchdog(void *arg)
{
	struct weftd_sup *s = arg;
	int64_t next_ping = 0;
	do {
		int64_t now = weft_now();
		if (now < next_ping)
			continue;
		int64_t last[WEFTD_SUP_MAX_PROCS];
		for (unsigned i = 0; i < s->nprocs; i++)
			last[i] = atomic_load(&s->probe_last[i]);
		bool ok = weftd_watchdog_healthy(now, last, s->nprocs, s->wd_ns / 2);
		if (ok && s->o.ping() >= 0)
			next_ping = now + s->wd_ns / 2;
		weftd_spin_lock(&s->lock);
		if (ok)
			s->st.watchdog_pings++;
		else
			s->st.watchdog_withheld++;
		weftd_spin_unlock(&s->lock);
	} while (weft_sleep(s->ctx, s->wd_ns / 4) == 0);
	weft_wg_done(&s->wg);
}

static int spawn_one(struct weftd_sup *s, weft_fn fn, const char *name)
{
	weft_wg_add(&s->wg, 1);
	int r = weft_go_opts(fn, s, &(struct weft_go_opts){ .name = name });
	if (r < 0)
		weft_wg_done(&s->wg);
	return r;
}

int weftd_sup_start(struct weftd_sup *s)
{
	if (!s)
		return -EINVAL;
	if (s->started)
		return -EALREADY;
	int n = weft_nprocs();
	if (n < 0)
		return n;
	s->nprocs = (unsigned)n < WEFTD_SUP_MAX_PROCS ? (unsigned)n : WEFTD_SUP_MAX_PROCS;
	int r = weft_ctx_with_cancel(NULL, &s->ctx);
	if (r < 0)
		return r;
	r = spawn_one(s, monitor, "heartbeats");
	if (r == 0 && s->wd_ns)
		r = spawn_one(s, watchdog, "watchdog");
	if (r == 0)
		r = spawn_probes(s);
	if (r < 0) {
		weft_ctx_cancel(s->ctx);
		weft_wg_wait(NULL, &s->wg);
		s->ctx = weft_ctx_unref(s->ctx);
		return r;
	}
	s->started = true;
	return 0;
}

int weftd_sup_stop(struct weftd_sup *s)
{
	if (!s)
		return -EINVAL;
	if (!s->started || s->stopped)
		return 0;
	s->stopped = true;
	weft_ctx_cancel(s->ctx);
	return weft_wg_wait(NULL, &s->wg);
}

struct weftd_sup *weftd_sup_free(struct weftd_sup *s)
{
	if (!s)
		return NULL;
	struct weftd_hb *hb;
	while ((hb = LIST_FIRST(&s->slots))) {
		LIST_REMOVE(hb, link);
		slot_free(hb);
	}
	weft_hbmon_free(s->mon);
	weft_ctx_unref(s->ctx);
	free(s);
	return NULL;
}

void weftd_sup_stats(struct weftd_sup *s, struct weftd_sup_stats *ret)
{
	int64_t now = weft_now();
	weftd_spin_lock(&s->lock);
	*ret = s->st;
	weftd_spin_unlock(&s->lock);
	ret->probes = probes_placed(s);
	for (unsigned i = 0; i < s->nprocs; i++) {
		int64_t last = atomic_load(&s->probe_last[i]);
		ret->probe_age_ns[i] = last ? now - last : -1;
	}
}
