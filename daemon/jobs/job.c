/* SPDX-License-Identifier: MIT */
/* job.c — one job: its life, its state machine and waiting on it (job.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_impl.h"
#include "jobs/jobs.h"

/* ---- the state machine ------------------------------------------------------------ */

#define TO(s) (1u << (s))
#define EXP TO(WEFTD_JOB_EXPIRED) /* a deadline ends a job wherever it is */
/* legal[from]: the states a job may move to from 'from' (job.h draws it). */
static const unsigned legal[WEFTD_JOB__MAX] = {
	[WEFTD_JOB_SCHEDULED] = TO(WEFTD_JOB_QUEUED) | TO(WEFTD_JOB_FAILED) | TO(WEFTD_JOB_CANCELED) |
				EXP,
	[WEFTD_JOB_FAILED] = TO(WEFTD_JOB_QUEUED), /* re-drive: weftd_job_requeue_failed only */
	[WEFTD_JOB_QUEUED] = TO(WEFTD_JOB_RUNNING) | TO(WEFTD_JOB_FAILED) | TO(WEFTD_JOB_CANCELED) | EXP,
	[WEFTD_JOB_RUNNING] = TO(WEFTD_JOB_QUEUED) | TO(WEFTD_JOB_RETRYING) | TO(WEFTD_JOB_DONE) |
			      TO(WEFTD_JOB_FAILED) | TO(WEFTD_JOB_CANCELED) | EXP,
	[WEFTD_JOB_RETRYING] = TO(WEFTD_JOB_RUNNING) | TO(WEFTD_JOB_QUEUED) | TO(WEFTD_JOB_FAILED) |
			       TO(WEFTD_JOB_CANCELED) | EXP,
};

bool weftd_job_transition_ok(enum weftd_job_state from, enum weftd_job_state to)
{
	if ((unsigned)from >= WEFTD_JOB__MAX || (unsigned)to >= WEFTD_JOB__MAX)
		return false;
	return legal[from] & TO(to);
}

/* The one place a job's state changes (job lock held). Once a cancel was requested only
 * the terminal moves remain: the worker ends the job, nothing starts it again. */
static int move_locked(struct weftd_job *j, enum weftd_job_state to)
{
	if (!weftd_job_transition_ok(j->state, to))
		return -ECANCELED;
	if (j->cancel_requested && !weftd_job_state_terminal(to))
		return -ECANCELED;
	/* atomic: a listing filters on the state without the job lock */
	__atomic_store_n(&j->state, to, __ATOMIC_RELAXED);
	return 0;
}

/* ---- life ----------------------------------------------------------------------- */

static void wake_waiters_locked(struct weftd_job *j);

int weftd_job_create(struct weftd_jobs *t, const struct weftd_job_init *in, struct weftd_job **ret)
{
	size_t plen = in->key ? strlen(in->pipeline) : 0;
	size_t klen = in->key ? sizeof(struct weftd_job_key) + plen + 1 + in->key_len + 1 : 0;
	struct weftd_job *j;
	unsigned char *tail;
	int r;

	if (in->priority < WEFTD_PRIORITY_MIN || in->priority > WEFTD_PRIORITY_MAX ||
	    (in->key && (in->key_len == 0 || in->key_len > WEFTD_JOB_KEY_MAX)))
		return -EINVAL;
	klen = (klen + 7) & ~(size_t)7;
	/* One allocation: the job, its key (aligned, right after it), its payload (kept
	 * for its life). */
	j = calloc(1, sizeof(*j) + klen + in->len + 1);
	if (!j)
		return -ENOMEM;
	tail = (unsigned char *)(j + 1);
	atomic_init(&j->refs, 1);
	LIST_INIT(&j->waiters);
	j->info.pipeline = in->pipeline;
	j->info.owner = in->owner;
	j->info.priority = in->priority;
	r = weft_ctx_with_cancel(NULL, &j->info.ctx);
	if (r < 0) {
		free(j);
		return r;
	}
	if (in->key) {
		struct weftd_job_key *k = (struct weftd_job_key *)tail;
		memcpy(k->s, in->pipeline, plen + 1);
		memcpy(k->s + plen + 1, in->key, in->key_len);
		k->len = plen + 1 + in->key_len;
		k->job = j;
		j->key = k;
		j->info.key = k->s + plen + 1;
		j->info.key_len = in->key_len;
		tail += klen;
	}
	if (in->len)
		memcpy(tail, in->payload, in->len);
	j->payload = tail;
	j->payload_len = in->len;
	j->cargo.input = (unsigned char *)j->payload;
	j->cargo.input_len = in->len;
	j->cargo.pipe = in->pipe;
	if (in->id)
		strncpy(j->info.id, in->id, WEFTD_JOB_ID_LEN);
	weftd_jobs_stamp(t, j, !in->id);
	j->info.created_ns = weft_now();
	j->info.created_ms = in->created_ms ? in->created_ms
					    : (j->info.created_ns + j->wall_off_ns) / 1000000;
	j->run_at_ms = in->run_at_ms > 0 ? in->run_at_ms : 0;
	j->info.deadline_ms = in->deadline_ms > 0 ? in->deadline_ms : 0;
	j->state = j->run_at_ms > (j->info.created_ns + j->wall_off_ns) / 1000000 ? WEFTD_JOB_SCHEDULED
										   : WEFTD_JOB_QUEUED;
	*ret = j;
	return 0;
}

int weftd_job_new(struct weftd_jobs *t, const char *id, uid_t owner, const char *pipeline,
		  void *pipe, const void *payload, size_t len, struct weftd_job **ret)
{
	return weftd_job_create(t, &(struct weftd_job_init){ .id = id, .owner = owner,
		.pipeline = pipeline, .pipe = pipe, .payload = payload, .len = len }, ret);
}

void weftd_job_payload(const struct weftd_job *j, const void **p, size_t *len)
{
	*p = j->payload;
	*len = j->payload_len;
}

bool weftd_job_input_is_payload(const struct weftd_job *j)
{
	return j->cargo.input == j->payload;
}

void weftd_job_drop_input(struct weftd_job *j)
{
	if (j->cargo.input != j->payload)
		free(j->cargo.input);
	j->cargo.input = NULL;
	j->cargo.input_len = 0;
}

int weftd_job_restore_stage(struct weftd_job *j, uint32_t stage, const char *name,
			    const void *input, size_t len)
{
	unsigned char *in = malloc(len + 1);
	int r = 0;

	if (!in)
		return -ENOMEM;
	if (len)
		memcpy(in, input, len);
	in[len] = '\0';
	weftd_spin_lock(&j->lock);
	if (j->state != WEFTD_JOB_QUEUED && j->state != WEFTD_JOB_SCHEDULED) {
		r = -EBUSY;
	} else {
		__atomic_store_n(&j->state, WEFTD_JOB_QUEUED, __ATOMIC_RELAXED);
		j->stage = stage;
		j->stage_name = name;
		j->attempts = 0;
	}
	weftd_spin_unlock(&j->lock);
	if (r < 0) {
		free(in);
		return r;
	}
	weftd_job_drop_input(j); /* not in flight yet: the caller holds the cargo */
	j->cargo.input = in;
	j->cargo.input_len = len;
	return 0;
}

static char *memdup0(const void *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s) {
		if (len)
			memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

int weftd_job_restore_end(struct weftd_job *j, const struct weftd_job_end *end)
{
	char *out = NULL, *err = NULL, *log = NULL;
	int r = 0;

	if (!weftd_job_state_terminal(end->state))
		return -EINVAL;
	if ((end->state == WEFTD_JOB_DONE && !(out = memdup0(end->output, end->output_len))) ||
	    (end->error && !(err = strdup(end->error))) ||
	    (end->log && !(log = memdup0(end->log, end->log_len)))) {
		r = -ENOMEM;
		goto out;
	}
	weftd_spin_lock(&j->lock);
	if (weftd_job_state_terminal(j->state)) {
		r = -EINVAL;
	} else {
		/* not a move: the job ended before the restart, this restores it */
		__atomic_store_n(&j->state, end->state, __ATOMIC_RELAXED);
		j->output = out;
		j->output_len = out ? end->output_len : 0;
		j->error = err;
		j->log = log;
		j->log_len = log ? end->log_len : 0;
		j->stage = end->stage;
		j->stage_name = end->stage_name;
		j->attempts = end->attempts;
		j->started_ms = end->started_ms;
		j->finished_ms = end->finished_ms;
		out = err = log = NULL;
		wake_waiters_locked(j);
	}
	weftd_spin_unlock(&j->lock);
out:
	free(out);
	free(err);
	free(log);
	return r;
}

int weftd_job_requeue_failed(struct weftd_job *j, uint32_t stage, const char *name,
			     unsigned char *input, size_t len, bool use_input)
{
	char *err;

	weftd_spin_lock(&j->lock);
	if (j->state != WEFTD_JOB_FAILED || j->cancel_requested) {
		weftd_spin_unlock(&j->lock);
		if (use_input && input != j->payload)
			free(input);
		return -EBUSY;
	}
	__atomic_store_n(&j->state, WEFTD_JOB_QUEUED, __ATOMIC_RELAXED);
	j->stage = stage;
	j->stage_name = name;
	j->attempts = 0;
	j->finished_ms = 0;
	err = j->error;
	j->error = NULL;
	weftd_spin_unlock(&j->lock);
	free(err);
	if (use_input) {
		/* a dead letter is held by nobody in flight: its cargo is ours here */
		weftd_job_drop_input(j);
		j->cargo.input = input;
		j->cargo.input_len = len;
	}
	return 0;
}

/* An output is malloc'd, or the payload itself (a stage that passed it on: noop). */
static void free_output(struct weftd_job *j, char *out)
{
	if (out != (const char *)j->payload)
		free(out);
}

struct weftd_job *weftd_job_ref(struct weftd_job *j)
{
	atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed);
	return j;
}

struct weftd_job *weftd_job_unref(struct weftd_job *j)
{
	if (j && atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1) {
		if (j->release)
			j->release(j->cargo.pipe);
		weft_ctx_unref(j->info.ctx);
		weftd_job_drop_input(j);
		free_output(j, j->output);
		free(j->error);
		free(j->log);
		free(j);
	}
	return NULL;
}

const struct weftd_job_info *weftd_job_info(const struct weftd_job *j)
{
	return &j->info;
}

struct weftd_job_cargo *weftd_job_cargo(struct weftd_job *j)
{
	return &j->cargo;
}

/* ---- transitions ------------------------------------------------------------------ */

int weftd_job_begin_attempt(struct weftd_job *j, uint32_t stage, const char *name,
			    uint32_t attempt, int64_t now_ns)
{
	int r;

	weftd_spin_lock(&j->lock);
	r = move_locked(j, WEFTD_JOB_RUNNING);
	if (r == 0) {
		j->stage = stage;
		j->stage_name = name;
		j->attempts = attempt;
		j->retry_due_ms = 0;
		if (!j->started_ms)
			j->started_ms = (now_ns + j->wall_off_ns) / 1000000;
	}
	weftd_spin_unlock(&j->lock);
	return r;
}

int weftd_job_due(struct weftd_job *j, uint32_t *stage)
{
	int r = -ECANCELED;

	weftd_spin_lock(&j->lock);
	if (j->state == WEFTD_JOB_SCHEDULED || j->state == WEFTD_JOB_RETRYING)
		r = move_locked(j, WEFTD_JOB_QUEUED);
	if (r == 0 && j->retry_due_ms == 0)
		j->stage = 0; /* a scheduled job: its first stage */
	j->retry_due_ms = 0;
	*stage = j->stage;
	weftd_spin_unlock(&j->lock);
	return r;
}

int weftd_job_retrying(struct weftd_job *j, int64_t due_ms)
{
	int r;

	weftd_spin_lock(&j->lock);
	r = move_locked(j, WEFTD_JOB_RETRYING);
	if (r == 0)
		j->retry_due_ms = due_ms > 0 ? due_ms : 1;
	weftd_spin_unlock(&j->lock);
	return r;
}

int weftd_job_restore_retry(struct weftd_job *j, uint32_t attempts, int64_t due_ms)
{
	int r = 0;

	weftd_spin_lock(&j->lock);
	if (j->state != WEFTD_JOB_QUEUED) {
		r = -EBUSY;
	} else {
		__atomic_store_n(&j->state, WEFTD_JOB_RETRYING, __ATOMIC_RELAXED);
		j->attempts = attempts;
		j->retry_due_ms = due_ms > 0 ? due_ms : 1;
	}
	weftd_spin_unlock(&j->lock);
	return r;
}

int64_t weftd_job_due_ms(struct weftd_job *j)
{
	int64_t d;

	weftd_spin_lock(&j->lock);
	d = j->state == WEFTD_JOB_RETRYING ? j->retry_due_ms : j->run_at_ms;
	weftd_spin_unlock(&j->lock);
	return d;
}

uint32_t weftd_job_attempts(struct weftd_job *j)
{
	uint32_t n;

	weftd_spin_lock(&j->lock);
	n = j->attempts;
	weftd_spin_unlock(&j->lock);
	return n;
}

int weftd_job_advance(struct weftd_job *j, uint32_t next, const char *name)
{
	int r;

	weftd_spin_lock(&j->lock);
	r = j->state == WEFTD_JOB_RUNNING ? move_locked(j, WEFTD_JOB_QUEUED) : -ECANCELED;
	if (r == 0) {
		j->stage = next;
		j->stage_name = name;
		j->attempts = 0;
	}
	weftd_spin_unlock(&j->lock);
	return r;
}

/* Job lock held. */
static bool end_locked(struct weftd_job *j, enum weftd_job_state state, char *output,
		       size_t output_len, char *error, int64_t now)
{
	if (!weftd_job_state_terminal(state) || move_locked(j, state) < 0)
		return false;
	j->output = output;
	j->output_len = output_len;
	j->error = error;
	j->finished_ms = (now + j->wall_off_ns) / 1000000;
	wake_waiters_locked(j);
	return true;
}

bool weftd_job_end(struct weftd_job *j, enum weftd_job_state state, char *output,
		   size_t output_len, char *error, int64_t now_ns)
{
	bool won;

	if (state != WEFTD_JOB_DONE) {
		free_output(j, output);
		output = NULL;
		output_len = 0;
	}
	weftd_spin_lock(&j->lock);
	won = end_locked(j, state, output, output_len, error, now_ns);
	weftd_spin_unlock(&j->lock);
	if (!won) {
		free_output(j, output);
		free(error);
	}
	return won;
}

int weftd_job_stop(struct weftd_job *j, const char *reason, int64_t now_ns)
{
	char *err = strdup(reason ? reason : "canceled");
	int r = 0;

	weftd_spin_lock(&j->lock);
	if (weftd_job_state_terminal(j->state)) {
		r = -EALREADY;
	} else {
		j->cancel_requested = true;
		/* A queued job sits in a stage queue (a scheduled or retrying one in a
		 * schedule): end it now, whoever takes it out skips it. Otherwise the worker
		 * sees its ctx fire and ends it (a retrying job a worker holds through its
		 * backoff, the schedule being full, ends here too: its worker sees the ctx). */
		if ((j->state == WEFTD_JOB_QUEUED || j->state == WEFTD_JOB_SCHEDULED ||
		     j->state == WEFTD_JOB_RETRYING) &&
		    end_locked(j, WEFTD_JOB_CANCELED, NULL, 0, err, now_ns))
			r = 1;
	}
	weftd_spin_unlock(&j->lock);
	if (r != 1)
		free(err);
	if (r >= 0)
		weft_ctx_cancel(j->info.ctx);
	return r;
}

void weftd_job_set_log(struct weftd_job *j, char *log, size_t len)
{
	char *old;

	weftd_spin_lock(&j->lock);
	old = j->log;
	j->log = log;
	j->log_len = log ? len : 0;
	weftd_spin_unlock(&j->lock);
	free(old);
}

/* ---- queries ------------------------------------------------------------------------ */

enum weftd_job_state weftd_job_state(struct weftd_job *j)
{
	enum weftd_job_state s;

	weftd_spin_lock(&j->lock);
	s = j->state;
	weftd_spin_unlock(&j->lock);
	return s;
}

int64_t weftd_job_run_at_ms(const struct weftd_job *j)
{
	return j->run_at_ms;
}

bool weftd_job_cancel_requested(struct weftd_job *j)
{
	bool c;

	weftd_spin_lock(&j->lock);
	c = j->cancel_requested;
	weftd_spin_unlock(&j->lock);
	return c;
}

void weftd_job_read(struct weftd_job *j, void (*fn)(const struct weftd_job_snap *s, void *arg),
		    void *arg)
{
	/* Under the job lock: log and state change while a job runs. Outputs are written
	 * once at the end, so holding a spinlock while the caller copies them is bounded. */
	weftd_spin_lock(&j->lock);
	fn(&(struct weftd_job_snap){
		   .info = &j->info, .state = j->state, .cancel_requested = j->cancel_requested,
		   .run_at_ms = j->state == WEFTD_JOB_SCHEDULED ? j->run_at_ms
				: j->state == WEFTD_JOB_RETRYING ? j->retry_due_ms : 0,
		   .stage = j->stage_name, .stage_index = j->stage, .attempts = j->attempts,
		   .output = j->state == WEFTD_JOB_DONE ? j->output : NULL,
		   .output_len = j->state == WEFTD_JOB_DONE ? j->output_len : 0,
		   .error = j->error, .log = j->log, .log_len = j->log_len,
		   .started_ms = j->started_ms, .finished_ms = j->finished_ms,
	   }, arg);
	weftd_spin_unlock(&j->lock);
}

/* ---- waiting ------------------------------------------------------------------------ */

/* One weftd_jobs_wait(): set when the last of its jobs ends. */
struct weftd_wait {
	weft_event ended;
	atomic_size_t remaining;   /* jobs not ended yet, +1 while registering */
};

/* The job has just ended (job lock held): count it off every wait on it. The event is set
 * under the job lock, which the waiter takes to unhook: once it has, nobody here can
 * reach its (stack) storage any more. */
static void wake_waiters_locked(struct weftd_job *j)
{
	struct weftd_job_waiter *n;

	while ((n = LIST_FIRST(&j->waiters))) {
		struct weftd_wait *w = n->wait;
		LIST_REMOVE(n, link);
		n->linked = false;
		if (atomic_fetch_sub_explicit(&w->remaining, 1, memory_order_acq_rel) == 1)
			weft_event_set(&w->ended, 0);
	}
}

/* Register n on j; false when j has already ended (nothing registered). */
static bool wait_add(struct weftd_job *j, struct weftd_job_waiter *n, struct weftd_wait *w)
{
	bool added = false;

	weftd_spin_lock(&j->lock);
	if (!weftd_job_state_terminal(j->state)) {
		n->wait = w;
		LIST_INSERT_HEAD(&j->waiters, n, link);
		n->linked = true;
		added = true;
	}
	weftd_spin_unlock(&j->lock);
	return added;
}

static void wait_del(struct weftd_job *j, struct weftd_job_waiter *n)
{
	weftd_spin_lock(&j->lock);
	if (n->linked) {
		LIST_REMOVE(n, link);
		n->linked = false;
	}
	weftd_spin_unlock(&j->lock);
}

static bool all_ended(struct weftd_job *const *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!weftd_job_state_terminal(weftd_job_state(jobs[i])))
			return false;
	return true;
}

int weftd_jobs_wait(weft_ctx *ctx, struct weftd_job *const *jobs, size_t n, int64_t timeout_ns)
{
	struct weftd_job_waiter one, *nodes;
	struct weftd_wait w;
	weft_ctx *tctx = NULL;
	size_t ended = 0;
	int r = 0;

	if (timeout_ns == 0)
		return all_ended(jobs, n) ? 0 : -ETIMEDOUT;
	nodes = n == 1 ? &one : calloc(n, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	weft_event_init(&w.ended);
	atomic_init(&w.remaining, n + 1);
	for (size_t i = 0; i < n; i++) {
		nodes[i].linked = false;
		if (!wait_add(jobs[i], &nodes[i], &w))
			ended++;
	}
	/* Drop the registration guard and the jobs that had ended already; reaching 0 here
	 * means every job has ended and nobody will set the event. */
	if (atomic_fetch_sub_explicit(&w.remaining, ended + 1, memory_order_acq_rel) == ended + 1)
		goto out;
	if (timeout_ns > 0) {
		r = weft_ctx_with_timeout(ctx, timeout_ns, &tctx);
		if (r < 0)
			goto out;
	}
	r = weft_event_wait(tctx ? tctx : ctx, &w.ended);
	if (r < 0 && weft_ctx_err(ctx) < 0)
		r = weft_ctx_err(ctx); /* the caller's own deadline or cancel, not ours */
out:
	for (size_t i = 0; i < n; i++)
		wait_del(jobs[i], &nodes[i]);
	/* Unhooked from every job: w is ours again. The last job may have ended just as
	 * the ctx did; then the jobs have all ended, which is the answer. */
	if (r < 0 && weft_event_is_set(&w.ended, NULL))
		r = 0;
	weft_ctx_unref(tctx);
	if (nodes != &one)
		free(nodes);
	return r;
}
