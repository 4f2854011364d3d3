/* SPDX-License-Identifier: MIT */
/* broker.h — pipelines shared by weftd nodes through Redis Streams (issue 15).
 *
 * A pipeline with `broker: NAME` keeps its jobs in the Redis server of daemon.brokers.NAME
 * instead of this daemon's queues and journal; every node configured with it runs its
 * stages, and any node answers for its jobs. The data, all under the pipeline's hash tag
 * (one Redis Cluster slot per pipeline):
 *
 *   weft:{P}:s:K      stream of stage K's entries {id, in}; consumer group "weft", one
 *                     consumer per node ("host:pid")
 *   weft:{P}:j:ID     hash: state, stage, attempts, output, error, node, created_ms,
 *                     finished_ms; expires retention.age after the job ends
 *   weft:{P}:dead     stream of dead letters {id, stage, in, error}
 *   weft:{P}:done     pub/sub channel: the ids of the jobs that ended, one per line (wakes
 *                     waiters)
 *   weft:{P}:nodes    hash: node -> last heartbeat (Unix ms)
 *   weft:{P}:stats    hash: submitted, done, failed, canceled (the cluster's counts)
 *
 * A job id is "P/HEX16": any node finds its pipeline (and hash tag) from the id alone.
 *
 * Per stage and node: one fetcher reads XREADGROUP (COUNT up to the idle workers, BLOCK)
 * on a connection of its own and hands entries to the stage's workers, which run the
 * stage's actor (the same exec/builtin/plugin actions as local pipelines) and commit with
 * one Lua script (EVALSHA; atomic as MULTI/EXEC): XACK + XDEL of the entry and XADD to the next stage's stream, or the
 * result into the job's hash + PUBLISH (last stage), or XADD to dead (retries used up).
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
/* The job object (PROTOCOL.md) of id as member key of b (NULL: an array element).
 * 0, -ESRCH (unknown or expired; also another owner's unless admin), -ENOTCONN. */
int weftd_broker_job_json(weft_ctx *ctx, struct weftd_broker *br, const char *id, uid_t uid,
			  bool admin, struct weftd_buf *b, const char *key);
/* Park until job id has ended (1) or timeout_ns passed (0; < 0: no timeout), woken by
 * the pipeline's done channel, never by polling. -ESRCH, -ENOTCONN, ctx's error. */
int weftd_broker_wait(weft_ctx *ctx, struct weftd_broker *br, const char *id, int64_t timeout_ns);
/* Cancel id if it has not ended: a queued job is dropped when a worker reaches it; a
 * running attempt finishes (not interrupted across nodes). 1 canceled, 0 had ended,
 * -ESRCH, -ENOTCONN. */
int weftd_broker_cancel(weft_ctx *ctx, struct weftd_broker *br, const char *id);
/* The cluster's figures of the broker pipeline called pipeline (NULL: every one) as
 * object member key of b: {P: {broker, submitted, done, failed, canceled (counted in
 * weft:{P}:stats by whichever node did it), dead, stages: [{name, length, pending,
 * workers}], nodes: [{node, last_seen_ms, age_ms, self}]}}. 0, -ENOENT (pipeline is no
 * broker pipeline here), -ENOTCONN. Parks for one round trip per pipeline. */
int weftd_broker_stats_json(weft_ctx *ctx, struct weftd_broker *br, const char *pipeline,
			    struct weftd_buf *b, const char *key);

#endif
