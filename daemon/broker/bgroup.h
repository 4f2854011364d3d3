/* SPDX-License-Identifier: MIT */
/* bgroup.h — group commit for the broker: the items many fibers hand in at about the
 * same time go to Redis in one script call, as a journal's group commit does with fsync.
 *
 * A fiber calls bgroup_run with its item. If fewer than max_active calls are in flight it
 * leads: it takes its own item and up to max_batch - 1 (and max_bytes) of those queued,
 * runs flush once for them all, hands every one the result, and passes the lead to the
 * oldest item still queued (that fiber leads the next call with what queued meanwhile).
 * Otherwise it queues and parks until a leader has flushed its item or hands it the lead.
 * So under load each round trip carries what arrived during the previous one, and alone
 * an item goes at once (no timer, no added latency). Nobody leads twice in a row: a
 * fiber waits for no more than its own call and those ahead of it.
 */
#ifndef WEFTD_BROKER_BGROUP_H
#define WEFTD_BROKER_BGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <weft/weft.h>

#include "util/spin.h"

/* One fiber's part of a call; caller storage (its stack), the caller's fields after it. */
struct bgitem {
	struct bgitem *next;
	size_t bytes;                  /* its share of the call's size (max_bytes) */
	weft_event ev;
	int result;
};

struct bgroup {
	weftd_spin lock;
	struct bgitem *head, *tail;    /* queued, oldest first */
	size_t queued, queued_bytes;   /* their count and bytes: a leader that may take them
	                                  all unhooks the list whole, the lock held briefly */
	unsigned active;               /* calls in flight (leaders) */
	unsigned max_active;
	size_t max_batch, max_bytes;
};

/* Send items[0..n) in one call: the result every one of them gets. May park. */
typedef int (*bgroup_flush_fn)(void *arg, struct bgitem **items, size_t n);

void bgroup_init(struct bgroup *g, unsigned max_active, size_t max_batch, size_t max_bytes);
/* Have it (set its bytes first) sent by flush(arg, ...) with others: flush's result for
 * the call that carried it, or -ENOMEM (nothing sent). Every caller of one group must
 * pass the same flush and arg. Parks until then. Fiber only. */
int bgroup_run(struct bgroup *g, struct bgitem *it, bgroup_flush_fn flush, void *arg);

#endif
