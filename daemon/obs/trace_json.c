/* SPDX-License-Identifier: MIT */
/* trace_json.c — weft/trace.h events as Chrome trace-event JSON (see trace.h). Events are
 * written as they are collected, one proc's batch after another: the viewers sort by ts. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "obs/trace.h"
#include "proto/json.h"

/* Microseconds since t0, as the format wants them, to the nanosecond. */
static void put_ts(struct weftd_buf *b, const char *key, int64_t ns)
{
	char num[40];
	int n = snprintf(num, sizeof(num), "%s%" PRId64 ".%03" PRId64, ns < 0 ? "-" : "",
			 (ns < 0 ? -ns : ns) / 1000, (ns < 0 ? -ns : ns) % 1000);
	weftd_json_raw(b, key, num, (size_t)n);
}

/* The members every event has. */
static void ev_head(struct weftd_trace_json *tj, const char *ph, const char *cat, unsigned tid, int64_t ts)
{
	struct weftd_buf *b = tj->b;

	weftd_json_obj_begin(b, NULL);
	weftd_json_cstr(b, "ph", ph);
	if (cat)
		weftd_json_cstr(b, "cat", cat);
	weftd_json_u64(b, "pid", 1);
	weftd_json_u64(b, "tid", tid);
	put_ts(b, "ts", ts - tj->t0);
}

static void meta(struct weftd_trace_json *tj, const char *what, unsigned tid, const char *name)
{
	struct weftd_buf *b = tj->b;

	weftd_json_obj_begin(b, NULL);
	weftd_json_cstr(b, "ph", "M");
	weftd_json_u64(b, "pid", 1);
	weftd_json_u64(b, "tid", tid);
	weftd_json_cstr(b, "name", what);
	weftd_json_obj_begin(b, "args");
	weftd_json_cstr(b, "name", name);
	weftd_json_obj_end(b);
	weftd_json_obj_end(b);
}

void weftd_trace_json_begin(struct weftd_trace_json *tj, struct weftd_buf *b, const char *key,
			    unsigned nprocs, int64_t t0, size_t max_bytes)
{
	memset(tj, 0, sizeof(*tj));
	tj->b = b;
	tj->t0 = t0;
	tj->nprocs = nprocs < WEFTD_TRACE_PROCS_MAX ? nprocs : WEFTD_TRACE_PROCS_MAX;
	tj->max_bytes = b->len + max_bytes;
	weftd_json_obj_begin(b, key);
	weftd_json_cstr(b, "displayTimeUnit", "ns");
	weftd_json_arr_begin(b, "traceEvents");
	meta(tj, "process_name", 0, "weftd");
	for (unsigned i = 0; i < tj->nprocs; i++) {
		char name[16];
		snprintf(name, sizeof(name), "proc %u", i);
		meta(tj, "thread_name", i, name);
	}
}

/* The slice of the fiber running on proc since cur.start, ending at ts. */
static void end_slice(struct weftd_trace_json *tj, unsigned proc, int64_t ts)
{
	struct weftd_buf *b = tj->b;
	char name[48];

	if (!tj->cur[proc].fiber)
		return;
	if (tj->cur[proc].name[0])
		snprintf(name, sizeof(name), "%s", tj->cur[proc].name);
	else
		snprintf(name, sizeof(name), "fiber %" PRIu64, tj->cur[proc].fiber);
	ev_head(tj, "X", "fiber", proc, tj->cur[proc].start);
	weftd_json_cstr(b, "name", name);
	put_ts(b, "dur", ts - tj->cur[proc].start);
	weftd_json_obj_begin(b, "args");
	weftd_json_u64(b, "fiber", tj->cur[proc].fiber);
	weftd_json_obj_end(b);
	weftd_json_obj_end(b);
	tj->cur[proc].fiber = 0;
}

/* A span's args: "key=value,key=value" as members (numbers stay strings: a job id may
 * look like one and is not). */
static void span_args(struct weftd_buf *b, const char *s)
{
	weftd_json_obj_begin(b, "args");
	while (*s) {
		size_t n = strcspn(s, ","), k = strcspn(s, "=");
		if (k < n) {
			char key[32];
			snprintf(key, sizeof(key), "%.*s", (int)(k < sizeof(key) - 1 ? k : sizeof(key) - 1), s);
			/* keys are not escaped by the json writer: keep only safe bytes */
			for (char *c = key; *c; c++)
				if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
					*c = '_';
			weftd_json_str(b, key, s + k + 1, n - k - 1);
		}
		s += n + (s[n] == ',');
	}
	weftd_json_obj_end(b);
}

static void instant(struct weftd_trace_json *tj, const struct weft_trace_event *ev, const char *cat,
		    const char *name)
{
	ev_head(tj, "i", cat, ev->proc, ev->ts_ns);
	weftd_json_cstr(tj->b, "s", "t");
	weftd_json_cstr(tj->b, "name", name);
	weftd_json_obj_begin(tj->b, "args");
	weftd_json_u64(tj->b, "fiber", ev->fiber);
}

int weftd_trace_json_event(void *arg, const struct weft_trace_event *ev)
{
	struct weftd_trace_json *tj = arg;
	struct weftd_buf *b = tj->b;
	unsigned p = ev->proc;
	char name[64], id[24];

	if (p >= tj->nprocs)
		return 0;
	if (ev->type == WEFT_TRACE_LOST) {
		tj->lost += ev->arg;
		tj->cur[p].fiber = 0; /* its start is among the lost */
	}
	if (b->len >= tj->max_bytes) {
		tj->dropped++;
		return 0;
	}
	tj->events++;
	switch (ev->type) {
	case WEFT_TRACE_SWITCH:
		end_slice(tj, p, ev->ts_ns);
		if (ev->fiber) {
			tj->cur[p].fiber = ev->fiber;
			tj->cur[p].start = ev->ts_ns;
			snprintf(tj->cur[p].name, sizeof(tj->cur[p].name), "%.31s", ev->text);
		}
		return 0;
	case WEFT_TRACE_PARK:
		snprintf(name, sizeof(name), "park: %.31s", ev->text[0] ? ev->text : "?");
		instant(tj, ev, "park", name);
		weftd_json_cstr(b, "reason", ev->text);
		break;
	case WEFT_TRACE_WAKE:
		instant(tj, ev, "wake", "wake");
		weftd_json_u64(b, "by", ev->arg);
		break;
	case WEFT_TRACE_STEAL:
		instant(tj, ev, "steal", "steal");
		weftd_json_u64(b, "from_proc", ev->aux);
		break;
	case WEFT_TRACE_RING:
		snprintf(name, sizeof(name), "ring proc %u", p);
		ev_head(tj, "C", NULL, p, ev->ts_ns);
		weftd_json_cstr(b, "name", name);
		weftd_json_obj_begin(b, "args");
		weftd_json_u64(b, "submitted", ev->arg);
		weftd_json_u64(b, "completed", ev->arg2);
		break;
	case WEFT_TRACE_SPAN_BEGIN:
	case WEFT_TRACE_SPAN_END: {
		size_t slot = (size_t)((ev->arg ^ (ev->arg >> 40)) % WEFTD_TRACE_OPEN_SPANS);
		if (ev->type == WEFT_TRACE_SPAN_END && tj->open[slot].id != ev->arg) {
			tj->events--; /* its begin is unknown: an end alone would confuse viewers */
			return 0;
		}
		snprintf(id, sizeof(id), "0x%" PRIx64, ev->arg);
		ev_head(tj, ev->type == WEFT_TRACE_SPAN_BEGIN ? "b" : "e", "span", p, ev->ts_ns);
		weftd_json_cstr(b, "id", id);
		if (ev->type == WEFT_TRACE_SPAN_BEGIN) {
			tj->open[slot].id = ev->arg;
			memcpy(tj->open[slot].name, ev->text, sizeof(ev->text));
			weftd_json_cstr(b, "name", ev->text);
			span_args(b, ev->text + strlen(ev->text) + 1);
		} else {
			tj->open[slot].id = 0;
			weftd_json_cstr(b, "name", tj->open[slot].name);
			weftd_json_obj_begin(b, "args");
			weftd_json_obj_end(b);
		}
		weftd_json_obj_end(b);
		return 0;
	}
	case WEFT_TRACE_LOST:
		ev_head(tj, "i", NULL, p, ev->ts_ns);
		weftd_json_cstr(b, "s", "g");
		weftd_json_cstr(b, "name", "lost");
		weftd_json_obj_begin(b, "args");
		weftd_json_u64(b, "proc", p);
		weftd_json_u64(b, "events", ev->arg);
		break;
	default:
		tj->events--;
		return 0;
	}
	weftd_json_obj_end(b); /* args */
	weftd_json_obj_end(b);
	return 0;
}

int weftd_trace_json_end(struct weftd_trace_json *tj, int64_t t_end, unsigned seconds)
{
	struct weftd_buf *b = tj->b;

	for (unsigned p = 0; p < tj->nprocs; p++)
		end_slice(tj, p, t_end);
	weftd_json_arr_end(b);
	weftd_json_obj_begin(b, "otherData");
	weftd_json_u64(b, "seconds", seconds);
	weftd_json_u64(b, "procs", tj->nprocs);
	weftd_json_u64(b, "events", tj->events);
	weftd_json_u64(b, "lost", tj->lost);
	weftd_json_u64(b, "dropped", tj->dropped);
	weftd_json_obj_end(b);
	weftd_json_obj_end(b);
	return b->err;
}
