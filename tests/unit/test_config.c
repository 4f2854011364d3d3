/* SPDX-License-Identifier: MIT */
/* Config loader: valid files, every kind of error with its exact message, defaults,
 * unit parsing edge cases and pipeline_equal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "config/walk.h"

static struct weftd_config *parse_ok(const char *yaml)
{
	struct weftd_config *c = NULL;
	char err[512];
	int r = weftd_config_parse(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err));
	if (r != 0)
		fail_msg("unexpected error %d: %s", r, err);
	return c;
}

static void test_minimal_defaults(void **state)
{
	struct weftd_config *c = NULL;
	char err[256];
	assert_int_equal(weftd_config_load("tests/conf/minimal.yaml", &c, err, sizeof(err)), 0);
	const struct weftd_daemon_config *d = &c->daemon;
	assert_string_equal(d->socket, "/run/weftd/weftd.sock");
	assert_int_equal(d->socket_mode, 0660);
	assert_int_equal(d->procs, 0);
	assert_int_equal(d->max_connections, 1024);
	assert_int_equal(d->max_request_bytes, 1 << 20);
	assert_int_equal(d->max_response_bytes, 64 << 20);
	assert_int_equal(d->max_connections_per_uid, 0);
	assert_int_equal(d->idle_timeout_ns, 300 * 1000000000ULL);
	assert_int_equal(d->request_timeout_ns, 10 * 1000000000ULL);
	assert_int_equal(d->shutdown_timeout_ns, 30 * WEFTD_NSEC_PER_SEC);
	assert_int_equal(d->nallow_uids, 0);
	assert_int_equal(d->heartbeat_interval_ns, WEFTD_NSEC_PER_SEC);
	assert_int_equal(d->watchdog, WEFTD_WATCHDOG_AUTO);
	assert_int_equal(d->durability, WEFTD_DURABILITY_NONE);
	assert_int_equal(d->retention.count, 10000);
	assert_int_equal(d->retention.bytes, 256u << 20);
	assert_int_equal(d->log_level, WEFTD_LOG_INFO);
	assert_int_equal(c->npipelines, 1);
	const struct weftd_stage *s = &c->pipelines[0].stages[0];
	assert_string_equal(s->name, "s");
	assert_int_equal(s->action, WEFTD_ACTION_BUILTIN);
	assert_int_equal(s->workers, 1);
	assert_int_equal(s->queue, 1024);
	assert_int_equal(s->timeout_ns, 60 * WEFTD_NSEC_PER_SEC);
	assert_int_equal(s->retry.attempts, 1);
	assert_int_equal(s->retry.jitter, WEFTD_JITTER_FULL);
	assert_int_equal(s->rate_limit.count, 0);
	assert_int_equal(s->kill_grace_ns, 5 * WEFTD_NSEC_PER_SEC);
	assert_int_equal(s->max_output, 64u << 20);
	assert_int_equal(s->mark.line, 4);
	assert_int_equal(s->mark.column, 9);
	weftd_config_free(c);
}

static void test_full(void **state)
{
	struct weftd_config *c = NULL;
	char err[256];
	assert_int_equal(weftd_config_load("tests/conf/full.yaml", &c, err, sizeof(err)), 0);
	const struct weftd_daemon_config *d = &c->daemon;
	assert_int_equal(d->socket_mode, 0600);
	assert_int_equal(d->procs, 3);
	assert_int_equal(d->max_connections, 77);
	assert_int_equal(d->max_request_bytes, 64 * 1024);
	assert_int_equal(d->shutdown_timeout_ns, 90 * WEFTD_NSEC_PER_SEC);
	assert_int_equal(d->nallow_uids, 3);
	assert_int_equal(d->allow_uids[1], 1000);
	assert_int_equal(d->allow_uids[2], 0); /* "root" resolved */
	assert_int_equal(d->nallow_gids, 2);
	assert_int_equal(d->allow_gids[0], 0);
	assert_int_equal(d->allow_gids[1], 4242);
	assert_int_equal(d->nadmin_uids, 2);
	assert_int_equal(d->admin_uids[0], 0); /* "root" resolved */
	assert_int_equal(d->admin_uids[1], 1001);
	assert_int_equal(d->nadmin_gids, 1);
	assert_int_equal(d->admin_gids[0], 4243);
	assert_int_equal(d->heartbeat_interval_ns, 250 * WEFTD_NSEC_PER_MSEC);
	assert_int_equal(d->watchdog, WEFTD_WATCHDOG_ON);
	assert_int_equal(d->durability, WEFTD_DURABILITY_FSYNC);
	assert_string_equal(d->state_dir, "/tmp/weftd-state");
	assert_int_equal(d->retention.age_ns, 600 * WEFTD_NSEC_PER_SEC);
	assert_int_equal(d->retention.bytes, 1u << 30);
	assert_int_equal(d->log_level, WEFTD_LOG_DEBUG);
	const struct weftd_pipeline *p = weftd_config_pipeline(c, "thumbnails");
	assert_non_null(p);
	assert_int_equal(p->nstages, 2);
	const struct weftd_stage *s = &p->stages[0];
	assert_int_equal(s->action, WEFTD_ACTION_EXEC);
	assert_int_equal(s->argc, 4);
	assert_string_equal(s->argv[3], "tr a-z A-Z");
	assert_null(s->argv[4]);
	assert_int_equal(s->retry.attempts, 5);
	assert_true(s->retry.multiplier == 1.5);
	assert_int_equal(s->retry.jitter, WEFTD_JITTER_EQUAL);
	for (int code = -1; code <= 256; code++) /* permanent_exit_codes: [2, 64, 255] */
		assert_int_equal(weftd_retry_permanent(&s->retry, code), code == 2 || code == 64 || code == 255);
	assert_int_equal(s->rate_limit.count, 50);
	assert_int_equal(s->rate_limit.per_ns, WEFTD_NSEC_PER_SEC);
	assert_int_equal(s->rate_limit.burst, 10);
	assert_int_equal(s->kill_grace_ns, 1500 * WEFTD_NSEC_PER_MSEC);
	assert_int_equal(s->max_output, 2u << 20);
	assert_int_equal(s->heartbeat_timeout_ns, 3 * WEFTD_NSEC_PER_SEC);
	p = weftd_config_pipeline(c, "plug");
	assert_int_equal(p->stages[0].action, WEFTD_ACTION_PLUGIN);
	assert_string_equal(p->stages[0].plugin_symbol, "example_stage");
	assert_int_equal(p->stages[0].nparams, 2);
	assert_string_equal(p->stages[0].params[1].key, "n");
	assert_string_equal(p->stages[0].params[1].value, "3");
	assert_null(weftd_config_pipeline(c, "nope"));
	weftd_config_free(c);
}

static void test_default_conf_loads(void **state)
{
	struct weftd_config *c = NULL;
	char err[256];
	int r = weftd_config_load("conf/weftd.yaml", &c, err, sizeof(err));
	if (r)
		fail_msg("%s", err);
	assert_string_equal(c->daemon.socket, "./run/weftd.sock");
	weftd_config_free(c);
}

static void test_io_errors(void **state)
{
	struct weftd_config *c = NULL;
	char err[256];
	assert_int_equal(weftd_config_load("/nonexistent/x.yaml", &c, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/x.yaml: No such file or directory");
	assert_int_equal(weftd_config_load("tests", &c, err, sizeof(err)), -EISDIR);
	assert_null(c);
	assert_int_equal(weftd_config_parse("x", WEFTD_CONFIG_MAX_BYTES + 1, "big", &c, err, 0), -EFBIG);
	assert_int_equal(weftd_config_load(NULL, &c, err, sizeof(err)), -EINVAL);
	weftd_config_free(NULL);
}

/* Each invalid input and its exact message. */
static const struct { const char *yaml, *msg; } bad[] = {
	{ "pipelines:\n  thumbnails:\n    stages:\n      - name: fetch\n        builtin: noop\n        timeout: 10q\n",
	  "t.yaml:6:18: pipelines.thumbnails.stages[0].timeout: invalid duration \"10q\"" },
	{ "", "t.yaml:1:1: (root): empty config (a \"pipelines:\" section is required)" },
	{ "daemon: {}\n", "t.yaml:1:1: (root): missing required key \"pipelines\"" },
	{ "- a\n", "t.yaml:1:1: (root): expected a mapping, got a list" },
	{ "pipelines: {}\n", "t.yaml:1:12: pipelines: at least one pipeline is required" },
	{ "pipelines:\n  p: {}\n", "t.yaml:2:6: pipelines.p: missing required key \"stages\"" },
	{ "pipelines:\n  p: {stages: []}\n", "t.yaml:2:15: pipelines.p.stages: must not be empty" },
	{ "pipelines:\n  p:\n    stages:\n      - name: s\n",
	  "t.yaml:4:9: pipelines.p.stages[0]: one of exec, builtin or plugin is required" },
	{ "pipelines:\n  p:\n    stages:\n      - builtin: noop\n",
	  "t.yaml:4:9: pipelines.p.stages[0]: missing required key \"name\"" },
	{ "pipelines:\n  p:\n    stages:\n      - {name: s, builtin: noop, exec: [cat]}\n",
	  "t.yaml:4:40: pipelines.p.stages[0].exec: a stage has exactly one of exec, builtin or plugin" },
	{ "pipelines:\n  p:\n    stages:\n      - {name: s, builtin: noop}\n      - {name: s, builtin: echo}\n",
	  "t.yaml:5:16: pipelines.p.stages[1].name: duplicate stage name" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop}]}\n  p: {stages: [{name: s, builtin: noop}]}\n",
	  "t.yaml:3:3: pipelines.p: duplicate pipeline name" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, workers: 0}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].workers: must be between 1 and 65536, got 0" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, queue: 0}]}\n",
	  "t.yaml:2:48: pipelines.p.stages[0].queue: must be between 1 and 16777216, got 0" },
	/* the integer parser's overflow guard at its edge: the largest value it reads, then
	 * one digit more; and the digits' own edges */
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, workers: 18446744073709551609}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].workers: must be between 1 and 65536, got 18446744073709551609" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, workers: 184467440737095516090}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].workers: invalid integer \"184467440737095516090\"" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, workers: 90909099}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].workers: must be between 1 and 65536, got 90909099" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, workers: 1/}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].workers: invalid integer \"1/\"" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, workers: \"1:\"}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].workers: invalid integer \"1:\"" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, workers: -1}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].workers: invalid integer \"-1\"" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, workers: [1]}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].workers: expected a scalar, got a list" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: nope}]}\n",
	  "t.yaml:2:35: pipelines.p.stages[0].builtin: unknown builtin \"nope\" (known: noop, echo, upper, sha256, sleep, fail)" },
	{ "pipelines:\n  p: {stages: [{name: s, exec: []}]}\n",
	  "t.yaml:2:32: pipelines.p.stages[0].exec: must not be empty" },
	{ "pipelines:\n  p: {stages: [{name: s, exec: [cat], params: {a: 1}}]}\n",
	  "t.yaml:2:47: pipelines.p.stages[0].params: params apply to builtin and plugin stages only" },
	{ "pipelines:\n  p: {stages: [{name: s, plugin: {symbol: x}}]}\n",
	  "t.yaml:2:34: pipelines.p.stages[0].plugin: missing required key \"path\"" },
	{ "pipelines:\n  p: {stages: [{name: 'a b', builtin: noop}]}\n",
	  "t.yaml:2:23: pipelines.p.stages[0].name: invalid name \"a b\" (1-64 characters of A-Z a-z 0-9 _ . -)" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, retry: {attempts: 3, jitter: some}}]}\n",
	  "t.yaml:2:70: pipelines.p.stages[0].retry.jitter: invalid value \"some\" (expected one of: none, full, equal)" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, retry: {initial: 2s, max: 1s}}]}\n",
	  "t.yaml:2:67: pipelines.p.stages[0].retry.max: must not be shorter than initial" },
	{ "pipelines:\n  p: {stages: [{name: s, exec: [x], retry: {permanent_exit_codes: [1, 0]}}]}\n",
	  "t.yaml:2:71: pipelines.p.stages[0].retry.permanent_exit_codes[1]: invalid exit code \"0\" (1 to 255)" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, retry: {permanent_exit_codes: [2]}}]}\n",
	  "t.yaml:2:48: pipelines.p.stages[0].retry: permanent_exit_codes apply to exec stages only (a plugin returns -WEFTD_PLUGIN_EPERMANENT)" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, retry: {multiplier: 0.5}}]}\n",
	  "t.yaml:2:61: pipelines.p.stages[0].retry.multiplier: invalid multiplier \"0.5\" (a number from 1 to 1000)" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, rate_limit: {rate: 5/q}}]}\n",
	  "t.yaml:2:60: pipelines.p.stages[0].rate_limit.rate: invalid rate \"5/q\" (e.g. \"50/s\", \"5/ms\", \"100/m\")" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, rate_limit: {burst: 5}}]}\n",
	  "t.yaml:2:53: pipelines.p.stages[0].rate_limit: missing required key \"rate\"" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, timeout: -1s}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].timeout: invalid duration \"-1s\"" },
	{ "pipelines:\n  p: {stages: [{name: s, builtin: noop, timeout: 9999999999h}]}\n",
	  "t.yaml:2:50: pipelines.p.stages[0].timeout: out of range duration \"9999999999h\"" },
	{ "daemon:\n  sockett: x\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:2:3: daemon.sockett: unknown key" },
	{ "daemon:\n  procs: 2\n  procs: 3\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:3:3: daemon.procs: duplicate key" },
	{ "daemon: {procs: lots}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:1:17: daemon.procs: invalid integer \"lots\"" },
	{ "daemon: {max_request_bytes: 1XB}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:1:29: daemon.max_request_bytes: invalid size \"1XB\"" },
	{ "daemon: {socket_mode: \"0999\"}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:1:23: daemon.socket_mode: invalid file mode \"0999\" (octal, e.g. \"0660\")" },
	{ "daemon: {allow_groups: [root, no-such-group-xyz]}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:1:31: daemon.allow_groups[1]: cannot resolve group \"no-such-group-xyz\"" },
	{ "daemon: {durability: maybe}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:1:22: daemon.durability: invalid value \"maybe\" (expected one of: none, batch, fsync)" },
	{ "daemon: {watchdog: sometimes}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:1:20: daemon.watchdog: invalid value \"sometimes\" (expected one of: true, false, yes, no, on, off)" },
	{ "daemon: {heartbeat_interval: 5s, heartbeat_timeout: 5s}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:1:53: daemon.heartbeat_timeout: must be longer than heartbeat_interval" },
	{ "daemon: {retention: {count: 1, ages: 1h}}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
	  "t.yaml:1:32: daemon.retention.ages: unknown key" },
	{ "a: &x {name: s}\npipelines: *x\n", "t.yaml:1:1: a: unknown key" },
	{ "pipelines: {p: {stages: [&s {name: s, builtin: noop}, *s]}}\n",
	  "t.yaml:1:26: pipelines.p.stages[1]: YAML aliases are not supported" },
	{ "pipelines: {p: {stages: [{name: \"a\\0b\", builtin: noop}]}}\n",
	  "t.yaml:1:33: pipelines.p.stages[0].name: contains a NUL byte" },
	{ "pipelines:\n  p:\n    stages:\n      - name: s\n       builtin: noop\n",
	  "t.yaml:5:8: yaml: did not find expected '-' indicator while parsing a block collection" },
	{ "pipelines: {p: {stages: [{name: s, builtin: noop}]}}\n---\npipelines: {}\n",
	  "t.yaml:3:1: (root): only one YAML document is allowed" },
};

static void test_bad_configs(void **state)
{
	int nfail = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct weftd_config *c = NULL;
		char err[512] = "";
		int r = weftd_config_parse(bad[i].yaml, strlen(bad[i].yaml), "t.yaml", &c, err, sizeof(err));
		if (r != -EINVAL || strcmp(err, bad[i].msg) != 0) {
			print_error("case %zu: r=%d\n  got:  %s\n  want: %s\n", i, r, err, bad[i].msg);
			nfail++;
		}
		assert_null(c);
	}
	assert_int_equal(nfail, 0);
}

static void test_broken_files(void **state)
{
	static const char *const files[] = { "tests/conf/bad_duration.yaml", "tests/conf/bad_two_actions.yaml",
		"tests/conf/bad_unknown_key.yaml", "tests/conf/bad_syntax.yaml" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct weftd_config *c = NULL;
		char err[512];
		assert_int_equal(weftd_config_load(files[i], &c, err, sizeof(err)), -EINVAL);
		assert_memory_equal(err, files[i], strlen(files[i])); /* FILE: prefix */
	}
}

static void test_err_truncation(void **state)
{
	struct weftd_config *c = NULL;
	char err[12];
	assert_int_equal(weftd_config_parse("x: 1", 4, "t.yaml", &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:1:1:");
	assert_int_equal(weftd_config_parse("x: 1", 4, "t.yaml", &c, NULL, 0), -EINVAL);
}

/* issue 12: run_at's RFC 3339 times, checked against date(1)'s reading of each. */
static void test_rfc3339(void **state)
{
	static const struct { const char *s; int64_t ms; } ok[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2000-02-29T23:59:59.999Z", 951868799999LL },
		{ "2000-02-29t23:59:59.9991z", 951868799999LL },  /* digits past ms dropped */
		{ "2024-03-10T01:02:03-07:30", 1710059523000LL },
		{ "2024-03-10 01:02:03+00:00", 1710032523000LL },
		{ "9999-12-31T23:59:59Z", 253402300799000LL },
		{ "2016-12-31T23:59:60Z", 1483228799999LL },      /* a leap second */
		{ "2026-12-03T14:00:00.5+01:00", 1796302800500LL },
	};
	static const char *const refused[] = {
		"", "2026-12-03", "2026-12-03T14:00:00", "2026-12-03T14:00Z", "1969-12-31T23:59:59Z",
		"2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-12-03T24:00:00Z",
		"2026-12-03T14:60:00Z", "2026-12-03T14:00:61Z", "2026-12-03T14:00:00.Z",
		"2026-12-03T14:00:00+1:00", "2026-12-03T14:00:00+01:60", "2026-12-03T14:00:00Zx",
		"2026-12-03x14:00:00Z", "+2026-12-03T14:00:00Z", "2026-12-03T14:00:00 Z",
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (weftd_parse_rfc3339(ok[i].s, strlen(ok[i].s), &ms) != 0 || ms != ok[i].ms)
			fail_msg("%s: %lld, want %lld", ok[i].s, (long long)ms, (long long)ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (weftd_parse_rfc3339(refused[i], strlen(refused[i]), &ms) != -EINVAL)
			fail_msg("%s: accepted as %lld", refused[i], (long long)ms);
	/* not NUL-terminated: the length is the end */
	assert_int_equal(weftd_parse_rfc3339("1970-01-01T00:00:01Zjunk", 20, &ms), 0);
	assert_int_equal(ms, 1000);
}

static void test_durations(void **state)
{
	static const struct { const char *s; int r; uint64_t ns; } t[] = {
		{ "250ms", 0, 250000000 }, { "10s", 0, 10000000000 }, { "5m", 0, 300000000000 },
		{ "1h", 0, 3600000000000 }, { "1.5s", 0, 1500000000 }, { "100us", 0, 100000 },
		{ "100\xc2\xb5s", 0, 100000 }, { "7ns", 0, 7 }, { "0", 0, 0 }, { "0s", 0, 0 },
		{ "1h30m", 0, 5400000000000 }, { ".5s", 0, 500000000 }, { "1.s", 0, 1000000000 },
		{ "0.0000000001s", 0, 0 }, { "2562047h47m16.854775807s", 0, INT64_MAX },
		{ "2562047h47m16.854775808s", -ERANGE, 0 }, { "9223372036854775808ns", -ERANGE, 0 },
		{ "99999999999999999999s", -ERANGE, 0 },
		{ "", -EINVAL, 0 }, { "10", -EINVAL, 0 }, { "10q", -EINVAL, 0 }, { "-1s", -EINVAL, 0 },
		{ "+1s", -EINVAL, 0 }, { "s", -EINVAL, 0 }, { ".s", -EINVAL, 0 }, { "1 s", -EINVAL, 0 },
		{ "1s ", -EINVAL, 0 }, { "1e3s", -EINVAL, 0 }, { "00", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t ns = 12345;
		int r = weftd_parse_duration(t[i].s, strlen(t[i].s), &ns);
		if (r != t[i].r || (r == 0 && ns != t[i].ns))
			fail_msg("%s: r=%d ns=%llu", t[i].s, r, (unsigned long long)ns);
	}
	char buf[64];
	weftd_format_duration(5400250000000ULL, buf, sizeof(buf));
	assert_string_equal(buf, "1h30m250ms");
	weftd_format_duration(0, buf, sizeof(buf));
	assert_string_equal(buf, "0s");
}

static void test_sizes_rates(void **state)
{
	static const struct { const char *s; int r; uint64_t v; } t[] = {
		{ "0", 0, 0 }, { "4096", 0, 4096 }, { "1MiB", 0, 1 << 20 }, { "64KiB", 0, 65536 },
		{ "1KB", 0, 1000 }, { "2G", 0, 2ULL << 30 }, { "7B", 0, 7 },
		{ "18446744073709551615", 0, UINT64_MAX }, { "18446744073709551616", -ERANGE, 0 },
		{ "16777216TiB", -ERANGE, 0 }, { "", -EINVAL, 0 }, { "1.5MiB", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 }, { "MiB", -EINVAL, 0 }, { "1MiBx", -EINVAL, 0 }, { "1 MiB", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 0;
		int r = weftd_parse_size(t[i].s, strlen(t[i].s), &v);
		if (r != t[i].r || (r == 0 && v != t[i].v))
			fail_msg("%s: r=%d v=%llu", t[i].s, r, (unsigned long long)v);
	}
	uint32_t n;
	uint64_t per;
	assert_int_equal(weftd_parse_rate("50/s", 4, &n, &per), 0);
	assert_int_equal(n, 50);
	assert_int_equal(per, WEFTD_NSEC_PER_SEC);
	assert_int_equal(weftd_parse_rate("3/ms", 4, &n, &per), 0);
	assert_int_equal(per, WEFTD_NSEC_PER_MSEC);
	assert_int_equal(weftd_parse_rate("100/m", 5, &n, &per), 0);
	assert_int_equal(per, 60 * WEFTD_NSEC_PER_SEC);
	assert_int_equal(weftd_parse_rate("0/s", 3, &n, &per), -EINVAL);
	assert_int_equal(weftd_parse_rate("5", 1, &n, &per), -EINVAL);
	assert_int_equal(weftd_parse_rate("5/", 2, &n, &per), -EINVAL);
	assert_int_equal(weftd_parse_rate("5/sec", 5, &n, &per), -EINVAL);
	assert_int_equal(weftd_parse_rate("4294967296/s", 12, &n, &per), -ERANGE);
}

static void test_pipeline_equal(void **state)
{
	const char *base = "pipelines:\n  a: {stages: [{name: s, exec: [cat, -n], retry: {attempts: 2}}]}\n"
			   "  b: {stages: [{name: s, builtin: sleep, params: {duration: 1s}}]}\n";
	const char *moved = "daemon: {procs: 2}\npipelines:\n  b:\n    stages:\n      - name: s\n"
			    "        builtin: sleep\n        params: {duration: 1s}\n"
			    "  a: {stages: [{name: s, exec: [cat, -n], retry: {attempts: 2}}]}\n";
	const char *changed = "pipelines:\n  a: {stages: [{name: s, exec: [cat, -n], retry: {attempts: 3}}]}\n"
			      "  b: {stages: [{name: s, builtin: sleep, params: {duration: 2s}}]}\n";
	struct weftd_config *x = parse_ok(base), *y = parse_ok(moved), *z = parse_ok(changed);

	assert_true(weftd_pipeline_equal(weftd_config_pipeline(x, "a"), weftd_config_pipeline(y, "a")));
	assert_true(weftd_pipeline_equal(weftd_config_pipeline(x, "b"), weftd_config_pipeline(y, "b")));
	assert_false(weftd_pipeline_equal(weftd_config_pipeline(x, "a"), weftd_config_pipeline(z, "a")));
	assert_false(weftd_pipeline_equal(weftd_config_pipeline(x, "b"), weftd_config_pipeline(z, "b")));
	assert_false(weftd_pipeline_equal(weftd_config_pipeline(x, "a"), weftd_config_pipeline(x, "b")));
	assert_false(weftd_pipeline_equal(weftd_config_pipeline(x, "a"), NULL));
	assert_true(weftd_pipeline_equal(NULL, NULL));
	weftd_config_free(x);
	weftd_config_free(y);
	weftd_config_free(z);
}

static void test_limits(void **state)
{
	char buf[16384];
	size_t off = (size_t)snprintf(buf, sizeof(buf), "pipelines:\n  p:\n    stages:\n");
	for (int i = 0; i < WEFTD_MAX_STAGES + 1; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "      - {name: s%d, builtin: noop}\n", i);
	struct weftd_config *c = NULL;
	char err[256];
	assert_int_equal(weftd_config_parse(buf, off, "t.yaml", &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:4:7: pipelines.p.stages: too many entries (65, at most 64)");
}

/* Each limit at its edge: the last value accepted and the first refused. */
static void test_boundaries(void **state)
{
	static const char *const pre = "pipelines: {p: {stages: [{name: s, builtin: noop, ";
	static const struct { const char *stage, *msg; } t[] = {
		{ "workers: 65536", NULL },
		/* issue 18 item 5: the min side of each stage limit, and max_output's both sides */
		{ "workers: 1", NULL },
		{ "workers: 0", "pipelines.p.stages[0].workers: must be between 1 and 65536, got 0" },
		{ "queue: 1", NULL },
		{ "queue: 0", "pipelines.p.stages[0].queue: must be between 1 and 16777216, got 0" },
		{ "max_output: 1", NULL },
		{ "max_output: 0", "pipelines.p.stages[0].max_output: must be between 1 and 1073741824 bytes, got 0" },
		{ "max_output: 1GiB", NULL },
		{ "max_output: 1073741825", "pipelines.p.stages[0].max_output: must be between 1 and 1073741824 "
		  "bytes, got 1073741825" },
		{ "retry: {attempts: 1}", NULL },
		{ "retry: {multiplier: 0.999}", "pipelines.p.stages[0].retry.multiplier: invalid multiplier "
		  "\"0.999\" (a number from 1 to 1000)" },
		{ "rate_limit: {rate: 50/s, burst: 1}", NULL },
		{ "rate_limit: {rate: 50/s, burst: 4294967295}", NULL },
		{ "rate_limit: {rate: 50/s, burst: 4294967296}", "pipelines.p.stages[0].rate_limit.burst: must be "
		  "between 1 and 4294967295, got 4294967296" },
		{ "workers: 65537", "pipelines.p.stages[0].workers: must be between 1 and 65536, got 65537" },
		{ "queue: 16777216", NULL },
		{ "queue: 16777217", "pipelines.p.stages[0].queue: must be between 1 and 16777216, got 16777217" },
		{ "heartbeat_timeout: 1ms", NULL },
		{ "heartbeat_timeout: 999us", "pipelines.p.stages[0].heartbeat_timeout: must be between 1ms and "
		  "2562047h47m16s854ms775us807ns, got \"999us\"" },
		{ "timeout: 0", NULL },
		{ "timeout: 2562047h47m16.854775807s", NULL },
		{ "retry: {attempts: 1000000}", NULL },
		{ "retry: {attempts: 1000001}", "pipelines.p.stages[0].retry.attempts: must be between 1 and 1000000, got 1000001" },
		{ "retry: {attempts: 0}", "pipelines.p.stages[0].retry.attempts: must be between 1 and 1000000, got 0" },
		{ "retry: {initial: 1s, max: 1s}", NULL },
		{ "retry: {multiplier: 1}", NULL },
		{ "retry: {multiplier: 1000}", NULL },
		{ "retry: {multiplier: 1000.001}", "pipelines.p.stages[0].retry.multiplier: invalid multiplier "
		  "\"1000.001\" (a number from 1 to 1000)" },
		{ "retry: {multiplier: nan}", "pipelines.p.stages[0].retry.multiplier: invalid multiplier "
		  "\"nan\" (a number from 1 to 1000)" },
		{ "rate_limit: {rate: 50/s, burst: 0}", "pipelines.p.stages[0].rate_limit.burst: must be between 1 and "
		  "4294967295, got 0" },
		{ "params: {a: ''}", NULL },
		{ "params: {a: 1, a: 2}", "pipelines.p.stages[0].params: duplicate key \"a\"" },
		{ "params: {'a b': 1}", "pipelines.p.stages[0].params: invalid name \"a b\" "
		  "(1-64 characters of A-Z a-z 0-9 _ . -)" },
	};
	static const struct { const char *yaml, *msg; } d[] = {
		{ "daemon: {procs: 1024}", NULL },
		{ "daemon: {procs: 1}", NULL },
		{ "daemon: {max_connections: 1}", NULL },
		{ "daemon: {max_connections: 0}", "daemon.max_connections: must be between 1 and 1048576, got 0" },
		{ "daemon: {max_connections_per_uid: 1048576}", NULL },
		{ "daemon: {max_connections_per_uid: 1048577}", "daemon.max_connections_per_uid: must be between 0 "
		  "and 1048576, got 1048577" },
		{ "daemon: {max_response_bytes: 4096}", NULL },
		{ "daemon: {max_response_bytes: 4095}", "daemon.max_response_bytes: must be between 4096 and "
		  "17179869184 bytes, got 4095" },
		{ "daemon: {max_response_bytes: 16GiB}", NULL },
		{ "daemon: {max_response_bytes: 17179869185}", "daemon.max_response_bytes: must be between 4096 and "
		  "17179869184 bytes, got 17179869185" },
		{ "daemon: {heartbeat_interval: 999us}", "daemon.heartbeat_interval: must be between 1ms and "
		  "2562047h47m16s854ms775us807ns, got \"999us\"" },
		{ "daemon: {procs: 1025}", "daemon.procs: must be between 1 and 1024, got 1025" },
		{ "daemon: {procs: 0}", "daemon.procs: must be between 1 and 1024, got 0" },
		{ "daemon: {max_request_bytes: 64}", NULL },
		{ "daemon: {max_request_bytes: 63}", "daemon.max_request_bytes: must be between 64 and 1073741824 bytes, got 63" },
		{ "daemon: {max_request_bytes: 1GiB}", NULL },
		{ "daemon: {max_request_bytes: 1073741825}", "daemon.max_request_bytes: must be between 64 and "
		  "1073741824 bytes, got 1073741825" },
		{ "daemon: {max_connections: 1048576}", NULL },
		{ "daemon: {max_connections: 1048577}", "daemon.max_connections: must be between 1 and 1048576, got 1048577" },
		{ "daemon: {socket_mode: \"7777\"}", NULL },
		{ "daemon: {socket_mode: \"17777\"}", "daemon.socket_mode: invalid file mode \"17777\" (octal, e.g. \"0660\")" },
		{ "daemon: {socket_mode: \"\"}", "daemon.socket_mode: invalid file mode \"\" (octal, e.g. \"0660\")" },
		{ "daemon: {allow_uids: [4294967294]}", NULL },
		{ "daemon: {allow_uids: [4294967295]}", "daemon.allow_uids[0]: must be between 0 and 4294967294, got 4294967295" },
		{ "daemon: {allow_uids: [no-such-user-xyz]}", "daemon.allow_uids[0]: cannot resolve user \"no-such-user-xyz\"" },
		{ "daemon: {admin_groups: [no-such-group-xyz]}", "daemon.admin_groups[0]: cannot resolve group \"no-such-group-xyz\"" },
		{ "daemon: {heartbeat_interval: 1ms, heartbeat_timeout: 2ms}", NULL },
		{ "daemon: {heartbeat_interval: 2ms, heartbeat_timeout: 1ms}", "daemon.heartbeat_timeout: must be "
		  "longer than heartbeat_interval" },
		{ "daemon: {socket: ''}", "daemon.socket: must not be empty" },
	};
	char yaml[512], err[512];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]) + sizeof(d) / sizeof(d[0]); i++) {
		struct weftd_config *c = NULL;
		const char *msg;
		int len;
		if (i < sizeof(t) / sizeof(t[0])) {
			len = snprintf(yaml, sizeof(yaml), "%s%s}]}}\n", pre, t[i].stage);
			msg = t[i].msg;
		} else {
			size_t j = i - sizeof(t) / sizeof(t[0]);
			len = snprintf(yaml, sizeof(yaml), "%s\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
				       d[j].yaml);
			msg = d[j].msg;
		}
		int r = weftd_config_parse(yaml, (size_t)len, "t.yaml", &c, err, sizeof(err));
		const char *got = r == 0 ? NULL : strchr(strchr(strchr(err, ':') + 1, ':') + 1, ':') + 2;
		if ((msg == NULL) != (r == 0) || (msg && strcmp(got, msg) != 0))
			fail_msg("%s: r=%d\n  got:  %s\n  want: %s", yaml, r, r ? err : "ok", msg ? msg : "ok");
		weftd_config_free(c);
	}
}

/* List lengths at their limits: N entries load, N + 1 name the limit. */
static void test_list_limits(void **state)
{
	static char buf[64 * 1024];
	static const struct { const char *head, *item, *tail, *msg; int max; } t[] = {
		{ "pipelines:\n", "  p%d: {stages: [{name: s, builtin: noop}]}\n", "",
		  "t.yaml:2:3: pipelines: too many pipelines (257, at most 256)", WEFTD_MAX_PIPELINES },
		{ "pipelines: {p: {stages: [{name: s, exec: [", "a%d, ", "]}]}}\n",
		  "t.yaml:1:42: pipelines.p.stages[0].exec: too many entries (257, at most 256)", WEFTD_MAX_ARGV },
		{ "pipelines: {p: {stages: [{name: s, builtin: noop, params: {", "k%d: v, ", "}}]}}\n",
		  "t.yaml:1:59: pipelines.p.stages[0].params: too many params (33, at most 32)", WEFTD_MAX_PARAMS },
		{ "daemon: {allow_uids: [", "%d, ", "]}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n",
		  "t.yaml:1:22: daemon.allow_uids: too many entries (257, at most 256)", WEFTD_MAX_ALLOW },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (int n = t[i].max; n <= t[i].max + 1; n++) {
			struct weftd_config *c = NULL;
			char err[256];
			size_t off = (size_t)snprintf(buf, sizeof(buf), "%s", t[i].head);
			for (int k = 0; k < n; k++)
				off += (size_t)snprintf(buf + off, sizeof(buf) - off, t[i].item, k);
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s", t[i].tail);
			int r = weftd_config_parse(buf, off, "t.yaml", &c, err, sizeof(err));
			if (n == t[i].max && r != 0)
				fail_msg("case %zu, %d entries: %s", i, n, err);
			if (n > t[i].max && (r != -EINVAL || strcmp(err, t[i].msg) != 0))
				fail_msg("case %zu, %d entries: r=%d %s", i, n, r, err);
			weftd_config_free(c);
		}
	}
}

/* Names: 64 characters load, 65 do not. */
static void test_name_length(void **state)
{
	char yaml[256], err[256], name[WEFTD_MAX_NAME + 2];
	struct weftd_config *c = NULL;

	memset(name, 'n', sizeof(name) - 1);
	name[WEFTD_MAX_NAME] = '\0';
	int len = snprintf(yaml, sizeof(yaml), "pipelines: {%s: {stages: [{name: %s, builtin: noop}]}}\n", name, name);
	c = parse_ok(yaml);
	assert_int_equal(strlen(c->pipelines[0].name), WEFTD_MAX_NAME);
	assert_int_equal(strlen(c->pipelines[0].stages[0].name), WEFTD_MAX_NAME);
	c = weftd_config_free(c);
	name[WEFTD_MAX_NAME] = 'n';
	name[WEFTD_MAX_NAME + 1] = '\0';
	len = snprintf(yaml, sizeof(yaml), "pipelines: {%s: {stages: [{name: s, builtin: noop}]}}\n", name);
	assert_int_equal(weftd_config_parse(yaml, (size_t)len, "t.yaml", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:1:13: pipelines.nnnn"));
	assert_non_null(strstr(err, ": invalid name \"nnnn"));
}

/* Defaults that depend on other keys, and the spellings that mean "default". */
static void test_derived_defaults(void **state)
{
	struct weftd_config *c = parse_ok(
		"daemon: {procs: auto, watchdog: auto, socket_mode: 0640}\n"
		"pipelines:\n"
		"  p:\n"
		"    stages:\n"
		"      - {name: a, builtin: noop, rate_limit: {rate: 50/s}}\n"
		"      - {name: b, builtin: noop, rate_limit: {rate: 5/ms, burst: 2}}\n"
		"      - {name: c, plugin: {path: x.so}}\n"
		"      - {name: d, plugin: {path: x.so, symbol: mine}, params: {k: v}}\n"
		"      - {name: e, exec: [cat, '']}\n");
	const struct weftd_stage *s = c->pipelines[0].stages;

	assert_int_equal(c->daemon.procs, 0);
	assert_int_equal(c->daemon.watchdog, WEFTD_WATCHDOG_AUTO);
	assert_int_equal(c->daemon.socket_mode, 0640);  /* octal even unquoted */
	assert_int_equal(s[0].rate_limit.count, 50);
	assert_int_equal(s[0].rate_limit.per_ns, WEFTD_NSEC_PER_SEC);
	assert_int_equal(s[0].rate_limit.burst, 50);    /* burst defaults to the count */
	assert_int_equal(s[1].rate_limit.burst, 2);
	assert_int_equal(s[1].rate_limit.per_ns, WEFTD_NSEC_PER_MSEC);
	assert_string_equal(s[2].plugin_symbol, "weftd_stage");
	assert_null(s[2].params);
	assert_string_equal(s[3].plugin_symbol, "mine");
	assert_int_equal(s[3].nparams, 1);
	assert_null(s[4].plugin_symbol);                /* only plugin stages get one */
	assert_int_equal(s[4].argc, 2);
	assert_string_equal(s[4].argv[1], "");          /* only argv[0] must not be empty */
	assert_null(s[4].argv[2]);
	weftd_config_free(c);

	c = parse_ok("daemon: {watchdog: off}\npipelines: {p: {stages: [{name: s, builtin: noop}]}}\n");
	assert_int_equal(c->daemon.watchdog, WEFTD_WATCHDOG_OFF);
	weftd_config_free(c);
}

/* Reload restarts a pipeline when any setting of any stage changes, and only then. */
static void test_pipeline_equal_each_setting(void **state)
{
	static const char *const variants[] = {
		"name: t, exec: [cat, -n]", "name: s, exec: [cat, -m]", "name: s, exec: [cat]",
		"name: s, exec: [cat, -n], workers: 2", "name: s, exec: [cat, -n], queue: 8",
		"name: s, exec: [cat, -n], timeout: 1s", "name: s, exec: [cat, -n], kill_grace: 1s",
		"name: s, exec: [cat, -n], heartbeat_timeout: 1s",
		"name: s, exec: [cat, -n], max_output: 1KiB",
		"name: s, exec: [cat, -n], retry: {attempts: 2}", "name: s, exec: [cat, -n], retry: {initial: 1ms}",
		"name: s, exec: [cat, -n], retry: {max: 1m}", "name: s, exec: [cat, -n], retry: {multiplier: 3}",
		"name: s, exec: [cat, -n], retry: {jitter: none}",
		"name: s, exec: [cat, -n], rate_limit: {rate: 1/s}",
		"name: s, builtin: echo", "name: s, plugin: {path: x.so}",
	};
	const char *fmt = "pipelines: {p: {stages: [{%s}]}}\n";
	char yaml[256];

	snprintf(yaml, sizeof(yaml), fmt, "name: s, exec: [cat, -n]");
	struct weftd_config *base = parse_ok(yaml);
	struct weftd_config *same = parse_ok("daemon: {procs: 1}\npipelines:\n  p:\n    stages:\n"
					     "      - name: s\n        exec: [cat, -n]\n        retry: {attempts: 1}\n");
	assert_true(weftd_pipeline_equal(&base->pipelines[0], &same->pipelines[0]));
	weftd_config_free(same);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		snprintf(yaml, sizeof(yaml), fmt, variants[i]);
		struct weftd_config *v = parse_ok(yaml);
		if (weftd_pipeline_equal(&base->pipelines[0], &v->pipelines[0]))
			fail_msg("equal although changed: %s", variants[i]);
		weftd_config_free(v);
	}
	struct weftd_config *b1 = parse_ok("pipelines: {p: {stages: [{name: s, builtin: sleep, params: {a: 1}}]}}\n");
	const char *const pvariants[] = { "params: {a: 2}", "params: {b: 1}", "params: {a: 1, b: 1}" };
	for (size_t i = 0; i < sizeof(pvariants) / sizeof(pvariants[0]); i++) {
		snprintf(yaml, sizeof(yaml), "pipelines: {p: {stages: [{name: s, builtin: sleep, %s}]}}\n", pvariants[i]);
		struct weftd_config *v = parse_ok(yaml);
		if (weftd_pipeline_equal(&b1->pipelines[0], &v->pipelines[0]))
			fail_msg("equal although changed: %s", pvariants[i]);
		weftd_config_free(v);
	}
	weftd_config_free(b1);
	weftd_config_free(base);
}

/* The file size limit: exactly WEFTD_CONFIG_MAX_BYTES loads, one byte more does not. */
static void test_file_size_limit(void **state)
{
	static const char body[] = "pipelines: {p: {stages: [{name: s, builtin: noop}]}}\n";
	char path[] = "/tmp/weft-test-config-XXXXXX", err[256];
	struct weftd_config *c = NULL;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(body, f);
	fputc('#', f);
	for (size_t n = strlen(body) + 2; n < WEFTD_CONFIG_MAX_BYTES; n++)
		fputc('x', f);
	fputc('\n', f);
	assert_int_equal(fflush(f), 0);
	assert_int_equal(weftd_config_load(path, &c, err, sizeof(err)), 0);
	c = weftd_config_free(c);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(weftd_config_load(path, &c, err, sizeof(err)), -EFBIG);
	assert_null(c);
	assert_non_null(strstr(err, ": file too large (at most 1 MiB)"));
	unlink(path);
}

/* Names (pipelines, stages...): letters, digits, '_', '.', '-'; 1..WEFTD_MAX_NAME bytes.
 * Each character class at its edges and just outside them (ASCII neighbours). */
static void test_name_edges(void **state)
{
	const char *good_c = "azAZ09_.-", *bad_c = "`{@[/:\x20\x7f!~";
	for (const char *c = good_c; *c; c++)
		if (!cfg_valid_name(c, 1))
			fail_msg("name \"%c\" refused", *c);
	for (const char *c = bad_c; *c; c++)
		if (cfg_valid_name(c, 1))
			fail_msg("name \"%c\" (0x%02x) accepted", *c, (unsigned char)*c);
	char name[WEFTD_MAX_NAME + 2];
	memset(name, 'z', sizeof(name));
	assert_false(cfg_valid_name(name, 0));
	assert_true(cfg_valid_name(name, 1));
	assert_true(cfg_valid_name(name, WEFTD_MAX_NAME));
	assert_false(cfg_valid_name(name, WEFTD_MAX_NAME + 1));
	assert_true(cfg_valid_name("a.b-c_D9", 8));
	assert_false(cfg_valid_name("ab/c", 4)); /* checked past the first byte too */
	assert_false(cfg_valid_name("abc{", 4)); /* ... up to the last */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_name_edges),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_default_conf_loads),
		cmocka_unit_test(test_io_errors),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_broken_files),
		cmocka_unit_test(test_err_truncation),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_sizes_rates),
		cmocka_unit_test(test_pipeline_equal),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_list_limits),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_derived_defaults),
		cmocka_unit_test(test_pipeline_equal_each_setting),
		cmocka_unit_test(test_file_size_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
