/* SPDX-License-Identifier: MIT */
/* test_backend.c — the I/O back ends: choosing one (weft_opts.backend,
 * WEFT_BACKEND, the fallback), and the contracts the epoll back end must keep
 * like the ring does: waits on O_NONBLOCK fds, MSG_DONTWAIT, two waiters on
 * one fd, cancellation that loses no data and leaves no registration behind,
 * file calls on the blocking pool that a context cancels before they start,
 * and millisecond waits where epoll_pwait2 is denied. Each contract test runs
 * on both back ends (io_uring is skipped, visibly, where it is unavailable). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <weft/weft.h>

#include "testing.h" /* lib/: no_epoll_pwait2 */
#include "testutil.h"

static enum weft_backend g_backend;

static void nothing(void *arg)
{
}

static bool have_io_uring(void)
{
	static int have = -1;
	if (have < 0) {
		const char *env = getenv("WEFT_BACKEND");
		char *saved = env ? strdup(env) : NULL;
		unsetenv("WEFT_BACKEND");
		struct weft_opts o = { .procs = 1, .backend = WEFT_BACKEND_IO_URING };
		have = weft_run(nothing, NULL, &o) == 0;
		if (saved)
			setenv("WEFT_BACKEND", saved, 1);
		free(saved);
	}
	return have;
}

/* Run fn on g_backend with g_procs procs; false (a visible skip) if that
 * back end is io_uring and io_uring is unavailable here. */
static bool run_on(weft_fn fn, void *arg, const struct weft__test_opts *t)
{
	if (g_backend == WEFT_BACKEND_IO_URING && !have_io_uring()) {
		print_message("SKIP: io_uring unavailable here\n");
		return false;
	}
	struct weft_opts o = { .procs = g_procs, .backend = g_backend };
	assert_int_equal(weft__run_test(fn, arg, &o, t), 0);
	return true;
}

/* ---- which back end runs ---- */
struct seen {
	struct weft_features ft;
	char dump[256];
};

static void look(void *arg)
{
	struct seen *s = arg;
	assert_int_equal(weft_features(&s->ft), 0);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	assert_true(weft_dump_fibers(fds[1]) >= 1);
	close(fds[1]);
	assert_true(read(fds[0], s->dump, sizeof(s->dump) - 1) > 0);
	close(fds[0]);
}

static int run_look(enum weft_backend b, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	struct weft_opts o = { .procs = 2, .backend = b };
	return weft_run(look, s, &o);
}

static void test_choice(void **state)
{
	const char *env = getenv("WEFT_BACKEND");
	char *saved = env ? strdup(env) : NULL;
	struct seen s;

	unsetenv("WEFT_BACKEND");
	assert_int_equal(run_look(WEFT_BACKEND_EPOLL, &s), 0);
	assert_int_equal(s.ft.backend, WEFT_BACKEND_EPOLL);
	assert_int_equal(s.ft.io_uring_error, 0);
	assert_false(s.ft.msg_ring);
	assert_non_null(strstr(s.dump, "# backend epoll procs 2\n"));

	assert_int_equal(run_look(WEFT_BACKEND_AUTO, &s), 0);
	if (have_io_uring()) {
		assert_int_equal(s.ft.backend, WEFT_BACKEND_IO_URING);
		assert_non_null(strstr(s.dump, "# backend io_uring"));
	} else { /* the fallback, with its reason */
		assert_int_equal(s.ft.backend, WEFT_BACKEND_EPOLL);
		assert_true(s.ft.io_uring_error < 0);
	}

	setenv("WEFT_BACKEND", "epoll", 1);
	assert_int_equal(run_look(WEFT_BACKEND_AUTO, &s), 0);
	assert_int_equal(s.ft.backend, WEFT_BACKEND_EPOLL);
	if (have_io_uring()) { /* weft_opts.backend wins over the environment */
		assert_int_equal(run_look(WEFT_BACKEND_IO_URING, &s), 0);
		assert_int_equal(s.ft.backend, WEFT_BACKEND_IO_URING);
	}
	setenv("WEFT_BACKEND", "kqueue", 1);
	assert_int_equal(run_look(WEFT_BACKEND_AUTO, &s), -EINVAL);
	unsetenv("WEFT_BACKEND");
	assert_int_equal(run_look((enum weft_backend)7, &s), -EINVAL);

	assert_string_equal(weft_backend_name(WEFT_BACKEND_EPOLL), "epoll");
	assert_string_equal(weft_backend_name(WEFT_BACKEND_IO_URING), "io_uring");
	if (saved)
		setenv("WEFT_BACKEND", saved, 1);
	free(saved);
}

/* ---- an O_NONBLOCK fd waits (as on the ring); MSG_DONTWAIT does not ---- */
struct nb {
	int p[2], s[2];
	int got_pipe, got_dontwait;
	atomic_bool reading;
};

static void nb_writer(void *arg)
{
	struct nb *n = arg;
	while (!atomic_load(&n->reading))
		weft_yield();
	weft_sleep(NULL, 5 * WEFT_MSEC); /* the reader has found the pipe empty by now */
	assert_int_equal(write(n->p[1], "x", 1), 1);
}

static void nb_main(void *arg)
{
	struct nb *n = arg;
	char c;
	assert_int_equal(pipe2(n->p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, n->s), 0);
	weft_go(nb_writer, n);
	atomic_store(&n->reading, true);
	n->got_pipe = weft_read(NULL, n->p[0], &c, 1, -1);
	n->got_dontwait = weft_recv(NULL, n->s[0], &c, 1, MSG_DONTWAIT);
	close(n->p[0]);
	close(n->p[1]);
	close(n->s[0]);
	close(n->s[1]);
}

static void test_nonblock_waits(void **state)
{
	struct nb n = { .got_pipe = 99 };
	if (!run_on(nb_main, &n, NULL))
		return;
	assert_int_equal(n.got_pipe, 1);
	assert_int_equal(n.got_dontwait, -EAGAIN);
}

/* ---- a reader and a writer wait on one socket, on one proc ---- */
struct both {
	int s[2];
	int rd, wr_first;
	atomic_int wr;
	weft_wg wg;
};

static void both_reader(void *arg)
{
	struct both *b = arg;
	char c;
	b->rd = weft_recv(NULL, b->s[0], &c, 1, 0);
	weft_wg_done(&b->wg);
}

static void both_writer(void *arg)
{
	struct both *b = arg;
	static char big[1 << 16];
	int r;
	/* fill the socket: the last send waits for room */
	while ((r = weft_send(NULL, b->s[0], big, sizeof(big), MSG_DONTWAIT)) > 0)
		;
	atomic_store(&b->wr, weft_send(NULL, b->s[0], big, sizeof(big), 0));
	weft_wg_done(&b->wg);
}

static void both_main(void *arg)
{
	struct both *b = arg;
	static char sink[1 << 16];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b->s), 0);
	weft_wg_init(&b->wg);
	weft_wg_add(&b->wg, 2);
	weft_go_opts(both_reader, b, &(struct weft_go_opts){ .pin = true, .name = "reader" });
	weft_go_opts(both_writer, b, &(struct weft_go_opts){ .pin = true, .name = "writer" });
	weft_sleep(NULL, 10 * WEFT_MSEC); /* both parked on s[0] by now (or soon: no matter) */
	fcntl(b->s[1], F_SETFL, O_NONBLOCK);
	/* room: the writer's turn, while the reader still waits */
	int64_t end = weft_now() + 2 * WEFT_SEC;
	while (atomic_load(&b->wr) == 0 && weft_now() < end) {
		while (read(b->s[1], sink, sizeof(sink)) > 0)
			;
		weft_sleep(NULL, WEFT_MSEC); /* pacing the drain, not ordering */
	}
	b->wr_first = atomic_load(&b->wr);
	assert_int_equal(write(b->s[1], "y", 1), 1); /* the reader's turn */
	weft_wg_wait(NULL, &b->wg);
	close(b->s[0]);
	close(b->s[1]);
}

static void test_two_waiters_one_fd(void **state)
{
	struct both b = { .rd = 99 };
	if (!run_on(both_main, &b, NULL))
		return;
	assert_int_equal(b.rd, 1);
	assert_true(b.wr_first > 0); /* the writer went on without the reader */
}

/* ---- a cancelled recv loses no data, and leaves no registration ---- */
struct cancel {
	int s[2];
	weft_ctx *ctx;
	int first, second, reused;
};

static void cancel_canceller(void *arg)
{
	struct cancel *c = arg;
	weft_sleep(NULL, 5 * WEFT_MSEC);
	weft_ctx_cancel(c->ctx);
}

static void cancel_main(void *arg)
{
	struct cancel *c = arg;
	char buf[4];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->s), 0);
	weft_ctx_with_cancel(NULL, &c->ctx);
	weft_go(cancel_canceller, c);
	c->first = weft_recv(c->ctx, c->s[0], buf, sizeof(buf), 0);
	assert_int_equal(write(c->s[1], "abc", 3), 3);
	c->second = weft_recv(NULL, c->s[0], buf, sizeof(buf), 0);
	/* the fd number comes back for a pipe: waiting on it must work */
	int fd = c->s[0];
	close(c->s[0]);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], "z", 1), 1);
	c->reused = p[0] == fd ? weft_read(NULL, p[0], buf, 1, -1) : 1;
	close(p[0]);
	close(p[1]);
	close(c->s[1]);
	weft_ctx_unref(c->ctx);
}

static void test_cancel_keeps_data(void **state)
{
	struct cancel c = { .first = 99 };
	if (!run_on(cancel_main, &c, NULL))
		return;
	assert_int_equal(c.first, -ECANCELED);
	assert_int_equal(c.second, 3);
	assert_int_equal(c.reused, 1);
}

/* ---- file calls: a context cancels one still queued for the pool ---- */
struct files {
	char dir[64];
	weft_ctx *ctx;
	int opened;
	int64_t took;
	atomic_bool hogging;
};

static int hog(void *arg)
{
	struct files *f = arg;
	atomic_store(&f->hogging, true);
	usleep(300 * 1000);
	return 0;
}

static void hog_fiber(void *arg)
{
	weft_blocking(hog, arg);
}

static void files_main(void *arg)
{
	struct files *f = arg;
	char path[96];
	weft_go(hog_fiber, f);
	while (!atomic_load(&f->hogging))
		weft_sleep(NULL, WEFT_MSEC);
	weft_ctx_with_timeout(NULL, 20 * WEFT_MSEC, &f->ctx);
	int64_t t0 = weft_now();
	snprintf(path, sizeof(path), "%s/new", f->dir);
	f->opened = weft_openat(f->ctx, AT_FDCWD, path, O_CREAT | O_WRONLY, 0600);
	f->took = weft_now() - t0;
	weft_ctx_unref(f->ctx);
}

static void test_file_cancel_queued(void **state)
{
	struct files f = { .opened = 99 };
	char path[96];
	snprintf(f.dir, sizeof(f.dir), "/tmp/weft-backend-XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	/* one helper thread, busy: the open waits in the queue */
	struct weft_opts o = { .procs = g_procs, .backend = WEFT_BACKEND_EPOLL, .blocking_threads = 1 };
	assert_int_equal(weft_run(files_main, &f, &o), 0);
	snprintf(path, sizeof(path), "%s/new", f.dir);
	bool exists = access(path, F_OK) == 0;
	unlink(path);
	rmdir(f.dir);
	assert_int_equal(f.opened, -ETIMEDOUT);
	assert_true(f.took < 250 * WEFT_MSEC); /* not after the hog */
	assert_false(exists);                   /* dropped, never run */
}

/* ---- a file round trip through the pool (read, write, fsync, statx) ---- */
static void file_rt_main(void *arg)
{
	char path[] = "/tmp/weft-backend-rt-XXXXXX";
	int tmp = mkstemp(path);
	assert_true(tmp >= 0);
	close(tmp);
	int fd = weft_openat(NULL, AT_FDCWD, path, O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(weft_write(NULL, fd, "hello", 5, 0), 5);
	assert_int_equal(weft_fsync(NULL, fd, 0), 0);
	char buf[8] = { 0 };
	assert_int_equal(weft_read(NULL, fd, buf, sizeof(buf), 1), 4);
	assert_string_equal(buf, "ello");
	assert_int_equal(weft_poll(NULL, fd, POLLIN) & POLLIN, POLLIN); /* files are always ready */
	assert_int_equal(weft_close(NULL, fd), 0);
	unlink(path);
}

static void test_file_round_trip(void **state)
{
	run_on(file_rt_main, NULL, NULL);
}

/* ---- no epoll_pwait2 (an older seccomp profile): millisecond waits ---- */
static void sleep_main(void *arg)
{
	int64_t *took = arg;
	int64_t t0 = weft_now();
	assert_int_equal(weft_sleep(NULL, 3 * WEFT_MSEC + 100 * WEFT_USEC), 0);
	*took = weft_now() - t0;
}

static void test_no_pwait2(void **state)
{
	int64_t took = 0;
	struct weft__test_opts t = { .no_epoll_pwait2 = true };
	struct weft_opts o = { .procs = g_procs, .backend = WEFT_BACKEND_EPOLL };
	assert_int_equal(weft__run_test(sleep_main, &took, &o, &t), 0);
	assert_true(took >= 3 * WEFT_MSEC + 100 * WEFT_USEC);
	assert_true(took < 2 * WEFT_SEC);
}

static int on_uring(void **state)
{
	g_backend = WEFT_BACKEND_IO_URING;
	return set_procs(state);
}

static int on_epoll(void **state)
{
	g_backend = WEFT_BACKEND_EPOLL;
	return set_procs(state);
}

/* Each contract test: io_uring and epoll, with 1 and 2 procs. */
#define ALL(t)                                                                  \
	cmocka_unit_test_prestate_setup_teardown(t, on_uring, NULL, (void *)1), \
	cmocka_unit_test_prestate_setup_teardown(t, on_uring, NULL, (void *)2), \
	cmocka_unit_test_prestate_setup_teardown(t, on_epoll, NULL, (void *)1), \
	cmocka_unit_test_prestate_setup_teardown(t, on_epoll, NULL, (void *)2)

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_choice),
		ALL(test_nonblock_waits),
		ALL(test_two_waiters_one_fd),
		ALL(test_cancel_keeps_data),
		ALL(test_file_round_trip),
		BOTH(test_file_cancel_queued),
		BOTH(test_no_pwait2),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("backend", table, NULL, NULL);
}
