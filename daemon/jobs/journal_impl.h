/* SPDX-License-Identifier: MIT */
/* journal_impl.h — the journal's insides, shared by journal.c (the file: live set, open,
 * replay) and journal_writer.c (the writer fiber: group commit, compaction). Private to
 * daemon/jobs/. */
#ifndef WEFTD_JOURNAL_IMPL_H
#define WEFTD_JOURNAL_IMPL_H

#include <stdbool.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <weft/weft.h>

#include "jobs/journal.h"
#include "util/idmap.h"
#include "util/spin.h"

#define TMP_FILE "journal.tmp"
#define BAD_FILE "journal.bad"
#define LOCK_FILE "lock"

/* A job the journal keeps: live (accepted, not ended) or retained (ended, within the
 * retention). Its ACCEPT record, and its last STAGE/REDRIVE (live) or END (retained), are
 * what compaction rewrites and what the replay reads. */
struct jentry {
	struct weftd_idmap_node idn;   /* the index, keyed by id */
	TAILQ_ENTRY(jentry) order;     /* j->live in acceptance order, or j->fin in end order */
	bool durable;                  /* ACCEPT written (and synced per mode): compaction may
				          copy it */
	bool finished;                 /* on j->fin */
	int64_t finished_ms;           /* retained: when it ended (Unix ms) */
	uint64_t kept;                 /* retained: its output and log bytes (retention.bytes) */
	const char *id, *pipeline;     /* NUL-terminated, into data[] */
	unsigned char *acc;            /* the ACCEPT/ACCEPT2 frame, into data[] */
	size_t acc_len;
	unsigned char *tail;           /* the last STAGE/REDRIVE/END frame (malloc'd), or NULL */
	size_t tail_len;
	unsigned char data[];          /* id \0 pipeline \0 acc */
};

/* One record waiting for the writer: rec/len. durable non-NULL: its submitter parks on it
 * and owns the node (ACCEPT: on its stack, e set so the writer marks e durable; REDRIVE:
 * malloc'd, freed by the submitter); else the node is malloc'd and the writer frees it. */
struct jnode {
	STAILQ_ENTRY(jnode) next;
	struct jentry *e;
	weft_event *durable;
	const unsigned char *rec;
	size_t len;
	unsigned char data[];
};

struct weftd_journal {
	enum weftd_durability mode;
	uint64_t compact_bytes;
	struct weftd_journal_io io;    /* the writer's batch I/O, both members set (journal.h) */
	int dirfd, fd;
	int lockfd;                     /* <state_dir>/lock, flock()ed for our whole life */
	weftd_spin lock;               /* guards everything below */
	struct weftd_idmap ids;        /* live and retained jobs by id */
	TAILQ_HEAD(, jentry) live;     /* the live set in acceptance order */
	TAILQ_HEAD(, jentry) fin;      /* the retained ones, in the order they ended */
	struct weftd_retention keep;   /* retention of ended jobs ({0}: none) */
	uint64_t fin_bytes;            /* their kept bytes */
	weft_mutex paused_lock;        /* serialises weftd_journal_set_paused */
	char **paused;                 /* pipelines recorded as paused (malloc'd names) */
	size_t npaused;
	STAILQ_HEAD(, jnode) pending;  /* records for the writer, FIFO */
	weft_event work;               /* set when pending gets a record or closing is set */
	bool idle;                     /* the writer waits on 'work' */
	bool started, closing;
	int err;                       /* the last write/sync error: accepts are refused with it
				        * until a probe (journal_writer.c: recover) writes again */
	int64_t backoff_ns;            /* the writer's wait before its next probe */
	uint64_t size;                 /* bytes in the file (writer-owned once started) */
	struct weftd_journal_stats st;
	weft_wg done;                  /* the writer has ended */
};

/* The kept jobs, under the lock (or before start). get: live or retained; unlink: out of
 * the index and its list (the caller frees it, with jn_entry_free); insert: live. */
struct jentry *jn_live_get(struct weftd_journal *j, const char *id);
void jn_live_unlink(struct weftd_journal *j, struct jentry *e);
/* 0, or -EEXIST (id kept). */
int jn_live_insert(struct weftd_journal *j, struct jentry *e);
/* A live entry holding a copy of the ACCEPT/ACCEPT2 frame r->frame (decoded r); NULL when
 * out of memory. */
struct jentry *jn_entry_new(const struct weftd_jrec *r);
void jn_entry_free(struct jentry *e);
/* Apply a decoded STAGE/END/REDRIVE/PURGE/FINISH record to the kept jobs (the lock held,
 * or before start): what the replay does for each, and what recording one does.
 * Returns 0, -ENOENT (no job in the state it needs), -ENOMEM. */
int jn_apply(struct weftd_journal *j, const struct weftd_jrec *r, int64_t now_ms);
/* Drop the retained jobs over the retention at now_ms (lock held, or before start). */
void jn_evict(struct weftd_journal *j, int64_t now_ms);
/* Queue node n (malloc'd, rec encoded) for the writer, or write it at once before start
 * (then freed). Lock held on entry, dropped on return. */
void jn_post(struct weftd_journal *j, struct jnode *n);
/* CLOCK_REALTIME in ms. */
int64_t jn_now_ms(void);
/* Read <dir>/paused at open (blocking). 0 or -errno. */
int jn_paused_load(struct weftd_journal *j);
void jn_paused_free(struct weftd_journal *j);
/* The real batch I/O (journal_writer.c), the defaults of struct weftd_journal_io. */
int jn_real_writev(void *arg, int fd, const struct iovec *iov, int cnt, int64_t off);
int jn_real_sync(void *arg, int fd);
/* Plain blocking pwrite of all len bytes (before the writer runs). 0 or -errno. */
int jn_pwrite_all(int fd, const void *buf, size_t len, off_t off);

#endif
