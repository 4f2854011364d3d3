/* SPDX-License-Identifier: MIT */
/* broker_impl.h — the broker's shared state, private to daemon/broker/ (see broker.h).
 *
 * broker.c: life, reload; bops.c: submit, status, wait, cancel, stats; bworker.c:
 * fetchers, leases and take-overs; bstore.c: the store the engine's workers run broker
 * stages through (engine.h); bcommit.c: their commits; bgroup.c:
 * group commit (submits, commits); bwait.c: waiters woken by the done channels. */
#ifndef WEFTD_BROKER_IMPL_H
#define WEFTD_BROKER_IMPL_H

#include <stdatomic.h>
#include <stdint.h>
#include <weft/weft.h>

#include "broker/bgroup.h"
#include "broker/broker.h"
#include "broker/rconn.h"
#include "util/spin.h"

#define BNET_CMD_CONNS 4         /* pipelined command connections per broker and node */
#define BWAIT_BUCKETS 1024
#define BGROUP_BATCH 256            /* jobs or entries in one script call at most */
#define BGROUP_BYTES (4u << 20)     /* and their payloads' bytes, about */
#ifndef BGROUP_ACTIVE_SUBMIT
#define BGROUP_ACTIVE_SUBMIT 2      /* a pipeline's submit calls in flight at once */
#endif
#ifndef BGROUP_ACTIVE_COMMIT
#define BGROUP_ACTIVE_COMMIT 2      /* a stage's commit calls in flight at once */
#endif
#define BNETS_MAX (WEFTD_MAX_BROKERS * 4) /* brokers connected over a daemon's life */
#define BGROUP "weft"
#define BRUN_BUCKETS 256
/* Priority bands (broker.h): a stream per band per stage, suffixes "" (priority 0),
 * ":hi" (> 0), ":lo" (< 0); the fetcher reads them in BBAND_ORDER. */
#define BBANDS 3
#define BBAND_HI 1
#define BBAND_LO 2
static inline unsigned bband_of(int priority)
{
	return priority > 0 ? BBAND_HI : priority < 0 ? BBAND_LO : 0;
}
static inline const char *bband_suffix(unsigned band)
{
	return band == BBAND_HI ? ":hi" : band == BBAND_LO ? ":lo" : "";
}
#define BFORGET_TIMEOUTS 10      /* a node unseen this many heartbeat_timeouts is forgotten */

/* An attempt running on this node (bcancel.c): a cancel published by any node cancels
 * its ctx. */
struct brun {
	const char *jid;
	weft_ctx *ctx;
	struct brun *next;
};

struct bwaiter {
	char id[WEFTD_BROKER_ID_MAX + 1];
	weft_event ev;
	struct bwaiter *next;
};

/* One daemon.brokers entry on this node: its connections and its waiters. */
struct bnet {
	const struct weftd_broker_config *cfg;
	char password[256];
	struct rconn *cmd[BNET_CMD_CONNS];
	struct rconn *sub;             /* PSUBSCRIBE weft:*:done: wakes the waiters */
	struct rconn *csub;            /* PSUBSCRIBE weft:*:cancel: stops attempts (bcancel.c) */
	struct weftd_broker *br;
	atomic_uint rr;
	struct rconn_opts opts;        /* the template of the blocking readers' connections */
	weftd_spin wlock;
	struct bwaiter *wait[BWAIT_BUCKETS];
};

/* An entry a node holds (fetched or taken over, not yet committed). */
struct bentry {
	char eid[40];                  /* stream entry id */
	char jid[WEFTD_BROKER_ID_MAX + 1];
	char *in;                      /* the stage's input */
	size_t in_len;
	uint32_t delivered;            /* deliveries so far (take-over: the delivery count) */
	bool canceled;                 /* in weft:{P}:canceled when fetched: skipped */
	bool marked;                   /* its job marked running on this node (bworker.c) */
	uint8_t band;                  /* the priority band of its stream (BBANDS) */
	uint32_t base;                 /* attempts made before this entry (its "a": a retry's) */
	int64_t deadline_ms;           /* its "dl": the job's deadline (Unix ms), 0: none */
	struct bentry *prev, *next;    /* the stage's held list */
	/* bstore.c, while an engine worker runs it: */
	struct bstage *s;              /* its stage (its pipeline's wg counts the worker) */
	struct brun run;               /* its attempts' cancel hook: the job's ctx */
};

struct bpipe;

struct bstage {
	struct bpipe *p;
	uint32_t index;
	const struct weftd_stage *cfg;
	char key[WEFTD_MAX_NAME + 32]; /* weft:{P}:s:K (band 0) */
	char bkey[BBANDS][WEFTD_MAX_NAME + 40]; /* each band's stream (bkey[0] is key) */
	struct rconn *rd;              /* the fetcher's own (XREADGROUP BLOCK) */
	weft_chan *ch;                 /* struct bentry * to the engine's workers (bstore.c) */
	atomic_uint idle;              /* workers waiting for an entry (bstore.c's get) */
	weftd_spin hlock;
	struct bentry *held;           /* fetched or taken over, not yet committed */
	size_t nheld;
	struct bgroup gend[BBANDS], gnext[BBANDS]; /* the workers' commits, many entries a call
	                                         (per band: one stream a call) */
};

struct bpipe {
	struct weftd_broker *br;
	const struct weftd_pipeline *cfg;
	struct bnet *net;
	char tag[WEFTD_MAX_NAME + 8];  /* weft:{P} */
	weft_ctx *ctx;                 /* cancelled at stop: fetchers, leases */
	weft_wg wg;                    /* its fibers, and the engine's workers holding one of
	                                  its entries (bstore.c) */
	struct bgroup gsub;            /* submits, many jobs a call */
	weft_chan *kick;               /* bsched.c: wakes the keeper (an earlier due time) */
	atomic_bool paused;            /* bpause.c: weft:{P}:paused as this node knows it */
	weft_mutex pmu;                /* bpause.c: pgen, and pcond's waits */
	weft_cond pcond;               /* bpause.c: fetchers and workers waiting for a resume */
	uint64_t pgen;                 /* bpause.c: messages applied (a stale read loses) */
	size_t nstages;
	struct bstage stages[];
};

struct weftd_broker {
	const struct weftd_config *cfg;
	char node[128];                /* "host:pid": the consumer name */
	uint32_t id_prefix;            /* random: ids unique across nodes */
	atomic_uint_fast32_t id_seq;
	int64_t ttl_s;                 /* retention.age, for the jobs' hashes */
	int64_t hb_interval_ns, hb_timeout_ns;
	struct bnet *nets;
	size_t nnets;
	struct bpipe **pipes;
	size_t npipes;
	weft_rwmutex lock;             /* pipes: readers ops, writer reload */
	atomic_uint_fast64_t gen;      /* pipes' generation: + 1 at each change (writer) */
	weft_mutex gmu;                /* with gcond: broker_gen_wait's wait for a change */
	weft_cond gcond;
	/* the Lua scripts' SHA1s (EVALSHA): bworker.c's, bops.c's */
	char sha_end[41], sha_next[41], sha_submit[41], sha_cancel[41], sha_fetch[41],
	     sha_mark[41];
	/* bsched.c's, bsubmit.c's, bdead.c's */
	char sha_retry[41], sha_move[41], sha_forget[41], sha_subopt[41], sha_redrive[41], sha_purge[41];
	struct brun *run[BRUN_BUCKETS]; /* bcancel.c: the attempts running here */
	weftd_spin runlock;
	bool started;
};

/* broker.c */
int64_t bwall_ms(void);
/* A command connection of net (round robin). */
struct rconn *bnet_conn(struct bnet *n);
/* The broker pipeline called name (no reference: under br->lock read), or NULL. */
struct bpipe *bpipe_find(struct weftd_broker *br, const char *name);
/* The broker pipeline called name with br->lock read-held (the caller unlocks), or NULL
 * with the lock released. */
struct bpipe *bpipe_rlock(struct weftd_broker *br, const char *name);
/* Park until br's pipes change from generation gen (a start, reload or stop): 0, or ctx's
 * error. Fiber only. */
int broker_gen_wait(struct weftd_broker *br, uint64_t gen, weft_ctx *ctx);
/* Split id "P/HEX" into *pipe (NUL-terminated copy) and the hex part. -ESRCH if malformed. */
int bjob_split(const char *id, char pipe[WEFTD_MAX_NAME + 1], const char **hex);

/* The scripts (their SHA1s in struct weftd_broker). */
extern const char bscript_end[], bscript_next[], bscript_submit[], bscript_cancel[], bscript_fetch[],
	bscript_mark[];

/* bcommit.c */
/* Run one script call (b) on a command connection of p's broker until Redis has it,
 * backing off (jittered, up to 2 s) while it is down or refuses: a worker holding a
 * finished attempt keeps it through an outage and commits once Redis is back. what
 * qualifies the warning of a refusal (" stage S", or ""). 0, or -ECANCELED when p stops
 * meanwhile (the entry stays pending: taken over later). A script runs whole or not at
 * all, as MULTI/EXEC, in one command and one reply. Fiber only. */
int bnet_call_until_done(struct bpipe *p, struct rbatch *b, const char *script, const char *what);
/* bcommit.c: park until entry e of stage s is committed with others (-ECANCELED: the
 * pipeline stopped first; e stays pending, to be taken over). */
/* e ends: state (done/failed/canceled/expired) with out (done) or error. */
int bcommit_end(struct bstage *s, struct bentry *e, const char *state, const char *out,
		size_t out_len, const char *error, uint32_t attempts);
/* e goes to the next stage with out as its input. */
int bcommit_next(struct bstage *s, struct bentry *e, const char *out, size_t out_len);

/* bworker.c */
/* Start p's fetchers and lease fiber. Fiber only. 0 or -ENOMEM. */
int bpipe_start(struct bpipe *p);
/* Stop them and park until they ended, and the workers holding its entries let them go.
 * Fiber only; under br->lock (writer). */
void bpipe_stop(struct bpipe *p);
/* Forget entry e of s (committed, or left pending to be taken over) and free it. */
void bheld_drop(struct bstage *s, struct bentry *e);
/* Mark e's job running on this node unless its fetch did (it waited out a pause). Fiber
 * only: a round trip. */
void bheld_mark(struct bstage *s, struct bentry *e);

/* bsched.c: the schedule weft:{P}:sched (retries, delayed jobs) and its keeper fiber,
 * which also forgets nodes gone for BFORGET_TIMEOUTS heartbeat timeouts. */
extern const char bscript_retry[], bscript_move[], bscript_forget[];
/* Start p's keeper (after bpipe_start: counted in p->wg). Fiber only. 0 or -ENOMEM. */
int bsched_start(struct bpipe *p);
/* Entry e of stage s failed attempt `attempt` with error: acknowledge it and schedule
 * the next attempt at due_ms (Unix ms), in one script. 0, or -ECANCELED (stopping: the
 * entry stays pending, taken over later). Parks until Redis has it. */
int bsched_retry(struct bstage *s, struct bentry *e, uint32_t attempt, int64_t due_ms, const char *error);
/* Wake p's keeper: something falls due at due_ms (sooner than it may know). */
void bsched_kick(struct bpipe *p);

/* bcancel.c */
/* Register/unregister the attempt of job jid (ctx: cancelled by a cancel message). */
void bcancel_add(struct weftd_broker *br, struct brun *r);
void bcancel_remove(struct weftd_broker *br, struct brun *r);
/* on_push of a net's cancel subscriber: cancel the attempt of the job named. */
void bcancel_push(void *arg, redisReply *r);

/* bsubmit.c, bdead.c: in broker.h (weftd_broker_submit_opts, _redrive, _purge) */
extern const char bscript_subopt[], bscript_redrive[], bscript_purge[];

/* bpause.c: the pipeline's paused state on this node (weft:{P}:paused). */
/* At bpipe_start: paused until bpause_refresh has read the key. */
void bpause_init(struct bpipe *p);
/* Park while p is paused: 0, or the error of ctx or of p->ctx (stopping). Fiber only. */
int bpause_wait(struct bpipe *p, weft_ctx *ctx);
/* Wake bpause_wait's waiters (p stops: p->ctx was cancelled). */
void bpause_wake(struct bpipe *p);
/* Read weft:{P}:paused (the lease fiber: at start and every heartbeat). Fiber only. */
void bpause_refresh(struct bpipe *p);
/* A "!pause"/"!resume" message on channel chan (clen bytes) of net n (bcancel_push). */
void bpause_push(struct bnet *n, const char *chan, size_t clen, const char *msg);
bool bpause_is(struct bpipe *p);

/* bwait.c */
/* on_push of a net's subscriber: a pmessage names a job that ended. */
void bwait_push(void *arg, redisReply *r);
/* on_up of the subscriber: wake every waiter (a message may have been lost meanwhile). */
void bwait_wake_all(void *arg);
void bwait_add(struct bnet *n, struct bwaiter *w);
/* Unhook w if still hooked (under the lock: after it, nobody sets w's event). */
void bwait_remove(struct bnet *n, struct bwaiter *w);

#endif
