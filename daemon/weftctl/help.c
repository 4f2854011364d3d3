/* SPDX-License-Identifier: MIT */
/* The commands' table and texts: the overview (weftctl --help), each command's help
 * (weftctl help CMD, weftctl CMD --help) and one-line usage errors. weftctl(1) says the
 * same in more words; test_weftctl_cli.sh checks they name the same commands. */
#include <stdarg.h>
#include <string.h>

#include "weftctl/ctl.h"

#define TIMEOUT_HELP \
	"  --timeout D         stop waiting after D (\"500ms\", \"10s\", \"2m\"; default: no limit);\n" \
	"                      the job goes on, weftctl exits 5\n"

const struct ctl_cmd ctl_cmds[] = {
	{ "submit", "PIPELINE [PAYLOAD | -f FILE | -] [--wait] [--delay D | --at T] [--priority N] [--key K] [--deadline T]",
	  "submit a job; print its id, or with --wait its output",
	  "The payload is the argument, the bytes of FILE, or stdin with \"-\" (empty when absent;\n"
	  "binary is fine). Prints the job id on stdout.\n"
	  "\n"
	  "  -w, --wait          wait for the job to end and print its output (raw bytes; on a\n"
	  "                      terminal, a newline is added when it lacks one); the job id is\n"
	  "                      printed first, on stderr, and while the job runs a progress\n"
	  "                      line (elapsed time, state, stage, attempt) shows on a terminal.\n"
	  "                      A failed job: its error and the tail of its log on stderr, exit 1\n"
	  "  -f, --file FILE     the payload is FILE's contents\n"
	  "  --delay D           run the job after D (\"90s\", \"1h30m\"; a number is milliseconds)\n"
	  "  --at T              run the job at T: RFC 3339 (\"2026-12-03T14:00:00Z\") or Unix seconds\n"
	  "  --priority N        -100..100 (default 0): higher runs first within a stage queue\n"
	  "  --key K             idempotency key (1..256 bytes): while a job of this pipeline with\n"
	  "                      the same key is retained, the submit creates nothing and answers\n"
	  "                      that job's id (\"duplicate: job ID\" on stderr)\n"
	  "  --deadline T        a job not finished by T ends expired wherever it is (a running\n"
	  "                      attempt is cancelled): a duration from now (\"10m\"), an RFC 3339\n"
	  "                      time or Unix seconds\n"
	  TIMEOUT_HELP,
	  O_WAIT | O_TIMEOUT | O_FILE | O_DELAY | O_AT | O_PRIORITY | O_KEY | O_DEADLINE, 1, 2, cmd_submit },
	{ "status", "ID [--payload]", "show a job",
	  "Prints the job's id, pipeline, state, stage, attempts, error, output and log.\n"
	  "\n"
	  "  --payload           also the job's input (the payload it was submitted with)\n",
	  O_PAYLOAD, 1, 1, cmd_status },
	{ "wait", "ID... [--timeout D]", "wait for jobs to end",
	  "With one ID, prints the job's output when it is done (as submit --wait). With several,\n"
	  "prints \"ID STATE [ERROR]\" per job as each ends, and on a terminal a progress line\n"
	  "(\"3/10 done\") on stderr, cleared before each result. Exit 0 when every job is done,\n"
	  "1 when one failed or was canceled, 5 when the timeout passed first.\n"
	  "\n" TIMEOUT_HELP,
	  O_TIMEOUT, 1, -1, cmd_wait },
	{ "cancel", "ID", "cancel a job wherever it is",
	  "A queued job is canceled at once; a running one when its worker stops (an exec child\n"
	  "gets SIGTERM, then SIGKILL after the stage's kill_grace). Prints the job.\n",
	  0, 1, 1, cmd_cancel },
	{ "list", "[--pipeline P] [--state S] [--limit N] [--outputs]", "list jobs, newest first",
	  "  -p, --pipeline P    only the jobs of pipeline P\n"
	  "  --state S           only the jobs in state S: scheduled queued running retrying\n"
	  "                      done failed canceled expired\n"
	  "  -n, --limit N       at most N jobs (1..10000, default 100)\n"
	  "  --outputs           with their outputs (--json shows them)\n",
	  O_PIPELINE | O_STATE | O_LIMIT | O_OUTPUTS, 0, 0, cmd_list },
	{ "retry", "ID | --pipeline P --all [--from-start]", "run dead-lettered jobs again",
	  "Re-drives a failed job (a dead letter) under its id, from the stage that failed.\n"
	  "Prints the ids retried. A job that is not failed: exit 7 (conflict).\n"
	  "\n"
	  "  -p, --pipeline P    with --all: every dead letter of pipeline P (yours; an admin's: all)\n"
	  "  --all               see --pipeline\n"
	  "  --from-start        from the first stage, with the original payload\n",
	  O_PIPELINE | O_ALL | O_FROM_START, 0, 1, cmd_retry },
	{ "purge", "ID | --pipeline P --all", "delete dead-lettered jobs",
	  "Deletes failed jobs from the job table and the journal. Prints how many.\n"
	  "A job that is not failed: exit 7 (conflict).\n"
	  "\n"
	  "  -p, --pipeline P    with --all: every dead letter of pipeline P (yours; an admin's: all)\n"
	  "  --all               see --pipeline\n",
	  O_PIPELINE | O_ALL, 0, 1, cmd_purge },
	{ "stats", "[PIPELINE]", "counters per pipeline and stage, and the runtime's",
	  "A table of pipelines (submitted, done, failed, canceled, busy rejections, scheduled,\n"
	  "paused, latency p50/p99/max from submit to done), a table of stages (workers, queued,\n"
	  "running, retrying, done, failed, retried, canceled, timeouts, heartbeat timeouts,\n"
	  "latency of successful attempts), the job table, and without PIPELINE the runtime\n"
	  "(procs, connections, fibers, switches, steals, parks, wake-ups, I/O). Latencies read\n"
	  "\"850us\", \"12ms\", \"3.0s\"; --json has them in microseconds.\n",
	  0, 0, 1, cmd_stats },
	{ "metrics", "", "the daemon's metrics in Prometheus' text format",
	  "Prints what GET /metrics on daemon.http serves (weftd.yaml(5)): counters and gauges\n"
	  "per pipeline and stage, latency histograms, the journal, the runtime, the process.\n"
	  "Works without the HTTP listener. `promtool check metrics` reads it.\n",
	  0, 0, 0, cmd_metrics },
	{ "profile", "cpu|heap|fibers|block|mutex [--seconds N] [--debug N] [-o FILE]",
	  "a profile of the daemon, for `go tool pprof`",
	  "Takes a profile (daemon/PROTOCOL.md, `profile` op; admins only) and writes it to FILE\n"
	  "(-o -: standard output). cpu samples every proc at 100 Hz for --seconds (1..60,\n"
	  "default 30); block and mutex record every wait for --seconds (default 5); fibers lists\n"
	  "every fiber's stack (--debug 1: grouped text, 2: one entry per fiber with its wait\n"
	  "reason and age); heap is jemalloc's (weftd started with MALLOC_CONF=prof:true).\n"
	  "Binary profiles are gzipped pprof: `go tool pprof -top FILE`, `go tool pprof -http=:8080\n"
	  "FILE` (a flame graph). Text profiles go to standard output without -o. A CPU profile\n"
	  "already being taken: exit 7 (conflict).\n",
	  O_SECONDS | O_DEBUG | O_OUTPUT, 1, 1, cmd_profile },
	{ "top", "", "a live view of the pipelines, refreshed every second",
	  "Per pipeline and stage: jobs done per second, queued, running, latency p50/p99 of\n"
	  "successful attempts, failures (dead letters) and their rate; the runtime's procs,\n"
	  "fibers and switches per second, and each proc's utilisation (CPU time per second).\n"
	  "Quits on q (or Ctrl-C) and restores the terminal.\n",
	  0, 0, 0, cmd_top },
	{ "trace", "--seconds N -o FILE", "a scheduler trace for Perfetto or chrome://tracing",
	  "Traces the daemon's scheduler for N seconds (1 to 60, default 1) and writes Chrome\n"
	  "trace-event JSON to FILE (\"-\": stdout): a track per proc with the fibers' run\n"
	  "slices, parks and their reasons, wake-ups, steals and io_uring counts, and a span\n"
	  "per job attempt per stage (pipeline, stage, job, attempt). Open FILE in\n"
	  "https://ui.perfetto.dev or chrome://tracing. One trace at a time (conflict: exit 7).\n"
	  "Admins only. Works without the HTTP listener.\n",
	  O_SECONDS | O_OUTPUT, 0, 0, cmd_trace },
	{ "pipelines", "", "the running pipelines and their stages",
	  "One line per pipeline (\"(paused)\" when paused), then one per stage: its action,\n"
	  "workers, queue, timeout and retry attempts.\n",
	  0, 0, 0, cmd_pipelines },
	{ "schedules", "[PIPELINE]", "the periodic jobs: each entry's next run and last fire",
	  "One line per entry of the pipelines' schedule: lists (every pipeline's, or PIPELINE's): its\n"
	  "pipeline, name, cron expression, time zone, next run and last fired slot (UTC;\n"
	  "\"-\" when none is known), \"(catch_up)\" when it catches up after downtime.\n",
	  0, 0, 1, cmd_schedules },
	{ "nodes", "", "the weftd nodes working each broker pipeline",
	  "One line per broker pipeline (daemon.brokers, weftd.yaml(5)) and node: its name\n"
	  "(host:pid) and when it last beat; \"(this node)\" marks the daemon asked. A node not\n"
	  "seen for 10 heartbeat timeouts is forgotten.\n",
	  0, 0, 0, cmd_nodes },
	{ "ping", "", "check that the daemon answers",
	  "Prints \"weftd VERSION\".\n", 0, 0, 0, cmd_ping },
	{ "reload", "", "re-read the daemon's config (as SIGHUP)",
	  "Prints what changed. A bad config is rejected (the message says where; exit 6) and\n"
	  "the old one runs on. Admins only.\n",
	  0, 0, 0, cmd_reload },
	{ "drain", "", "stop taking jobs, finish the in-flight ones",
	  "Answers when the drain is complete; later submits get \"draining\" (exit 4) until\n"
	  "`weftctl undrain`. The daemon keeps running. Admins only.\n",
	  0, 0, 0, cmd_drain },
	{ "undrain", "", "take jobs again after a drain",
	  "Reopens the intake that `weftctl drain` closed. Admins only.\n", 0, 0, 0, cmd_undrain },
	{ "pause", "PIPELINE", "start no new attempts in a pipeline",
	  "A paused pipeline still accepts jobs up to its queue bounds; running attempts finish.\n"
	  "Admins only.\n",
	  0, 1, 1, cmd_pause },
	{ "resume", "[PIPELINE]", "resume a paused pipeline (without one: undrain)",
	  "With PIPELINE, undoes `weftctl pause PIPELINE`; without, undoes `weftctl drain`.\n"
	  "Admins only.\n",
	  0, 0, 1, cmd_resume },
	{ "help", "[COMMAND]", "this overview, or a command's help", "", 0, 0, 1, NULL },
	{ NULL },
};

const struct ctl_cmd *ctl_cmd_find(const char *name)
{
	for (const struct ctl_cmd *c = ctl_cmds; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

void ctl_overview(FILE *f)
{
	fputs("Usage: weftctl [OPTIONS] COMMAND [ARGS]   (options may come anywhere on the line)\n"
	      "\nCommands:\n", f);
	for (const struct ctl_cmd *c = ctl_cmds; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fputs("\nOptions:\n"
	      "  -s, --socket PATH   daemon socket (default: $WEFT_SOCKET, else ./run/weftd.sock\n"
	      "                      if it exists, else /run/weftd/weftd.sock)\n"
	      "  -j, --json          print the response objects, one per line (output, log and\n"
	      "                      payload holding NUL bytes as output_b64, log_b64, payload_b64)\n"
	      "  --timeout D         submit --wait, wait: stop waiting after D (\"500ms\", \"10s\")\n"
	      "  -h, --help          this text; COMMAND --help or `weftctl help COMMAND`: the command's\n"
	      "  -V, --version       print weftctl's version\n"
	      "  --                  what follows is not an option (a payload starting with '-')\n"
	      "\nExit status: 0 ok (waits: every job done), 1 a job failed or was canceled,\n"
	      "2 usage error, 3 connection or protocol error, 4 busy, draining or unavailable\n"
	      "(retry later), 5 timed out before the job(s) ended, 6 request rejected (unknown job\n"
	      "or pipeline, bad argument, forbidden, unsupported), 7 conflict (the job is not in a\n"
	      "state the command applies to).\n"
	      "\nMore: weftctl help COMMAND, man weftctl.\n", f);
}

void ctl_cmd_help(FILE *f, const struct ctl_cmd *cmd)
{
	fprintf(f, "Usage: weftctl %s%s%s\n\n%s.\n", cmd->name, *cmd->synopsis ? " " : "",
		cmd->synopsis, cmd->summary);
	if (*cmd->help)
		fprintf(f, "\n%s", cmd->help);
	fputs("\nEvery command also takes -s/--socket, -j/--json, --timeout, -h/--help (weftctl --help).\n", f);
}

int ctl_usage_error(const struct ctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("weftctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nUsage: weftctl %s%s%s  (weftctl help %s)\n", cmd->name,
			*cmd->synopsis ? " " : "", cmd->synopsis, cmd->name);
	else
		fputs("\nUsage: weftctl [OPTIONS] COMMAND [ARGS]  (weftctl --help)\n", stderr);
	return EX_USAGE;
}
