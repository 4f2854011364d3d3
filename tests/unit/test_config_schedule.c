/* SPDX-License-Identifier: MIT */
/* Config: a pipeline's schedule: entries (config/schedule.c): every key with its default,
 * the boundaries (entry count, expression length, zone names), each error with its exact
 * FILE:LINE:COL (inside the expression for a cron mistake), zone files read through
 * $TZDIR, and pipeline equality ignoring schedules (a reload changes them in place). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"

#define HEAD "pipelines:\n  p:\n    stages:\n      - {name: e, builtin: echo}\n    schedule:\n"

static struct weftd_config *parse_ok(const char *yaml)
{
	struct weftd_config *c = NULL;
	char err[512];
	if (weftd_config_parse(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	return c;
}

static void expect_err(const char *yaml, const char *want)
{
	struct weftd_config *c = NULL;
	char err[512] = "";
	int r = weftd_config_parse(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err));
	if (r != -EINVAL || !strstr(err, want))
		fail_msg("%d \"%s\", want \"%s\" for:\n%s", r, err, want, yaml);
}

static void test_keys_and_defaults(void **state)
{
	struct weftd_config *c = parse_ok(HEAD
		"      - {name: tick, cron: '@every 30s'}\n"
		"      - name: full\n"
		"        cron: \"0 9 * * mon-fri\"\n"
		"        tz: UTC\n"
		"        payload: \"hello\"\n"
		"        catch_up: true\n");
	const struct weftd_pipeline *p = &c->pipelines[0];
	assert_int_equal(p->nschedules, 2);
	const struct weftd_schedule *t = &p->schedules[0], *f = &p->schedules[1];
	assert_string_equal(t->name, "tick");
	assert_string_equal(t->expr, "@every 30s");
	assert_int_equal(t->cron.every_s, 30);
	assert_null(t->tz_name);               /* default: the system's zone */
	assert_string_equal(t->payload, "");
	assert_int_equal(t->payload_len, 0);
	assert_false(t->catch_up);
	assert_int_equal(t->mark.line, 6);
	assert_string_equal(f->tz_name, "UTC");
	assert_int_equal(f->tz.ntrans, 0);
	assert_string_equal(f->payload, "hello");
	assert_true(f->catch_up);
	assert_int_equal(f->cron.hours, 1u << 9);
	weftd_config_free(c);
	/* no schedule: none; an empty list: none */
	c = parse_ok(HEAD "      []\n");
	assert_int_equal(c->pipelines[0].nschedules, 0);
	weftd_config_free(c);
}

static void test_errors(void **state)
{
	/* the column points into the expression: "13" is at column 24 here ('"' at 15); a
	 * missing field at the expression's end */
	expect_err(HEAD "      - name: x\n        cron: \"*/5 * * 13 *\"\n",
		   "t.yaml:7:24: pipelines.p.schedule[0].cron: month 13 out of range 1-12");
	expect_err(HEAD "      - name: x\n        cron: 61 * * * *\n",
		   "t.yaml:7:15: pipelines.p.schedule[0].cron: minute 61 out of range");
	expect_err(HEAD "      - {name: x, cron: '* * *'}\n", "t.yaml:6:31: pipelines.p.schedule[0].cron: 3 fields, expected 5");
	expect_err(HEAD "      - {name: x, cron: '@every 0s'}\n", "whole seconds, at least 1s");
	expect_err(HEAD "      - {name: x, cron: '0 0 30 2 *'}\n", "never fires");
	expect_err(HEAD "      - {cron: '@hourly'}\n", "t.yaml:6:9: pipelines.p.schedule[0]: missing required key \"name\"");
	expect_err(HEAD "      - {name: x}\n", "missing required key \"cron\"");
	expect_err(HEAD "      - {name: x, cron: '@hourly'}\n      - {name: x, cron: '@daily'}\n",
		   "t.yaml:7:16: pipelines.p.schedule[1].name: duplicate schedule name");
	expect_err(HEAD "      - {name: 'a b', cron: '@hourly'}\n", "invalid name \"a b\"");
	expect_err(HEAD "      - {name: x, cron: '@hourly', every: 1s}\n", "schedule[0].every: unknown key");
	expect_err(HEAD "      - {name: x, cron: '@hourly', catch_up: maybe}\n", "schedule[0].catch_up: invalid value \"maybe\"");
	expect_err(HEAD "      - {name: x, cron: '@hourly', tz: ../../etc/passwd}\n", "invalid time zone name");
	expect_err(HEAD "      - {name: x, cron: '@hourly', tz: /etc/localtime}\n", "invalid time zone name");
	expect_err(HEAD "      - {name: x, cron: '@hourly', tz: No/Such_Zone}\n",
		   "t.yaml:6:40: pipelines.p.schedule[0].tz: unknown time zone \"No/Such_Zone\"");
	expect_err(HEAD "      {name: x}\n", "t.yaml:6:7: pipelines.p.schedule: expected a list");
	expect_err(HEAD "      - '@hourly'\n", "pipelines.p.schedule[0]: expected a mapping");
}

static void test_bounds(void **state)
{
	char *y = malloc(64 * 1024), *e = y;
	struct weftd_config *c;

	e += sprintf(e, HEAD);
	for (int i = 0; i < WEFTD_MAX_SCHEDULES; i++)
		e += sprintf(e, "      - {name: s%d, cron: '@every %ds'}\n", i, i + 1);
	c = parse_ok(y);
	assert_int_equal(c->pipelines[0].nschedules, WEFTD_MAX_SCHEDULES);
	weftd_config_free(c);
	sprintf(e, "      - {name: one-more, cron: '@hourly'}\n");
	expect_err(y, "at most 256");
	/* the longest expression, and one byte more */
	e = y + sprintf(y, HEAD "      - {name: x, cron: '0");
	for (int i = 1; i < WEFTD_CRON_MAX_EXPR - 7; i++)
		*e++ = ' ';
	e += sprintf(e, "* * * *'}\n");
	c = parse_ok(y);
	weftd_config_free(c);
	e = y + sprintf(y, HEAD "      - {name: x, cron: '0");
	for (int i = 1; i < WEFTD_CRON_MAX_EXPR - 6; i++)
		*e++ = ' ';
	e += sprintf(e, "* * * *'}\n");
	expect_err(y, "longer than 256 bytes");
	free(y);
}

/* A zone from $TZDIR, and a file there that is not a zone. */
static void test_tzdir(void **state)
{
	char dir[] = "/tmp/weft-tzdir.XXXXXX", path[128], cmd[300];
	struct weftd_config *c;

	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp /usr/share/zoneinfo/Europe/Paris %s/Here 2>/dev/null", dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "SKIP: no tzdata\n");
		skip();
	}
	snprintf(path, sizeof(path), "%s/Bad", dir);
	FILE *f = fopen(path, "w");
	fputs("not a zone\n", f);
	fclose(f);
	setenv("TZDIR", dir, 1);
	c = parse_ok(HEAD "      - {name: x, cron: '@daily', tz: Here}\n");
	assert_true(c->pipelines[0].schedules[0].tz.ntrans > 100);
	assert_true(c->pipelines[0].schedules[0].tz.has_rule);
	weftd_config_free(c);
	expect_err(HEAD "      - {name: x, cron: '@daily', tz: Bad}\n", "not a valid TZif file");
	unsetenv("TZDIR");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_equal_ignores_schedules(void **state)
{
	struct weftd_config *a = parse_ok(HEAD "      - {name: x, cron: '@hourly'}\n");
	struct weftd_config *b = parse_ok(HEAD "      - {name: y, cron: '@daily', payload: z}\n");
	assert_true(weftd_pipeline_equal(&a->pipelines[0], &b->pipelines[0]));
	weftd_config_free(a);
	weftd_config_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_and_defaults), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bounds),            cmocka_unit_test(test_tzdir),
		cmocka_unit_test(test_equal_ignores_schedules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
