/* SPDX-License-Identifier: MIT */
/* Printing what the daemon answers: jobs, outputs (raw bytes, NULs included), human
 * units, and --json lines made safe for tools that stop at a NUL. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/text.h"
#include "weftctl/ctl.h"

long long ctl_geti(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

const char *ctl_gets(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

void ctl_progress_clear(struct ctl *c)
{
	if (!c->progress_shown)
		return;
	fputs("\r\033[K", stderr); /* carriage return, erase to the end of the line */
	fflush(stderr);
	c->progress_shown = false;
}

const char *ctl_fmt_us(long long us, char *buf, size_t len)
{
	if (us < 1000)
		snprintf(buf, len, "%lldus", us);
	else if (us < 10000)
		snprintf(buf, len, "%.1fms", us / 1e3);
	else if (us < 1000000)
		snprintf(buf, len, "%lldms", (us + 500) / 1000);
	else if (us < 60000000)
		snprintf(buf, len, "%.1fs", us / 1e6);
	else if (us < 3600000000LL)
		snprintf(buf, len, "%lldm%02llds", us / 60000000, us / 1000000 % 60);
	else
		snprintf(buf, len, "%lldh%02lldm", us / 3600000000LL, us / 60000000 % 60);
	return buf;
}

const char *ctl_fmt_bytes(long long b, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lldB", b);
	else
		snprintf(buf, len, v < 10 ? "%.1f%s" : "%.0f%s", v, unit[u]);
	return buf;
}

/* The bytes of member `name` (text) or `name`_b64 (base64) of o: malloc'ed in *ret.
 * 1 when present, 0 when neither is, -1 on a bad base64 or no memory. */
static int member_bytes(json_t *o, const char *name, char **ret, size_t *len)
{
	char b64name[32];
	json_t *v = json_object_get(o, name);

	if (v && json_is_string(v)) {
		*len = json_string_length(v);
		*ret = malloc(*len + 1);
		if (!*ret)
			return -1;
		memcpy(*ret, json_string_value(v), *len);
		return 1;
	}
	snprintf(b64name, sizeof(b64name), "%s_b64", name);
	v = json_object_get(o, b64name);
	if (!v || !json_is_string(v))
		return 0;
	size_t n = json_string_length(v);
	*ret = malloc(WEFTD_B64_DEC_MAX(n) + 1);
	ssize_t k = *ret ? weftd_b64_decode(json_string_value(v), n, *ret) : -1;
	if (k < 0) {
		free(*ret);
		*ret = NULL;
		return -1;
	}
	*len = (size_t)k;
	return 1;
}

/* The bytes to stdout, raw; a newline after them when they lack one and end_line is set
 * and stdout is a terminal (a pipe gets the bytes exactly). */
static void put_bytes(const char *b, size_t n, bool end_line)
{
	fwrite(b, 1, n, stdout);
	if (end_line && n && b[n - 1] != '\n' && isatty(STDOUT_FILENO))
		fputc('\n', stdout);
}

void ctl_print_output(json_t *job, bool end_line)
{
	char *b;
	size_t n;

	if (member_bytes(job, "output", &b, &n) > 0) {
		put_bytes(b, n, end_line);
		free(b);
	}
}

void ctl_print_log_tail(json_t *job, int lines)
{
	const char *log = json_string_value(json_object_get(job, "log"));
	size_t n = json_string_length(json_object_get(job, "log"));

	if (!log || !n)
		return;
	while (n && log[n - 1] == '\n')
		n--;
	size_t start = n;
	for (int k = 0; start > 0; start--)
		if (log[start - 1] == '\n' && ++k == lines)
			break;
	fputs("log (tail):\n", stderr);
	for (size_t i = start; i < n;) {
		const char *nl = memchr(log + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - log) : n;
		fputs("  ", stderr);
		fwrite(log + i, 1, end - i, stderr);
		fputc('\n', stderr);
		i = end + 1;
	}
}

static void print_field_bytes(json_t *job, const char *name)
{
	char *b;
	size_t n;

	if (member_bytes(job, name, &b, &n) > 0) {
		printf("%-10s ", name);
		fwrite(b, 1, n, stdout);
		if (!n || b[n - 1] != '\n')
			fputc('\n', stdout);
		free(b);
	}
}

static void print_time(const char *label, long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[64];

	if (ms && localtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %z", &tm))
		printf("%-10s %s\n", label, buf);
}

void ctl_print_job(json_t *job)
{
	static const char *const keys[] = { "id", "pipeline", "state", "stage", NULL };
	char t[32];

	for (int i = 0; keys[i]; i++) {
		const char *v = ctl_gets(job, keys[i]);
		printf("%-10s %s\n", keys[i], *v ? v : "-");
	}
	printf("%-10s %lld\n", "attempts", ctl_geti(job, "attempts"));
	if (json_object_get(job, "priority"))
		printf("%-10s %lld\n", "priority", ctl_geti(job, "priority"));
	if (json_object_get(job, "key"))
		printf("%-10s %s\n", "key", ctl_gets(job, "key"));
	print_time("run at", ctl_geti(job, "run_at_ms"));
	if (json_object_get(job, "error"))
		printf("%-10s %s\n", "error", ctl_gets(job, "error"));
	print_field_bytes(job, "payload");
	print_field_bytes(job, "output");
	print_field_bytes(job, "log");
	long long c = ctl_geti(job, "created_ms"), f = ctl_geti(job, "finished_ms");
	if (c && f)
		printf("%-10s %s\n", "took", ctl_fmt_us((f - c) * 1000, t, sizeof(t)));
}

int ctl_job_exit(json_t *job)
{
	const char *s = ctl_gets(job, "state");
	if (!strcmp(s, "done"))
		return EX_OK;
	if (!strcmp(s, "failed") || !strcmp(s, "canceled") || !strcmp(s, "expired"))
		return EX_JOB;
	return EX_TIMEOUT;
}

/* One job object: output, log, payload holding a NUL become their _b64 twins. */
static bool job_nul_to_b64(json_t *job)
{
	static const char *const names[] = { "output", "log", "payload", NULL };
	bool changed = false;

	if (!json_is_object(job))
		return false;
	for (int i = 0; names[i]; i++) {
		json_t *v = json_object_get(job, names[i]);
		size_t n = json_string_length(v);
		if (!v || !json_is_string(v) || !memchr(json_string_value(v), '\0', n))
			continue;
		char *b64 = malloc(WEFTD_B64_ENC_LEN(n) + 1), key[32];
		if (!b64)
			continue;
		size_t k = weftd_b64_encode(json_string_value(v), n, b64);
		snprintf(key, sizeof(key), "%s_b64", names[i]);
		json_object_set_new(job, key, json_stringn(b64, k));
		json_object_del(job, names[i]);
		free(b64);
		changed = true;
	}
	return changed;
}

void ctl_print_json(json_t *resp, const char *raw)
{
	bool changed = job_nul_to_b64(json_object_get(resp, "job"));
	json_t *j;
	size_t i;

	json_array_foreach(json_object_get(resp, "jobs"), i, j)
		changed |= job_nul_to_b64(j);
	if (!changed) {
		printf("%s\n", raw);
		return;
	}
	char *s = json_dumps(resp, JSON_COMPACT);
	printf("%s\n", s ? s : raw);
	free(s);
}
