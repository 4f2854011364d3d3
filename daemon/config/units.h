/* SPDX-License-Identifier: MIT */
/* weftd units: durations, byte sizes and rates as written in the config and protocol.
 * Pure functions, no allocation, no global state. */
#ifndef WEFTD_UNITS_H
#define WEFTD_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define WEFTD_NSEC_PER_USEC 1000ULL
#define WEFTD_NSEC_PER_MSEC 1000000ULL
#define WEFTD_NSEC_PER_SEC  1000000000ULL

/* Parse a Go-style duration of len bytes: one or more "<number><unit>" terms, e.g. "250ms",
 * "1.5s", "1h30m", "100us" (units ns us µs ms s m h); a bare "0" is zero.
 * Returns 0 and stores nanoseconds in *ret_ns, or -EINVAL for garbage, a sign, a missing
 * unit or an empty string, -ERANGE when the value exceeds INT64_MAX ns (~292 years). */
int weftd_parse_duration(const char *s, size_t len, uint64_t *ret_ns);

/* Parse a byte size: plain bytes "4096", or with a unit B, KiB MiB GiB TiB (1024-based),
 * KB MB GB TB (1000-based), K M G T (taken as 1024-based). Integers only.
 * Returns 0 and stores bytes in *ret, -EINVAL for garbage, -ERANGE on overflow. */
int weftd_parse_size(const char *s, size_t len, uint64_t *ret);

/* Parse a rate "<count>/<unit>" with unit s, ms, m, h (e.g. "50/s", "3/ms").
 * Returns 0 with the count and the period in nanoseconds, -EINVAL for garbage or a zero
 * count, -ERANGE when the count exceeds UINT32_MAX. */
int weftd_parse_rate(const char *s, size_t len, uint32_t *ret_count, uint64_t *ret_per_ns);

/* Parse an RFC 3339 timestamp of len bytes, "2026-12-03T14:00:00Z": date, 'T' (or 't' or
 * a space), time with optional fraction (digits past milliseconds are dropped), then 'Z'
 * (or 'z') or an offset "+01:00". Years 1970 to 9999; a leap second (:60) counts as :59.999.
 * Returns 0 with Unix epoch milliseconds in *ret_ms, or -EINVAL. */
int weftd_parse_rfc3339(const char *s, size_t len, int64_t *ret_ms);

/* Format ns as the shortest exact duration string ("1h30m", "250ms", "0s") into buf.
 * Returns the length written (truncated to size-1 like snprintf). */
int weftd_format_duration(uint64_t ns, char *buf, size_t size);

#endif
