/* SPDX-License-Identifier: MIT */
/* Time zones for the periodic schedules (cron.h), without the C library's process-wide
 * TZ: localtime_r() reads the one TZ of the process (and setenv("TZ") races every other
 * thread), so each schedule entry carries its zone as a value instead, read from the
 * system's tz database (TZif files, RFC 8536: /usr/share/zoneinfo, or $TZDIR).
 *
 * A zone is its list of transitions (UTC instant -> UTC offset) followed by the POSIX TZ
 * rule of its footer ("CET-1CEST,M3.5.0,M10.5.0/3") for instants after the last one.
 * Pure functions over caller memory; no global mutable state; no I/O (the config loader
 * reads the file). Offsets are seconds east of UTC. */
#ifndef WEFTD_CONFIG_TZ_H
#define WEFTD_CONFIG_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFTD_TZ_MAX_NAME 64            /* bytes of a zone name ("Europe/Paris") */
#define WEFTD_TZ_MAX_FILE (256u << 10)  /* a TZif file larger than this is refused */

/* A day of the year on which a POSIX rule changes the offset, at time seconds past local
 * midnight (-167h..167h). */
struct weftd_tz_date {
	enum { WEFTD_TZ_JULIAN1, WEFTD_TZ_JULIAN0, WEFTD_TZ_MWD } kind;
	int day;                        /* Jn: 1..365 (Feb 29 never counted); n: 0..365;
					   M: day of week 0..6 (Sunday 0) */
	int week, month;                /* M: week 1..5 (5 = last), month 1..12 */
	int32_t time;
};

/* A POSIX TZ rule: std_off all year, or dst_off from start to end (local times). */
struct weftd_tz_rule {
	int32_t std_off, dst_off;
	bool has_dst;
	struct weftd_tz_date start, end;
};

/* A zone. The arrays belong to whoever allocated them (weftd_tz_parse_tzif's alloc). */
struct weftd_tz {
	size_t ntrans;
	const int64_t *trans;           /* ascending UTC instants */
	const int32_t *trans_off;       /* the offset from trans[i] on */
	int32_t first_off;              /* before trans[0] (or always, without transitions) */
	bool has_rule;                  /* the footer applies after the last transition */
	struct weftd_tz_rule rule;
};

/* UTC: no transitions, offset 0. */
#define WEFTD_TZ_UTC ((struct weftd_tz){ .ntrans = 0 })

/* True when s (len bytes) may name a zone file under the tz directory: 1..64 bytes of
 * [A-Za-z0-9_+-] in '/'-separated parts, none empty nor starting with '.' (no "..",
 * no absolute path). Pure. */
bool weftd_tz_valid_name(const char *s, size_t len);

/* Parse a POSIX TZ string (len bytes, e.g. "EST5EDT,M3.2.0,M11.1.0", "<+0330>-3:30"): a
 * DST part without rules takes the US rules "M3.2.0,M11.1.0". Returns 0 or -EINVAL.
 * Pure. */
int weftd_tz_parse_posix(const char *s, size_t len, struct weftd_tz_rule *ret);

/* Parse the len bytes of a TZif file (versions 1 to 4; version 2+ uses the 64-bit block and
 * the footer; leap seconds are ignored). alloc(arg, size) returns zeroed memory that ret's
 * arrays then live in (NULL: -ENOMEM). Returns 0 with *ret filled, -EINVAL for a malformed
 * file, -ENOMEM. */
int weftd_tz_parse_tzif(const void *buf, size_t len, void *(*alloc)(void *arg, size_t size),
			void *arg, struct weftd_tz *ret);

/* The UTC offset in force at UTC instant t (seconds) in tz. Pure. */
int32_t weftd_tz_offset(const struct weftd_tz *tz, int64_t t);

/* Civil time <-> days since 1970-01-01 (proleptic Gregorian), for cron.c too. Pure. */
int64_t weftd_days_from_civil(int64_t y, unsigned m, unsigned d);
void weftd_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif
