/* SPDX-License-Identifier: MIT */
/* bgroup.c — group commit (see bgroup.h). */
#include <errno.h>
#include <stdlib.h>

#include "broker/bgroup.h"

#define BG_DONE 0                  /* event values: the item went (result set) */
#define BG_LEAD 1                  /* you lead the next call */

void bgroup_init(struct bgroup *g, unsigned max_active, size_t max_batch, size_t max_bytes)
{
	*g = (struct bgroup){ .max_active = max_active ? max_active : 1,
			      .max_batch = max_batch ? max_batch : 1, .max_bytes = max_bytes };
}

int bgroup_run(struct bgroup *g, struct bgitem *it, bgroup_flush_fn flush, void *arg)
{
	bool lead;

	it->next = NULL;
	it->result = 0;
	weft_event_init(&it->ev);
	weftd_spin_lock(&g->lock);
	if ((lead = g->active < g->max_active)) {
		g->active++;
	} else {
		if (g->tail)
			g->tail->next = it;
		else
			g->head = it;
		g->tail = it;
		g->queued++;
		g->queued_bytes += it->bytes;
	}
	weftd_spin_unlock(&g->lock);
	/* a follower parks without a ctx: a leader holds its item until the call is over */
	if (!lead && weft_event_wait(NULL, &it->ev) == BG_DONE)
		return it->result;
	/* leading (the active count is ours): this item plus the oldest queued */
	struct bgitem **items = malloc(g->max_batch * sizeof(*items));
	size_t n = 0, bytes = it->bytes;
	if (items) {
		items[n++] = it;
		weftd_spin_lock(&g->lock);
		if (g->queued < g->max_batch && (!g->max_bytes || bytes + g->queued_bytes <= g->max_bytes)) {
			struct bgitem *k = g->head; /* all of them: walked outside the lock */
			g->head = g->tail = NULL;
			g->queued = g->queued_bytes = 0;
			weftd_spin_unlock(&g->lock);
			for (; k; k = k->next)
				items[n++] = k;
		} else {
			while (g->head && n < g->max_batch && (!g->max_bytes || bytes + g->head->bytes <= g->max_bytes)) {
				struct bgitem *k = g->head;
				if (!(g->head = k->next))
					g->tail = NULL;
				g->queued--;
				g->queued_bytes -= k->bytes;
				bytes += k->bytes;
				items[n++] = k;
			}
			weftd_spin_unlock(&g->lock);
		}
		int r = flush(arg, items, n);
		it->result = r;
		for (size_t i = 1; i < n; i++) {
			items[i]->result = r;
			weft_event_set(&items[i]->ev, BG_DONE);
		}
		free(items);
	} else {
		it->result = -ENOMEM;
	}
	/* hand the lead on, or give the slot back */
	weftd_spin_lock(&g->lock);
	struct bgitem *next = g->head;
	if (next) {
		if (!(g->head = next->next))
			g->tail = NULL;
		g->queued--;
		g->queued_bytes -= next->bytes;
	} else {
		g->active--;
	}
	weftd_spin_unlock(&g->lock);
	if (next)
		weft_event_set(&next->ev, BG_LEAD);
	return it->result;
}
