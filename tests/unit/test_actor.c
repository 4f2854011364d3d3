/* SPDX-License-Identifier: MIT */
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
#include <sys/stat.h>
#include <unistd.h>
#include <weft/weft.h>

#include "actions/action.h"
#include "actions/actor.h"
#include "testutil.h"


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
	int n;
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
	int n = m->n;
	weft_wg_init(&m->wg);
	weft_wg_add(&m->wg, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(weft_go(many_one, m), 0);
	assert_int_equal(weft_wg_wait(NULL, &m->wg), 0);
}

static void test_concurrent_runs(void **state)
{
	struct weftd_stage st = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "upper" };
	struct many m = { .a = actor_ok(&st), .n = TEST_SCALE(200) };
	struct weft_opts o = { .procs = g_procs };

	assert_int_equal(weft_run(many_main, &m, &o), 0);
	assert_int_equal(atomic_load(&m.ok), m.n);
	weftd_actor_free(m.a);
}


/* ---- the ops tables and the attempt helpers ---- */
static void test_action_ops(void **state)
{
	static const struct {
		const struct weftd_action_ops *ops;
		const char *name;
	} tables[] = {
		{ &weftd_action_exec, "exec" },
		{ &weftd_action_builtin, "builtin" },
		{ &weftd_action_plugin, "plugin" },
	};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		const struct weftd_action_ops *o = tables[i].ops;
		assert_string_equal(o->name, tables[i].name);
		assert_non_null(o->init);
		assert_non_null(o->run);
		assert_non_null(o->done);
		o->done(NULL); /* a destructor takes NULL */
	}
	/* instant: asked of the action, once, when the actor is made */
	struct weftd_stage noop = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "noop" };
	struct weftd_stage upper = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "upper" };
	struct weftd_stage cat = { .name = "x", .action = WEFTD_ACTION_EXEC, .argv = (const char *const[]){ "cat", NULL },
				   .argc = 1 };
	struct weftd_actor *a = actor_ok(&noop), *b = actor_ok(&upper), *c = actor_ok(&cat);
	assert_true(weftd_actor_instant(a));
	assert_false(weftd_actor_instant(b));
	assert_false(weftd_actor_instant(c));
	assert_false(weftd_actor_instant(NULL));
	assert_null(weftd_actor_free(a));
	assert_null(weftd_actor_free(b));
	assert_null(weftd_actor_free(c));
	assert_null(weftd_actor_free(NULL));
}

static void test_unknown_action(void **state)
{
	struct weftd_stage st = { .name = "s", .action = (enum weftd_action)7 };
	struct weftd_actor *a = (void *)1;
	char err[256];

	assert_int_equal(weftd_actor_new(&st, &a, err, sizeof(err)), -EINVAL);
	assert_ptr_equal(a, (void *)1);
	assert_non_null(strstr(err, "unknown stage action 7"));
	assert_int_equal(weftd_actor_new(NULL, &a, err, sizeof(err)), -EINVAL);
}

static void test_attempt_helpers(void **state)
{
	char *in = strdup("abc"), big[3 * WEFTD_ACTOR_LOG_TAIL];
	struct weftd_attempt at = { .in = in, .in_len = 3, .in_movable = true };

	/* a copy unless the very input is handed on */
	assert_int_equal(weftd_attempt_output(&at, "xy", 2), 0);
	assert_string_equal(at.out, "xy");
	assert_true(at.in_movable);
	free(at.out);
	assert_int_equal(weftd_attempt_output(&at, in, 3), 0);
	assert_ptr_equal(at.out, in); /* moved: no allocation */
	assert_false(at.in_movable);
	/* a new buffer replaces the output, NUL after it */
	char *p = weftd_attempt_output_buffer(&at, 4); /* frees in (the moved output) */
	assert_non_null(p);
	assert_ptr_equal(at.out, p);
	assert_int_equal(at.out_len, 4);
	assert_int_equal(p[4], '\0');
	free(at.out);
	/* the log keeps the last LOG_TAIL bytes */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	weftd_attempt_log(&at, big, sizeof(big));
	assert_int_equal(at.log_len, WEFTD_ACTOR_LOG_TAIL);
	assert_memory_equal(at.log, big + sizeof(big) - WEFTD_ACTOR_LOG_TAIL, WEFTD_ACTOR_LOG_TAIL);
	assert_int_equal(at.log[WEFTD_ACTOR_LOG_TAIL], '\0');
	free(at.log);
	weftd_attempt_reset(&at);
	weftd_attempt_log(&at, big, 0);
	assert_null(at.log);
	/* error texts */
	assert_int_equal(weftd_attempt_ctx_fail(&at, -ETIMEDOUT, 10 * WEFTD_NSEC_PER_SEC), -ETIMEDOUT);
	assert_string_equal(at.error, "timed out after 10s");
	assert_int_equal(weftd_attempt_ctx_fail(&at, -ETIMEDOUT, 0), -ETIMEDOUT);
	assert_string_equal(at.error, "timed out");
	assert_int_equal(weftd_attempt_ctx_fail(&at, -ECANCELED, 0), -ECANCELED);
	assert_string_equal(at.error, "canceled");
	assert_int_equal(weftd_attempt_fail(&at, -EIO, "exit status %d", 3), -EIO);
	assert_string_equal(at.error, "exit status 3");
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


/* ---- exec ---- */
#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NARGS(...) (sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static struct weftd_stage exec_stage(const char *const *argv, size_t argc)
{
	return (struct weftd_stage){ .name = "x", .action = WEFTD_ACTION_EXEC, .argv = argv,
				     .argc = argc, .kill_grace_ns = WEFT_SEC };
}

struct exec_case {
	const char *const *argv;
	size_t argc;
	const char *in;
	size_t in_len;            /* 0 with in = NULL; else strlen(in) when 0 */
	int r;
	const char *out;          /* when r == 0 */
	const char *error;        /* when r < 0 */
	const char *log;          /* exact stderr tail, or NULL for none */
};

#define X(...) .argv = ARGV(__VA_ARGS__), .argc = NARGS(__VA_ARGS__)
static const struct exec_case exec_cases[] = {
	{ X("tr", "a-z", "A-Z"), "hello, world", 0, 0, "HELLO, WORLD", NULL, NULL },
	{ X("/bin/cat"), NULL, 0, 0, "", NULL, NULL },
	{ X("sh", "-c", "exit 3"), "x", 0, -EIO, NULL, "exit status 3", NULL },
	{ X("sh", "-c", "echo oops >&2; exit 1"), "x", 0, -EIO, NULL, "exit status 1", "oops\n" },
	{ X("sh", "-c", "echo partial; kill -9 $$"), "x", 0, -EIO, NULL, "killed by signal 9", NULL },
	{ X("sh", "-c", "echo out; echo err >&2"), NULL, 0, 0, "out\n", NULL, "err\n" },
	/* exits without reading a big input: the writer's EPIPE is no failure */
	{ X("true"), NULL, 1u << 20, 0, "", NULL, NULL },
	/* the exit status still wins over an unread input */
	{ X("false"), NULL, 1u << 20, -EIO, NULL, "exit status 1", NULL },
};

static void test_exec_cases(void **state)
{
	char *big = calloc(1, 1u << 20);

	for (size_t i = 0; i < sizeof(exec_cases) / sizeof(exec_cases[0]); i++) {
		const struct exec_case *c = &exec_cases[i];
		struct weftd_stage st = exec_stage(c->argv, c->argc);
		struct job j = { .a = actor_ok(&st), .in = c->in ? c->in : big,
				 .in_len = c->in ? strlen(c->in) : c->in_len,
				 .timeout_ns = 20 * WEFT_SEC };
		run_job(&j);
		if (j.r != c->r)
			fail_msg("case %zu (%s): r %d, want %d (%s)", i, c->argv[c->argc - 1], j.r,
				 c->r, j.at.error);
		if (c->r == 0) {
			assert_non_null(j.at.out);
			assert_int_equal(j.at.out_len, strlen(c->out));
			assert_memory_equal(j.at.out, c->out, j.at.out_len);
		} else {
			assert_null(j.at.out);
			assert_string_equal(j.at.error, c->error);
		}
		if (c->log) {
			assert_non_null(j.at.log);
			assert_int_equal(j.at.log_len, strlen(c->log));
			assert_string_equal(j.at.log, c->log);
		} else {
			assert_null(j.at.log);
		}
		job_done(&j);
		weftd_actor_free(j.a);
	}
	free(big);
}

/* only the last 4 KiB of stderr are kept */
static void test_exec_stderr_tail(void **state)
{
	struct weftd_stage st = exec_stage(ARGV("sh", "-c",
		"head -c 10000 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 2"), 3);
	struct job j = { .a = actor_ok(&st), .in = "", .in_len = 0 };

	run_job(&j);
	assert_int_equal(j.r, -EIO);
	assert_string_equal(j.at.error, "exit status 2");
	assert_int_equal(j.at.log_len, WEFTD_ACTOR_LOG_TAIL);
	assert_int_equal(strlen(j.at.log), WEFTD_ACTOR_LOG_TAIL);
	assert_string_equal(j.at.log + WEFTD_ACTOR_LOG_TAIL - 5, "xEND\n");
	assert_int_equal(j.at.log[0], 'x');
	job_done(&j);
	weftd_actor_free(j.a);
}

/* 2 MiB in and out of cat: stdin and stdout flow at once, no deadlock */
static void test_exec_large(void **state)
{
	struct weftd_stage st = exec_stage(ARGV("cat"), 1);
	size_t n = 2u << 20;
	char *buf = malloc(n);

	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 7 + (i >> 11));
	struct job j = { .a = actor_ok(&st), .in = buf, .in_len = n, .timeout_ns = 30 * WEFT_SEC };
	run_job(&j);
	assert_int_equal(j.r, 0);
	assert_int_equal(j.at.out_len, n);
	assert_memory_equal(j.at.out, buf, n);
	job_done(&j);
	weftd_actor_free(j.a);
	free(buf);
}

/* stdout beyond 64 MiB is an error, and the child is stopped */
static void test_exec_output_limit(void **state)
{
	struct weftd_stage st = exec_stage(ARGV("head", "-c", "70M", "/dev/zero"), 4);
	struct job j = { .a = actor_ok(&st), .timeout_ns = 60 * WEFT_SEC };

	run_job(&j);
	assert_int_equal(j.r, -EFBIG);
	assert_string_equal(j.at.error, "output exceeds the stage's max_output of 67108864 bytes");
	assert_null(j.at.out);
	job_done(&j);
	weftd_actor_free(j.a);
}

/* a stage's own max_output, for exec (which stops reading there) and for a builtin */
static void test_stage_max_output(void **state)
{
	struct weftd_stage st = exec_stage(ARGV("head", "-c", "5000", "/dev/zero"), 1);
	st.max_output = 4096;
	struct job j = { .a = actor_ok(&st), .timeout_ns = 30 * WEFT_SEC };
	run_job(&j);
	assert_int_equal(j.r, -EFBIG);
	assert_string_equal(j.at.error, "output exceeds the stage's max_output of 4096 bytes");
	assert_null(j.at.out);
	job_done(&j);
	weftd_actor_free(j.a);
	struct weftd_stage up = { .name = "s", .action = WEFTD_ACTION_BUILTIN, .builtin = "upper",
				  .max_output = 3 };
	struct job k = { .a = actor_ok(&up), .in = "abcd", .in_len = 4 };
	run_job(&k);
	assert_int_equal(k.r, -EFBIG);
	assert_string_equal(k.at.error, "output of 4 bytes exceeds the stage's max_output of 3 bytes");
	assert_null(k.at.out);
	job_done(&k);
	weftd_actor_free(k.a);
	up.max_output = 4; /* at the limit is fine */
	struct job m = { .a = actor_ok(&up), .in = "abcd", .in_len = 4 };
	run_job(&m);
	assert_int_equal(m.r, 0);
	assert_memory_equal(m.at.out, "ABCD", 4);
	job_done(&m);
	weftd_actor_free(m.a);
}

/* pids written by the child to stderr ("pid [pid...]") */
static int log_pids(const struct job *j, pid_t *pids, int max)
{
	int n = 0;
	const char *p = j->at.log;
	char *end;

	while (p && n < max) {
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		pids[n++] = (pid_t)v;
		p = end;
	}
	return n;
}

/* gone: no such process, or (reparented, not yet reaped by init) a zombie */
static bool process_gone(pid_t pid, bool allow_zombie)
{
	char path[64], buf[256];
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	if (!allow_zombie)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] == 'Z';
}

/* the stage timeout: SIGTERM stops the child at once, it is reaped */
static void test_exec_timeout(void **state)
{
	struct weftd_stage st = exec_stage(ARGV("sh", "-c", "echo $$ >&2; exec sleep 30"), 3);
	st.timeout_ns = 200 * WEFT_MSEC;
	struct job j = { .a = actor_ok(&st), .timeout_ns = 200 * WEFT_MSEC };
	pid_t pid = 0;

	run_job(&j);
	assert_int_equal(j.r, -ETIMEDOUT);
	assert_string_equal(j.at.error, "timed out after 200ms");
	assert_true(j.elapsed_ns >= 200 * WEFT_MSEC);
	assert_true(j.elapsed_ns < 200 * WEFT_MSEC + (int64_t)st.kill_grace_ns); /* TERM sufficed */
	assert_int_equal(log_pids(&j, &pid, 1), 1);
	assert_true(process_gone(pid, false));
	job_done(&j);
	weftd_actor_free(j.a);
}

/* cancel mid-run */
static void test_exec_cancel(void **state)
{
	struct weftd_stage st = exec_stage(ARGV("sh", "-c", "echo $$ >&2; sleep 30"), 3);
	struct job j = { .a = actor_ok(&st), .cancel_after_ns = 150 * WEFT_MSEC };
	pid_t pid = 0;

	run_job(&j);
	assert_int_equal(j.r, -ECANCELED);
	assert_string_equal(j.at.error, "canceled");
	assert_true(j.elapsed_ns < 150 * WEFT_MSEC + (int64_t)st.kill_grace_ns);
	assert_int_equal(log_pids(&j, &pid, 1), 1);
	assert_true(process_gone(pid, false));
	job_done(&j);
	weftd_actor_free(j.a);
}

/* a child that ignores SIGTERM gets SIGKILL after kill_grace, with its group */
static void test_exec_kill_after_grace(void **state)
{
	struct weftd_stage st = exec_stage(ARGV("sh", "-c",
		"trap '' TERM; sleep 30 & echo $$ $! >&2; wait"), 3);
	st.timeout_ns = 100 * WEFT_MSEC;
	st.kill_grace_ns = 300 * WEFT_MSEC;
	struct job j = { .a = actor_ok(&st), .timeout_ns = 100 * WEFT_MSEC };
	pid_t pids[2];

	run_job(&j);
	assert_int_equal(j.r, -ETIMEDOUT);
	assert_string_equal(j.at.error, "timed out after 100ms");
	assert_true(j.elapsed_ns >= 400 * WEFT_MSEC);          /* waited the grace */
	assert_true(j.elapsed_ns < 400 * WEFT_MSEC + 2 * WEFT_SEC);
	assert_int_equal(log_pids(&j, pids, 2), 2);
	assert_true(process_gone(pids[0], false));
	for (int i = 0; i < 100 && !process_gone(pids[1], true); i++)
		usleep(10000);
	assert_true(process_gone(pids[1], true)); /* the group's other member too */
	job_done(&j);
	weftd_actor_free(j.a);
}

/* argv[0] is checked once, at actor_new */
static void test_exec_config_errors(void **state)
{
	static const struct {
		const char *argv0;
		int r;
		const char *msg;
	} cases[] = {
		{ "/nonexistent/weft-cmd", -ENOENT, "no such file" },
		{ "weft-no-such-command", -ENOENT, "not found in PATH" },
		{ "/etc/passwd", -EACCES, "not an executable file" },
		{ "/bin", -EACCES, "not an executable file" },
		{ "", -EINVAL, "empty argv" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { cases[i].argv0, NULL };
		struct weftd_stage st = exec_stage(argv, 1);
		struct weftd_actor *a = NULL;
		char err[256];
		assert_int_equal(weftd_actor_new(&st, &a, err, sizeof(err)), cases[i].r);
		assert_null(a);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
	}
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

struct leak {
	struct weftd_actor *ok, *fail, *slow;
	int before, after, failures;
	int children; /* waitid(P_ALL) after: -ECHILD = none left */
};

static void leak_main(void *arg)
{
	struct leak *l = arg;
	siginfo_t si;

	l->before = count_fds();
	for (int i = 0; i < 100; i++) {
		struct weftd_actor *a = i % 10 == 9 ? l->slow : i % 2 ? l->fail : l->ok;
		weft_ctx *ctx;
		weft_ctx_with_timeout(NULL, a == l->slow ? 20 * WEFT_MSEC : 20 * WEFT_SEC, &ctx);
		struct weftd_attempt at = { .ctx = ctx, .in = "abc", .in_len = 3, .attempt = 1 };
		int r = weftd_actor_run(a, &at);
		if ((a == l->ok) != (r == 0))
			l->failures++;
		free(at.out);
		free(at.log);
		weft_ctx_unref(ctx);
	}
	l->after = count_fds();
	l->children = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ? -errno : 0;
}

/* 100 runs (successes, failures, timeouts): no fd left open, no zombie */
static void test_exec_no_leaks(void **state)
{
	struct weftd_stage s1 = exec_stage(ARGV("cat"), 1);
	struct weftd_stage s2 = exec_stage(ARGV("sh", "-c", "cat; echo e >&2; exit 1"), 3);
	struct weftd_stage s3 = exec_stage(ARGV("sleep", "5"), 2);
	struct leak l = { .ok = actor_ok(&s1), .fail = actor_ok(&s2), .slow = actor_ok(&s3) };
	struct weft_opts o = { .procs = g_procs };

	assert_int_equal(weft_run(leak_main, &l, &o), 0);
	assert_int_equal(l.failures, 0);
	assert_int_equal(l.after, l.before);
	assert_int_equal(l.children, -ECHILD);
	weftd_actor_free(l.ok);
	weftd_actor_free(l.fail);
	weftd_actor_free(l.slow);
}

/* the program went away after the actor was made: spawn's error, nothing left open */
struct gone {
	struct weftd_actor *a;
	int before, after, r;
	char error[256];
};

static void gone_main(void *arg)
{
	struct gone *g = arg;
	struct weftd_attempt at = { .in = "abc", .in_len = 3, .attempt = 1 };

	g->before = count_fds();
	g->r = weftd_actor_run(g->a, &at);
	g->after = count_fds();
	snprintf(g->error, sizeof(g->error), "%s", at.error);
	assert_null(at.out);
	assert_null(at.log);
}

static void test_exec_spawn_fails(void **state)
{
	char dir[] = "/tmp/weftd-test-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/prog", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\ncat\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	struct weftd_stage st = exec_stage(ARGV(path), 1);
	struct gone g = { .a = actor_ok(&st) };
	struct weft_opts o = { .procs = g_procs };

	unlink(path);
	rmdir(dir);
	assert_int_equal(weft_run(gone_main, &g, &o), 0);
	assert_int_equal(g.r, -ENOENT);
	if (!strstr(g.error, "spawn ") || !strstr(g.error, "No such file"))
		fail_msg("error \"%s\"", g.error);
	assert_int_equal(g.after, g.before);
	weftd_actor_free(g.a);
}

static void test_exec_concurrent(void **state)
{
	struct weftd_stage st = exec_stage(ARGV("tr", "a-z", "A-Z"), 3);
	struct many m = { .a = actor_ok(&st), .n = 24 };
	struct weft_opts o = { .procs = g_procs };

	assert_int_equal(weft_run(many_main, &m, &o), 0);
	assert_int_equal(atomic_load(&m.ok), m.n);
	weftd_actor_free(m.a);
}

/* ---- plugins ---- */
/* PLUGINDIR, else <build>/plugins next to <build>/tests/test_actor; the test
 * plugins are in <build>/tests/plugins. */
static void plugin_path(char *buf, size_t size, bool test_plugin, const char *file)
{
	char exe[PATH_MAX];
	const char *env = getenv("PLUGINDIR");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0'; /* <build>/tests */
	int m;
	if (test_plugin)
		m = snprintf(buf, size, "%s/plugins/%s", exe, file);
	else if (env && *env)
		m = snprintf(buf, size, "%s/%s", env, file);
	else
		m = snprintf(buf, size, "%.*s/plugins/%s", (int)(strrchr(exe, '/') - exe), exe, file);
	assert_true(m > 0 && (size_t)m < size);
}

static struct weftd_stage plugin_stage(const char *path, const char *sym,
				       const struct weftd_param *ps, size_t nps)
{
	return (struct weftd_stage){ .name = "p", .action = WEFTD_ACTION_PLUGIN, .plugin_path = path,
				     .plugin_symbol = sym, .params = ps, .nparams = nps,
				     .timeout_ns = 100 * WEFT_MSEC };
}

/* the default symbol (reverse), across yields on a big payload */
static void test_plugin_reverse(void **state)
{
	char path[PATH_MAX];
	size_t n = 300000;
	char *in = malloc(n);

	plugin_path(path, sizeof(path), false, "example.so");
	struct weftd_stage st = plugin_stage(path, NULL, NULL, 0);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	struct job j = { .a = actor_ok(&st), .in = "abc", .in_len = 3 };
	run_job(&j);
	assert_int_equal(j.r, 0);
	assert_string_equal(j.at.out, "cba");
	job_done(&j);
	j = (struct job){ .a = j.a, .in = in, .in_len = n };
	run_job(&j);
	assert_int_equal(j.r, 0);
	assert_int_equal(j.at.out_len, n);
	for (size_t i = 0; i < n; i++)
		if (j.at.out[i] != in[n - 1 - i])
			fail_msg("byte %zu", i);
	assert_true(atomic_load(&j.beats) >= 4); /* beats at each 64 KiB pause */
	job_done(&j);
	weftd_actor_free(j.a);
	free(in);
}

/* params, weft_sleep inside the plugin, set_error, ctx errors */
static void test_plugin_count(void **state)
{
	static const struct weftd_param ps[] = { P("delay", "30ms"), P("max", "5") };
	static const struct weftd_param slow[] = { P("delay", "10s") };
	char path[PATH_MAX];

	plugin_path(path, sizeof(path), false, "example.so");
	struct weftd_stage st = plugin_stage(path, "example_count", ps, 2);
	struct job j = { .a = actor_ok(&st), .in = "abcd", .in_len = 4 };
	run_job(&j);
	assert_int_equal(j.r, 0);
	assert_string_equal(j.at.out, "4");
	assert_true(j.elapsed_ns >= 30 * WEFT_MSEC);
	job_done(&j);
	j = (struct job){ .a = j.a, .in = "abcdefgh", .in_len = 8 };
	run_job(&j);
	assert_int_equal(j.r, -EMSGSIZE);
	assert_string_equal(j.at.error, "input of 8 bytes is over max 5");
	assert_null(j.at.out);
	weftd_actor_free(j.a);

	st = plugin_stage(path, "example_count", slow, 1);
	j = (struct job){ .a = actor_ok(&st), .in = "x", .in_len = 1, .timeout_ns = 100 * WEFT_MSEC };
	run_job(&j);
	assert_int_equal(j.r, -ETIMEDOUT);
	assert_string_equal(j.at.error, "timed out after 100ms");
	j = (struct job){ .a = j.a, .in = "x", .in_len = 1, .cancel_after_ns = 20 * WEFT_MSEC };
	run_job(&j);
	assert_int_equal(j.r, -ECANCELED);
	assert_string_equal(j.at.error, "canceled");
	assert_true(j.elapsed_ns < 5 * WEFT_SEC);
	weftd_actor_free(j.a);
}

/* the symbol named in the config, and its params */
static void test_plugin_symbol(void **state)
{
	static const struct weftd_param ps[] = { P("greeting", "hi") };
	char path[PATH_MAX];

	plugin_path(path, sizeof(path), false, "example.so");
	struct weftd_stage st = plugin_stage(path, "example_stage", ps, 1);
	struct job j = { .a = actor_ok(&st), .in = "bob", .in_len = 3 };
	run_job(&j);
	assert_int_equal(j.r, 0);
	assert_string_equal(j.at.out, "hi, bob");
	job_done(&j);
	weftd_actor_free(j.a);
}

/* refused at load: wrong ABI, no ABI symbol, no stage symbol, no file */
static void test_plugin_load_errors(void **state)
{
	static const struct {
		bool test_plugin;
		const char *file, *sym;
		int r;
		const char *msg;
	} cases[] = {
		{ true, "bad_abi.so", NULL, -EINVAL, "ABI 1001, weftd speaks ABI 1" },
		{ true, "no_abi.so", NULL, -EINVAL, "not a weftd plugin" },
		{ false, "example.so", "no_such_stage", -ENOENT, "no symbol \"no_such_stage\"" },
		{ false, "no-such-plugin.so", NULL, -ENOENT, "No such file" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[PATH_MAX], err[256];
		struct weftd_actor *a = NULL;
		plugin_path(path, sizeof(path), cases[i].test_plugin, cases[i].file);
		struct weftd_stage st = plugin_stage(path, cases[i].sym, NULL, 0);
		assert_int_equal(weftd_actor_new(&st, &a, err, sizeof(err)), cases[i].r);
		assert_null(a);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_action_ops),
		cmocka_unit_test(test_unknown_action),
		cmocka_unit_test(test_attempt_helpers),
		cmocka_unit_test(test_run_outside),
		cmocka_unit_test(test_builtin_config_errors),
		BOTH(test_builtins),
		BOTH(test_noop_moves_input),
		BOTH(test_sha256_large),
		BOTH(test_sleep_beats),
		BOTH(test_sleep_ctx),
		BOTH(test_concurrent_runs),
		cmocka_unit_test(test_exec_config_errors),
		BOTH(test_exec_cases),
		BOTH(test_exec_stderr_tail),
		BOTH(test_exec_large),
		BOTH(test_exec_output_limit),
		BOTH(test_stage_max_output),
		BOTH(test_exec_timeout),
		BOTH(test_exec_cancel),
		BOTH(test_exec_kill_after_grace),
		BOTH(test_exec_no_leaks),
		BOTH(test_exec_spawn_fails),
		BOTH(test_exec_concurrent),
		cmocka_unit_test(test_plugin_load_errors),
		BOTH(test_plugin_reverse),
		BOTH(test_plugin_count),
		BOTH(test_plugin_symbol),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
