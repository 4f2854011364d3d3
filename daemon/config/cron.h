/* SPDX-License-Identifier: MIT */
/* Cron expressions for the periodic schedules (weftd.yaml(5), "schedule"): parse, and the
 * slots (UTC instants, whole seconds) they fire at in a time zone (tz.h). Debian ships no C
 * cron-expression library, so this is a small one; tests/fuzz/fuzz_cron.c fuzzes it.
 *
 * Grammar (Vixie cron's, without its six-field and user forms):
 *   expr   = fields | "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily"
 *          | "@midnight" | "@hourly" | "@every" SP duration
 *   fields = minute SP hour SP day-of-month SP month SP day-of-week   (blanks: spaces, tabs)
 *   field  = item *("," item)
 *   item   = ("*" | value ["-" value]) ["/" step]       ("N/step": N to the field's maximum)
 *   value  = decimal | name   (month: jan..dec; day of week: sun..sat, 0-7 with 7 = Sunday;
 *                              names are case-insensitive)
 * Ranges: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-7.
 * Day rule (Vixie's): when both day fields are restricted (neither starts with "*"), a day
 * matches if EITHER matches; otherwise both must ("*" matches every day).
 * "@every D" (D a duration, whole seconds, at least 1s) fires at the multiples of D since
 * the Unix epoch, in no time zone.
 *
 * Daylight saving: a local time that does not exist (spring forward) fires at the same
 * distance past the change (02:30 in a 02:00->03:00 gap fires at 03:30 DST); a local time
 * that happens twice (fall back) fires at its first occurrence, and again at its second
 * only when the hour field starts with "*" (an entry that runs every hour keeps running
 * through the repeated hour). */
#ifndef WEFTD_CONFIG_CRON_H
#define WEFTD_CONFIG_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/tz.h"

#define WEFTD_CRON_MAX_EXPR 256 /* bytes of an expression */

struct weftd_cron {
	uint64_t every_s;       /* @every: the period in seconds; 0: the fields below */
	uint64_t minutes;       /* bit i: minute i */
	uint32_t hours;         /* bit i: hour i */
	uint32_t doms;          /* bit i: day of month i (1..31) */
	uint16_t months;        /* bit i: month i (1..12) */
	uint8_t dows;           /* bit i: day of week i (0..6, Sunday 0) */
	bool dom_star, dow_star, hour_star; /* the field starts with "*" */
};

/* Parse len bytes at s. Returns 0 with *ret filled, or -EINVAL with a message in err (if
 * errlen > 0) and in *ret_off the byte offset in s where the error is (for FILE:LINE:COL).
 * An expression that can never fire ("0 0 30 2 *") is an error too. Pure. */
int weftd_cron_parse(const char *s, size_t len, struct weftd_cron *ret, size_t *ret_off,
		     char *err, size_t errlen);

/* The first slot of c in tz strictly after UTC instant after (seconds). Returns 0 with
 * *ret set, or -ERANGE when there is none within 50 years (or after is out of range). Pure. */
int weftd_cron_next(const struct weftd_cron *c, const struct weftd_tz *tz, int64_t after,
		    int64_t *ret);

/* The last slot s of c in tz with after < s <= upto (catch-up after downtime). Returns 0
 * with *ret set, or -ENOENT when there is none. Pure. */
int weftd_cron_last(const struct weftd_cron *c, const struct weftd_tz *tz, int64_t after,
		    int64_t upto, int64_t *ret);

#endif
