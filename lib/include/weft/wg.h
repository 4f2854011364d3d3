/* SPDX-License-Identifier: MIT */
/* weft/wg.h — wait groups (Go's sync.WaitGroup). Fiber-aware: wait parks
 * the fiber, never the thread. Caller-owned storage: no allocation. */
#ifndef WEFT_WG_H
#define WEFT_WG_H

#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Layout is public only so a wg can live in caller storage; use the functions. */
typedef struct weft_wg {
	long count;          /* outstanding work; changed atomically */
	int lock;            /* internal spinlock */
	void *head, *tail;   /* internal: parked fibers */
} weft_wg;

#define WEFT_WG_INIT { 0, 0, 0, 0 }
WEFT_EXPORT void weft_wg_init(weft_wg *wg);
/* Add delta (may be negative) to the counter; reaching 0 wakes all waiters.
 * Returns -EINVAL (and leaves the counter) if it would go negative. */
WEFT_EXPORT int weft_wg_add(weft_wg *wg, long delta);
WEFT_EXPORT int weft_wg_done(weft_wg *wg);
/* Park until the counter is 0. Returns 0 or ctx's error. Fiber only. */
WEFT_EXPORT int weft_wg_wait(weft_ctx *ctx, weft_wg *wg);

#ifdef __cplusplus
}
#endif
#endif
