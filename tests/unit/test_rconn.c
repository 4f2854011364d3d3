/* SPDX-License-Identifier: MIT */
/* test_rconn.c — the broker's pipelined Redis connection (daemon/broker/rconn.c) against a
 * real redis-server on a temporary Unix socket (skipped, visibly, without one): many
 * fibers on one connection each get their own replies in order; a MULTI/EXEC batch stays
 * whole; a caller whose ctx ends while Redis still blocks its command gets its error and
 * the late reply goes nowhere (the next caller gets its own); Redis stopped: -ENOTCONN at
 * once, and the connection comes back by itself when Redis does; a write that fails
 * before the reader sees the socket go leaves nothing queued for the next socket. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/rconn.h"

#define FIBERS 500

static char g_dir[32], g_sock[64];
static pid_t g_redis = -1;

static void redis_start(void)
{
	char pidfile[160];

	snprintf(pidfile, sizeof(pidfile), "%s/redis.pid", g_dir);
	g_redis = fork();
	if (g_redis == 0) {
		int devnull = open("/dev/null", 1);
		dup2(devnull, 1);
		dup2(devnull, 2); /* nor hold a test runner's pipe open */
		execlp("redis-server", "redis-server", "--unixsocket", g_sock, "--port", "0", "--save", "",
		       "--appendonly", "no", "--dir", g_dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) { /* wait for the socket file (pacing, not sync) */
		struct stat st;
		if (stat(g_sock, &st) == 0)
			return;
		usleep(10000);
	}
}

static void redis_stop(void)
{
	if (g_redis > 0) {
		kill(g_redis, SIGTERM);
		waitpid(g_redis, NULL, 0);
		g_redis = -1;
	}
	unlink(g_sock);
}

struct world {
	struct rconn *c;
	weft_wg wg;
	atomic_int bad;
	int step_result[4];
};

static int one(struct rconn *c, weft_ctx *ctx, const char *fmt, const char *arg, redisReply **ret)
{
	struct rbatch b;
	int r;

	rbatch_init(&b);
	rbatch_cmd(&b, fmt, arg);
	r = rconn_exec(ctx, c, &b, ret);
	rbatch_done(&b);
	return r;
}

struct caller {
	struct world *w;
	int i;
};

/* SET k<i> v<i>, then GET it back, then an ECHO: three replies in one batch, in order. */
static void caller_main(void *arg)
{
	struct caller *k = arg;
	char key[32], val[32];
	struct rbatch b;
	redisReply *rep[3];

	snprintf(key, sizeof(key), "k%d", k->i);
	snprintf(val, sizeof(val), "v%d", k->i);
	rbatch_init(&b);
	rbatch_cmd(&b, "SET %s %s", key, val);
	rbatch_cmd(&b, "GET %s", key);
	rbatch_cmd(&b, "ECHO %s", key);
	if (rconn_exec(NULL, k->w->c, &b, rep) != 0) {
		atomic_fetch_add(&k->w->bad, 1);
	} else {
		if (rep[1]->type != REDIS_REPLY_STRING || strcmp(rep[1]->str, val) != 0 ||
		    rep[2]->type != REDIS_REPLY_STRING || strcmp(rep[2]->str, key) != 0)
			atomic_fetch_add(&k->w->bad, 1);
		for (int i = 0; i < 3; i++)
			freeReplyObject(rep[i]);
	}
	rbatch_done(&b);
	weft_wg_done(&k->w->wg);
}

static void world_main(void *arg)
{
	struct world *w = arg;
	struct rconn_opts o = { .is_unix = true, .name = "test" };
	struct caller *ks = calloc(FIBERS, sizeof(*ks));
	redisReply *rep[4];
	struct rbatch b;
	weft_ctx *ctx;

	snprintf(o.addr, sizeof(o.addr), "%s", g_sock);
	assert_int_equal(rconn_new(&o, &w->c), 0);
	assert_int_equal(rconn_start(w->c), 0);
	assert_int_equal(rconn_wait_up(NULL, w->c), 0);

	/* many fibers, one connection: each its own replies */
	weft_wg_init(&w->wg);
	for (int i = 0; i < FIBERS; i++) {
		ks[i] = (struct caller){ w, i };
		weft_wg_add(&w->wg, 1);
		assert_int_equal(weft_go(caller_main, &ks[i]), 0);
	}
	weft_wg_wait(NULL, &w->wg);
	assert_int_equal(atomic_load(&w->bad), 0);

	/* MULTI/EXEC: whole */
	rbatch_init(&b);
	rbatch_cmd(&b, "MULTI");
	rbatch_cmd(&b, "INCR %s", "n");
	rbatch_cmd(&b, "INCR %s", "n");
	rbatch_cmd(&b, "EXEC");
	assert_int_equal(rconn_exec(NULL, w->c, &b, rep), 0);
	assert_int_equal(rep[3]->type, REDIS_REPLY_ARRAY);
	assert_int_equal(rep[3]->elements, 2);
	assert_int_equal(rep[3]->element[1]->integer, 2);
	for (int i = 0; i < 4; i++)
		freeReplyObject(rep[i]);
	rbatch_done(&b);

	/* a caller gives up while Redis blocks its command (BLPOP 1 s); the late nil reply
	 * must not reach the next caller */
	assert_int_equal(weft_ctx_with_timeout(NULL, 100 * WEFT_MSEC, &ctx), 0);
	assert_int_equal(one(w->c, ctx, "BLPOP %s 1", "nothing", rep), -ETIMEDOUT);
	weft_ctx_unref(ctx);
	assert_int_equal(one(w->c, NULL, "ECHO %s", "mine", rep), 0);
	assert_int_equal(rep[0]->type, REDIS_REPLY_STRING);
	assert_string_equal(rep[0]->str, "mine");
	freeReplyObject(rep[0]);

	/* Redis gone: -ENOTCONN at once; back: the connection comes back by itself */
	redis_stop();
	while (rconn_up(w->c))
		weft_sleep(NULL, 10 * WEFT_MSEC); /* pacing: the reader sees the EOF */
	assert_int_equal(one(w->c, NULL, "PING%s", "", rep), -ENOTCONN);
	redis_start();
	assert_int_equal(weft_ctx_with_timeout(NULL, 10 * WEFT_SEC, &ctx), 0);
	assert_int_equal(rconn_wait_up(ctx, w->c), 0);
	weft_ctx_unref(ctx);
	assert_int_equal(one(w->c, NULL, "ECHO %s", "back", rep), 0);
	assert_string_equal(rep[0]->str, "back");
	freeReplyObject(rep[0]);

	rconn_stop(w->c);
	assert_int_equal(one(w->c, NULL, "PING%s", "", rep), -ENOTCONN);
	w->c = rconn_free(w->c);
	free(ks);
}

/* ---- a write that fails first ------------------------------------------------------ *
 * A fake server: its first connection never reads, then shuts its reading side
 * (SHUT_RD): the client's write fails with EPIPE while its reads still block, so the
 * writer sees the failure before the reader does. Its second connection answers every
 * command "*2 $4 ECHO $n ARG" with ARG. A command queued behind the failed write must
 * not be sent on the second connection: its reply would go to the next caller. */

struct fake {
	int lfd, go[2];                /* listener; the test's "shut it now" pipe */
	char first[64];                /* the argument of the first command of connection 2 */
	/* shut both sides, not only reading: epoll reports no event to a write parked for
	 * room when its peer only stops reading (io_uring retries it on the wake-up and it
	 * fails), so there the write fails with the EPOLLHUP of both, and the reader may see
	 * the close first; the fix holds in either order */
	atomic_bool both;
};

/* The argument of the ECHO starting at s[0..len) (consumed: *used), or 0 if incomplete. */
static size_t echo_arg(const char *s, size_t len, const char **arg, size_t *used)
{
	const char *p = memmem(s, len, "ECHO\r\n$", 7);
	char *end;

	if (!p)
		return 0;
	size_t n = strtoul(p + 7, &end, 10);
	if ((size_t)(end - s) + 2 + n + 2 > len)
		return 0;
	*arg = end + 2;
	*used = (size_t)(end - s) + 2 + n + 2;
	return n;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	static char buf[1 << 16];
	size_t have = 0;
	char c;

	int c1 = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (read(f->go[0], &c, 1) != 1)
		return NULL;
	shutdown(c1, atomic_load(&f->both) ? SHUT_RDWR : SHUT_RD);
	int c2 = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	for (;;) {
		ssize_t n = read(c2, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		const char *a;
		size_t used, alen;
		while ((alen = echo_arg(buf, have, &a, &used)) > 0) {
			char out[128];
			if (!f->first[0])
				snprintf(f->first, sizeof(f->first), "%.*s", (int)alen, a);
			int k = snprintf(out, sizeof(out), "$%zu\r\n%.*s\r\n", alen, (int)alen, a);
			if (write(c2, out, (size_t)k) != k)
				break;
			memmove(buf, buf + used, have - used);
			have -= used;
		}
	}
	close(c2);
	close(c1);
	return NULL;
}

struct fcall {
	struct rconn *c;
	const char *arg;
	size_t len;
	int r;
	weft_event done;
};

static void fcall_main(void *arg)
{
	struct fcall *k = arg;
	struct rbatch b;
	redisReply *rep;

	rbatch_init(&b);
	rbatch_cmd(&b, "ECHO %b", k->arg, k->len);
	k->r = rconn_exec(NULL, k->c, &b, &rep);
	if (k->r == 0)
		freeReplyObject(rep);
	rbatch_done(&b);
	weft_event_set(&k->done, 0);
}

static void stale_main(void *arg)
{
	struct fake *f = arg;
	struct rconn_opts o = { .is_unix = true, .name = "test" };
	size_t big = 8 << 20; /* far more than a Unix socket's buffer: the write parks */
	char *huge = malloc(big);
	struct rconn *c;
	redisReply *rep;
	weft_ctx *ctx;

	memset(huge, 'x', big);
	snprintf(o.addr, sizeof(o.addr), "%s/fake.sock", g_dir);
	assert_int_equal(rconn_new(&o, &c), 0);
	assert_int_equal(rconn_start(c), 0);
	assert_int_equal(rconn_wait_up(NULL, c), 0);
	struct fcall a = { .c = c, .arg = huge, .len = big }, s = { .c = c, .arg = "stale", .len = 5 };
	weft_event_init(&a.done);
	weft_event_init(&s.done);
	/* one proc: a runs until its write parks, then s queues behind it (pacing only) */
	assert_int_equal(weft_go(fcall_main, &a), 0);
	weft_sleep(NULL, 50 * WEFT_MSEC);
	assert_int_equal(weft_go(fcall_main, &s), 0);
	weft_sleep(NULL, 50 * WEFT_MSEC);
	struct weft_features ft;
	assert_int_equal(weft_features(&ft), 0);
	atomic_store(&f->both, ft.backend == WEFT_BACKEND_EPOLL);
	assert_int_equal(write(f->go[1], "x", 1), 1);
	weft_event_wait(NULL, &a.done);
	weft_event_wait(NULL, &s.done);
	assert_int_equal(a.r, -ENOTCONN);
	assert_int_equal(s.r, -ENOTCONN);
	assert_int_equal(weft_ctx_with_timeout(NULL, 10 * WEFT_SEC, &ctx), 0);
	assert_int_equal(rconn_wait_up(ctx, c), 0);
	weft_ctx_unref(ctx);
	assert_int_equal(one(c, NULL, "ECHO %s", "fresh", &rep), 0);
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	assert_string_equal(rep->str, "fresh");
	freeReplyObject(rep);
	rconn_stop(c);
	rconn_free(c);
	free(huge);
}

static void test_rconn_failed_write(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake f = { 0 };
	pthread_t th;

	signal(SIGPIPE, SIG_IGN); /* as weftd: EPIPE, not a death */
	snprintf(g_dir, sizeof(g_dir), "/tmp/weft-rconn.XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/fake.sock", g_dir);
	assert_true((f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.lfd, 4), 0);
	assert_int_equal(pipe2(f.go, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&th, NULL, fake_main, &f), 0);
	struct weft_opts o = { .procs = 1 };
	assert_int_equal(weft_run(stale_main, &f, &o), 0);
	pthread_join(th, NULL); /* (then f.first is ours to read) */
	assert_string_equal(f.first, "fresh"); /* nothing of the old socket's queue came first */
	close(f.lfd);
	close(f.go[0]);
	close(f.go[1]);
	unlink(sa.sun_path);
	rmdir(g_dir);
}

static void test_rconn_redis(void **state)
{
	struct world w = { 0 };

	if (system("command -v redis-server > /dev/null") != 0)
		skip(); /* a visible skip: the Makefile installs redis-server for make test */
	snprintf(g_dir, sizeof(g_dir), "/tmp/weft-rconn.XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	snprintf(g_sock, sizeof(g_sock), "%s/redis.sock", g_dir);
	atexit(redis_stop); /* a failed assertion ends the program here: no stray server */
	redis_start();
	struct weft_opts o = { .procs = 2 };
	assert_int_equal(weft_run(world_main, &w, &o), 0);
	redis_stop();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	assert_int_equal(system(cmd), 0);
}

static void test_rbatch(void **state)
{
	struct rbatch b;
	char s[41];

	rbatch_init(&b);
	rbatch_cmd(&b, "SET %s %b", "k", "a b", (size_t)3);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.err, 0);
	assert_memory_equal(b.buf, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na b\r\n", b.len);
	rbatch_done(&b);
	rscript_sha("return 1", s);
	assert_string_equal(s, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rbatch),
		cmocka_unit_test(test_rconn_redis),
		cmocka_unit_test(test_rconn_failed_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
