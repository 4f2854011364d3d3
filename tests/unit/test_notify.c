/* SPDX-License-Identifier: MIT */
/* test_notify.c — the sd_notify wrappers send exactly the expected datagrams to the
 * socket named by NOTIFY_SOCKET (a real one bound here), and nothing when it is unset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/notify.h"

static int g_fd = -1;
static char g_path[108];

static int setup(void **state)
{
	snprintf(g_path, sizeof(g_path), "/tmp/weft-notify-%d.sock", (int)getpid());
	unlink(g_path);
	g_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, g_path);
	if (g_fd < 0 || bind(g_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	setenv("NOTIFY_SOCKET", g_path, 1);
	return 0;
}

static int teardown(void **state)
{
	close(g_fd);
	unlink(g_path);
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

/* The one datagram queued on the socket (there must be exactly one). */
static const char *next_msg(void)
{
	static char buf[1024];
	ssize_t n = recv(g_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n >= 0);
	buf[n] = 0;
	assert_int_equal(recv(g_fd, (char[8]){ 0 }, 8, MSG_DONTWAIT), -1);
	return buf;
}

static unsigned long long mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}

static void test_messages(void **state)
{
	assert_true(weftd_notify_ready(NULL) > 0);
	assert_string_equal(next_msg(), "READY=1");
	assert_true(weftd_notify_ready("2 queued\n1 running") > 0);
	assert_string_equal(next_msg(), "READY=1\nSTATUS=2 queued 1 running");
	assert_true(weftd_notify_stopping() > 0);
	assert_string_equal(next_msg(), "STOPPING=1");
	assert_true(weftd_notify_watchdog() > 0);
	assert_string_equal(next_msg(), "WATCHDOG=1");
	assert_true(weftd_notify_extend_timeout(15000000) > 0);
	assert_string_equal(next_msg(), "EXTEND_TIMEOUT_USEC=15000000");
	assert_true(weftd_notify_status("queued=%d running=%d\nx", 3, 4) > 0);
	assert_string_equal(next_msg(), "STATUS=queued=3 running=4 x");
}

static void test_reloading_timestamp(void **state)
{
	unsigned long long before = mono_usec();
	assert_true(weftd_notify_reloading() > 0);
	unsigned long long after = mono_usec(), t = 0;
	const char *m = next_msg();
	assert_int_equal(sscanf(m, "RELOADING=1\nMONOTONIC_USEC=%llu", &t), 1);
	assert_true(t >= before && t <= after);
}

static void test_unset_is_noop(void **state)
{
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(weftd_notify_ready(NULL), 0);
	assert_int_equal(weftd_notify_watchdog(), 0);
	assert_int_equal(weftd_notify_status("x"), 0);
	assert_int_equal(recv(g_fd, (char[8]){ 0 }, 8, MSG_DONTWAIT), -1);
	setenv("NOTIFY_SOCKET", g_path, 1);
}

static void test_watchdog_usec(void **state)
{
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(weftd_notify_watchdog_usec(true), 0);
	setenv("WATCHDOG_USEC", "2000000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(weftd_notify_watchdog_usec(true), 2000000);
	assert_int_equal(weftd_notify_watchdog_usec(true), 2000000);
	assert_int_equal(weftd_notify_watchdog_usec(false), 0);
	setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
	assert_int_equal(weftd_notify_watchdog_usec(true), 0);
	setenv("WATCHDOG_PID", pid, 1);
	setenv("WATCHDOG_USEC", "soon", 1);
	assert_true(weftd_notify_watchdog_usec(true) < 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_reloading_timestamp),
		cmocka_unit_test(test_unset_is_noop),
		cmocka_unit_test(test_watchdog_usec),
	};
	return cmocka_run_group_tests_name("notify", table, setup, teardown);
}
