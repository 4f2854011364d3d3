/* SPDX-License-Identifier: MIT */
/* test_exec_orphans.c — what an exec attempt tells the keeper and the orphan sweep
 * (daemon/actions/exec.c with keeper.c and orphans.c), without starting weftd:
 *   - the attempt registers its child with the keeper: a stand-in daemon running an exec
 *     attempt is killed with SIGKILL, and the keeper kills the child (test_keeper checks
 *     the keeper alone, with groups registered by hand);
 *   - after the attempt, the sweep kills and reaps a child that escaped to another
 *     session, reaps a group member that kill_group_on_exit killed, and leaves alone one
 *     that kill_group_on_exit: false lets run on;
 *   - the attempt counts its leader while it lives (weftd_orphans_leader): a sweep that
 *     finds only running exec leaders examines none of them.
 * This process is a child subreaper (weftd_orphans_init, as weftd is), so what the
 * attempts and the stand-in leave is reparented to it and reaped here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <weft/weft.h>

#include "actions/actor.h"
#include "actions/keeper.h"
#include "actions/orphans.h"
#include "testutil.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- out of memory, for the stdout buffer ----
 * This program's realloc refuses to grow a block past g_realloc_max bytes (0: no limit),
 * as a full address space would: exec's stdout buffer grows by realloc. Plain builds
 * only: the sanitizers bring their own allocator (the test says it skips there). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REALLOC_HOOK 0
#else
#define REALLOC_HOOK 1
static _Atomic size_t g_realloc_max;
extern void *__libc_realloc(void *p, size_t n);

void *realloc(void *p, size_t n)
{
	size_t max = atomic_load(&g_realloc_max);
	if (max && n > max) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}

/* And calloc fails the g_calloc_fail-th call from now (0: none) on the thread that armed
 * it (t_armed): exec's first two are its run state and its I/O context. */
static _Thread_local int t_calloc_fail;
extern void *__libc_calloc(size_t n, size_t size);

void *calloc(size_t n, size_t size)
{
	if (t_calloc_fail > 0 && --t_calloc_fail == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}
#endif
#define NARGS(...) (sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static char g_dir[64];

/* ---- running one attempt ---- */

struct job {
	const char *const *argv;
	size_t argc;
	bool kill_group;             /* the stage's kill_group_on_exit */
	uint64_t max_output;         /* the stage's (0: its default) */
	struct weftd_keeper *keeper;
	int64_t timeout_ns;          /* the attempt's ctx times out then (0: never) */
	const char *in;              /* its stdin (NULL: none) */
	weft_ctx *parent;            /* the attempt's ctx is a child of this one (NULL: none) */
	weft_ctx *cancel;            /* while the attempt runs: cancel it with this */
	int r;
	struct weftd_attempt at;
};

static struct weftd_stage stage_of(const struct job *j)
{
	return (struct weftd_stage){ .name = "x", .action = WEFTD_ACTION_EXEC, .argv = j->argv,
				     .argc = j->argc, .kill_grace_ns = WEFT_SEC,
				     .kill_group_on_exit = j->kill_group, .max_output = j->max_output };
}

/* Run j's attempt on this fiber (cancellable through j->cancel). 0, or -1 when the actor
 * could not be made (j->at.error says why). */
static int run_attempt(struct job *j)
{
	struct weftd_stage st = stage_of(j);
	struct weftd_actor *a = NULL;
	weft_ctx *ctx = NULL;
	if (weftd_actor_new(&st, &a, j->at.error, sizeof(j->at.error)) < 0)
		return -1;
	if ((j->timeout_ns ? weft_ctx_with_timeout(j->parent, j->timeout_ns, &ctx)
			   : weft_ctx_with_cancel(j->parent, &ctx)) < 0) {
		weftd_actor_free(a);
		return -1;
	}
	j->at = (struct weftd_attempt){ .ctx = ctx, .job_id = "j1", .pipeline = "p", .attempt = 1,
					.in = j->in ? j->in : "", .in_len = j->in ? strlen(j->in) : 0,
					.keeper = j->keeper };
	j->cancel = weft_ctx_ref(ctx);
	j->r = weftd_actor_run(a, &j->at);
	weft_ctx_unref(j->cancel); /* in the scheduler: a timer's ctx ends there */
	weft_ctx_unref(ctx);
	weftd_actor_free(a);
	return 0;
}

static void attempt_fiber(void *arg)
{
	struct job *j = arg;
	assert_int_equal(run_attempt(j), 0);
}

static void run_job(struct job *j)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(attempt_fiber, j, &o), 0);
}

static void job_done(struct job *j)
{
	free(j->at.out);
	free(j->at.log);
}

/* ---- processes ---- */

static bool alive(pid_t pid)
{
	return kill(pid, 0) == 0;
}

/* Is pid a zombie (ended, not reaped)? */
static bool zombie(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] == 'Z';
}

/* Reap pid (ours, or reparented to us), which must end within 10 s; its status. A process
 * still running then was never going to be killed: kill it and fail, not hang. */
static int reap_soon(pid_t pid)
{
	for (int i = 0; i < 10000; i++) {
		int st = 0;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		assert_true(r == 0 || errno == EINTR);
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fail_msg("process %d was not killed", (int)pid);
	return 0;
}

/* The pid an attempt printed on its stdout. */
static pid_t out_pid(const struct job *j)
{
	assert_int_equal(j->r, 0);
	assert_non_null(j->at.out);
	pid_t pid = (pid_t)atol(j->at.out);
	assert_true(pid > 1);
	return pid;
}

/* The pid in file path once the child wrote it (wait for the state; 20 s at most). */
static pid_t wait_pid_file(const char *path)
{
	for (int i = 0; i < 20000; i++) {
		char buf[32] = "";
		FILE *f = fopen(path, "r");
		if (f) {
			bool whole = fgets(buf, sizeof(buf), f) && strchr(buf, '\n');
			fclose(f);
			if (whole)
				return (pid_t)atol(buf);
		}
		usleep(1000);
	}
	fail_msg("no pid in %s", path);
	return 0;
}

/* ---- the keeper: the attempt registers its child ---- */

static void stand_in_fiber(void *arg)
{
	(void)run_attempt(arg);
}

/* The stand-in daemon: starts the keeper (before any thread, as weftd does), then runs an
 * exec attempt whose child writes its pid to pidfile and sleeps; the test SIGKILLs the
 * stand-in meanwhile. Runs in a fork of this process, before it ran any fiber. The child
 * first reads its input, which the attempt writes only once the child is registered: a
 * child killed between its spawn and its registration escapes (keeper.h). */
static void stand_in(const char *pidfile)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "read x; echo $$ > %s && exec sleep 60", pidfile);
	struct job j = { .argv = ARGV("sh", "-c", cmd), .argc = 3, .in = "go\n" };
	if (weftd_keeper_start(&j.keeper) < 0)
		_exit(2);
	struct weft_opts o = { .procs = 1 };
	weft_run(stand_in_fiber, &j, &o);
	_exit(3); /* the attempt ended: it should have been killed first */
}

/* A daemon killed with SIGKILL while an exec attempt runs: the keeper kills the child the
 * attempt registered (the keeper is reparented to this subreaper, and the child too). */
static void test_keeper_kills_registered_child(void **state)
{
	char pidfile[128];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", g_dir);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	pid_t d = fork();
	assert_true(d >= 0);
	if (d == 0)
		stand_in(pidfile);
	pid_t child = wait_pid_file(pidfile);
	assert_int_equal(kill(d, SIGKILL), 0);
	int st;
	assert_int_equal(waitpid(d, &st, 0), d);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	st = reap_soon(child); /* killed by the keeper, reparented to us */
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	/* the keeper exits once its kills are done; it is ours now: reap it */
	pid_t k;
	while ((k = waitpid(-1, &st, 0)) > 0)
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(errno, ECHILD);
}

/* ---- the sweep after an attempt ---- */

/* A child that left for another session (setsid) is out of the group's SIGKILL: the sweep
 * after the attempt kills it and reaps it, whatever kill_group_on_exit says. */
static void test_sweep_kills_escapee(void **state)
{
	char cmd[512];
	/* the leader ends once the child is in its new session (it wrote its pid) */
	snprintf(cmd, sizeof(cmd), "setsid sh -c 'echo $$ > %s/e; exec sleep 60' </dev/null "
		 ">/dev/null 2>&1 & while [ ! -s %s/e ]; do sleep 0.01; done; cat %s/e; rm %s/e",
		 g_dir, g_dir, g_dir, g_dir);
	for (int kg = 0; kg < 2; kg++) {
		struct job j = { .argv = ARGV("sh", "-c", cmd), .argc = 3, .kill_group = kg };
		run_job(&j);
		pid_t pid = out_pid(&j);
		bool gone = !alive(pid);
		if (!gone) { /* the sweep missed it: clean up before failing */
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		assert_true(gone); /* killed and reaped: not even a zombie */
		job_done(&j);
	}
}

/* kill_group_on_exit: the attempt's group is killed when its leader ends, and the sweep
 * reaps what died (adopted by us): no zombie is left behind. */
static void test_sweep_reaps_killed_group(void **state)
{
	struct job j = { .argv = ARGV("sh", "-c", "sleep 60 </dev/null >/dev/null 2>&1 & echo $!"),
			 .argc = 3, .kill_group = true };
	run_job(&j);
	pid_t pid = out_pid(&j);
	bool gone = !alive(pid), z = !gone && zombie(pid);
	if (!gone) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	assert_false(z); /* killed, but left unreaped */
	assert_true(gone);
	job_done(&j);
}

/* kill_group_on_exit: false: what the job left in its group runs on; the sweep leaves it
 * alone (and reaps it once it exits: here, once we kill it, it is ours to reap). */
static void test_sweep_spares_group_leftover(void **state)
{
	struct job j = { .argv = ARGV("sh", "-c", "sleep 60 </dev/null >/dev/null 2>&1 & echo $!"),
			 .argc = 3, .kill_group = false };
	run_job(&j);
	pid_t pid = out_pid(&j);
	bool running = alive(pid) && !zombie(pid);
	kill(pid, SIGKILL);
	int st = reap_soon(pid);
	assert_true(running);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	job_done(&j);
}

/* ---- draining the pipes ---- */

/* The leader exits at once, but what it left in its group (kill_group_on_exit: false)
 * holds stdout and stderr open: the attempt waits for the pipes until its ctx ends (here:
 * cancelled once the leftover runs), then stops the group ("a grandchild holding them
 * open is stopped with the ctx"), waits for its pipe fibers and fails with the ctx's
 * error. */
struct drain {
	struct job j;
	pid_t pid;               /* the leftover */
};

static void drain_main(void *arg)
{
	struct drain *d = arg;
	char pidfile[128];
	static char cmd[512];
	snprintf(pidfile, sizeof(pidfile), "%s/left", g_dir);
	snprintf(cmd, sizeof(cmd), "sleep 60 & echo $! > %s", pidfile);
	weft_ctx *stop = NULL;
	assert_int_equal(weft_ctx_with_cancel(NULL, &stop), 0);
	d->j = (struct job){ .argv = ARGV("sh", "-c", cmd), .argc = 3, .kill_group = false,
			     .parent = stop };
	assert_int_equal(weft_go(attempt_fiber, &d->j), 0);
	for (int i = 0; i < 20000 && !d->pid; i++) {
		char buf[32] = "";
		FILE *f = fopen(pidfile, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f) && strchr(buf, '\n'))
				d->pid = (pid_t)atol(buf);
			fclose(f);
		}
		if (!d->pid)
			weft_sleep(NULL, WEFT_MSEC);
	}
	weft_ctx_cancel(stop);
	weft_ctx_unref(stop);
}

static void test_drain_held_pipes(void **state)
{
	struct drain d = { 0 };
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(drain_main, &d, &o), 0);
	assert_true(d.pid > 1);
	assert_int_equal(d.j.r, -ECANCELED);
	/* SIGKILLed: dead once the kernel has delivered it (5 s at most) */
	bool running = true;
	for (int i = 0; i < 5000 && (running = alive(d.pid) && !zombie(d.pid)); i++)
		usleep(1000);
	kill(d.pid, SIGKILL);       /* clean up: running (then fail), or a zombie left */
	waitpid(d.pid, NULL, 0);    /* (ECHILD: the sweep reaped it) */
	assert_false(running);      /* stopped with the ctx */
	job_done(&d.j);
}

/* ---- no memory for the output ---- */

/* The stdout buffer cannot grow: the attempt fails at once with -ENOMEM ("reading stdout")
 * and stops the child, which here would otherwise run on (it ignores the SIGPIPE of the
 * closed pipe and sleeps). */
static void test_stdout_enomem(void **state)
{
#if REALLOC_HOOK
	struct job j = { .argv = ARGV("sh", "-c", "trap '' PIPE; head -c 8000000 /dev/zero; exec sleep 30"),
			 .argc = 3, .kill_group = true, .max_output = 64u << 20,
			 .timeout_ns = 20 * WEFT_SEC };
	atomic_store(&g_realloc_max, (size_t)1 << 20);
	int64_t t0 = weft_now();
	run_job(&j);
	int64_t took = weft_now() - t0;
	atomic_store(&g_realloc_max, 0);
	assert_int_equal(j.r, -ENOMEM);
	assert_string_equal(j.at.error, "reading stdout: Cannot allocate memory");
	if (took > 10 * WEFT_SEC)
		fail_msg("the child was not stopped: %lld ms", (long long)(took / WEFT_MSEC));
	job_done(&j);
#else
	skip();
#endif
}

/* No memory for the attempt's I/O context (the second calloc of the run): the attempt
 * fails with -ENOMEM, spawns nothing and frees what it had allocated (the heap in use is
 * what it was before). One proc: the run stays on the thread that armed the failure. */
#if REALLOC_HOOK
static void ctx_enomem_fiber(void *arg)
{
	struct job *j = arg;
	struct weftd_stage st = stage_of(j);
	struct weftd_actor *a = NULL;
	weft_ctx *ctx = NULL;
	assert_int_equal(weftd_actor_new(&st, &a, j->at.error, sizeof(j->at.error)), 0);
	assert_int_equal(weft_ctx_with_cancel(NULL, &ctx), 0);
	j->at = (struct weftd_attempt){ .ctx = ctx, .job_id = "j1", .pipeline = "p", .attempt = 1,
					.in = "", .in_len = 0 };
	for (int round = 0; round < 2; round++) { /* the first warms whatever caches */
		size_t before = mallinfo2().uordblks;
		t_calloc_fail = 2;
		j->r = weftd_actor_run(a, &j->at);
		t_calloc_fail = 0;
		assert_int_equal(j->r, -ENOMEM);
		assert_string_equal(j->at.error, "out of memory");
		assert_null(j->at.out);
		if (round == 1)
			assert_int_equal(mallinfo2().uordblks, before);
	}
	weft_ctx_unref(ctx);
	weftd_actor_free(a);
}
#endif

static void test_ctx_enomem(void **state)
{
#if REALLOC_HOOK
	struct job j = { .argv = ARGV("true"), .argc = 1 };
	struct weft_opts o = { .procs = 1 };
	assert_int_equal(weft_run(ctx_enomem_fiber, &j, &o), 0);
#else
	skip();
#endif
}

/* ---- the leader count ---- */

struct count_case {
	struct job a;            /* runs while b runs and ends */
	unsigned long examined;  /* by b's sweep */
	int rb;
};

static void a_fiber(void *arg)
{
	struct count_case *c = arg;
	run_attempt(&c->a);
}

/* One proc: a's fiber runs until its attempt parks, so a's child is counted (spawned, then
 * weftd_orphans_leader(+1), with no yield between) before this fiber sees it running. */
static void count_main(void *arg)
{
	struct count_case *c = arg;
	char pidfile[128], cmd[512];
	snprintf(pidfile, sizeof(pidfile), "%s/a", g_dir);
	snprintf(cmd, sizeof(cmd), "echo $$ > %s && exec sleep 60", pidfile);
	c->a = (struct job){ .argv = ARGV("sh", "-c", cmd), .argc = 3, .kill_group = true };
	assert_int_equal(weft_go(a_fiber, c), 0);
	pid_t apid = 0;
	for (int i = 0; i < 20000 && !apid; i++) { /* a's child is running */
		char buf[32] = "";
		FILE *f = fopen(pidfile, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f) && strchr(buf, '\n'))
				apid = (pid_t)atol(buf);
			fclose(f);
		}
		if (!apid)
			weft_sleep(NULL, WEFT_MSEC);
	}
	assert_true(apid > 0);
	/* b: an attempt that leaves nothing; its sweep finds a's leader alone */
	struct job b = { .argv = ARGV("true"), .argc = 1, .kill_group = true };
	unsigned long before = weftd_orphans_examined();
	assert_int_equal(run_attempt(&b), 0);
	c->examined = weftd_orphans_examined() - before;
	c->rb = b.r;
	job_done(&b);
	weft_ctx_cancel(c->a.cancel);
}

/* The sweep's shortcut rests on the leader count: while an attempt's leader runs, a sweep
 * that lists only it examines no child one by one. A leader not counted (or a reaped one
 * still counted) sends the sweep through the per-child checks. */
static void test_leader_count(void **state)
{
	struct count_case *c = calloc(1, sizeof(*c));
	struct weft_opts o = { .procs = 1 };
	assert_int_equal(weft_run(count_main, c, &o), 0);
	assert_int_equal(c->rb, 0);
	assert_int_equal(c->a.r, -ECANCELED);
	assert_int_equal(c->examined, 0);
	job_done(&c->a);
	free(c);
}

static int mk_dir(void **state)
{
	strcpy(g_dir, "/tmp/weft-orphans-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	g_procs = (unsigned)(uintptr_t)*state ? (unsigned)(uintptr_t)*state : 1;
	return 0;
}

static int rm_dir(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

#define T(fn, procs) cmocka_unit_test_prestate_setup_teardown(fn, mk_dir, rm_dir, (void *)(procs))

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* The keeper case forks a stand-in daemon that starts weft itself: it runs first,
	 * before this process ran any fiber (no thread of ours is copied half-way). */
	const struct CMUnitTest tests[] = {
		T(test_keeper_kills_registered_child, 1),
	};
	const struct CMUnitTest swept[] = {
		T(test_sweep_kills_escapee, 1),
		T(test_sweep_kills_escapee, 2),
		T(test_sweep_reaps_killed_group, 1),
		T(test_sweep_reaps_killed_group, 2),
		T(test_sweep_spares_group_leftover, 1),
		T(test_drain_held_pipes, 1),
		T(test_drain_held_pipes, 2),
		T(test_stdout_enomem, 1),
		T(test_ctx_enomem, 1),
		T(test_leader_count, 1),
	};
	int r = cmocka_run_group_tests_name("exec keeper", tests, NULL, NULL);
	/* weftd's set-up: a child subreaper that sweeps (no keeper in this process) */
	if (weftd_orphans_init(0) < 0) {
		fprintf(stderr, "weftd_orphans_init failed\n");
		return 1;
	}
	return r | cmocka_run_group_tests_name("exec orphans", swept, NULL, NULL);
}
