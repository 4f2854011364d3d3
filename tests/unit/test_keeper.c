/* SPDX-License-Identifier: MIT */
/* test_keeper.c — the exec keeper (daemon/actions/keeper.c) without starting weftd: a
 * stand-in daemon process starts the keeper, spawns children in their own process groups
 * (each with a child of its own in the group),
 * registers some (watch), unregisters some of those (forget), and dies; the keeper must kill
 * exactly the groups still registered. Both deaths: SIGKILL of the stand-in (the case the
 * keeper exists for) and its orderly weftd_keeper_stop. The test process is a child
 * subreaper, so the orphaned children and the keeper are reparented to it and it reaps
 * them, seeing how each ended. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actions/keeper.h"

#define KIDS 5

/* kids 0, 2, 4 watched; 1 watched then forgotten (the middle of the keeper's list, so
 * the forget moves another entry); 3 never registered. */
static bool kid_watched(int i)
{
	return i != 1 && i != 3;
}

struct report {
	pid_t keeper;
	pid_t kids[KIDS];
};

static int g_ready = -1; /* the kids' write end of the ready pipe */

/* A kid leads its own group and has a child of its own in it (as a shell running a
 * command would): the keeper must kill the group, not only its leader. It writes one
 * byte to g_ready once both exist. */
static pid_t spawn_kid(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		pid_t sub = fork();
		if (sub == 0) {
			close_range(0, ~0u, 0);
			for (;;)
				pause();
		}
		if (sub < 0 || write(g_ready, "r", 1) != 1)
			_exit(5);
		/* like an exec'd child: hold no descriptor of the daemon (the keeper's pipe
		 * is O_CLOEXEC, which an exec would close) */
		close_range(0, ~0u, 0);
		for (;;)
			pause();
	}
	if (pid > 0)
		setpgid(pid, pid); /* either side may win the race; both make the same group */
	return pid;
}

/* The stand-in daemon: report the pids on fd, then die as told. */
static void daemon_main(int fd, bool sigkill)
{
	struct weftd_keeper *k = NULL;
	struct report r = { 0 };
	if (weftd_keeper_start(&k) < 0)
		_exit(2);
	r.keeper = weftd_keeper_pid(k);
	for (int i = 0; i < KIDS; i++) {
		if ((r.kids[i] = spawn_kid()) < 0)
			_exit(3);
		if (i != 3)
			weftd_keeper_watch(k, r.kids[i]);
	}
	weftd_keeper_forget(k, r.kids[1]);
	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(4);
	close(fd);
	if (sigkill)
		for (;;)
			pause(); /* until the test kills it */
	weftd_keeper_stop(k);
	_exit(0);
}

/* Reap pid (a child of ours, or reparented to us); its wait status. */
static int reap(pid_t pid)
{
	int st = 0;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	assert_int_equal(r, pid);
	return st;
}

/* Reap pid (a pid, or -pgid: any process of that group), which must end within 10 s
 * (the keeper has sent its SIGKILLs already: a process still running then was not
 * killed; fail rather than hang). A group member not yet reparented to us is ECHILD. */
static int reap_soon(pid_t pid)
{
	for (int i = 0; i < 10000; i++) {
		int st = 0;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r > 0)
			return st;
		assert_true(r == 0 || errno == EINTR || (pid < 0 && errno == ECHILD));
		usleep(1000);
	}
	kill(pid, SIGKILL);
	fail_msg("%s %d was not killed", pid < 0 ? "group" : "pid", (int)(pid < 0 ? -pid : pid));
	return 0;
}

/* A failing assertion aborts (make unit sets CMOCKA_TEST_ABORT): kill what this case
 * started first, so a failure leaves no process behind. */
static volatile pid_t g_started[KIDS + 2];

static void on_abort(int sig)
{
	for (int i = 0; i < KIDS + 2; i++)
		if (g_started[i] > 0)
			kill(i < KIDS ? -g_started[i] : g_started[i], SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void run_case(bool sigkill)
{
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	int p[2], q[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	pid_t d = fork();
	assert_true(d >= 0);
	if (d == 0) {
		close(p[0]);
		close(q[0]);
		g_ready = q[1];
		daemon_main(p[1], sigkill);
	}
	close(p[1]);
	close(q[1]);
	struct report r;
	assert_int_equal(read(p[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(p[0]);
	for (int i = 0; i < KIDS; i++)
		g_started[i] = r.kids[i];
	g_started[KIDS] = r.keeper;
	g_started[KIDS + 1] = d;
	char ready[KIDS];
	for (size_t got = 0; got < KIDS;) { /* every kid's own child exists */
		ssize_t n = read(q[0], ready + got, KIDS - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	close(q[0]);
	if (sigkill) {
		assert_int_equal(kill(d, SIGKILL), 0);
		int st = reap(d);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	} else {
		int st = reap(d);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* the keeper has seen end of file: it kills what is listed, then exits (when the
	 * daemon stopped it, the daemon reaped it) */
	if (sigkill) {
		int st = reap_soon(r.keeper);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* The keeper's kills are done: a watched group has died of SIGKILL, leader and
	 * member; the others live. */
	for (int i = 0; i < KIDS; i++) {
		if (kid_watched(i)) {
			int st = reap_soon(r.kids[i]);
			assert_true(WIFSIGNALED(st));
			assert_int_equal(WTERMSIG(st), SIGKILL);
			st = reap_soon(-r.kids[i]); /* its child, reparented to us */
			assert_true(WIFSIGNALED(st));
			assert_int_equal(WTERMSIG(st), SIGKILL);
		} else {
			int st = 0;
			assert_int_equal(waitpid(r.kids[i], &st, WNOHANG), 0); /* still running */
			assert_int_equal(kill(-r.kids[i], SIGTERM), 0);
			for (int m = 0; m < 2; m++) {
				st = reap_soon(m ? -r.kids[i] : r.kids[i]);
				assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
			}
		}
	}
	memset((void *)g_started, 0, sizeof(g_started));
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

static void test_keeper_on_sigkill(void **state)
{
	run_case(true);
}

static void test_keeper_on_stop(void **state)
{
	run_case(false);
}

/* NULL keeper: the calls do nothing (exec children spawned without one). */
static void test_keeper_null(void **state)
{
	weftd_keeper_watch(NULL, 1);
	weftd_keeper_forget(NULL, 1);
	assert_int_equal(weftd_keeper_pid(NULL), 0);
	weftd_keeper_stop(NULL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGABRT, on_abort);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keeper_on_sigkill),
		cmocka_unit_test(test_keeper_on_stop),
		cmocka_unit_test(test_keeper_null),
	};
	return cmocka_run_group_tests_name("keeper", tests, NULL, NULL);
}
