/* SPDX-License-Identifier: MIT */
/* prof_wait.h — the block and mutex profiles' tables, shared by prof_wait.c (the hook that
 * records) and prof_wait_out.c (the profile writer). Private to lib/. */
#ifndef WEFT_PROF_WAIT_H
#define WEFT_PROF_WAIT_H

#include "internal.h"

/* ---- block and mutex tables (prof_wait.c records, prof_wait_out.c writes) ------------ */
#define WEFT__WAIT_SITES 4096 /* wait sites kept per profile; more are counted as dropped */
struct weft__wait_site {
	uint64_t hash;                 /* 0: a free slot */
	int64_t count, delay_ns;
	uint8_t depth;
	uintptr_t pcs[WEFT__PROF_DEPTH];
};
struct weft__wait_table {
	weft__lock lock;
	struct weft__wait_site *v;     /* WEFT__WAIT_SITES slots, open addressing; NULL until on */
	size_t n;
	int64_t dropped_count, dropped_ns;
};
extern struct weft__wait_table weft__block_tab, weft__mutex_tab;

#endif
