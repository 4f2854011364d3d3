/* SPDX-License-Identifier: MIT */
/* periodic.c — the periodic jobs: one fiber fires every pipeline's schedule: entries as
 * ordinary submits keyed by slot; state_dir/schedules remembers the last fired slots
 * (periodic.h says why both). */
#include "engine/periodic.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_impl.h"
#include "util/log.h"

#define STATE_FILE  "schedules"
#define STATE_MAGIC "weftd-schedules 1\n"
#define KEY_MAX     (WEFTD_MAX_NAME + 32)
/* The sleep is timed on the monotonic clock while slots are wall-clock times: waking at
 * least this often notices a wall clock stepped (NTP, an operator) within a minute. */
#define MAX_NAP     (60 * WEFT_SEC)

struct entry {
	const char *pipeline;                /* the config's (kept until the engine is freed) */
	const struct weftd_schedule *cfg;
	int64_t next;                        /* the next slot to fire, Unix seconds; INT64_MAX: none */
	int64_t last;                        /* the last fired slot; 0: none known */
};

struct eng_periodic {
	struct weftd_engine *e;
	weft_mutex lock;                     /* everything below */
	weft_cond changed;                   /* a reload: the fiber recomputes its sleep */
	bool dirty;
	struct entry *v;
	size_t n;
	char *state_path;                    /* NULL: nothing persisted (no journal) */
};

static int64_t wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
}

static int64_t next_after(const struct weftd_schedule *s, int64_t t)
{
	int64_t r;
	return weftd_cron_next(&s->cron, &s->tz, t, &r) == 0 ? r : INT64_MAX;
}

static struct entry *find(struct entry *v, size_t n, const char *pipeline, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].pipeline, pipeline) == 0 && strcmp(v[i].cfg->name, name) == 0)
			return &v[i];
	return NULL;
}

/* Entries for cfg, carrying over from old (see eng_periodic_reload). NULL on -ENOMEM. */
static struct entry *build(const struct weftd_config *cfg, const struct entry *old, size_t nold,
			   int64_t now, size_t *ret_n)
{
	size_t n = 0, k = 0;
	struct entry *v;

	for (size_t i = 0; i < cfg->npipelines; i++)
		n += cfg->pipelines[i].nschedules;
	if (!(v = calloc(n ? n : 1, sizeof(*v))))
		return NULL;
	for (size_t i = 0; i < cfg->npipelines; i++)
		for (size_t j = 0; j < cfg->pipelines[i].nschedules; j++) {
			struct entry *x = &v[k++], *o;
			x->pipeline = cfg->pipelines[i].name;
			x->cfg = &cfg->pipelines[i].schedules[j];
			o = find((struct entry *)old, nold, x->pipeline, x->cfg->name);
			x->last = o ? o->last : 0;
			if (o && strcmp(o->cfg->expr, x->cfg->expr) == 0 &&
			    !!o->cfg->tz_name == !!x->cfg->tz_name &&
			    (!o->cfg->tz_name || strcmp(o->cfg->tz_name, x->cfg->tz_name) == 0))
				x->next = o->next;
			else
				x->next = next_after(x->cfg, now > x->last ? now : x->last);
		}
	*ret_n = n;
	return v;
}

/* ---- state_dir/schedules: "pipeline name last-slot" lines --------------------------- */

struct state_io {
	struct eng_periodic *p;
	char *buf;                           /* the file's new text (write) */
	size_t len;
};

static int state_write(void *arg)
{
	struct state_io *io = arg;
	char tmp[4200];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", io->p->state_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < io->len && r == 0;) {
		ssize_t w = write(fd, io->buf + off, io->len - off);
		if (w < 0)
			r = -errno;
		else
			off += (size_t)w;
	}
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, io->p->state_path) < 0)
		r = -errno;
	return r;
}

/* Read the last fired slots into p's entries (before the fiber starts). A missing file is
 * a first start; a line that does not parse (or names no entry) is skipped. */
static int state_read(void *arg)
{
	struct state_io *io = arg;
	char line[256];
	FILE *f = fopen(io->p->state_path, "re");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(line, sizeof(line), f) || strcmp(line, STATE_MAGIC) != 0) {
		fclose(f);
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f)) {
		char pipe[WEFTD_MAX_NAME + 1], name[WEFTD_MAX_NAME + 1];
		int64_t last;
		struct entry *x;
		if (sscanf(line, "%64s %64s %" SCNd64, pipe, name, &last) == 3 && last > 0 &&
		    (x = find(io->p->v, io->p->n, pipe, name)))
			x->last = last;
	}
	fclose(f);
	return 0;
}

/* The file's text for p's entries (under p->lock). NULL when out of memory. */
static char *state_text(struct eng_periodic *p, size_t *ret_len)
{
	size_t cap = sizeof(STATE_MAGIC) + p->n * (2 * WEFTD_MAX_NAME + 32), len;
	char *b = malloc(cap);

	if (!b)
		return NULL;
	len = (size_t)snprintf(b, cap, "%s", STATE_MAGIC);
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].last > 0)
			len += (size_t)snprintf(b + len, cap - len, "%s %s %" PRId64 "\n", p->v[i].pipeline,
						p->v[i].cfg->name, p->v[i].last);
	*ret_len = len;
	return b;
}

/* ---- the fiber ---------------------------------------------------------------------- */

/* Submit entry x's slot. Returns 0 (a new job or its slot's job already there) or -errno. */
static int fire(struct eng_periodic *p, const char *pipeline, const struct weftd_schedule *s, int64_t slot)
{
	char key[KEY_MAX];
	struct weftd_job *j = NULL;
	int kl = snprintf(key, sizeof(key), "cron:%s:%" PRId64, s->name, slot);
	struct weftd_submit_opts o = { .key = key, .key_len = (size_t)kl };
	int r = weftd_engine_submit(p->e, pipeline, s->payload, s->payload_len, getuid(), &o, &j);

	if (r >= 0) {
		weftd_info("schedule %s/%s: slot %" PRId64 " %s job %s", pipeline, s->name, slot,
			   r == 1 ? "already has" : "submitted", weftd_job_info(j)->id);
		weftd_job_unref(j);
		return 0;
	}
	if (r != -ESHUTDOWN)
		weftd_warn("schedule %s/%s: slot %" PRId64 " not fired: %s", pipeline, s->name, slot,
			   r == -EAGAIN ? "the pipeline's queue is full" : strerror(-r));
	return r;
}

/* Fire what is due; returns the earliest next slot (INT64_MAX: none). */
static int64_t fire_due(struct eng_periodic *p)
{
	int64_t now = wall_s(), soonest = INT64_MAX;
	bool fired = false;

	weft_mutex_lock(NULL, &p->lock);
	for (size_t i = 0; i < p->n; i++) {
		struct entry *x = &p->v[i];
		if (x->next <= now) {
			/* late (a long pause, a catch-up): the last slot due, once */
			int64_t slot = x->next;
			weftd_cron_last(&x->cfg->cron, &x->cfg->tz, x->next - 1, now, &slot);
			const char *pipe = x->pipeline;
			const struct weftd_schedule *s = x->cfg;
			/* the lock is not held across the submit (it may park for the journal);
			 * a reload meanwhile rebuilds v: look the entry up again after */
			weft_mutex_unlock(&p->lock);
			int r = fire(p, pipe, s, slot);
			weft_mutex_lock(NULL, &p->lock);
			/* a slot that could not fire (queue full, draining) is skipped, not
			 * retried: the next one comes; only a fired one counts as last */
			if ((x = find(p->v, p->n, pipe, s->name)) && strcmp(x->cfg->expr, s->expr) == 0) {
				if (r == 0 && slot > x->last) {
					x->last = slot;
					fired = true;
				}
				x->next = next_after(x->cfg, now > slot ? now : slot);
			}
			/* a reload meanwhile may have rebuilt v: look at index i again (entries
			 * before it that became due are seen at the next call) */
			i--;
			continue;
		}
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].next < soonest)
			soonest = p->v[i].next;
	struct state_io io = { p, NULL, 0 };
	if (fired && p->state_path)
		io.buf = state_text(p, &io.len);
	weft_mutex_unlock(&p->lock);
	if (io.buf) {
		int r = weft_blocking(state_write, &io);
		if (r < 0)
			weftd_warn("schedule state %s: %s (a restart may fire a slot again or miss a catch-up)",
				   p->state_path, strerror(-r));
		free(io.buf);
	}
	return soonest;
}

static void periodic_main(void *arg)
{
	struct eng_periodic *p = arg;
	struct weftd_engine *e = p->e;

	while (!weft_ctx_err(e->ctx)) {
		int64_t next = fire_due(p);
		weft_ctx *until = NULL;
		/* sleep to the slot (wall clock), or until a reload or the stop */
		int64_t left = next == INT64_MAX ? MAX_NAP : next * WEFT_SEC - wall_ns();
		if (left <= 0)
			continue;
		if (left > MAX_NAP)
			left = MAX_NAP;
		if (weft_ctx_with_timeout(e->ctx, left, &until) < 0) {
			weft_sleep(e->ctx, WEFT_SEC / 10); /* out of memory: try again shortly */
			continue;
		}
		weft_mutex_lock(NULL, &p->lock);
		while (!p->dirty && weft_cond_wait(until, &p->changed, &p->lock) == 0)
			;
		p->dirty = false;
		weft_mutex_unlock(&p->lock);
		weft_ctx_unref(until);
	}
	weft_wg_done(&e->wg);
}

int weftd_engine_start_schedules(struct weftd_engine *e)
{
	const struct weftd_config *cfg = weftd_engine_config(e);
	struct eng_periodic *p = calloc(1, sizeof(*p));
	int64_t now = wall_s();
	int r;

	if (!p)
		return -ENOMEM;
	p->e = e;
	weft_mutex_init(&p->lock);
	weft_cond_init(&p->changed);
	if (!(p->v = build(cfg, NULL, 0, now, &p->n)))
		goto oom;
	if (e->jn && asprintf(&p->state_path, "%s/%s", cfg->daemon.state_dir, STATE_FILE) < 0) {
		p->state_path = NULL;
		goto oom;
	}
	if (p->state_path) {
		struct state_io io = { p, NULL, 0 };
		if ((r = weft_blocking(state_read, &io)) < 0)
			weftd_warn("schedule state %s: %s: starting without it", p->state_path,
				   r == -EINVAL ? "not a schedules file" : strerror(-r));
	}
	for (size_t i = 0; i < p->n; i++) {
		struct entry *x = &p->v[i];
		int64_t missed;
		x->next = next_after(x->cfg, now > x->last ? now : x->last);
		/* catch_up: the last slot missed while down fires now, once */
		if (x->cfg->catch_up && x->last &&
		    weftd_cron_last(&x->cfg->cron, &x->cfg->tz, x->last, now, &missed) == 0) {
			weftd_notice("schedule %s/%s: catching up slot %" PRId64 " (missed while down; last fired %" PRId64 ")",
				     x->pipeline, x->cfg->name, missed, x->last);
			x->next = missed;
		}
	}
	e->per = p;
	weft_wg_add(&e->wg, 1);
	r = weft_go_opts(periodic_main, p, &(struct weft_go_opts){ .name = "periodic" });
	if (r < 0)
		weft_wg_done(&e->wg);
	return r;
oom:
	eng_periodic_free(p);
	return -ENOMEM;
}

void eng_periodic_reload(struct weftd_engine *e)
{
	struct eng_periodic *p = e->per;
	struct entry *v;
	size_t n;

	if (!p)
		return;
	weft_mutex_lock(NULL, &p->lock);
	v = build(weftd_engine_config(e), p->v, p->n, wall_s(), &n);
	if (v) {
		free(p->v);
		p->v = v;
		p->n = n;
	} else {
		weftd_err("reload: schedules unchanged: out of memory");
	}
	p->dirty = true;
	weft_cond_signal(&p->changed);
	weft_mutex_unlock(&p->lock);
}

int weftd_engine_schedules(struct weftd_engine *e, const char *pipeline,
			   void (*fn)(const struct weftd_schedule_info *s, void *arg), void *arg)
{
	struct eng_periodic *p = e->per;
	struct weftd_pipe *pp;

	if (pipeline) {
		if (!(pp = eng_find_pipe(e, pipeline)))
			return -ENOENT;
		eng_pipe_unref(pp);
	}
	if (!p)
		return 0;
	weft_mutex_lock(NULL, &p->lock);
	for (size_t i = 0; i < p->n; i++) {
		const struct entry *x = &p->v[i];
		if (pipeline && strcmp(pipeline, x->pipeline) != 0)
			continue;
		struct weftd_schedule_info in = {
			.pipeline = x->pipeline, .cfg = x->cfg,
			.next_ms = x->next == INT64_MAX ? 0 : x->next * 1000, .last_ms = x->last * 1000,
		};
		fn(&in, arg);
	}
	weft_mutex_unlock(&p->lock);
	return 0;
}

void eng_periodic_free(struct eng_periodic *p)
{
	if (!p)
		return;
	free(p->v);
	free(p->state_path);
	free(p);
}
