/* SPDX-License-Identifier: MIT */
/* test_pipelined.c — group commit across the pipelined lines of one connection
 * (server/conn.c): a real server, engine and journal (its I/O hook counting the syncs
 * really issued), and a client that writes many requests in one write.
 *   - the submits of one read share fsyncs (far fewer syncs than jobs), yet every answer
 *     comes after the sync that covered its ACCEPT, and the answers keep line order;
 *   - a line that is not a submit waits for the submits before it (list sees them all);
 *   - a submit whose key is carried by a submit in flight waits for it: it then finds the
 *     first's job (duplicate) before journaling anything (no ACCEPT of its own written);
 *   - with fsync durability, one sync per submit all the same. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <liburing.h> /* IORING_FSYNC_DATASYNC */
#include <weft/weft.h>

#include "config/config.h"
#include "engine/engine.h"
#include "jobs/journal.h"
#include "jobs/jrec.h"
#include "server/server.h"
#include "testutil.h"

#define SUBMITS 200

static char g_dir[64];

/* ---- the journal's I/O, observed ---- */

static struct {
	_Atomic unsigned long syncs;     /* syncs issued to the kernel */
	_Atomic unsigned long written;   /* ACCEPT records written */
	_Atomic unsigned long synced;    /* ... and covered by a sync since */
	_Atomic int k1_written;          /* payload "K1"'s ACCEPT written */
	_Atomic int k1_synced;           /* ... and synced */
	_Atomic int k2_early;            /* payload "K2"'s ACCEPT written before that */
	_Atomic int k2_written;          /* ... written at all */
} g_io;

static int io_writev(void *arg, int fd, const struct iovec *iov, int cnt, int64_t off)
{
	int r = weft_writev(NULL, fd, iov, cnt, off);
	size_t left = r > 0 ? (size_t)r : 0;

	(void)arg;
	for (int i = 0; i < cnt && left >= iov[i].iov_len; left -= iov[i].iov_len, i++) {
		struct weftd_jrec rec;
		if (weftd_jrec_decode(iov[i].iov_base, iov[i].iov_len, &rec) <= 0 ||
		    (rec.type != WEFTD_JREC_ACCEPT && rec.type != WEFTD_JREC_ACCEPT2))
			continue;
		atomic_fetch_add(&g_io.written, 1);
		if (rec.payload_len == 2 && memcmp(rec.payload, "K1", 2) == 0)
			atomic_store(&g_io.k1_written, 1);
		if (rec.payload_len == 2 && memcmp(rec.payload, "K2", 2) == 0) {
			atomic_store(&g_io.k2_written, 1);
			if (!atomic_load(&g_io.k1_synced))
				atomic_store(&g_io.k2_early, 1);
		}
	}
	return r;
}

static int io_sync(void *arg, int fd)
{
	unsigned long w = atomic_load(&g_io.written); /* what the sync covers */
	int k1 = atomic_load(&g_io.k1_written);
	int r = weft_fsync(NULL, fd, IORING_FSYNC_DATASYNC);

	(void)arg;
	if (r < 0)
		return r;
	atomic_fetch_add(&g_io.syncs, 1);
	atomic_store(&g_io.synced, w);
	if (k1)
		atomic_store(&g_io.k1_synced, 1);
	return 0;
}

static const struct weftd_journal_io g_hook = { .writev = io_writev, .sync = io_sync };

/* ---- the client (a plain thread: blocking socket) ---- */

struct client {
	const char *path;
	const char *req;               /* written in one write */
	size_t nlines;                 /* answers to read */
	char *ans;                     /* what came back */
	size_t len;
	int ok;                        /* 0: every answer after its sync, ids in order */
	size_t submits_seen;
	size_t dups;                   /* answers "duplicate": true */
};

static int client_run(void *arg)
{
	struct client *cl = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t cap = 1 << 20, lines = 0, scanned = 0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cl->path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (write(fd, cl->req, strlen(cl->req)) != (ssize_t)strlen(cl->req))
		return -EIO;
	cl->ans = malloc(cap);
	while (lines < cl->nlines && cl->len < cap) {
		ssize_t n = read(fd, cl->ans + cl->len, cap - cl->len);
		if (n <= 0)
			break;
		cl->len += (size_t)n;
		/* as each answer arrives: its submit's ACCEPT was synced already */
		unsigned long synced = atomic_load(&g_io.synced);
		char *nl;
		while ((nl = memchr(cl->ans + scanned, '\n', cl->len - scanned))) {
			char want[32];
			size_t at = scanned;
			snprintf(want, sizeof(want), "{\"id\":%zu,", lines + 1);
			if (strncmp(cl->ans + at, want, strlen(want)) != 0)
				cl->ok = -1; /* out of line order */
			size_t ll = (size_t)(nl - cl->ans) - at;
			if (memmem(cl->ans + at, ll, "\"duplicate\":true", 16))
				cl->dups++; /* nothing journaled: the first job's answer */
			else if (memmem(cl->ans + at, ll, "\"job\":", 6) && ++cl->submits_seen > synced)
				cl->ok = -2; /* answered before its record was durable */
			scanned = (size_t)(nl - cl->ans) + 1;
			lines++;
		}
	}
	close(fd);
	return lines == cl->nlines ? 0 : -EPROTO;
}

/* ---- the daemon in-process ---- */

struct world {
	enum weftd_durability mode;
	struct client *cl;
	int client_r;
};

struct serve {
	struct weftd_server *s;
	weft_ctx *ctx;
	weft_wg *wg;
};

static void serve_main(void *arg)
{
	struct serve *sv = arg;
	weftd_server_run(sv->s, sv->ctx);
	weft_wg_done(sv->wg);
}

static void world_main(void *arg)
{
	struct world *w = arg;
	char yaml[512], err[256], sock[128];
	struct weftd_config *cfg = NULL;
	struct weftd_engine *e = NULL;
	struct weftd_journal *jn = NULL;
	struct weftd_server *srv = NULL;
	weft_ctx *ctx = NULL;
	bool act;
	int lfd;

	snprintf(sock, sizeof(sock), "%s/s.sock", g_dir);
	snprintf(yaml, sizeof(yaml), "daemon:\n  socket: %s\n  state_dir: %s/state\n"
		 "  durability: %s\npipelines:\n  p:\n    stages:\n"
		 "      - {name: s, builtin: noop, queue: 4096}\n", sock, g_dir,
		 w->mode == WEFTD_DURABILITY_FSYNC ? "fsync" : "batch");
	assert_int_equal(weftd_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, err, sizeof(err)), 0);
	assert_int_equal(weftd_engine_new(cfg, &e, err, sizeof(err)), 0);
	const struct weftd_daemon_config *d = &weftd_engine_config(e)->daemon;
	struct weftd_journal_opts jo = { .dir = d->state_dir, .mode = d->durability, .io = &g_hook };
	assert_int_equal(weftd_journal_open(&jo, &jn, err, sizeof(err)), 0);
	weftd_engine_set_journal(e, jn);
	assert_int_equal(weftd_engine_start(e), 0);
	assert_int_equal(weftd_journal_start(jn), 0);
	lfd = weftd_server_listen(d, &act, &(struct weftd_sockfile){ 0 }, err, sizeof(err));
	assert_true(lfd >= 0);
	assert_int_equal(weftd_server_new(e, lfd, d, &srv), 0);
	assert_int_equal(weft_ctx_with_cancel(NULL, &ctx), 0);
	weft_wg wg = WEFT_WG_INIT;
	weft_wg_add(&wg, 1);
	struct serve sv = { srv, ctx, &wg };
	assert_int_equal(weft_go(serve_main, &sv), 0);
	w->cl->path = sock;
	w->client_r = weft_blocking(client_run, w->cl);
	weft_ctx_cancel(ctx);
	weft_wg_wait(NULL, &wg);
	weftd_server_close_conns(srv, WEFT_SEC);
	weftd_engine_stop(e);
	weftd_journal_close(jn);
	weftd_server_free(srv);
	close(lfd);
	weftd_engine_free(e);
	weftd_journal_free(jn);
	weft_ctx_unref(ctx);
}

/* n submit lines with ids from *id on, appended to s at *len */
static void add_submits(char *s, size_t *len, size_t *id, int n, const char *payload, const char *key)
{
	for (int i = 0; i < n; i++) {
		*len += (size_t)sprintf(s + *len, "{\"id\":%zu,\"op\":\"submit\",\"pipeline\":\"p\","
					"\"payload\":\"%s\"%s%s%s}\n", (*id)++, payload,
					key ? ",\"key\":\"" : "", key ? key : "", key ? "\"" : "");
	}
}

static size_t count(const char *s, size_t len, const char *what)
{
	size_t n = 0;
	for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), what, strlen(what))); p++)
		n++;
	return n;
}

static void run_world(struct world *w)
{
	struct weft_opts o = { .procs = g_procs };
	memset(&g_io, 0, sizeof(g_io));
	assert_int_equal(weft_run(world_main, w, &o), 0);
	assert_int_equal(w->client_r, 0);
	assert_int_equal(w->cl->ok, 0);
}

static int mk_dir(void **state)
{
	set_procs(state);
	strcpy(g_dir, "/tmp/weft-pipelined-XXXXXX");
	return mkdtemp(g_dir) ? 0 : -1;
}

static int rm_dir(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	return system(cmd);
}

/* SUBMITS pipelined submits, a list between them: few syncs, each answer after its sync,
 * line order kept, and the list sees every job submitted before it. */
static void test_submits_share_syncs(void **state)
{
	static char req[SUBMITS * 128 + 256];
	size_t len = 0, id = 1;
	add_submits(req, &len, &id, SUBMITS / 2, "x", NULL);
	len += (size_t)sprintf(req + len, "{\"id\":%zu,\"op\":\"list\",\"limit\":1000}\n", id++);
	add_submits(req, &len, &id, SUBMITS / 2, "x", NULL);
	struct client cl = { .req = req, .nlines = id - 1 };
	struct world w = { .mode = WEFTD_DURABILITY_BATCH, .cl = &cl };
	run_world(&w);
	assert_int_equal(cl.submits_seen, SUBMITS);
	assert_int_equal(atomic_load(&g_io.written), SUBMITS);
	/* one read may come in a few pieces, and the writer may take the first ACCEPT of a
	 * group alone: a handful of syncs, not one per submit */
	unsigned long syncs = atomic_load(&g_io.syncs);
	print_message("%d submits: %lu syncs\n", SUBMITS, syncs);
#ifdef WEFT_SAN_THREAD
	/* TSan spawns 5-15x slower and the writer sees them trickle (24 to 121 syncs here):
	 * grouping is timing, checked in the plain and ASan runs; here no submit syncs twice */
	assert_true(syncs <= SUBMITS);
#else
	assert_true(syncs <= SUBMITS / 10);
#endif
	/* the list (line SUBMITS/2 + 1) shows the SUBMITS/2 jobs before it */
	char *list = memmem(cl.ans, cl.len, "\"jobs\":[", 8);
	assert_non_null(list);
	char *end = memchr(list, '\n', cl.len - (size_t)(list - cl.ans));
	assert_int_equal(count(list, (size_t)(end - list), "\"pipeline\":\"p\""), SUBMITS / 2);
	free(cl.ans);
}

/* Two submits with one key, others in between: the second waits for the first, finds its
 * job in the table and answers duplicate with nothing journaled (run together, both
 * would be journaled and the second refused after its fsync). */
static void test_same_key_waits(void **state)
{
	static char req[SUBMITS * 128];
	size_t len = 0, id = 1;
	add_submits(req, &len, &id, 50, "x", NULL);
	add_submits(req, &len, &id, 1, "K1", "k");
	add_submits(req, &len, &id, 20, "x", NULL);
	add_submits(req, &len, &id, 1, "K2", "k");
	add_submits(req, &len, &id, 20, "x", "other");
	struct client cl = { .req = req, .nlines = id - 1 };
	struct world w = { .mode = WEFTD_DURABILITY_BATCH, .cl = &cl };
	run_world(&w);
	assert_int_equal(atomic_load(&g_io.k2_early), 0);
	assert_int_equal(atomic_load(&g_io.k2_written), 0);
	assert_int_equal(cl.dups, 20); /* K2, and the 19 "other" after the first */
	free(cl.ans);
}

/* fsync durability: each submit still gets a sync of its own. */
static void test_fsync_mode(void **state)
{
	static char req[64 * 128];
	size_t len = 0, id = 1;
	add_submits(req, &len, &id, 64, "x", NULL);
	struct client cl = { .req = req, .nlines = id - 1 };
	struct world w = { .mode = WEFTD_DURABILITY_FSYNC, .cl = &cl };
	run_world(&w);
	assert_int_equal(atomic_load(&g_io.syncs), 64);
	free(cl.ans);
}

#define P(fn, procs) cmocka_unit_test_prestate_setup_teardown(fn, mk_dir, rm_dir, (void *)(procs))

int main(void)
{
	const struct CMUnitTest table[] = {
		P(test_submits_share_syncs, 1),
		P(test_submits_share_syncs, 2),
		P(test_same_key_waits, 1),
		P(test_same_key_waits, 2),
		P(test_fsync_mode, 1),
	};
	return cmocka_run_group_tests_name("pipelined", table, NULL, NULL);
}
