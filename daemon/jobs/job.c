/* job.c — one job: its life, its state machine and waiting on it (job.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_impl.h"
#include "jobs/jobs.h"

/* ---- the state machine ------------------------------------------------------------ */

#define TO(s) (1u << (s))
/* legal[from]: the states a job may move to from 'from' (job.h draws it). */
static const unsigned legal[WEFTD_JOB__MAX] = {
	[WEFTD_JOB_QUEUED] = TO(WEFTD_JOB_RUNNING) | TO(WEFTD_JOB_FAILED) | TO(WEFTD_JOB_CANCELED),
	[WEFTD_JOB_RUNNING] = TO(WEFTD_JOB_QUEUED) | TO(WEFTD_JOB_RETRYING) | TO(WEFTD_JOB_DONE) |
			      TO(WEFTD_JOB_FAILED) | TO(WEFTD_JOB_CANCELED),
	[WEFTD_JOB_RETRYING] = TO(WEFTD_JOB_RUNNING) | TO(WEFTD_JOB_FAILED) | TO(WEFTD_JOB_CANCELED),
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

int weftd_job_new(struct weftd_jobs *t, const char *id, uid_t owner, const char *pipeline,
		  void *pipe, const void *payload, size_t len, struct weftd_job **ret)
{
	struct weftd_job *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	atomic_init(&j->refs, 1);
	j->state = WEFTD_JOB_QUEUED;
	LIST_INIT(&j->waiters);
	j->info.pipeline = pipeline;
	j->info.owner = owner;
	r = weft_ctx_with_cancel(NULL, &j->info.ctx);
	if (r < 0)
		goto fail;
	j->cargo.input = malloc(len ? len : 1);
	if (!j->cargo.input) {
		r = -ENOMEM;
		goto fail;
	}
	if (len)
		memcpy(j->cargo.input, payload, len);
	j->cargo.input_len = len;
	j->cargo.pipe = pipe;
	if (id)
		strncpy(j->info.id, id, WEFTD_JOB_ID_LEN);
	weftd_jobs_stamp(t, j, !id);
	j->info.created_ns = weft_now();
	j->info.created_ms = (j->info.created_ns + j->wall_off_ns) / 1000000;
	*ret = j;
	return 0;
fail:
	weft_ctx_unref(j->info.ctx);
	free(j);
	return r;
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
		free(j->cargo.input);
		free(j->output);
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
		if (!j->started_ms)
			j->started_ms = (now_ns + j->wall_off_ns) / 1000000;
	}
	weftd_spin_unlock(&j->lock);
	return r;
}

int weftd_job_retrying(struct weftd_job *j)
{
	int r;

	weftd_spin_lock(&j->lock);
	r = move_locked(j, WEFTD_JOB_RETRYING);
	weftd_spin_unlock(&j->lock);
	return r;
}

int weftd_job_advance(struct weftd_job *j, uint32_t next, const char *name)
{
	int r;

	weftd_spin_lock(&j->lock);
	r = move_locked(j, WEFTD_JOB_QUEUED);
	if (r == 0) {
		j->stage = next;
		j->stage_name = name;
		j->attempts = 0;
	}
	weftd_spin_unlock(&j->lock);
	return r;
}

static void wake_waiters_locked(struct weftd_job *j);

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
		free(output);
		output = NULL;
		output_len = 0;
	}
	weftd_spin_lock(&j->lock);
	won = end_locked(j, state, output, output_len, error, now_ns);
	weftd_spin_unlock(&j->lock);
	if (!won) {
		free(output);
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
		/* A queued job sits in a stage queue: end it now, the worker that takes it
		 * skips it. Otherwise the worker sees its ctx fire and ends it. */
		if (j->state == WEFTD_JOB_QUEUED && end_locked(j, WEFTD_JOB_CANCELED, NULL, 0, err, now_ns))
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
