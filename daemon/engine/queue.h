/* SPDX-License-Identifier: MIT */
/* queue.h — a stage's queue of jobs: bounded, higher priority first, FIFO within one
 * priority, with a pause.
 *
 * What a weft_chan of job pointers was, plus the order: one FIFO ring per priority in use
 * (WEFTD_PRIORITY_MIN..MAX, grown on demand) and a bitmap of the non-empty ones, so a put
 * and a get are O(1) whatever the mix of priorities. A worker parked on an empty queue
 * is handed the next job directly (no second lock round); a putter parked on a full one
 * (the previous stage's worker: backpressure) has its job admitted by the get that made
 * room, in its priority's order. While paused, puts still fill the queue up to its bound
 * but gets park until resumed. Closing wakes everyone: puts answer -EPIPE, gets drain
 * what is left (paused or not) and then answer -EPIPE.
 *
 * Thread safety: every function may be called from any fiber on any proc; a short
 * spinlock guards the queue and nothing parks while holding it. The queue holds the
 * caller's reference on each job it holds (it never refs or unrefs).
 */
#ifndef WEFTD_ENGINE_QUEUE_H
#define WEFTD_ENGINE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <weft/weft.h>

#include "jobs/job.h"

struct eng_queue;

/* A queue for up to cap jobs (cap >= 1). Returns 0 or -ENOMEM. */
int eng_queue_new(size_t cap, struct eng_queue **ret);
/* Free q (nobody may use it any more; jobs still in it are not unref'd: the caller's).
 * NULL ok; returns NULL. */
struct eng_queue *eng_queue_free(struct eng_queue *q);

/* Add j (its priority: weftd_job_info(j)->priority). Returns 0; -EAGAIN when full and
 * !block; -EPIPE when closed (also while parked); ctx's error (block: parked for room
 * until ctx was done; j not added). Parks only when block (fiber only). */
int eng_queue_put(struct eng_queue *q, struct weftd_job *j, bool block, weft_ctx *ctx);
/* Take the highest-priority, oldest job into *ret, parking while the queue is empty or
 * paused. Returns 0, or -EPIPE once closed and drained. Fiber only. */
int eng_queue_get(struct eng_queue *q, struct weftd_job **ret);
/* Take the next job without parking (paused or not): 0 or -EAGAIN. For a drain's
 * sweep and tests. */
int eng_queue_try_get(struct eng_queue *q, struct weftd_job **ret);
/* Refuse puts from now on and let gets drain. Returns 0, or -EPIPE if closed already. */
int eng_queue_close(struct eng_queue *q);
/* Pause (gets park) or resume (parked gets wake up). */
void eng_queue_pause(struct eng_queue *q, bool paused);
/* Jobs in q now (a snapshot). */
size_t eng_queue_len(struct eng_queue *q);

#endif
