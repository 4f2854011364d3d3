/* SPDX-License-Identifier: MIT */
/* submit and wait: the commands that wait for jobs, with a progress line on stderr while
 * they do when stderr is a terminal (cleared before any result is printed). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/text.h"
#include "weftctl/ctl.h"

#define PROGRESS_TICK_MS 100   /* redraw the elapsed time */
#define STATUS_EVERY_MS  300   /* ask the job's stage and attempt */
#define LOG_TAIL_LINES   10

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A duration or time as the protocol takes it: a plain number is a JSON number
 * (milliseconds, or Unix seconds for --at), anything else the string as given. */
static json_t *num_or_string(const char *s)
{
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (*s && !*end && !errno && strspn(s, "0123456789.") == strlen(s))
		return d == (double)(long long)d ? json_integer((json_int_t)d) : json_real(d);
	return json_string(s);
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
			if (!nb)
				free(b);
			b = nb;
		}
	}
	if (!b)
		return -ENOMEM;
	*ret = b;
	*len = n;
	return ferror(f) ? -EIO : 0;
}

/* The submit request from the command line; NULL after a usage error (printed, *rc set). */
static json_t *submit_request(struct ctl *c, const struct ctl_args *a, int *rc)
{
	const char *arg = a->npos > 1 ? a->pos[1] : NULL;
	char *data = NULL;
	size_t len = 0;

	*rc = EX_USAGE;
	if (arg && a->file) {
		ctl_usage_error(c->cmd, "submit: a PAYLOAD and --file both given");
		return NULL;
	}
	if (a->delay && a->at) {
		ctl_usage_error(c->cmd, "submit: --delay and --at exclude each other");
		return NULL;
	}
	if (a->priority) {
		char *end;
		long p = strtol(a->priority, &end, 10);
		if (!*a->priority || *end || p < -100 || p > 100) {
			ctl_usage_error(c->cmd, "submit: --priority takes an integer -100..100, not \"%s\"",
					a->priority);
			return NULL;
		}
	}
	if (a->key && (!*a->key || strlen(a->key) > 256)) {
		ctl_usage_error(c->cmd, "submit: --key takes 1..256 bytes");
		return NULL;
	}
	if (a->file || (arg && !strcmp(arg, "-"))) {
		FILE *f = a->file ? fopen(a->file, "rb") : stdin;
		int e = f ? read_all(f, &data, &len) : -errno;
		if (f && a->file)
			fclose(f);
		if (e < 0) {
			fprintf(stderr, "weftctl: reading %s: %s\n", a->file ? a->file : "stdin", strerror(-e));
			return NULL;
		}
	} else if (arg) {
		len = strlen(arg);
		data = strdup(arg);
	}
	json_t *req = ctl_request(c, "submit");
	json_object_set_new(req, "pipeline", json_string(a->pos[0]));
	if (len && weftd_utf8_valid(data, len)) {
		json_object_set_new(req, "payload", json_stringn(data, len));
	} else if (len) {
		char *b64 = malloc(WEFTD_B64_ENC_LEN(len) + 1);
		if (b64) {
			size_t n = weftd_b64_encode(data, len, b64);
			json_object_set_new(req, "payload_b64", json_stringn(b64, n));
		}
		free(b64);
	}
	free(data);
	if (a->delay)
		json_object_set_new(req, "delay", num_or_string(a->delay));
	if (a->at)
		json_object_set_new(req, "run_at", num_or_string(a->at));
	if (a->priority)
		json_object_set_new(req, "priority", json_integer(strtol(a->priority, NULL, 10)));
	if (a->key)
		json_object_set_new(req, "key", json_string(a->key));
	if (a->deadline)
		json_object_set_new(req, "deadline", num_or_string(a->deadline));
	*rc = EX_OK;
	return req;
}

/* The progress line: elapsed time, state, stage and attempt of the last status seen. */
static void progress_draw(struct ctl *c, const char *id, long long t0, json_t *st)
{
	const char *state = st ? ctl_gets(st, "state") : "";
	const char *stage = st ? ctl_gets(st, "stage") : "";

	fprintf(stderr, "\r\033[K%.1fs  job %s%s%s%s%s", (mono_ms() - t0) / 1e3, id,
		*state ? ": " : "", state, *stage ? ", stage " : "", stage);
	if (st && *stage)
		fprintf(stderr, ", attempt %lld", ctl_geti(st, "attempts"));
	fflush(stderr);
	c->progress_shown = true;
}

/* The human report of an ended (or timed-out) wait for one job. */
static int report_one(struct ctl *c, json_t *job)
{
	int rc = ctl_job_exit(job);

	ctl_progress_clear(c);
	if (rc == EX_OK) {
		ctl_print_output(job, true);
	} else if (rc == EX_JOB) {
		const char *err = ctl_gets(job, "error");
		fprintf(stderr, "weftctl: job %s %s%s%s\n", ctl_gets(job, "id"), ctl_gets(job, "state"),
			*err ? ": " : "", err);
		ctl_print_log_tail(job, LOG_TAIL_LINES);
	} else {
		fprintf(stderr, "weftctl: job %s is still %s after %s\n", ctl_gets(job, "id"),
			ctl_gets(job, "state"), c->timeout ? c->timeout : "the timeout");
	}
	return rc;
}

/* Wait for one job; a status request every STATUS_EVERY_MS feeds the progress line when
 * stderr is a terminal. The answers share the connection, told apart by their ids. */
static int wait_one(struct ctl *c, const char *id)
{
	bool progress = !c->json && isatty(STDERR_FILENO), asked = false, timed_out;
	long long t0 = mono_ms(), last_ask = 0, wait_id = c->next_id;
	json_t *req = ctl_request(c, "wait"), *st = NULL;
	int rc = EX_CONN;

	json_object_set_new(req, "job", json_string(id));
	if (c->timeout)
		json_object_set_new(req, "timeout", num_or_string(c->timeout));
	if (ctl_send(c, req) < 0)
		return EX_CONN;
	for (;;) {
		if (progress && !asked && mono_ms() - last_ask >= STATUS_EVERY_MS) {
			json_t *s = ctl_request(c, "status");
			json_object_set_new(s, "job", json_string(id));
			if (ctl_send(c, s) < 0)
				break;
			asked = true;
			last_ask = mono_ms();
		}
		char *raw;
		json_t *resp = ctl_recv(c, &raw, progress ? PROGRESS_TICK_MS : -1, &timed_out);
		if (!resp && !timed_out)
			break;
		if (resp && json_integer_value(json_object_get(resp, "id")) == wait_id) {
			if (!json_is_true(json_object_get(resp, "ok")))
				rc = ctl_error_exit(c, resp, raw);
			else if (c->json) {
				ctl_print_json(resp, raw);
				rc = ctl_job_exit(json_object_get(resp, "job"));
			} else
				rc = report_one(c, json_object_get(resp, "job"));
			json_decref(resp);
			free(raw);
			break;
		}
		if (resp) { /* a status answer; an error (the job left the table) shows nothing */
			asked = false;
			if (json_is_true(json_object_get(resp, "ok"))) {
				json_decref(st);
				st = json_incref(json_object_get(resp, "job"));
			}
			json_decref(resp);
			free(raw);
		}
		if (progress)
			progress_draw(c, id, t0, st);
	}
	ctl_progress_clear(c);
	json_decref(st);
	return rc;
}

int cmd_submit(struct ctl *c, const struct ctl_args *a)
{
	bool wait = a->seen & O_WAIT;
	char *raw = NULL;
	int rc;
	json_t *req = submit_request(c, a, &rc);

	if (!req)
		return rc;
	if (wait && c->json) {
		/* One line for scripts: the answer of a submit that waits (it has the id). */
		json_object_set_new(req, "wait", json_true());
		if (c->timeout)
			json_object_set_new(req, "timeout", num_or_string(c->timeout));
	}
	json_t *resp = ctl_roundtrip(c, req, &raw, &rc);
	if (!resp)
		return rc;
	json_t *job = json_object_get(resp, "job");
	if (c->json) {
		ctl_print_json(resp, raw);
		if (wait)
			rc = ctl_job_exit(job);
	} else {
		const char *id = json_string_value(job);
		if (json_is_true(json_object_get(resp, "duplicate")))
			fprintf(stderr, "duplicate: job %s\n", id);
		if (!wait) {
			printf("%s\n", id);
			if (!strcmp(ctl_gets(resp, "state"), "scheduled")) {
				char t[64];
				time_t s = (time_t)(ctl_geti(resp, "run_at_ms") / 1000);
				struct tm tm;
				if (localtime_r(&s, &tm) && strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S %z", &tm))
					fprintf(stderr, "scheduled: runs at %s\n", t);
			}
		} else {
			/* The id first: a Ctrl-C while waiting does not lose it. */
			if (!json_is_true(json_object_get(resp, "duplicate")))
				fprintf(stderr, "job %s\n", id);
			fflush(stderr);
			rc = id ? wait_one(c, id) : EX_CONN;
		}
	}
	json_decref(resp);
	free(raw);
	return rc;
}

/* Several ids: pipelined, one wait request each, answered as each job ends. */
static int wait_many(struct ctl *c, const struct ctl_args *a)
{
	int n = a->npos, rc = EX_OK, ndone = 0;
	bool progress = !c->json && isatty(STDERR_FILENO), timed_out;

	for (int i = 0; i < n; i++) {
		json_t *req = ctl_request(c, "wait");
		json_object_set_new(req, "job", json_string(a->pos[i]));
		if (c->timeout)
			json_object_set_new(req, "timeout", num_or_string(c->timeout));
		if (ctl_send(c, req) < 0)
			return EX_CONN;
	}
	for (int got = 0; got < n; got++) {
		char *raw;
		json_t *resp = ctl_recv(c, &raw, -1, &timed_out);
		if (!resp)
			return EX_CONN;
		ctl_progress_clear(c);
		if (!json_is_true(json_object_get(resp, "ok"))) {
			int e = ctl_error_exit(c, resp, raw);
			rc = rc > e ? rc : e;
		} else {
			json_t *job = json_object_get(resp, "job");
			int e = ctl_job_exit(job);
			const char *err = ctl_gets(job, "error");
			ndone += e == EX_OK;
			if (c->json)
				ctl_print_json(resp, raw);
			else
				printf("%s %s%s%s\n", ctl_gets(job, "id"), ctl_gets(job, "state"),
				       *err ? " " : "", err);
			/* precedence: failure over timeout over success */
			if (e == EX_JOB || (e == EX_TIMEOUT && rc == EX_OK))
				rc = e;
		}
		fflush(stdout);
		if (progress && got + 1 < n) {
			fprintf(stderr, "%d/%d done, %d waiting", ndone, n, n - got - 1);
			fflush(stderr);
			c->progress_shown = true;
		}
		json_decref(resp);
		free(raw);
	}
	ctl_progress_clear(c);
	return rc;
}

int cmd_wait(struct ctl *c, const struct ctl_args *a)
{
	return a->npos == 1 ? wait_one(c, a->pos[0]) : wait_many(c, a);
}
