/* SPDX-License-Identifier: MIT */
/* stats and pipelines as tables: every column has a value in every row, latencies in
 * human units, column widths from the widest cell. */
#include <stdlib.h>
#include <string.h>

#include "weftctl/ctl.h"

#define MAX_COLS 16
#define CELL     48

/* A table built row by row, then printed with each column as wide as its widest cell;
 * the first column left-aligned, the others right-aligned. */
struct table {
	int ncols, nrows, cap;
	char (*cells)[MAX_COLS][CELL];
};

static void row_add(struct table *t, const char *const *v)
{
	if (t->nrows == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;
		void *nc = realloc(t->cells, (size_t)cap * sizeof(*t->cells));
		if (!nc)
			return;
		t->cells = nc;
		t->cap = cap;
	}
	for (int i = 0; i < t->ncols; i++)
		snprintf(t->cells[t->nrows][i], CELL, "%s", v[i]);
	t->nrows++;
}

static void table_print(struct table *t)
{
	int w[MAX_COLS] = { 0 };

	for (int r = 0; r < t->nrows; r++)
		for (int i = 0; i < t->ncols; i++) {
			int n = (int)strlen(t->cells[r][i]);
			w[i] = n > w[i] ? n : w[i];
		}
	for (int r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++)
			printf(i == 0 ? "%-*s" : "  %*s", w[i], t->cells[r][i]);
		putchar('\n');
	}
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

static char *num(char *b, long long v)
{
	snprintf(b, CELL, "%lld", v);
	return b;
}

static void pipelines_table(json_t *pipes)
{
	static const char *const head[] = { "PIPELINE", "SUBMITTED", "DONE", "FAILED", "CANCELED",
		"EXPIRED", "BUSY", "SCHEDULED", "PAUSED", "P50", "P99", "MAX" };
	struct table t = { .ncols = 12 };
	const char *name;
	json_t *p;

	row_add(&t, head);
	json_object_foreach(pipes, name, p) {
		char c[12][CELL];
		json_t *l = json_object_get(p, "latency_us");
		const char *v[12] = { name, num(c[1], ctl_geti(p, "submitted")), num(c[2], ctl_geti(p, "done")),
			num(c[3], ctl_geti(p, "failed")), num(c[4], ctl_geti(p, "canceled")),
			num(c[5], ctl_geti(p, "expired")),
			num(c[6], ctl_geti(p, "busy")), num(c[7], ctl_geti(p, "scheduled")),
			json_is_true(json_object_get(p, "paused")) ? "yes" : "no",
			ctl_fmt_us(ctl_geti(l, "p50"), c[9], CELL), ctl_fmt_us(ctl_geti(l, "p99"), c[10], CELL),
			ctl_fmt_us(ctl_geti(l, "max"), c[11], CELL) };
		row_add(&t, v);
	}
	table_print(&t);
}

static void stages_table(json_t *pipes)
{
	static const char *const head[] = { "PIPELINE/STAGE", "WORKERS", "QUEUED", "RUNNING",
		"RETRYING", "DONE", "FAILED", "RETRIED", "CANCELED", "TIMEOUTS", "HB_TIMEOUTS", "P50", "P99" };
	struct table t = { .ncols = 13 };
	const char *name;
	json_t *p, *s;
	size_t i;

	row_add(&t, head);
	json_object_foreach(pipes, name, p) {
		json_array_foreach(json_object_get(p, "stages"), i, s) {
			char c[13][CELL];
			json_t *l = json_object_get(s, "latency_us");
			snprintf(c[0], CELL, "%s/%s", name, ctl_gets(s, "name"));
			const char *v[13] = { c[0], num(c[1], ctl_geti(s, "workers")),
				num(c[2], ctl_geti(s, "queued")), num(c[3], ctl_geti(s, "running")),
				num(c[4], ctl_geti(s, "retrying")), num(c[5], ctl_geti(s, "done")),
				num(c[6], ctl_geti(s, "failed")), num(c[7], ctl_geti(s, "retried")),
				num(c[8], ctl_geti(s, "canceled")), num(c[9], ctl_geti(s, "timeouts")),
				num(c[10], ctl_geti(s, "heartbeat_timeouts")),
				ctl_fmt_us(ctl_geti(l, "p50"), c[11], CELL),
				ctl_fmt_us(ctl_geti(l, "p99"), c[12], CELL) };
			row_add(&t, v);
		}
	}
	table_print(&t);
}

int cmd_stats(struct ctl *c, const struct ctl_args *a)
{
	json_t *req = ctl_request(c, "stats"), *resp;
	char *raw, b[32];
	int rc = EX_OK;

	if (a->npos)
		json_object_set_new(req, "pipeline", json_string(a->pos[0]));
	if (!(resp = ctl_roundtrip(c, req, &raw, &rc)))
		return rc;
	if (c->json) {
		ctl_print_json(resp, raw);
		goto out;
	}
	json_t *pipes = json_object_get(resp, "pipelines"), *jobs = json_object_get(resp, "jobs");
	pipelines_table(pipes);
	putchar('\n');
	stages_table(pipes);
	if (jobs)
		printf("\njobs: %lld in the table, %lld finished retained (%s of outputs and logs)%s%s\n",
		       ctl_geti(jobs, "table"), ctl_geti(jobs, "finished_retained"),
		       ctl_fmt_bytes(ctl_geti(jobs, "finished_bytes"), b, sizeof(b)),
		       json_object_get(resp, "intake") ? ", intake " : "", ctl_gets(resp, "intake"));
	json_t *rt = json_object_get(resp, "runtime");
	if (rt)
		printf("runtime: procs %lld, connections %lld, fibers %lld (spawned %lld), "
		       "switches %lld, steals %lld, parks %lld, naps %lld, wake-ups %lld, "
		       "I/O submitted %lld, completed %lld\n",
		       ctl_geti(rt, "procs"), ctl_geti(rt, "connections"), ctl_geti(rt, "fibers"),
		       ctl_geti(rt, "fibers_spawned"), ctl_geti(rt, "switches"), ctl_geti(rt, "steals"),
		       ctl_geti(rt, "parks"), ctl_geti(rt, "naps"), ctl_geti(rt, "wakeups"),
		       ctl_geti(rt, "io_submitted"), ctl_geti(rt, "io_completed"));
out:
	json_decref(resp);
	free(raw);
	return rc;
}

int cmd_pipelines(struct ctl *c, const struct ctl_args *a)
{
	json_t *resp, *p, *s;
	char *raw, t[32];
	int rc = EX_OK;
	size_t i, k;

	if (!(resp = ctl_roundtrip(c, ctl_request(c, "pipelines"), &raw, &rc)))
		return rc;
	if (c->json) {
		ctl_print_json(resp, raw);
		goto out;
	}
	json_array_foreach(json_object_get(resp, "pipelines"), i, p) {
		printf("%s%s\n", ctl_gets(p, "name"),
		       json_is_true(json_object_get(p, "paused")) ? " (paused)" : "");
		json_array_foreach(json_object_get(p, "stages"), k, s) {
			json_t *ex = json_object_get(s, "exec"), *pl = json_object_get(s, "plugin");
			char *what = ex ? json_dumps(ex, JSON_COMPACT) : pl ? json_dumps(pl, JSON_COMPACT) : NULL;
			long long to = ctl_geti(s, "timeout_ms");
			printf("  %-16s %s %s  workers=%lld queue=%lld timeout=%s attempts=%lld\n",
			       ctl_gets(s, "name"), ex ? "exec" : pl ? "plugin" : "builtin",
			       what ? what : ctl_gets(s, "builtin"), ctl_geti(s, "workers"),
			       ctl_geti(s, "queue"), to ? ctl_fmt_us(to * 1000, t, sizeof(t)) : "none",
			       ctl_geti(json_object_get(s, "retry"), "attempts"));
			free(what);
		}
	}
out:
	json_decref(resp);
	free(raw);
	return rc;
}
