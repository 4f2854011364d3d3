/* SPDX-License-Identifier: MIT */
/* weftctl — the command-line client of weftd: one request per command over the daemon's
 * Unix socket (newline-delimited JSON, daemon/PROTOCOL.md). A plain blocking program:
 * sockets, poll and jansson. This header is what its files share:
 *
 *   main.c      options anywhere on the line, the command table, dispatch
 *   help.c      the overview, each command's help, one-line usage errors
 *   conn.c      the connection: send a request, read response lines, error exits
 *   show.c      printing jobs and outputs (binary-safe), human units, --json rewriting
 *   stats.c     `stats` and `pipelines` as tables
 *   wait.c      `submit` and `wait`, with the progress line on a terminal
 *   monitor.c   `metrics` (the Prometheus text) and `top` (a live view of stats)
 *   trace.c     `trace` (a scheduler trace for Perfetto)
 *   cmds.c      the other commands
 */
#ifndef WEFTCTL_CTL_H
#define WEFTCTL_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit statuses (weftctl --help and weftctl(1) list them). */
enum {
	EX_OK = 0,        /* success; for waits: every job done */
	EX_JOB = 1,       /* a job failed or was canceled */
	EX_USAGE = 2,
	EX_CONN = 3,      /* cannot connect, connection lost, unparseable response */
	EX_BUSY = 4,      /* busy, draining or unavailable: retry later */
	EX_TIMEOUT = 5,   /* --timeout passed before the job(s) ended */
	EX_REJECTED = 6,  /* any other error response (unknown job/pipeline, bad field...) */
	EX_CONFLICT = 7,  /* the job is not in a state the op applies to (retry, purge) */
};

/* Options: one bit each, so a command lists the ones it accepts. */
enum ctl_opt {
	O_SOCKET = 1 << 0, O_JSON = 1 << 1, O_TIMEOUT = 1 << 2, O_HELP = 1 << 3,
	O_WAIT = 1 << 4, O_FILE = 1 << 5, O_DELAY = 1 << 6, O_AT = 1 << 7,
	O_PRIORITY = 1 << 8, O_KEY = 1 << 9, O_PIPELINE = 1 << 10, O_STATE = 1 << 11,
	O_LIMIT = 1 << 12, O_OUTPUTS = 1 << 13, O_ALL = 1 << 14, O_FROM_START = 1 << 15,
	O_PAYLOAD = 1 << 16, O_VERSION = 1 << 17, O_DEADLINE = 1 << 18,
	O_SECONDS = 1 << 19, O_DEBUG = 1 << 20, O_OUTPUT = 1 << 21, /* profile */
};
/* Accepted by every command (--timeout matters to the waiting ones only: accepted by all
 * so that a script may pass it to each command it runs). */
#define O_GLOBAL (O_SOCKET | O_JSON | O_TIMEOUT | O_HELP | O_VERSION)

/* The command line, parsed: options wherever they were, positionals in order. */
struct ctl_args {
	unsigned seen;            /* enum ctl_opt bits given */
	const char *socket, *timeout, *file, *delay, *at, *priority, *key, *pipeline,
		*state, *limit, *deadline;
	const char *seconds, *debug, *output; /* profile */
	char **pos;               /* positionals after the command name */
	char **pos_mem;           /* the allocation pos points into */
	int npos;
};

struct ctl;
struct ctl_cmd {
	const char *name;
	const char *synopsis;     /* after "weftctl NAME " */
	const char *summary;      /* one line for the overview */
	const char *help;         /* the rest of `weftctl help NAME` */
	unsigned opts;            /* enum ctl_opt bits besides O_GLOBAL */
	int min_pos, max_pos;     /* positionals; max -1 = any number */
	int (*run)(struct ctl *c, const struct ctl_args *a);
};

/* The client's state, passed to every function (no globals). */
struct ctl {
	const struct ctl_cmd *cmd;
	bool json;                /* --json: the response objects, one per line */
	const char *timeout;      /* --timeout, as given (the daemon parses durations) */
	int fd;                   /* the connection, -1 before connect */
	char *rbuf;               /* bytes received, not yet a whole line */
	size_t rlen, rcap;
	long long next_id;        /* request ids */
	bool quiet;               /* ctl_recv says nothing of a closed or bad line */
	bool progress_shown;      /* a progress line is on stderr, to clear before output */
};

/* help.c */
extern const struct ctl_cmd ctl_cmds[];
const struct ctl_cmd *ctl_cmd_find(const char *name);
void ctl_overview(FILE *f);
void ctl_cmd_help(FILE *f, const struct ctl_cmd *cmd);
/* "weftctl: MSG" and a one-line hint (the synopsis, where to read more); returns EX_USAGE. */
int ctl_usage_error(const struct ctl_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* conn.c */
int ctl_connect(struct ctl *c, const char *path);
const char *ctl_default_socket(void);
/* A new request object {"id":N,"op":op}. */
json_t *ctl_request(struct ctl *c, const char *op);
/* Send one request (consumed); 0, or -1 with the reason on stderr (the caller exits EX_CONN,
 * or the daemon's answer was printed and the process exited with its status). */
int ctl_send(struct ctl *c, json_t *req);
/* The next response line within timeout_ms (-1: no limit): the object, with its text in
 * *raw (caller frees both). NULL on EOF or a bad line (said on stderr, *timed_out false)
 * or on timeout (*timed_out true; may be NULL when timeout_ms is -1). */
json_t *ctl_recv(struct ctl *c, char **raw, int timeout_ms, bool *timed_out);
/* Send req, read its answer: the ok response (caller frees it and *raw), or NULL with *rc
 * set (an error response already printed). */
json_t *ctl_roundtrip(struct ctl *c, json_t *req, char **raw, int *rc);
/* Print an error response (stderr, or the line with --json); its exit status. */
int ctl_error_exit(struct ctl *c, json_t *resp, const char *raw);

/* show.c */
/* With --json: print the response line, output/log/payload strings holding a NUL turned
 * into their _b64 form; raw as received when nothing needs it. */
void ctl_print_json(json_t *resp, const char *raw);
void ctl_print_job(json_t *job);
/* The job's output bytes to stdout, raw; with end_line, a newline after output that does
 * not end in one (when stdout is a terminal). */
void ctl_print_output(json_t *job, bool end_line);
/* The last lines of a job's log, indented, to stderr. */
void ctl_print_log_tail(json_t *job, int lines);
/* Exit status for a job's state: done 0, failed/canceled EX_JOB, else EX_TIMEOUT. */
int ctl_job_exit(json_t *job);
/* Microseconds as "850us", "12.5ms", "3.0s", "2m05s"; buf of at least 16 bytes. */
const char *ctl_fmt_us(long long us, char *buf, size_t len);
const char *ctl_fmt_bytes(long long b, char *buf, size_t len);
long long ctl_geti(json_t *o, const char *k);
const char *ctl_gets(json_t *o, const char *k); /* "" when absent */
/* Clear the progress line on stderr when one is shown. */
void ctl_progress_clear(struct ctl *c);

/* commands: wait.c, stats.c, monitor.c, cmds.c */
int cmd_submit(struct ctl *c, const struct ctl_args *a);
int cmd_wait(struct ctl *c, const struct ctl_args *a);
int cmd_stats(struct ctl *c, const struct ctl_args *a);
int cmd_pipelines(struct ctl *c, const struct ctl_args *a);
int cmd_schedules(struct ctl *c, const struct ctl_args *a); /* schedules.c */
int cmd_status(struct ctl *c, const struct ctl_args *a);
int cmd_cancel(struct ctl *c, const struct ctl_args *a);
int cmd_list(struct ctl *c, const struct ctl_args *a);
int cmd_retry(struct ctl *c, const struct ctl_args *a);
int cmd_purge(struct ctl *c, const struct ctl_args *a);
int cmd_ping(struct ctl *c, const struct ctl_args *a);
int cmd_nodes(struct ctl *c, const struct ctl_args *a); /* nodes.c */
int cmd_reload(struct ctl *c, const struct ctl_args *a);
int cmd_drain(struct ctl *c, const struct ctl_args *a);
int cmd_undrain(struct ctl *c, const struct ctl_args *a);
int cmd_pause(struct ctl *c, const struct ctl_args *a);
int cmd_resume(struct ctl *c, const struct ctl_args *a);
int cmd_metrics(struct ctl *c, const struct ctl_args *a);
int cmd_profile(struct ctl *c, const struct ctl_args *a);
int cmd_top(struct ctl *c, const struct ctl_args *a);
int cmd_trace(struct ctl *c, const struct ctl_args *a); /* trace.c */

#endif
