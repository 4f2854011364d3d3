/* test_actor.c — stage actors: every builtin, exec (pipes, exit status,
 * timeouts, cancel, kill escalation, no leaked fd or zombie) and plugins
 * (load, ABI check, missing symbol). Attempts run inside weft_run with 1 and
 * 2 procs (the table at the bottom). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft/weft.h>

#include "actor.h"
#include "testutil.h"

static unsigned g_procs;

static int set_procs(void **state)
{
	g_procs = (unsigned)(uintptr_t)*state;
	return 0;
}

/* ---- running one attempt ---- */
struct job {
	struct weftd_actor *a;
	const void *in;
	size_t in_len;
	bool in_movable;
	unsigned attempt;          /* 0 = 1 */
	int64_t timeout_ns;        /* 0 = none */
	int64_t cancel_after_ns;   /* 0 = never */
	/* results */
	atomic_int beats;
	int r;
	struct weftd_attempt at;
	int64_t elapsed_ns;
};

struct canceller {
	weft_ctx *ctx;
	int64_t after_ns;
};

static void cancel_later(void *arg)
{
	struct canceller *c = arg;
	weft_sleep(NULL, c->after_ns);
	weft_ctx_cancel(c->ctx);
	weft_ctx_unref(c->ctx);
	free(c);
}

static void beat(void *arg)
{
	atomic_fetch_add(&((struct job *)arg)->beats, 1);
}

static void job_fiber(void *arg)
{
	struct job *j = arg;
	weft_ctx *ctx;

	if (j->timeout_ns)
		assert_int_equal(weft_ctx_with_timeout(NULL, j->timeout_ns, &ctx), 0);
	else
		assert_int_equal(weft_ctx_with_cancel(NULL, &ctx), 0);
	if (j->cancel_after_ns) {
		struct canceller *c = malloc(sizeof(*c));
		c->ctx = weft_ctx_ref(ctx);
		c->after_ns = j->cancel_after_ns;
		assert_int_equal(weft_go(cancel_later, c), 0);
	}
	j->at = (struct weftd_attempt){
		.ctx = ctx, .job_id = "j1", .pipeline = "p", .attempt = j->attempt ? j->attempt : 1,
		.in = j->in, .in_len = j->in_len, .in_movable = j->in_movable,
		.beat = beat, .beat_arg = j,
	};
	int64_t t0 = weft_now();
	j->r = weftd_actor_run(j->a, &j->at);
	j->elapsed_ns = weft_now() - t0;
	weft_ctx_unref(ctx);
}

static void run_job(struct job *j)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(job_fiber, j, &o), 0);
}

static void job_done(struct job *j)
{
	free(j->at.out);
	free(j->at.log);
}

static struct weftd_actor *actor_ok(const struct weftd_stage *st)
{
	struct weftd_actor *a = NULL;
	char err[256];
	int r = weftd_actor_new(st, &a, err, sizeof(err));
	if (r < 0)
		fail_msg("weftd_actor_new: %d %s", r, err);
	return a;
}

/* ---- builtins ---- */
#define P(k, v) { (k), (v) }
struct builtin_case {
	const char *builtin;
	struct weftd_param params[3];
	size_t nparams;
	const char *in;
	unsigned attempt;
	int r;                  /* expected return */
	const char *out;        /* expected output when r == 0 */
	const char *error;      /* expected at->error when r < 0 */
};

static const struct builtin_case builtin_cases[] = {
	{ "noop", { { 0 } }, 0, "hello", 1, 0, "hello", NULL },
	{ "noop", { { 0 } }, 0, "", 1, 0, "", NULL },
	{ "echo", { { 0 } }, 0, "hello", 1, 0, "hello", NULL },
	{ "echo", { P("text", "fixed") }, 1, "hello", 1, 0, "fixed", NULL },
	{ "upper", { { 0 } }, 0, "Hello, World 42 \xc3\xa9z", 1, 0, "HELLO, WORLD 42 \xc3\xa9Z", NULL },
	{ "sha256", { { 0 } }, 0, "abc", 1, 0,
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", NULL },
	{ "sha256", { { 0 } }, 0, "", 1, 0,
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", NULL },
	{ "sleep", { P("duration", "1ms") }, 1, "zz", 1, 0, "zz", NULL },
	{ "fail", { { 0 } }, 0, "x", 1, -EIO, NULL, "failed (builtin fail)" },
	{ "fail", { P("message", "boom") }, 1, "x", 7, -EIO, NULL, "boom" },
	{ "fail", { P("message", "boom"), P("times", "2") }, 2, "x", 1, -EIO, NULL, "boom" },
	{ "fail", { P("message", "boom"), P("times", "2") }, 2, "x", 2, -EIO, NULL, "boom" },
	{ "fail", { P("message", "boom"), P("times", "2") }, 2, "x", 3, 0, "x", NULL },
	{ "fail", { P("times", "0") }, 1, "x", 1, 0, "x", NULL },
};

static void test_builtins(void **state)
{
	for (size_t i = 0; i < sizeof(builtin_cases) / sizeof(builtin_cases[0]); i++) {
		const struct builtin_case *c = &builtin_cases[i];
		struct weftd_stage st = { .name = "s", .action = WEFTD_ACTION_BUILTIN,
					  .builtin = c->builtin, .params = c->params,
					  .nparams = c->nparams };
		struct job j = { .a = actor_ok(&st), .in = c->in, .in_len = strlen(c->in),
				 .attempt = c->attempt };
		run_job(&j);
		if (j.r != c->r)
			fail_msg("case %zu (%s): r %d, want %d (%s)", i, c->builtin, j.r, c->r, j.at.error);
		if (c->r == 0) {
			assert_non_null(j.at.out);
			assert_int_equal(j.at.out_len, strlen(c->out));
			assert_memory_equal(j.at.out, c->out, j.at.out_len);
		} else {
			assert_null(j.at.out);
			assert_string_equal(j.at.error, c->error);
		}
		job_done(&j);
		weftd_actor_free(j.a);
	}
}

/* noop and echo hand a movable input over without a copy */
static void test_noop_moves_input(void **state)
{
	struct weftd_stage st = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "noop" };
	char *in = strdup("payload");
	struct job j = { .a = actor_ok(&st), .in = in, .in_len = 7, .in_movable = true };

	run_job(&j);
	assert_int_equal(j.r, 0);
	assert_ptr_equal(j.at.out, in);
	assert_false(j.at.in_movable);
	job_done(&j); /* frees in, now the output */
	/* not movable: a copy */
	j = (struct job){ .a = j.a, .in = "abc", .in_len = 3 };
	run_job(&j);
	assert_int_equal(j.r, 0);
	assert_ptr_not_equal(j.at.out, j.in);
	assert_memory_equal(j.at.out, "abc", 4); /* NUL-terminated copy */
	job_done(&j);
	weftd_actor_free(j.a);
}

/* sha256 over several chunks (it yields between them) equals a one-shot digest */
static void test_sha256_large(void **state)
{
	struct weftd_stage st = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "sha256" };
	size_t n = 3u << 20 | 17;
	unsigned char *buf = malloc(n), md[32];
	unsigned mdlen;
	char want[65];

	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	assert_true(EVP_Digest(buf, n, md, &mdlen, EVP_sha256(), NULL));
	for (unsigned i = 0; i < 32; i++)
		sprintf(want + 2 * i, "%02x", md[i]);
	struct job j = { .a = actor_ok(&st), .in = buf, .in_len = n };
	run_job(&j);
	assert_int_equal(j.r, 0);
	assert_string_equal(j.at.out, want);
	assert_true(atomic_load(&j.beats) >= 3); /* one beat per chunk pause */
	job_done(&j);
	weftd_actor_free(j.a);
	free(buf);
}

/* sleep parks for its duration and beats meanwhile */
static void test_sleep_beats(void **state)
{
	static const struct weftd_param ps[] = { P("duration", "350ms") };
	struct weftd_stage st = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "sleep",
				  .params = ps, .nparams = 1 };
	struct job j = { .a = actor_ok(&st), .in = "x", .in_len = 1 };

	run_job(&j);
	assert_int_equal(j.r, 0);
	assert_true(j.elapsed_ns >= 350 * WEFT_MSEC);
	assert_true(atomic_load(&j.beats) >= 3);
	job_done(&j);
	weftd_actor_free(j.a);
}

/* the attempt ctx cuts a sleep short: timeout and cancel */
static void test_sleep_ctx(void **state)
{
	static const struct weftd_param ps[] = { P("duration", "10s") };
	struct weftd_stage st = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "sleep",
				  .params = ps, .nparams = 1, .timeout_ns = 50 * WEFT_MSEC };
	struct job j = { .a = actor_ok(&st), .in = "x", .in_len = 1, .timeout_ns = 50 * WEFT_MSEC };

	run_job(&j);
	assert_int_equal(j.r, -ETIMEDOUT);
	assert_string_equal(j.at.error, "timed out after 50ms");
	assert_null(j.at.out);
	assert_true(j.elapsed_ns < 2 * WEFT_SEC);
	j = (struct job){ .a = j.a, .in = "x", .in_len = 1, .cancel_after_ns = 30 * WEFT_MSEC };
	run_job(&j);
	assert_int_equal(j.r, -ECANCELED);
	assert_string_equal(j.at.error, "canceled");
	assert_true(j.elapsed_ns < 2 * WEFT_SEC);
	weftd_actor_free(j.a);
}

/* bad builtin names and params are config errors at new */
static void test_builtin_config_errors(void **state)
{
	static const struct {
		const char *builtin;
		struct weftd_param p;
		const char *msg;
	} cases[] = {
		{ "nope", { NULL, NULL }, "unknown builtin \"nope\"" },
		{ "noop", { "text", "x" }, "builtin noop has no param \"text\"" },
		{ "sleep", { "duration", "5 parsecs" }, "invalid duration" },
		{ "fail", { "times", "-1" }, "param times" },
		{ "fail", { "times", "3x" }, "param times" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct weftd_stage st = { .name = "s", .action = WEFTD_ACTION_BUILTIN,
					  .builtin = cases[i].builtin, .params = &cases[i].p,
					  .nparams = cases[i].p.key ? 1 : 0 };
		struct weftd_actor *a = (void *)1;
		char err[256];
		assert_int_equal(weftd_actor_new(&st, &a, err, sizeof(err)), -EINVAL);
		assert_ptr_equal(a, (void *)1); /* untouched */
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
	}
}

/* one actor, many fibers at once (across procs) */
struct many {
	struct weftd_actor *a;
	weft_wg wg;
	atomic_int ok;
};

static void many_one(void *arg)
{
	struct many *m = arg;
	char in[32];
	int n = snprintf(in, sizeof(in), "job-%d", weft_proc_id());
	struct weftd_attempt at = { .in = in, .in_len = (size_t)n, .attempt = 1 };
	if (weftd_actor_run(m->a, &at) == 0 && at.out_len == (size_t)n &&
	    strncmp(at.out, "JOB-", 4) == 0)
		atomic_fetch_add(&m->ok, 1);
	free(at.out);
	free(at.log);
	weft_wg_done(&m->wg);
}

static void many_main(void *arg)
{
	struct many *m = arg;
	int n = TEST_SCALE(200);
	weft_wg_init(&m->wg);
	weft_wg_add(&m->wg, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(weft_go(many_one, m), 0);
	assert_int_equal(weft_wg_wait(NULL, &m->wg), 0);
}

static void test_concurrent_runs(void **state)
{
	struct weftd_stage st = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "upper" };
	struct many m = { .a = actor_ok(&st) };
	struct weft_opts o = { .procs = g_procs };

	assert_int_equal(weft_run(many_main, &m, &o), 0);
	assert_int_equal(atomic_load(&m.ok), TEST_SCALE(200));
	weftd_actor_free(m.a);
}

/* outside a fiber: a clear refusal */
static void test_run_outside(void **state)
{
	struct weftd_stage st = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "noop" };
	struct weftd_actor *a = actor_ok(&st);
	struct weftd_attempt at = { .in = "x", .in_len = 1 };
	assert_int_equal(weftd_actor_run(a, &at), -EPERM);
	assert_null(at.out);
	weftd_actor_free(a);
}

#define BOTH(t) cmocka_unit_test_prestate_setup_teardown(t, set_procs, NULL, (void *)1), \
		cmocka_unit_test_prestate_setup_teardown(t, set_procs, NULL, (void *)2)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_outside),
		cmocka_unit_test(test_builtin_config_errors),
		BOTH(test_builtins),
		BOTH(test_noop_moves_input),
		BOTH(test_sha256_large),
		BOTH(test_sleep_beats),
		BOTH(test_sleep_ctx),
		BOTH(test_concurrent_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
