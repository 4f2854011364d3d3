/* SPDX-License-Identifier: MIT */
/* broker.h — pipelines shared by weftd nodes through Redis Streams (issue 15).
 *
 * A pipeline with `broker: NAME` keeps its jobs in the Redis server of daemon.brokers.NAME
 * instead of this daemon's queues and journal; every node configured with it runs its
 * stages, and any node answers for its jobs. The data, all under the pipeline's hash tag
 * (one Redis Cluster slot per pipeline):
 *
 *   weft:{P}:s:K      stream of stage K's entries {id, in, a (attempts before: a retry's),
 *                     dl (deadline)}; consumer group "weft", one consumer per node
 *                     ("host:pid"). Priorities: streams have no order, so a stage has a
 *                     stream per band, s:K (priority 0), s:K:hi (> 0), s:K:lo (< 0); one
 *                     XREADGROUP reads the three and the workers get the higher first
 *   weft:{P}:j:ID     hash: state, stage, attempts, output, error, node, created_ms, payload,
 *                     finished_ms, priority, key, deadline_ms, run_at_ms, next_stage and
 *                     next_in (scheduled, retrying), dead_eid (failed); expires
 *                     retention.age after the job ends
 *   weft:{P}:sched    sorted set: job id by due time (retries, delayed jobs); each node's
 *                     keeper fiber moves the due ones into their stream (bsched.c)
 *   weft:{P}:k:KEY    idempotency key -> job id (SET NX, TTL retention.age past the job's
 *                     latest end known at submit: its delay or deadline); taken while
 *                     its job's hash lives
 *   weft:{P}:dead     stream of dead letters {id, stage, in, error}
 *   weft:{P}:done     pub/sub channel: the ids of the jobs that ended, one per line (wakes
 *                     waiters)
 *   weft:{P}:cancel   pub/sub channel: a canceled job's id (stops its running attempt),
 *                     or "!pause"/"!resume" (bpause.c)
 *   weft:{P}:paused   set while the pipeline is paused: no node starts an attempt
 *   weft:{P}:nodes    hash: node -> last heartbeat (Unix ms)
 *   weft:{P}:stats    hash: submitted, done, failed, canceled (the cluster's counts)
 *
 * A job id is "P/HEX16": any node finds its pipeline (and hash tag) from the id alone.
 *
 * Per stage and node: one fetcher reads XREADGROUP (COUNT up to the idle workers, BLOCK)
 * on a connection of its own and hands entries to the engine's workers of the stage, which
 * take them through the broker store (bstore.c, weftd_broker_store below) in the same
 * worker loop as a local pipeline's (its actors, timeouts, retries, heartbeats, rate
 * limit, cancel, spans, figures: the engine's) and commit with
 * one Lua script (EVALSHA; atomic as MULTI/EXEC): XACK + XDEL of the entry and XADD to the next stage's stream, or the
 * result into the job's hash + PUBLISH (last stage), or XADD to dead (retries used up),
 * or ZADD to sched (a retry: the worker is free meanwhile; bsched.c's own script).
 * Commits and submits go by groups (bgroup.h): one script call carries the entries a
 * stage finished, or the jobs submitted, while the previous call was on the wire.
 * So a job is always in a stream or finished, never in neither. Leases: every
 * heartbeat_interval a node XCLAIMs (JUSTID, to itself) the entries it holds, keeping
 * them fresh; entries idle longer than heartbeat_timeout (a dead or cut-off node's) are
 * taken over with XAUTOCLAIM by any node, whose attempts count from the delivery count.
 * At least once: a node that dies after its work but before its EXEC commits runs again
 * elsewhere. What survives a Redis restart is what its persistence (appendfsync) kept.
 *
 * Redis unreachable: submits answer -ENOTCONN (the protocol's unavailable), workers keep
 * their finished attempts and commit once it is back; connections come back by
 * themselves (rconn.h); local pipelines are untouched.
 */
#ifndef WEFTD_BROKER_H
#define WEFTD_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <weft/weft.h>

#include "config/config.h"
#include "engine/engine.h"
#include "proto/buf.h"

struct weftd_broker;

#define WEFTD_BROKER_ID_MAX (WEFTD_MAX_NAME + 1 + 16)

/* The broker side of cfg (no connection yet). Returns 0 or -ENOMEM with err filled.
 * cfg's pipelines must outlive the broker (the engine keeps every config it loaded). */
int weftd_broker_new(const struct weftd_config *cfg, struct weftd_broker **ret, char *err, size_t errlen);
/* Connect to the brokers and start the broker pipelines' fetchers and workers. Fiber
 * only. 0, or -errno with err filled (an actor that cannot be prepared). Redis being
 * down is not an error: the connections retry on their own. */
int weftd_broker_start(struct weftd_broker *br, char *err, size_t errlen);
/* Switch to cfg: broker pipelines equal to running ones run on; changed and removed
 * ones stop (their workers finish the attempts they hold; what they fetched but did not
 * start is taken over after heartbeat_timeout), added and changed ones start. New
 * brokers connect; a removed broker's connections stay until stop. Fiber only. */
int weftd_broker_reload(struct weftd_broker *br, const struct weftd_config *cfg, char *err, size_t errlen);
/* Stop every worker (attempts in flight finish and commit if Redis lets them) and
 * close the connections. Fiber only. */
void weftd_broker_stop(struct weftd_broker *br);
struct weftd_broker *weftd_broker_free(struct weftd_broker *br);

/* The broker store (bstore.c; engine.h's struct weftd_store_ops, open's arg: the broker):
 * the engine's workers run the broker pipelines' stages through it, taking the entries
 * this node's fetchers read. Set it with weftd_engine_set_store before the engine starts;
 * a worker waits for its broker pipeline until weftd_broker_start (or a reload) runs it. */
extern const struct weftd_store_ops weftd_broker_store;

/* Is pipeline a broker pipeline this node runs? Never parks. */
bool weftd_broker_has(struct weftd_broker *br, const char *pipeline);
/* Is id a broker job id ("P/HEX16")? Pure. */
bool weftd_broker_is_job_id(const char *id);

/* Submit payload as a new job of pipeline (a broker pipeline): *ret_id gets its id.
 * 0, -ENOENT (not a broker pipeline here), -ENOTCONN (Redis unreachable), -ENOMEM.
 * Parks for the script call that carries it with the submits arriving meanwhile (one
 * round trip, two when such calls are already on the wire); ctx does not end it: the
 * call is many clients'. */
int weftd_broker_submit(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline,
			const void *payload, size_t len, uid_t owner, char ret_id[WEFTD_BROKER_ID_MAX + 1]);
/* What a submit may ask besides its payload (PROTOCOL.md's submit options). */
struct weftd_broker_submit_opts {
	int64_t run_at_ms;             /* delay/run_at: Unix ms; 0 or past: at once */
	int64_t deadline_ms;           /* Unix ms; 0: none */
	int priority;                  /* kept and shown; not an order (see the top) */
	const char *key;               /* idempotency key (key_len bytes), or NULL */
	size_t key_len;
};
/* weftd_broker_submit with options, in one script: a job due later waits in the schedule
 * (state scheduled); with a key, SET NX of weft:{P}:k:KEY (TTL retention.age plus the
 * delay): when taken, nothing is created, ret_id is the first job's and *ret_dup true.
 * Same returns as weftd_broker_submit. */
int weftd_broker_submit_opts(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline,
			     const void *payload, size_t len, uid_t owner,
			     const struct weftd_broker_submit_opts *o, char ret_id[WEFTD_BROKER_ID_MAX + 1],
			     bool *ret_dup);
/* The job object (PROTOCOL.md) of id as member key of b (NULL: an array element), with
 * its submitted payload when payload. 0, -ESRCH (unknown or expired; also another
 * owner's unless admin), -ENOTCONN. */
int weftd_broker_job_json(weft_ctx *ctx, struct weftd_broker *br, const char *id, uid_t uid,
			  bool admin, bool payload, struct weftd_buf *b, const char *key);
/* Park until job id has ended (1) or timeout_ns passed (0; < 0: no timeout), woken by
 * the pipeline's done channel, never by polling. -ESRCH (unknown, or not uid's unless
 * admin: at once), -ENOTCONN, ctx's error. */
int weftd_broker_wait(weft_ctx *ctx, struct weftd_broker *br, const char *id, uid_t uid, bool admin,
		      int64_t timeout_ns);
/* Cancel id if it has not ended: a queued job is dropped when a worker reaches it, a
 * scheduled or retrying one when the keeper finds it due, a running attempt is cancelled
 * by the node that runs it (weft:{P}:cancel). 1 canceled, 0 had ended, -ESRCH,
 * -ENOTCONN. */
int weftd_broker_cancel(weft_ctx *ctx, struct weftd_broker *br, const char *id);
/* retry (retry true) or purge of dead letters: job's (then pipeline is ignored), or with
 * job NULL every one of pipeline the peer may see (uid; admin: all). Writes the answer's
 * members into b: retry "jobs" (the ids re-driven) and "retried", purge "purged".
 * from_start: from the first stage with the submitted payload (kept in the job's hash);
 * else from the stage that failed with its input, and a retrying job's next attempt
 * runs now. 0; -ESRCH (no such job, or another's); -ENOENT (pipeline is no broker
 * pipeline here); -EBUSY with why filled (the job is not a dead letter, or has no
 * payload kept); -ENOTCONN. */
int weftd_broker_dead_op(weft_ctx *ctx, struct weftd_broker *br, bool retry, bool from_start,
			 const char *pipeline, const char *job, uid_t uid, bool admin, struct weftd_buf *b,
			 char *why, size_t whylen);
/* list (blist.c): the newest `limit` jobs of the broker pipeline called pipeline (NULL:
 * of every broker pipeline this node runs), those of uid unless admin, only in state when
 * has_state, read from Redis into *ret (outputs only when asked). Walks the brokers' job
 * hashes with SCAN (never KEYS): its time grows with the jobs Redis retains, its memory
 * with limit only. 0, -ENOENT (pipeline is no broker pipeline here), -ENOTCONN, -ENOMEM.
 * Parks. The list's jobs are newest first (created_ms): the caller merges them with the
 * local ones by weftd_broker_list_created and writes each with weftd_broker_list_put (an
 * array element; -ESRCH: gone meanwhile, nothing written). */
struct weftd_broker_list;
int weftd_broker_list_new(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline, uid_t uid, bool admin,
			  bool has_state, int state, uint32_t limit, bool outputs, struct weftd_broker_list **ret);
size_t weftd_broker_list_len(const struct weftd_broker_list *l);
int64_t weftd_broker_list_created(const struct weftd_broker_list *l, size_t i);
int weftd_broker_list_put(const struct weftd_broker_list *l, size_t i, struct weftd_buf *b);
struct weftd_broker_list *weftd_broker_list_free(struct weftd_broker_list *l);
/* pause (paused true) or resume pipeline on every node: weft:{P}:paused, published on
 * weft:{P}:cancel (bpause.c). Submits go on; no node starts a new attempt until resumed;
 * attempts in flight finish. 0, -ENOENT (no broker pipeline here), -ENOTCONN. */
int weftd_broker_pause(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline, bool paused);
/* The cluster's figures of the broker pipeline called pipeline (NULL: every one) as
 * object member key of b: {P: {broker, submitted, done, failed, canceled (counted in
 * weft:{P}:stats by whichever node did it), dead, stages: [{name, length, pending,
 * workers}], nodes: [{node, last_seen_ms, age_ms, self}]}}. 0, -ENOENT (pipeline is no
 * broker pipeline here), -ENOTCONN. Parks for one round trip per pipeline. */
int weftd_broker_stats_json(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline,
			    struct weftd_buf *b, const char *key);

#endif
