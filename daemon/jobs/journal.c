/* SPDX-License-Identifier: MIT */
/* journal.c — the journal's file: the live set, open and replay (see journal.h); the
 * writer fiber and group commit are in journal_writer.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "jobs/journal_impl.h"

/* ---- live set ---- */

struct jentry *jn_live_get(struct weftd_journal *j, const char *id)
{
	struct weftd_idmap_node *n = weftd_idmap_get(&j->ids, id, strlen(id));
	return n ? (struct jentry *)((char *)n - offsetof(struct jentry, idn)) : NULL;
}

/* Under the lock (or before start). */
void jn_live_unlink(struct weftd_journal *j, struct jentry *e)
{
	weftd_idmap_remove(&j->ids, &e->idn);
	if (e->finished) {
		TAILQ_REMOVE(&j->fin, e, order);
		j->st.retained--;
		j->fin_bytes -= e->kept;
	} else {
		TAILQ_REMOVE(&j->live, e, order);
		j->st.live--;
	}
	j->st.live_bytes -= e->acc_len + e->tail_len;
}

int jn_live_insert(struct weftd_journal *j, struct jentry *e)
{
	int r = weftd_idmap_insert(&j->ids, &e->idn);
	if (r < 0)
		return r;
	TAILQ_INSERT_TAIL(&j->live, e, order);
	j->st.live++;
	j->st.live_bytes += e->acc_len + e->tail_len;
	return 0;
}

struct jentry *jn_entry_new(const struct weftd_jrec *r)
{
	struct jentry *e = malloc(sizeof(*e) + r->id_len + 1 + r->pipeline_len + 1 + r->frame_len);
	if (!e)
		return NULL;
	char *s = (char *)e->data;
	memcpy(s, r->id, r->id_len);
	s[r->id_len] = 0;
	if (r->pipeline_len)
		memcpy(s + r->id_len + 1, r->pipeline, r->pipeline_len);
	s[r->id_len + 1 + r->pipeline_len] = 0;
	*e = (struct jentry){ .id = s, .pipeline = s + r->id_len + 1, .acc_len = r->frame_len };
	e->acc = e->data + r->id_len + 1 + r->pipeline_len + 1;
	memcpy(e->acc, r->frame, r->frame_len);
	weftd_idmap_node_init(&e->idn, s, r->id_len);
	return e;
}

void jn_entry_free(struct jentry *e)
{
	if (e)
		free(e->tail);
	free(e);
}

/* ---- the state directory's lock ---- */

/* Two daemons on one state_dir would both append to one journal and each compact the other's
 * records away: the first holds an exclusive flock on <dir>/lock until it exits (the kernel
 * drops it with the fd, even on kill -9); the second is refused. The lock file holds the
 * holder's pid, for the message only. */
static int lock_dir(struct weftd_journal *j, const char *dir, char *err, size_t errlen)
{
	int fd = openat(j->dirfd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int r = -errno;
		snprintf(err, errlen, "journal: open %s/%s: %s", dir, LOCK_FILE, strerror(-r));
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = -errno;
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		if (r == -EWOULDBLOCK)
			snprintf(err, errlen, "state_dir %s is in use by another weftd (pid %s): "
				 "each daemon needs its own state_dir", dir, pid[0] ? pid : "unknown");
		else
			snprintf(err, errlen, "journal: flock %s/%s: %s", dir, LOCK_FILE, strerror(-r));
		close(fd);
		return r;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)jn_pwrite_all(fd, pid, (size_t)n, 0); /* informative only */
	j->lockfd = fd;
	return 0;
}

/* ---- open and replay ---- */

static int replay_rec(const struct weftd_jrec *r, void *arg)
{
	struct weftd_journal *j = arg;
	char id[WEFTD_JREC_MAX_ID + 1];
	memcpy(id, r->id, r->id_len);
	id[r->id_len] = 0;
	if (strlen(id) != r->id_len)
		return 0; /* an id with a NUL cannot come from us: ignore the record */
	if (r->type != WEFTD_JREC_ACCEPT && r->type != WEFTD_JREC_ACCEPT2) {
		int x = jn_apply(j, r, 0); /* retention is applied once, after the scan */
		return x == -ENOENT ? 0 : x; /* a record for a job compacted away: stale */
	}
	struct jentry *old = jn_live_get(j, id);
	if (old) {
		jn_live_unlink(j, old); /* an ACCEPT written twice: the last one wins */
		jn_entry_free(old);
	}
	struct jentry *e = jn_entry_new(r);
	if (!e)
		return -ENOMEM;
	e->durable = true;
	int x = jn_live_insert(j, e);
	if (x < 0)
		jn_entry_free(e);
	return x;
}

static int read_all(int fd, unsigned char **ret, size_t *ret_len)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return -errno;
	size_t cap = (size_t)sb.st_size + 1, len = 0;
	unsigned char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			unsigned char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t n = pread(fd, buf + len, cap - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

int jn_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf = (const char *)buf + n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* The damaged ranges found by the scan, kept for the quarantine file and the log. */
struct damage {
	size_t n, cap;
	struct { size_t off, len; } *r;
};

static int note_bad(size_t off, size_t len, void *arg)
{
	struct damage *d = ((void **)arg)[1];
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 8;
		void *nr = realloc(d->r, cap * sizeof(*d->r));
		if (!nr)
			return -ENOMEM;
		d->r = nr;
		d->cap = cap;
	}
	d->r[d->n].off = off;
	d->r[d->n++].len = len;
	return 0;
}

static int scan_rec(const struct weftd_jrec *r, void *arg)
{
	return replay_rec(r, ((void **)arg)[0]);
}

/* Create a file in the state directory that did not exist: name.<ns>, or name.<ns>.<k>
 * (another damaged start in the same nanosecond, or a clock set back): a quarantine file
 * is never overwritten. Returns the fd, or -errno. */
static int create_new(struct weftd_journal *j, const char *name, char *ret_name, size_t namelen)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	for (unsigned k = 0; k < 1000; k++) {
		if (k)
			snprintf(ret_name, namelen, "%s.%llu.%u", name, (unsigned long long)ns, k);
		else
			snprintf(ret_name, namelen, "%s.%llu", name, (unsigned long long)ns);
		int fd = openat(j->dirfd, ret_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

static int write_sync_close(int fd, const struct iovec *v, size_t n)
{
	off_t off = 0;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		r = jn_pwrite_all(fd, v[i].iov_base, v[i].iov_len, off);
		off += (off_t)v[i].iov_len;
	}
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Keep the damaged ranges of buf in a new quarantine file (their bytes in file order; the
 * log names each range), then rewrite the journal as its magic and the good frames alone
 * (journal.tmp renamed over it). The bad file is durable before the journal loses them. */
static int quarantine(struct weftd_journal *j, const unsigned char *buf, size_t len,
		      const struct damage *d, size_t *ret_len, char *ret_name, size_t namelen)
{
	struct iovec *v = calloc(d->n + 2, sizeof(*v)) /* the magic, and a gap around each range */;
	if (!v)
		return -ENOMEM;
	int r = 0;
	if (d->n) {
		for (size_t i = 0; i < d->n; i++)
			v[i] = (struct iovec){ (void *)(buf + d->r[i].off), d->r[i].len };
		r = create_new(j, BAD_FILE, ret_name, namelen);
		if (r >= 0)
			r = write_sync_close(r, v, d->n);
	}
	/* the good frames: the gaps between the damaged ranges (from the magic's end, or 0
	 * when the magic itself was damaged: then the first range covers it) */
	size_t n = 0, at = memcmp(buf, WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN) == 0 ?
		WEFTD_JREC_MAGIC_LEN : 0, total = WEFTD_JREC_MAGIC_LEN;
	v[n++] = (struct iovec){ (void *)WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN };
	for (size_t i = 0; i <= d->n && r >= 0; i++) {
		size_t end = i < d->n ? d->r[i].off : len;
		if (end > at) {
			v[n] = (struct iovec){ (void *)(buf + at), end - at };
			total += v[n++].iov_len;
		}
		if (i < d->n)
			at = d->r[i].off + d->r[i].len;
	}
	if (r >= 0) {
		int fd = openat(j->dirfd, TMP_FILE, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		r = fd < 0 ? -errno : write_sync_close(fd, v, n);
	}
	free(v);
	if (r >= 0 && renameat(j->dirfd, TMP_FILE, j->dirfd, WEFTD_JOURNAL_FILE) < 0)
		r = -errno;
	if (r >= 0 && fsync(j->dirfd) < 0)
		r = -errno;
	if (r >= 0) {
		close(j->fd);
		j->fd = openat(j->dirfd, WEFTD_JOURNAL_FILE, O_RDWR | O_CLOEXEC);
		r = j->fd < 0 ? -errno : 0;
	}
	*ret_len = total;
	return r < 0 ? r : 0;
}

/* The log line: what was kept and what was lost, in numbers, and each range (as many as fit). */
static void damage_report(char *warn, size_t warnlen, const struct weftd_jrec_scan_result *sr,
			  size_t live, const struct damage *d, const char *bad_name)
{
	int w = snprintf(warn, warnlen, "damaged journal: kept %zu records (%zu unfinished jobs), "
			 "quarantined %zu bytes in %zu ranges to %s:", sr->records, live,
			 sr->bad_bytes, sr->bad_ranges, bad_name);
	for (size_t i = 0; i < d->n && w > 0 && (size_t)w < warnlen; i++) {
		int x = snprintf(warn + w, warnlen - (size_t)w, " %zu+%zu", d->r[i].off, d->r[i].len);
		if (x < 0 || (size_t)(w + x) >= warnlen) {
			if (warnlen - (size_t)w >= 5) /* " ..." and its NUL */
				strcpy(warn + w, " ...");
			else
				warn[w] = 0; /* not half a range */
			break;
		}
		w += x;
	}
}

static int open_file(struct weftd_journal *j, char *warn, size_t warnlen, char *err, size_t errlen)
{
	int fd = openat(j->dirfd, WEFTD_JOURNAL_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "journal: open %s: %s", WEFTD_JOURNAL_FILE, strerror(errno));
		return -errno;
	}
	j->fd = fd;
	unsigned char *buf = NULL;
	size_t len = 0;
	int r = read_all(fd, &buf, &len);
	if (r < 0) {
		snprintf(err, errlen, "journal: read: %s", strerror(-r));
		return r;
	}
	struct damage d = { 0 };
	struct weftd_jrec_scan_result sr;
	void *args[2] = { j, &d };
	r = weftd_jrec_scan(buf, len, scan_rec, note_bad, args, &sr);
	if (r < 0)
		snprintf(err, errlen, "journal: replay: %s", strerror(-r));
	bool headless = len && (len < WEFTD_JREC_MAGIC_LEN ||
				memcmp(buf, WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN) != 0);
	if (r == 0 && (d.n || headless)) {
		char bad_name[64] = "nothing";
		r = quarantine(j, buf, len, &d, &len, bad_name, sizeof(bad_name));
		if (r < 0)
			snprintf(err, errlen, "journal: keeping the damaged ranges: %s", strerror(-r));
		else if (d.n)
			damage_report(warn, warnlen, &sr, j->st.live, &d, bad_name);
		j->st.quarantined_bytes = sr.bad_bytes;
		j->st.bad_ranges = sr.bad_ranges;
	}
	j->st.recovered = sr.records;
	jn_evict(j, jn_now_ms());
	free(d.r);
	free(buf);
	if (r < 0)
		return r;
	if (len == 0) {
		r = jn_pwrite_all(j->fd, WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN, 0);
		if (r == 0 && fdatasync(j->fd) < 0)
			r = -errno;
		if (r < 0) {
			snprintf(err, errlen, "journal: write header: %s", strerror(-r));
			return r;
		}
		len = WEFTD_JREC_MAGIC_LEN;
	}
	j->size = j->st.file_bytes = len;
	j->st.replayed = j->st.live;
	return 0;
}

int weftd_journal_open(const struct weftd_journal_opts *o, struct weftd_journal **ret,
		       char *warn, size_t warnlen)
{
	char dummy[1];
	if (!warn || !warnlen) {
		warn = dummy;
		warnlen = sizeof(dummy);
	}
	warn[0] = 0;
	if (!o || !ret || (o->mode != WEFTD_DURABILITY_NONE && !o->dir))
		return -EINVAL;
	struct weftd_journal *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->mode = o->mode;
	j->compact_bytes = o->compact_bytes ? o->compact_bytes : WEFTD_JOURNAL_COMPACT_BYTES;
	if (o->io)
		j->io = *o->io;
	if (!j->io.writev)
		j->io.writev = jn_real_writev;
	if (!j->io.sync)
		j->io.sync = jn_real_sync;
	j->dirfd = j->fd = j->lockfd = -EBADF;
	TAILQ_INIT(&j->live);
	TAILQ_INIT(&j->fin);
	STAILQ_INIT(&j->pending);
	weft_mutex_init(&j->paused_lock);
	if (o->keep)
		j->keep = *o->keep;
	weft_event_init(&j->work);
	weft_wg_init(&j->done);
	if (j->mode == WEFTD_DURABILITY_NONE) {
		*ret = j;
		return 0;
	}
	int r = weftd_idmap_init(&j->ids, 64);
	if (r == 0 && mkdir(o->dir, 0700) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0 && (j->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = -errno;
	char err[256] = "";
	if (r == 0)
		r = lock_dir(j, o->dir, err, sizeof(err));
	if (r == 0)
		r = open_file(j, warn, warnlen, err, sizeof(err));
	if (r == 0 && (r = jn_paused_load(j)) < 0)
		snprintf(err, sizeof(err), "journal: read %s/%s: %s", o->dir, WEFTD_JOURNAL_PAUSED,
			 strerror(-r));
	if (r < 0) {
		if (err[0])
			snprintf(warn, warnlen, "%s", err);
		else
			snprintf(warn, warnlen, "journal: %s: %s", o->dir, strerror(-r));
		weftd_journal_free(j);
		return r;
	}
	*ret = j;
	return 0;
}

/* The replay's view of e: its ACCEPT and its tail decoded; the strings that must be
 * NUL-terminated copied into *ret_strs (freed by the caller). */
static int job_view(const struct jentry *e, struct weftd_journal_job *v, char **ret_strs)
{
	struct weftd_jrec a, t = { 0 };
	char *strs;

	*ret_strs = NULL;
	if (weftd_jrec_decode(e->acc, e->acc_len, &a) <= 0)
		return -EBADMSG; /* cannot happen: it decoded at open or was encoded by us */
	if (e->tail && weftd_jrec_decode(e->tail, e->tail_len, &t) <= 0)
		return -EBADMSG;
	*v = (struct weftd_journal_job){
		.id = e->id, .pipeline = e->pipeline, .payload = a.payload,
		.payload_len = a.payload_len, .submitted_ns = a.submitted_ns, .owner = a.owner,
		.priority = a.type == WEFTD_JREC_ACCEPT2 ? a.priority : 0,
		.run_at_ms = a.type == WEFTD_JREC_ACCEPT2 ? a.run_at_ms : 0,
		.deadline_ms = a.type == WEFTD_JREC_ACCEPT2 ? a.deadline_ms : 0,
		.key = a.type == WEFTD_JREC_ACCEPT2 && a.key_len ? a.key : NULL,
		.key_len = a.type == WEFTD_JREC_ACCEPT2 ? a.key_len : 0,
	};
	if (!e->tail)
		return 0;
	strs = malloc(t.stage_name_len + 1 + t.error_len + 1);
	if (!strs)
		return -ENOMEM;
	*ret_strs = strs;
	memcpy(strs, t.stage_name, t.stage_name_len);
	strs[t.stage_name_len] = 0;
	v->stage = t.stage;
	v->stage_name = t.stage_name_len ? strs : NULL;
	if (t.type == WEFTD_JREC_END) {
		char *err = strs + t.stage_name_len + 1;
		if (t.error_len)
			memcpy(err, t.error, t.error_len);
		err[t.error_len] = 0;
		v->finished = true;
		v->state = t.state;
		v->output = t.output, v->output_len = t.output_len;
		v->error = t.error_len ? err : NULL;
		v->log = t.log, v->log_len = t.log_len;
		v->attempts = t.attempts;
		v->started_ms = t.started_ms, v->finished_ms = t.finished_ms;
	} else {
		v->at_stage = true;
		v->input = t.payload, v->input_len = t.payload_len;
		if (t.type == WEFTD_JREC_RETRY)
			v->retry_attempts = t.attempts, v->retry_due_ms = t.run_at_ms;
	}
	return 0;
}

static int replay_list(struct jentry *e, int (*fn)(const struct weftd_journal_job *job, void *arg),
		       void *arg)
{
	while (e) {
		struct jentry *next = TAILQ_NEXT(e, order); /* fn may finish e */
		struct weftd_journal_job v;
		char *strs;
		int x = job_view(e, &v, &strs);
		if (x == 0)
			x = fn(&v, arg);
		free(strs);
		if (x)
			return x;
		e = next;
	}
	return 0;
}

int weftd_journal_replay(struct weftd_journal *j,
			 int (*fn)(const struct weftd_journal_job *job, void *arg), void *arg)
{
	if (!j || !fn)
		return -EINVAL;
	/* the retained first: a live job fn closes (LOST) moves to neither list's unseen part */
	int x = replay_list(TAILQ_FIRST(&j->fin), fn, arg);
	return x ? x : replay_list(TAILQ_FIRST(&j->live), fn, arg);
}

struct weftd_journal *weftd_journal_free(struct weftd_journal *j)
{
	struct jentry *e;
	struct jnode *n;

	if (!j)
		return NULL;
	while ((e = TAILQ_FIRST(&j->live))) {
		TAILQ_REMOVE(&j->live, e, order);
		jn_entry_free(e);
	}
	while ((e = TAILQ_FIRST(&j->fin))) {
		TAILQ_REMOVE(&j->fin, e, order);
		jn_entry_free(e);
	}
	jn_paused_free(j);
	while ((n = STAILQ_FIRST(&j->pending))) {
		STAILQ_REMOVE_HEAD(&j->pending, next);
		if (!n->durable)
			free(n);
	}
	weftd_idmap_done(&j->ids);
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	if (j->lockfd >= 0)
		close(j->lockfd); /* drops the flock */
	free(j);
	return NULL;
}

void weftd_journal_stats(struct weftd_journal *j, struct weftd_journal_stats *ret)
{
	weftd_spin_lock(&j->lock);
	*ret = j->st;
	weftd_spin_unlock(&j->lock);
}
