/* SPDX-License-Identifier: MIT */
/* journal_state.c — what the journal keeps of each job between records (see journal.h):
 * the records after ACCEPT (STAGE, END, REDRIVE, PURGE, FINISH) applied to the kept jobs,
 * the retention of ended ones, and the pause file. The replay at open and recording at
 * run time go through the same jn_apply, so what a restart sees is what was recorded. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* renameat */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs/journal_impl.h"

#define PAUSED_TMP WEFTD_JOURNAL_PAUSED ".tmp"

int64_t jn_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct jentry *entry_of(struct weftd_journal *j, const char *id, size_t len)
{
	struct weftd_idmap_node *n = weftd_idmap_get(&j->ids, id, len);
	return n ? (struct jentry *)((char *)n - offsetof(struct jentry, idn)) : NULL;
}

/* e's last record becomes a copy of frame r (replacing the one before). */
static int set_tail(struct weftd_journal *j, struct jentry *e, const struct weftd_jrec *r)
{
	unsigned char *t = malloc(r->frame_len);
	if (!t)
		return -ENOMEM;
	memcpy(t, r->frame, r->frame_len);
	j->st.live_bytes += r->frame_len - e->tail_len;
	free(e->tail);
	e->tail = t;
	e->tail_len = r->frame_len;
	return 0;
}

/* Move e between the live and the retained lists (its index entry stays). */
static void move(struct weftd_journal *j, struct jentry *e, bool finished)
{
	if (e->finished == finished)
		return;
	if (e->finished) {
		TAILQ_REMOVE(&j->fin, e, order);
		j->st.retained--;
		j->fin_bytes -= e->kept;
		TAILQ_INSERT_TAIL(&j->live, e, order);
		j->st.live++;
	} else {
		TAILQ_REMOVE(&j->live, e, order);
		j->st.live--;
		TAILQ_INSERT_TAIL(&j->fin, e, order);
		j->st.retained++;
		j->fin_bytes += e->kept;
	}
	e->finished = finished;
}

void jn_evict(struct weftd_journal *j, int64_t now_ms)
{
	struct jentry *e;

	/* the job table's rule (jobs.c evict_locked), so both keep the same jobs */
	while ((e = TAILQ_FIRST(&j->fin))) {
		uint64_t age_ns = now_ms > e->finished_ms ? (uint64_t)(now_ms - e->finished_ms) * 1000000u : 0;
		if (!(j->st.retained > j->keep.count || age_ns > j->keep.age_ns ||
		      (j->fin_bytes > j->keep.bytes && j->st.retained > 1)))
			break;
		jn_live_unlink(j, e);
		jn_entry_free(e);
	}
}

int jn_apply(struct weftd_journal *j, const struct weftd_jrec *r, int64_t now_ms)
{
	struct jentry *e = entry_of(j, r->id, r->id_len);
	int x;

	if (!e)
		return -ENOENT;
	switch (r->type) {
	case WEFTD_JREC_STAGE:
	case WEFTD_JREC_RETRY: /* the same stage's input, with the retry's due time */
		return e->finished ? -ENOENT : set_tail(j, e, r);
	case WEFTD_JREC_REDRIVE:
		if (!e->finished) /* at replay (now_ms 0) a compacted file's position of a live
				   * re-driven job, with no END before it */
			return now_ms ? -ENOENT : set_tail(j, e, r);
		if ((x = set_tail(j, e, r)) < 0)
			return x;
		move(j, e, false);
		return 0;
	case WEFTD_JREC_END:
		if (e->finished)
			return -ENOENT;
		if ((x = set_tail(j, e, r)) < 0)
			return x;
		e->finished_ms = r->finished_ms;
		e->kept = r->output_len + r->log_len;
		move(j, e, true);
		if (now_ms)
			jn_evict(j, now_ms);
		return 0;
	case WEFTD_JREC_FINISH:
		if (e->finished)
			return -ENOENT;
		__attribute__((fallthrough)); /* the old record keeps nothing of the job */
	case WEFTD_JREC_PURGE:
		jn_live_unlink(j, e);
		jn_entry_free(e);
		return 0;
	default:
		return -EINVAL;
	}
}

/* Encode r into a new node for the writer; NULL and *err on failure. */
static struct jnode *node_new(const struct weftd_jrec *r, int *err)
{
	size_t size = weftd_jrec_size(r);
	struct jnode *n = malloc(sizeof(*n) + size);
	long len;

	*err = -ENOMEM;
	if (!n)
		return NULL;
	*n = (struct jnode){ .rec = n->data };
	len = weftd_jrec_encode(n->data, r);
	if (len < 0) {
		*err = (int)len;
		free(n);
		return NULL;
	}
	n->len = (size_t)len;
	return n;
}

int weftd_journal_record(struct weftd_journal *j, const struct weftd_jrec *in)
{
	if (!j || !in || !in->id || (in->type != WEFTD_JREC_STAGE && in->type != WEFTD_JREC_END &&
				     in->type != WEFTD_JREC_PURGE && in->type != WEFTD_JREC_REDRIVE &&
				     in->type != WEFTD_JREC_RETRY))
		return -EINVAL;
	if (j->mode == WEFTD_DURABILITY_NONE)
		return 0;
	bool park = in->type == WEFTD_JREC_REDRIVE;
	int x;
	struct jnode *n = node_new(in, &x);
	if (!n)
		return x;
	struct weftd_jrec r = *in;
	r.frame = n->data;
	r.frame_len = n->len;
	weft_event durable;
	weftd_spin_lock(&j->lock);
	struct jentry *e = entry_of(j, r.id, r.id_len);
	x = j->closing || (park && !j->started) ? -ESHUTDOWN : !e || !e->durable ? -ENOENT :
		park && j->err ? j->err : jn_apply(j, &r, jn_now_ms());
	if (x < 0) {
		weftd_spin_unlock(&j->lock);
		free(n);
		return x;
	}
	if (!park) {
		jn_post(j, n); /* unlocks */
		return 0;
	}
	weft_event_init(&durable);
	n->durable = &durable;
	jn_post(j, n);
	x = weft_event_wait(NULL, &durable);
	free(n);
	return x;
}

int weftd_journal_finish(struct weftd_journal *j, const char *id, enum weftd_jrec_state st)
{
	if (!j || !id || st < WEFTD_JREC_DONE || st > WEFTD_JREC_LOST)
		return -EINVAL;
	if (j->mode == WEFTD_DURABILITY_NONE)
		return 0;
	size_t id_len = strlen(id);
	if (id_len == 0 || id_len > WEFTD_JREC_MAX_ID)
		return -ENOENT;
	int x;
	struct weftd_jrec r = { .type = WEFTD_JREC_FINISH, .id = id, .id_len = id_len, .state = st };
	struct jnode *n = node_new(&r, &x);
	if (!n)
		return x;
	weftd_spin_lock(&j->lock);
	struct jentry *e = entry_of(j, id, id_len);
	x = !e || !e->durable ? -ENOENT : j->closing ? -ESHUTDOWN : jn_apply(j, &r, 0);
	if (x < 0) {
		weftd_spin_unlock(&j->lock);
		free(n);
		return x;
	}
	jn_post(j, n); /* unlocks */
	return 0;
}

void weftd_journal_set_retention(struct weftd_journal *j, const struct weftd_retention *keep)
{
	if (!j || !keep)
		return;
	weftd_spin_lock(&j->lock);
	j->keep = *keep;
	weftd_spin_unlock(&j->lock);
}

/* ---- the pause file ---------------------------------------------------------------- */

void jn_paused_free(struct weftd_journal *j)
{
	for (size_t i = 0; i < j->npaused; i++)
		free(j->paused[i]);
	free(j->paused);
	j->paused = NULL;
	j->npaused = 0;
}

/* Add name (len bytes) to list *v of *n. 0 or -ENOMEM. */
static int names_add(char ***v, size_t *n, const char *name, size_t len)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strndup(name, len)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

int jn_paused_load(struct weftd_journal *j)
{
	enum { MAX = 1 << 20 }; /* names are short: a pipeline per line */
	int fd = openat(j->dirfd, WEFTD_JOURNAL_PAUSED, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t len;
	int r = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	buf = malloc(MAX);
	len = buf ? read(fd, buf, MAX - 1) : 0;
	if (!buf || len < 0)
		r = buf ? -errno : -ENOMEM;
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[len] = 0;
	for (char *line = buf, *nl; *line && r == 0; line = nl + 1) {
		nl = strchrnul(line, '\n');
		if (nl > line)
			r = names_add(&j->paused, &j->npaused, line, (size_t)(nl - line));
		if (!*nl)
			break;
	}
	free(buf);
	return r;
}

struct paused_write {
	int dirfd;
	const char *text;
	size_t len;
};

/* Replace <dir>/paused with text, durably (blocking: a weft_blocking thread). */
static int write_paused(void *arg)
{
	struct paused_write *w = arg;
	int fd = openat(w->dirfd, PAUSED_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = fd < 0 ? -errno : jn_pwrite_all(fd, w->text, w->len, 0);

	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r == 0 && renameat(w->dirfd, PAUSED_TMP, w->dirfd, WEFTD_JOURNAL_PAUSED) < 0)
		r = -errno;
	if (r == 0 && fsync(w->dirfd) < 0)
		r = -errno;
	return r;
}

int weftd_journal_set_paused(struct weftd_journal *j, const char *pipeline, bool paused)
{
	if (!j || !pipeline || strchr(pipeline, '\n') || !*pipeline)
		return -EINVAL;
	if (j->mode == WEFTD_DURABILITY_NONE)
		return 0;
	char **v = NULL, *text = NULL;
	size_t n = 0, len = 0;
	int r = 0;
	weft_mutex_lock(NULL, &j->paused_lock);
	/* the new list: the old one without pipeline, plus pipeline when paused */
	for (size_t i = 0; i < j->npaused && r == 0; i++)
		if (strcmp(j->paused[i], pipeline) != 0)
			r = names_add(&v, &n, j->paused[i], strlen(j->paused[i]));
	if (r == 0 && paused)
		r = names_add(&v, &n, pipeline, strlen(pipeline));
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	if (r == 0 && !(text = malloc(len + 1)))
		r = -ENOMEM;
	if (r == 0) {
		char *at = text;
		for (size_t i = 0; i < n; i++)
			at += sprintf(at, "%s\n", v[i]);
		struct paused_write w = { j->dirfd, text, len };
		r = weft_blocking(write_paused, &w);
	}
	if (r == 0) {
		jn_paused_free(j);
		j->paused = v;
		j->npaused = n;
	} else {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
	}
	weft_mutex_unlock(&j->paused_lock);
	free(text);
	return r;
}

int weftd_journal_paused(struct weftd_journal *j, int (*fn)(const char *pipeline, void *arg),
			 void *arg)
{
	if (!j || !fn)
		return -EINVAL;
	for (size_t i = 0; i < j->npaused; i++) {
		int x = fn(j->paused[i], arg);
		if (x)
			return x;
	}
	return 0;
}
