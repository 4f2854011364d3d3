/* journal.c — durability of accepted jobs: live set, writer fiber, group commit, replay,
 * compaction (see journal.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <liburing.h> /* IORING_FSYNC_DATASYNC, weft_fsync's flag (weft/io.h) */
#include <weft/weft.h>

#include "jobs/journal.h"
#include "util/idmap.h"
#include "util/spin.h"

#define TMP_FILE "journal.tmp"
#define BAD_FILE "journal.bad"
#define IOV_BATCH 64

/* A live (accepted, unfinished) job: its encoded ACCEPT frame, ready to be rewritten by
 * compaction, plus NUL-terminated copies of id and pipeline for replay. */
struct jentry {
	struct weftd_idmap_node idn;   /* the live set's index, keyed by job.id */
	TAILQ_ENTRY(jentry) order;     /* acceptance order */
	bool durable;                  /* written (and synced per mode): compaction may copy it */
	struct weftd_journal_job job;  /* strings point into data[] */
	size_t rec_len;
	unsigned char *rec;            /* into data[] */
	unsigned char data[];          /* id \0 pipeline \0 rec */
};

/* One record waiting for the writer. ACCEPT: on the submitter's stack, rec in e, durable
 * set by the writer (with the write's result) once it is. FINISH: malloc'd with the record
 * inline, freed by the writer. */
struct jnode {
	STAILQ_ENTRY(jnode) next;
	struct jentry *e;
	weft_event *durable;
	size_t len;
	unsigned char rec[];
};

struct weftd_journal {
	enum weftd_durability mode;
	uint64_t compact_bytes;
	int dirfd, fd;
	weftd_spin lock;               /* guards everything below */
	struct weftd_idmap ids;        /* the live set by id */
	TAILQ_HEAD(, jentry) live;     /* the live set in acceptance order */
	STAILQ_HEAD(, jnode) pending;  /* records for the writer, FIFO */
	weft_event work;               /* set when pending gets a record or closing is set */
	bool idle;                     /* the writer waits on 'work' */
	bool started, closing;
	int err;                       /* sticky I/O error */
	uint64_t size;                 /* bytes in the file (writer-owned once started) */
	struct weftd_journal_stats st;
	weft_wg done;                  /* the writer has ended */
};

/* ---- live set ---- */

static struct jentry *live_get(struct weftd_journal *j, const char *id)
{
	struct weftd_idmap_node *n = weftd_idmap_get(&j->ids, id, strlen(id));
	return n ? (struct jentry *)((char *)n - offsetof(struct jentry, idn)) : NULL;
}

/* Under the lock (or before start). */
static void live_unlink(struct weftd_journal *j, struct jentry *e)
{
	weftd_idmap_remove(&j->ids, &e->idn);
	TAILQ_REMOVE(&j->live, e, order);
	j->st.live--;
	j->st.live_bytes -= e->rec_len;
}

static int live_insert(struct weftd_journal *j, struct jentry *e)
{
	int r = weftd_idmap_insert(&j->ids, &e->idn);
	if (r < 0)
		return r;
	TAILQ_INSERT_TAIL(&j->live, e, order);
	j->st.live++;
	j->st.live_bytes += e->rec_len;
	return 0;
}

static struct jentry *entry_new(const char *id, size_t id_len, const char *pipeline,
				size_t pipeline_len, const void *payload, size_t payload_len,
				uint64_t submitted_ns)
{
	size_t rec_len = weftd_jrec_accept_size(id_len, pipeline_len, payload_len);
	struct jentry *e = malloc(sizeof(*e) + id_len + 1 + pipeline_len + 1 + rec_len);
	if (!e)
		return NULL;
	char *s = (char *)e->data;
	memcpy(s, id, id_len);
	s[id_len] = 0;
	memcpy(s + id_len + 1, pipeline, pipeline_len);
	s[id_len + 1 + pipeline_len] = 0;
	e->rec = e->data + id_len + 1 + pipeline_len + 1;
	long n = weftd_jrec_encode_accept(e->rec, id, id_len, pipeline, pipeline_len, payload,
					  payload_len, submitted_ns);
	if (n < 0) {
		free(e);
		return NULL;
	}
	e->rec_len = (size_t)n;
	weftd_idmap_node_init(&e->idn, s, id_len);
	e->durable = false;
	e->job = (struct weftd_journal_job){
		.id = s, .pipeline = s + id_len + 1,
		.payload = e->rec + rec_len - payload_len, .payload_len = payload_len,
		.submitted_ns = submitted_ns,
	};
	return e;
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
	struct jentry *old = live_get(j, id);
	if (old) {
		live_unlink(j, old); /* FINISH, or an ACCEPT written twice: the last one wins */
		free(old);
	}
	if (r->type != WEFTD_JREC_ACCEPT)
		return 0;
	struct jentry *e = entry_new(r->id, r->id_len, r->pipeline, r->pipeline_len, r->payload,
				     r->payload_len, r->submitted_ns);
	if (!e)
		return -ENOMEM;
	e->durable = true;
	int x = live_insert(j, e);
	if (x < 0)
		free(e);
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

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
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

static int open_file(struct weftd_journal *j, char *warn, size_t warnlen, char *err, size_t errlen)
{
	int fd = openat(j->dirfd, WEFTD_JOURNAL_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "journal: open %s: %s", WEFTD_JOURNAL_FILE, strerror(errno));
		return -errno;
	}
	j->fd = fd;
	unsigned char *buf = NULL;
	size_t len = 0, good = 0;
	int r = read_all(fd, &buf, &len);
	if (r < 0) {
		snprintf(err, errlen, "journal: read: %s", strerror(-r));
		return r;
	}
	r = weftd_jrec_scan(buf, len, replay_rec, j, &good);
	free(buf);
	if (r < 0) {
		snprintf(err, errlen, "journal: replay: %s", strerror(-r));
		return r;
	}
	if (r == 1 && good == 0) {
		/* not a journal at all: keep it for a human, start a new one */
		close(fd);
		j->fd = -EBADF;
		if (renameat(j->dirfd, WEFTD_JOURNAL_FILE, j->dirfd, BAD_FILE) < 0) {
			snprintf(err, errlen, "journal: rename bad journal: %s", strerror(errno));
			return -errno;
		}
		snprintf(warn, warnlen, "journal: %zu bytes without a valid header moved to %s",
			 len, BAD_FILE);
		j->st.truncated_bytes = len;
		fd = openat(j->dirfd, WEFTD_JOURNAL_FILE, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		j->fd = fd;
		len = 0;
	} else if (r == 1) {
		snprintf(warn, warnlen, "journal: torn or corrupt tail: truncating %zu bytes at offset %zu",
			 len - good, good);
		j->st.truncated_bytes = len - good;
		if (ftruncate(fd, (off_t)good) < 0) {
			snprintf(err, errlen, "journal: truncate: %s", strerror(errno));
			return -errno;
		}
		len = good;
	}
	if (len == 0) {
		r = pwrite_all(fd, WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN, 0);
		if (r == 0 && fdatasync(fd) < 0)
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
	j->dirfd = j->fd = -EBADF;
	TAILQ_INIT(&j->live);
	STAILQ_INIT(&j->pending);
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
		r = open_file(j, warn, warnlen, err, sizeof(err));
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

int weftd_journal_replay(struct weftd_journal *j,
			 int (*fn)(const struct weftd_journal_job *job, void *arg), void *arg)
{
	if (!j || !fn)
		return -EINVAL;
	struct jentry *e = TAILQ_FIRST(&j->live);
	while (e) {
		struct jentry *next = TAILQ_NEXT(e, order); /* fn may finish e */
		int x = fn(&e->job, arg);
		if (x)
			return x;
		e = next;
	}
	return 0;
}

/* ---- the writer fiber ---- */

static int write_iov(struct weftd_journal *j, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		int n = weft_writev(NULL, j->fd, iov, cnt, (int64_t)j->size);
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		j->size += (uint64_t)n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (int)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* Write the batch; *ret_sync says whether it holds ACCEPTs (which need the fdatasync). */
static int write_batch(struct weftd_journal *j, struct jnode *n, bool *ret_sync)
{
	struct iovec iov[IOV_BATCH];
	int cnt = 0, r = 0;
	*ret_sync = false;
	for (; n && r == 0; n = STAILQ_NEXT(n, next)) {
		if (n->e) {
			iov[cnt++] = (struct iovec){ n->e->rec, n->e->rec_len };
			*ret_sync = true;
		} else {
			iov[cnt++] = (struct iovec){ n->rec, n->len };
		}
		if (cnt == IOV_BATCH || !STAILQ_NEXT(n, next)) {
			r = write_iov(j, iov, cnt);
			cnt = 0;
		}
	}
	return r;
}

static int do_rename(void *arg)
{
	struct weftd_journal *j = arg;
	return renameat(j->dirfd, TMP_FILE, j->dirfd, WEFTD_JOURNAL_FILE) < 0 ? -errno : 0;
}

/* Rewrite the durable live set into a new file and rename it over the journal. Records
 * still pending are appended to the new file afterwards, as this fiber is the only writer. */
static void maybe_compact(struct weftd_journal *j)
{
	weftd_spin_lock(&j->lock);
	uint64_t live = j->st.live_bytes + WEFTD_JREC_MAGIC_LEN;
	if (j->err || j->size < j->compact_bytes || j->size < 2 * live) {
		weftd_spin_unlock(&j->lock);
		return;
	}
	unsigned char *buf = malloc(live);
	size_t len = 0;
	if (buf) {
		memcpy(buf, WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN);
		len = WEFTD_JREC_MAGIC_LEN;
		struct jentry *e;
		TAILQ_FOREACH(e, &j->live, order)
			if (e->durable) {
				memcpy(buf + len, e->rec, e->rec_len);
				len += e->rec_len;
			}
	}
	weftd_spin_unlock(&j->lock);
	if (!buf)
		return; /* try again after the next batch */
	int fd = weft_openat(NULL, j->dirfd, TMP_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int r = fd;
	if (fd >= 0) {
		r = weft_write_all(NULL, fd, buf, len);
		if (r >= 0)
			r = weft_fsync(NULL, fd, IORING_FSYNC_DATASYNC);
		if (r >= 0)
			r = weft_blocking(do_rename, j);
		if (r >= 0)
			weft_fsync(NULL, j->dirfd, 0); /* make the rename durable */
	}
	free(buf);
	if (r < 0) {
		if (fd >= 0)
			weft_close(NULL, fd);
		unlinkat(j->dirfd, TMP_FILE, 0); /* best effort; the old journal stays in use */
		return;
	}
	weft_close(NULL, j->fd);
	j->fd = fd;
	j->size = len;
	weftd_spin_lock(&j->lock);
	j->st.compactions++;
	j->st.fsyncs++;
	j->st.file_bytes = len;
	weftd_spin_unlock(&j->lock);
}

STAILQ_HEAD(jbatch, jnode);

/* Take the next batch into b (lock held): everything in BATCH mode; in FSYNC mode up to
 * and including the first ACCEPT, so each ACCEPT gets an fdatasync of its own. */
static void take_batch(struct weftd_journal *j, struct jbatch *b)
{
	struct jnode *n;

	STAILQ_INIT(b);
	if (j->mode != WEFTD_DURABILITY_FSYNC) {
		STAILQ_CONCAT(b, &j->pending);
		return;
	}
	while ((n = STAILQ_FIRST(&j->pending))) {
		STAILQ_REMOVE_HEAD(&j->pending, next);
		STAILQ_INSERT_TAIL(b, n, next);
		if (n->e)
			break;
	}
}

/* Park until there is a record to write or the journal closes; lock held (dropped while
 * parked). The event is re-armed under the lock, where every setter sets it. */
static void idle(struct weftd_journal *j)
{
	while (STAILQ_EMPTY(&j->pending) && !j->closing) {
		weft_event_init(&j->work);
		j->idle = true;
		weftd_spin_unlock(&j->lock);
		weft_event_wait(NULL, &j->work);
		weftd_spin_lock(&j->lock);
	}
}

/* The batch is written (r: the result): ACCEPTs are durable, their submitters hear r. */
static void batch_done(struct weftd_journal *j, struct jbatch *b, int r, bool sync)
{
	struct jnode *n;

	weftd_spin_lock(&j->lock);
	if (r < 0 && !j->err)
		j->err = r;
	j->st.batches++;
	j->st.fsyncs += sync;
	j->st.file_bytes = j->size;
	while ((n = STAILQ_FIRST(b))) {
		STAILQ_REMOVE_HEAD(b, next);
		if (n->e) {
			n->e->durable = r == 0;
			j->st.accepts += r == 0;
			weft_event_set(n->durable, r); /* n is dead after this */
		} else {
			j->st.finishes += r == 0;
			free(n);
		}
	}
	weftd_spin_unlock(&j->lock);
}

static void writer(void *arg)
{
	struct weftd_journal *j = arg;
	maybe_compact(j);
	for (;;) {
		struct jbatch batch;
		weftd_spin_lock(&j->lock);
		idle(j);
		if (STAILQ_EMPTY(&j->pending)) { /* closing, and all written */
			weftd_spin_unlock(&j->lock);
			break;
		}
		take_batch(j, &batch);
		int r = j->err;
		weftd_spin_unlock(&j->lock);
		bool sync = false;
		if (r == 0)
			r = write_batch(j, STAILQ_FIRST(&batch), &sync);
		if (r == 0 && sync)
			r = weft_fsync(NULL, j->fd, IORING_FSYNC_DATASYNC);
		batch_done(j, &batch, r, sync);
		maybe_compact(j);
	}
	weft_wg_done(&j->done);
}

/* Lock held. One event set per idle period, not per record. */
static void wake_writer(struct weftd_journal *j)
{
	if (j->idle) {
		j->idle = false;
		weft_event_set(&j->work, 0);
	}
}

static void enqueue(struct weftd_journal *j, struct jnode *n)
{
	STAILQ_INSERT_TAIL(&j->pending, n, next);
	wake_writer(j);
}

int weftd_journal_start(struct weftd_journal *j)
{
	if (!j)
		return -EINVAL;
	if (j->started)
		return -EALREADY;
	if (j->mode == WEFTD_DURABILITY_NONE) {
		j->started = true;
		return 0;
	}
	weft_wg_add(&j->done, 1);
	int r = weft_go_opts(writer, j, &(struct weft_go_opts){ .name = "journal" });
	if (r < 0) {
		weft_wg_done(&j->done);
		return r;
	}
	j->started = true;
	return 0;
}

int weftd_journal_accept(struct weftd_journal *j, const char *id, const char *pipeline,
			 const void *payload, size_t payload_len, uint64_t submitted_ns)
{
	if (!j || !id || !pipeline || (!payload && payload_len))
		return -EINVAL;
	if (j->mode == WEFTD_DURABILITY_NONE)
		return 0;
	size_t id_len = strlen(id), pl_len = strlen(pipeline);
	if (id_len == 0 || id_len > WEFTD_JREC_MAX_ID || pl_len > UINT16_MAX ||
	    payload_len > WEFTD_JREC_MAX_BODY)
		return -EINVAL;
	struct jentry *e = entry_new(id, id_len, pipeline, pl_len, payload, payload_len, submitted_ns);
	if (!e)
		return -ENOMEM;
	weft_event durable; /* group commit: the writer sets it once the batch is synced */
	weft_event_init(&durable);
	struct jnode n = { .e = e, .durable = &durable };
	weftd_spin_lock(&j->lock);
	int r = j->err ? j->err : !j->started || j->closing ? -ESHUTDOWN : live_insert(j, e);
	if (r < 0) {
		weftd_spin_unlock(&j->lock);
		free(e);
		return r;
	}
	enqueue(j, &n);
	weftd_spin_unlock(&j->lock);
	r = weft_event_wait(NULL, &durable);
	if (r < 0) {
		weftd_spin_lock(&j->lock);
		live_unlink(j, e);
		weftd_spin_unlock(&j->lock);
		free(e);
	}
	return r;
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
	struct jnode *n = malloc(sizeof(*n) + weftd_jrec_finish_size(id_len));
	if (!n)
		return -ENOMEM;
	*n = (struct jnode){ .len = (size_t)weftd_jrec_encode_finish(n->rec, id, id_len, st) };
	weftd_spin_lock(&j->lock);
	struct jentry *e = live_get(j, id);
	if (!e || !e->durable || j->closing) {
		weftd_spin_unlock(&j->lock);
		free(n);
		return !e || !e->durable ? -ENOENT : -ESHUTDOWN;
	}
	live_unlink(j, e);
	if (j->started)
		enqueue(j, n);
	weftd_spin_unlock(&j->lock);
	if (!j->started) {
		/* before start (replay finishing LOST jobs): write it directly */
		int r = pwrite_all(j->fd, n->rec, n->len, (off_t)j->size);
		if (r == 0) {
			j->size += n->len;
			j->st.file_bytes = j->size;
			j->st.finishes++;
		}
		free(n);
	}
	free(e);
	return 0;
}

int weftd_journal_close(struct weftd_journal *j)
{
	if (!j)
		return -EINVAL;
	weftd_spin_lock(&j->lock);
	bool was = j->closing;
	j->closing = true;
	wake_writer(j);
	weftd_spin_unlock(&j->lock);
	if (j->started && !was && j->mode != WEFTD_DURABILITY_NONE)
		return weft_wg_wait(NULL, &j->done);
	return 0;
}

struct weftd_journal *weftd_journal_free(struct weftd_journal *j)
{
	struct jentry *e;
	struct jnode *n;

	if (!j)
		return NULL;
	while ((e = TAILQ_FIRST(&j->live))) {
		TAILQ_REMOVE(&j->live, e, order);
		free(e);
	}
	while ((n = STAILQ_FIRST(&j->pending))) {
		STAILQ_REMOVE_HEAD(&j->pending, next);
		if (!n->e)
			free(n);
	}
	weftd_idmap_done(&j->ids);
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j);
	return NULL;
}

void weftd_journal_stats(struct weftd_journal *j, struct weftd_journal_stats *ret)
{
	weftd_spin_lock(&j->lock);
	*ret = j->st;
	weftd_spin_unlock(&j->lock);
}
