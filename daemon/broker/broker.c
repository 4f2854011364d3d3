/* SPDX-License-Identifier: MIT */
/* broker.c — the broker's life and its client side: submit, status, wait, cancel, nodes
 * (see broker.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker_impl.h"
#include "engine/engine.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "util/log.h"

int64_t bwall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct rconn *bnet_conn(struct bnet *n)
{
	unsigned k = atomic_fetch_add_explicit(&n->rr, 1, memory_order_relaxed);

	/* the connections come back one by one after an outage: prefer one that is up */
	for (unsigned i = 0; i < BNET_CMD_CONNS; i++)
		if (rconn_up(n->cmd[(k + i) % BNET_CMD_CONNS]))
			return n->cmd[(k + i) % BNET_CMD_CONNS];
	return n->cmd[k % BNET_CMD_CONNS];
}

bool weftd_broker_is_job_id(const char *id)
{
	const char *slash = id ? strchr(id, '/') : NULL;

	return slash && slash != id && strlen(slash + 1) == 16;
}

int bjob_split(const char *id, char pipe[WEFTD_MAX_NAME + 1], const char **hex)
{
	const char *slash = strchr(id, '/');

	if (!weftd_broker_is_job_id(id) || (size_t)(slash - id) > WEFTD_MAX_NAME)
		return -ESRCH;
	memcpy(pipe, id, (size_t)(slash - id));
	pipe[slash - id] = 0;
	*hex = slash + 1;
	return 0;
}

struct bpipe *bpipe_find(struct weftd_broker *br, const char *name)
{
	for (size_t i = 0; i < br->npipes; i++)
		if (strcmp(br->pipes[i]->cfg->name, name) == 0)
			return br->pipes[i];
	return NULL;
}

struct bpipe *bpipe_rlock(struct weftd_broker *br, const char *name)
{
	struct bpipe *p;

	weft_rwmutex_rlock(NULL, &br->lock);
	if (!(p = bpipe_find(br, name)))
		weft_rwmutex_runlock(&br->lock);
	return p;
}

/* ---- life -------------------------------------------------------------------------- */

static int read_password(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\r\n")] = 0;
	return 0;
}

static struct bnet *net_find(struct weftd_broker *br, const char *name)
{
	for (size_t i = 0; i < br->nnets; i++)
		if (strcmp(br->nets[i].cfg->name, name) == 0)
			return &br->nets[i];
	return NULL;
}

/* Connections for broker config bc (appended to br->nets; capacity reserved). */
static int net_add(struct weftd_broker *br, const struct weftd_broker_config *bc, char *err, size_t errlen)
{
	struct bnet *n = &br->nets[br->nnets];
	bool ux;
	int r;

	memset(n, 0, sizeof(*n));
	n->cfg = bc;
	n->br = br;
	if (weftd_broker_url_parse(bc->redis, n->opts.addr, sizeof(n->opts.addr), &ux, &n->opts.port,
				   &n->opts.db) < 0) {
		snprintf(err, errlen, "broker %s: invalid redis URL", bc->name);
		return -EINVAL;
	}
	n->opts.is_unix = ux;
	n->opts.name = bc->name;
	if (bc->password_file) {
		if ((r = read_password(bc->password_file, n->password, sizeof(n->password))) < 0) {
			snprintf(err, errlen, "broker %s: password_file %s: %s", bc->name, bc->password_file,
				 strerror(-r));
			return r;
		}
		n->opts.password = n->password;
	}
	for (size_t i = 0; i < BNET_CMD_CONNS; i++)
		if ((r = rconn_new(&n->opts, &n->cmd[i])) < 0 || (r = rconn_start(n->cmd[i])) < 0)
			goto fail;
	struct rconn_opts so = n->opts;
	so.subscribe = "weft:*:done";
	so.on_push = bwait_push;
	so.on_up = bwait_wake_all;
	so.arg = n;
	if ((r = rconn_new(&so, &n->sub)) < 0 || (r = rconn_start(n->sub)) < 0)
		goto fail;
	so.subscribe = "weft:*:cancel"; /* bcancel.c: stops the attempts running here */
	so.on_push = bcancel_push;
	so.on_up = NULL;
	if ((r = rconn_new(&so, &n->csub)) < 0 || (r = rconn_start(n->csub)) < 0)
		goto fail;
	br->nnets++;
	return 0;
fail:
	snprintf(err, errlen, "broker %s: %s", bc->name, strerror(-r));
	return r;
}

static void net_stop(struct bnet *n)
{
	for (size_t i = 0; i < BNET_CMD_CONNS; i++) {
		rconn_stop(n->cmd[i]);
		n->cmd[i] = rconn_free(n->cmd[i]);
	}
	rconn_stop(n->sub);
	n->sub = rconn_free(n->sub);
	rconn_stop(n->csub);
	n->csub = rconn_free(n->csub);
}

static struct bpipe *pipe_free(struct bpipe *p)
{
	if (!p)
		return NULL;
	weft_ctx_unref(p->ctx);
	weft_chan_unref(p->kick);
	free(p);
	return NULL;
}

/* A broker pipeline for pl (its stages' actors are the engine pipeline's: bstore.c). */
static int pipe_new(struct weftd_broker *br, const struct weftd_config *cfg,
		    const struct weftd_pipeline *pl, struct bpipe **ret, char *err, size_t errlen)
{
	struct bpipe *p = calloc(1, sizeof(*p) + pl->nstages * sizeof(p->stages[0]));
	int r = 0;

	if (!p)
		return -ENOMEM;
	p->br = br;
	p->cfg = pl;
	p->net = net_find(br, pl->broker);
	p->nstages = pl->nstages;
	snprintf(p->tag, sizeof(p->tag), "weft:{%s}", pl->name);
	for (size_t i = 0; r == 0 && i < pl->nstages; i++) {
		struct bstage *s = &p->stages[i];
		s->p = p;
		s->index = (uint32_t)i;
		s->cfg = &pl->stages[i];
		snprintf(s->key, sizeof(s->key), "%s:s:%zu", p->tag, i);
		for (unsigned b = 0; b < BBANDS; b++)
			snprintf(s->bkey[b], sizeof(s->bkey[b]), "%s%s", s->key, bband_suffix(b));
	}
	if (r < 0 || !p->net) {
		if (r == 0)
			snprintf(err, errlen, "pipeline %s: no broker %s", pl->name, pl->broker);
		pipe_free(p);
		return r < 0 ? r : -EINVAL;
	}
	*ret = p;
	return 0;
}

int weftd_broker_new(const struct weftd_config *cfg, struct weftd_broker **ret, char *err, size_t errlen)
{
	struct weftd_broker *br = calloc(1, sizeof(*br));
	char host[64] = "node";

	if (!br) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	br->cfg = cfg;
	gethostname(host, sizeof(host) - 1);
	snprintf(br->node, sizeof(br->node), "%s:%ld", host, (long)getpid());
	if (getrandom(&br->id_prefix, sizeof(br->id_prefix), 0) != sizeof(br->id_prefix))
		br->id_prefix = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	weft_rwmutex_init(&br->lock);
	atomic_init(&br->gen, 1);
	weft_mutex_init(&br->gmu);
	weft_cond_init(&br->gcond);
	rscript_sha(bscript_end, br->sha_end);
	rscript_sha(bscript_next, br->sha_next);
	rscript_sha(bscript_submit, br->sha_submit);
	rscript_sha(bscript_cancel, br->sha_cancel);
	rscript_sha(bscript_fetch, br->sha_fetch);
	rscript_sha(bscript_mark, br->sha_mark);
	rscript_sha(bscript_retry, br->sha_retry);
	rscript_sha(bscript_move, br->sha_move);
	rscript_sha(bscript_forget, br->sha_forget);
	rscript_sha(bscript_subopt, br->sha_subopt);
	rscript_sha(bscript_redrive, br->sha_redrive);
	rscript_sha(bscript_purge, br->sha_purge);
	*ret = br;
	return 0;
}

static void apply_daemon(struct weftd_broker *br, const struct weftd_config *cfg)
{
	br->cfg = cfg;
	br->ttl_s = (int64_t)(cfg->daemon.retention.age_ns / WEFT_SEC);
	if (br->ttl_s < 1)
		br->ttl_s = 1;
	br->hb_interval_ns = (int64_t)cfg->daemon.heartbeat_interval_ns;
	br->hb_timeout_ns = (int64_t)cfg->daemon.heartbeat_timeout_ns;
}

/* Make br's pipelines those of cfg; lock held as writer. */
/* The pipes changed (writer): a new generation, its waiters woken. */
static void gen_next(struct weftd_broker *br)
{
	weft_mutex_lock(NULL, &br->gmu);
	atomic_fetch_add(&br->gen, 1);
	weft_cond_broadcast(&br->gcond);
	weft_mutex_unlock(&br->gmu);
}

int broker_gen_wait(struct weftd_broker *br, uint64_t gen, weft_ctx *ctx)
{
	int r = 0;

	weft_mutex_lock(NULL, &br->gmu);
	while (r == 0 && atomic_load(&br->gen) == gen)
		r = weft_cond_wait(ctx, &br->gcond, &br->gmu);
	weft_mutex_unlock(&br->gmu);
	return r;
}

static int sync_pipes(struct weftd_broker *br, const struct weftd_config *cfg, char *err, size_t errlen)
{
	size_t nb = 0, np = 0;
	struct bpipe **next;
	int r = 0;

	for (size_t i = 0; i < cfg->npipelines; i++)
		nb += cfg->pipelines[i].broker != NULL;
	/* br->nets never moves (pipelines and waiters point into it): its room was made at
	 * start, and reload refuses to go past it */
	for (size_t i = 0; i < cfg->daemon.nbrokers; i++)
		if (!net_find(br, cfg->daemon.brokers[i].name) &&
		    (r = net_add(br, &cfg->daemon.brokers[i], err, errlen)) < 0)
			return r;
	if (!(next = calloc(nb ? nb : 1, sizeof(*next))))
		return -ENOMEM;
	for (size_t i = 0; r == 0 && i < cfg->npipelines; i++) {
		const struct weftd_pipeline *pl = &cfg->pipelines[i];
		struct bpipe *old;
		if (!pl->broker)
			continue;
		old = bpipe_find(br, pl->name);
		if (old && weftd_pipeline_equal(old->cfg, pl) && old->net == net_find(br, pl->broker)) {
			next[np++] = old;
			continue;
		}
		if ((r = pipe_new(br, cfg, pl, &next[np], err, errlen)) == 0)
			np++;
	}
	if (r < 0) {
		for (size_t i = 0; i < np; i++)
			if (!bpipe_find(br, next[i]->cfg->name) || bpipe_find(br, next[i]->cfg->name) != next[i])
				pipe_free(next[i]);
		free(next);
		return r;
	}
	/* stop the ones going away (changed or removed), start the new ones */
	for (size_t i = 0; i < br->npipes; i++) {
		bool kept = false;
		for (size_t k = 0; k < np && !kept; k++)
			kept = next[k] == br->pipes[i];
		if (!kept) {
			bpipe_stop(br->pipes[i]);
			pipe_free(br->pipes[i]);
		}
	}
	for (size_t k = 0; k < np; k++)
		if (!next[k]->ctx && ((r = bpipe_start(next[k])) < 0 || (r = bsched_start(next[k])) < 0))
			snprintf(err, errlen, "pipeline %s: %s", next[k]->cfg->name, strerror(-r));
	free(br->pipes);
	br->pipes = next;
	br->npipes = np;
	gen_next(br);
	return r;
}

int weftd_broker_start(struct weftd_broker *br, char *err, size_t errlen)
{
	int r;

	apply_daemon(br, br->cfg);
	/* room for every broker a reload may add, so that nets never move under pipelines */
	br->nets = calloc(BNETS_MAX, sizeof(*br->nets));
	if (!br->nets)
		return -ENOMEM;
	weft_rwmutex_lock(NULL, &br->lock);
	r = sync_pipes(br, br->cfg, err, errlen);
	br->started = true;
	weft_rwmutex_unlock(&br->lock);
	return r;
}

int weftd_broker_reload(struct weftd_broker *br, const struct weftd_config *cfg, char *err, size_t errlen)
{
	int r;

	if (br->nnets + cfg->daemon.nbrokers > BNETS_MAX) {
		snprintf(err, errlen, "too many brokers over the reloads: restart weftd");
		return -EINVAL;
	}
	weft_rwmutex_lock(NULL, &br->lock);
	apply_daemon(br, cfg);
	r = sync_pipes(br, cfg, err, errlen);
	weft_rwmutex_unlock(&br->lock);
	return r;
}

void weftd_broker_stop(struct weftd_broker *br)
{
	if (!br || !br->started)
		return;
	weft_rwmutex_lock(NULL, &br->lock);
	for (size_t i = 0; i < br->npipes; i++) {
		bpipe_stop(br->pipes[i]);
		br->pipes[i] = pipe_free(br->pipes[i]);
	}
	br->npipes = 0;
	gen_next(br);
	for (size_t i = 0; i < br->nnets; i++)
		net_stop(&br->nets[i]);
	br->started = false;
	weft_rwmutex_unlock(&br->lock);
}

struct weftd_broker *weftd_broker_free(struct weftd_broker *br)
{
	if (!br)
		return NULL;
	free(br->pipes);
	free(br->nets);
	free(br);
	return NULL;
}

bool weftd_broker_has(struct weftd_broker *br, const char *pipeline)
{
	bool has;

	if (!br || !pipeline)
		return false;
	weft_rwmutex_rlock(NULL, &br->lock);
	has = bpipe_find(br, pipeline) != NULL;
	weft_rwmutex_runlock(&br->lock);
	return has;
}
