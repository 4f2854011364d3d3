/* lifecycle.c — signals, drain, systemd notifications (see lifecycle.h). */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lifecycle.h"
#include "log.h"
#include "notify.h"
#include "signals.h"
#include "supervisor.h"

#define STATUS_PERIOD (5 * WEFT_SEC)
#define DRAIN_POLL    (50 * WEFT_MSEC)

struct life {
	struct weftd_engine *e;
	struct weftd_server *srv;
	const struct weftd_daemon_config *d;
	weft_ctx *serve;     /* cancelled by the first TERM/INT: stop serving, start the drain */
	weft_ctx *skip;      /* cancelled by the second: skip the drain's wait */
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

/* Close intake and wait until nothing is queued or running, or the timeout, or skip.
 * Returns the number of jobs that were pending at the start (>= 0), or -ETIMEDOUT /
 * skip's error with jobs left. */
static long drain(struct life *L, bool notify)
{
	weftd_engine_set_intake(L->e, false);
	uint64_t start = pending(L->e), last = start;
	int64_t deadline = weft_now() + (int64_t)L->d->shutdown_timeout_ns;
	weftd_notice("draining: %llu jobs queued or running, %llums to finish",
		     (unsigned long long)start, (unsigned long long)(L->d->shutdown_timeout_ns / 1000000));
	for (;;) {
		uint64_t n = pending(L->e);
		if (n == 0)
			return (long)start;
		if (weft_now() >= deadline)
			return -ETIMEDOUT;
		if (notify && n < last) {
			/* progress: give systemd's stop timeout the rest of our budget plus slack */
			weftd_notify_extend_timeout((uint64_t)(deadline - weft_now()) / 1000 + 5000000);
			weftd_notify_status("draining: %llu jobs left", (unsigned long long)n);
		}
		last = n;
		int r = weft_sleep(L->skip, DRAIN_POLL);
		if (r < 0)
			return r;
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
		weftd_engine_stats_json(L->e, &b, cfg->pipelines[i].name);
		weftd_notice("SIGUSR1: stats {%.*s}", (int)b.len, b.data ? b.data : "");
		weftd_buf_done(&b);
	}
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
		weftd_warn("SIGHUP: reload is not implemented yet; the running config stays");
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
	int r = weftd_server_run(L->srv, L->serve);
	if (r != -ECANCELED) {
		weftd_err("stopped accepting: %s", strerror(-r));
		L->server_err = r;
		weft_ctx_cancel(L->serve);
	}
	weft_wg_done(&L->helpers);
}

/* The `drain` op: the same drain, without exiting; intake stays closed afterwards. */
static void op_drain(void *arg, const char *id, struct weftd_buf *out)
{
	struct life *L = arg;
	long r = drain(L, false);
	if (r < 0) {
		weftd_resp_error(out, id, WEFTD_ERR_INTERNAL,
				 r == -ETIMEDOUT ? "drain timed out with jobs still running"
						 : "drain interrupted");
		return;
	}
	weftd_notice("drain complete: %ld jobs finished; intake stays closed", r);
	weftd_resp_begin(out, id);
	weftd_json_u64(out, "drained", (uint64_t)r);
	weftd_resp_end(out);
}

static void on_hb_timeout(void *arg, const char *what, const char *job_id, int64_t silent_ns)
{
	weftd_warn("job %s at %s: no heartbeat for %lldms, cancelling the attempt", job_id, what,
		   (long long)(silent_ns / 1000000));
}

static int spawn(struct life *L, weft_fn fn, const char *name)
{
	weft_wg_add(&L->helpers, 1);
	int r = weft_go_opts(fn, L, &(struct weft_go_opts){ .name = name });
	if (r < 0)
		weft_wg_done(&L->helpers);
	return r;
}

int weftd_lifecycle_run(struct weftd_engine *e, struct weftd_server *srv)
{
	struct life L = { .e = e, .srv = srv, .d = &weftd_engine_config(e)->daemon };
	struct weftd_sup *sup = NULL;
	weft_wg_init(&L.helpers);
	int r = weft_ctx_with_cancel(NULL, &L.serve);
	if (r == 0)
		r = weft_ctx_with_cancel(NULL, &L.skip);
	if (r == 0)
		r = weft_ctx_with_cancel(NULL, &L.bg);
	int64_t wd = weftd_notify_watchdog_usec(L.d->watchdog);
	if (wd < 0) {
		weftd_warn("WATCHDOG_USEC is malformed: no watchdog pings");
		wd = 0;
	}
	struct weftd_sup_opts so = {
		.heartbeat_interval_ns = (int64_t)L.d->heartbeat_interval_ns,
		.heartbeat_timeout_ns = (int64_t)L.d->heartbeat_timeout_ns,
		.watchdog_usec = wd, .on_timeout = on_hb_timeout,
	};
	if (r == 0)
		r = weftd_sup_new(&so, &sup);
	if (r == 0)
		r = weftd_sup_start(sup);
	weftd_server_set_handler(srv, WEFTD_OP_DRAIN, op_drain, &L);
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
		if (wd)
			weftd_info("systemd watchdog: pinging every %lldms while every proc runs",
				   (long long)(wd / 2000));
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
	weft_ctx_cancel(L.bg);
	weft_wg_wait(NULL, &L.helpers);
	weftd_sup_stop(sup);
	weftd_sup_free(sup);
	weft_ctx_unref(L.serve);
	weft_ctx_unref(L.skip);
	weft_ctx_unref(L.bg);
	return r;
}
