/* journal.c — the journal's file: the live set, open and replay (see journal.h); the
 * writer fiber and group commit are in journal_writer.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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
	TAILQ_REMOVE(&j->live, e, order);
	j->st.live--;
	j->st.live_bytes -= e->rec_len;
}

int jn_live_insert(struct weftd_journal *j, struct jentry *e)
{
	int r = weftd_idmap_insert(&j->ids, &e->idn);
	if (r < 0)
		return r;
	TAILQ_INSERT_TAIL(&j->live, e, order);
	j->st.live++;
	j->st.live_bytes += e->rec_len;
	return 0;
}

struct jentry *jn_entry_new(const char *id, size_t id_len, const char *pipeline,
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
	struct jentry *old = jn_live_get(j, id);
	if (old) {
		jn_live_unlink(j, old); /* FINISH, or an ACCEPT written twice: the last one wins */
		free(old);
	}
	if (r->type != WEFTD_JREC_ACCEPT)
		return 0;
	struct jentry *e = jn_entry_new(r->id, r->id_len, r->pipeline, r->pipeline_len, r->payload,
				     r->payload_len, r->submitted_ns);
	if (!e)
		return -ENOMEM;
	e->durable = true;
	int x = jn_live_insert(j, e);
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
		r = jn_pwrite_all(fd, WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN, 0);
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
	j->dirfd = j->fd = j->lockfd = -EBADF;
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
		r = lock_dir(j, o->dir, err, sizeof(err));
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
