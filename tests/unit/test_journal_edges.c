/* SPDX-License-Identifier: MIT */
/* test_journal_edges.c — the journal's open at its edges (daemon/jobs/journal.c): the
 * messages a refused open leaves (the state_dir held by another daemon, with a pid file
 * longer than the message keeps; a state_dir that cannot be made), an ACCEPT written twice
 * (the last one wins, the first is freed: LeakSanitizer), and the damage report cut to
 * its buffer. test_journal has the rest; these were found by make mutate (issue 18). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <liburing.h> /* IORING_FSYNC_DATASYNC */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <weft/weft.h>

#include "jobs/journal.h"
#include "jobs/jrec.h"
#include "testutil.h"

static char g_dir[64];

static int mk_dir(void **state)
{
	strcpy(g_dir, "/tmp/weft-jedges-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	return 0;
}

static int rm_dir(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int jopen(struct weftd_journal **j, char *warn, size_t warnlen)
{
	struct weftd_journal_opts o = { .dir = g_dir, .mode = WEFTD_DURABILITY_BATCH };
	*j = NULL;
	return weftd_journal_open(&o, j, warn, warnlen);
}

static void put_file(const char *name, const void *b, size_t n, int flags)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

/* ---- refused opens ---- */

/* A second open of a held state_dir is refused with -EWOULDBLOCK and a message naming
 * the holder's pid, as read from the lock file: at most 31 bytes of it (a lock file
 * overwritten with junk cannot overrun the message's buffer). */
static void test_lock_held_message(void **state)
{
	struct weftd_journal *j1, *j2;
	char w[512], want[512];
	assert_int_equal(jopen(&j1, w, sizeof(w)), 0);
	const char *junk = "1234567890123456789012345678901234567890"; /* 40 bytes */
	put_file("lock", junk, strlen(junk), 0);          /* over the pid, lock still held */
	assert_int_equal(jopen(&j2, w, sizeof(w)), -EWOULDBLOCK);
	assert_null(j2);
	snprintf(want, sizeof(want), "state_dir %s is in use by another weftd (pid %.31s): "
		 "each daemon needs its own state_dir", g_dir, junk);
	assert_string_equal(w, want);
	/* the holder's own pid, as it wrote it */
	weftd_journal_free(j1);
	assert_int_equal(jopen(&j1, w, sizeof(w)), 0);
	assert_int_equal(jopen(&j2, w, sizeof(w)), -EWOULDBLOCK);
	snprintf(want, sizeof(want), "state_dir %s is in use by another weftd (pid %ld): "
		 "each daemon needs its own state_dir", g_dir, (long)getpid());
	assert_string_equal(w, want);
	weftd_journal_free(j1);
}

/* A state_dir that cannot be created: the error, and a message naming the directory. */
static void test_dir_uncreatable(void **state)
{
	char dir[128], w[256], want[256];
	snprintf(dir, sizeof(dir), "%s/no/such/dir", g_dir);
	struct weftd_journal_opts o = { .dir = dir, .mode = WEFTD_DURABILITY_FSYNC };
	struct weftd_journal *j = (void *)1;
	assert_int_equal(weftd_journal_open(&o, &j, w, sizeof(w)), -ENOENT);
	snprintf(want, sizeof(want), "journal: %s: %s", dir, strerror(ENOENT));
	assert_string_equal(w, want);
}

/* ---- replay ---- */

struct seen {
	int n;
	char id[16], payload[16];
};

static int collect(const struct weftd_journal_job *job, void *arg)
{
	struct seen *s = arg;
	s->n++;
	snprintf(s->id, sizeof(s->id), "%s", job->id);
	snprintf(s->payload, sizeof(s->payload), "%.*s", (int)job->payload_len,
		 (const char *)job->payload);
	return 0;
}

static void append_accept(const char *id, const char *payload)
{
	unsigned char buf[256];
	long n = weftd_jrec_encode_accept(buf, id, strlen(id), "p", 1, payload, strlen(payload),
					  1, 1000);
	assert_true(n > 0 && (size_t)n <= sizeof(buf));
	put_file("journal", buf, (size_t)n, O_APPEND);
}

/* The same id accepted twice in the file (a retried submit after a crash between the
 * write and the answer): one live job, with the last record's content; the first entry
 * is freed (a leak under ASan otherwise). */
static void test_accept_twice_last_wins(void **state)
{
	put_file("journal", WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN, O_TRUNC);
	append_accept("k1", "first");
	append_accept("k2", "other");
	append_accept("k1", "second");
	struct weftd_journal *j;
	char w[256];
	assert_int_equal(jopen(&j, w, sizeof(w)), 0);
	assert_string_equal(w, "");
	struct weftd_journal_stats st;
	weftd_journal_stats(j, &st);
	assert_int_equal(st.live, 2);
	assert_int_equal(st.recovered, 3);
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.id, "k1"); /* accepted last */
	assert_string_equal(s.payload, "second");
	weftd_journal_free(j);
}

/* A job that ended within the retention comes back at replay as it ended: its stage, state,
 * error, output and log (the strings the replay copies to NUL-terminate them). */
struct ended {
	int n;
	bool finished;
	enum weftd_jrec_state state;
	char stage_name[16], error[16], output[16], log[16];
	uint32_t attempts;
};

static int collect_ended(const struct weftd_journal_job *job, void *arg)
{
	struct ended *e = arg;
	e->n++;
	e->finished = job->finished;
	e->state = job->state;
	snprintf(e->stage_name, sizeof(e->stage_name), "%s", job->stage_name ? job->stage_name : "(null)");
	snprintf(e->error, sizeof(e->error), "%s", job->error ? job->error : "(null)");
	snprintf(e->output, sizeof(e->output), "%.*s", (int)job->output_len, (const char *)job->output);
	snprintf(e->log, sizeof(e->log), "%.*s", (int)job->log_len, job->log);
	e->attempts = job->attempts;
	return 0;
}

static void test_replay_retained(void **state)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	put_file("journal", WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN, O_TRUNC);
	append_accept("k1", "in");
	struct weftd_jrec end = {
		.type = WEFTD_JREC_END, .id = "k1", .id_len = 2, .stage = 1, .stage_name = "s1",
		.stage_name_len = 2, .state = WEFTD_JREC_FAILED, .attempts = 3,
		.started_ms = now_ms - 10, .finished_ms = now_ms, .output = "out", .output_len = 3,
		.error = "boom", .error_len = 4, .log = "tail", .log_len = 4,
	};
	unsigned char buf[256];
	assert_true(weftd_jrec_size(&end) <= sizeof(buf));
	long n = weftd_jrec_encode(buf, &end);
	assert_true(n > 0);
	put_file("journal", buf, (size_t)n, O_APPEND);
	struct weftd_retention keep = { .count = 10, .age_ns = 3600 * WEFT_SEC, .bytes = 1 << 20 };
	struct weftd_journal_opts o = { .dir = g_dir, .mode = WEFTD_DURABILITY_BATCH, .keep = &keep };
	struct weftd_journal *j = NULL;
	char w[256];
	assert_int_equal(weftd_journal_open(&o, &j, w, sizeof(w)), 0);
	struct ended e = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect_ended, &e), 0);
	assert_int_equal(e.n, 1);
	assert_true(e.finished);
	assert_int_equal(e.state, WEFTD_JREC_FAILED);
	assert_string_equal(e.stage_name, "s1");
	assert_string_equal(e.error, "boom");
	assert_string_equal(e.output, "out");
	assert_string_equal(e.log, "tail");
	assert_int_equal(e.attempts, 3);
	weftd_journal_free(j);
}

/* ---- out of service: the backoff ---- */

static _Atomic int g_fail_syncs; /* fail the next N batch syncs with -EIO */

static int sync_hook(void *arg, int fd)
{
	(void)arg;
	if (atomic_load(&g_fail_syncs) > 0 && atomic_fetch_sub(&g_fail_syncs, 1) > 0)
		return -EIO;
	return weft_fsync(NULL, fd, IORING_FSYNC_DATASYNC);
}

struct backoff {
	struct weftd_journal *j;
	int64_t refused_at, accepted_at;
	int first;
};

static void backoff_main(void *arg)
{
	struct backoff *b = arg;
	assert_int_equal(weftd_journal_start(b->j), 0);
	assert_int_equal(weftd_journal_accept(b->j, "k0", "p", "a", 1, 1, 1000), 0);
	atomic_store(&g_fail_syncs, 1);
	b->first = weftd_journal_accept(b->j, "k1", "p", "b", 1, 2, 1000);
	b->refused_at = weft_now();
	int r;
	for (int tries = 0; (r = weftd_journal_accept(b->j, "k2", "p", "c", 1, 3, 1000)) == -EIO &&
	     tries < 10000; tries++)
		weft_sleep(NULL, WEFT_MSEC);
	assert_int_equal(r, 0);
	b->accepted_at = weft_now();
	assert_int_equal(weftd_journal_close(b->j), 0);
}

/* A failed sync puts the journal out of service; the writer probes the file again only
 * after WEFTD_JOURNAL_RETRY_MIN_NS (a timed wait: never sooner, however the submits that
 * were refused meanwhile woke it before the error). */
static void test_backoff_before_probe(void **state)
{
	static const struct weftd_journal_io io = { .sync = sync_hook };
	struct weftd_journal_opts o = { .dir = g_dir, .mode = WEFTD_DURABILITY_BATCH, .io = &io };
	struct backoff b = { 0 };
	char w[256];
	assert_int_equal(weftd_journal_open(&o, &b.j, w, sizeof(w)), 0);
	struct weft_opts wo = { .procs = 1 };
	assert_int_equal(weft_run(backoff_main, &b, &wo), 0);
	assert_int_equal(b.first, -EIO);
	if (b.accepted_at - b.refused_at < WEFTD_JOURNAL_RETRY_MIN_NS)
		fail_msg("writable again %lld ns after the error, before the backoff (%lld ns)",
			 (long long)(b.accepted_at - b.refused_at), (long long)WEFTD_JOURNAL_RETRY_MIN_NS);
	struct weftd_journal_stats st;
	weftd_journal_stats(b.j, &st);
	assert_int_equal(st.recoveries, 1);
	weftd_journal_free(b.j);
}

/* ---- the damage report ---- */

/* A journal of 6 records with records 2 and 4 damaged (one byte flipped in each body). */
static void put_damaged(void)
{
	char path[128];
	snprintf(path, sizeof(path), "rm -f %s/journal*", g_dir);
	assert_int_equal(system(path), 0);
	put_file("journal", WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN, O_TRUNC);
	for (int i = 0; i < 6; i++) {
		unsigned char buf[256];
		char id[16];
		snprintf(id, sizeof(id), "d%d", i);
		long n = weftd_jrec_encode_accept(buf, id, strlen(id), "p", 1, "some payload", 12, 1, 1000);
		assert_true(n > 20);
		if (i == 2 || i == 4)
			buf[n - 3] ^= 0x40;
		put_file("journal", buf, (size_t)n, O_APPEND);
	}
}

/* The report names each damaged range (" off+len") as long as they fit in the caller's
 * buffer, and ends with " ..." when one does not, whenever " ..." itself fits (with 5
 * bytes left it fits exactly, NUL included); never with half a range. */
static void test_damage_report_cut(void **state)
{
	struct weftd_journal *j;
	char full[512], w[512];
	put_damaged();
	assert_int_equal(jopen(&j, full, sizeof(full)), 0);
	weftd_journal_free(j);
	/* "...quarantined N bytes in 2 ranges to journal.bad.<ns>: A+a B+b" */
	char *colon = strrchr(full, ':');
	assert_non_null(colon);
	char *second = strrchr(full, ' '); /* " B+b" */
	assert_true(second > colon);
	size_t keep = (size_t)(second - full); /* through " A+a" */
	for (size_t extra = 4; extra <= 6; extra++) {
		put_damaged();
		memset(w, 'Z', sizeof(w));
		assert_int_equal(jopen(&j, w, keep + extra), 0);
		weftd_journal_free(j);
		/* the prefix is the same but for the quarantine file's name (same length) */
		assert_memory_equal(w + (colon - full), full + (colon - full), keep - (size_t)(colon - full));
		if (extra >= 5) { /* " ..." fits: the reader learns the list was cut */
			assert_int_equal(strlen(w), keep + 4);
			assert_string_equal(w + keep, " ...");
		} else {
			assert_int_equal(strlen(w), keep);
		}
		assert_int_equal(w[keep + extra], 'Z'); /* nothing written past warnlen */
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, mk_dir, rm_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_lock_held_message),
		T(test_dir_uncreatable),
		T(test_accept_twice_last_wins),
		T(test_replay_retained),
		T(test_backoff_before_probe),
		T(test_damage_report_cut),
	};
	return cmocka_run_group_tests_name("journal edges", tests, NULL, NULL);
}
