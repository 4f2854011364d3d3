/* weftctl — command-line client of weftd: one request per command over the Unix socket
 * (newline-delimited JSON, PROTOCOL.md). A plain blocking program: sockets and jansson. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/text.h"

enum {
	EX_OK = 0,        /* success; for waits: every job done */
	EX_JOB = 1,       /* a job failed or was canceled */
	EX_USAGE = 2,
	EX_CONN = 3,      /* cannot connect, connection lost, unparseable response */
	EX_BUSY = 4,      /* busy or draining: retry later */
	EX_TIMEOUT = 5,   /* --timeout passed before the job(s) ended */
	EX_REJECTED = 6,  /* any other error response (unknown job/pipeline, bad field...) */
};

static const char *usage_text =
	"Usage: weftctl [--socket PATH] [--json] [--timeout D] COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  submit PIPELINE [PAYLOAD | -f FILE | -] [--wait]\n"
	"                         submit a job (payload from the argument, a file, or stdin;\n"
	"                         empty when absent); prints the job id, or with --wait waits\n"
	"                         and prints the job's output\n"
	"  status ID              show a job\n"
	"  wait ID...             wait for jobs to end (progress on stderr when several)\n"
	"  cancel ID              cancel a job wherever it is\n"
	"  list [--pipeline P] [--state S] [--limit N] [--outputs]\n"
	"                         jobs, newest first (S: queued running retrying done failed canceled);\n"
	"                         --outputs: with their outputs (--json shows them)\n"
	"  stats [PIPELINE]       counters per pipeline and stage (without PIPELINE: and the\n"
	"                         runtime's: procs, connections, fibers, switches, ...)\n"
	"  pipelines              the running pipelines and their settings\n"
	"  ping                   check the daemon answers\n"
	"  reload                 re-read the daemon's config (as SIGHUP)\n"
	"  drain                  stop taking jobs and finish the in-flight ones\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH      daemon socket (default: $WEFT_SOCKET, else ./run/weftd.sock\n"
	"                         if it exists, else /run/weftd/weftd.sock)\n"
	"  -j, --json             print the raw response objects, one per line\n"
	"  -t, --timeout D        give up waiting after D (\"500ms\", \"10s\", \"2m\"); default none\n"
	"  -h, --help             this text\n"
	"\n"
	"Exit status: 0 ok (waits: every job done), 1 a job failed or was canceled,\n"
	"2 usage error, 3 connection or protocol error, 4 busy, draining or unavailable (retry later),\n"
	"5 timed out before the job(s) ended, 6 request rejected (unknown job or pipeline,\n"
	"bad argument, forbidden, unsupported).\n";

static bool opt_json;
static const char *opt_timeout;
static int fd = -1;
static char *rbuf;
static size_t rlen, rcap;

static int die_usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "weftctl: %s\n", msg);
	fputs(usage_text, stderr);
	return EX_USAGE;
}

static const char *default_socket(void)
{
	const char *s = getenv("WEFT_SOCKET");
	struct stat st;

	if (s && *s)
		return s;
	if (stat("./run/weftd.sock", &st) == 0)
		return "./run/weftd.sock";
	return "/run/weftd/weftd.sock";
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "weftctl: socket path too long\n");
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "weftctl: cannot connect to %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static json_t *recv_line(char **raw, bool quiet);
static int error_exit(json_t *resp, const char *raw);

/* A send failed (EPIPE, ECONNRESET): the daemon may have closed after answering already,
 * as it does when it refuses a connection (one `forbidden` line, then close). Print that
 * answer and exit as for any error response; without one, report the send's error. */
static void send_failed(int err)
{
	char *raw = NULL;
	json_t *resp = NULL;

	if (err == EPIPE || err == ECONNRESET)
		resp = recv_line(&raw, true);
	int rc = resp && json_object_get(resp, "error") ? error_exit(resp, raw) : -1;
	json_decref(resp);
	free(raw);
	if (rc >= 0)
		exit(rc);
	fprintf(stderr, "weftctl: send: %s\n", strerror(err));
}

static int send_json(json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	size_t len, off = 0;

	json_decref(req);
	if (!s)
		return -1;
	len = strlen(s);
	s[len++] = '\n'; /* json_dumps leaves room for the NUL we overwrite */
	while (off < len) {
		ssize_t w = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			free(s);
			send_failed(err);
			return -1;
		}
		off += (size_t)w;
	}
	free(s);
	return 0;
}

/* Read one response line and parse it; NULL on connection or protocol error (said on
 * stderr unless quiet). */
static json_t *recv_line(char **raw, bool quiet)
{
	for (;;) {
		char *nl = rlen ? memchr(rbuf, '\n', rlen) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - rbuf);
			json_error_t je;
			json_t *v = json_loadb(rbuf, n, 0, &je);
			if (raw)
				*raw = strndup(rbuf, n);
			memmove(rbuf, nl + 1, rlen - n - 1);
			rlen -= n + 1;
			if (!v || !json_is_object(v)) {
				if (!quiet)
					fprintf(stderr, "weftctl: bad response from the daemon: %s\n", je.text);
				json_decref(v);
				return NULL;
			}
			return v;
		}
		if (rlen == rcap) {
			rcap = rcap ? rcap * 2 : 65536;
			rbuf = realloc(rbuf, rcap);
			if (!rbuf)
				return NULL;
		}
		ssize_t r = recv(fd, rbuf + rlen, rcap - rlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!quiet)
				fprintf(stderr, "weftctl: connection closed by the daemon%s%s\n",
					r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
			return NULL;
		}
		rlen += (size_t)r;
	}
}

static json_t *recv_json(char **raw)
{
	return recv_line(raw, false);
}

static json_t *request(const char *op)
{
	json_t *r = json_object();
	json_object_set_new(r, "id", json_integer(1));
	json_object_set_new(r, "op", json_string(op));
	return r;
}

/* Exit status for an error response, after printing it. */
static int error_exit(json_t *resp, const char *raw)
{
	json_t *e = json_object_get(resp, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (opt_json)
		printf("%s\n", raw);
	else
		fprintf(stderr, "weftctl: %s: %s\n", code ? code : "error", msg ? msg : "");
	if (code && (!strcmp(code, "busy") || !strcmp(code, "draining") || !strcmp(code, "unavailable")))
		return EX_BUSY;
	return EX_REJECTED;
}

/* One request, one response: returns the response (ok) or NULL with *rc set. */
static json_t *roundtrip(json_t *req, char **raw, int *rc)
{
	json_t *resp;

	if (send_json(req) < 0 || !(resp = recv_json(raw))) {
		*rc = EX_CONN;
		return NULL;
	}
	if (!json_is_true(json_object_get(resp, "ok"))) {
		*rc = error_exit(resp, *raw);
		json_decref(resp);
		free(*raw);
		*raw = NULL;
		return NULL;
	}
	return resp;
}

static void print_job(json_t *job)
{
	const char *keys[] = { "id", "pipeline", "state", "stage", NULL };
	for (int i = 0; keys[i]; i++) {
		const char *v = json_string_value(json_object_get(job, keys[i]));
		printf("%-10s %s\n", keys[i], v ? v : "-");
	}
	printf("%-10s %lld\n", "attempts", (long long)json_integer_value(json_object_get(job, "attempts")));
	json_t *v;
	if ((v = json_object_get(job, "error")))
		printf("%-10s %s\n", "error", json_string_value(v));
	if ((v = json_object_get(job, "output")))
		printf("%-10s %s\n", "output", json_string_value(v));
	if ((v = json_object_get(job, "output_b64")))
		printf("%-10s (base64) %s\n", "output", json_string_value(v));
	if ((v = json_object_get(job, "log")))
		printf("%-10s %s\n", "log", json_string_value(v));
	json_int_t c = json_integer_value(json_object_get(job, "created_ms"));
	json_int_t f = json_integer_value(json_object_get(job, "finished_ms"));
	if (c && f)
		printf("%-10s %lld ms\n", "took", (long long)(f - c));
}

/* Output bytes of a done job to stdout. */
static void print_output(json_t *job)
{
	json_t *v;
	if ((v = json_object_get(job, "output"))) {
		fwrite(json_string_value(v), 1, json_string_length(v), stdout);
	} else if ((v = json_object_get(job, "output_b64"))) {
		size_t n = json_string_length(v);
		char *d = malloc(WEFTD_B64_DEC_MAX(n));
		ssize_t k = d ? weftd_b64_decode(json_string_value(v), n, d) : -1;
		if (k > 0)
			fwrite(d, 1, (size_t)k, stdout);
		free(d);
	}
}

static int job_exit(json_t *job)
{
	const char *s = json_string_value(json_object_get(job, "state"));
	if (s && !strcmp(s, "done"))
		return EX_OK;
	if (s && (!strcmp(s, "failed") || !strcmp(s, "canceled")))
		return EX_JOB;
	return EX_TIMEOUT;
}

static int read_all(FILE *f, char **ret, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *b = malloc(cap);
	while (b) {
		size_t k = fread(b + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
		if (n == cap) {
			char *nb = realloc(b, cap *= 2);
			if (!nb) {
				free(b);
				b = NULL;
			}
			b = nb;
		}
	}
	if (!b)
		return -1;
	*ret = b;
	*len = n;
	return ferror(f) ? -1 : 0;
}

static int cmd_submit(int argc, char **argv)
{
	bool wait = false;
	const char *pipeline = NULL, *file = NULL, *arg = NULL;
	char *data = NULL, *raw = NULL;
	size_t len = 0;
	int rc = EX_OK, have = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--wait") || !strcmp(argv[i], "-w"))
			wait = true;
		else if (!strcmp(argv[i], "-f") && i + 1 < argc)
			file = argv[++i], have++;
		else if (!pipeline)
			pipeline = argv[i];
		else
			arg = argv[i], have++;
	}
	if (!pipeline || have > 1)
		return die_usage("submit PIPELINE [PAYLOAD | -f FILE | -] [--wait]");
	if (file || (arg && !strcmp(arg, "-"))) {
		FILE *f = file ? fopen(file, "rb") : stdin;
		if (!f || read_all(f, &data, &len) < 0) {
			fprintf(stderr, "weftctl: reading %s: %s\n", file ? file : "stdin", strerror(errno));
			return EX_USAGE;
		}
		if (file)
			fclose(f);
	} else if (arg) {
		data = strdup(arg);
		len = strlen(arg);
	}
	json_t *req = request("submit");
	json_object_set_new(req, "pipeline", json_string(pipeline));
	if (len && weftd_utf8_valid(data, len)) {
		json_object_set_new(req, "payload", json_stringn(data, len));
	} else if (len) {
		char *b64 = malloc(WEFTD_B64_ENC_LEN(len) + 1);
		size_t n = weftd_b64_encode(data, len, b64);
		json_object_set_new(req, "payload_b64", json_stringn(b64, n));
		free(b64);
	}
	free(data);
	if (wait) {
		json_object_set_new(req, "wait", json_true());
		if (opt_timeout)
			json_object_set_new(req, "timeout", json_string(opt_timeout));
	}
	json_t *resp = roundtrip(req, &raw, &rc);
	if (!resp)
		return rc;
	json_t *job = json_object_get(resp, "job");
	if (opt_json)
		printf("%s\n", raw);
	else if (!wait)
		printf("%s\n", json_string_value(job));
	if (wait) {
		rc = job_exit(job);
		if (!opt_json) {
			if (rc == EX_OK)
				print_output(job);
			else
				fprintf(stderr, "weftctl: job %s %s%s%s\n",
					json_string_value(json_object_get(job, "id")),
					json_string_value(json_object_get(job, "state")),
					json_object_get(job, "error") ? ": " : "",
					json_object_get(job, "error") ?
					json_string_value(json_object_get(job, "error")) : "");
		}
	}
	json_decref(resp);
	free(raw);
	return rc;
}

static int cmd_job(const char *op, int argc, char **argv)
{
	char *raw = NULL;
	int rc = EX_OK;

	if (argc != 2)
		return die_usage(NULL);
	json_t *req = request(op);
	json_object_set_new(req, "job", json_string(argv[1]));
	json_t *resp = roundtrip(req, &raw, &rc);
	if (!resp)
		return rc;
	if (opt_json)
		printf("%s\n", raw);
	else
		print_job(json_object_get(resp, "job"));
	json_decref(resp);
	free(raw);
	return rc;
}

/* Pipelined: one wait request per id, answered as each job ends, progress on stderr. */
static int cmd_wait(int argc, char **argv)
{
	int n = argc - 1, got = 0, rc = EX_OK, ndone = 0;
	bool progress = n > 1 && !opt_json && isatty(STDERR_FILENO);

	if (n < 1)
		return die_usage("wait ID...");
	for (int i = 0; i < n; i++) {
		json_t *req = json_object();
		json_object_set_new(req, "id", json_integer(i));
		json_object_set_new(req, "op", json_string("wait"));
		json_object_set_new(req, "job", json_string(argv[i + 1]));
		if (opt_timeout)
			json_object_set_new(req, "timeout", json_string(opt_timeout));
		if (send_json(req) < 0)
			return EX_CONN;
	}
	for (; got < n; got++) {
		char *raw = NULL;
		json_t *resp = recv_json(&raw);
		if (!resp)
			return EX_CONN;
		if (!json_is_true(json_object_get(resp, "ok"))) {
			int e = error_exit(resp, raw);
			rc = rc > e ? rc : e;
		} else {
			json_t *job = json_object_get(resp, "job");
			int e = job_exit(job);
			ndone += e == EX_OK;
			if (opt_json)
				printf("%s\n", raw);
			else if (n == 1 && e == EX_OK)
				print_output(job);
			else
				printf("%s %s%s%s\n", json_string_value(json_object_get(job, "id")),
				       json_string_value(json_object_get(job, "state")),
				       json_object_get(job, "error") ? " " : "",
				       json_object_get(job, "error") ?
				       json_string_value(json_object_get(job, "error")) : "");
			/* precedence: failure over timeout over success */
			if (e == EX_JOB || (e == EX_TIMEOUT && rc == EX_OK))
				rc = e;
		}
		if (progress)
			fprintf(stderr, "\r%d/%d done", ndone, n);
		json_decref(resp);
		free(raw);
	}
	if (progress)
		fputc('\n', stderr);
	return rc;
}

static int cmd_list(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pipeline", required_argument, NULL, 'p' }, { "state", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'n' }, { "outputs", no_argument, NULL, 'o' }, { 0 },
	};
	json_t *req = request("list");
	char *raw = NULL;
	int c, rc = EX_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:S:n:o", lo, NULL)) != -1) {
		switch (c) {
		case 'p': json_object_set_new(req, "pipeline", json_string(optarg)); break;
		case 'S': json_object_set_new(req, "state", json_string(optarg)); break;
		case 'n': json_object_set_new(req, "limit", json_integer(atoll(optarg))); break;
		case 'o': json_object_set_new(req, "outputs", json_true()); break;
		default: json_decref(req); return die_usage(NULL);
		}
	}
	json_t *resp = roundtrip(req, &raw, &rc);
	if (!resp)
		return rc;
	if (opt_json) {
		printf("%s\n", raw);
	} else {
		size_t i;
		json_t *j;
		printf("%-16s  %-16s  %-9s  %-16s  %s\n", "ID", "PIPELINE", "STATE", "STAGE", "ATTEMPTS");
		json_array_foreach(json_object_get(resp, "jobs"), i, j) {
			const char *st = json_string_value(json_object_get(j, "stage"));
			printf("%-16s  %-16s  %-9s  %-16s  %lld\n", json_string_value(json_object_get(j, "id")),
			       json_string_value(json_object_get(j, "pipeline")),
			       json_string_value(json_object_get(j, "state")), st ? st : "-",
			       (long long)json_integer_value(json_object_get(j, "attempts")));
		}
	}
	json_decref(resp);
	free(raw);
	return rc;
}

static long long geti(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static int cmd_simple(const char *op, int argc, char **argv)
{
	json_t *req = request(op);
	char *raw = NULL;
	int rc = EX_OK;

	if (!strcmp(op, "stats") && argc == 2)
		json_object_set_new(req, "pipeline", json_string(argv[1]));
	else if (argc != 1) {
		json_decref(req);
		return die_usage(NULL);
	}
	json_t *resp = roundtrip(req, &raw, &rc);
	if (!resp)
		return rc;
	if (opt_json) {
		printf("%s\n", raw);
	} else if (!strcmp(op, "stats")) {
		const char *name;
		json_t *p, *s;
		size_t i;
		printf("%-24s %8s %8s %8s %8s %8s %8s %8s %10s %10s\n", "PIPELINE/STAGE", "QUEUED",
		       "RUNNING", "DONE", "FAILED", "RETRIED", "CANCELED", "TIMEOUTS", "P50_US", "P99_US");
		json_object_foreach(json_object_get(resp, "pipelines"), name, p) {
			json_t *l = json_object_get(p, "latency_us");
			printf("%-24s %8s %8s %8lld %8lld %8s %8lld %8s %10lld %10lld\n", name, "", "",
			       geti(p, "done"), geti(p, "failed"), "", geti(p, "canceled"), "",
			       geti(l, "p50"), geti(l, "p99"));
			json_array_foreach(json_object_get(p, "stages"), i, s) {
				char label[80];
				l = json_object_get(s, "latency_us");
				snprintf(label, sizeof(label), "  %s", json_string_value(json_object_get(s, "name")));
				printf("%-24s %8lld %8lld %8lld %8lld %8lld %8lld %8lld %10lld %10lld\n", label,
				       geti(s, "queued"), geti(s, "running"), geti(s, "done"), geti(s, "failed"),
				       geti(s, "retried"), geti(s, "canceled"), geti(s, "timeouts"),
				       geti(l, "p50"), geti(l, "p99"));
			}
		}
		json_t *rt = json_object_get(resp, "runtime");
		if (rt)
			printf("\nruntime: procs %lld, connections %lld, fibers %lld (spawned %lld), "
			       "switches %lld, steals %lld, parks %lld, naps %lld, wake-ups %lld, "
			       "I/O submitted %lld, completed %lld\n",
			       geti(rt, "procs"), geti(rt, "connections"), geti(rt, "fibers"),
			       geti(rt, "fibers_spawned"), geti(rt, "switches"), geti(rt, "steals"),
			       geti(rt, "parks"), geti(rt, "naps"), geti(rt, "wakeups"),
			       geti(rt, "io_submitted"), geti(rt, "io_completed"));
	} else if (!strcmp(op, "pipelines")) {
		json_t *p, *s;
		size_t i, k;
		json_array_foreach(json_object_get(resp, "pipelines"), i, p) {
			printf("%s\n", json_string_value(json_object_get(p, "name")));
			json_array_foreach(json_object_get(p, "stages"), k, s) {
				json_t *ex = json_object_get(s, "exec");
				char *what = ex ? json_dumps(ex, JSON_COMPACT) : NULL;
				printf("  %-16s %s %s  workers=%lld queue=%lld timeout=%lldms attempts=%lld\n",
				       json_string_value(json_object_get(s, "name")),
				       ex ? "exec" : json_object_get(s, "builtin") ? "builtin" : "plugin",
				       what ? what : json_object_get(s, "builtin") ?
				       json_string_value(json_object_get(s, "builtin")) : "",
				       geti(s, "workers"), geti(s, "queue"), geti(s, "timeout_ms"),
				       geti(json_object_get(s, "retry"), "attempts"));
				free(what);
			}
		}
	} else if (!strcmp(op, "ping")) {
		printf("weftd %s\n", json_string_value(json_object_get(resp, "version")));
	} else {
		json_object_del(resp, "id");
		json_object_del(resp, "ok");
		char *s = json_dumps(resp, JSON_COMPACT);
		printf("%s ok %s\n", op, s ? s : "");
		free(s);
	}
	json_decref(resp);
	free(raw);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = NULL;
	int c;

	/* Options before the command only ("+"): the command parses its own. */
	while ((c = getopt_long(argc, argv, "+s:jt:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'j': opt_json = true; break;
		case 't': opt_timeout = optarg; break;
		case 'h': fputs(usage_text, stdout); return EX_OK;
		default: return die_usage(NULL);
		}
	}
	if (optind >= argc)
		return die_usage("no command");
	argc -= optind;
	argv += optind;
	const char *cmd = argv[0];
	static const char *const known[] = { "submit", "status", "wait", "cancel", "list", "stats",
					     "pipelines", "ping", "reload", "drain", NULL };
	int k = 0;
	while (known[k] && strcmp(known[k], cmd))
		k++;
	if (!known[k]) {
		fprintf(stderr, "weftctl: unknown command \"%s\"\n", cmd);
		return die_usage(NULL);
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return EX_OK;
		}
	if (connect_to(sock ? sock : default_socket()) < 0)
		return EX_CONN;
	if (!strcmp(cmd, "submit"))
		return cmd_submit(argc, argv);
	if (!strcmp(cmd, "status") || !strcmp(cmd, "cancel"))
		return cmd_job(cmd, argc, argv);
	if (!strcmp(cmd, "wait"))
		return cmd_wait(argc, argv);
	if (!strcmp(cmd, "list"))
		return cmd_list(argc, argv);
	return cmd_simple(cmd, argc, argv);
}
