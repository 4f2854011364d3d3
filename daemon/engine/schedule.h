/* SPDX-License-Identifier: MIT */
/* schedule.h — a pipeline's scheduled jobs (delay, run_at) and its retrying ones (a failed
 * attempt's backoff, holding no worker; their stage recorded in the job, to which they go
 * back when due, keeping their attempt count): a min-heap of due times and one timer
 * fiber that sleeps until the earliest and is woken when an earlier one arrives (no
 * polling). A due job moves into the first stage's queue, a retrying one into its stage's
 * (a blocking put: a full queue delays it; a paused pipeline holds it). One schedule per
 * pipeline rather than per stage: one timer fiber and one bound for all of its stages. Scheduled jobs hold no worker; the
 * schedule is bounded (a full one answers busy) and holds one reference on each job.
 *
 * Thread safety: any fiber on any proc; a weft_mutex guards the heap (the timer parks on
 * a weft_cond under it). Due times are Unix ms (the wall clock): a job due at 14:00
 * runs at 14:00 even if the clock was stepped meanwhile (re-read at every wake-up).
 */
#ifndef WEFTD_ENGINE_SCHEDULE_H
#define WEFTD_ENGINE_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobs/job.h"

struct eng_sched;
struct weftd_pipe;

/* A schedule of up to cap jobs. 0 or -ENOMEM. */
int eng_sched_new(size_t cap, struct eng_sched **ret);
/* Free s after its timer ended (jobs still held are unref'd). NULL ok; returns NULL. */
struct eng_sched *eng_sched_free(struct eng_sched *s);

/* Hold j (scheduled) until due_ms, taking a reference; force: past the bound (replay,
 * a reload moving jobs over). Returns 0, -EAGAIN (full), -EPIPE (closed), -ENOMEM. */
int eng_sched_add(struct eng_sched *s, struct weftd_job *j, int64_t due_ms, bool force);
/* eng_sched_add into p's schedule of j retrying stage (an index of p): counted in that
 * stage's retry_held while held, and bounded by its queue setting (force: past it), not
 * by the schedule's. Also -EINVAL: no such stage. */
int eng_sched_add_retry(struct weftd_pipe *p, uint32_t stage, struct weftd_job *j, int64_t due_ms,
			bool force);
/* Take j out of whichever schedule holds it (a cancel), dropping that reference.
 * Returns true if one held it. */
bool eng_sched_remove(struct weftd_job *j);
/* Take the earliest job if it is due at now_ms (Unix ms): 0 with *ret (the schedule's
 * reference), or -EAGAIN. (The timer's step; tests drive it by hand.) */
int eng_sched_take_due(struct eng_sched *s, int64_t now_ms, struct weftd_job **ret);
/* Jobs held now (a snapshot). */
size_t eng_sched_len(struct eng_sched *s);
/* Pause (due jobs wait) or resume (the timer looks again). */
void eng_sched_pause(struct eng_sched *s, bool paused);
/* Stop the timer; the jobs left are handed to fn(job, arg) one by one (fn takes the
 * schedule's reference), or dropped when fn is NULL. Idempotent. */
void eng_sched_close(struct eng_sched *s, void (*fn)(struct weftd_job *j, void *arg), void *arg);

/* The timer of p's schedule: moves due jobs into p's first stage until closed. Run it as
 * a fiber holding a reference on p and counted in the engine's wait group (it releases
 * both). */
void eng_sched_main(void *pipe);

#endif
