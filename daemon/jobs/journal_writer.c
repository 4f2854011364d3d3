/* SPDX-License-Identifier: MIT */
/* journal_writer.c — the journal's writer fiber: group commit of ACCEPTs, FINISH
 * records, compaction (see journal.h). All its file I/O goes through libweft. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* renameat */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <liburing.h> /* IORING_FSYNC_DATASYNC, weft_fsync's flag (weft/io.h) */

#include "jobs/journal_impl.h"
#include "util/log.h"

#define IOV_BATCH 64

/* ---- the writer fiber ---- */

int jn_real_writev(void *arg, int fd, const struct iovec *iov, int cnt, int64_t off)
{
	(void)arg;
	return weft_writev(NULL, fd, iov, cnt, off);
}

int jn_real_sync(void *arg, int fd)
{
	(void)arg;
	return weft_fsync(NULL, fd, IORING_FSYNC_DATASYNC);
}

static int write_iov(struct weftd_journal *j, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		int n = j->io.writev(j->io.arg, j->fd, iov, cnt, (int64_t)j->size);
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

/* Write the batch; *ret_sync says whether a submitter waits on it (ACCEPT, REDRIVE:
 * those need the fdatasync). */
static int write_batch(struct weftd_journal *j, struct jnode *n, bool *ret_sync)
{
	struct iovec iov[IOV_BATCH];
	int cnt = 0, r = 0;
	*ret_sync = false;
	for (; n && r == 0; n = STAILQ_NEXT(n, next)) {
		iov[cnt++] = (struct iovec){ (void *)n->rec, n->len };
		*ret_sync |= n->durable != NULL;
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

/* e's records, for compaction: its ACCEPT and its last STAGE/REDRIVE/END. */
static size_t copy_entry(unsigned char *at, const struct jentry *e)
{
	memcpy(at, e->acc, e->acc_len);
	if (e->tail)
		memcpy(at + e->acc_len, e->tail, e->tail_len);
	return e->acc_len + e->tail_len;
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
		/* the retained first, in the order they ended: the replay files them so */
		TAILQ_FOREACH(e, &j->fin, order)
			len += copy_entry(buf + len, e);
		TAILQ_FOREACH(e, &j->live, order)
			if (e->durable)
				len += copy_entry(buf + len, e);
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
		if (n->durable)
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

/* The batch is written (r: the result): ACCEPTs are durable, their submitters hear r. On
 * failure the journal goes out of service, and the FINISH records go back to the head of
 * the queue for the writer to retry once it writes again. */
static void batch_done(struct weftd_journal *j, struct jbatch *b, int r, bool sync)
{
	struct jbatch retry, wake, done;
	struct jnode *n;

	STAILQ_INIT(&retry);
	STAILQ_INIT(&wake);
	STAILQ_INIT(&done);
	weftd_spin_lock(&j->lock);
	if (r < 0 && !j->err) {
		j->err = r;
		j->st.write_errors++;
	}
	j->st.batches++;
	j->st.fsyncs += sync;
	j->st.file_bytes = j->size;
	while ((n = STAILQ_FIRST(b))) {
		STAILQ_REMOVE_HEAD(b, next);
		if (r == 0) {
			j->st.batch_records++;
			j->st.bytes_written += n->len;
		}
		if (n->durable) {
			if (n->e)
				n->e->durable = r == 0;
			j->st.accepts += r == 0 && n->e;
			STAILQ_INSERT_TAIL(&wake, n, next);
		} else if (r < 0 && !j->closing) {
			STAILQ_INSERT_TAIL(&retry, n, next);
		} else {
			j->st.finishes += r == 0;
			STAILQ_INSERT_TAIL(&done, n, next);
		}
	}
	STAILQ_CONCAT(&retry, &j->pending);
	STAILQ_CONCAT(&j->pending, &retry);
	weftd_spin_unlock(&j->lock);
	/* Wake-ups and frees outside the lock: submitters and finishing workers on the other
	 * procs spin on it meanwhile, and a batch may be hundreds of records. */
	while ((n = STAILQ_FIRST(&wake))) {
		STAILQ_REMOVE_HEAD(&wake, next);
		weft_event_set(n->durable, r); /* n (on its submitter's stack) is dead after this */
	}
	while ((n = STAILQ_FIRST(&done))) {
		STAILQ_REMOVE_HEAD(&done, next);
		free(n);
	}
}

/* Out of service: fail the ACCEPTs that queued before the error was known. Lock held. */
static void fail_pending_accepts(struct weftd_journal *j)
{
	struct jbatch keep;
	struct jnode *n;

	STAILQ_INIT(&keep);
	while ((n = STAILQ_FIRST(&j->pending))) {
		STAILQ_REMOVE_HEAD(&j->pending, next);
		if (n->durable)
			weft_event_set(n->durable, j->err);
		else if (j->closing)
			free(n); /* not written: the job replays at the next start (at-least-once) */
		else
			STAILQ_INSERT_TAIL(&keep, n, next);
	}
	STAILQ_CONCAT(&j->pending, &keep);
}

/* Can the file take data again? Cut what a failed batch may have left past j->size, write
 * and sync a page there, and cut it again. Blocking: runs on a weft_blocking thread. */
static int probe(void *arg)
{
	static const char page[4096];
	struct weftd_journal *j = arg;
	int r = ftruncate(j->fd, (off_t)j->size) < 0 ? -errno : 0;
	if (r == 0)
		r = jn_pwrite_all(j->fd, page, sizeof(page), (off_t)j->size);
	if (r == 0 && fdatasync(j->fd) < 0)
		r = -errno;
	if (ftruncate(j->fd, (off_t)j->size) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Out of service (j->err set): wait the backoff (a timed wait on 'work', which only close
 * sets meanwhile, so queued FINISHes do not hurry it), then probe. Lock not held. */
static void recover(struct weftd_journal *j)
{
	int64_t d = j->backoff_ns ? 2 * j->backoff_ns : WEFTD_JOURNAL_RETRY_MIN_NS;
	j->backoff_ns = d < WEFTD_JOURNAL_RETRY_MAX_NS ? d : WEFTD_JOURNAL_RETRY_MAX_NS;
	weft_ctx *ctx = NULL;
	weftd_spin_lock(&j->lock);
	bool closing = j->closing;
	if (!closing) {
		weft_event_init(&j->work);
		j->idle = true;
	}
	weftd_spin_unlock(&j->lock);
	if (closing)
		return;
	if (weft_ctx_with_timeout(NULL, j->backoff_ns, &ctx) == 0)
		weft_event_wait(ctx, &j->work);
	else
		weft_sleep(NULL, j->backoff_ns); /* no memory for a context: wait all the same */
	weft_ctx_unref(ctx);
	int r = weft_blocking(probe, j);
	weftd_spin_lock(&j->lock);
	j->idle = false;
	int was = j->err;
	if (r == 0) {
		j->err = 0;
		j->st.recoveries++;
	} else {
		j->st.write_errors++;
	}
	weftd_spin_unlock(&j->lock);
	if (r == 0) /* the backoff restarts only once a real batch is written: a disk that
		     * takes the probe but not the next batch waits longer each time */
		weftd_notice("journal: writable again (after %s): accepting jobs", strerror(-was));
}

static void writer(void *arg)
{
	struct weftd_journal *j = arg;
	maybe_compact(j);
	for (;;) {
		struct jbatch batch;
		weftd_spin_lock(&j->lock);
		if (j->err) {
			fail_pending_accepts(j);
			bool stop = j->closing;
			weftd_spin_unlock(&j->lock);
			if (stop)
				break;
			recover(j);
			continue;
		}
		idle(j);
		if (STAILQ_EMPTY(&j->pending)) { /* closing, and all written */
			weftd_spin_unlock(&j->lock);
			break;
		}
		if (j->mode == WEFTD_DURABILITY_BATCH) {
			/* Woken by the first record of a burst (the submits of one read, one
			 * fiber each, all runnable now), the writer would run next and take it
			 * alone: let the others queue theirs first, so one sync covers them. */
			weftd_spin_unlock(&j->lock);
			weft_yield();
			weftd_spin_lock(&j->lock);
		}
		take_batch(j, &batch);
		weftd_spin_unlock(&j->lock);
		bool sync = false;
		uint64_t base = j->size;
		int r = write_batch(j, STAILQ_FIRST(&batch), &sync);
		if (r == 0 && sync)
			r = j->io.sync(j->io.arg, j->fd);
		if (r < 0) {
			j->size = base; /* the next write goes over what this one left */
			weftd_err("journal: %s: refusing submits (unavailable) and retrying",
				  strerror(-r));
		} else {
			j->backoff_ns = 0;
		}
		batch_done(j, &batch, r, sync);
		maybe_compact(j);
	}
	weft_wg_done(&j->done);
}

/* Lock held. One event set per idle period, not per record; while the writer backs off
 * after an error only close wakes it. */
static void wake_writer(struct weftd_journal *j)
{
	if (j->idle && (!j->err || j->closing)) {
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
			 const void *payload, size_t payload_len, uint64_t submitted_ns, uint32_t owner)
{
	if (!id || !pipeline)
		return -EINVAL;
	struct weftd_jrec r = {
		.type = WEFTD_JREC_ACCEPT2, .id = id, .id_len = strlen(id), .pipeline = pipeline,
		.pipeline_len = strlen(pipeline), .payload = payload, .payload_len = payload_len,
		.submitted_ns = submitted_ns, .owner = owner,
	};
	return weftd_journal_accept_rec(j, &r);
}

int weftd_journal_accept_rec(struct weftd_journal *j, const struct weftd_jrec *in)
{
	if (!j || !in || in->type != WEFTD_JREC_ACCEPT2 || !in->id || !in->pipeline ||
	    (!in->payload && in->payload_len) || (!in->key && in->key_len))
		return -EINVAL;
	if (j->mode == WEFTD_DURABILITY_NONE)
		return 0;
	struct weftd_jrec r = *in;
	size_t size = weftd_jrec_size(&r);
	unsigned char *frame = malloc(size);
	if (!frame)
		return -ENOMEM;
	long n = weftd_jrec_encode(frame, &r);
	if (n < 0) {
		free(frame);
		return (int)n;
	}
	r.frame = frame;
	r.frame_len = (size_t)n;
	struct jentry *e = jn_entry_new(&r);
	free(frame);
	if (!e)
		return -ENOMEM;
	weft_event durable; /* group commit: the writer sets it once the batch is synced */
	weft_event_init(&durable);
	struct jnode node = { .e = e, .durable = &durable, .rec = e->acc, .len = e->acc_len };
	weftd_spin_lock(&j->lock);
	int x = j->err ? j->err : !j->started || j->closing ? -ESHUTDOWN : jn_live_insert(j, e);
	if (x < 0) {
		weftd_spin_unlock(&j->lock);
		jn_entry_free(e);
		return x;
	}
	enqueue(j, &node);
	weftd_spin_unlock(&j->lock);
	x = weft_event_wait(NULL, &durable);
	if (x < 0) {
		weftd_spin_lock(&j->lock);
		struct jentry *now = jn_live_get(j, e->id);
		if (now == e) /* still ours (not purged meanwhile) */
			jn_live_unlink(j, e);
		weftd_spin_unlock(&j->lock);
		if (now == e)
			jn_entry_free(e);
	}
	return x;
}

/* Queue node n (malloc'd, rec encoded) for the writer, or write it at once before start.
 * Lock held on entry; dropped on return. */
void jn_post(struct weftd_journal *j, struct jnode *n)
{
	if (j->started) {
		enqueue(j, n);
		weftd_spin_unlock(&j->lock);
		return;
	}
	weftd_spin_unlock(&j->lock);
	/* before start (replay closing LOST jobs): write it directly */
	if (jn_pwrite_all(j->fd, n->rec, n->len, (off_t)j->size) == 0) {
		j->size += n->len;
		j->st.file_bytes = j->size;
		j->st.finishes++;
	}
	free(n);
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
