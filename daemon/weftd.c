/* SPDX-License-Identifier: MIT */
/* weftd — the job daemon: loads the config, listens on the Unix socket and runs the
 * pipelines on libweft's scheduler. See `weftd --help` and daemon/PROTOCOL.md. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/engine.h"
#include "service/lifecycle.h"
#include "jobs/journal.h"
#include "util/log.h"
#include "actions/actor.h"
#include "actions/keeper.h"
#include "actions/orphans.h"
#include "util/notify.h"
#include "server/server.h"
#include "broker/broker.h"
#include "service/signals.h"
#include "engine/supervisor.h"
#include "obs/http.h"
#include "obs/metrics.h"
#include "obs/profile.h"
#include "obs/trace.h"


#define DEFAULT_CONFIG "/etc/weftd/weftd.yaml"

struct daemon_state {
	struct weftd_config *cfg;      /* until the engine takes it */
	const char *config_path;       /* re-read by reload */
	int lfd;
	int http_fd;                   /* daemon.http's listening socket, or -EBADF: none */
	struct weftd_metrics_src metrics; /* what /metrics and the metrics op read */
	int rc;
	struct weftd_keeper *keeper;   /* kills exec children if weftd is killed; NULL = none */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: weftd [--config FILE]\n"
		"       weftd --check-config FILE\n"
		"       weftd --help | --version\n"
		"\n"
		"Run the weft job daemon: YAML-configured pipelines of worker-pool stages over\n"
		"jobs submitted on a Unix socket (newline-delimited JSON, see PROTOCOL.md;\n"
		"the client is weftctl).\n"
		"\n"
		"  -c, --config FILE        configuration file (default " DEFAULT_CONFIG ")\n"
		"  -t, --check-config FILE  check FILE as start and reload do (the file, then each\n"
		"                           stage prepared: params, exec program in PATH, plugin\n"
		"                           and symbol), print the first error as\n"
		"                           FILE:LINE:COLUMN: message, exit 0 (valid) or 1\n"
		"  -h, --help               this text\n"
		"  -V, --version            print the version\n"
		"\n"
		"The socket is daemon.socket from the config, or the one systemd passes by socket\n"
		"activation. Logs go to stderr, with <N> syslog priority prefixes when stderr is not\n"
		"a terminal or JOURNAL_STREAM is set (journald). Exit status: 0 after a clean stop,\n"
		"1 on a configuration or start-up error, 2 on bad usage.\n");
}

static void on_hb_timeout(void *arg, const char *what, const char *job_id, int64_t silent_ns)
{
	weftd_warn("job %s at %s: no heartbeat for %lldms, cancelling the attempt", job_id, what,
		   (long long)(silent_ns / 1000000));
}

struct jopen_arg {
	struct weftd_journal_opts o;
	struct weftd_journal *jn;
	char warn[512];
};

static int journal_open(void *arg)
{
	struct jopen_arg *a = arg;
	return weftd_journal_open(&a->o, &a->jn, a->warn, sizeof(a->warn));
}

/* The supervisor: worker heartbeats and the systemd watchdog. */
static int sup_start(const struct weftd_daemon_config *d, struct weftd_sup **ret)
{
	int64_t wd = weftd_notify_watchdog_usec(d->watchdog != WEFTD_WATCHDOG_OFF);
	if (wd < 0) {
		weftd_warn("WATCHDOG_USEC is malformed: no watchdog pings");
		wd = 0;
	}
	struct weftd_sup_opts so = {
		.heartbeat_interval_ns = (int64_t)d->heartbeat_interval_ns,
		.heartbeat_timeout_ns = (int64_t)d->heartbeat_timeout_ns,
		.watchdog_usec = wd, .on_timeout = on_hb_timeout,
	};
	int r = weftd_sup_new(&so, ret);
	if (r == 0)
		r = weftd_sup_start(*ret);
	if (r == 0 && wd)
		weftd_info("systemd watchdog: pinging every %lldms while every proc runs",
			   (long long)(wd / 2000));
	return r;
}

static unsigned connections(void *arg)
{
	return weftd_server_connections(arg);
}

/* The HTTP listener's fiber (daemon.http): until the lifecycle is over. */
struct http_run {
	struct weftd_http *h;
	weft_ctx *ctx;
	weft_wg done;
};

static void http_fiber(void *arg)
{
	struct http_run *hr = arg;
	int r = weftd_http_run(hr->h, hr->ctx);

	if (r < 0)
		weftd_err("http: stopped serving: %s", strerror(-r));
	weft_wg_done(&hr->done);
}

/* Start the HTTP listener on st->http_fd (taken). A failure is logged, not fatal: the
 * jobs matter more than their monitoring. Returns whether it runs. */
static bool http_start(struct daemon_state *st, const struct weftd_http_config *hc, struct http_run *hr)
{
	int r;

	if (st->http_fd < 0)
		return false;
	hr->ctx = NULL;
	weft_wg_init(&hr->done);
	r = weftd_http_new(st->http_fd, hc, &st->metrics, &hr->h);
	if (r < 0) {
		weftd_err("http: cannot start on %s: %s", hc->listen, strerror(-r));
		return false;
	}
	st->http_fd = -EBADF;
	weft_wg_add(&hr->done, 1);
	if (weft_ctx_with_cancel(NULL, &hr->ctx) < 0 ||
	    weft_go_opts(http_fiber, hr, &(struct weft_go_opts){ .name = "http" }) < 0) {
		weft_ctx_unref(hr->ctx);
		weftd_http_free(hr->h);
		weftd_err("http: cannot start: out of memory");
		return false;
	}
	weftd_info("http: serving /metrics, /healthz, /readyz on %s", hc->listen);
	return true;
}

static void http_stop(struct http_run *hr)
{
	weft_ctx_cancel(hr->ctx);
	weft_wg_wait(NULL, &hr->done);
	weft_ctx_unref(hr->ctx);
	weftd_http_free(hr->h);
}

static void daemon_main(void *arg)
{
	struct daemon_state *st = arg;
	struct weftd_engine *e = NULL;
	struct weftd_server *srv = NULL;
	struct weftd_sup *sup = NULL;
	struct weftd_broker *br = NULL;
	struct jopen_arg *ja = NULL;
	const struct weftd_config *cfg;
	char err[512] = "";
	struct weft_features ft;
	int r;

	/* libweft never logs: the fallback from io_uring is said here, once */
	if (weft_features(&ft) == 0 && ft.io_uring_error < 0)
		weftd_warn("io_uring unavailable (%s): using the epoll I/O back end, slower",
			   strerror(-ft.io_uring_error));
	r = weftd_engine_new(st->cfg, &e, err, sizeof(err));
	st->cfg = NULL; /* the engine owns it (freed on failure too) */
	if (r < 0) {
		weftd_err("%s", err);
		st->rc = 1;
		return;
	}
	weftd_engine_set_keeper(e, st->keeper);
	cfg = weftd_engine_config(e);
	if (cfg->daemon.durability != WEFTD_DURABILITY_NONE) {
		ja = calloc(1, sizeof(*ja));
		if (!ja) {
			r = -ENOMEM;
			goto fail;
		}
		ja->o = (struct weftd_journal_opts){ .dir = cfg->daemon.state_dir,
						     .mode = cfg->daemon.durability,
						     .keep = &cfg->daemon.retention };
		r = weft_blocking(journal_open, ja);
		if (r < 0) {
			if (ja->warn[0])
				weftd_err("%s", ja->warn);
			else
				weftd_err("journal in %s: %s", cfg->daemon.state_dir, strerror(-r));
			goto fail;
		}
		if (ja->warn[0])
			weftd_warn("journal: %s", ja->warn);
		weftd_engine_set_journal(e, ja->jn);
	}
	r = sup_start(&cfg->daemon, &sup);
	if (r < 0)
		goto fail;
	weftd_engine_set_sup(e, sup);
	/* broker pipelines (broker/broker.h): always there, so that a reload may add some;
	 * the engine's workers run their stages through the broker's store */
	r = weftd_broker_new(cfg, &br, err, sizeof(err));
	if (r < 0) {
		weftd_err("%s", err);
		goto fail;
	}
	weftd_engine_set_store(e, &weftd_broker_store, br);
	r = weftd_engine_start(e);
	if (r == 0 && ja)
		r = weftd_journal_start(ja->jn);
	if (r == 0) {
		long n = weftd_engine_replay(e);
		if (n > 0)
			weftd_notice("journal: %ld unfinished jobs resumed", n);
		r = n < 0 ? (int)n : 0;
	}
	if (r == 0)
		r = weftd_engine_start_schedules(e);
	if (r == 0)
		r = weftd_server_new(e, st->lfd, &cfg->daemon, &srv);
	if (r == 0 && (r = weftd_broker_start(br, err, sizeof(err))) < 0)
		weftd_err("%s", err);
	if (r < 0) {
		weftd_broker_stop(br);
		weftd_engine_stop(e);
		goto fail;
	}
	weftd_server_set_broker(srv, br);
	st->metrics = (struct weftd_metrics_src){
		.e = e, .jn = ja ? ja->jn : NULL, .connections = connections, .arg = srv,
	};
	weftd_server_set_handler(srv, WEFTD_OP_METRICS, weftd_metrics_answer, &st->metrics);
	weftd_server_set_handler_args(srv, WEFTD_OP_PROFILE, weftd_profile_answer, NULL);
	weftd_server_set_handler_args(srv, WEFTD_OP_TRACE, weftd_trace_answer, NULL);
	struct http_run hr;
	bool http = http_start(st, &cfg->daemon.http, &hr);
	weftd_notice("weftd %s ready: %zu pipelines, %d procs", WEFT_VERSION, cfg->npipelines,
		     weft_nprocs());
	r = weftd_lifecycle_run(e, srv, st->config_path);
	weftd_broker_stop(br); /* after the connections: no op uses it any more */
	/* after the drain (readyz answered 503 through it), before the engine goes */
	if (http)
		http_stop(&hr);
	weftd_server_set_handler(srv, WEFTD_OP_METRICS, NULL, NULL);
	weftd_server_set_handler_args(srv, WEFTD_OP_TRACE, NULL, NULL);
	/* a drain that timed out or was skipped still ends in an orderly stop */
	st->rc = r < 0 && r != -ETIMEDOUT ? 1 : 0;
	goto out;
fail:
	weftd_err("start-up: %s", strerror(-r));
	st->rc = 1;
out:
	if (ja && ja->jn) {
		weftd_journal_close(ja->jn);
		weftd_journal_free(ja->jn);
	}
	free(ja);
	weftd_sup_stop(sup);
	weftd_sup_free(sup);
	weftd_server_free(srv);
	weftd_broker_free(br);
	weftd_engine_free(e);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = DEFAULT_CONFIG, *check = NULL;
	struct daemon_state st = { .lfd = -EBADF, .http_fd = -EBADF };
	char err[1024];
	bool activated;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:t:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': check = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("weftd %s\n", WEFT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weftd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check) {
		/* what start and reload check: the file, then every stage's action prepared */
		r = weftd_config_load(check, &st.cfg, err, sizeof(err));
		if (r == 0 && (r = weftd_actor_check_config(st.cfg, err, sizeof(err))) < 0)
			weftd_config_free(st.cfg);
		if (r < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		printf("%s: ok (%zu pipelines)\n", check, st.cfg->npipelines);
		weftd_config_free(st.cfg);
		return 0;
	}
	weftd_log_init(WEFTD_LOG_INFO);
	r = weftd_config_load(path, &st.cfg, err, sizeof(err));
	if (r < 0) {
		weftd_err("%s", err);
		return 1;
	}
	weftd_log_set_level(st.cfg->daemon.log_level);
	/* Before any thread exists, so every proc inherits the mask: TERM/INT/HUP/USR1 are read
	 * from a signalfd by a fiber; SIGPIPE is ignored (EPIPE, not a death). */
	r = weftd_signals_block();
	if (r < 0) {
		weftd_err("blocking signals: %s", strerror(-r));
		weftd_config_free(st.cfg);
		return 1;
	}
	/* Also before any thread: fork copies only the caller. */
	r = weftd_keeper_start(&st.keeper);
	if (r < 0)
		weftd_warn("no keeper for exec children (they would outlive a killed weftd): %s",
			   strerror(-r));
	/* weftd adopts what escapes an exec job's group, to end it (actions/orphans.h) */
	r = weftd_orphans_init(weftd_keeper_pid(st.keeper));
	if (r < 0)
		weftd_warn("not a child subreaper (what escapes a job's process group runs on): %s",
			   strerror(-r));
	struct weftd_sockfile sockfile;
	st.lfd = weftd_server_listen(&st.cfg->daemon, &activated, &sockfile, err, sizeof(err));
	if (st.lfd < 0) {
		weftd_err("%s", err);
		weftd_config_free(st.cfg);
		weftd_keeper_stop(st.keeper);
		return 1;
	}
	weftd_info("listening on %s", activated ? "the socket from systemd" : st.cfg->daemon.socket);
	if (st.cfg->daemon.http.listen) {
		st.http_fd = weftd_http_listen(&st.cfg->daemon.http, st.cfg->daemon.socket_mode, err,
					       sizeof(err));
		if (st.http_fd < 0) {
			weftd_err("%s", err);
			weftd_config_free(st.cfg);
			weftd_server_unlink(&sockfile);
			weftd_keeper_stop(st.keeper);
			return 1;
		}
	}
	st.config_path = path;
	struct weft_opts wo = {
		.procs = st.cfg->daemon.procs, .stack_size = 128 * 1024, .return_with_main = true,
	};
	r = weft_run(daemon_main, &st, &wo);
	if (r < 0) {
		weftd_err("cannot start the scheduler: %s%s", strerror(-r),
			  r == -EPERM || r == -ENOSYS ? " (io_uring disabled or blocked by seccomp, and "
							"WEFT_BACKEND=io_uring forbids the epoll fallback?)" : "");
		weftd_config_free(st.cfg);
		st.rc = 1;
	}
	/* ours (not systemd's), and only if no other daemon has bound the path since */
	if (weftd_server_unlink(&sockfile) == -ESTALE)
		weftd_info("%s: another socket took the path; left alone", sockfile.path);
	if (st.http_fd >= 0)
		close(st.http_fd); /* never handed to libmicrohttpd */
	weftd_keeper_stop(st.keeper);
	return st.rc;
}
