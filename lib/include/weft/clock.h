/* SPDX-License-Identifier: MIT */
/* weft/clock.h — time: the monotonic clock and fiber sleeps.
 * Timers live in a per-proc heap and wake the proc's ring at the earliest
 * deadline; 100,000 sleeping fibers cost O(log n) each. */
#ifndef WEFT_CLOCK_H
#define WEFT_CLOCK_H

#include <stdint.h>
#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_NSEC  INT64_C(1)
#define WEFT_USEC  INT64_C(1000)
#define WEFT_MSEC  INT64_C(1000000)
#define WEFT_SEC   INT64_C(1000000000)

/* CLOCK_MONOTONIC in nanoseconds. Callable anywhere. */
WEFT_EXPORT int64_t weft_now(void);

/* Park the fiber for ns nanoseconds (<= 0 just yields). Fiber only.
 * Returns 0, or ctx's error if ctx is done first. */
WEFT_EXPORT int weft_sleep(weft_ctx *ctx, int64_t ns);
/* Park until the monotonic time deadline_ns. */
WEFT_EXPORT int weft_sleep_until(weft_ctx *ctx, int64_t deadline_ns);

#ifdef __cplusplus
}
#endif
#endif
