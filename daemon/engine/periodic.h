/* SPDX-License-Identifier: MIT */
/* periodic.h — the periodic jobs (pipelines' schedule: entries), private to daemon/engine/;
 * the public side is weftd_engine_start_schedules / weftd_engine_schedules (engine.h).
 *
 * One fiber sleeps until the earliest entry's next slot, then submits each due entry's
 * payload as an ordinary job of its pipeline with the idempotency key
 * "cron:<entry>:<slot, Unix seconds>", so a slot that reaches submit twice (a reload, a
 * restart while its job is retained) makes one job. The last fired slot of each entry is
 * also written to state_dir/schedules after each fire (with durability on: state_dir is
 * then the daemon's own), which is what a restart reads: it needs no retained job, so a
 * short retention cannot make a slot fire twice, and catch_up knows what was missed.
 * Without durability nothing survives a restart: the first slot after the start fires,
 * none before it (catch_up has nothing to go on). */
#ifndef WEFTD_ENGINE_PERIODIC_H
#define WEFTD_ENGINE_PERIODIC_H

struct weftd_engine;
struct eng_periodic;

/* The config changed (weftd_engine_reload, after the swap): entries are matched by
 * pipeline and name; a kept entry keeps its last fired slot (and its next one when its
 * expression and zone are unchanged), a new one starts from now, a removed one is
 * dropped. Wakes the fiber. No-op before weftd_engine_start_schedules. Fiber only. */
void eng_periodic_reload(struct weftd_engine *e);
/* Free (after weftd_engine_stop ended the fiber). NULL ok. */
void eng_periodic_free(struct eng_periodic *p);

#endif
