/* SPDX-License-Identifier: MIT */
/* test_journal_rec.c — the issue-12 journal records: each type's codec (round trip, torn
 * prefixes, flipped bytes, limits), and the journal keeping what they say across a
 * reopen: a live job at its last stage with that stage's input, ended jobs within the
 * retention (count) with their output, error and log, a re-driven dead letter live again,
 * a purged one gone, the same after a compaction; and the pause file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <weft/weft.h>

#include "jobs/journal.h"
#include "jobs/jrec.h"
#include "testutil.h"

static char g_dir[64];

static const struct weftd_jrec g_recs[] = {
	{ .type = WEFTD_JREC_ACCEPT2, .id = "a1", .id_len = 2, .pipeline = "p", .pipeline_len = 1,
	  .payload = "in", .payload_len = 2, .submitted_ns = 5, .owner = 1000, .priority = -7,
	  .run_at_ms = 1796303200000, .key = "k1", .key_len = 2 },
	{ .type = WEFTD_JREC_STAGE, .id = "a1", .id_len = 2, .stage = 1, .stage_name = "s2",
	  .stage_name_len = 2, .payload = "IN", .payload_len = 2 },
	{ .type = WEFTD_JREC_END, .id = "a1", .id_len = 2, .state = WEFTD_JREC_FAILED, .stage = 1,
	  .attempts = 3, .started_ms = 1, .finished_ms = 2, .stage_name = "s2", .stage_name_len = 2,
	  .output = "IN", .output_len = 2, .error = "boom", .error_len = 4, .log = "log\n", .log_len = 4 },
	{ .type = WEFTD_JREC_REDRIVE, .id = "a1", .id_len = 2, .stage = 1, .stage_name = "s2",
	  .stage_name_len = 2, .payload = "IN", .payload_len = 2 },
	{ .type = WEFTD_JREC_PURGE, .id = "a1", .id_len = 2 },
	{ .type = WEFTD_JREC_ACCEPT2, .id = "a1", .id_len = 2, .pipeline = "p", .pipeline_len = 1,
	  .payload = "in", .payload_len = 2, .submitted_ns = 5, .owner = 1000, .priority = -7,
	  .run_at_ms = 1796303200000, .key = "k1", .key_len = 2, .deadline_ms = 1796303260000 },
	{ .type = WEFTD_JREC_END, .id = "a1", .id_len = 2, .state = WEFTD_JREC_EXPIRED, .stage = 1,
	  .attempts = 3, .started_ms = 1, .finished_ms = 2, .stage_name = "s2", .stage_name_len = 2,
	  .error = "expired", .error_len = 7 },
	{ .type = WEFTD_JREC_RETRY, .id = "a1", .id_len = 2, .stage = 1, .stage_name = "s2",
	  .stage_name_len = 2, .payload = "IN", .payload_len = 2, .attempts = 3,
	  .run_at_ms = 1796303200123 },
};

static void same(const char *a, size_t alen, const char *b, size_t blen)
{
	assert_int_equal(alen, blen);
	if (alen)
		assert_memory_equal(a, b, alen);
}

static void test_codec_each_type(void **state)
{
	unsigned char buf[512];
	(void)state;
	for (size_t i = 0; i < sizeof(g_recs) / sizeof(g_recs[0]); i++) {
		const struct weftd_jrec *w = &g_recs[i];
		struct weftd_jrec r;
		long n = weftd_jrec_encode(buf, w);
		assert_int_equal(n, (long)weftd_jrec_size(w));
		assert_int_equal(weftd_jrec_decode(buf, (size_t)n, &r), n);
		assert_int_equal(r.type, w->type);
		assert_ptr_equal(r.frame, buf);
		assert_int_equal(r.frame_len, n);
		same(r.id, r.id_len, w->id, w->id_len);
		same(r.pipeline, r.pipeline_len, w->pipeline, w->pipeline_len);
		same(r.key, r.key_len, w->key, w->key_len);
		same(r.payload, r.payload_len, w->payload, w->payload_len);
		same(r.stage_name, r.stage_name_len, w->stage_name, w->stage_name_len);
		same(r.output, r.output_len, w->output, w->output_len);
		same(r.error, r.error_len, w->error, w->error_len);
		same(r.log, r.log_len, w->log, w->log_len);
		if (w->type == WEFTD_JREC_ACCEPT2) {
			assert_int_equal(r.deadline_ms, w->deadline_ms); /* issue 17: flags 1 */
			assert_int_equal(r.priority, -7);
			assert_int_equal(r.run_at_ms, 1796303200000);
			assert_int_equal(r.owner, 1000);
			assert_int_equal(r.submitted_ns, 5);
		}
		if (w->type != WEFTD_JREC_ACCEPT2 && w->type != WEFTD_JREC_PURGE)
			assert_int_equal(r.stage, 1);
		if (w->type == WEFTD_JREC_RETRY) {
			assert_int_equal(r.attempts, 3);
			assert_int_equal(r.run_at_ms, 1796303200123);
		}
		if (w->type == WEFTD_JREC_END) {
			assert_int_equal(r.state, w->state);
			assert_int_equal(r.attempts, 3);
			assert_int_equal(r.started_ms, 1);
			assert_int_equal(r.finished_ms, 2);
		}
		/* re-encoding the decoded record gives the same bytes */
		unsigned char again[512];
		assert_int_equal(weftd_jrec_encode(again, &r), n);
		assert_memory_equal(again, buf, (size_t)n);
		/* every strict prefix is torn, every flipped body byte corrupt */
		for (long k = 0; k < n; k++)
			assert_int_equal(weftd_jrec_decode(buf, (size_t)k, &r), 0);
		for (long k = WEFTD_JREC_FRAME_HDR; k < n; k++) {
			buf[k] ^= 0x10;
			assert_int_equal(weftd_jrec_decode(buf, (size_t)n, &r), -EBADMSG);
			buf[k] ^= 0x10;
		}
	}
	/* limits */
	struct weftd_jrec bad = g_recs[0];
	bad.priority = 101;
	assert_int_equal(weftd_jrec_encode(buf, &bad), -EINVAL);
	bad = g_recs[2];
	bad.state = WEFTD_JREC_LOST; /* lost is the old FINISH's only */
	assert_int_equal(weftd_jrec_encode(buf, &bad), -EINVAL);
	bad = g_recs[1];
	bad.id_len = 0;
	assert_int_equal(weftd_jrec_encode(buf, &bad), -EINVAL);
	bad.type = 99;
	assert_int_equal(weftd_jrec_encode(buf, &bad), -EINVAL);
}

/* ---- the journal keeping what the records say ---- */

static int mk_dir(void **state)
{
	set_procs(state);
	strcpy(g_dir, "/tmp/weft-jrec-XXXXXX");
	return mkdtemp(g_dir) ? 0 : -1;
}

static int rm_dir(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	return system(cmd);
}

static const struct weftd_retention g_keep = { .count = 2, .age_ns = 3600ull * 1000000000u,
					       .bytes = 1 << 20 };

static struct weftd_journal *jopen(uint64_t compact)
{
	struct weftd_journal_opts o = { .dir = g_dir, .mode = WEFTD_DURABILITY_BATCH,
					.keep = &g_keep, .compact_bytes = compact };
	struct weftd_journal *j = NULL;
	char w[256];
	assert_int_equal(weftd_journal_open(&o, &j, w, sizeof(w)), 0);
	return j;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void accept_one(struct weftd_journal *j, const char *id, const char *key)
{
	struct weftd_jrec r = { .type = WEFTD_JREC_ACCEPT2, .id = id, .id_len = strlen(id),
				.pipeline = "p", .pipeline_len = 1, .payload = id,
				.payload_len = strlen(id), .owner = 7, .priority = 3,
				.run_at_ms = 42, .key = key, .key_len = key ? strlen(key) : 0 };
	assert_int_equal(weftd_journal_accept_rec(j, &r), 0);
}

static int end_one(struct weftd_journal *j, const char *id, enum weftd_jrec_state st,
		   const char *out, const char *err)
{
	struct weftd_jrec r = { .type = WEFTD_JREC_END, .id = id, .id_len = strlen(id), .state = st,
				.stage = 1, .stage_name = "s2", .stage_name_len = 2, .attempts = 2,
				.started_ms = now_ms() - 5, .finished_ms = now_ms(), .output = out,
				.output_len = out ? strlen(out) : 0, .error = err,
				.error_len = err ? strlen(err) : 0, .log = "tail", .log_len = 4 };
	return weftd_journal_record(j, &r);
}

static int stage_one(struct weftd_journal *j, enum weftd_jrec_type t, const char *id,
		     const char *input)
{
	struct weftd_jrec r = { .type = t, .id = id, .id_len = strlen(id), .stage = 1,
				.stage_name = "s2", .stage_name_len = 2, .payload = input,
				.payload_len = strlen(input) };
	return weftd_journal_record(j, &r);
}

static void story_main(void *arg)
{
	struct weftd_journal *j = arg;
	struct weftd_jrec purge = { .type = WEFTD_JREC_PURGE };
	assert_int_equal(weftd_journal_start(j), 0);
	for (int i = 1; i <= 6; i++) {
		char id[8];
		snprintf(id, sizeof(id), "j%d", i);
		accept_one(j, id, i == 1 ? "key1" : NULL);
	}
	assert_int_equal(stage_one(j, WEFTD_JREC_STAGE, "j1", "mid"), 0);   /* live at stage 1 */
	/* j1 failed an attempt there and waits for its next (issue 17) */
	struct weftd_jrec retry = { .type = WEFTD_JREC_RETRY, .id = "j1", .id_len = 2, .stage = 1,
				    .stage_name = "s2", .stage_name_len = 2, .payload = "mid",
				    .payload_len = 3, .attempts = 2, .run_at_ms = 777 };
	assert_int_equal(weftd_journal_record(j, &retry), 0);
	assert_int_equal(end_one(j, "j2", WEFTD_JREC_DONE, "out2", NULL), 0); /* evicted by count */
	assert_int_equal(end_one(j, "j3", WEFTD_JREC_FAILED, "in3", "boom"), 0);
	assert_int_equal(end_one(j, "j4", WEFTD_JREC_DONE, "out4", NULL), 0);
	assert_int_equal(stage_one(j, WEFTD_JREC_REDRIVE, "j3", "again"), 0); /* live again */
	assert_int_equal(end_one(j, "j5", WEFTD_JREC_FAILED, "in5", "bad"), 0);
	purge.id = "j6", purge.id_len = 2;
	assert_int_equal(weftd_journal_record(j, &purge), 0);                /* gone */
	/* records for jobs in the wrong state are refused */
	assert_int_equal(stage_one(j, WEFTD_JREC_STAGE, "j4", "x"), -ENOENT);   /* ended */
	assert_int_equal(stage_one(j, WEFTD_JREC_REDRIVE, "j1", "x"), -ENOENT); /* live */
	assert_int_equal(end_one(j, "j6", WEFTD_JREC_DONE, "x", NULL), -ENOENT);  /* purged */
	assert_int_equal(weftd_journal_close(j), 0);
}

struct seen {
	int n;
	struct weftd_journal_job v[8];
	char out[8][16], err[8][16], in[8][16], ids[8][8];
};

static int collect(const struct weftd_journal_job *job, void *arg)
{
	struct seen *s = arg;
	assert_true(s->n < 8);
	s->v[s->n] = *job;
	snprintf(s->ids[s->n], 8, "%s", job->id);
	snprintf(s->out[s->n], 16, "%.*s", (int)job->output_len, (const char *)job->output);
	snprintf(s->in[s->n], 16, "%.*s", (int)job->input_len, (const char *)job->input);
	snprintf(s->err[s->n], 16, "%s", job->error ? job->error : "");
	assert_int_equal(job->owner, 7);
	assert_int_equal(job->priority, 3);
	assert_int_equal(job->run_at_ms, 42);
	s->n++;
	return 0;
}

/* After the story: retained j4 (done) and j5 (failed), in the order they ended; live j1
 * (stage 1, input "mid", its key) and j3 (re-driven at stage 1, input "again"). */
static void check_story(struct weftd_journal *j)
{
	struct seen s = { 0 };
	assert_int_equal(weftd_journal_replay(j, collect, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.ids[0], "j4");
	assert_true(s.v[0].finished);
	assert_int_equal(s.v[0].state, WEFTD_JREC_DONE);
	assert_string_equal(s.out[0], "out4");
	assert_int_equal(s.v[0].attempts, 2);
	assert_int_equal(s.v[0].log_len, 4);
	assert_string_equal(s.ids[1], "j5");
	assert_int_equal(s.v[1].state, WEFTD_JREC_FAILED);
	assert_string_equal(s.err[1], "bad");
	assert_string_equal(s.out[1], "in5");
	assert_string_equal(s.ids[2], "j1");
	assert_false(s.v[2].finished);
	assert_true(s.v[2].at_stage);
	assert_int_equal(s.v[2].stage, 1);
	assert_string_equal(s.in[2], "mid");
	assert_int_equal(s.v[2].retry_attempts, 2);
	assert_int_equal(s.v[2].retry_due_ms, 777);
	assert_int_equal(s.v[2].key_len, 4);
	assert_string_equal(s.ids[3], "j3");
	assert_true(s.v[3].at_stage);
	assert_string_equal(s.in[3], "again");
	assert_int_equal(s.v[3].retry_attempts, 0);
	struct weftd_journal_stats st;
	weftd_journal_stats(j, &st);
	assert_int_equal(st.live, 2);
	assert_int_equal(st.retained, 2);
}

static void run(weft_fn fn, void *arg)
{
	struct weft_opts o = { .procs = g_procs };
	assert_int_equal(weft_run(fn, arg, &o), 0);
}

static void test_records_replay(void **state)
{
	struct weftd_journal *j = jopen(0);
	run(story_main, j);
	check_story(j); /* what the running journal keeps */
	weftd_journal_free(j);
	j = jopen(0);
	check_story(j); /* what a restart reads */
	weftd_journal_free(j);
}

/* Dead weight: jobs accepted and purged (what a refused submit leaves). */
static void dead_main(void *arg)
{
	struct weftd_journal *j = arg;
	assert_int_equal(weftd_journal_start(j), 0);
	for (int i = 0; i < 50; i++) {
		char id[8];
		snprintf(id, sizeof(id), "d%d", i);
		accept_one(j, id, NULL);
		struct weftd_jrec r = { .type = WEFTD_JREC_PURGE, .id = id, .id_len = strlen(id) };
		assert_int_equal(weftd_journal_record(j, &r), 0);
	}
	assert_int_equal(weftd_journal_close(j), 0);
}

static void compact_main(void *arg)
{
	struct weftd_journal *j = arg;
	assert_int_equal(weftd_journal_start(j), 0);
	assert_int_equal(weftd_journal_close(j), 0); /* the writer compacts at start */
}

/* Compaction keeps exactly the live and the retained jobs, as they were. */
static void test_compaction_keeps_retained(void **state)
{
	struct weftd_journal *j = jopen(0);
	run(story_main, j);
	weftd_journal_free(j);
	j = jopen(0);
	run(dead_main, j);
	weftd_journal_free(j);
	j = jopen(1); /* any size is over the threshold */
	run(compact_main, j);
	struct weftd_journal_stats st;
	weftd_journal_stats(j, &st);
	assert_int_equal(st.compactions, 1);
	assert_int_equal(st.file_bytes, st.live_bytes + WEFTD_JREC_MAGIC_LEN);
	weftd_journal_free(j);
	j = jopen(0);
	check_story(j);
	weftd_journal_free(j);
}

static void pause_main(void *arg)
{
	struct weftd_journal *j = arg;
	assert_int_equal(weftd_journal_start(j), 0);
	assert_int_equal(weftd_journal_set_paused(j, "p1", true), 0);
	assert_int_equal(weftd_journal_set_paused(j, "p2", true), 0);
	assert_int_equal(weftd_journal_set_paused(j, "p1", false), 0);
	assert_int_equal(weftd_journal_set_paused(j, "bad\nname", true), -EINVAL);
	assert_int_equal(weftd_journal_close(j), 0);
}

static int add_name(const char *p, void *arg)
{
	strcat(arg, p);
	strcat(arg, ";");
	return 0;
}

/* The pause file: written at each change, read at open. */
static void test_pause_file(void **state)
{
	struct weftd_journal *j = jopen(0);
	run(pause_main, j);
	weftd_journal_free(j);
	char names[64] = "", path[128], text[64] = "";
	j = jopen(0);
	assert_int_equal(weftd_journal_paused(j, add_name, names), 0);
	assert_string_equal(names, "p2;");
	weftd_journal_free(j);
	snprintf(path, sizeof(path), "%s/paused", g_dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fread(text, 1, sizeof(text) - 1, f), 3);
	fclose(f);
	assert_string_equal(text, "p2\n");
}

#define J(fn, procs) cmocka_unit_test_prestate_setup_teardown(fn, mk_dir, rm_dir, (void *)(procs))

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(test_codec_each_type),
		J(test_records_replay, 1),
		J(test_records_replay, 2),
		J(test_compaction_keeps_retained, 1),
		J(test_pause_file, 1),
	};
	return cmocka_run_group_tests_name("journal_rec", table, NULL, NULL);
}
