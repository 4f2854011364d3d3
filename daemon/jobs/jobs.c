/* jobs.c — the job table, see jobs.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/spin.h"
#include "jobs/jobs.h"
#include "proto/json.h"
#include "proto/reply.h"

struct weftd_wait {
	struct weft__waiter w;
	atomic_size_t remaining;   /* jobs not ended yet, +1 while registering */
};

struct weftd_jobs {
	weftd_spin lock;
	struct weftd_job **buckets;
	size_t nbuckets;           /* power of two */
	size_t count;
	struct weftd_job *newest, *oldest;
	struct weftd_job *fin_head, *fin_tail; /* oldest finished first */
	size_t nfinished;
	uint32_t keep_count;
	uint64_t keep_age_ns;
	void (*release)(struct weftd_job *);
	void (*on_finish)(struct weftd_job *, void *); /* set before jobs run */
	void *on_finish_arg;
	atomic_uint_fast64_t next_id;
	int64_t wall_off_ns;       /* CLOCK_REALTIME - weft_now() at creation: wall-clock
				      stamps from the one monotonic read a job step makes */
};

void weftd_jobs_set_on_finish(struct weftd_jobs *t, void (*fn)(struct weftd_job *j, void *arg),
			      void *arg)
{
	t->on_finish = fn;
	t->on_finish_arg = arg;
}

bool weftd_job_transition_ok(enum weftd_job_state from, enum weftd_job_state to)
{
	switch (from) {
	case WEFTD_JOB_QUEUED:
		return to == WEFTD_JOB_RUNNING || to == WEFTD_JOB_CANCELED;
	case WEFTD_JOB_RUNNING:
		return to == WEFTD_JOB_QUEUED || to == WEFTD_JOB_RETRYING || to == WEFTD_JOB_DONE ||
		       to == WEFTD_JOB_FAILED || to == WEFTD_JOB_CANCELED;
	case WEFTD_JOB_RETRYING:
		return to == WEFTD_JOB_RUNNING || to == WEFTD_JOB_FAILED || to == WEFTD_JOB_CANCELED;
	default:
		return false;
	}
}

int weftd_jobs_new(uint32_t keep_count, uint64_t keep_age_ns, void (*release)(struct weftd_job *),
		   struct weftd_jobs **ret)
{
	struct weftd_jobs *t = calloc(1, sizeof(*t));
	struct timespec ts;

	if (!t)
		return -ENOMEM;
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	t->keep_count = keep_count;
	t->keep_age_ns = keep_age_ns;
	t->release = release;
	/* Wall-clock microseconds << 12: a restart a microsecond later starts 4096 ids
	 * further, more than can be issued per microsecond, so ids never repeat. */
	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_init(&t->next_id, ((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u) << 12);
	t->wall_off_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - weft_now();
	*ret = t;
	return 0;
}



/* The release hook is per table; a job remembers it through its pipe pointer's table.
 * To keep jobs free of a table pointer, the hook is stored in a small header. */
struct job_mem {
	void (*release)(struct weftd_job *);
	struct weftd_job job;
};

int weftd_job_new(struct weftd_jobs *t, const char *pipeline, void *pipe, const void *payload,
		  size_t len, struct weftd_job **ret)
{
	struct job_mem *m = calloc(1, sizeof(*m));
	struct weftd_job *j;
	uint64_t id;
	int r;

	if (!m)
		return -ENOMEM;
	m->release = t->release;
	j = &m->job;
	atomic_init(&j->refs, 1);
	j->state = WEFTD_JOB_QUEUED;
	j->pipeline = pipeline;
	j->pipe = pipe;
	r = weft_ctx_with_cancel(NULL, &j->ctx);
	if (r < 0)
		goto fail;
	j->input = malloc(len ? len : 1);
	if (!j->input) {
		r = -ENOMEM;
		goto fail;
	}
	if (len)
		memcpy(j->input, payload, len);
	j->input_len = len;
	id = atomic_fetch_add_explicit(&t->next_id, 1, memory_order_relaxed);
	for (int i = WEFTD_JOB_ID_LEN - 1; i >= 0; i--, id >>= 4)
		j->id[i] = "0123456789abcdef"[id & 15];
	j->created_ns = weft_now();
	j->wall_off_ns = t->wall_off_ns;
	j->created_ms = (j->created_ns + t->wall_off_ns) / 1000000;
	*ret = j;
	return 0;
fail:
	weft_ctx_unref(j->ctx);
	free(m);
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
		struct job_mem *m = (struct job_mem *)((char *)j - offsetof(struct job_mem, job));
		void (*release)(struct weftd_job *) = m->release;
		if (release)
			release(j);
		weft_ctx_unref(j->ctx);
		free(j->input);
		free(j->output);
		free(j->error);
		free(j->log);
		free(m);
	}
	return NULL;
}

/* Ids are a counter in hex: its value spreads consecutive jobs over consecutive buckets,
 * which is as even as a hash gets. Anything else (ids are checked for length only) is
 * folded with FNV-1a. */
static uint64_t hash_id(const char *s, size_t len)
{
	uint64_t v = 0, h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		unsigned c = (unsigned char)s[i], d;
		if (c - '0' < 10)
			d = c - '0';
		else if (c - 'a' < 6)
			d = c - 'a' + 10;
		else
			goto fnv;
		v = v << 4 | d;
	}
	return v;
fnv:
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

static void grow(struct weftd_jobs *t)
{
	size_t n = t->nbuckets * 2;
	struct weftd_job **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct weftd_job *j = t->buckets[i], *next;
		for (; j; j = next) {
			next = j->hnext;
			size_t k = hash_id(j->id, WEFTD_JOB_ID_LEN) & (n - 1);
			j->hnext = b[k];
			b[k] = j;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

void weftd_jobs_insert(struct weftd_jobs *t, struct weftd_job *j)
{
	weftd_job_ref(j);
	weftd_spin_lock(&t->lock);
	if (t->count >= t->nbuckets)
		grow(t);
	size_t k = hash_id(j->id, WEFTD_JOB_ID_LEN) & (t->nbuckets - 1);
	j->hnext = t->buckets[k];
	t->buckets[k] = j;
	j->older = t->newest;
	j->newer = NULL;
	if (t->newest)
		t->newest->newer = j;
	else
		t->oldest = j;
	t->newest = j;
	j->in_table = true;
	t->count++;
	weftd_spin_unlock(&t->lock);
}

/* Unlink j from every table list; table lock held. */
static void unlink_locked(struct weftd_jobs *t, struct weftd_job *j)
{
	struct weftd_job **p = &t->buckets[hash_id(j->id, WEFTD_JOB_ID_LEN) & (t->nbuckets - 1)];

	while (*p && *p != j)
		p = &(*p)->hnext;
	if (*p)
		*p = j->hnext;
	if (j->newer)
		j->newer->older = j->older;
	else
		t->newest = j->older;
	if (j->older)
		j->older->newer = j->newer;
	else
		t->oldest = j->newer;
	if (j->finished_ns) {
		if (j->fprev)
			j->fprev->fnext = j->fnext;
		else
			t->fin_head = j->fnext;
		if (j->fnext)
			j->fnext->fprev = j->fprev;
		else
			t->fin_tail = j->fprev;
		t->nfinished--;
	}
	j->in_table = false;
	t->count--;
}

void weftd_jobs_remove(struct weftd_jobs *t, struct weftd_job *j)
{
	bool was;

	weftd_spin_lock(&t->lock);
	was = j->in_table;
	if (was)
		unlink_locked(t, j);
	weftd_spin_unlock(&t->lock);
	if (was)
		weftd_job_unref(j);
}

struct weftd_job *weftd_jobs_get(struct weftd_jobs *t, const char *id, size_t len)
{
	struct weftd_job *j;

	if (len != WEFTD_JOB_ID_LEN)
		return NULL;
	weftd_spin_lock(&t->lock);
	j = t->buckets[hash_id(id, len) & (t->nbuckets - 1)];
	while (j && memcmp(j->id, id, len) != 0)
		j = j->hnext;
	if (j)
		weftd_job_ref(j);
	weftd_spin_unlock(&t->lock);
	return j;
}

struct weftd_jobs *weftd_jobs_free(struct weftd_jobs *t)
{
	if (!t)
		return NULL;
	while (t->newest) {
		struct weftd_job *j = t->newest;
		unlink_locked(t, j);
		weftd_job_unref(j);
	}
	free(t->buckets);
	free(t);
	return NULL;
}

void weftd_jobs_set_retention(struct weftd_jobs *t, uint32_t keep_count, uint64_t keep_age_ns)
{
	weftd_spin_lock(&t->lock);
	t->keep_count = keep_count;
	t->keep_age_ns = keep_age_ns;
	weftd_spin_unlock(&t->lock);
}

/* ---- transitions ------------------------------------------------------------------ */

static int move_locked(struct weftd_job *j, enum weftd_job_state to)
{
	if (j->cancel_requested || !weftd_job_transition_ok(j->state, to))
		return -ECANCELED;
	j->state = to;
	return 0;
}

int weftd_job_begin_attempt(struct weftd_job *j, uint32_t stage, const char *name, uint32_t attempt)
{
	return weftd_job_begin_attempt_at(j, stage, name, attempt, weft_now());
}

int weftd_job_begin_attempt_at(struct weftd_job *j, uint32_t stage, const char *name,
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

/* Evict from the head of the finished list while over the retention; table lock held.
 * Returns the evicted jobs chained through hnext, to unref outside the lock. */
static struct weftd_job *evict_locked(struct weftd_jobs *t, int64_t now_ns)
{
	struct weftd_job *out = NULL;

	while (t->fin_head &&
	       (t->nfinished > t->keep_count ||
		(uint64_t)(now_ns - t->fin_head->finished_ns) > t->keep_age_ns)) {
		struct weftd_job *j = t->fin_head;
		unlink_locked(t, j);
		j->hnext = out;
		out = j;
	}
	return out;
}

static void unref_chain(struct weftd_job *j)
{
	while (j) {
		struct weftd_job *next = j->hnext;
		weftd_job_unref(j);
		j = next;
	}
}

static bool finish_locked(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state state,
			  char *output, size_t output_len, char *error, int64_t now)
{
	struct weftd_wait_node *n, *next;

	if (weftd_job_state_terminal(j->state))
		return false;
	j->state = state;
	j->output = output;
	j->output_len = output_len;
	j->error = error;
	j->finished_ms = (now + t->wall_off_ns) / 1000000;
	for (n = j->waiters; n; n = next) {
		struct weftd_wait *w = n->wait;
		next = n->next;
		n->linked = false;
		n->next = n->prev = NULL;
		if (atomic_fetch_sub_explicit(&w->remaining, 1, memory_order_acq_rel) == 1)
			weft__waiter_fire(&w->w, 0);
	}
	j->waiters = NULL;
	return true;
}

static void file_finished(struct weftd_jobs *t, struct weftd_job *j, int64_t now)
{
	struct weftd_job *evicted;

	if (t->on_finish)
		t->on_finish(j, t->on_finish_arg);
	weftd_spin_lock(&t->lock);
	if (j->in_table) {
		j->finished_ns = now ? now : 1;
		j->fprev = t->fin_tail;
		j->fnext = NULL;
		if (t->fin_tail)
			t->fin_tail->fnext = j;
		else
			t->fin_head = j;
		t->fin_tail = j;
		t->nfinished++;
	}
	evicted = evict_locked(t, now);
	weftd_spin_unlock(&t->lock);
	unref_chain(evicted);
}

bool weftd_jobs_finish(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state state,
		       char *output, size_t output_len, const char *error)
{
	return weftd_jobs_finish_at(t, j, state, output, output_len, error, weft_now());
}

bool weftd_jobs_finish_at(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state state,
			  char *output, size_t output_len, const char *error, int64_t now)
{
	char *err = error ? strdup(error) : NULL;
	bool won;

	if (state != WEFTD_JOB_DONE) {
		free(output);
		output = NULL;
		output_len = 0;
	}
	weftd_spin_lock(&j->lock);
	won = finish_locked(t, j, state, output, output_len, err, now);
	weftd_spin_unlock(&j->lock);
	if (!won) {
		free(output);
		free(err);
		return false;
	}
	file_finished(t, j, now);
	return true;
}

bool weftd_job_cancel(struct weftd_jobs *t, struct weftd_job *j, const char *reason)
{
	char *err = strdup(reason ? reason : "canceled");
	int64_t now = weft_now();
	bool live, ended = false;

	weftd_spin_lock(&j->lock);
	live = !weftd_job_state_terminal(j->state);
	if (live) {
		j->cancel_requested = true;
		/* A queued job sits in a stage queue: end it now, the worker that takes it
		 * skips it. Otherwise the worker sees its ctx fire and ends it. */
		if (j->state == WEFTD_JOB_QUEUED)
			ended = finish_locked(t, j, WEFTD_JOB_CANCELED, NULL, 0, err, now);
	}
	weftd_spin_unlock(&j->lock);
	if (ended)
		file_finished(t, j, now);
	else
		free(err);
	if (live)
		weft_ctx_cancel(j->ctx);
	return live;
}

size_t weftd_jobs_cancel_all(struct weftd_jobs *t, const char *reason)
{
	struct weftd_job **refs;
	size_t n = 0;

	/* Take references under the table lock (counted first, then collected: jobs added in
	 * between are skipped), cancel outside it: cancel takes job locks. */
	size_t cap = 0;
	weftd_spin_lock(&t->lock);
	for (struct weftd_job *j = t->newest; j; j = j->older)
		if (!j->finished_ns)
			cap++;
	weftd_spin_unlock(&t->lock);
	refs = malloc((cap ? cap : 1) * sizeof(*refs));
	if (!refs)
		return 0;
	weftd_spin_lock(&t->lock);
	for (struct weftd_job *j = t->newest; j && n < cap; j = j->older)
		if (!j->finished_ns)
			refs[n++] = weftd_job_ref(j);
	weftd_spin_unlock(&t->lock);
	for (size_t i = 0; i < n; i++) {
		weftd_job_cancel(t, refs[i], reason);
		weftd_job_unref(refs[i]);
	}
	free(refs);
	return n;
}

size_t weftd_jobs_expire(struct weftd_jobs *t, int64_t now_ns)
{
	struct weftd_job *evicted;
	size_t n = 0;

	weftd_spin_lock(&t->lock);
	evicted = evict_locked(t, now_ns);
	weftd_spin_unlock(&t->lock);
	for (struct weftd_job *j = evicted; j; j = j->hnext)
		n++;
	unref_chain(evicted);
	return n;
}

/* ---- queries ------------------------------------------------------------------------ */

void weftd_job_json(struct weftd_buf *b, const char *key, struct weftd_job *j)
{
	struct weftd_job_view v;

	/* Under the job lock: log and state change while a job runs. Outputs are written
	 * once at the end, so holding a spinlock while copying them is bounded. */
	weftd_spin_lock(&j->lock);
	v = (struct weftd_job_view){
		.id = j->id, .pipeline = j->pipeline, .state = j->state,
		.stage = j->stage_name, .stage_index = j->stage, .attempts = j->attempts,
		.has_output = j->state == WEFTD_JOB_DONE, .output = j->output,
		.output_len = j->output_len, .error = j->error, .log_tail = j->log,
		.log_tail_len = j->log_len, .created_ms = j->created_ms,
		.started_ms = j->started_ms, .finished_ms = j->finished_ms,
	};
	weftd_json_job(b, key, &v);
	weftd_spin_unlock(&j->lock);
}

void weftd_jobs_list_json(struct weftd_jobs *t, struct weftd_buf *b, const char *key,
			  const char *pipeline, bool has_state, enum weftd_job_state state,
			  uint32_t limit)
{
	struct weftd_job **pick = malloc((limit ? limit : 1) * sizeof(*pick));
	size_t n = 0;

	if (!pick) {
		b->err = b->err ? b->err : -ENOMEM;
		return;
	}
	/* Collect references under the table lock, write outside it. The state filter is
	 * read without the job lock: a racy snapshot is all a listing promises. */
	weftd_spin_lock(&t->lock);
	for (struct weftd_job *j = t->newest; j && n < limit; j = j->older) {
		if (pipeline && strcmp(pipeline, j->pipeline) != 0)
			continue;
		if (has_state && __atomic_load_n(&j->state, __ATOMIC_RELAXED) != state)
			continue;
		pick[n++] = weftd_job_ref(j);
	}
	weftd_spin_unlock(&t->lock);
	weftd_json_arr_begin(b, key);
	for (size_t i = 0; i < n; i++) {
		weftd_job_json(b, NULL, pick[i]);
		weftd_job_unref(pick[i]);
	}
	weftd_json_arr_end(b);
	free(pick);
}

void weftd_jobs_counts(struct weftd_jobs *t, struct weftd_jobs_counts *ret)
{
	weftd_spin_lock(&t->lock);
	ret->total = t->count;
	ret->finished = t->nfinished;
	weftd_spin_unlock(&t->lock);
}

/* ---- waiting ------------------------------------------------------------------------ */

/* Register n on j; false when j has already ended (nothing registered). */
static bool wait_add(struct weftd_job *j, struct weftd_wait_node *n, struct weftd_wait *w)
{
	bool added = false;

	weftd_spin_lock(&j->lock);
	if (!weftd_job_state_terminal(j->state)) {
		n->wait = w;
		n->prev = NULL;
		n->next = j->waiters;
		if (j->waiters)
			j->waiters->prev = n;
		j->waiters = n;
		n->linked = true;
		added = true;
	}
	weftd_spin_unlock(&j->lock);
	return added;
}

static void wait_del(struct weftd_job *j, struct weftd_wait_node *n)
{
	weftd_spin_lock(&j->lock);
	if (n->linked) {
		if (n->prev)
			n->prev->next = n->next;
		else
			j->waiters = n->next;
		if (n->next)
			n->next->prev = n->prev;
		n->linked = false;
	}
	weftd_spin_unlock(&j->lock);
}

int weftd_jobs_wait(weft_ctx *ctx, struct weftd_job *const *jobs, size_t n, int64_t timeout_ns)
{
	struct weftd_wait_node one, *nodes;
	struct weftd_wait w;
	weft_ctx *tctx = NULL;
	size_t ended = 0;
	int r = 0;

	if (timeout_ns == 0) {
		for (size_t i = 0; i < n; i++)
			if (!weftd_job_state_terminal(weftd_job_state(jobs[i])))
				return -ETIMEDOUT;
		return 0;
	}
	nodes = n == 1 ? &one : calloc(n, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	weft__waiter_init(&w.w);
	atomic_init(&w.remaining, n + 1);
	for (size_t i = 0; i < n; i++) {
		nodes[i].linked = false;
		if (!wait_add(jobs[i], &nodes[i], &w))
			ended++;
	}
	/* Drop the registration guard and the jobs that had ended already; reaching 0 here
	 * means every job has ended and nobody will fire w. */
	if (atomic_fetch_sub_explicit(&w.remaining, ended + 1, memory_order_acq_rel) == ended + 1) {
		if (weft__waiter_claim(&w.w))
			goto out;
	}
	if (timeout_ns > 0) {
		r = weft_ctx_with_timeout(ctx, timeout_ns, &tctx);
		if (r < 0)
			goto out;
	}
	r = weft__wait(tctx ? tctx : ctx, &w.w, "weftd wait");
	if (r == -ETIMEDOUT && weft_ctx_err(ctx) == 0)
		r = -ETIMEDOUT;
	else if (r < 0 && weft_ctx_err(ctx) < 0)
		r = weft_ctx_err(ctx);
out:
	for (size_t i = 0; i < n; i++)
		wait_del(jobs[i], &nodes[i]);
	weft_ctx_unref(tctx);
	if (nodes != &one)
		free(nodes);
	return r;
}
