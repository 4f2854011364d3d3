/* SPDX-License-Identifier: MIT */
/* journal — durability of accepted jobs (daemon.durability, daemon.state_dir).
 *
 * An append-only file <state_dir>/journal of jrec.h frames: ACCEPT2 when a job is accepted
 * (before `submit` answers), STAGE when it reaches its next stage (with that stage's
 * input), END when it reaches a final state (with its output, or its error and log tail),
 * REDRIVE when a dead letter is live again, PURGE when a job is deleted, RETRY when a failed
 * attempt waits for its next (STAGE's content plus the attempts and due time). At start-up the
 * file is replayed: the jobs accepted and not ended are the live set, each at the last stage
 * recorded, handed to the daemon to resume (or to close as LOST when their pipeline is
 * gone); the ended ones still within the retention (opts.keep: count, age, bytes, as the
 * job table keeps them) come back as they ended. Compaction keeps exactly those: the live
 * jobs (ACCEPT + last STAGE/REDRIVE/RETRY) and the retained ones (ACCEPT + END).
 *
 * Memory: the journal keeps each kept job's records in memory (compaction rewrites them
 * from there): a retained job's output and log are held twice, once by the job table and
 * once here, and a live job's current stage input likewise. (Keeping file offsets and
 * copying from the old file at compaction would hold them once.)
 *
 * Pause state is not in the journal but in <state_dir>/paused, one pipeline name a line,
 * replaced atomically (written to paused.tmp, synced, renamed, directory synced) at each
 * pause or resume: it is daemon state, not a job's, so it stays out of the records and of
 * compaction, and an operator can read it. Damage costs only itself:
 * the replay skips each damaged byte range (a bad header, a corrupt record, a torn tail) and
 * goes on at the next valid frame; the ranges are kept in a new file
 * <state_dir>/journal.bad.<unix-ns> (never overwritten), the journal is rewritten without
 * them, and one warning gives the records kept and the bytes and ranges quarantined. When the file outgrows opts.compact_bytes and is mostly dead
 * records, the writer rewrites the live set into journal.tmp and renames it over.
 *
 * The journal holds an exclusive flock on <state_dir>/lock (which records its pid) from
 * open to free: a second daemon on the same state_dir fails to open it (-EWOULDBLOCK, with
 * a message naming the directory and the holder's pid) instead of sharing the file.
 *
 * Modes (enum weftd_durability):
 *   NONE   no file; accept/finish return 0 at once; nothing survives a restart.
 *   FSYNC  every ACCEPT is written and fdatasync'ed before accept() returns (one fsync each).
 *   BATCH  group commit: one writer fiber appends whatever ACCEPTs are pending with one
 *          writev and makes them durable with one fdatasync; each accept() parks until its
 *          batch is durable. N concurrent submitters cost far fewer than N fsyncs.
 * STAGE, RETRY, END and PURGE records never park their caller and are fdatasync'ed only together
 * with ACCEPTs (or REDRIVEs, which park like ACCEPTs): losing one (power loss) replays the
 * job from the stage recorded before — at-least-once, never lost. A kill -9 loses none
 * that were written (the page cache survives it); the writer writes them as they come.
 *
 * All file I/O after open goes through libweft (io_uring) on the writer fiber. A write or
 * sync error (ENOSPC, EDQUOT, EIO) fails the ACCEPTs of its batch and puts the journal out
 * of service: accept() fails at once with that error (the daemon answers `unavailable`)
 * while the writer probes the file with backoff (WEFTD_JOURNAL_RETRY_MIN_NS doubling up to
 * _MAX_NS, a timed wait, no polling) until a probe write and sync succeed; then it writes
 * the FINISH records it kept and accepts again, without a restart. */
#ifndef WEFTD_JOURNAL_H
#define WEFTD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "jobs/jrec.h"

#define WEFTD_JOURNAL_FILE          "journal"
#define WEFTD_JOURNAL_PAUSED        "paused"
#define WEFTD_JOURNAL_COMPACT_BYTES (64u << 20)
#define WEFTD_JOURNAL_RETRY_MIN_NS  (50 * 1000000LL)   /* first probe after a write error */
#define WEFTD_JOURNAL_RETRY_MAX_NS  (2 * 1000000000LL) /* the backoff's ceiling */

struct weftd_journal;
struct iovec;

/* The writer fiber's batch I/O, for tests only (fault injection; counting the syncs really
 * issued to the kernel, where st.fsyncs counts the ones the writer meant to issue). Called
 * on the writer fiber, once per writev round and once per batch sync: one indirect call,
 * nothing on the submit path. Each returns what the real call does: bytes written or 0 /
 * -errno. A NULL member is the real call: weft_writev(NULL, fd, iov, cnt, off) and
 * weft_fsync(NULL, fd, IORING_FSYNC_DATASYNC). Open, replay, the recovery probe and
 * compaction keep the real calls. */
struct weftd_journal_io {
	int (*writev)(void *arg, int fd, const struct iovec *iov, int cnt, int64_t off);
	int (*sync)(void *arg, int fd);
	void *arg;
};

struct weftd_journal_opts {
	const char *dir;              /* state directory, created (0700) if missing */
	enum weftd_durability mode;
	uint64_t compact_bytes;       /* compaction threshold; 0 = WEFTD_JOURNAL_COMPACT_BYTES */
	const struct weftd_journal_io *io; /* tests only; NULL: the real calls */
	const struct weftd_retention *keep; /* ended jobs kept (copied); NULL: none */
};

/* A job found at replay: live (accepted, not ended) or retained (ended within the
 * retention). Strings are NUL-terminated unless a length is given; all borrowed, valid
 * during the replay callback only. */
struct weftd_journal_job {
	const char *id;
	const char *pipeline;
	const void *payload;          /* the submitted input */
	size_t payload_len;
	uint64_t submitted_ns;        /* CLOCK_REALTIME at acceptance */
	uint32_t owner;               /* the submitter's uid; WEFTD_JREC_NO_OWNER in old records */
	int priority;
	int64_t run_at_ms;            /* Unix ms; 0: none */
	int64_t deadline_ms;          /* Unix ms; 0: none */
	const char *key;              /* NULL: none */
	size_t key_len;
	/* live: the stage it resumes at (at_stage false: stage 0 with the payload) */
	bool at_stage;
	uint32_t stage;               /* at_stage or finished: the stage's index and name */
	const char *stage_name;       /*   (NULL when not recorded) */
	const void *input;            /* at_stage: that stage's input */
	size_t input_len;
	uint32_t retry_attempts;      /* > 0: retrying there (RETRY), attempts made so far, */
	int64_t retry_due_ms;         /*   the next one due then (Unix ms) */
	/* retained */
	bool finished;
	enum weftd_jrec_state state;  /* DONE, FAILED, CANCELED or EXPIRED */
	const void *output;
	size_t output_len;
	const char *error;            /* NULL: none */
	const char *log;
	size_t log_len;
	uint32_t attempts;
	int64_t started_ms, finished_ms;
};

struct weftd_journal_stats {
	uint64_t accepts;             /* ACCEPT records made durable since open */
	uint64_t finishes;            /* FINISH records written */
	uint64_t batches;             /* writev rounds (group commits) */
	uint64_t batch_records;       /* records those rounds wrote (accepts and finishes) */
	uint64_t bytes_written;       /* by those rounds */
	uint64_t fsyncs;              /* fdatasync calls on the journal */
	uint64_t compactions;
	uint64_t file_bytes;          /* current file size */
	uint64_t live;                /* unfinished jobs */
	uint64_t retained;            /* ended jobs kept for the retention */
	uint64_t live_bytes;          /* both kinds' records' size (what compaction keeps) */
	uint64_t replayed;            /* live jobs found at open */
	uint64_t write_errors;        /* batches or probes that failed */
	uint64_t recoveries;          /* times the journal became writable again */
	uint64_t recovered;           /* valid records read at open */
	uint64_t quarantined_bytes;   /* damaged bytes moved to a journal.bad.<ns> file at open */
	uint64_t bad_ranges;          /* how many damaged ranges they were */
};

/* Open (creating) the journal and replay it into the live set. Plain blocking I/O: call
 * before weft_run or through weft_blocking. Returns 0 with *ret owned by the caller, or
 * -errno (mkdir/open/read failed, -ENOMEM, -EWOULDBLOCK: state_dir locked by another
 * process) with warn holding the message. When damage was quarantined, returns 0 and warn
 * holds one line for the log (else warn[0] = 0).
 * mode NONE touches no file. */
int weftd_journal_open(const struct weftd_journal_opts *o, struct weftd_journal **ret,
		       char *warn, size_t warnlen);

/* Call fn for each retained job (in the order they ended), then each live one (in
 * acceptance order); fn returning non-zero stops with that value. fn may call
 * weftd_journal_finish() or _purge() on the job it is given (e.g. LOST). Before
 * weftd_journal_start(), or from a fiber while nothing else records. Returns 0, fn's
 * value, or -ENOMEM. */
int weftd_journal_replay(struct weftd_journal *j,
			 int (*fn)(const struct weftd_journal_job *job, void *arg), void *arg);

/* Spawn the writer fiber. Fiber only. Returns 0, -EALREADY, -ENOMEM. */
int weftd_journal_start(struct weftd_journal *j);

/* Journal a newly accepted job; id and pipeline NUL-terminated, id unique among live jobs.
 * Fiber only; parks (not cancellable: a write in flight is always waited for) until the
 * record is durable per the mode. Returns 0; -EEXIST (id live), -EINVAL (limits),
 * -ENOMEM, -ESHUTDOWN (closing), or a write error (-ENOSPC, -EIO...: the journal is out of
 * service and retrying; try again later). NONE: returns 0 at once. */
int weftd_journal_accept(struct weftd_journal *j, const char *id, const char *pipeline,
			 const void *payload, size_t payload_len, uint64_t submitted_ns, uint32_t owner);

/* Journal a newly accepted job: r is an ACCEPT2 (id, pipeline, payload, submitted_ns,
 * owner, priority, run_at_ms, key). As weftd_journal_accept (which is this one with
 * priority 0, no due time, no key). */
int weftd_journal_accept_rec(struct weftd_journal *j, const struct weftd_jrec *r);

/* Record what happened to a job: r->type says what, r->id which job.
 *   STAGE   a live job reached r->stage (r->stage_name) with r->payload as its input;
 *   RETRY   a live job waits at r->stage (as STAGE) for its next attempt, r->attempts made,
 *           due at r->run_at_ms;
 *   END     a live job ended (r->state DONE, FAILED, CANCELED; output, error, log,
 *           attempts, stage, times): kept for the retention, or dropped when over it;
 *   PURGE   a job is deleted (a dead letter purged; a submit refused after its accept);
 *   REDRIVE a retained job is live again at r->stage with r->payload: parks until durable
 *           per the mode, as accept does; the others never park.
 * Any fiber (STAGE, END, PURGE: any thread). Returns 0, -ENOENT (no such job in the state
 * the record needs, or accepted under NONE — NONE returns 0 otherwise), -EINVAL (limits,
 * a type not listed), -ENOMEM, -ESHUTDOWN, or for REDRIVE a write error. */
int weftd_journal_record(struct weftd_journal *j, const struct weftd_jrec *r);

/* Record that a job reached a final state without details (the old FINISH record): it is
 * not retained. Never parks; any thread or fiber. Returns 0, -ENOENT (not live: already
 * finished, or accepted under NONE), -ENOMEM, -ESHUTDOWN. */
int weftd_journal_finish(struct weftd_journal *j, const char *id, enum weftd_jrec_state st);

/* Change the retention (reload): applies from the next record. Any fiber. */
void weftd_journal_set_retention(struct weftd_journal *j, const struct weftd_retention *keep);

/* Record that pipeline is paused (true) or resumed, in <state_dir>/paused, durably before
 * returning. Fiber only; parks (the file is written on a weft_blocking thread); calls are
 * serialised. Returns 0, -ENOMEM, -EINVAL (a name with a newline) or the I/O's error
 * (nothing recorded). NONE: 0, nothing written. */
int weftd_journal_set_paused(struct weftd_journal *j, const char *pipeline, bool paused);
/* Call fn for each pipeline recorded as paused (read at open). fn non-zero stops. */
int weftd_journal_paused(struct weftd_journal *j, int (*fn)(const char *pipeline, void *arg),
			 void *arg);

/* Flush what is pending and stop the writer. Fiber only; parks. Idempotent. Live jobs stay
 * in the file for the next start. */
int weftd_journal_close(struct weftd_journal *j);

/* Free (after close, or if never started). NULL ok; returns NULL. */
struct weftd_journal *weftd_journal_free(struct weftd_journal *j);

void weftd_journal_stats(struct weftd_journal *j, struct weftd_journal_stats *ret);

#endif
