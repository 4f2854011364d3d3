/* SPDX-License-Identifier: MIT */
/* test_cron.c — cron expressions and time zones (config/cron.h, config/tz.h): the grammar
 * and its error offsets, next slots over month ends and leap years, Vixie's day-of-month /
 * day-of-week OR rule, @every, the macros, catch-up's last slot, and daylight saving in
 * Europe/Paris and America/New_York, read from the system's TZif files and from their
 * POSIX rule alone (two ways to the same answers). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/cron.h"
#include "config/tz.h"

/* Unix seconds of a UTC civil time. */
static int64_t utc(int64_t y, unsigned m, unsigned d, unsigned h, unsigned mi)
{
	return weftd_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
}

static struct weftd_cron cron(const char *s)
{
	struct weftd_cron c;
	char err[200];
	size_t off;
	int r = weftd_cron_parse(s, strlen(s), &c, &off, err, sizeof(err));
	if (r != 0)
		fail_msg("%s: %s at %zu", s, err, off);
	return c;
}

static int64_t next(const char *expr, const struct weftd_tz *tz, int64_t after)
{
	struct weftd_cron c = cron(expr);
	int64_t t;
	assert_int_equal(weftd_cron_next(&c, tz, after, &t), 0);
	return t;
}

static void *grab(void *arg, size_t size)
{
	void **blocks = arg;
	for (int i = 0; i < 8; i++)
		if (!blocks[i])
			return blocks[i] = calloc(1, size);
	return NULL;
}

static void *g_blocks[2][8];
static struct weftd_tz g_paris, g_ny;

/* A zone file; the test is skipped (visibly) without tzdata. */
static void load(const char *name, void **blocks, struct weftd_tz *ret)
{
	char path[256], buf[65536];
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "SKIP: no %s (tzdata)\n", path);
		skip();
	}
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(weftd_tz_parse_tzif(buf, n, grab, blocks, ret), 0);
}

static void test_parse_errors(void **state)
{
	static const struct { const char *s; size_t off; const char *msg; } bad[] = {
		{ "", 0, "0 fields" },
		{ "* * * *", 7, "4 fields" },
		{ "* * * * * *", 10, "more than 5" },
		{ "60 * * * *", 0, "minute 60 out of range" },
		{ "* 24 * * *", 2, "hour 24" },
		{ "* * 0 * *", 4, "day of month 0" },
		{ "* * * 13 *", 6, "month 13" },
		{ "* * * * 8", 8, "day of week 8" },
		{ "5-1 * * * *", 0, "backwards" },
		{ "*/0 * * * *", 2, "step" },
		{ "*/61 * * * *", 2, "step" },
		{ "* * * foo *", 6, "expected a month" },
		{ "1,,2 * * * *", 2, "expected a minute" },
		{ "1x * * * *", 1, "unexpected 'x'" },
		{ "@often", 0, "unknown macro" },
		{ "@daily 5", 7, "nothing may follow" },
		{ "@every", 6, "duration" },
		{ "@every 1500ms", 7, "whole seconds" },
		{ "@every 0s", 7, "whole seconds" },
		{ "0 0 30 2 *", 0, "never fires" },
		{ "0 0 31 4,6,9,11 *", 0, "never fires" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct weftd_cron c;
		char err[200] = "";
		size_t off = 999;
		if (weftd_cron_parse(bad[i].s, strlen(bad[i].s), &c, &off, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i].s);
		if (off != bad[i].off || !strstr(err, bad[i].msg))
			fail_msg("\"%s\": got \"%s\" at %zu, want \"%s\" at %zu", bad[i].s, err, off,
				 bad[i].msg, bad[i].off);
	}
}

static void test_parse_fields(void **state)
{
	struct weftd_cron c = cron(" 0,30 9-17/2 */10 JAN-mar,dec sun,7 ");
	assert_true(c.minutes == (1ull | 1ull << 30));
	assert_int_equal(c.hours, 1u << 9 | 1u << 11 | 1u << 13 | 1u << 15 | 1u << 17);
	assert_int_equal(c.doms, 1u << 1 | 1u << 11 | 1u << 21 | 1u << 31);
	assert_int_equal(c.months, 1u << 1 | 1u << 2 | 1u << 3 | 1u << 12);
	assert_int_equal(c.dows, 1); /* 7 is Sunday */
	assert_true(c.dom_star && !c.dow_star && !c.hour_star);
	c = cron("5/20 * * * *"); /* N/step: N to the end */
	assert_true(c.minutes == (1ull << 5 | 1ull << 25 | 1ull << 45));
	assert_int_equal(cron("@every 1m30s").every_s, 90);
	struct weftd_cron h = cron("@hourly"), h5 = cron("0 * * * *");
	assert_memory_equal(&h, &h5, sizeof(h));
	h = cron("@weekly"), h5 = cron("0 0 * * 0");
	assert_memory_equal(&h, &h5, sizeof(h));
	assert_int_equal(cron("0 0 29 2 *").doms, 1u << 29); /* leap years only: allowed */
}

static void test_next_utc(void **state)
{
	struct weftd_tz u = WEFTD_TZ_UTC;
	int64_t t0 = utc(2026, 1, 31, 10, 7);

	assert_int_equal(next("*/15 * * * *", &u, t0), utc(2026, 1, 31, 10, 15));
	assert_int_equal(next("*/15 * * * *", &u, utc(2026, 1, 31, 10, 15)), utc(2026, 1, 31, 10, 30));
	assert_int_equal(next("* * * * *", &u, t0 + 59), t0 + 60);
	/* month ends: the 31st skips the short months, Feb 29 waits for a leap year */
	assert_int_equal(next("0 0 31 * *", &u, t0), utc(2026, 3, 31, 0, 0));
	assert_int_equal(next("0 0 29 2 *", &u, t0), utc(2028, 2, 29, 0, 0));
	assert_int_equal(next("0 12 28-31 2 *", &u, utc(2026, 2, 28, 13, 0)),
			 utc(2027, 2, 28, 12, 0));
	assert_int_equal(next("@monthly", &u, utc(2026, 12, 15, 0, 0)), utc(2027, 1, 1, 0, 0));
	assert_int_equal(next("@yearly", &u, utc(2026, 12, 31, 23, 59)), utc(2027, 1, 1, 0, 0));
	/* 2026-01-31 is a Saturday: @weekly is Sunday midnight */
	assert_int_equal(next("@weekly", &u, t0), utc(2026, 2, 1, 0, 0));
	assert_int_equal(next("@daily", &u, t0), utc(2026, 2, 1, 0, 0));
	assert_int_equal(next("@hourly", &u, t0), utc(2026, 1, 31, 11, 0));
}

static void test_vixie_or(void **state)
{
	struct weftd_tz u = WEFTD_TZ_UTC;
	/* the 13th OR any Friday: from Sat 2026-02-07, Fri the 13th comes first anyway; from
	 * Sat 2026-03-07 the Friday 13th of March comes on Fri 2026-03-13; from 03-14: Fri 20th */
	assert_int_equal(next("0 0 13 * 5", &u, utc(2026, 2, 7, 0, 0)), utc(2026, 2, 13, 0, 0));
	assert_int_equal(next("0 0 13 * 5", &u, utc(2026, 3, 14, 0, 0)), utc(2026, 3, 20, 0, 0));
	/* the 1st OR a Monday: from Tue 2026-03-31, Wed 04-01 (dom) before Mon 04-06 */
	assert_int_equal(next("0 0 1 * 1", &u, utc(2026, 3, 31, 0, 0)), utc(2026, 4, 1, 0, 0));
	/* dom starts with '*': AND (odd days that are Mondays) */
	assert_int_equal(next("0 0 */2 * 1", &u, utc(2026, 3, 31, 0, 0)), utc(2026, 4, 13, 0, 0));
	/* dow '*': day of month alone */
	assert_int_equal(next("0 0 15 * *", &u, utc(2026, 3, 31, 0, 0)), utc(2026, 4, 15, 0, 0));
}

static void test_every(void **state)
{
	struct weftd_tz u = WEFTD_TZ_UTC;
	struct weftd_cron c = cron("@every 30s");
	int64_t t;

	assert_int_equal(next("@every 30s", &u, 100), 120);
	assert_int_equal(next("@every 30s", &u, 120), 150);
	assert_int_equal(next("@every 1s", &u, 1767225600), 1767225601);
	assert_int_equal(next("@every 1h", &g_paris, 1767225600 + 1), 1767225600 + 3600);
	/* catch-up: the last slot in (after, upto] */
	assert_int_equal(weftd_cron_last(&c, &u, 100, 200, &t), 0);
	assert_int_equal(t, 180);
	assert_int_equal(weftd_cron_last(&c, &u, 180, 209, &t), -ENOENT);
}

static void test_last(void **state)
{
	struct weftd_tz u = WEFTD_TZ_UTC;
	struct weftd_cron c = cron("0 3 * * *"), m = cron("* * * * *"), y = cron("@yearly");
	int64_t t;

	assert_int_equal(weftd_cron_last(&c, &u, utc(2026, 1, 1, 0, 0), utc(2026, 1, 10, 12, 0), &t), 0);
	assert_int_equal(t, utc(2026, 1, 10, 3, 0));
	assert_int_equal(weftd_cron_last(&c, &u, utc(2026, 1, 10, 3, 0), utc(2026, 1, 10, 12, 0), &t), -ENOENT);
	assert_int_equal(weftd_cron_last(&m, &u, utc(2020, 1, 1, 0, 0), utc(2026, 1, 10, 12, 5) + 30, &t), 0);
	assert_int_equal(t, utc(2026, 1, 10, 12, 5));
	assert_int_equal(weftd_cron_last(&y, &u, utc(2020, 6, 1, 0, 0), utc(2026, 6, 1, 0, 0), &t), 0);
	assert_int_equal(t, utc(2026, 1, 1, 0, 0));
}

/* Europe/Paris 2026: CET->CEST on Sun 03-29 at 01:00 UTC (02:00 -> 03:00 local),
 * CEST->CET on Sun 10-25 at 01:00 UTC (03:00 -> 02:00 local). */
static void paris_dst(const struct weftd_tz *tz)
{
	assert_int_equal(weftd_tz_offset(tz, utc(2026, 3, 29, 0, 59)), 3600);
	assert_int_equal(weftd_tz_offset(tz, utc(2026, 3, 29, 1, 0)), 7200);
	assert_int_equal(weftd_tz_offset(tz, utc(2026, 10, 25, 0, 59)), 7200);
	assert_int_equal(weftd_tz_offset(tz, utc(2026, 10, 25, 1, 0)), 3600);
	/* spring: 02:30 does not exist that day: it fires at 03:30 CEST (01:30 UTC), once */
	assert_int_equal(next("30 2 * * *", tz, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 29, 1, 30));
	assert_int_equal(next("30 2 * * *", tz, utc(2026, 3, 29, 1, 30)), utc(2026, 3, 30, 0, 30));
	/* 03:00 local exists (the first minute of CEST) */
	assert_int_equal(next("0 3 * * *", tz, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 29, 1, 0));
	/* fall: 02:30 happens twice; a fixed hour fires at the first only */
	assert_int_equal(next("30 2 * * *", tz, utc(2026, 10, 24, 12, 0)), utc(2026, 10, 25, 0, 30));
	assert_int_equal(next("30 2 * * *", tz, utc(2026, 10, 25, 0, 30)), utc(2026, 10, 26, 1, 30));
	/* ... and an hourly entry at both, in UTC order */
	assert_int_equal(next("30 * * * *", tz, utc(2026, 10, 25, 0, 30)), utc(2026, 10, 25, 1, 30));
	assert_int_equal(next("30 * * * *", tz, utc(2026, 10, 25, 1, 30)), utc(2026, 10, 25, 2, 30));
	assert_int_equal(next("*/20 * * * *", tz, utc(2026, 10, 25, 0, 59)), utc(2026, 10, 25, 1, 0));
	/* midnight local is 23:00 UTC in winter, 22:00 in summer */
	assert_int_equal(next("@daily", tz, utc(2026, 1, 10, 12, 0)), utc(2026, 1, 10, 23, 0));
	assert_int_equal(next("@daily", tz, utc(2026, 7, 10, 12, 0)), utc(2026, 7, 10, 22, 0));
	/* years past the file's last transition come from the footer's rule */
	assert_int_equal(next("@daily", tz, utc(2100, 7, 10, 12, 0)), utc(2100, 7, 10, 22, 0));
}

static void test_dst_paris(void **state)
{
	load("Europe/Paris", g_blocks[0], &g_paris);
	paris_dst(&g_paris);
}

static void test_dst_posix_rule(void **state)
{
	struct weftd_tz tz = { .ntrans = 0, .has_rule = true };
	const char *s = "CET-1CEST,M3.5.0,M10.5.0/3";
	assert_int_equal(weftd_tz_parse_posix(s, strlen(s), &tz.rule), 0);
	paris_dst(&tz);
	/* America/New_York by its rule: EDT from 2026-03-08 07:00 UTC to 11-01 06:00 UTC */
	s = "EST5EDT,M3.2.0,M11.1.0";
	assert_int_equal(weftd_tz_parse_posix(s, strlen(s), &tz.rule), 0);
	assert_int_equal(weftd_tz_offset(&tz, utc(2026, 3, 8, 6, 59)), -5 * 3600);
	assert_int_equal(weftd_tz_offset(&tz, utc(2026, 3, 8, 7, 0)), -4 * 3600);
	assert_int_equal(weftd_tz_offset(&tz, utc(2026, 11, 1, 5, 59)), -4 * 3600);
	assert_int_equal(weftd_tz_offset(&tz, utc(2026, 11, 1, 6, 0)), -5 * 3600);
	/* a southern zone: DST across the new year (Sydney: AEDT from Oct to Apr) */
	s = "AEST-10AEDT,M10.1.0,M4.1.0/3";
	assert_int_equal(weftd_tz_parse_posix(s, strlen(s), &tz.rule), 0);
	assert_int_equal(weftd_tz_offset(&tz, utc(2026, 1, 15, 0, 0)), 11 * 3600);
	assert_int_equal(weftd_tz_offset(&tz, utc(2026, 6, 15, 0, 0)), 10 * 3600);
	s = "<+0330>-3:30";
	assert_int_equal(weftd_tz_parse_posix(s, strlen(s), &tz.rule), 0);
	assert_int_equal(weftd_tz_offset(&tz, 0), 3 * 3600 + 1800);
	static const char *const bad[] = { "", "C", "CET", "CET-1CEST,M3.5", "CET-1CEST,M13.1.0,M10.5.0",
					   "CET-1CEST,M3.6.0,M10.5.0", "UTC0 ", "<+03", "CET-25" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (weftd_tz_parse_posix(bad[i], strlen(bad[i]), &tz.rule) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_dst_new_york(void **state)
{
	load("America/New_York", g_blocks[1], &g_ny);
	/* spring 2026-03-08: 02:00 EST -> 03:00 EDT; 02:15 fires at 03:15 EDT (07:15 UTC) */
	assert_int_equal(next("15 2 * * *", &g_ny, utc(2026, 3, 7, 12, 0)), utc(2026, 3, 8, 7, 15));
	/* fall 2026-11-01: 01:00-02:00 twice; 01:30 fires at EDT's (05:30 UTC) */
	assert_int_equal(next("30 1 * * *", &g_ny, utc(2026, 10, 31, 12, 0)), utc(2026, 11, 1, 5, 30));
	assert_int_equal(next("30 1 * * *", &g_ny, utc(2026, 11, 1, 5, 30)), utc(2026, 11, 2, 6, 30));
	assert_int_equal(next("0 9 * * 1-5", &g_ny, utc(2026, 11, 1, 5, 30)), utc(2026, 11, 2, 14, 0));
}

static void test_tz_names(void **state)
{
	static const char *const ok[] = { "UTC", "Europe/Paris", "America/Argentina/Buenos_Aires",
					  "Etc/GMT+5", "Etc/GMT-14" };
	static const char *const bad[] = { "", "/etc/passwd", "../x", "Europe/../../x", "a//b",
					   "Europe/", ".hidden", "a b", "Europe/Paris\n" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(weftd_tz_valid_name(ok[i], strlen(ok[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (weftd_tz_valid_name(bad[i], strlen(bad[i])))
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_tzif_malformed(void **state)
{
	static const uint8_t hdr[44] = "TZif2";
	struct weftd_tz tz;
	void *blocks[8] = { 0 };
	/* no types, truncated files, garbage */
	assert_int_equal(weftd_tz_parse_tzif(hdr, sizeof(hdr), grab, blocks, &tz), -EINVAL);
	assert_int_equal(weftd_tz_parse_tzif("TZif", 4, grab, blocks, &tz), -EINVAL);
	assert_int_equal(weftd_tz_parse_tzif("not a zone file at all, really, it is not it no", 48,
					     grab, blocks, &tz), -EINVAL);
}

static int teardown(void **state)
{
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 8; k++)
			free(g_blocks[i][k]);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_next_utc),     cmocka_unit_test(test_vixie_or),
		cmocka_unit_test(test_dst_paris),    cmocka_unit_test(test_every),
		cmocka_unit_test(test_last),         cmocka_unit_test(test_dst_posix_rule),
		cmocka_unit_test(test_dst_new_york), cmocka_unit_test(test_tz_names),
		cmocka_unit_test(test_tzif_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
