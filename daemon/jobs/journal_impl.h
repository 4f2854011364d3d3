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
	struct weftd_journal_io io;    /* the writer's batch I/O, both members set (journal.h) */
	int dirfd, fd;
	int lockfd;                     /* <state_dir>/lock, flock()ed for our whole life */
	weftd_spin lock;               /* guards everything below */
	struct weftd_idmap ids;        /* the live set by id */
	TAILQ_HEAD(, jentry) live;     /* the live set in acceptance order */
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

/* The live set, under the lock (or before start). */
struct jentry *jn_live_get(struct weftd_journal *j, const char *id);
void jn_live_unlink(struct weftd_journal *j, struct jentry *e);
/* 0, or -EEXIST (id live). */
int jn_live_insert(struct weftd_journal *j, struct jentry *e);
/* A live entry holding the encoded ACCEPT record; NULL when out of memory. */
struct jentry *jn_entry_new(const char *id, size_t id_len, const char *pipeline,
			    size_t pipeline_len, const void *payload, size_t payload_len,
			    uint64_t submitted_ns, uint32_t owner);
/* The real batch I/O (journal_writer.c), the defaults of struct weftd_journal_io. */
int jn_real_writev(void *arg, int fd, const struct iovec *iov, int cnt, int64_t off);
int jn_real_sync(void *arg, int fd);
/* Plain blocking pwrite of all len bytes (before the writer runs). 0 or -errno. */
int jn_pwrite_all(int fd, const void *buf, size_t len, off_t off);

#endif
