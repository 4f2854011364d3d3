/* SPDX-License-Identifier: MIT */
/* The Prometheus exposition (obs/expo.c, obs/metrics.c): label values and HELP text
 * escaped, integers exact, doubles in a form Prometheus reads, histogram buckets
 * cumulative with +Inf = count, the engine's log2 latency buckets folded into le bounds
 * exactly, and a whole scrape of a running engine: every family typed once, its samples
 * together, counters matching the jobs run. The daemon.http config section too. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config/config.h"
#include "engine/engine.h"
#include "obs/expo.h"
#include "obs/metrics.h"

/* b's text as a NUL-terminated string (owned by b). */
static const char *text(struct weftd_buf *b)
{
	WEFTD_BUF_PUTS(b, "\0");
	b->len--;
	assert_int_equal(b->err, 0);
	return b->data;
}

static void test_escape(void **state)
{
	struct weftd_buf b;

	weftd_buf_init(&b, NULL, 0);
	weftd_expo_family(&b, "x_total", "counter", "a \"quoted\" \\ help\nline");
	weftd_expo_u64(&b, "x_total", NULL,
		       (struct weftd_expo_label[]){ { "a", "back\\slash \"q\" new\nline" }, { "b", "" } }, 2, 3);
	assert_string_equal(text(&b),
			    "# HELP x_total a \"quoted\" \\\\ help\\nline\n"
			    "# TYPE x_total counter\n"
			    "x_total{a=\"back\\\\slash \\\"q\\\" new\\nline\",b=\"\"} 3\n");
	weftd_buf_done(&b);
}

static void test_values(void **state)
{
	struct weftd_buf b;

	weftd_buf_init(&b, NULL, 0);
	weftd_expo_u64(&b, "u", NULL, NULL, 0, UINT64_MAX);      /* exact, not 1.8e19 */
	weftd_expo_i64(&b, "i", NULL, NULL, 0, -5);
	weftd_expo_f64(&b, "f", "_sum", NULL, 0, 0.1);
	weftd_expo_f64(&b, "w", NULL, NULL, 0, 20000);           /* whole: no exponent */
	weftd_expo_f64(&b, "p", NULL, NULL, 0, INFINITY);
	weftd_expo_f64(&b, "n", NULL, NULL, 0, -INFINITY);
	weftd_expo_f64(&b, "q", NULL, NULL, 0, NAN);
	weftd_expo_f64(&b, "t", NULL, NULL, 0, 1.0 / 3);
	assert_string_equal(text(&b), "u 18446744073709551615\ni -5\nf_sum 0.1\nw 20000\n"
				      "p +Inf\nn -Inf\nq NaN\nt 0.3333333333333333\n");
	weftd_buf_done(&b);
}

static void test_histogram_cumulative(void **state)
{
	static const double le[] = { 0.001, 0.01, 0.1 };
	static const uint64_t counts[] = { 1, 0, 2 };
	struct weftd_buf b;

	weftd_buf_init(&b, NULL, 0);
	/* 5 observations, 2 of them above the last bound: only in +Inf */
	weftd_expo_histogram(&b, "h_seconds", &(struct weftd_expo_label){ "s", "x" }, 1, le, counts, 3,
			     1.5, 5);
	assert_string_equal(text(&b), "h_seconds_bucket{s=\"x\",le=\"0.001\"} 1\n"
				      "h_seconds_bucket{s=\"x\",le=\"0.01\"} 1\n"
				      "h_seconds_bucket{s=\"x\",le=\"0.1\"} 3\n"
				      "h_seconds_bucket{s=\"x\",le=\"+Inf\"} 5\n"
				      "h_seconds_sum{s=\"x\"} 1.5\n"
				      "h_seconds_count{s=\"x\"} 5\n");
	weftd_buf_done(&b);
}

/* The engine's bucket i holds samples below 2^i us; the export keeps every other bound
 * (1us, 4us, 16us...): le=2^2k us counts buckets 0..2k; the last (open) one only in +Inf. */
static void test_latency_buckets(void **state)
{
	struct weftd_latency lat = { .count = 15, .sum = 2000000 };
	struct weftd_buf b;

	lat.buckets[0] = 1;  /* < 1us */
	lat.buckets[1] = 2;  /* [1, 2) us */
	lat.buckets[2] = 3;  /* [2, 4) us */
	lat.buckets[3] = 5;  /* [4, 8) us */
	lat.buckets[WEFTD_LATENCY_BUCKETS - 1] = 4; /* beyond */
	weftd_buf_init(&b, NULL, 0);
	weftd_metrics_latency(&b, "l_seconds", NULL, 0, &lat);
	const char *t = text(&b);
	assert_non_null(strstr(t, "l_seconds_bucket{le=\"1e-06\"} 1\n"
				  "l_seconds_bucket{le=\"4e-06\"} 6\n"
				  "l_seconds_bucket{le=\"1.6e-05\"} 11\n"
				  "l_seconds_bucket{le=\"6.4e-05\"} 11\n"));
	assert_non_null(strstr(t, "l_seconds_bucket{le=\"274877.906944\"} 11\n" /* 2^38 us */
				  "l_seconds_bucket{le=\"+Inf\"} 15\n"
				  "l_seconds_sum 2\n"
				  "l_seconds_count 15\n"));
	/* cumulative: never decreasing */
	unsigned long long last = 0, v;
	for (const char *p = t; (p = strstr(p, "_bucket{")); p++) {
		assert_int_equal(sscanf(strchr(p, '}') + 1, " %llu", &v), 1);
		assert_true(v >= last);
		last = v;
	}
	weftd_buf_done(&b);
}

/* ---- a scrape of a running engine ----------------------------------------------- */

struct scrape {
	struct weftd_engine *e;
	char *text;
};

static void scrape_main(void *arg)
{
	struct scrape *s = arg;
	struct weftd_metrics_src src = { .e = s->e };
	struct weftd_buf b;

	assert_int_equal(weftd_engine_start(s->e), 0);
	for (int i = 0; i < 5; i++) {
		struct weftd_job *j;
		assert_int_equal(weftd_engine_submit(s->e, "p", "x", 1, getuid(), NULL, &j), 0);
		assert_int_equal(weftd_jobs_wait(NULL, &j, 1, 10 * WEFT_SEC), 0);
		weftd_job_unref(j);
	}
	weftd_buf_init(&b, NULL, 0);
	assert_int_equal(weftd_metrics_write(&b, &src), 0);
	s->text = strndup(b.data, b.len);
	weftd_buf_done(&b);
	weftd_engine_stop(s->e);
}

static void test_scrape(void **state)
{
	static const char yaml[] = "pipelines:\n"
				   "  p:\n    stages:\n      - {name: a, builtin: upper}\n"
				   "      - {name: b, builtin: echo}\n"
				   "  q:\n    stages:\n      - {name: c, builtin: noop}\n";
	struct scrape s = { 0 };
	struct weftd_config *cfg;
	char err[256], fam[128] = "", *save = NULL;
	char seen[4096] = " ";

	assert_int_equal(weftd_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, err, sizeof(err)), 0);
	assert_int_equal(weftd_engine_new(cfg, &s.e, err, sizeof(err)), 0);
	assert_int_equal(weft_run(scrape_main, &s, &(struct weft_opts){ .procs = 2 }), 0);
	weftd_engine_free(s.e);
	assert_non_null(s.text);
	assert_non_null(strstr(s.text, "\nweftd_pipeline_jobs_done_total{pipeline=\"p\"} 5\n"));
	assert_non_null(strstr(s.text, "\nweftd_pipeline_jobs_done_total{pipeline=\"q\"} 0\n"));
	assert_non_null(strstr(s.text, "\nweftd_stage_jobs_done_total{pipeline=\"p\",stage=\"b\"} 5\n"));
	assert_non_null(strstr(s.text, "\nweftd_stage_attempt_duration_seconds_count{pipeline=\"p\",stage=\"a\"} 5\n"));
	assert_non_null(strstr(s.text, "\nweftd_pipeline_job_duration_seconds_bucket{pipeline=\"p\",le=\"+Inf\"} 5\n"));
	assert_non_null(strstr(s.text, "\nweft_procs 2\n"));
	assert_non_null(strstr(s.text, "\nprocess_open_fds "));
	/* every family typed once, and each sample right under its own family */
	for (char *line = strtok_r(s.text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7))
			continue;
		if (!strncmp(line, "# TYPE ", 7)) {
			sscanf(line + 7, "%127s", fam);
			char key[132];
			snprintf(key, sizeof(key), " %s ", fam);
			assert_null(strstr(seen, key)); /* typed once */
			assert_true(strlen(seen) + strlen(fam) + 2 < sizeof(seen));
			strcat(seen, fam);
			strcat(seen, " ");
			continue;
		}
		size_t n = strlen(fam);
		assert_true(n > 0);
		assert_memory_equal(line, fam, n);
		const char *rest = line + n;
		assert_true(*rest == '{' || *rest == ' ' || !strncmp(rest, "_bucket{", 8) ||
			    !strncmp(rest, "_sum", 4) || !strncmp(rest, "_count", 6));
	}
	free(s.text);
}

/* ---- daemon.http in the config ---------------------------------------------------- */

static int http_conf(const char *http, struct weftd_config **ret, char *err, size_t len)
{
	char yaml[512];
	snprintf(yaml, sizeof(yaml), "daemon:\n  http: %s\npipelines:\n  p:\n    stages:\n"
		 "      - {name: s, builtin: noop}\n", http);
	return weftd_config_parse(yaml, strlen(yaml), "t.yaml", ret, err, len);
}

static void test_config(void **state)
{
	struct weftd_config *a, *b;
	char err[512];

	assert_int_equal(http_conf("{}", &a, err, sizeof(err)), 0);
	assert_null(a->daemon.http.listen); /* off by default */
	assert_false(a->daemon.http.debug);
	assert_int_equal(a->daemon.http.max_connections, 16);
	assert_int_equal(a->daemon.http.timeout_ns, 10000000000ull);
	assert_int_equal(http_conf("{listen: \"127.0.0.1:9464\", debug: true, max_connections: 2, timeout: 3s}",
				   &b, err, sizeof(err)), 0);
	assert_string_equal(b->daemon.http.listen, "127.0.0.1:9464");
	assert_true(b->daemon.http.debug);
	assert_int_equal(b->daemon.http.max_connections, 2);
	assert_false(weftd_http_config_equal(&a->daemon.http, &b->daemon.http));
	assert_true(weftd_http_config_equal(&b->daemon.http, &b->daemon.http));
	weftd_config_free(a);
	weftd_config_free(b);
	static const char *const good[] = { "{listen: \"[::1]:1\"}", "{listen: /run/w/http.sock}",
					    "{listen: \"0.0.0.0:65535\"}" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(http_conf(good[i], &a, err, sizeof(err)), 0);
		weftd_config_free(a);
	}
	static const struct { const char *in, *msg; } bad[] = {
		{ "{listen: \"localhost:9464\"}", "t.yaml:2:18: daemon.http.listen: invalid address" },
		{ "{listen: \"127.0.0.1:0\"}", "daemon.http.listen: invalid address" },
		{ "{listen: \"127.0.0.1:65536\"}", "daemon.http.listen: invalid address" },
		{ "{listen: \"127.0.0.1\"}", "daemon.http.listen: invalid address" },
		{ "{listen: \"::1:80\"}", "daemon.http.listen: invalid address" },
		{ "{listen: \"[::1]80\"}", "daemon.http.listen: invalid address" },
		{ "{listen: \"\"}", "daemon.http.listen" },
		{ "{max_connections: 0}", "daemon.http.max_connections" },
		{ "{timeout: 10ms}", "daemon.http.timeout" },
		{ "{debug: maybe}", "daemon.http.debug" },
		{ "{port: 9464}", "daemon.http.port" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = NULL;
		assert_int_equal(http_conf(bad[i].in, &a, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].in, err, bad[i].msg);
	}
	struct sockaddr_storage ss;
	unsigned len;
	assert_int_equal(weftd_http_addr_parse("[::1]:80", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);
	assert_int_equal(weftd_http_addr_parse("10.0.0.1:9464", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9464);
	assert_int_equal(weftd_http_addr_parse("10.0.0.1:+80", &ss, &len), -EINVAL);
	assert_int_equal(weftd_http_addr_parse(NULL, &ss, &len), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape), cmocka_unit_test(test_values),
		cmocka_unit_test(test_histogram_cumulative), cmocka_unit_test(test_latency_buckets),
		cmocka_unit_test(test_scrape), cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
