/* SPDX-License-Identifier: MIT */
/* test_journal.c — journal record codec (CRC, framing, torn/corrupt frames) and the
 * journal: replay round trip, corrupt tails, group commit fsync counts, compaction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <liburing.h> /* IORING_FSYNC_DATASYNC */
#include <weft/weft.h>

#include "jobs/journal.h"
#include "jobs/jrec.h"
#include "testutil.h"


/* ---- codec ---- */

static void test_crc32_vectors(void **state)
{
	assert_int_equal(weftd_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(weftd_crc32(0, "", 0), 0);
	/* chainable */
	assert_int_equal(weftd_crc32(weftd_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

/* A record written before owners were kept (no owner after the payload) still decodes,
 * ownerless; and an unknown owner is written the old way, byte for byte. */
static void test_codec_owner_compat(void **state)
{
	(void)state;
	/* the old format, built by hand: u8 1 | u64 ts | u16 id | u16 pipe | u32 payload | ... */
	unsigned char old[64] = { 0 }, *b = old + WEFTD_JREC_FRAME_HDR;
	size_t body = WEFTD_JREC_ACCEPT_HDR + 2 + 1 + 3;
	b[0] = WEFTD_JREC_ACCEPT; b[1] = 7; b[9] = 2; b[11] = 1; b[13] = 3;
	memcpy(b + WEFTD_JREC_ACCEPT_HDR, "j1pxyz", 6);
	uint32_t crc = weftd_crc32(0, b, body);
	old[0] = (unsigned char)body;
	for (int i = 0; i < 4; i++)
		old[4 + i] = (unsigned char)(crc >> (8 * i));
	struct weftd_jrec r;
	long n = (long)(WEFTD_JREC_FRAME_HDR + body);
	assert_int_equal(weftd_jrec_decode(old, (size_t)n, &r), n);
	assert_int_equal(r.owner, WEFTD_JREC_NO_OWNER);
	assert_int_equal(r.submitted_ns, 7);
	assert_memory_equal(r.payload, "xyz", 3);
	unsigned char again[64];
	assert_int_equal(weftd_jrec_encode_accept(again, "j1", 2, "p", 1, "xyz", 3, 7, WEFTD_JREC_NO_OWNER), n);
	assert_memory_equal(again, old, (size_t)n);
	assert_int_equal(weftd_jrec_encode_accept(again, "j1", 2, "p", 1, "xyz", 3, 7, 0), n + 4);
	assert_int_equal(weftd_jrec_decode(again, (size_t)n + 4, &r), n + 4);
	assert_int_equal(r.owner, 0);
}

static void test_codec_round_trip(void **state)
{
	unsigned char buf[256];
	long n = weftd_jrec_encode_accept(buf, "job1", 4, "shout", 5, "hi\0there", 8, 42, 1000);
	assert_int_equal(n, (long)weftd_jrec_accept_size(4, 5, 8));
	struct weftd_jrec r;
	assert_int_equal(weftd_jrec_decode(buf, (size_t)n, &r), n);
	assert_int_equal(r.type, WEFTD_JREC_ACCEPT);
	assert_memory_equal(r.id, "job1", 4);
	assert_memory_equal(r.pipeline, "shout", 5);
	assert_int_equal(r.payload_len, 8);
	assert_memory_equal(r.payload, "hi\0there", 8);
	assert_int_equal(r.submitted_ns, 42);
	assert_int_equal(r.owner, 1000);
	/* every strict prefix is a torn frame, never a record */
	for (long i = 0; i < n; i++)
		assert_int_equal(weftd_jrec_decode(buf, (size_t)i, &r), 0);
	/* a flipped body byte is corrupt */
	for (long i = WEFTD_JREC_FRAME_HDR; i < n; i++) {
		buf[i] ^= 0x40;
		assert_int_equal(weftd_jrec_decode(buf, (size_t)n, &r), -EBADMSG);
		buf[i] ^= 0x40;
	}
	n = weftd_jrec_encode_finish(buf, "job1", 4, WEFTD_JREC_CANCELED);
	assert_int_equal(n, (long)weftd_jrec_finish_size(4));
	assert_int_equal(weftd_jrec_decode(buf, (size_t)n, &r), n);
	assert_int_equal(r.type, WEFTD_JREC_FINISH);
	assert_int_equal(r.state, WEFTD_JREC_CANCELED);
	/* limits */
	assert_int_equal(weftd_jrec_encode_finish(buf, "", 0, WEFTD_JREC_DONE), -EINVAL);
	assert_int_equal(weftd_jrec_encode_finish(buf, "x", 1, 9), -EINVAL);
	/* zero length and absurd length frames are corrupt, not torn */
	memset(buf, 0, 8);
	assert_int_equal(weftd_jrec_decode(buf, 8, &r), -EBADMSG);
	memset(buf, 0xff, 8);
	assert_int_equal(weftd_jrec_decode(buf, 8, &r), -EBADMSG);
}

static int count_rec(const struct weftd_jrec *r, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int count_bad(size_t off, size_t len, void *arg)
{
	(*(int *)arg) += 1000;
	return 0;
}

static void test_scan(void **state)
{
	unsigned char buf[512];
	size_t len = WEFTD_JREC_MAGIC_LEN, a_len;
	struct weftd_jrec_scan_result sr;
	memcpy(buf, WEFTD_JREC_MAGIC, len);
	len += a_len = (size_t)weftd_jrec_encode_accept(buf + len, "a", 1, "p", 1, "xyz", 3, 1, 1000);
	len += (size_t)weftd_jrec_encode_finish(buf + len, "a", 1, WEFTD_JREC_DONE);
	int n = 0;
	assert_int_equal(weftd_jrec_scan(buf, len, count_rec, count_bad, &n, &sr), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sr.records, 2);
	assert_int_equal(sr.bad_ranges, 0);
	/* a torn tail is one damaged range */
	n = 0;
	assert_int_equal(weftd_jrec_scan(buf, len - 1, count_rec, count_bad, &n, &sr), 0);
	assert_int_equal(n, 1001);
	assert_int_equal(sr.bad_bytes, weftd_jrec_finish_size(1) - 1);
	/* a damaged header: the records after it are still found */
	buf[0] = 'X';
	n = 0;
	assert_int_equal(weftd_jrec_scan(buf, len, count_rec, count_bad, &n, &sr), 0);
	assert_int_equal(n, 1002);
	assert_int_equal(sr.bad_bytes, WEFTD_JREC_MAGIC_LEN);
	/* a damaged first record: the second is still found */
	buf[0] = 'W';
	buf[WEFTD_JREC_MAGIC_LEN + a_len - 1] ^= 0x20;
	n = 0;
	assert_int_equal(weftd_jrec_scan(buf, len, count_rec, count_bad, &n, &sr), 0);
	assert_int_equal(n, 1001);
	assert_int_equal(sr.bad_bytes, a_len);
	/* nothing at all is not damage */
	assert_int_equal(weftd_jrec_scan(buf, 0, count_rec, count_bad, &n, &sr), 0);
	assert_int_equal(sr.bad_ranges, 0);
}

/* ---- journal ---- */

static char g_dir[64];

static int mk_dir(void **state)
{
	strcpy(g_dir, "/tmp/weft-journal-XXXXXX");
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

static struct weftd_journal *jopen(enum weftd_durability mode, uint64_t compact, char *warn)
{
	struct weftd_journal_opts o = { .dir = g_dir, .mode = mode, .compact_bytes = compact };
	struct weftd_journal *j = NULL;
	char w[256];
	assert_int_equal(weftd_journal_open(&o, &j, warn ? warn : w, 256), 0);
	assert_non_null(j);
	return j;
}

struct seen {
	int n;
	char ids[64][32];
	char pipes[64][32];
	char payloads[64][64];
	uint64_t ts[64];
};

static int collect(const struct weftd_journal_job *job, void *arg)
{
	struct seen *s = arg;
	assert_true(s->n < 64);
	snprintf(s->ids[s->n], 32, "%s", job->id);
	snprintf(s->pipes[s->n], 32, "%s", job->pipeline);
	snprintf(s->payloads[s->n], 64, "%.*s", (int)job->payload_len, (const char *)job->payload);
	s->ts[s->n] = job->submitted_ns;
	assert_int_equal(job->owner, 1000); /* every accept here is made as uid 1000 */
	s->n++;
	return 0;
}

struct task {
	struct weftd_journal *j;
	int n;              /* jobs to accept */
	int finish_every;   /* finish ids i % finish_every != 0 (0: none) */
	int payload;        /* payload bytes */
	int expect;         /* accept result */
	weft_wg *wg;        /* done when the accept returned */
	weft_wg *gate;      /* concurrent test: start all accepts together */
};

static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

static void roundtrip_main(void *arg)
{
	struct weftd_journal *j = arg;
	assert_int_equal(weftd_journal_start(j), 0);
	assert_int_equal(weftd_journal_accept(j, "j1", "shout", "hello", 5, 11, 1000), 0);
	assert_int_equal(weftd_journal_accept(j, "j2", "shout", "world", 5, 12, 1000), 0);
	assert_int_equal(weftd_journal_accept(j, "j3", "digest", "", 0, 13, 1000), 0);
	assert_int_equal(weftd_journal_accept(j, "j2", "shout", "dup", 3, 14, 1000), -EEXIST);
	assert_int_equal(weftd_journal_finish(j, "j2", WEFTD_JREC_DONE), 0);
	assert_int_equal(weftd_journal_finish(j, "j2", WEFTD_JREC_DONE), -ENOENT);
	assert_int_equal(weftd_journal_finish(j, "nope", WEFTD_JREC_DONE), -ENOENT);
	assert_int_equal(weftd_journal_close(j), 0);
	assert_int_equal(weftd_journal_accept(j, "j4", "shout", "late", 4, 15, 1000), -ESHUTDOWN);
	struct weftd_journal_stats st;
	weftd_journal_stats(j, &st);
	assert_int_equal(st.accepts, 3);
	assert_int_equal(st.live, 2);
}

static void test_roundtrip(void **state)
{
	for (int mode = WEFTD_DURABILITY_BATCH; mode <= WEFTD_DURABILITY_FSYNC; mode++) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -f %s/journal", g_dir);
		assert_int_equal(system(cmd), 0);
		struct weftd_journal *j = jopen(mode, 0, NULL);
		run(roundtrip_main, j);
		weftd_journal_free(j);
		char warn[256];
		j = jopen(mode, 0, warn);
		assert_string_equal(warn, "");
		struct seen s = { 0 };
		assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
		assert_int_equal(s.n, 2);
		assert_string_equal(s.ids[0], "j1");
		assert_string_equal(s.pipes[0], "shout");
		assert_string_equal(s.payloads[0], "hello");
		assert_int_equal(s.ts[0], 11);
		assert_string_equal(s.ids[1], "j3");
		assert_string_equal(s.pipes[1], "digest");
		assert_string_equal(s.payloads[1], "");
		struct weftd_journal_stats st;
		weftd_journal_stats(j, &st);
		assert_int_equal(st.replayed, 2);
		assert_int_equal(st.quarantined_bytes, 0);
		weftd_journal_free(j);
	}
}

static int finish_lost(const struct weftd_journal_job *job, void *arg)
{
	if (strcmp(job->pipeline, "digest") == 0)
		assert_int_equal(weftd_journal_finish(arg, job->id, WEFTD_JREC_LOST), 0);
	return 0;
}

/* A job whose pipeline is gone is finished as LOST during replay and stays finished. */
static void test_replay_lost(void **state)
{
	struct weftd_journal *j = jopen(WEFTD_DURABILITY_FSYNC, 0, NULL);
	run(roundtrip_main, j);
	weftd_journal_free(j);
	j = jopen(WEFTD_DURABILITY_FSYNC, 0, NULL);
	assert_int_equal(weftd_journal_replay(j, finish_lost, j), 0);
	weftd_journal_free(j);
	j = jopen(WEFTD_DURABILITY_FSYNC, 0, NULL);
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ids[0], "j1");
	weftd_journal_free(j);
}

static off_t file_size(void)
{
	char path[128];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/journal", g_dir);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

static void append_bytes(const void *b, size_t n)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/journal", g_dir);
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

static void test_corrupt_tail(void **state)
{
	struct weftd_journal *j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	run(roundtrip_main, j);
	weftd_journal_free(j);
	off_t good = file_size();
	/* a torn record: the first half of a valid ACCEPT */
	unsigned char rec[128];
	long n = weftd_jrec_encode_accept(rec, "j9", 2, "shout", 5, "torn", 4, 1, 1000);
	append_bytes(rec, (size_t)n / 2);
	char warn[256];
	j = jopen(WEFTD_DURABILITY_BATCH, 0, warn);
	assert_non_null(strstr(warn, "quarantined"));
	struct weftd_journal_stats st;
	weftd_journal_stats(j, &st);
	assert_int_equal(st.quarantined_bytes, n / 2);
	assert_int_equal(st.live, 2);
	assert_int_equal(file_size(), good);
	weftd_journal_free(j);
	/* garbage with a valid-looking length but a bad CRC, then a good record after it:
	 * the garbage is skipped, the record after it kept */
	unsigned char junk[24] = { 8, 0, 0, 0, 1, 2, 3, 4 };
	append_bytes(junk, sizeof(junk));
	append_bytes(rec, (size_t)n);
	j = jopen(WEFTD_DURABILITY_BATCH, 0, warn);
	assert_non_null(strstr(warn, "quarantined 24 bytes in 1 ranges"));
	weftd_journal_stats(j, &st);
	assert_int_equal(st.quarantined_bytes, sizeof(junk));
	assert_int_equal(st.live, 3);
	assert_int_equal(file_size(), good + n);
	weftd_journal_free(j);
	/* not a journal at all: moved aside, a fresh one started */
	char path[128];
	snprintf(path, sizeof(path), "%s/journal", g_dir);
	FILE *f = fopen(path, "w");
	fputs("hello, I am not a journal", f);
	fclose(f);
	j = jopen(WEFTD_DURABILITY_BATCH, 0, warn);
	assert_non_null(strstr(warn, "journal.bad"));
	weftd_journal_stats(j, &st);
	assert_int_equal(st.live, 0);
	assert_int_equal(file_size(), WEFTD_JREC_MAGIC_LEN);
	weftd_journal_free(j);
}

/* ---- damage: a golden journal of GOLDEN records, damaged at each record in turn ---- */

#define GOLDEN 40

static void golden_main(void *arg)
{
	struct weftd_journal *j = arg;
	assert_int_equal(weftd_journal_start(j), 0);
	for (int i = 1; i <= GOLDEN; i++) {
		char id[16], pl[64];
		snprintf(id, sizeof(id), "g%d", i);
		snprintf(pl, sizeof(pl), "payload of job %d", i);
		assert_int_equal(weftd_journal_accept(j, id, "p", pl, strlen(pl), (uint64_t)i, 1000), 0);
	}
	assert_int_equal(weftd_journal_close(j), 0);
}

static void put_file(const char *name, const void *b, size_t n)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

static size_t get_file(const char *name, void *b, size_t cap)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, b, cap);
	assert_true(n >= 0 && (size_t)n < cap);
	close(fd);
	return (size_t)n;
}

/* The quarantine files in g_dir: how many, and the total of their sizes. */
static int bad_files(size_t *ret_bytes)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cat %s/journal.bad.* 2>/dev/null | wc -c; ls %s | grep -c '^journal\\.bad\\.'", g_dir, g_dir);
	FILE *p = popen(cmd, "r");
	unsigned long bytes = 0;
	int n = 0;
	assert_int_equal(fscanf(p, "%lu %d", &bytes, &n), 2);
	pclose(p);
	*ret_bytes = bytes;
	return n;
}

/* Flip one byte at each record in turn, at the start of its frame (the length), in its CRC
 * and in its body: every other record is recovered, the damaged one is quarantined. */
static void test_damage_each_record(void **state)
{
	struct weftd_journal *j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	run(golden_main, j);
	weftd_journal_free(j);
	static unsigned char gold[8192], img[8192];
	size_t len = get_file("journal", gold, sizeof(gold));
	size_t off[GOLDEN + 1], at = WEFTD_JREC_MAGIC_LEN;
	for (int i = 0; i < GOLDEN; i++) {
		struct weftd_jrec r;
		long n = weftd_jrec_decode(gold + at, len - at, &r);
		assert_true(n > 0);
		off[i] = at;
		at += (size_t)n;
	}
	off[GOLDEN] = at;
	assert_int_equal(at, len);
	int cases = 0, recovered = 0;
	for (int i = 0; i < GOLDEN; i++) {
		size_t rl = off[i + 1] - off[i];
		size_t where[3] = { off[i] + 1, off[i] + 5, off[i] + rl / 2 + 4 };
		for (int w = 0; w < 3; w++) {
			char cmd[160], warn[256];
			snprintf(cmd, sizeof(cmd), "rm -f %s/journal*", g_dir);
			assert_int_equal(system(cmd), 0);
			memcpy(img, gold, len);
			img[where[w]] ^= 0x40;
			put_file("journal", img, len);
			j = jopen(WEFTD_DURABILITY_BATCH, 0, warn);
			struct weftd_journal_stats st;
			weftd_journal_stats(j, &st);
			struct seen s = { 0 };
			assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
			assert_int_equal(s.n, GOLDEN - 1);
			for (int k = 0, m = 0; k < GOLDEN; k++) {
				if (k == i)
					continue;
				char id[16];
				snprintf(id, sizeof(id), "g%d", k + 1);
				assert_string_equal(s.ids[m++], id);
			}
			assert_int_equal(st.recovered, GOLDEN - 1);
			assert_int_equal(st.quarantined_bytes, rl);
			assert_non_null(strstr(warn, "kept 39 records"));
			size_t bb;
			assert_int_equal(bad_files(&bb), 1);
			assert_int_equal(bb, rl);
			/* the journal was rewritten without the damage: a restart finds it clean */
			weftd_journal_free(j);
			j = jopen(WEFTD_DURABILITY_BATCH, 0, warn);
			assert_string_equal(warn, "");
			weftd_journal_free(j);
			assert_int_equal(file_size(), (off_t)(len - rl));
			cases++;
			recovered += (int)st.recovered;
		}
	}
	print_message("journal damage: %d cases (3 byte flips at each of %d records), %d of %d "
		      "other records recovered\n", cases, GOLDEN, recovered, cases * (GOLDEN - 1));
}

/* A damaged header loses nothing else; two damaged starts keep two quarantine files. */
static void test_damage_header_twice(void **state)
{
	struct weftd_journal *j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	run(golden_main, j);
	weftd_journal_free(j);
	static unsigned char img[8192];
	size_t len = get_file("journal", img, sizeof(img));
	img[3] ^= 1;
	put_file("journal", img, len);
	char warn[256];
	j = jopen(WEFTD_DURABILITY_BATCH, 0, warn);
	struct weftd_journal_stats st;
	weftd_journal_stats(j, &st);
	assert_int_equal(st.live, GOLDEN);
	assert_int_equal(st.quarantined_bytes, WEFTD_JREC_MAGIC_LEN);
	weftd_journal_free(j);
	size_t bb;
	assert_int_equal(bad_files(&bb), 1);
	/* the second damaged start: a torn tail this time */
	len = get_file("journal", img, sizeof(img));
	put_file("journal", img, len - 3);
	j = jopen(WEFTD_DURABILITY_BATCH, 0, warn);
	weftd_journal_stats(j, &st);
	assert_int_equal(st.live, GOLDEN - 1);
	weftd_journal_free(j);
	assert_int_equal(bad_files(&bb), 2);
	/* both kept: the first one's header, the second one's torn last record ("g40") */
	struct weftd_jrec a = { .type = WEFTD_JREC_ACCEPT2, .id_len = 3, .pipeline_len = 1,
				.payload_len = 17 };
	assert_int_equal(bb, WEFTD_JREC_MAGIC_LEN + weftd_jrec_size(&a) - 3);
}

static void accepter(void *arg)
{
	struct task *t = arg;
	char id[32];
	snprintf(id, sizeof(id), "c%d", t->n);
	weft_wg_wait(NULL, t->gate);
	t->expect = weftd_journal_accept(t->j, id, "p", "payload", 7, (uint64_t)t->n, 1000);
	weft_wg_done(t->wg);
}

struct conc {
	struct weftd_journal *j;
	int n;
	weft_fn accept;                /* each submitter; NULL: accepter */
	struct task tasks[256];
};

static void concurrent_main(void *arg)
{
	struct conc *c = arg;
	assert_int_equal(weftd_journal_start(c->j), 0);
	weft_wg wg, gate;
	weft_wg_init(&wg);
	weft_wg_init(&gate);
	weft_wg_add(&gate, 1); /* however slow spawning is (TSan), the accepts overlap */
	for (int i = 0; i < c->n; i++) {
		c->tasks[i] = (struct task){ .j = c->j, .n = i, .expect = 1, .wg = &wg, .gate = &gate };
		weft_wg_add(&wg, 1);
		assert_int_equal(weft_go(c->accept ? c->accept : accepter, &c->tasks[i]), 0);
	}
	weft_wg_done(&gate);
	assert_int_equal(weft_wg_wait(NULL, &wg), 0);
	assert_int_equal(weftd_journal_close(c->j), 0);
}

/* N concurrent submitters: BATCH needs fewer than N fsyncs, FSYNC exactly N; all durable. */
static void test_group_commit(void **state)
{
	int n = TEST_SCALE(100) < 20 ? 20 : TEST_SCALE(100);
	for (int mode = WEFTD_DURABILITY_BATCH; mode <= WEFTD_DURABILITY_FSYNC; mode++) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -f %s/journal", g_dir);
		assert_int_equal(system(cmd), 0);
		struct conc *c = calloc(1, sizeof(*c));
		c->j = jopen(mode, 0, NULL);
		c->n = n;
		run(concurrent_main, c);
		for (int i = 0; i < n; i++)
			assert_int_equal(c->tasks[i].expect, 0);
		struct weftd_journal_stats st;
		weftd_journal_stats(c->j, &st);
		assert_int_equal(st.accepts, n);
		if (mode == WEFTD_DURABILITY_BATCH) {
			assert_true(st.fsyncs < (uint64_t)n);
			assert_true(st.batches < (uint64_t)n);
		} else {
			assert_int_equal(st.fsyncs, n);
		}
		weftd_journal_free(c->j);
		c->j = jopen(mode, 0, NULL);
		struct seen s = { 0 };
		(void)s;
		weftd_journal_stats(c->j, &st);
		assert_int_equal(st.live, n);
		weftd_journal_free(c->j);
		free(c);
	}
}

static void compact_main(void *arg)
{
	struct task *t = arg;
	assert_int_equal(weftd_journal_start(t->j), 0);
	char payload[256];
	memset(payload, 'x', sizeof(payload));
	for (int i = 0; i < t->n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "k%d", i);
		assert_int_equal(weftd_journal_accept(t->j, id, "p", payload, (size_t)t->payload, 0, 1000), 0);
		if (i % t->finish_every != 0)
			assert_int_equal(weftd_journal_finish(t->j, id, WEFTD_JREC_DONE), 0);
	}
	assert_int_equal(weftd_journal_close(t->j), 0);
}

/* Past the threshold the file is rewritten to exactly the live set. */
static void test_compaction(void **state)
{
	struct task t = { .n = 300, .finish_every = 30, .payload = 200 };
	t.j = jopen(WEFTD_DURABILITY_BATCH, 8192, NULL);
	run(compact_main, &t);
	struct weftd_journal_stats st;
	weftd_journal_stats(t.j, &st);
	assert_true(st.compactions >= 1);
	assert_int_equal(st.live, 10);
	weftd_journal_free(t.j);
	/* the file holds far less than everything ever written */
	size_t all = 300 * weftd_jrec_accept_size(4, 1, 200);
	assert_true((size_t)file_size() < all / 4);
	t.j = jopen(WEFTD_DURABILITY_BATCH, 8192, NULL);
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(t.j, collect, &s), 0);
	assert_int_equal(s.n, 10);
	size_t bad_bytes = 0; /* the rewritten file is a whole journal, header included */
	assert_int_equal(bad_files(&bad_bytes), 0);
	for (int i = 0; i < 10; i++) {
		char id[32];
		snprintf(id, sizeof(id), "k%d", i * 30);
		assert_string_equal(s.ids[i], id);
		assert_int_equal(strlen(s.payloads[i]), 63); /* truncated copy of 200 'x' */
	}
	weftd_journal_free(t.j);
}

static void none_main(void *arg)
{
	struct weftd_journal *j = arg;
	assert_int_equal(weftd_journal_start(j), 0);
	assert_int_equal(weftd_journal_accept(j, "a", "p", "x", 1, 0, 1000), 0);
	assert_int_equal(weftd_journal_finish(j, "a", WEFTD_JREC_DONE), 0);
	assert_int_equal(weftd_journal_close(j), 0);
}

static void test_none(void **state)
{
	struct weftd_journal *j = jopen(WEFTD_DURABILITY_NONE, 0, NULL);
	run(none_main, j);
	weftd_journal_free(j);
	char path[128];
	snprintf(path, sizeof(path), "%s/journal", g_dir);
	assert_int_equal(access(path, F_OK), -1);
}

/* ---- durability observed at the I/O hook (struct weftd_journal_io) ----
 *
 * st.fsyncs counts the syncs the writer meant to issue; these tests count the ones it
 * issued, at the hook, and check per job that its ACCEPT record was written and then synced
 * before accept() returned. A writer that skips the sync (planted: `r = 0` for the
 * j->io.sync call in journal_writer.c) fails test_io_acks_follow_syncs.
 *
 * Power cut: tests/integration/test_power_cut.sh runs the real weftd on a FUSE layer
 * that drops every write not synced (tests/tools/lazyfs.py, a LazyFS-like layer: this
 * VM's kernel has no device-mapper for dm-flakey / dm-log-writes, FUSE is built in).
 * kill -9 (the crash integration test) keeps the page cache, so it proves replay, not
 * durability; the hook tests above prove the ordering write → sync → acknowledge that
 * durability rests on, assuming fdatasync does what it says. */

#define HOOK_JOBS 256

static struct hook {
	_Atomic int written[HOOK_JOBS]; /* the job's ACCEPT went through writev */
	_Atomic int synced[HOOK_JOBS];  /* ... and a successful sync followed */
	_Atomic unsigned long syncs;    /* syncs issued to the kernel */
	_Atomic int fail_writes;        /* fail the next N writev calls with -ENOSPC */
	_Atomic int fail_syncs;         /* fail the next N syncs with -EIO */
	_Atomic int zero_writes;        /* the next N writev calls write nothing (return 0) */
	_Atomic unsigned long writevs;  /* writev calls */
	_Atomic bool slow_fail;         /* a failing writev first waits until released */
	_Atomic bool failing;           /* ... and says it is waiting */
	_Atomic bool release;
} g_hook;

/* ids are "k<n>": the job number of an ACCEPT record in iov, or -1 */
static int hook_job(const struct iovec *v)
{
	struct weftd_jrec r;
	if (weftd_jrec_decode(v->iov_base, v->iov_len, &r) != (long)v->iov_len ||
	    (r.type != WEFTD_JREC_ACCEPT && r.type != WEFTD_JREC_ACCEPT2) || r.id_len < 2 || r.id[0] != 'k')
		return -1;
	int n = atoi(r.id + 1);
	return n >= 0 && n < HOOK_JOBS ? n : -1;
}

static int hook_writev(void *arg, int fd, const struct iovec *iov, int cnt, int64_t off)
{
	(void)arg;
	atomic_fetch_add(&g_hook.writevs, 1);
	if (atomic_load(&g_hook.fail_writes) > 0 && atomic_fetch_sub(&g_hook.fail_writes, 1) > 0) {
		if (atomic_load(&g_hook.slow_fail)) { /* records queue behind the failing batch */
			atomic_store(&g_hook.failing, true);
			while (!atomic_load(&g_hook.release))
				weft_sleep(NULL, 100 * 1000LL);
		}
		return -ENOSPC;
	}
	if (atomic_load(&g_hook.zero_writes) > 0 && atomic_fetch_sub(&g_hook.zero_writes, 1) > 0)
		return 0;
	int r = weft_writev(NULL, fd, iov, cnt, off);
	if (r < 0)
		return r;
	/* a short write ends mid-record: mark only the records written whole */
	size_t left = (size_t)r;
	for (int i = 0; i < cnt && left >= iov[i].iov_len; left -= iov[i].iov_len, i++) {
		int k = hook_job(&iov[i]);
		if (k >= 0)
			atomic_store(&g_hook.written[k], 1);
	}
	return r;
}

static int hook_sync(void *arg, int fd)
{
	(void)arg;
	if (atomic_load(&g_hook.fail_syncs) > 0 && atomic_fetch_sub(&g_hook.fail_syncs, 1) > 0)
		return -EIO;
	int w[HOOK_JOBS]; /* what was written before the sync started is what it covers */
	for (int k = 0; k < HOOK_JOBS; k++)
		w[k] = atomic_load(&g_hook.written[k]);
	int r = weft_fsync(NULL, fd, IORING_FSYNC_DATASYNC);
	if (r < 0)
		return r;
	atomic_fetch_add(&g_hook.syncs, 1);
	for (int k = 0; k < HOOK_JOBS; k++)
		if (w[k])
			atomic_store(&g_hook.synced[k], 1);
	return 0;
}

static const struct weftd_journal_io hook_io = { .writev = hook_writev, .sync = hook_sync };

static struct weftd_journal *jopen_hooked(enum weftd_durability mode)
{
	memset(&g_hook, 0, sizeof(g_hook));
	struct weftd_journal_opts o = { .dir = g_dir, .mode = mode, .io = &hook_io };
	struct weftd_journal *j = NULL;
	char w[256];
	assert_int_equal(weftd_journal_open(&o, &j, w, sizeof(w)), 0);
	return j;
}

static void hooked_accepter(void *arg)
{
	struct task *t = arg;
	char id[32];
	snprintf(id, sizeof(id), "k%d", t->n);
	weft_wg_wait(NULL, t->gate);
	t->expect = weftd_journal_accept(t->j, id, "p", "payload", 7, (uint64_t)t->n, 1000);
	/* acknowledged: its record was written, then synced, before accept returned */
	if (t->expect == 0 && !atomic_load(&g_hook.synced[t->n]))
		t->expect = -1000;
	weft_wg_done(t->wg);
}


/* N acknowledged accepts, concurrent: each one's record was synced by a real sync issued
 * after its write (checked as each accept returns); the syncs counted at the hook are the
 * ones st.fsyncs reports; FSYNC mode issued one real sync per accept, BATCH at least one. */
static void test_io_acks_follow_syncs(void **state)
{
	int n = TEST_SCALE(100) < 20 ? 20 : TEST_SCALE(100);
	for (int mode = WEFTD_DURABILITY_BATCH; mode <= WEFTD_DURABILITY_FSYNC; mode++) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -f %s/journal", g_dir);
		assert_int_equal(system(cmd), 0);
		struct conc *c = calloc(1, sizeof(*c));
		c->j = jopen_hooked(mode);
		c->n = n;
		c->accept = hooked_accepter;
		run(concurrent_main, c);
		for (int i = 0; i < n; i++)
			assert_int_equal(c->tasks[i].expect, 0);
		struct weftd_journal_stats st;
		weftd_journal_stats(c->j, &st);
		assert_int_equal(st.accepts, n);
		unsigned long syncs = atomic_load(&g_hook.syncs);
		assert_true(syncs >= 1);
		assert_int_equal(syncs, st.fsyncs);
		if (mode == WEFTD_DURABILITY_FSYNC)
			assert_int_equal(syncs, n);
		weftd_journal_free(c->j);
		free(c);
	}
}

static void fault_main(void *arg)
{
	struct weftd_journal *j = arg;
	struct weftd_journal_stats st;
	assert_int_equal(weftd_journal_start(j), 0);
	assert_int_equal(weftd_journal_accept(j, "k0", "p", "a", 1, 1, 1000), 0);
	for (int round = 0; round < 2; round++) {
		/* round 0: the sync fails; round 1: the write fails */
		if (round == 0)
			atomic_store(&g_hook.fail_syncs, 1);
		else
			atomic_store(&g_hook.fail_writes, 1);
		unsigned long syncs = atomic_load(&g_hook.syncs);
		int want = round == 0 ? -EIO : -ENOSPC;
		assert_int_equal(weftd_journal_accept(j, "k1", "p", "b", 1, 2, 1000), want);
		assert_int_equal(atomic_load(&g_hook.syncs), syncs); /* nothing synced it */
		weftd_journal_stats(j, &st);
		assert_int_equal(st.accepts, 1 + round);              /* not acknowledged */
		assert_int_equal(st.live, 1 + round);
		assert_int_equal(weftd_journal_finish(j, "k1", WEFTD_JREC_DONE), -ENOENT);
		/* out of service until the writer's probe succeeds (WEFTD_JOURNAL_RETRY_MIN_NS
		 * and up): refused at once with the same error, then accepted again */
		int r, tries = 0;
		char id[16];
		snprintf(id, sizeof(id), "k%d", 2 + round);
		while ((r = weftd_journal_accept(j, id, "p", "c", 1, 3, 1000)) == want && tries++ < 1000)
			weft_sleep(NULL, 10 * 1000000LL);
		assert_int_equal(r, 0);
		assert_true(atomic_load(&g_hook.synced[2 + round]));
		weftd_journal_stats(j, &st);
		assert_int_equal(st.recoveries, 1 + round);
		assert_true(st.write_errors >= 1 + (uint64_t)round);
	}
	assert_int_equal(weftd_journal_close(j), 0);
}

/* A submit whose sync (or write) fails is refused with that error and not acknowledged;
 * the journal refuses accepts while out of service, then recovers without a restart; the
 * refused record is not in the file for the next start. */
static void test_io_fault_refuses(void **state)
{
	struct weftd_journal *j = jopen_hooked(WEFTD_DURABILITY_BATCH);
	run(fault_main, j);
	weftd_journal_free(j);
	j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.ids[0], "k0");
	assert_string_equal(s.ids[1], "k2");
	assert_string_equal(s.ids[2], "k3");
	weftd_journal_free(j);
}

/* A writev that writes nothing is an I/O error (-EIO), not a record written: the accept
 * is refused and not acknowledged, and the journal recovers as after any write error. */
static void zero_write_main(void *arg)
{
	struct weftd_journal *j = arg;
	struct weftd_journal_stats st;
	assert_int_equal(weftd_journal_start(j), 0);
	assert_int_equal(weftd_journal_accept(j, "k0", "p", "a", 1, 1, 1000), 0);
	atomic_store(&g_hook.zero_writes, 1);
	assert_int_equal(weftd_journal_accept(j, "k1", "p", "b", 1, 2, 1000), -EIO);
	assert_false(atomic_load(&g_hook.synced[1]));
	weftd_journal_stats(j, &st);
	assert_int_equal(st.accepts, 1);
	int r, tries = 0;
	while ((r = weftd_journal_accept(j, "k2", "p", "c", 1, 3, 1000)) == -EIO && tries++ < 1000)
		weft_sleep(NULL, 10 * 1000000LL);
	assert_int_equal(r, 0);
	assert_int_equal(weftd_journal_close(j), 0);
}

static void test_io_zero_write(void **state)
{
	struct weftd_journal *j = jopen_hooked(WEFTD_DURABILITY_BATCH);
	run(zero_write_main, j);
	weftd_journal_free(j);
	j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.ids[0], "k0");
	assert_string_equal(s.ids[1], "k2");
	weftd_journal_free(j);
}

/* Group commit writes a batch with one writev: on one proc, FINISH records (which never
 * park) queue behind each other until the next ACCEPT parks its caller; the writer then
 * takes the six records as one batch and issues one writev and one sync. */
static void one_writev_main(void *arg)
{
	struct weftd_journal *j = arg;
	char id[16];
	assert_int_equal(weftd_journal_start(j), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "k%d", i);
		assert_int_equal(weftd_journal_accept(j, id, "p", "a", 1, 1, 1000), 0);
	}
	unsigned long w0 = atomic_load(&g_hook.writevs), s0 = atomic_load(&g_hook.syncs);
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "k%d", i);
		assert_int_equal(weftd_journal_finish(j, id, WEFTD_JREC_DONE), 0);
	}
	assert_int_equal(weftd_journal_accept(j, "k5", "p", "b", 1, 1, 1000), 0);
	assert_int_equal(atomic_load(&g_hook.writevs) - w0, 1);
	assert_int_equal(atomic_load(&g_hook.syncs) - s0, 1);
	assert_int_equal(weftd_journal_close(j), 0);
}

static void test_io_batch_one_writev(void **state)
{
	struct weftd_journal *j = jopen_hooked(WEFTD_DURABILITY_BATCH);
	run(one_writev_main, j);
	weftd_journal_free(j);
	j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ids[0], "k5");
	weftd_journal_free(j);
}

/* A journal that holds its header and nothing else (opened, never written) is a valid
 * empty journal: reopening it replays nothing, quarantines nothing and does not rewrite
 * the file (same inode: no rewrite-and-rename at every start). */
static ino_t journal_ino(void)
{
	char path[128];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/journal", g_dir);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_ino;
}

static void test_reopen_empty(void **state)
{
	struct weftd_journal *j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	weftd_journal_free(j);
	assert_int_equal(file_size(), WEFTD_JREC_MAGIC_LEN);
	ino_t ino = journal_ino();
	j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	assert_true(journal_ino() == ino);
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
	assert_int_equal(s.n, 0);
	size_t bytes = 0;
	assert_int_equal(bad_files(&bytes), 0);
	weftd_journal_free(j);
	assert_int_equal(file_size(), WEFTD_JREC_MAGIC_LEN);
}

/* accept's limits: an id of 1..WEFTD_JREC_MAX_ID bytes, a payload (or none) of at most
 * WEFTD_JREC_MAX_BODY bytes; anything else is -EINVAL and writes nothing. */
static void accept_limits_main(void *arg)
{
	struct weftd_journal *j = arg;
	char *id = malloc(WEFTD_JREC_MAX_ID + 2); /* not on the fiber's stack */
	assert_non_null(id);
	memset(id, 'k', WEFTD_JREC_MAX_ID + 1);
	id[WEFTD_JREC_MAX_ID + 1] = 0;
	assert_int_equal(weftd_journal_start(j), 0);
	assert_int_equal(weftd_journal_accept(j, "", "p", "a", 1, 1, 1000), -EINVAL);
	assert_int_equal(weftd_journal_accept(j, id, "p", "a", 1, 1, 1000), -EINVAL); /* max + 1 */
	assert_int_equal(weftd_journal_accept(j, "x", "p", NULL, 1, 1, 1000), -EINVAL);
	assert_int_equal(weftd_journal_accept(NULL, "x", "p", "a", 1, 1, 1000), -EINVAL);
	assert_int_equal(weftd_journal_accept(j, "x", NULL, "a", 1, 1, 1000), -EINVAL);
	assert_int_equal(weftd_journal_accept(j, "x", "p", "a", (size_t)WEFTD_JREC_MAX_BODY + 1, 1, 1000), -EINVAL);
	struct weftd_journal_stats st;
	weftd_journal_stats(j, &st);
	assert_int_equal(st.accepts, 0);
	assert_int_equal(st.live, 0);
	id[WEFTD_JREC_MAX_ID] = 0; /* exactly the maximum */
	assert_int_equal(weftd_journal_accept(j, id, "p", NULL, 0, 1, 1000), 0);
	weftd_journal_stats(j, &st);
	assert_int_equal(st.live, 1);
	assert_int_equal(weftd_journal_close(j), 0);
	free(id);
}

static void test_accept_limits(void **state)
{
	struct weftd_journal *j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	run(accept_limits_main, j);
	weftd_journal_free(j);
}

/* The lock file cannot be opened (here: a directory is in its place): open fails with
 * that error and the message names the file. */
static void test_lock_file_unopenable(void **state)
{
	char path[128], w[256] = "", want[256];
	struct weftd_journal *j = NULL;
	snprintf(path, sizeof(path), "%s/lock", g_dir);
	assert_int_equal(mkdir(path, 0700), 0);
	struct weftd_journal_opts o = { .dir = g_dir, .mode = WEFTD_DURABILITY_BATCH };
	assert_int_equal(weftd_journal_open(&o, &j, w, sizeof(w)), -EISDIR);
	assert_null(j);
	snprintf(want, sizeof(want), "journal: open %s/lock: %s", g_dir, strerror(EISDIR));
	assert_string_equal(w, want);
}

/* A directory is needed for every mode but NONE; NONE needs none. */
static void test_open_args(void **state)
{
	struct weftd_journal *j = NULL;
	char w[256];
	struct weftd_journal_opts o = { .dir = NULL, .mode = WEFTD_DURABILITY_BATCH };
	assert_int_equal(weftd_journal_open(&o, &j, w, sizeof(w)), -EINVAL);
	assert_null(j);
	o.mode = WEFTD_DURABILITY_FSYNC;
	assert_int_equal(weftd_journal_open(&o, &j, w, sizeof(w)), -EINVAL);
	o.mode = WEFTD_DURABILITY_NONE;
	assert_int_equal(weftd_journal_open(&o, &j, w, sizeof(w)), 0);
	assert_non_null(j);
	weftd_journal_free(j);
	assert_int_equal(weftd_journal_open(NULL, &j, w, sizeof(w)), -EINVAL);
}

struct behind {
	struct weftd_journal *j;
	bool close;             /* then close the journal too */
	weft_wg done;
};

/* Once the writer is inside the failing write: finish k0 and k1 (FINISH records queue
 * behind the failing batch), maybe close, then let the write fail. */
static void finish_behind(void *arg)
{
	struct behind *b = arg;
	while (!atomic_load(&g_hook.failing))
		weft_sleep(NULL, 100 * 1000LL);
	assert_int_equal(weftd_journal_finish(b->j, "k0", WEFTD_JREC_DONE), 0);
	assert_int_equal(weftd_journal_finish(b->j, "k1", WEFTD_JREC_DONE), 0);
	atomic_store(&g_hook.release, true);
	if (b->close)
		assert_int_equal(weftd_journal_close(b->j), 0);
	weft_wg_done(&b->done);
}

static void behind_main(void *arg)
{
	struct behind *b = arg;
	struct weftd_journal *j = b->j;
	assert_int_equal(weftd_journal_start(j), 0);
	assert_int_equal(weftd_journal_accept(j, "k0", "p", "a", 1, 1, 1000), 0);
	assert_int_equal(weftd_journal_accept(j, "k1", "p", "a", 1, 1, 1000), 0);
	atomic_store(&g_hook.slow_fail, true);
	atomic_store(&g_hook.fail_writes, 1);
	weft_wg_add(&b->done, 1);
	assert_int_equal(weft_go(finish_behind, b), 0);
	assert_int_equal(weftd_journal_accept(j, "k2", "p", "b", 1, 2, 1000), -ENOSPC);
	assert_int_equal(weft_wg_wait(NULL, &b->done), 0);
	if (b->close)
		return;
	int r, tries = 0;
	while ((r = weftd_journal_accept(j, "k3", "p", "c", 1, 3, 1000)) == -ENOSPC && tries++ < 1000)
		weft_sleep(NULL, 10 * 1000000LL);
	assert_int_equal(r, 0);
	assert_int_equal(weftd_journal_close(j), 0);
}

/* FINISH records that queued while a write failed are kept, not dropped, and written once
 * a probe succeeds ("then it writes the FINISH records it kept"): they do not replay. */
static void test_io_finish_kept_until_recovery(void **state)
{
	struct behind b = { .j = jopen_hooked(WEFTD_DURABILITY_BATCH) };
	run(behind_main, &b);
	weftd_journal_free(b.j);
	struct weftd_journal *j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ids[0], "k3");
	weftd_journal_free(j);
}

/* Closing while a write fails: close returns, the FINISH records queued behind the failed
 * batch are dropped (freed: ASan's leak check) and their jobs replay at the next start. */
static void test_io_close_out_of_service(void **state)
{
	struct behind b = { .j = jopen_hooked(WEFTD_DURABILITY_BATCH), .close = true };
	run(behind_main, &b);
	weftd_journal_free(b.j);
	struct weftd_journal *j = jopen(WEFTD_DURABILITY_BATCH, 0, NULL);
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
	assert_int_equal(s.n, 2); /* finished, but not durably: at-least-once */
	assert_string_equal(s.ids[0], "k0");
	assert_string_equal(s.ids[1], "k1");
	weftd_journal_free(j);
}

#define J(fn, procs) cmocka_unit_test_prestate_setup_teardown(fn, mk_dir, rm_dir, (void *)(procs))

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_crc32_vectors),
		cmocka_unit_test(test_codec_round_trip),
		cmocka_unit_test(test_codec_owner_compat),
		cmocka_unit_test(test_scan),
		J(test_roundtrip, 1),
		J(test_roundtrip, 2),
		J(test_replay_lost, 1),
		J(test_corrupt_tail, 1),
		J(test_damage_each_record, 1),
		J(test_damage_header_twice, 1),
		J(test_group_commit, 1),
		J(test_group_commit, 2),
		J(test_compaction, 1),
		J(test_compaction, 2),
		J(test_none, 1),
		J(test_io_acks_follow_syncs, 1),
		J(test_io_acks_follow_syncs, 2),
		J(test_io_fault_refuses, 1),
		J(test_io_fault_refuses, 2),
		J(test_io_zero_write, 1),
		J(test_io_zero_write, 2),
		J(test_io_batch_one_writev, 1),
		J(test_reopen_empty, 1),
		cmocka_unit_test(test_open_args),
		J(test_accept_limits, 1),
		J(test_lock_file_unopenable, 1),
		J(test_io_close_out_of_service, 1),
		J(test_io_finish_kept_until_recovery, 1),
		J(test_io_finish_kept_until_recovery, 2),
		J(test_io_close_out_of_service, 2),
	};
	return cmocka_run_group_tests_name("journal", table, NULL, NULL);
}
