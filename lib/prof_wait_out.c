/* SPDX-License-Identifier: MIT */
/* prof_wait_out.c — the block and mutex profiles written as pprof (weft/prof.h). Apart from
 * the hook (prof_wait.c) so that a program linking libweft.a statically without asking for
 * profiles pulls in neither the pprof writer nor zlib. */
#include <stdlib.h>
#include <string.h>

#include "prof_wait.h"
#include "proc.h"

#define table weft__wait_table
#define site weft__wait_site
#define block_tab weft__block_tab
#define mutex_tab weft__mutex_tab

static int write_table(struct table *t, void **ret, size_t *ret_len)
{
	static const char *const types[][2] = { { "contentions", "count" }, { "delay", "nanoseconds" } };
	struct weft__pprof *pp = weft__pprof_new(types, 2, "contentions", "count", 1);
	struct site *copy = NULL;
	size_t n = 0;
	int64_t dc, dn;

	if (!pp)
		return -ENOMEM;
	weft__lock_acquire(&t->lock);
	if (t->v && t->n && (copy = malloc(t->n * sizeof(*copy))))
		for (size_t i = 0; i < WEFT__WAIT_SITES; i++)
			if (t->v[i].hash)
				copy[n++] = t->v[i];
	dc = t->dropped_count;
	dn = t->dropped_ns;
	bool oom = t->v && t->n && !copy;
	weft__lock_release(&t->lock);
	if (oom) {
		weft__pprof_free(pp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t v[2] = { copy[i].count, copy[i].delay_ns };
		weft__pprof_sample(pp, copy[i].pcs, copy[i].depth, NULL, v, NULL, 0);
	}
	if (dc) {
		int64_t v[2] = { dc, dn };
		weft__pprof_sample(pp, NULL, 0, "(sites dropped)", v, NULL, 0);
	}
	free(copy);
	int r = weft__pprof_finish(pp, ret, ret_len);
	return r < 0 ? r : (int)n;
}

int weft_prof_block(void **ret_data, size_t *ret_len)
{
	if (!ret_data || !ret_len)
		return -EINVAL;
	return write_table(&block_tab, ret_data, ret_len);
}

int weft_prof_mutex(void **ret_data, size_t *ret_len)
{
	if (!ret_data || !ret_len)
		return -EINVAL;
	return write_table(&mutex_tab, ret_data, ret_len);
}

static void table_reset(struct table *t)
{
	weft__lock_acquire(&t->lock);
	if (t->v)
		memset(t->v, 0, WEFT__WAIT_SITES * sizeof(*t->v));
	t->n = 0;
	t->dropped_count = t->dropped_ns = 0;
	weft__lock_release(&t->lock);
}

void weft_prof_waits_reset(void)
{
	table_reset(&block_tab);
	table_reset(&mutex_tab);
}
