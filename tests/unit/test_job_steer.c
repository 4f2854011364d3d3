/* SPDX-License-Identifier: MIT */
/* test_job_steer.c — what issue 12 adds to the job and its table: the payload kept for
 * the job's life (and never moved by a stage), priority and key fixed at creation and
 * checked, the (pipeline, key) index over live and retained jobs (one step check-and-
 * insert, freed by eviction, remove and purge), a dead letter's re-drive and purge, the
 * replay's restore of a stage and of a finished job (filed by its old time). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "jobs/jobs.h"
#include "job_copy.h"
#include "testutil.h"
#include "daemon_testutil.h"

static struct weftd_jobs *table(size_t count)
{
	struct weftd_jobs *t;

	assert_int_equal(weftd_jobs_new(&(struct weftd_retention){ count, WEFT_SEC * 3600, UINT64_MAX },
					NULL, &t), 0);
	return t;
}

static struct weftd_job *keyed(struct weftd_jobs *t, const char *pipeline, const char *key,
			       const char *payload)
{
	struct weftd_job *j;

	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .owner = 1, .pipeline = pipeline,
		.payload = payload, .len = strlen(payload), .priority = 7, .key = key,
		.key_len = key ? strlen(key) : 0 }, &j), 0);
	return j;
}

/* queued -> running -> done */
static bool done(struct weftd_jobs *t, struct weftd_job *j)
{
	assert_int_equal(weftd_job_begin_attempt(j, 0, "s0", 1, weft_now()), 0);
	return weftd_jobs_finish(t, j, WEFTD_JOB_DONE, NULL, 0, NULL);
}

static void test_create_checks(void **state)
{
	struct weftd_jobs *t = table(10);
	struct weftd_job *j = NULL;
	char big[WEFTD_JOB_KEY_MAX + 1];
	const void *p;
	size_t len;

	memset(big, 'k', sizeof(big));
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .pipeline = "p",
		.priority = WEFTD_PRIORITY_MAX + 1 }, &j), -EINVAL);
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .pipeline = "p",
		.priority = WEFTD_PRIORITY_MIN - 1 }, &j), -EINVAL);
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .pipeline = "p",
		.key = big, .key_len = sizeof(big) }, &j), -EINVAL);
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .pipeline = "p",
		.key = big, .key_len = 0 }, &j), -EINVAL);
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .pipeline = "p",
		.key = big, .key_len = WEFTD_JOB_KEY_MAX, .payload = "abc", .len = 3,
		.priority = WEFTD_PRIORITY_MIN, .created_ms = 1234 }, &j), 0);
	assert_int_equal(weftd_job_info(j)->priority, WEFTD_PRIORITY_MIN);
	assert_int_equal(weftd_job_info(j)->key_len, WEFTD_JOB_KEY_MAX);
	assert_memory_equal(weftd_job_info(j)->key, big, WEFTD_JOB_KEY_MAX);
	assert_int_equal(weftd_job_info(j)->created_ms, 1234);
	weftd_job_payload(j, &p, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "abc", 3);
	/* the payload is the first stage's input, and stays after the input is dropped */
	assert_true(weftd_job_input_is_payload(j));
	assert_ptr_equal(weftd_job_cargo(j)->input, p);
	weftd_job_drop_input(j);
	assert_null(weftd_job_cargo(j)->input);
	weftd_job_payload(j, &p, &len);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_QUEUED);
	weftd_job_unref(j);
	/* a due time in the past: queued at once; in the future: scheduled, shown in the snap */
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .pipeline = "p",
		.run_at_ms = unix_ms() - 1000 }, &j), 0);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_QUEUED);
	assert_int_equal(job_copy(j).run_at_ms, 0);
	weftd_job_unref(j);
	int64_t due = unix_ms() + 60000;
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .pipeline = "p",
		.run_at_ms = due }, &j), 0);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_SCHEDULED);
	assert_int_equal(job_copy(j).run_at_ms, due);
	uint32_t k = 99;
	assert_int_equal(weftd_job_due(j, &k), 0);
	assert_int_equal(k, 0);
	assert_int_equal(job_copy(j).run_at_ms, 0);
	weftd_job_unref(j);
	weftd_jobs_free(t);
}

static void test_keys(void **state)
{
	struct weftd_jobs *t = table(2);
	struct weftd_job *a = keyed(t, "p", "k1", "a"), *b, *dup = NULL, *f;

	assert_int_equal(weftd_jobs_add(t, a, &dup), 0);
	assert_null(weftd_jobs_find_key(t, "p", "k2", 2));
	assert_null(weftd_jobs_find_key(t, "q", "k1", 2)); /* keys are per pipeline */
	assert_null(weftd_jobs_find_key(t, "p", "k", 1));
	f = weftd_jobs_find_key(t, "p", "k1", 2);
	assert_ptr_equal(f, a);
	weftd_job_unref(f);
	/* the same key again: nothing added, the holder answered */
	b = keyed(t, "p", "k1", "b");
	assert_int_equal(weftd_jobs_add(t, b, &dup), 1);
	assert_ptr_equal(dup, a);
	weftd_job_unref(dup);
	weftd_job_unref(b);
	/* the same key in another pipeline, and no key at all: both added */
	b = keyed(t, "q", "k1", "b");
	assert_int_equal(weftd_jobs_add(t, b, &dup), 0);
	weftd_job_unref(b);
	b = keyed(t, "p", NULL, "b");
	assert_int_equal(weftd_jobs_add(t, b, &dup), 0);
	weftd_job_unref(b);
	/* retained after it finished, then evicted: the key goes with it */
	assert_true(done(t, a));
	f = weftd_jobs_find_key(t, "p", "k1", 2);
	assert_ptr_equal(f, a);
	weftd_job_unref(f);
	for (int i = 0; i < 2; i++) {
		b = keyed(t, "p", NULL, "x");
		weftd_jobs_insert(t, b);
		assert_true(done(t, b));
		weftd_job_unref(b);
	}
	assert_null(weftd_jobs_find_key(t, "p", "k1", 2)); /* count 2: a was evicted */
	weftd_job_unref(a);
	/* a refused submit's remove frees its key */
	a = keyed(t, "p", "k9", "a");
	assert_int_equal(weftd_jobs_add(t, a, &dup), 0);
	weftd_jobs_remove(t, a);
	assert_null(weftd_jobs_find_key(t, "p", "k9", 2));
	weftd_job_unref(a);
	weftd_jobs_free(t);
}

/* A job brought to failed at stage 1 with "in1" as that stage's input. */
static struct weftd_job *dead_letter(struct weftd_jobs *t, const char *key)
{
	struct weftd_job *j = keyed(t, "p", key, "payload");
	struct weftd_job_cargo *cg = weftd_job_cargo(j);

	weftd_jobs_insert(t, j);
	assert_int_equal(weftd_job_begin_attempt(j, 0, "s0", 1, weft_now()), 0);
	weftd_job_drop_input(j);
	cg->input = (unsigned char *)strdup("in1");
	cg->input_len = 3;
	assert_int_equal(weftd_job_advance(j, 1, "s1"), 0);
	assert_int_equal(weftd_job_begin_attempt(j, 1, "s1", 3, weft_now()), 0);
	assert_true(weftd_jobs_finish(t, j, WEFTD_JOB_FAILED, NULL, 0, "boom"));
	return j;
}

static void test_redrive_and_purge(void **state)
{
	struct weftd_jobs *t = table(10);
	struct weftd_jobs_counts c;
	struct weftd_job *j = dead_letter(t, "k"), *f;
	struct job_copy jc;

	weftd_jobs_counts(t, &c);
	assert_int_equal(c.total - c.finished, 0);
	jc = job_copy(j);
	assert_string_equal(jc.error, "boom");
	assert_true(jc.has_error);
	assert_int_equal(jc.stage_index, 1);
	/* from the stage it failed in, with the input it failed with */
	assert_int_equal(weftd_jobs_redrive(t, j, 1, "s1", NULL, 0, false), 0);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_QUEUED);
	jc = job_copy(j);
	assert_false(jc.has_error);
	assert_int_equal(jc.attempts, 0);
	assert_int_equal(jc.finished_ms, 0);
	assert_int_equal(weftd_job_cargo(j)->input_len, 3);
	assert_memory_equal(weftd_job_cargo(j)->input, "in1", 3);
	weftd_jobs_counts(t, &c);
	assert_int_equal(c.total - c.finished, 1); /* live again */
	/* only a dead letter: a queued one is refused, and cannot be purged */
	assert_int_equal(weftd_jobs_redrive(t, j, 1, "s1", NULL, 0, false), -EBUSY);
	assert_int_equal(weftd_jobs_purge(t, j), -EBUSY);
	/* failed again, re-driven from the start: the payload is the input */
	assert_int_equal(weftd_job_begin_attempt(j, 1, "s1", 1, weft_now()), 0);
	assert_true(weftd_jobs_finish(t, j, WEFTD_JOB_FAILED, NULL, 0, "boom2"));
	const void *p;
	size_t len;
	weftd_job_payload(j, &p, &len);
	assert_int_equal(weftd_jobs_redrive(t, j, 0, "s0", (unsigned char *)p, len, true), 0);
	assert_true(weftd_job_input_is_payload(j));
	assert_int_equal(job_copy(j).stage_index, 0);
	assert_int_equal(weftd_job_begin_attempt(j, 0, "s0", 1, weft_now()), 0);
	assert_true(weftd_jobs_finish(t, j, WEFTD_JOB_FAILED, NULL, 0, "boom3"));
	/* purge: out of the table, key and id */
	assert_int_equal(weftd_jobs_purge(t, j), 0);
	assert_int_equal(weftd_jobs_purge(t, j), -EBUSY);
	assert_null(weftd_jobs_find_key(t, "p", "k", 1));
	assert_null(weftd_jobs_get(t, weftd_job_info(j)->id, WEFTD_JOB_ID_LEN));
	assert_int_equal(weftd_jobs_redrive(t, j, 0, "s0", NULL, 0, false), -EBUSY);
	weftd_jobs_counts(t, &c);
	assert_int_equal(c.total, 0);
	weftd_job_unref(j);
	/* a done job is no dead letter */
	j = keyed(t, "p", NULL, "x");
	weftd_jobs_insert(t, j);
	assert_true(done(t, j));
	assert_int_equal(weftd_jobs_purge(t, j), -EBUSY);
	assert_int_equal(weftd_jobs_redrive(t, j, 0, "s0", NULL, 0, false), -EBUSY);
	f = weftd_jobs_get(t, weftd_job_info(j)->id, WEFTD_JOB_ID_LEN);
	assert_ptr_equal(f, j);
	weftd_job_unref(f);
	weftd_job_unref(j);
	weftd_jobs_free(t);
}

static void test_restore(void **state)
{
	struct weftd_jobs *t = table(10);
	struct weftd_jobs_counts c;
	struct weftd_job *j = keyed(t, "p", "k", "payload"), *old;
	struct job_copy jc;

	/* a live job resumes at stage 2 with that stage's input */
	weftd_jobs_insert(t, j);
	assert_int_equal(weftd_job_restore_stage(j, 2, "s2", "mid", 3), 0);
	assert_false(weftd_job_input_is_payload(j));
	assert_memory_equal(weftd_job_cargo(j)->input, "mid", 3);
	jc = job_copy(j);
	assert_int_equal(jc.stage_index, 2);
	assert_string_equal(jc.stage, "s2");
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_QUEUED);
	weftd_job_unref(j);
	/* finished jobs come back as they ended, filed by their old finishing time: the
	 * older one is evicted first, and one past the retention age at once */
	int64_t now = unix_ms();
	old = keyed(t, "p", "old", "x");
	weftd_jobs_insert(t, old);
	j = keyed(t, "p", "new", "x");
	weftd_jobs_insert(t, j);
	assert_int_equal(weftd_jobs_restore_finished(t, j, &(struct weftd_job_end){
		.state = WEFTD_JOB_DONE, .output = "out", .output_len = 3, .stage = 1, .attempts = 1,
		.stage_name = "s1", .started_ms = now - 2000, .finished_ms = now - 1000 }), 0);
	assert_int_equal(weftd_jobs_restore_finished(t, old, &(struct weftd_job_end){
		.state = WEFTD_JOB_FAILED, .error = "bad", .log = "stderr", .log_len = 6, .stage = 0,
		.attempts = 3, .started_ms = now - 6000, .finished_ms = now - 5000 }), 0);
	assert_int_equal(weftd_jobs_restore_finished(t, old, &(struct weftd_job_end){
		.state = WEFTD_JOB_DONE }), -EINVAL); /* ended already */
	jc = job_copy(j);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_DONE);
	assert_int_equal(jc.output_len, 3);
	assert_memory_equal(jc.output, "out", 3);
	assert_int_equal(jc.finished_ms, now - 1000);
	assert_int_equal(weftd_jobs_wait(NULL, &j, 1, 0), 0);
	jc = job_copy(old);
	assert_int_equal(weftd_job_state(old), WEFTD_JOB_FAILED);
	assert_string_equal(jc.error, "bad");
	assert_int_equal(jc.attempts, 3);
	assert_int_equal(jc.log_len, 6);
	weftd_jobs_counts(t, &c);
	assert_int_equal(c.finished, 2);
	weftd_jobs_set_retention(t, &(struct weftd_retention){ 1, WEFT_SEC * 3600, UINT64_MAX });
	weftd_jobs_expire(t, weft_now());
	assert_null(weftd_jobs_find_key(t, "p", "old", 3)); /* oldest finished first */
	struct weftd_job *f = weftd_jobs_find_key(t, "p", "new", 3);
	assert_ptr_equal(f, j);
	weftd_job_unref(f);
	weftd_job_unref(old);
	weftd_job_unref(j);
	/* past the retention age: evicted at once */
	weftd_jobs_set_retention(t, &(struct weftd_retention){ 10, WEFT_SEC, UINT64_MAX });
	j = keyed(t, "p", "ancient", "x");
	weftd_jobs_insert(t, j);
	assert_int_equal(weftd_jobs_restore_finished(t, j, &(struct weftd_job_end){
		.state = WEFTD_JOB_CANCELED, .finished_ms = now - 60000 }), 0);
	assert_null(weftd_jobs_find_key(t, "p", "ancient", 7));
	weftd_job_unref(j);
	weftd_jobs_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_checks), cmocka_unit_test(test_keys),
		cmocka_unit_test(test_redrive_and_purge), cmocka_unit_test(test_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
