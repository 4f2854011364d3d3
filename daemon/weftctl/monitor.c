/* SPDX-License-Identifier: MIT */
/* monitor.c — `metrics` (the daemon's Prometheus text, as GET /metrics serves it) and
 * `top` (a live view of the stats op, redrawn every second until `q`). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "weftctl/ctl.h"

int cmd_metrics(struct ctl *c, const struct ctl_args *a)
{
	json_t *resp;
	char *raw;
	int rc = EX_OK;

	if (!(resp = ctl_roundtrip(c, ctl_request(c, "metrics"), &raw, &rc)))
		return rc;
	if (c->json) {
		ctl_print_json(resp, raw);
	} else {
		json_t *t = json_object_get(resp, "text");
		fwrite(json_string_value(t) ? json_string_value(t) : "", 1, json_string_length(t), stdout);
	}
	json_decref(resp);
	free(raw);
	return rc;
}

/* ---- top ---------------------------------------------------------------------------- */

#define TOP_PERIOD_MS 1000
#define TOP_MAX_ROWS  1024
#define TOP_MAX_PROCS 1024

/* What one stage had at the previous refresh, to turn counters into rates. */
struct prev {
	char key[160];            /* "pipeline/stage" */
	long long done, failed;
};

struct top {
	struct prev *prev;
	size_t nprev;
	double prev_t;            /* when prev was read (monotonic seconds), 0: never */
	long long prev_switches;
	long long prev_cpu[TOP_MAX_PROCS]; /* each proc's CPU ns at prev_t */
	size_t nprev_cpu;
	bool tty;
	struct termios saved;
};

static volatile sig_atomic_t top_stop;

static void on_stop(int sig)
{
	top_stop = sig;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Raw keys (no echo, no line buffering), the alternate screen, no cursor; undone by
 * term_restore, which every way out of `top` goes through. */
static void term_raw(struct top *t)
{
	struct termios raw;

	t->tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0;
	if (t->tty) {
		raw = t->saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	if (isatty(STDOUT_FILENO))
		fputs("\033[?1049h\033[?25l", stdout);
}

static void term_restore(struct top *t)
{
	if (isatty(STDOUT_FILENO))
		fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	if (t->tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
}

static struct prev *prev_find(struct top *t, const char *key)
{
	for (size_t i = 0; i < t->nprev; i++)
		if (!strcmp(t->prev[i].key, key))
			return &t->prev[i];
	return NULL;
}

/* One screen from a stats answer: rates against the previous one. */
static void draw(struct top *t, json_t *resp, double now)
{
	struct prev *next = calloc(TOP_MAX_ROWS, sizeof(*next));
	size_t nnext = 0;
	double dt = t->prev_t ? now - t->prev_t : 0;
	json_t *pipes = json_object_get(resp, "pipelines"), *rt = json_object_get(resp, "runtime");
	const char *name;
	json_t *p, *s;
	char tm[16], p50[32], p99[32];
	time_t wall = time(NULL);
	size_t i;

	strftime(tm, sizeof(tm), "%H:%M:%S", localtime(&wall));
	fputs("\033[H\033[2J", stdout);
	printf("weftctl top  %s  intake %s  (q quits)\n\n", tm, ctl_gets(resp, "intake"));
	printf("%-28s %9s %7s %7s %8s %8s %9s %9s\n", "PIPELINE/STAGE", "DONE/s", "QUEUED",
	       "RUNNING", "P50", "P99", "FAILED", "FAILED/s");
	json_object_foreach(pipes, name, p) {
		json_array_foreach(json_object_get(p, "stages"), i, s) {
			json_t *l = json_object_get(s, "latency_us");
			char key[160], rate[32] = "-", frate[32] = "-";
			long long done = ctl_geti(s, "done"), failed = ctl_geti(s, "failed");
			struct prev *pv;

			snprintf(key, sizeof(key), "%s/%s", name, ctl_gets(s, "name"));
			if (dt > 0 && (pv = prev_find(t, key))) {
				snprintf(rate, sizeof(rate), "%.1f", (double)(done - pv->done) / dt);
				snprintf(frate, sizeof(frate), "%.1f", (double)(failed - pv->failed) / dt);
			}
			if (next && nnext < TOP_MAX_ROWS) {
				snprintf(next[nnext].key, sizeof(next[nnext].key), "%s", key);
				next[nnext].done = done;
				next[nnext++].failed = failed;
			}
			printf("%-28.28s %9s %7lld %7lld %8s %8s %9lld %9s\n", key, rate,
			       ctl_geti(s, "queued"), ctl_geti(s, "running"),
			       ctl_fmt_us(ctl_geti(l, "p50"), p50, sizeof(p50)),
			       ctl_fmt_us(ctl_geti(l, "p99"), p99, sizeof(p99)), failed, frate);
		}
		if (json_is_true(json_object_get(p, "paused")))
			printf("  (%s is paused)\n", name);
	}
	if (rt) {
		long long sw = ctl_geti(rt, "switches");
		char swr[32] = "-";
		if (dt > 0)
			snprintf(swr, sizeof(swr), "%.0f", (double)(sw - t->prev_switches) / dt);
		printf("\nruntime: procs %lld, fibers %lld, switches/s %s, connections %lld\n",
		       ctl_geti(rt, "procs"), ctl_geti(rt, "fibers"), swr, ctl_geti(rt, "connections"));
		t->prev_switches = sw;
		/* utilisation: a proc's CPU time per wall second (an idle one sleeps in its ring) */
		json_t *cpu = json_object_get(rt, "proc_cpu_ns"), *v;
		size_t k;
		if (json_array_size(cpu)) {
			fputs("procs busy:", stdout);
			json_array_foreach(cpu, k, v) {
				long long ns = json_integer_value(v);
				if (k >= TOP_MAX_PROCS)
					break;
				if (dt > 0 && k < t->nprev_cpu)
					printf(" %zu:%3.0f%%", k, (double)(ns - t->prev_cpu[k]) / (dt * 1e7));
				else
					printf(" %zu:   -", k);
				t->prev_cpu[k] = ns;
			}
			t->nprev_cpu = json_array_size(cpu) < TOP_MAX_PROCS ? json_array_size(cpu) : TOP_MAX_PROCS;
			putchar('\n');
		}
	}
	fflush(stdout);
	if (next) {
		free(t->prev);
		t->prev = next;
		t->nprev = nnext;
		t->prev_t = now;
	}
}

/* Wait up to ms for a key; true when it was q (or Q, or the input ended on a tty). */
static bool key_quit(struct top *t, int ms)
{
	struct pollfd pf = { .fd = STDIN_FILENO, .events = POLLIN };
	char k;

	if (!t->tty) { /* no keyboard (a pipe, /dev/null): only signals end it */
		poll(NULL, 0, ms);
		return false;
	}
	if (poll(&pf, 1, ms) <= 0)
		return false;
	while (read(STDIN_FILENO, &k, 1) == 1)
		if (k == 'q' || k == 'Q')
			return true;
	return false;
}

int cmd_top(struct ctl *c, const struct ctl_args *a)
{
	struct sigaction sa = { .sa_handler = on_stop }, old_int, old_term;
	struct top t = { 0 };
	int rc = EX_OK;

	if (c->json)
		return ctl_usage_error(c->cmd, "top has no --json (use stats --json or metrics)");
	bool raw_mode = false;

	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	while (!top_stop) {
		json_t *resp;
		char *raw;
		double t0 = now_s();

		if (!(resp = ctl_roundtrip(c, ctl_request(c, "stats"), &raw, &rc)))
			break;
		/* only once the daemon answered: a refused connection (forbidden, busy) exits
		 * from inside ctl_send, which must find the terminal as it was */
		if (!raw_mode) {
			term_raw(&t);
			raw_mode = true;
		}
		draw(&t, resp, t0);
		json_decref(resp);
		free(raw);
		int left = TOP_PERIOD_MS - (int)((now_s() - t0) * 1000);
		if (key_quit(&t, left > 0 ? left : 0))
			break;
	}
	if (raw_mode)
		term_restore(&t);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	free(t.prev);
	return rc;
}
