/* SPDX-License-Identifier: MIT */
/* expo.h — the Prometheus text exposition format (version 0.0.4), written into a
 * weftd_buf: one "# HELP" and "# TYPE" line per family, then its samples
 * `name{label="value",...} value`. Pure: no I/O, no state; the caller keeps each family's
 * samples together (the format requires it) and picks names and units by Prometheus'
 * conventions (counters end in _total, durations in _seconds, sizes in _bytes). */
#ifndef WEFTD_OBS_EXPO_H
#define WEFTD_OBS_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"

/* The text format's media type, for the HTTP Content-Type. */
#define WEFTD_EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* One label of a sample. name must match [a-zA-Z_][a-zA-Z0-9_]* (the caller's names are
 * constants); value is any UTF-8 text and is escaped here (\\, \" and \n). */
struct weftd_expo_label {
	const char *name;
	const char *value;
};

/* "# HELP name help" (help escaped: \\ and \n) and "# TYPE name type"; type is
 * "counter", "gauge", "histogram", "summary" or "untyped". */
void weftd_expo_family(struct weftd_buf *b, const char *name, const char *type, const char *help);

/* One sample: name (plus suffix, e.g. "_sum"; NULL for none), the labels, the value. An
 * unsigned value is written exactly (a double would round counters past 2^53). */
void weftd_expo_u64(struct weftd_buf *b, const char *name, const char *suffix,
		    const struct weftd_expo_label *l, size_t nl, uint64_t v);
void weftd_expo_i64(struct weftd_buf *b, const char *name, const char *suffix,
		    const struct weftd_expo_label *l, size_t nl, int64_t v);
/* A double: shortest round-trip form; infinities as +Inf/-Inf, NaN as NaN. */
void weftd_expo_f64(struct weftd_buf *b, const char *name, const char *suffix,
		    const struct weftd_expo_label *l, size_t nl, double v);

/* A histogram's samples (the family line is the caller's): for each i < n,
 * name_bucket{labels,le="le[i]"} = counts[0] + ... + counts[i] (cumulative), then
 * le="+Inf" = count, name_sum = sum, name_count = count. counts[i] is the number of
 * observations in (le[i-1], le[i]]; observations above le[n-1] are count minus the sum of
 * counts. */
void weftd_expo_histogram(struct weftd_buf *b, const char *name, const struct weftd_expo_label *l,
			  size_t nl, const double *le, const uint64_t *counts, size_t n,
			  double sum, uint64_t count);

/* Escape s into b (no quotes): \ -> \\, newline -> \n, and " -> \" unless help (HELP
 * text leaves quotes alone). */
void weftd_expo_escape(struct weftd_buf *b, const char *s, bool help);

#endif
