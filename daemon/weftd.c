/* weftd — the job daemon: loads the config, listens on the Unix socket and runs the
 * pipelines on libweft's scheduler. See `weftd --help` and daemon/PROTOCOL.md. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "lifecycle.h"
#include "log.h"
#include "server.h"
#include "signals.h"

#define WEFTD_VERSION "0.1.0"
#define DEFAULT_CONFIG "/etc/weftd/weftd.yaml"

struct daemon_state {
	struct weftd_config *cfg;      /* until the engine takes it */
	int lfd;
	int rc;
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
		"  -t, --check-config FILE  validate FILE, print the first error as\n"
		"                           FILE:LINE:COLUMN: key: message, exit 0 (valid) or 1\n"
		"  -h, --help               this text\n"
		"  -V, --version            print the version\n"
		"\n"
		"The socket is daemon.socket from the config, or the one systemd passes by socket\n"
		"activation. Logs go to stderr, with <N> syslog priority prefixes when stderr is not\n"
		"a terminal or JOURNAL_STREAM is set (journald). Exit status: 0 after a clean stop,\n"
		"1 on a configuration or start-up error, 2 on bad usage.\n");
}

static void daemon_main(void *arg)
{
	struct daemon_state *st = arg;
	struct weftd_engine *e = NULL;
	struct weftd_server *srv = NULL;
	const struct weftd_config *cfg;
	char err[512] = "";
	int r;

	r = weftd_engine_new(st->cfg, &e, err, sizeof(err));
	st->cfg = NULL; /* the engine owns it (freed on failure too) */
	if (r < 0) {
		weftd_err("%s", err);
		st->rc = 1;
		return;
	}
	cfg = weftd_engine_config(e);
	r = weftd_engine_start(e);
	if (r == 0)
		r = weftd_server_new(e, st->lfd, &cfg->daemon, &srv);
	if (r < 0) {
		weftd_err("start-up: %s", strerror(-r));
		st->rc = 1;
		weftd_engine_stop(e);
		weftd_engine_free(e);
		return;
	}
	weftd_notice("weftd %s ready: %zu pipelines, %d procs", WEFTD_VERSION, cfg->npipelines,
		     weft_nprocs());
	r = weftd_lifecycle_run(e, srv);
	/* a drain that timed out or was skipped still ends in an orderly stop: what is left is
	 * cancelled below (canceled by shutdown) */
	st->rc = r < 0 && r != -ETIMEDOUT ? 1 : 0;
	weftd_engine_stop(e);
	weftd_server_free(srv);
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
	struct daemon_state st = { .lfd = -EBADF };
	char err[1024];
	bool activated;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:t:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': check = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("weftd %s\n", WEFTD_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weftd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check) {
		r = weftd_config_load(check, &st.cfg, err, sizeof(err));
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
	st.lfd = weftd_server_listen(&st.cfg->daemon, &activated, err, sizeof(err));
	if (st.lfd < 0) {
		weftd_err("%s", err);
		weftd_config_free(st.cfg);
		return 1;
	}
	weftd_info("listening on %s", activated ? "the socket from systemd" : st.cfg->daemon.socket);
	struct weft_opts wo = {
		.procs = st.cfg->daemon.procs, .stack_size = 128 * 1024, .return_with_main = true,
	};
	r = weft_run(daemon_main, &st, &wo);
	if (r < 0) {
		weftd_err("cannot start the scheduler: %s%s", strerror(-r),
			  r == -EPERM || r == -ENOSYS ? " (io_uring disabled or blocked by seccomp?)" : "");
		weftd_config_free(st.cfg);
		return 1;
	}
	return st.rc;
}
