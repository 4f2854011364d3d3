/* SPDX-License-Identifier: MIT */
/* expo.c — the Prometheus text exposition format (see expo.h). */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/expo.h"

static void puts_(struct weftd_buf *b, const char *s)
{
	weftd_buf_put(b, s, strlen(s));
}

void weftd_expo_escape(struct weftd_buf *b, const char *s, bool help)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = NULL;
		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && !help) /* HELP text keeps its quotes as they are */
			esc = "\\\"";
		if (!esc)
			continue;
		weftd_buf_put(b, run, (size_t)(s - run));
		weftd_buf_put(b, esc, 2);
		run = s + 1;
	}
	weftd_buf_put(b, run, (size_t)(s - run));
}

void weftd_expo_family(struct weftd_buf *b, const char *name, const char *type, const char *help)
{
	WEFTD_BUF_PUTS(b, "# HELP ");
	puts_(b, name);
	WEFTD_BUF_PUTS(b, " ");
	weftd_expo_escape(b, help, true);
	WEFTD_BUF_PUTS(b, "\n# TYPE ");
	puts_(b, name);
	WEFTD_BUF_PUTS(b, " ");
	puts_(b, type);
	WEFTD_BUF_PUTS(b, "\n");
}

/* name{labels,extra="value"} followed by a space. */
static void head(struct weftd_buf *b, const char *name, const char *suffix,
		 const struct weftd_expo_label *l, size_t nl, const struct weftd_expo_label *extra)
{
	puts_(b, name);
	if (suffix)
		puts_(b, suffix);
	if (nl || extra) {
		WEFTD_BUF_PUTS(b, "{");
		for (size_t i = 0; i <= nl; i++) {
			const struct weftd_expo_label *x = i < nl ? &l[i] : extra;
			if (!x)
				break;
			if (i)
				WEFTD_BUF_PUTS(b, ",");
			puts_(b, x->name);
			WEFTD_BUF_PUTS(b, "=\"");
			weftd_expo_escape(b, x->value, false);
			WEFTD_BUF_PUTS(b, "\"");
		}
		WEFTD_BUF_PUTS(b, "}");
	}
	WEFTD_BUF_PUTS(b, " ");
}

static void num(struct weftd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void num(struct weftd_buf *b, const char *fmt, ...)
{
	char s[40];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	weftd_buf_put(b, s, (size_t)n);
	WEFTD_BUF_PUTS(b, "\n");
}

/* The shortest %g that reads back as v (Prometheus parses with Go's ParseFloat, and
 * matches histogram buckets by their le text: one bound, one spelling). */
static void shortest(char s[40], double v)
{
	if (v == (double)(int64_t)v && fabs(v) < 1e15) { /* whole numbers as integers */
		snprintf(s, 40, "%lld", (long long)v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(s, 40, "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
}

static void dbl(struct weftd_buf *b, double v)
{
	char s[40];

	if (isnan(v)) {
		WEFTD_BUF_PUTS(b, "NaN\n");
		return;
	}
	if (isinf(v)) {
		if (v > 0)
			WEFTD_BUF_PUTS(b, "+Inf\n");
		else
			WEFTD_BUF_PUTS(b, "-Inf\n");
		return;
	}
	shortest(s, v);
	puts_(b, s);
	WEFTD_BUF_PUTS(b, "\n");
}

void weftd_expo_u64(struct weftd_buf *b, const char *name, const char *suffix,
		    const struct weftd_expo_label *l, size_t nl, uint64_t v)
{
	head(b, name, suffix, l, nl, NULL);
	num(b, "%llu", (unsigned long long)v);
}

void weftd_expo_i64(struct weftd_buf *b, const char *name, const char *suffix,
		    const struct weftd_expo_label *l, size_t nl, int64_t v)
{
	head(b, name, suffix, l, nl, NULL);
	num(b, "%lld", (long long)v);
}

void weftd_expo_f64(struct weftd_buf *b, const char *name, const char *suffix,
		    const struct weftd_expo_label *l, size_t nl, double v)
{
	head(b, name, suffix, l, nl, NULL);
	dbl(b, v);
}

void weftd_expo_histogram(struct weftd_buf *b, const char *name, const struct weftd_expo_label *l,
			  size_t nl, const double *le, const uint64_t *counts, size_t n,
			  double sum, uint64_t count)
{
	uint64_t acc = 0;
	char bound[40];

	for (size_t i = 0; i < n; i++) {
		acc += counts[i];
		shortest(bound, le[i]);
		head(b, name, "_bucket", l, nl, &(struct weftd_expo_label){ "le", bound });
		num(b, "%llu", (unsigned long long)acc);
	}
	head(b, name, "_bucket", l, nl, &(struct weftd_expo_label){ "le", "+Inf" });
	num(b, "%llu", (unsigned long long)count);
	weftd_expo_f64(b, name, "_sum", l, nl, sum);
	weftd_expo_u64(b, name, "_count", l, nl, count);
}
