/* SPDX-License-Identifier: MIT */
/* profile.h — weftd's profiles (libweft's weft/prof.h, jemalloc's heap profile): what the
 * `profile` op (PROTOCOL.md) and GET /debug/pprof/... (http.h, with daemon.http.debug)
 * answer, the same bytes both ways.
 *
 *   cpu     sampled at 100 Hz on every proc for `seconds` (default 30); one at a time in
 *           the process (a second is refused: conflict, HTTP 409)
 *   heap    jemalloc's heap profile (its "heap_v2" text, which `go tool pprof` reads), when
 *           jemalloc was built with --enable-prof and weftd started with
 *           MALLOC_CONF=prof:true; otherwise an error that says which is missing
 *   fibers  every fiber's stack (debug 0: pprof, 1: grouped text, 2: per fiber text)
 *   block   time parked per wait site, every wait recorded for `seconds` (default 5)
 *   mutex   time waited per lock site, likewise; block and mutex share one window at a
 *           time (a second is refused like a second CPU profile)
 * Binary profiles are gzipped pprof protobuf; every answer is at most
 * WEFTD_PROFILE_BYTES_MAX bytes (a larger one is refused, not cut). */
#ifndef WEFTD_OBS_PROFILE_H
#define WEFTD_OBS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <weft/weft.h>

#include "proto/buf.h"
#include "proto/request.h"

#define WEFTD_PROFILE_BYTES_MAX (32u << 20)
#define WEFTD_PROFILE_CPU_DEFAULT 30  /* seconds, as Go's /debug/pprof/profile */
#define WEFTD_PROFILE_WAITS_DEFAULT 5

/* A profile taken. */
struct weftd_profile {
	void *data;                    /* malloc'd */
	size_t len;
	bool text;                     /* text (debug >= 1, heap), else gzipped pprof */
};

/* Claim the right to take a profile of args' kind now, without parking (the HTTP fiber
 * asks before it suspends a request): 0, or -EBUSY when a CPU profile (or a block/mutex
 * window) already runs. A claim is released by weftd_profile_take. */
int weftd_profile_claim(const struct weftd_profile_args *args);
/* Give a claim back without taking the profile. */
void weftd_profile_release(const struct weftd_profile_args *args);
/* Take the claimed profile: parks for its seconds (cpu, block, mutex), or until ctx is done
 * (then the profile covers the time so far). Fiber only. Returns 0 with *ret filled, or a
 * negative errno with err filled: -EINVAL (bad args), -EOPNOTSUPP (heap profiling not
 * available: err says why), -E2BIG (larger than WEFTD_PROFILE_BYTES_MAX), -ENOMEM, -EIO. */
int weftd_profile_take(const struct weftd_profile_args *args, weft_ctx *ctx,
		       struct weftd_profile *ret, char *err, size_t errlen);

/* The `profile` op (server.h's weftd_op_handler_args; arg unused): claims, takes, answers
 * {"id":..,"ok":true,"kind":..,"format":"pprof"|"text","data_b64":..|"text":..}; a
 * refused claim is a `conflict` error line. Fiber only; parks for the profile's seconds. */
int weftd_profile_answer(void *arg, const struct weftd_request *req, const char *id,
			 struct weftd_buf *out, char *err, size_t errlen);

#endif
