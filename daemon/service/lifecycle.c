/* SPDX-License-Identifier: MIT */
/* lifecycle.c — signals, drain, systemd notifications (see lifecycle.h). */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/lifecycle.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "jobs/journal.h"
#include "server/render.h"
#include "broker/broker.h"
#include "util/log.h"
#include "util/notify.h"
#include "service/signals.h"

#define STATUS_PERIOD (5 * WEFT_SEC)
#define DRAIN_REPORT  WEFT_SEC      /* drain progress to systemd (pacing, not a poll) */
#define CONN_LINGER   (2 * WEFT_SEC)  /* for answers to reach clients after the drain */

struct life {
	struct weftd_engine *e;
	struct weftd_server *srv;
	const char *config_path;
	weft_mutex reload_lock;  /* one reload at a time */
	weft_wg ops;             /* drain/reload op and SIGHUP fibers using this struct */
	weft_ctx *serve;     /* cancelled by the first TERM/INT: stop serving, start the drain */
	weft_ctx *skip;      /* cancelled by the second: skip the drain's wait */
	weft_ctx *accept;    /* cancelled when the drain ends: until then new connections are
	                        served (status, wait; submit answers `draining`) */
	weft_ctx *bg;        /* the helper fibers (signals, status); cancelled at the end */
	atomic_int stops;
	int server_err;
	weft_wg helpers;
};

/* Live (not yet final) jobs: the job table's view, which also covers jobs between two
 * stage gauges (dequeued, in backoff, waiting for a rate-limit token). */
static uint64_t pending(struct weftd_engine *e)
{
	struct weftd_jobs_counts c;
	weftd_jobs_counts(weftd_engine_jobs(e), &c);
	return c.total - c.finished;
}

/* Close intake and wait until nothing is queued or running (woken by the last job's end),
 * or the timeout, or skip. With notify, systemd hears of the progress every DRAIN_REPORT.
 * Returns the number of jobs that were pending at the start (>= 0), or -ETIMEDOUT /
 * skip's error with jobs left. */
static long drain(struct life *L, bool notify)
{
	uint64_t budget = weftd_engine_config(L->e)->daemon.shutdown_timeout_ns; /* reloadable */
	weftd_engine_set_intake(L->e, false);
	uint64_t start = pending(L->e), last = start;
	int64_t deadline = weft_now() + (int64_t)budget;
	weftd_notice("draining: %llu jobs queued or running, %llums to finish",
		     (unsigned long long)start, (unsigned long long)(budget / 1000000));
	for (;;) {
		int64_t left = deadline - weft_now();
		weft_ctx *until;
		if (left <= 0)
			return pending(L->e) ? -ETIMEDOUT : (long)start;
		int r = weft_ctx_with_timeout(L->skip, notify && left > DRAIN_REPORT ? DRAIN_REPORT : left,
					      &until);
		if (r < 0)
			return r;
		r = weftd_engine_wait_idle(L->e, until);
		weft_ctx_unref(until);
		if (r == 0)
			return (long)start;
		if ((r = weft_ctx_err(L->skip)) < 0)
			return r;
		uint64_t n = pending(L->e);
		if (notify && n < last) {
			/* progress: give systemd's stop timeout the rest of our budget plus slack */
			weftd_notify_extend_timeout((uint64_t)(deadline - weft_now()) / 1000 + 5000000);
			weftd_notify_status("draining: %llu jobs left", (unsigned long long)n);
		}
		last = n;
	}
}

static void dump(struct life *L)
{
	weftd_notice("SIGUSR1: fiber dump follows");
	int n = weft_dump_fibers(STDERR_FILENO);
	weftd_notice("SIGUSR1: %d fibers", n);
	/* one log line per pipeline keeps each under the log's line limit */
	const struct weftd_config *cfg = weftd_engine_config(L->e);
	for (size_t i = 0; i < cfg->npipelines; i++) {
		struct weftd_buf b;
		weftd_buf_init(&b, NULL, 0);
		weftd_render_stats(&b, L->e, cfg->pipelines[i].name);
		weftd_notice("SIGUSR1: stats {%.*s}", (int)b.len, b.data ? b.data : "");
		weftd_buf_done(&b);
	}
	struct weftd_buf b;
	weftd_buf_init(&b, NULL, 0);
	weftd_render_runtime(&b, weftd_server_connections(L->srv));
	weftd_notice("SIGUSR1: {%.*s}", (int)b.len, b.data ? b.data : "");
	weftd_buf_done(&b);
}

struct load_arg {
	const char *path;
	struct weftd_config *cfg;
	char err[1024];
};

static int load_config(void *arg)
{
	struct load_arg *a = arg;
	return weftd_config_load(a->path, &a->cfg, a->err, sizeof(a->err));
}

#define STR_EQ(a, b) ((a) == (b) || ((a) && (b) && strcmp((a), (b)) == 0))

/* Daemon settings a reload cannot apply: say so (they apply at the next start). */
static void log_needs_restart(const struct weftd_daemon_config *o, const struct weftd_daemon_config *n)
{
	struct {
		const char *key;
		bool same;
	} k[] = {
		{ "socket", STR_EQ(o->socket, n->socket) },
		{ "socket_mode", o->socket_mode == n->socket_mode },
		{ "procs", o->procs == n->procs },
		{ "max_connections", o->max_connections == n->max_connections },
		{ "max_request_bytes", o->max_request_bytes == n->max_request_bytes },
		{ "max_response_bytes", o->max_response_bytes == n->max_response_bytes },
		{ "max_connections_per_uid", o->max_connections_per_uid == n->max_connections_per_uid },
		{ "idle_timeout", o->idle_timeout_ns == n->idle_timeout_ns },
		{ "request_timeout", o->request_timeout_ns == n->request_timeout_ns },
		{ "allow_uids", o->nallow_uids == n->nallow_uids &&
			(!o->nallow_uids || !memcmp(o->allow_uids, n->allow_uids, o->nallow_uids * sizeof(uid_t))) },
		{ "allow_groups", o->nallow_gids == n->nallow_gids &&
			(!o->nallow_gids || !memcmp(o->allow_gids, n->allow_gids, o->nallow_gids * sizeof(gid_t))) },
		{ "admin_uids", o->nadmin_uids == n->nadmin_uids &&
			(!o->nadmin_uids || !memcmp(o->admin_uids, n->admin_uids, o->nadmin_uids * sizeof(uid_t))) },
		{ "admin_groups", o->nadmin_gids == n->nadmin_gids &&
			(!o->nadmin_gids || !memcmp(o->admin_gids, n->admin_gids, o->nadmin_gids * sizeof(gid_t))) },
		{ "heartbeat_interval", o->heartbeat_interval_ns == n->heartbeat_interval_ns },
		{ "heartbeat_timeout", o->heartbeat_timeout_ns == n->heartbeat_timeout_ns },
		{ "watchdog", o->watchdog == n->watchdog },
		{ "durability", o->durability == n->durability },
		{ "state_dir", STR_EQ(o->state_dir, n->state_dir) },
		{ "http", weftd_http_config_equal(&o->http, &n->http) },
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (!k[i].same)
			weftd_warn("reload: daemon.%s changed: needs restart (the running value stays)", k[i].key);
}

/* SIGHUP and the reload op. Returns 0 or -errno with err filled (the old config runs on). */
static int reload(struct life *L, const char *why, struct weftd_reload_stats *st, char *err,
		  size_t errlen)
{
	struct load_arg *a = calloc(1, sizeof(*a));
	int r;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	weft_mutex_lock(NULL, &L->reload_lock);
	if (weft_ctx_err(L->serve) < 0) {
		/* shutting down: the engine may be stopped, new workers would never end */
		snprintf(err, errlen, "the daemon is shutting down");
		weftd_warn("%s: ignored, %s", why, err);
		weft_mutex_unlock(&L->reload_lock);
		free(a);
		return -ESHUTDOWN;
	}
	weftd_notify_reloading();
	weftd_notice("%s: reloading %s", why, L->config_path);
	a->path = L->config_path;
	r = weft_blocking(load_config, a);
	if (r < 0) {
		snprintf(err, errlen, "%s", a->err[0] ? a->err : strerror(-r));
		weftd_err("reload rejected, the running config stays: %s", err);
		goto out;
	}
	const struct weftd_config *old = weftd_engine_config(L->e);
	log_needs_restart(&old->daemon, &a->cfg->daemon);
	enum weftd_log_level level = a->cfg->daemon.log_level;
	r = weftd_engine_reload(L->e, a->cfg, st, err, errlen);
	if (r < 0) {
		weftd_err("reload rejected, the running config stays: %s", err);
		goto out;
	}
	if (weftd_server_broker(L->srv) &&
	    weftd_broker_reload(weftd_server_broker(L->srv), weftd_engine_config(L->e), err, errlen) < 0)
		weftd_err("reload: broker pipelines: %s", err); /* the local side is applied */
	weftd_log_set_level(level);
	weftd_notice("reloaded: %u pipelines unchanged, %u changed, %u added, %u removed",
		     st->unchanged, st->changed, st->added, st->removed);
out:
	weftd_notify_ready(weftd_engine_intake_open(L->e) ? "serving" : "draining");
	weft_mutex_unlock(&L->reload_lock);
	free(a);
	return r;
}

static void sighup_fiber(void *arg)
{
	struct life *L = arg;
	struct weftd_reload_stats st;
	char err[1024];

	reload(L, "SIGHUP", &st, err, sizeof(err));
	weft_wg_done(&L->ops);
}

/* The reload op: any failure is -EINVAL (invalid_config), the old config running on. */
static int op_reload(void *arg, const char *id, struct weftd_buf *out, char *err, size_t errlen)
{
	struct life *L = arg;
	struct weftd_reload_stats st = { 0 };

	weft_wg_add(&L->ops, 1);
	int r = reload(L, "reload op", &st, err, errlen);
	if (r == 0) {
		weftd_resp_begin(out, id);
		weftd_json_u64(out, "unchanged", st.unchanged);
		weftd_json_u64(out, "changed", st.changed);
		weftd_json_u64(out, "added", st.added);
		weftd_json_u64(out, "removed", st.removed);
		weftd_resp_end(out);
	}
	weft_wg_done(&L->ops);
	return r < 0 ? -EINVAL : 0;
}

static int on_signal(int sig, void *arg)
{
	struct life *L = arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (atomic_fetch_add(&L->stops, 1) == 0) {
			weftd_notice("%s: graceful shutdown", strsignal(sig));
			weft_ctx_cancel(L->serve);
		} else {
			weftd_notice("%s again: not waiting for the drain", strsignal(sig));
			weft_ctx_cancel(L->skip);
		}
		break;
	case SIGHUP:
		/* in a fiber of its own: the signal reader stays responsive (a TERM during a
		 * reload) */
		weft_wg_add(&L->ops, 1);
		if (weft_go_opts(sighup_fiber, L, &(struct weft_go_opts){ .name = "reload" }) < 0) {
			weft_wg_done(&L->ops);
			weftd_err("SIGHUP: cannot start the reload: out of memory");
		}
		break;
	case SIGUSR1:
		dump(L);
		break;
	}
	return 0;
}

static void signal_fiber(void *arg)
{
	struct life *L = arg;
	struct weftd_signals *s;
	int r = weftd_signals_open(&s);
	if (r < 0) {
		weftd_err("signalfd: %s", strerror(-r));
	} else {
		r = weftd_signals_run(L->bg, s, on_signal, L);
		if (r != -ECANCELED)
			weftd_err("reading signals: %s", strerror(-r));
		weftd_signals_free(s);
	}
	weft_wg_done(&L->helpers);
}

static void status_fiber(void *arg)
{
	struct life *L = arg;
	do {
		struct weftd_engine_load l;
		weftd_engine_load(L->e, &l);
		weftd_notify_status("%s: %llu queued, %llu running, %llu retrying, %u connections",
				    weftd_engine_intake_open(L->e) ? "serving" : "draining",
				    (unsigned long long)l.queued, (unsigned long long)l.running,
				    (unsigned long long)l.retrying, weftd_server_connections(L->srv));
	} while (weft_sleep(L->bg, STATUS_PERIOD) == 0);
	weft_wg_done(&L->helpers);
}

static void server_fiber(void *arg)
{
	struct life *L = arg;
	int r = weftd_server_run(L->srv, L->accept);
	if (r != -ECANCELED) {
		weftd_err("stopped accepting: %s", strerror(-r));
		L->server_err = r;
		weft_ctx_cancel(L->serve);
	}
	weft_wg_done(&L->helpers);
}

/* The `drain` op: the same drain, without exiting; intake stays closed afterwards. */
static int op_drain(void *arg, const char *id, struct weftd_buf *out, char *err, size_t errlen)
{
	struct life *L = arg;
	weft_wg_add(&L->ops, 1);
	long r = drain(L, false);
	weft_wg_done(&L->ops);
	if (r < 0) {
		snprintf(err, errlen, "%s", r == -ETIMEDOUT ? "drain timed out with jobs still running"
							    : "drain interrupted");
		return r == -ETIMEDOUT ? -ETIMEDOUT : -ECANCELED;
	}
	weftd_notice("drain complete: %ld jobs finished; intake stays closed", r);
	weftd_resp_begin(out, id);
	weftd_json_u64(out, "drained", (uint64_t)r);
	weftd_resp_end(out);
	return 0;
}

/* The `undrain` op (and `resume` without a pipeline): intake opens again after a `drain`
 * op, without a restart. Not during a shutdown (SIGTERM/SIGINT): that drain ends in an exit. */
static int op_undrain(void *arg, const char *id, struct weftd_buf *out, char *err, size_t errlen)
{
	struct life *L = arg;

	if (weft_ctx_err(L->serve) < 0) {
		snprintf(err, errlen, "the daemon is shutting down");
		return -ESHUTDOWN;
	}
	if (!weftd_engine_intake_open(L->e)) {
		weftd_engine_set_intake(L->e, true);
		weftd_notice("undrain: intake open again");
		weftd_notify_status("serving");
	}
	weftd_resp_begin(out, id);
	weftd_json_cstr(out, "intake", "open");
	weftd_resp_end(out);
	return 0;
}

static int spawn(struct life *L, weft_fn fn, const char *name)
{
	weft_wg_add(&L->helpers, 1);
	int r = weft_go_opts(fn, L, &(struct weft_go_opts){ .name = name });
	if (r < 0)
		weft_wg_done(&L->helpers);
	return r;
}

int weftd_lifecycle_run(struct weftd_engine *e, struct weftd_server *srv, const char *config_path)
{
	struct life L = { .e = e, .srv = srv, .config_path = config_path };
	weft_wg_init(&L.helpers);
	weft_wg_init(&L.ops);
	weft_mutex_init(&L.reload_lock);
	int r = weft_ctx_with_cancel(NULL, &L.serve);
	if (r == 0)
		r = weft_ctx_with_cancel(NULL, &L.skip);
	if (r == 0)
		r = weft_ctx_with_cancel(NULL, &L.bg);
	if (r == 0)
		r = weft_ctx_with_cancel(NULL, &L.accept);
	weftd_server_set_handler(srv, WEFTD_OP_DRAIN, op_drain, &L);
	weftd_server_set_handler(srv, WEFTD_OP_UNDRAIN, op_undrain, &L);
	weftd_server_set_handler(srv, WEFTD_OP_RELOAD, op_reload, &L);
	if (r == 0)
		r = spawn(&L, signal_fiber, "signals");
	if (r == 0)
		r = spawn(&L, server_fiber, "accept");
	if (r == 0)
		r = spawn(&L, status_fiber, "status");
	if (r < 0) {
		weftd_err("start-up: %s", strerror(-r));
	} else {
		weftd_notify_ready("serving");
		weft_ctx_wait(L.serve);
		weftd_notify_stopping();
		long d = L.server_err ? 0 : drain(&L, true);
		if (d >= 0) {
			weftd_notice("drained: %ld jobs finished", d);
			r = L.server_err;
		} else {
			weftd_notice("drain %s with %llu jobs left: cancelling them",
				     d == -ETIMEDOUT ? "timed out" : "skipped",
				     (unsigned long long)pending(e));
			r = -ETIMEDOUT;
		}
	}
	weft_ctx_cancel(L.serve);
	weft_ctx_cancel(L.skip);
	weft_ctx_cancel(L.accept);
	/* a reload under way finishes first (later ones see serve cancelled and refuse) */
	weft_mutex_lock(NULL, &L.reload_lock);
	weft_mutex_unlock(&L.reload_lock);
	/* what is left is cancelled (its waiters answered), then the connections close */
	weftd_engine_stop(e);
	if (weftd_server_close_conns(srv, CONN_LINGER) < 0)
		weftd_warn("%u connections still open at exit", weftd_server_connections(srv));
	weft_ctx_cancel(L.bg);
	weft_wg_wait(NULL, &L.helpers);
	/* an op or reload fiber still using L: let it finish (it sees the stop) */
	weft_wg_wait(NULL, &L.ops);
	weftd_server_set_handler(srv, WEFTD_OP_DRAIN, NULL, NULL);
	weftd_server_set_handler(srv, WEFTD_OP_UNDRAIN, NULL, NULL);
	weftd_server_set_handler(srv, WEFTD_OP_RELOAD, NULL, NULL);
	weft_ctx_unref(L.serve);
	weft_ctx_unref(L.skip);
	weft_ctx_unref(L.bg);
	weft_ctx_unref(L.accept);
	return r;
}
