/* SPDX-License-Identifier: MIT */
/* jobs.c — the job table: id index, retention, ending jobs (jobs.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/job_impl.h"
#include "jobs/jobs.h"
#include "util/idmap.h"
#include "util/spin.h"

TAILQ_HEAD(job_list, weftd_job);

struct weftd_jobs {
	weftd_spin lock;           /* guards the index, the lists and the retention */
	struct weftd_idmap ids;
	struct weftd_idmap keys;   /* "pipeline\0key" of every job in the table with a key */
	struct job_list all;       /* every job in the table, newest first */
	struct job_list finished;  /* retained finished jobs, oldest first */
	size_t count;              /* jobs in the table */
	size_t nfinished;
	uint64_t finished_bytes;   /* their kept_bytes */
	int64_t last_filed_ns;     /* the latest finished_ns filed: the list's tail, mostly */
	struct weftd_retention keep;
	void (*release)(void *pipe);
	void (*on_finish)(struct weftd_job *, void *); /* set before jobs run */
	void *on_finish_arg;
	atomic_uint_fast64_t next_id;
	int64_t wall_off_ns;       /* CLOCK_REALTIME - weft_now() at creation: wall-clock
				      stamps from the one monotonic read a job step makes */
};

int weftd_jobs_new(const struct weftd_retention *keep, void (*release)(void *pipe),
		   struct weftd_jobs **ret)
{
	struct weftd_jobs *t = calloc(1, sizeof(*t));
	struct timespec ts;

	if (!t)
		return -ENOMEM;
	if (weftd_idmap_init(&t->ids, 1024) < 0 || weftd_idmap_init(&t->keys, 16) < 0) {
		weftd_idmap_done(&t->ids);
		free(t);
		return -ENOMEM;
	}
	TAILQ_INIT(&t->all);
	TAILQ_INIT(&t->finished);
	t->keep = *keep;
	t->release = release;
	/* Wall-clock microseconds << 12: a restart a microsecond later starts 4096 ids
	 * further, more than can be issued per microsecond, so ids never repeat. */
	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_init(&t->next_id, ((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u) << 12);
	t->wall_off_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - weft_now();
	*ret = t;
	return 0;
}

void weftd_jobs_stamp(struct weftd_jobs *t, struct weftd_job *j, bool fresh_id)
{
	if (fresh_id) {
		uint64_t id = atomic_fetch_add_explicit(&t->next_id, 1, memory_order_relaxed);
		for (int i = WEFTD_JOB_ID_LEN - 1; i >= 0; i--, id >>= 4)
			j->info.id[i] = "0123456789abcdef"[id & 15];
	}
	j->wall_off_ns = t->wall_off_ns;
	j->release = t->release;
}

void weftd_jobs_set_on_finish(struct weftd_jobs *t, void (*fn)(struct weftd_job *j, void *arg),
			      void *arg)
{
	t->on_finish = fn;
	t->on_finish_arg = arg;
}

void weftd_jobs_set_retention(struct weftd_jobs *t, const struct weftd_retention *keep)
{
	weftd_spin_lock(&t->lock);
	t->keep = *keep;
	weftd_spin_unlock(&t->lock);
}

/* The job of the key index node n. */
static struct weftd_job *key_job(struct weftd_idmap_node *n)
{
	return ((struct weftd_job_key *)((char *)n - offsetof(struct weftd_job_key, n)))->job;
}

/* Add j to the index and lists; table lock held. */
static void link_locked(struct weftd_jobs *t, struct weftd_job *j)
{
	/* Ids are unique (a counter; a replayed id was unique before the restart). Were one
	 * not, -EEXIST: the job would still be listed and retained, only not found by id. */
	(void)weftd_idmap_insert(&t->ids, &j->idn);
	if (j->key)
		j->key->indexed = weftd_idmap_insert(&t->keys, &j->key->n) == 0;
	TAILQ_INSERT_HEAD(&t->all, j, all);
	j->in_table = true;
	t->count++;
}

static void node_init(struct weftd_job *j)
{
	weftd_idmap_node_init(&j->idn, j->info.id, strlen(j->info.id));
	if (j->key)
		weftd_idmap_node_init(&j->key->n, j->key->s, j->key->len);
}

void weftd_jobs_insert(struct weftd_jobs *t, struct weftd_job *j)
{
	weftd_job_ref(j);
	node_init(j);
	weftd_spin_lock(&t->lock);
	link_locked(t, j);
	weftd_spin_unlock(&t->lock);
}

int weftd_jobs_add(struct weftd_jobs *t, struct weftd_job *j, struct weftd_job **ret_dup)
{
	struct weftd_idmap_node *n = NULL;

	node_init(j);
	weftd_spin_lock(&t->lock);
	if (j->key)
		n = weftd_idmap_get(&t->keys, j->key->s, j->key->len);
	if (n) {
		*ret_dup = weftd_job_ref(key_job(n));
	} else {
		weftd_job_ref(j);
		link_locked(t, j);
	}
	weftd_spin_unlock(&t->lock);
	return n ? 1 : 0;
}

/* Unlink j from the indexes and the lists; table lock held. */
static void unlink_locked(struct weftd_jobs *t, struct weftd_job *j)
{
	weftd_idmap_remove(&t->ids, &j->idn); /* a no-op for a duplicate never indexed */
	if (j->key && j->key->indexed) {
		weftd_idmap_remove(&t->keys, &j->key->n);
		j->key->indexed = false;
	}
	TAILQ_REMOVE(&t->all, j, all);
	if (j->finished_ns) {
		TAILQ_REMOVE(&t->finished, j, fin);
		t->nfinished--;
		t->finished_bytes -= j->kept_bytes;
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
	struct weftd_idmap_node *n;
	struct weftd_job *j = NULL;

	weftd_spin_lock(&t->lock);
	n = weftd_idmap_get(&t->ids, id, len);
	if (n)
		j = weftd_job_ref((struct weftd_job *)((char *)n - offsetof(struct weftd_job, idn)));
	weftd_spin_unlock(&t->lock);
	return j;
}

struct weftd_job *weftd_jobs_find_key(struct weftd_jobs *t, const char *pipeline,
				      const char *key, size_t len)
{
	size_t plen = strlen(pipeline);
	char buf[WEFTD_MAX_NAME + 1 + WEFTD_JOB_KEY_MAX];
	struct weftd_idmap_node *n;
	struct weftd_job *j = NULL;

	if (plen > WEFTD_MAX_NAME || len > WEFTD_JOB_KEY_MAX)
		return NULL;
	memcpy(buf, pipeline, plen + 1);
	memcpy(buf + plen + 1, key, len);
	weftd_spin_lock(&t->lock);
	n = weftd_idmap_get(&t->keys, buf, plen + 1 + len);
	if (n)
		j = weftd_job_ref(key_job(n));
	weftd_spin_unlock(&t->lock);
	return j;
}

struct weftd_jobs *weftd_jobs_free(struct weftd_jobs *t)
{
	struct weftd_job *j;

	if (!t)
		return NULL;
	while ((j = TAILQ_FIRST(&t->all))) {
		unlink_locked(t, j);
		weftd_job_unref(j);
	}
	weftd_idmap_done(&t->ids);
	weftd_idmap_done(&t->keys);
	free(t);
	return NULL;
}

/* ---- retention ------------------------------------------------------------------ */

/* Evict from the head of the finished list while over the retention; table lock held.
 * The evicted jobs go to out (through their fin links), to unref outside the lock. */
static size_t evict_locked(struct weftd_jobs *t, int64_t now_ns, struct job_list *out)
{
	struct weftd_job *j;
	size_t n = 0;

	while ((j = TAILQ_FIRST(&t->finished)) &&
	       (t->nfinished > t->keep.count || (uint64_t)(now_ns - j->finished_ns) > t->keep.age_ns ||
		(t->finished_bytes > t->keep.bytes && t->nfinished > 1))) {
		unlink_locked(t, j);
		TAILQ_INSERT_TAIL(out, j, fin);
		n++;
	}
	return n;
}

static void unref_list(struct job_list *l)
{
	struct weftd_job *j;

	while ((j = TAILQ_FIRST(l))) {
		TAILQ_REMOVE(l, j, fin);
		weftd_job_unref(j);
	}
}

/* File j (ended, in the table or not) for retention as finished at `at`, in order of
 * finishing times; table lock held. */
static void file_locked(struct weftd_jobs *t, struct weftd_job *j, int64_t at)
{
	struct weftd_job *after;

	if (!j->in_table || j->finished_ns)
		return;
	/* no job lock: j has ended (weftd_job_end/stop took and released it after the
	 * last write of output and log), and nothing writes them after the end */
	j->kept_bytes = j->output_len + j->log_len;
	j->finished_ns = at ? at : 1;
	/* the finished list stays sorted: a replayed job's older time goes before newer
	 * (walked only then: a job ending now is the newest, without reading the tail) */
	if (j->finished_ns >= t->last_filed_ns || TAILQ_EMPTY(&t->finished)) {
		TAILQ_INSERT_TAIL(&t->finished, j, fin);
		t->last_filed_ns = j->finished_ns;
	} else {
		after = TAILQ_LAST(&t->finished, job_list);
		while (after && after->finished_ns > j->finished_ns)
			after = TAILQ_PREV(after, job_list, fin);
		if (after)
			TAILQ_INSERT_AFTER(&t->finished, after, j, fin);
		else
			TAILQ_INSERT_HEAD(&t->finished, j, fin);
	}
	t->nfinished++;
	t->finished_bytes += j->kept_bytes;
}

/* j has just ended: tell the hook, file j for retention, evict what is now over it. */
static void file_finished(struct weftd_jobs *t, struct weftd_job *j, int64_t now)
{
	struct job_list evicted = TAILQ_HEAD_INITIALIZER(evicted);

	if (t->on_finish)
		t->on_finish(j, t->on_finish_arg);
	weftd_spin_lock(&t->lock);
	file_locked(t, j, now);
	evict_locked(t, now, &evicted);
	weftd_spin_unlock(&t->lock);
	unref_list(&evicted);
}

size_t weftd_jobs_expire(struct weftd_jobs *t, int64_t now_ns)
{
	struct job_list evicted = TAILQ_HEAD_INITIALIZER(evicted);
	size_t n;

	weftd_spin_lock(&t->lock);
	n = evict_locked(t, now_ns, &evicted);
	weftd_spin_unlock(&t->lock);
	unref_list(&evicted);
	return n;
}

/* ---- replay and dead letters ----------------------------------------------------- */

int weftd_jobs_restore_finished(struct weftd_jobs *t, struct weftd_job *j,
				const struct weftd_job_end *end)
{
	struct job_list evicted = TAILQ_HEAD_INITIALIZER(evicted);
	int64_t now = weft_now();
	/* the monotonic time it finished at: Unix ms back through the table's offset */
	int64_t at = end->finished_ms * 1000000 - t->wall_off_ns;
	int r = weftd_job_restore_end(j, end);

	if (r < 0)
		return r;
	if (at > now)
		at = now; /* the wall clock went back: keep it for a full retention */
	weftd_spin_lock(&t->lock);
	file_locked(t, j, at);
	evict_locked(t, now, &evicted);
	weftd_spin_unlock(&t->lock);
	unref_list(&evicted);
	return 0;
}

/* Take j off the finished list (live again); table lock held. */
static void unfile_locked(struct weftd_jobs *t, struct weftd_job *j)
{
	if (!j->finished_ns)
		return;
	TAILQ_REMOVE(&t->finished, j, fin);
	t->nfinished--;
	t->finished_bytes -= j->kept_bytes;
	j->finished_ns = 0;
	j->kept_bytes = 0;
}

int weftd_jobs_redrive(struct weftd_jobs *t, struct weftd_job *j, uint32_t stage,
		       const char *name, unsigned char *input, size_t len, bool use_input)
{
	int r;

	/* under the table lock: a purge or an eviction of j cannot interleave */
	weftd_spin_lock(&t->lock);
	if (!j->in_table) {
		weftd_spin_unlock(&t->lock);
		if (use_input && input != j->payload)
			free(input);
		return -EBUSY;
	}
	r = weftd_job_requeue_failed(j, stage, name, input, len, use_input);
	if (r == 0)
		unfile_locked(t, j);
	weftd_spin_unlock(&t->lock);
	return r;
}

int weftd_jobs_purge(struct weftd_jobs *t, struct weftd_job *j)
{
	bool ok;

	weftd_spin_lock(&t->lock);
	ok = j->in_table && __atomic_load_n(&j->state, __ATOMIC_RELAXED) == WEFTD_JOB_FAILED;
	if (ok)
		unlink_locked(t, j);
	weftd_spin_unlock(&t->lock);
	if (!ok)
		return -EBUSY;
	weftd_job_unref(j); /* the table's */
	return 0;
}

/* ---- ending jobs ------------------------------------------------------------------ */

bool weftd_jobs_finish(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state state,
		       char *output, size_t output_len, const char *error)
{
	return weftd_jobs_finish_at(t, j, state, output, output_len, error, weft_now());
}

bool weftd_jobs_finish_at(struct weftd_jobs *t, struct weftd_job *j, enum weftd_job_state state,
			  char *output, size_t output_len, const char *error, int64_t now)
{
	if (!weftd_job_end(j, state, output, output_len, error ? strdup(error) : NULL, now))
		return false;
	file_finished(t, j, now);
	return true;
}

bool weftd_job_cancel(struct weftd_jobs *t, struct weftd_job *j, const char *reason)
{
	int64_t now = weft_now();
	int r = weftd_job_stop(j, reason, now);

	if (r == 1)
		file_finished(t, j, now);
	return r >= 0;
}

size_t weftd_jobs_cancel_all(struct weftd_jobs *t, const char *reason)
{
	struct weftd_job *j, **refs;
	size_t n = 0, cap = 0;

	/* Take references under the table lock (counted first, then collected: jobs added in
	 * between are skipped), cancel outside it: cancel takes job locks. */
	weftd_spin_lock(&t->lock);
	TAILQ_FOREACH(j, &t->all, all)
		cap += !j->finished_ns;
	weftd_spin_unlock(&t->lock);
	refs = malloc((cap ? cap : 1) * sizeof(*refs));
	if (!refs)
		return 0;
	weftd_spin_lock(&t->lock);
	TAILQ_FOREACH(j, &t->all, all) {
		if (n == cap)
			break;
		if (!j->finished_ns)
			refs[n++] = weftd_job_ref(j);
	}
	weftd_spin_unlock(&t->lock);
	for (size_t i = 0; i < n; i++) {
		weftd_job_cancel(t, refs[i], reason);
		weftd_job_unref(refs[i]);
	}
	free(refs);
	return n;
}

/* ---- queries ------------------------------------------------------------------------ */

size_t weftd_jobs_pick(struct weftd_jobs *t, const char *pipeline, uid_t owner, bool has_state,
		       enum weftd_job_state state, struct weftd_job **ret, size_t max)
{
	struct weftd_job *j;
	size_t n = 0;

	weftd_spin_lock(&t->lock);
	TAILQ_FOREACH(j, &t->all, all) {
		if (n == max)
			break;
		if (pipeline && strcmp(pipeline, j->info.pipeline) != 0)
			continue;
		if (owner != WEFTD_JOB_NO_OWNER && owner != j->info.owner)
			continue;
		if (has_state && __atomic_load_n(&j->state, __ATOMIC_RELAXED) != state)
			continue;
		ret[n++] = weftd_job_ref(j);
	}
	weftd_spin_unlock(&t->lock);
	return n;
}

void weftd_jobs_counts(struct weftd_jobs *t, struct weftd_jobs_counts *ret)
{
	weftd_spin_lock(&t->lock);
	ret->total = t->count;
	ret->finished = t->nfinished;
	ret->finished_bytes = t->finished_bytes;
	weftd_spin_unlock(&t->lock);
}
