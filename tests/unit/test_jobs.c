/* SPDX-License-Identifier: MIT */
/* Job table and state machine: transitions (the table, and every illegal move refused by
 * the functions that make them), ids, finish/cancel races, retention by count and age,
 * listing, waiting (1 and 2 procs); backoff schedules and the token bucket. */
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

#include "proto/reply.h"
#include "engine/engine.h"
#include "jobs/job_impl.h" /* white-box: the waiters a wait leaves behind */
#include "jobs/jobs.h"
#include "server/render_job.h"
#include "job_copy.h"
#include "testutil.h"

static struct weftd_job *mkjob(struct weftd_jobs *t, const char *pipeline, const char *payload)
{
	struct weftd_job *j;
	assert_int_equal(weftd_job_new(t, NULL, 1000, pipeline, NULL, payload, strlen(payload), &j), 0);
	weftd_jobs_insert(t, j);
	return j;
}

#define ID(j) (weftd_job_info(j)->id)

static char *sdup(const char *s)
{
	return strdup(s);
}

static void test_transitions(void **state)
{
	const enum weftd_job_state Q = WEFTD_JOB_QUEUED, R = WEFTD_JOB_RUNNING, T = WEFTD_JOB_RETRYING,
		D = WEFTD_JOB_DONE, F = WEFTD_JOB_FAILED, C = WEFTD_JOB_CANCELED,
		S = WEFTD_JOB_SCHEDULED, X = WEFTD_JOB_EXPIRED;
	/* allowed[from] = bitmask of to */
	unsigned allowed[WEFTD_JOB__MAX] = { 0 };
	/* X: a deadline ends a live job wherever it is (issue 17) */
	allowed[S] = 1u << Q | 1u << F | 1u << C | 1u << X;
	allowed[F] = 1u << Q; /* the re-drive of a dead letter */
	allowed[Q] = 1u << R | 1u << F | 1u << C | 1u << X;
	allowed[R] = 1u << Q | 1u << T | 1u << D | 1u << F | 1u << C | 1u << X;
	allowed[T] = 1u << Q | 1u << R | 1u << F | 1u << C | 1u << X; /* Q: its retry due */
	for (int from = 0; from < WEFTD_JOB__MAX; from++)
		for (int to = 0; to < WEFTD_JOB__MAX; to++)
			assert_int_equal(weftd_job_transition_ok((enum weftd_job_state)from, (enum weftd_job_state)to), !!(allowed[from] & (1u << to)));
	assert_true(weftd_job_state_terminal(D) && weftd_job_state_terminal(F) && weftd_job_state_terminal(C) &&
		    weftd_job_state_terminal(X));
	assert_false(weftd_job_state_terminal(Q) || weftd_job_state_terminal(R) || weftd_job_state_terminal(T) ||
		     weftd_job_state_terminal(S));
}

/* A new job of t, due in an hour (scheduled). */
static struct weftd_job *mkjob_later(struct weftd_jobs *t)
{
	struct weftd_job *j;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	assert_int_equal(weftd_job_create(t, &(struct weftd_job_init){ .owner = 1000, .pipeline = "p",
		.payload = "x", .len = 1, .run_at_ms = ts.tv_sec * 1000 + 3600 * 1000 }, &j), 0);
	weftd_jobs_insert(t, j);
	return j;
}

/* A new job of t brought to state s along legal moves. */
static struct weftd_job *job_in(struct weftd_jobs *t, enum weftd_job_state s)
{
	struct weftd_job *j;

	if (s == WEFTD_JOB_SCHEDULED) {
		j = mkjob_later(t);
		assert_int_equal(weftd_job_state(j), WEFTD_JOB_SCHEDULED);
		return j;
	}
	j = mkjob(t, "p", "");
	if (s == WEFTD_JOB_QUEUED)
		return j;
	assert_int_equal(weftd_job_begin_attempt(j, 0, "s0", 1, weft_now()), 0);
	if (s == WEFTD_JOB_RETRYING)
		assert_int_equal(weftd_job_retrying(j, 1), 0);
	else if (s != WEFTD_JOB_RUNNING)
		assert_true(weftd_jobs_finish(t, j, s, NULL, 0, "end"));
	assert_int_equal(weftd_job_state(j), s);
	return j;
}

/* Try the move to 'to' through the function that makes it; true if it was taken. To
 * queued, that depends on where from: a due scheduled job, a re-driven dead letter, a
 * job done with a stage; the others' functions refuse the move (checked too). */
static bool try_move(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state to)
{
	enum weftd_job_state from = weftd_job_state(j);
	uint32_t k;

	switch (to) {
	case WEFTD_JOB_QUEUED:
		if (from == WEFTD_JOB_SCHEDULED || from == WEFTD_JOB_RETRYING) {
			assert_int_equal(weftd_job_advance(j, 1, "s1"), -ECANCELED);
			assert_int_equal(weftd_jobs_redrive(t, j, 0, "s0", NULL, 0, false), -EBUSY);
			return weftd_job_due(j, &k) == 0;
		}
		if (from == WEFTD_JOB_FAILED) {
			assert_int_equal(weftd_job_advance(j, 1, "s1"), -ECANCELED);
			assert_int_equal(weftd_job_due(j, &k), -ECANCELED);
			return weftd_jobs_redrive(t, j, 0, "s0", NULL, 0, false) == 0;
		}
		assert_int_equal(weftd_jobs_redrive(t, j, 0, "s0", NULL, 0, false), -EBUSY);
		assert_int_equal(weftd_job_due(j, &k), -ECANCELED);
		return weftd_job_advance(j, 1, "s1") == 0;
	case WEFTD_JOB_SCHEDULED:
		return false; /* nothing moves a job back to scheduled */
	case WEFTD_JOB_RUNNING:
		return weftd_job_begin_attempt(j, 0, "s0", 2, weft_now()) == 0;
	case WEFTD_JOB_RETRYING:
		return weftd_job_retrying(j, 1) == 0;
	default:
		return weftd_jobs_finish(t, j, to, NULL, 0, "end");
	}
}

/* Every move, from every state, through the functions the engine calls: the legal ones
 * are taken, every illegal one is refused and leaves the job as it was. */
static void test_moves(void **state)
{
	struct weftd_jobs *t;

	assert_int_equal(weftd_jobs_new(&(struct weftd_retention){ 1000, WEFT_SEC * 3600, UINT64_MAX }, NULL, &t), 0);
	for (int from = 0; from < WEFTD_JOB__MAX; from++) {
		for (int to = 0; to < WEFTD_JOB__MAX; to++) {
			struct weftd_job *j = job_in(t, (enum weftd_job_state)from);
			bool ok = weftd_job_transition_ok((enum weftd_job_state)from, (enum weftd_job_state)to);
			assert_int_equal(try_move(t, j, (enum weftd_job_state)to), ok);
			assert_int_equal(weftd_job_state(j), ok ? to : from);
			weftd_job_unref(j);
		}
	}
	/* a retrying job waits in a schedule: a cancel ends it at once (issue 17) */
	struct weftd_job *rj = job_in(t, WEFTD_JOB_RETRYING);
	assert_true(weftd_job_cancel(t, rj, "by test"));
	assert_int_equal(weftd_job_state(rj), WEFTD_JOB_CANCELED);
	weftd_job_unref(rj);
	/* once a cancel is requested, only the terminal moves remain */
	for (int from = WEFTD_JOB_RUNNING; from <= WEFTD_JOB_RUNNING; from++) {
		for (int to = 0; to < WEFTD_JOB__MAX; to++) {
			struct weftd_job *j = job_in(t, (enum weftd_job_state)from);
			if (to == WEFTD_JOB_SCHEDULED) {
				weftd_job_unref(j);
				continue;
			}
			bool ok = weftd_job_transition_ok((enum weftd_job_state)from, (enum weftd_job_state)to) &&
				  weftd_job_state_terminal((enum weftd_job_state)to);
			assert_true(weftd_job_cancel(t, j, "by test"));
			assert_int_equal(try_move(t, j, (enum weftd_job_state)to), ok);
			assert_int_equal(weftd_job_state(j), ok ? to : from);
			weftd_job_unref(j);
		}
	}
	assert_false(weftd_job_transition_ok(WEFTD_JOB__MAX, WEFTD_JOB_RUNNING));
	assert_false(weftd_job_transition_ok(WEFTD_JOB_QUEUED, WEFTD_JOB__MAX));
	weftd_jobs_free(t);
}

static void test_ids_and_lookup(void **state)
{
	struct weftd_jobs *t;
	struct weftd_job *a, *b, *g;

	assert_int_equal(weftd_jobs_new(&(struct weftd_retention){ 100, WEFT_SEC * 3600, UINT64_MAX }, NULL, &t), 0);
	a = mkjob(t, "p", "x");
	b = mkjob(t, "p", "y");
	assert_int_equal(strlen(ID(a)), WEFTD_JOB_ID_LEN);
	assert_string_not_equal(ID(a), ID(b));
	assert_true(strcmp(ID(a), ID(b)) < 0); /* counter: later ids sort later */
	for (const char *p = ID(a); *p; p++)
		assert_non_null(strchr("0123456789abcdef", *p));
	g = weftd_jobs_get(t, ID(b), strlen(ID(b)));
	assert_ptr_equal(g, b);
	weftd_job_unref(g);
	assert_null(weftd_jobs_get(t, "nope", 4));
	assert_null(weftd_jobs_get(t, "0000000000000000", 16));
	weftd_jobs_remove(t, a);
	assert_null(weftd_jobs_get(t, ID(a), WEFTD_JOB_ID_LEN));
	assert_int_equal(weftd_job_state(a), WEFTD_JOB_QUEUED);
	assert_memory_equal(weftd_job_cargo(a)->input, "x", 1);
	weftd_job_unref(a);
	weftd_job_unref(b);
	/* many: the table grows and finds them all */
	struct weftd_job *many[3000];
	for (int i = 0; i < 3000; i++)
		many[i] = mkjob(t, "p", "");
	for (int i = 0; i < 3000; i++) {
		g = weftd_jobs_get(t, ID(many[i]), WEFTD_JOB_ID_LEN);
		assert_ptr_equal(g, many[i]);
		weftd_job_unref(g);
		weftd_job_unref(many[i]);
	}
	weftd_jobs_free(t);
}

static void test_lifecycle(void **state)
{
	struct weftd_jobs *t;
	struct weftd_job *j;

	assert_int_equal(weftd_jobs_new(&(struct weftd_retention){ 100, WEFT_SEC * 3600, UINT64_MAX }, NULL, &t), 0);
	j = mkjob(t, "p", "in");
	assert_int_equal(weftd_job_begin_attempt(j, 0, "s0", 1, weft_now()), 0);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_RUNNING);
	assert_true(job_copy(j).started_ms > 0);
	assert_int_equal(weftd_job_retrying(j, 1), 0);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_RETRYING);
	assert_int_equal(weftd_job_begin_attempt(j, 0, "s0", 2, weft_now()), 0);
	assert_int_equal(job_copy(j).attempts, 2);
	/* a retry in the schedule: its due time shown; due, it is queued at its stage with
	 * its attempts (issue 17) */
	assert_int_equal(weftd_job_retrying(j, 12345), 0);
	assert_int_equal(job_copy(j).run_at_ms, 12345);
	assert_int_equal(weftd_job_due_ms(j), 12345);
	uint32_t k = 99;
	assert_int_equal(weftd_job_due(j, &k), 0);
	assert_int_equal(k, 0);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_QUEUED);
	assert_int_equal(weftd_job_attempts(j), 2);
	assert_int_equal(job_copy(j).run_at_ms, 0);
	assert_int_equal(weftd_job_begin_attempt(j, 0, "s0", 3, weft_now()), 0);
	assert_int_equal(weftd_job_advance(j, 1, "s1"), 0);
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_QUEUED);
	assert_int_equal(job_copy(j).attempts, 0);
	assert_string_equal(job_copy(j).stage, "s1");
	assert_int_equal(weftd_job_advance(j, 2, "s2"), -ECANCELED); /* queued -> queued: illegal */
	assert_int_equal(weftd_job_begin_attempt(j, 1, "s1", 1, weft_now()), 0);
	assert_true(weftd_jobs_finish(t, j, WEFTD_JOB_DONE, sdup("OUT"), 3, NULL));
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_DONE);
	assert_memory_equal(job_copy(j).output, "OUT", 3);
	assert_true(job_copy(j).finished_ms >= job_copy(j).started_ms);
	/* second end loses and frees what it brought */
	assert_false(weftd_jobs_finish(t, j, WEFTD_JOB_FAILED, sdup("zzz"), 3, "late"));
	assert_int_equal(weftd_job_state(j), WEFTD_JOB_DONE);
	assert_false(job_copy(j).has_error);
	assert_false(weftd_job_cancel(t, j, "too late"));
	assert_int_equal(weftd_job_begin_attempt(j, 1, "s1", 2, weft_now()), -ECANCELED);
	/* failed keeps the error, drops any output */
	struct weftd_job *f = mkjob(t, "p", "in");
	assert_int_equal(weftd_job_begin_attempt(f, 0, "s0", 1, weft_now()), 0);
	assert_true(weftd_jobs_finish(t, f, WEFTD_JOB_FAILED, sdup("x"), 1, "boom"));
	assert_string_equal(job_copy(f).error, "boom");
	assert_false(job_copy(f).has_output);
	weftd_job_unref(f);
	weftd_job_unref(j);
	weftd_jobs_free(t);
}

static void test_cancel(void **state)
{
	struct weftd_jobs *t;
	struct weftd_job *q, *r;

	assert_int_equal(weftd_jobs_new(&(struct weftd_retention){ 100, WEFT_SEC * 3600, UINT64_MAX }, NULL, &t), 0);
	/* queued: ends at once with the reason */
	q = mkjob(t, "p", "");
	assert_true(weftd_job_cancel(t, q, "by test"));
	assert_int_equal(weftd_job_state(q), WEFTD_JOB_CANCELED);
	assert_string_equal(job_copy(q).error, "by test");
	assert_int_equal(weft_ctx_err(weftd_job_info(q)->ctx), -ECANCELED);
	assert_int_equal(weftd_job_begin_attempt(q, 0, "s", 1, weft_now()), -ECANCELED);
	/* running: the ctx fires, the state is the worker's to end */
	r = mkjob(t, "p", "");
	assert_int_equal(weftd_job_begin_attempt(r, 0, "s", 1, weft_now()), 0);
	assert_true(weftd_job_cancel(t, r, "by test"));
	assert_int_equal(weftd_job_state(r), WEFTD_JOB_RUNNING);
	assert_true(weftd_job_cancel_requested(r));
	assert_int_equal(weft_ctx_err(weftd_job_info(r)->ctx), -ECANCELED);
	assert_int_equal(weftd_job_retrying(r, 1), -ECANCELED);
	assert_int_equal(weftd_job_advance(r, 1, "s1"), -ECANCELED);
	assert_true(weftd_jobs_finish(t, r, WEFTD_JOB_CANCELED, NULL, 0, "canceled by client"));
	/* cancel_all: only live jobs */
	struct weftd_job *a = mkjob(t, "p", ""), *b = mkjob(t, "p", "");
	assert_int_equal(weftd_jobs_cancel_all(t, "shutdown"), 2);
	assert_int_equal(weftd_job_state(a), WEFTD_JOB_CANCELED);
	assert_int_equal(weftd_job_state(b), WEFTD_JOB_CANCELED);
	assert_int_equal(weftd_jobs_cancel_all(t, "shutdown"), 0);
	weftd_job_unref(a);
	weftd_job_unref(b);
	weftd_job_unref(q);
	weftd_job_unref(r);
	weftd_jobs_free(t);
}

static void test_retention(void **state)
{
	struct weftd_jobs *t;
	struct weftd_job *j[6];
	struct weftd_jobs_counts c;
	char id0[32], id1[32];

	assert_int_equal(weftd_jobs_new(&(struct weftd_retention){ 3, WEFT_SEC * 3600, UINT64_MAX }, NULL, &t), 0);
	for (int i = 0; i < 6; i++)
		j[i] = mkjob(t, "p", "");
	strcpy(id0, ID(j[0]));
	strcpy(id1, ID(j[1]));
	/* finish order 1, 0, 2, 3: the two finished first go once 4 are finished */
	int order[] = { 1, 0, 2, 3, 4 };
	for (int k = 0; k < 5; k++) {
		weftd_job_begin_attempt(j[order[k]], 0, "s", 1, weft_now());
		weftd_jobs_finish(t, j[order[k]], WEFTD_JOB_DONE, NULL, 0, NULL);
	}
	weftd_jobs_counts(t, &c);
	assert_int_equal(c.total, 4);     /* 3 finished kept + 1 live */
	assert_int_equal(c.finished, 3);
	assert_null(weftd_jobs_get(t, id1, 16));
	assert_null(weftd_jobs_get(t, id0, 16));
	struct weftd_job *g = weftd_jobs_get(t, ID(j[2]), 16);
	assert_non_null(g);
	weftd_job_unref(g);
	/* live jobs are never evicted, whatever their age */
	assert_int_equal(weftd_jobs_expire(t, weft_now() + 10 * WEFT_SEC * 3600), 3);
	weftd_jobs_counts(t, &c);
	assert_int_equal(c.total, 1);
	/* age: kept until older than the retention age */
	weftd_jobs_set_retention(t, &(struct weftd_retention){ 100, WEFT_SEC, UINT64_MAX });
	weftd_job_begin_attempt(j[5], 0, "s", 1, weft_now());
	weftd_jobs_finish(t, j[5], WEFTD_JOB_DONE, NULL, 0, NULL);
	assert_int_equal(weftd_jobs_expire(t, weft_now()), 0);
	assert_int_equal(weftd_jobs_expire(t, weft_now() + 2 * WEFT_SEC), 1);
	for (int i = 0; i < 6; i++)
		weftd_job_unref(j[i]); /* our references outlive eviction */
	weftd_jobs_free(t);
}

/* retention.bytes: outputs are evicted oldest first while their total is over the budget;
 * the newest stays even when alone over it. */
static void test_retention_bytes(void **state)
{
	struct weftd_jobs *t;
	struct weftd_job *j[5];
	struct weftd_jobs_counts c;
	size_t sizes[] = { 400, 300, 200, 500, 2000 };

	assert_int_equal(weftd_jobs_new(&(struct weftd_retention){ 100, WEFT_SEC * 3600, 1000 },
					NULL, &t), 0);
	for (int i = 0; i < 5; i++)
		j[i] = mkjob(t, "p", "");
	for (int i = 0; i < 3; i++) { /* 400 + 300 + 200: within 1000 */
		weftd_job_begin_attempt(j[i], 0, "s", 1, weft_now());
		weftd_jobs_finish(t, j[i], WEFTD_JOB_DONE, calloc(1, sizes[i] + 1), sizes[i], NULL);
	}
	weftd_jobs_counts(t, &c);
	assert_int_equal(c.finished, 3);
	assert_int_equal(c.finished_bytes, 900);
	/* + 500 = 1400: the oldest (400) goes, 1000 left */
	weftd_job_begin_attempt(j[3], 0, "s", 1, weft_now());
	weftd_jobs_finish(t, j[3], WEFTD_JOB_DONE, calloc(1, 501), 500, NULL);
	weftd_jobs_counts(t, &c);
	assert_int_equal(c.finished, 3);
	assert_int_equal(c.finished_bytes, 1000);
	struct weftd_job *g = weftd_jobs_get(t, ID(j[0]), 16);
	assert_null(g);
	/* one output over the whole budget: everything older goes, it stays */
	weftd_job_begin_attempt(j[4], 0, "s", 1, weft_now());
	weftd_jobs_finish(t, j[4], WEFTD_JOB_DONE, calloc(1, 2001), 2000, NULL);
	weftd_jobs_counts(t, &c);
	assert_int_equal(c.finished, 1);
	assert_int_equal(c.finished_bytes, 2000);
	assert_non_null(g = weftd_jobs_get(t, ID(j[4]), 16));
	weftd_job_unref(g);
	/* a smaller budget at reload applies at the next sweep */
	weftd_jobs_set_retention(t, &(struct weftd_retention){ 100, WEFT_SEC * 3600, 10 });
	assert_int_equal(weftd_jobs_expire(t, weft_now()), 0); /* the last one stays */
	for (int i = 0; i < 5; i++)
		weftd_job_unref(j[i]);
	weftd_jobs_free(t);
}

/* Where s occurs in the (not NUL-terminated) buffer, or NULL. */
static const char *has(const struct weftd_buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s));
}

static void test_list_json(void **state)
{
	struct weftd_jobs *t;
	struct weftd_job *j[4];
	struct weftd_buf b;

	assert_int_equal(weftd_jobs_new(&(struct weftd_retention){ 100, WEFT_SEC * 3600, UINT64_MAX }, NULL, &t), 0);
	j[0] = mkjob(t, "a", "");
	j[1] = mkjob(t, "b", "");
	j[2] = mkjob(t, "a", "");
	j[3] = mkjob(t, "a", "");
	weftd_job_begin_attempt(j[2], 0, "s", 1, weft_now());
	weftd_jobs_finish(t, j[2], WEFTD_JOB_DONE, sdup("\xff\x00"), 2, NULL);
	weftd_buf_init(&b, NULL, 0);
	weftd_resp_begin(&b, "1");
	weftd_jobs_list_json(t, &b, "jobs", "a", WEFTD_JOB_NO_OWNER, false, 0, 2, true);
	assert_int_equal(weftd_resp_end(&b), 0);
	/* newest first, filtered, limited: j3 then j2 */
	const char *p3 = has(&b, ID(j[3])), *p2 = has(&b, ID(j[2]));
	assert_non_null(p3);
	assert_non_null(p2);
	assert_true(p3 < p2);
	assert_null(has(&b, ID(j[0])));
	assert_null(has(&b, ID(j[1])));
	assert_non_null(has(&b, "\"output_b64\":\"/wA=\""));
	weftd_buf_reset(&b);
	weftd_jobs_list_json(t, &b, "jobs", NULL, WEFTD_JOB_NO_OWNER, true, WEFTD_JOB_DONE, 100, false);
	assert_non_null(has(&b, ID(j[2])));
	assert_null(has(&b, ID(j[3])));
	assert_null(has(&b, "\"output")); /* not asked for */
	weftd_buf_done(&b);
	for (int i = 0; i < 4; i++)
		weftd_job_unref(j[i]);
	weftd_jobs_free(t);
}

/* ---- waiting, in fibers ---------------------------------------------------------- */

struct wait_env {
	struct weftd_jobs *t;
	struct weftd_job *j[3];
	int r_all, r_timeout, r_cancel, r_done_already;
	weft_wg wg;
	weft_ctx *cctx;
};

static void finisher(void *arg)
{
	struct wait_env *e = arg;
	for (int i = 0; i < 3; i++) {
		weft_sleep(NULL, 2 * WEFT_MSEC);
		weftd_job_begin_attempt(e->j[i], 0, "s", 1, weft_now());
		weftd_jobs_finish(e->t, e->j[i], WEFTD_JOB_DONE, NULL, 0, NULL);
	}
	weft_wg_done(&e->wg);
}

static void waiter_all(void *arg)
{
	struct wait_env *e = arg;
	e->r_all = weftd_jobs_wait(NULL, e->j, 3, -1);
	weft_wg_done(&e->wg);
}

static void canceller(void *arg)
{
	struct wait_env *e = arg;
	weft_sleep(NULL, WEFT_MSEC);
	weft_ctx_cancel(e->cctx);
	weft_wg_done(&e->wg);
}

static void wait_main(void *arg)
{
	struct wait_env *e = arg;
	struct weftd_job *live;

	for (int i = 0; i < 3; i++)
		e->j[i] = mkjob(e->t, "p", "");
	live = mkjob(e->t, "p", "");
	weft_wg_init(&e->wg);
	weft_wg_add(&e->wg, 2);
	weft_go(waiter_all, e);
	weft_go(finisher, e);
	weft_wg_wait(NULL, &e->wg);
	/* a timeout on a job that never ends, and an outside cancel */
	e->r_timeout = weftd_jobs_wait(NULL, &live, 1, 3 * WEFT_MSEC);
	weft_ctx_with_cancel(NULL, &e->cctx);
	weft_wg_add(&e->wg, 1);
	weft_go(canceller, e);
	e->r_cancel = weftd_jobs_wait(e->cctx, &live, 1, -1);
	weft_wg_wait(NULL, &e->wg);
	weft_ctx_unref(e->cctx);
	e->r_done_already = weftd_jobs_wait(NULL, e->j, 3, -1);
	assert_true(LIST_EMPTY(&live->waiters)); /* nothing left registered */
	weftd_job_unref(live);
	for (int i = 0; i < 3; i++)
		weftd_job_unref(e->j[i]);
}

static void test_wait(void **state)
{
	for (unsigned procs = 1; procs <= 2; procs++) {
		struct wait_env e = { 0 };
		assert_int_equal(weftd_jobs_new(&(struct weftd_retention){ 100, WEFT_SEC * 3600, UINT64_MAX }, NULL, &e.t), 0);
		assert_int_equal(weft_run(wait_main, &e, &(struct weft_opts){ .procs = procs }), 0);
		assert_int_equal(e.r_all, 0);
		assert_int_equal(e.r_timeout, -ETIMEDOUT);
		assert_int_equal(e.r_cancel, -ECANCELED);
		assert_int_equal(e.r_done_already, 0);
		weftd_jobs_free(e.t);
	}
}

/* ---- backoff and rate ----------------------------------------------------------- */

/* The engine's schedule is libweft's weft_backoff_delay on the stage's retry settings. */
static void test_backoff(void **state)
{
	struct weftd_retry r = { .attempts = 10, .initial_ns = 100 * WEFT_MSEC, .max_ns = WEFT_SEC,
				 .multiplier = 2.0, .jitter = WEFTD_JITTER_NONE };
	static const int64_t want_ms[] = { 100, 200, 400, 800, 1000, 1000 };
	struct weft_retry_policy p;
	uint64_t seed = 12345;

	weftd_retry_policy(&r, &p);
	for (uint32_t a = 1; a <= 6; a++)
		assert_int_equal(weftd_retry_delay(&p, a, &seed), want_ms[a - 1] * WEFT_MSEC);
	seed = 1;
	r.jitter = WEFTD_JITTER_FULL;
	weftd_retry_policy(&r, &p);
	for (int i = 0; i < 1000; i++) {
		int64_t d = weftd_retry_delay(&p, 3, &seed);
		assert_true(d >= 0 && d <= 400 * WEFT_MSEC);
	}
	r.jitter = WEFTD_JITTER_EQUAL;
	weftd_retry_policy(&r, &p);
	for (int i = 0; i < 1000; i++) {
		int64_t d = weftd_retry_delay(&p, 3, &seed);
		assert_true(d >= 200 * WEFT_MSEC && d <= 400 * WEFT_MSEC);
	}
	r.multiplier = 1.0;
	r.jitter = WEFTD_JITTER_NONE;
	weftd_retry_policy(&r, &p);
	assert_int_equal(weftd_retry_delay(&p, 9, &seed), 100 * WEFT_MSEC);
	r.initial_ns = 0; /* "initial: 0s": retry at once */
	weftd_retry_policy(&r, &p);
	assert_int_equal(weftd_retry_delay(&p, 3, &seed), 0);
}

/* The stage's bucket is libweft's token bucket: 10/s with a burst of 2 lets two through at
 * once, then one per 100 ms, reservations queueing up; no rate_limit means no bucket. */
static void test_bucket(void **state)
{
	struct weftd_rate_limit rl = { .count = 10, .per_ns = WEFT_SEC, .burst = 2 };
	weft_ratelimit *b;
	int64_t t0 = weft_now(), at[4];

	assert_int_equal(weftd_ratelimit_new(&rl, &b), 0);
	assert_non_null(b);
	for (int i = 0; i < 4; i++)
		assert_int_equal(weft_ratelimit_reserve(b, 1, &at[i]), 0);
	int64_t slack = 50 * WEFT_MSEC; /* the clock moves between the calls */
	assert_true(at[0] <= t0 + slack && at[1] <= t0 + slack);
	assert_true(at[2] >= t0 + 100 * WEFT_MSEC - slack && at[2] <= t0 + 100 * WEFT_MSEC + slack);
	assert_true(at[3] >= t0 + 200 * WEFT_MSEC - slack && at[3] <= t0 + 200 * WEFT_MSEC + slack);
	assert_int_equal(at[3] - at[2], 100 * WEFT_MSEC);
	weft_ratelimit_free(b);
	struct weftd_rate_limit none = { 0 };
	assert_int_equal(weftd_ratelimit_new(&none, &b), 0);
	assert_null(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transitions), cmocka_unit_test(test_moves),
		cmocka_unit_test(test_ids_and_lookup),
		cmocka_unit_test(test_lifecycle), cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_retention_bytes), cmocka_unit_test(test_list_json),
		cmocka_unit_test(test_wait), cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
