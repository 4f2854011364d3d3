/* SPDX-License-Identifier: MIT */
/* test_io.c — fiber I/O on the procs' rings: many fibers at once over pipes
 * and Unix sockets, files, splice, poll, timeouts, waitid, and cancellation
 * of an in-flight read. Tests that depend on scheduling run with 1 and 2
 * procs (the table at the bottom). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/stat.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <weft/weft.h>

#include "testing.h" /* lib/: the waitid fallback */
#include "testutil.h"


static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

/* ---- 200 echo pairs at once: pipes (read/write/readv/writev) and socketpairs (recv/send) ---- */
#define NPAIRS 200
#define CHUNK 1000
#define ROUNDS 8

struct pair {
	int kind;        /* 0 pipes, 1 socketpair */
	int c2s[2];      /* client -> echo (pipes); socketpair in c2s[0] (client) / c2s[1] (echo) */
	int s2c[2];      /* echo -> client (pipes) */
	weft_wg *wg;
	atomic_long *bytes_ok;
};

static void fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

static void echo_fiber(void *arg)
{
	struct pair *p = arg;
	char buf[512]; /* smaller than CHUNK: forces partial reads and many rounds */
	for (;;) {
		int n;
		if (p->kind == 0) {
			n = weft_read(NULL, p->c2s[0], buf, sizeof(buf), -1);
		} else {
			n = weft_recv(NULL, p->c2s[1], buf, sizeof(buf), 0);
		}
		assert_true(n >= 0);
		if (n == 0)
			break;
		if (p->kind == 0) {
			/* two halves through writev: exercises the vectored path */
			int h = n / 2;
			struct iovec iov[2] = { { buf, (size_t)h }, { buf + h, (size_t)(n - h) } };
			int w = weft_writev(NULL, p->s2c[1], iov, 2, -1);
			assert_int_equal(w, n);
		} else {
			int off = 0;
			while (off < n) {
				int w = weft_send(NULL, p->c2s[1], buf + off, (size_t)(n - off), 0);
				assert_true(w > 0);
				off += w;
			}
		}
	}
	if (p->kind == 0)
		close(p->s2c[1]);
	else
		shutdown(p->c2s[1], SHUT_WR);
	weft_wg_done(p->wg);
}

static void client_fiber(void *arg)
{
	struct pair *p = arg;
	unsigned char out[CHUNK], in[CHUNK];
	int wfd = p->kind == 0 ? p->c2s[1] : p->c2s[0];
	int rfd = p->kind == 0 ? p->s2c[0] : p->c2s[0];
	for (unsigned r = 0; r < ROUNDS; r++) {
		fill(out, sizeof(out), (unsigned)(uintptr_t)p + r);
		if (p->kind == 0)
			assert_int_equal(weft_write_all(NULL, wfd, out, sizeof(out)), CHUNK);
		else
			assert_int_equal(weft_send(NULL, wfd, out, sizeof(out), 0), CHUNK);
		size_t got = 0;
		while (got < sizeof(in)) {
			int n;
			if (p->kind == 0) {
				struct iovec iov[2] = { { in + got, (sizeof(in) - got) / 2 },
							{ in + got + (sizeof(in) - got) / 2,
							  sizeof(in) - got - (sizeof(in) - got) / 2 } };
				n = weft_readv(NULL, rfd, iov, 2, -1);
			} else {
				n = weft_recv(NULL, rfd, in + got, sizeof(in) - got, 0);
			}
			assert_true(n > 0);
			got += (size_t)n;
		}
		assert_memory_equal(in, out, sizeof(in));
		atomic_fetch_add(p->bytes_ok, CHUNK);
	}
	if (p->kind == 0)
		close(wfd);
	else
		shutdown(wfd, SHUT_WR);
	char c;
	int n = p->kind == 0 ? weft_read(NULL, rfd, &c, 1, -1) : weft_recv(NULL, rfd, &c, 1, 0);
	assert_int_equal(n, 0); /* echo side closed after our EOF */
	weft_wg_done(p->wg);
}

struct many_arg {
	atomic_long bytes_ok;
};

static void many_main(void *arg)
{
	struct many_arg *m = arg;
	static struct pair pairs[NPAIRS];
	weft_wg wg;
	weft_wg_init(&wg);
	int n = TEST_SCALE(NPAIRS) < 20 ? 20 : TEST_SCALE(NPAIRS);
	for (int i = 0; i < n; i++) {
		struct pair *p = &pairs[i];
		memset(p, 0, sizeof(*p));
		p->kind = i % 2;
		p->wg = &wg;
		p->bytes_ok = &m->bytes_ok;
		if (p->kind == 0) {
			assert_int_equal(pipe2(p->c2s, O_CLOEXEC), 0);
			assert_int_equal(pipe2(p->s2c, O_CLOEXEC), 0);
		} else {
			assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->c2s), 0);
		}
	}
	weft_wg_add(&wg, 2 * n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(weft_go(echo_fiber, &pairs[i]), 0);
		assert_int_equal(weft_go(client_fiber, &pairs[i]), 0);
	}
	assert_int_equal(weft_wg_wait(NULL, &wg), 0);
	for (int i = 0; i < n; i++) {
		struct pair *p = &pairs[i];
		close(p->c2s[0]);
		if (p->kind == 0) {
			close(p->s2c[0]);
		} else {
			close(p->c2s[1]);
		}
	}
	assert_int_equal(atomic_load(&m->bytes_ok), (long)n * CHUNK * ROUNDS);
}

static void test_many_pairs(void **state)
{
	struct many_arg m = { 0 };
	run(many_main, &m);
	assert_true(atomic_load(&m.bytes_ok) > 0);
}

/* ---- Unix stream sockets: one acceptor, 100 clients ---- */
#define NCLIENTS 100

struct server {
	int lfd;
	struct sockaddr_un addr;
	weft_wg wg;
	atomic_int served, clients_ok;
};

static void conn_handler(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64];
	int n = weft_recv(NULL, fd, buf, sizeof(buf), 0);
	assert_true(n > 0);
	for (int i = 0; i < n; i++)
		buf[i] = (char)(buf[i] ^ 0x20); /* swap case: the reply is not the request */
	assert_int_equal(weft_send(NULL, fd, buf, (size_t)n, 0), n);
	weft_close(NULL, fd);
}

static void acceptor(void *arg)
{
	struct server *sv = arg;
	int n = TEST_SCALE(NCLIENTS) < 10 ? 10 : TEST_SCALE(NCLIENTS);
	for (int i = 0; i < n; i++) {
		int fd = weft_accept(NULL, sv->lfd, NULL, NULL, 0);
		assert_true(fd >= 0);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		atomic_fetch_add(&sv->served, 1);
		assert_int_equal(weft_go(conn_handler, (void *)(intptr_t)fd), 0);
	}
	weft_wg_done(&sv->wg);
}

static void sock_client(void *arg)
{
	struct server *sv = arg;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(weft_connect(NULL, fd, (struct sockaddr *)&sv->addr, sizeof(sv->addr)), 0);
	char msg[32], reply[32];
	int len = snprintf(msg, sizeof(msg), "hello %llu", (unsigned long long)weft_fiber_id(weft_self()));
	assert_int_equal(weft_send(NULL, fd, msg, (size_t)len, 0), len);
	int got = 0;
	while (got < len) {
		int n = weft_recv(NULL, fd, reply + got, sizeof(reply) - (size_t)got, 0);
		assert_true(n > 0);
		got += n;
	}
	for (int i = 0; i < len; i++)
		assert_int_equal(reply[i], msg[i] ^ 0x20);
	assert_int_equal(weft_close(NULL, fd), 0);
	atomic_fetch_add(&sv->clients_ok, 1);
	weft_wg_done(&sv->wg);
}

static void server_main(void *arg)
{
	struct server *sv = arg;
	int n = TEST_SCALE(NCLIENTS) < 10 ? 10 : TEST_SCALE(NCLIENTS);
	sv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sv->lfd >= 0);
	memset(&sv->addr, 0, sizeof(sv->addr));
	sv->addr.sun_family = AF_UNIX;
	/* abstract name: nothing to clean up in the file system */
	snprintf(sv->addr.sun_path + 1, sizeof(sv->addr.sun_path) - 1, "weft-test-io-%d-%u", getpid(),
		 g_procs);
	assert_int_equal(bind(sv->lfd, (struct sockaddr *)&sv->addr, sizeof(sv->addr)), 0);
	assert_int_equal(listen(sv->lfd, 16), 0); /* small backlog: clients must wait for accepts */
	weft_wg_init(&sv->wg);
	weft_wg_add(&sv->wg, 1 + n);
	assert_int_equal(weft_go(acceptor, sv), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(weft_go(sock_client, sv), 0);
	assert_int_equal(weft_wg_wait(NULL, &sv->wg), 0);
	close(sv->lfd);
	assert_int_equal(atomic_load(&sv->served), n);
	assert_int_equal(atomic_load(&sv->clients_ok), n);
}

static void test_unix_server(void **state)
{
	struct server sv = { 0 };
	run(server_main, &sv);
}

/* ---- files: openat, write, fsync, statx, pread, splice, close ---- */
static void file_main(void *arg)
{
	char dir[] = "/tmp/weft-test-io-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	int fd = weft_openat(NULL, dfd, "f", O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	char data[3000];
	fill((unsigned char *)data, sizeof(data), 9);
	assert_int_equal(weft_write(NULL, fd, data, 1000, 0), 1000);
	struct iovec iov[2] = { { data + 1000, 1500 }, { data + 2500, 500 } };
	assert_int_equal(weft_writev(NULL, fd, iov, 2, 1000), 2000);
	assert_int_equal(weft_fsync(NULL, fd, 0), 0);
	assert_int_equal(weft_fsync(NULL, fd, IORING_FSYNC_DATASYNC), 0);
	struct statx stx;
	memset(&stx, 0, sizeof(stx));
	assert_int_equal(weft_statx(NULL, dfd, "f", 0, STATX_SIZE | STATX_MODE, &stx), 0);
	assert_int_equal(stx.stx_size, sizeof(data));
	assert_int_equal(stx.stx_mode & 0777, 0600);
	assert_int_equal(weft_statx(NULL, dfd, "missing", 0, STATX_SIZE, &stx), -ENOENT);
	char back[3000];
	assert_int_equal(weft_read(NULL, fd, back, sizeof(back), 0), sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	/* splice 700 bytes from offset 100 of the file into a pipe */
	int pp[2];
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	assert_int_equal(weft_splice(NULL, fd, 100, pp[1], -1, 700, 0), 700);
	assert_int_equal(weft_read(NULL, pp[0], back, sizeof(back), -1), 700);
	assert_memory_equal(back, data + 100, 700);
	close(pp[0]);
	close(pp[1]);
	assert_int_equal(weft_close(NULL, fd), 0);
	assert_int_equal(weft_close(NULL, fd), -EBADF);
	assert_int_equal(weft_openat(NULL, dfd, "f", O_RDWR | O_CREAT | O_EXCL, 0600), -EEXIST);
	unlinkat(dfd, "f", 0);
	close(dfd);
	rmdir(dir);
}

static void test_files(void **state)
{
	run(file_main, NULL);
}

/* ---- poll, nop, io_timeout ---- */
struct pollarg {
	int fds[2];
	atomic_int ready;
	weft_wg done; /* the writer is finished with the fds before they close */
};

static void late_writer(void *arg)
{
	struct pollarg *pa = arg;
	weft_sleep(NULL, 20 * WEFT_MSEC);
	assert_int_equal(atomic_load(&pa->ready), 0); /* the poller is still waiting */
	assert_int_equal(write(pa->fds[1], "x", 1), 1);
	weft_wg_done(&pa->done);
}

static void poll_main(void *arg)
{
	struct pollarg pa = { .ready = 0 };
	assert_int_equal(pipe2(pa.fds, O_CLOEXEC), 0);
	assert_int_equal(weft_poll(NULL, pa.fds[1], POLLOUT) & POLLOUT, POLLOUT);
	weft_wg_init(&pa.done);
	weft_wg_add(&pa.done, 1);
	weft_go(late_writer, &pa);
	int r = weft_poll(NULL, pa.fds[0], POLLIN);
	atomic_store(&pa.ready, 1);
	assert_int_equal(r & POLLIN, POLLIN);
	assert_int_equal(weft_wg_wait(NULL, &pa.done), 0);
	close(pa.fds[0]);
	close(pa.fds[1]);

	for (int i = 0; i < 1000; i++)
		assert_int_equal(weft_nop(NULL), 0);

	int64_t t0 = weft_now();
	assert_int_equal(weft_io_timeout(NULL, 30 * WEFT_MSEC), 0);
	assert_true(weft_now() - t0 >= 30 * WEFT_MSEC);
	/* a ctx deadline shorter than the timeout wins */
	weft_ctx *ctx;
	assert_int_equal(weft_ctx_with_timeout(NULL, 10 * WEFT_MSEC, &ctx), 0);
	t0 = weft_now();
	assert_int_equal(weft_io_timeout(ctx, 5 * WEFT_SEC), -ETIMEDOUT);
	assert_true(weft_now() - t0 < 2 * WEFT_SEC);
	assert_int_equal(weft_nop(ctx), -ETIMEDOUT); /* done ctx: refused at once */
	weft_ctx_unref(ctx);
}

static void test_poll_nop_timeout(void **state)
{
	run(poll_main, NULL);
}

/* ---- operations that complete at once do not put procs to sleep ---- */
#define INSTANT_FIBERS 8
#define INSTANT_NOPS 5000

static void nopper(void *arg)
{
	for (int i = 0; i < INSTANT_NOPS; i++)
		assert_int_equal(weft_nop(NULL), 0);
	weft_wg_done(arg);
}

static void instant_main(void *arg)
{
	struct weft_sched_stats a, b;
	weft_wg wg;
	weft_wg_init(&wg);
	weft_wg_add(&wg, INSTANT_FIBERS);
	assert_int_equal(weft_sched_stats(&a), 0);
	for (int i = 0; i < INSTANT_FIBERS; i++)
		weft_go(nopper, &wg);
	assert_int_equal(weft_wg_wait(NULL, &wg), 0);
	assert_int_equal(weft_sched_stats(&b), 0);
	uint64_t parks = b.parks - a.parks, ops = INSTANT_FIBERS * INSTANT_NOPS;
	print_message("%llu nops on %d procs: %llu parks\n", (unsigned long long)ops, g_procs,
		      (unsigned long long)parks);
	/* A proc whose fibers all wait on nops submits them and goes on: it used to
	 * sleep in the ring for every batch (one park per ~9 nops here), counted
	 * idle, drawing wake-ups from the other proc. An idle proc may still park
	 * now and then while the other has every fiber. */
	assert_true(parks < ops / 50);
}

static void test_instant_io_no_sleep(void **state)
{
	run(instant_main, NULL);
}

/* ---- waitid on a forked child: IORING_OP_WAITID and the pidfd fallback ---- */
static void waitid_main(void *arg)
{
	bool *want_op = arg;
	struct weft_features ft;
	assert_int_equal(weft_features(&ft), 0);
	if (*want_op && !ft.waitid) {
		fprintf(stderr, "weft: kernel lacks IORING_OP_WAITID, op path not tested\n");
		*want_op = false; /* reported as a skip by the caller */
		return;
	}
	if (!*want_op)
		assert_false(ft.waitid);
	for (int code = 0; code < 3; code++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			usleep(20000); /* the parent is parked in waitid by now */
			_exit(40 + code);
		}
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		assert_int_equal(weft_waitid(NULL, P_PID, (id_t)pid, &si, WEXITED), 0);
		assert_int_equal(si.si_pid, pid);
		assert_int_equal(si.si_code, CLD_EXITED);
		assert_int_equal(si.si_status, 40 + code);
	}
	/* killed by a signal */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	kill(pid, SIGKILL);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	assert_int_equal(weft_waitid(NULL, P_PID, (id_t)pid, &si, WEXITED), 0);
	assert_int_equal(si.si_code, CLD_KILLED);
	assert_int_equal(si.si_status, SIGKILL);
	/* no such child */
	assert_true(weft_waitid(NULL, P_PID, (id_t)pid, &si, WEXITED) < 0);
}

static void test_waitid_op(void **state)
{
	bool want = true;
	run(waitid_main, &want);
	if (!want)
		skip();
}

static void test_waitid_fallback(void **state)
{
	bool want = false;
	struct weft_opts o = { .procs = g_procs };
	struct weft__test_opts t = { .no_waitid_op = true };
	assert_int_equal(weft__run_test(waitid_main, &want, &o, &t), 0);
}

/* ---- cancelling an in-flight read ---- */
struct spin {
	atomic_int stop;
	weft_wg done; /* main waits for it: stop lives on main's stack */
};

struct rcancel {
	int fds[2];
	struct spin *spin; /* mode 2: pins a busy fiber to the reader's first proc */
	weft_ctx *ctx;
	int mode;          /* 0 cancel by another fiber, 1 timeout, 2 reader moves proc first */
	int issued_on;     /* proc the read was issued on */
	atomic_int parked; /* reader is about to block */
	int result;
	int64_t took;
	int64_t t_ctx, t_end; /* mode 1: ctx made, read returned */
	weft_wg done;
};

static void canceller(void *arg)
{
	struct rcancel *rc = arg;
	while (!atomic_load(&rc->parked))
		weft_sleep(NULL, WEFT_MSEC);
	weft_sleep(NULL, 20 * WEFT_MSEC); /* the read is in the kernel by now */
	weft_ctx_cancel(rc->ctx);
}

static void spinner(void *arg)
{
	/* keeps the spawning proc busy, so the reader waits in its queue long
	 * enough for the other proc (woken for it) to steal it */
	struct spin *sp = arg;
	while (!atomic_load(&sp->stop)) {
		int64_t until = weft_now() + 200 * WEFT_USEC;
		while (weft_now() < until)
			;
		weft_yield();
	}
	weft_wg_done(&sp->done);
}

static void reader(void *arg)
{
	struct rcancel *rc = arg;
	if (rc->mode == 2) {
		/* get stolen: keep this proc busy with a pinned spinner and yield
		 * until the other proc, woken for us, takes us */
		int start = weft_proc_id();
		assert_int_equal(weft_go_opts(spinner, rc->spin, &(struct weft_go_opts){ .pin = true }), 0);
		int64_t give_up = weft_now() + 20 * WEFT_SEC;
		while (weft_proc_id() == start && weft_now() < give_up)
			weft_yield();
		assert_int_not_equal(weft_proc_id(), start);
	}
	char buf[16];
	rc->issued_on = weft_proc_id();
	int64_t t0 = weft_now(); /* before the canceller's cue: a descheduled thread cannot shorten took */
	atomic_store(&rc->parked, 1);
	rc->result = weft_read(rc->ctx, rc->fds[0], buf, sizeof(buf), -1);
	rc->t_end = weft_now();
	rc->took = rc->t_end - t0;
	weft_wg_done(&rc->done);
}


static void rcancel_main(void *arg)
{
	struct rcancel *rc = arg;
	assert_int_equal(pipe2(rc->fds, O_CLOEXEC), 0);
	rc->t_ctx = weft_now();
	if (rc->mode == 1)
		assert_int_equal(weft_ctx_with_timeout(NULL, 30 * WEFT_MSEC, &rc->ctx), 0);
	else
		assert_int_equal(weft_ctx_with_cancel(NULL, &rc->ctx), 0);
	struct spin sp = { .stop = 0 };
	weft_wg_init(&sp.done);
	weft_wg_init(&rc->done);
	weft_wg_add(&rc->done, 1);
	rc->spin = &sp;
	if (rc->mode == 2)
		weft_wg_add(&sp.done, 1); /* the reader starts the spinner */
	weft_go(reader, rc);
	if (rc->mode != 1)
		weft_go_opts(canceller, rc, &(struct weft_go_opts){ .pin = true });
	assert_int_equal(weft_wg_wait(NULL, &rc->done), 0);
	atomic_store(&sp.stop, 1);
	assert_int_equal(weft_wg_wait(NULL, &sp.done), 0);
	/* the fd still works, and data written now goes to the next read, not the
	 * cancelled one */
	assert_int_equal(weft_write(NULL, rc->fds[1], "after", 5, -1), 5);
	char buf[16] = { 0 };
	assert_int_equal(weft_read(NULL, rc->fds[0], buf, sizeof(buf), -1), 5);
	assert_memory_equal(buf, "after", 5);
	close(rc->fds[0]);
	close(rc->fds[1]);
	weft_ctx_unref(rc->ctx);
}

static void test_read_cancel(void **state)
{
	for (int mode = 0; mode < 3; mode++) {
		if (mode == 2 && g_procs < 2) {
			print_message("read cancel: skipping the cross-proc case with %d proc (needs 2)\n",
				      g_procs);
			continue;
		}
		struct rcancel rc = { .mode = mode, .took = 0 };
		run(rcancel_main, &rc);
		assert_int_equal(rc.result, mode == 1 ? -ETIMEDOUT : -ECANCELED);
		assert_true(rc.took < 2 * WEFT_SEC); /* promptly: not when some later event happens */
		if (mode == 1) /* the deadline counts from the ctx, which may predate the read a lot */
			assert_true(rc.t_end - rc.t_ctx >= 30 * WEFT_MSEC);
		else
			assert_true(rc.took >= 10 * WEFT_MSEC);
	}
}

/* Cancel races the completion: data arrives at about the moment of the
 * cancel. Either the read gets the data, or it is cancelled and the data is
 * still in the pipe; it is never lost. Three orders, in turn, so that both
 * outcomes are exercised whatever the machine's timing:
 *   CANCEL_FIRST  the cancel has ended the read before the byte is written:
 *                 -ECANCELED, and the byte is still in the pipe;
 *   WRITE_FIRST   the read has returned the byte before the cancel: 1, and
 *                 the late cancel takes nothing;
 *   RACE          write and cancel back to back (the order alternates): either
 *                 outcome, each checked as above; the split is printed.
 * (Writing first and cancelling right after, as this test once did only, lets
 * the completion's task work run before the cancel is submitted: the read
 * always won, and the cancel path went untested.) */
enum race_order { CANCEL_FIRST, WRITE_FIRST, RACE };

struct race {
	int fds[2];
	weft_ctx *ctx;
	atomic_int got;
};

static void race_reader(void *arg)
{
	struct race *ra = arg;
	char buf[8];
	int r = weft_read(ra->ctx, ra->fds[0], buf, sizeof(buf), -1);
	atomic_store(&ra->got, r);
}

static void race_wait_reader(struct race *ra)
{
	while (atomic_load(&ra->got) == 1000)
		weft_yield();
}

static void race_main(void *arg)
{
	int lost = 0, won[3][2] = { { 0 } }; /* [order][cancel won] */
	for (int i = 0; i < TEST_SCALE(600); i++) {
		enum race_order order = (enum race_order)(i % 3);
		struct race ra = { .got = 1000 };
		assert_int_equal(pipe2(ra.fds, O_CLOEXEC), 0);
		weft_ctx_with_cancel(NULL, &ra.ctx);
		weft_go(race_reader, &ra);
		weft_yield();
		if (i % 2)
			weft_sleep(NULL, 100 * WEFT_USEC); /* the read is in the kernel, not just prepared */
		switch (order) {
		case CANCEL_FIRST:
			weft_ctx_cancel(ra.ctx);
			race_wait_reader(&ra);
			assert_int_equal(write(ra.fds[1], "z", 1), 1);
			break;
		case WRITE_FIRST:
			assert_int_equal(write(ra.fds[1], "z", 1), 1);
			race_wait_reader(&ra);
			weft_ctx_cancel(ra.ctx);
			break;
		case RACE:
			if (i % 2) {
				weft_ctx_cancel(ra.ctx);
				assert_int_equal(write(ra.fds[1], "z", 1), 1);
			} else {
				assert_int_equal(write(ra.fds[1], "z", 1), 1);
				weft_ctx_cancel(ra.ctx);
			}
			race_wait_reader(&ra);
			break;
		}
		char c;
		fcntl(ra.fds[0], F_SETFL, O_NONBLOCK); /* the reader is done: just look */
		int left = (int)read(ra.fds[0], &c, 1);
		int got = atomic_load(&ra.got);
		if (got == 1) {
			won[order][0]++;
			lost += left == 1; /* read twice: impossible */
		} else {
			assert_int_equal(got, -ECANCELED);
			won[order][1]++;
			lost += left != 1;
		}
		close(ra.fds[0]);
		close(ra.fds[1]);
		weft_ctx_unref(ra.ctx);
	}
	assert_int_equal(lost, 0);
	assert_int_equal(won[CANCEL_FIRST][0], 0); /* a cancelled read cannot take a later byte */
	assert_true(won[CANCEL_FIRST][1] > 0);
	assert_int_equal(won[WRITE_FIRST][1], 0); /* a late cancel cannot undo a read */
	assert_true(won[WRITE_FIRST][0] > 0);
	print_message("cancel race: cancel first: cancel won %d; write first: read won %d; "
		      "back to back: read won %d, cancel won %d\n", won[CANCEL_FIRST][1],
		      won[WRITE_FIRST][0], won[RACE][0], won[RACE][1]);
	if (!won[RACE][0] || !won[RACE][1])
		print_message("cancel race: back to back, one outcome only on this machine (%s); "
			      "both were exercised by the ordered rounds\n",
			      won[RACE][0] ? "the read always won" : "the cancel always won");
}

static void test_read_cancel_race(void **state)
{
	run(race_main, NULL);
}

int main(void)
{
	const struct CMUnitTest table[] = {
		BOTH(test_many_pairs),
		BOTH(test_unix_server),
		BOTH(test_files),
		BOTH(test_poll_nop_timeout),
		BOTH(test_instant_io_no_sleep),
		BOTH(test_waitid_op),
		BOTH(test_waitid_fallback),
		BOTH(test_read_cancel),
		BOTH(test_read_cancel_race),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("io", table, NULL, NULL);
}
