/* SPDX-License-Identifier: MIT */
/* weft/weft.h — the whole of libweft: Go's concurrency model in C.
 * Link with -lweft (pkg-config weft). See each module's header. */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

/* weft/io.h first: it asks for POSIX.1-2008 (idtype_t, siginfo_t) when the program chose
 * no feature macro, which works only before the first system header (see there). */
#include <weft/io.h>
#include <weft/sched.h>
#include <weft/ctx.h>
#include <weft/clock.h>
#include <weft/wg.h>
#include <weft/event.h>
#include <weft/chan.h>
#include <weft/sync.h>
#include <weft/group.h>
#include <weft/retry.h>
#include <weft/ratelimit.h>
#include <weft/breaker.h>
#include <weft/heartbeat.h>
#include <weft/patterns.h>
#include <weft/pubsub.h>
#include <weft/prof.h>
#include <weft/trace.h>

#endif
