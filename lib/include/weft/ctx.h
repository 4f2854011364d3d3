/* SPDX-License-Identifier: MIT */
/* weft/ctx.h — contexts: cancellation trees, deadlines and values (Go's context).
 *
 * A context is done when it is cancelled, its deadline passes, or its parent
 * is done; done-ness flows only from parent to children. Every blocking call
 * of libweft takes a context first and returns its error promptly once the
 * context is done: -ECANCELED (cancelled) or -ETIMEDOUT (deadline). NULL is
 * the background context: never done, no deadline, no values.
 *
 * Contexts are reference counted. A derived context holds a reference on its
 * parent; the caller owns one reference to each context it creates and drops
 * it with weft_ctx_unref(). Cancelling releases the context's resources
 * (timer, place in the parent) at once; unref of a live derived context
 * cancels it first, as Go's "defer cancel()" would. All functions are safe
 * from any fiber on any proc and from plain threads.
 */
#ifndef WEFT_CTX_H
#define WEFT_CTX_H

#include <stdint.h>
#include <weft/sched.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_ctx weft_ctx;

/* Derive a cancellable child of parent (NULL = background).
 * Returns 0 with *ret owning one reference, or -ENOMEM. */
WEFT_EXPORT int weft_ctx_with_cancel(weft_ctx *parent, weft_ctx **ret);
/* Same, done at the absolute monotonic time deadline_ns (weft_now() clock),
 * or earlier if the parent's deadline is earlier. */
WEFT_EXPORT int weft_ctx_with_deadline(weft_ctx *parent, int64_t deadline_ns, weft_ctx **ret);
WEFT_EXPORT int weft_ctx_with_timeout(weft_ctx *parent, int64_t timeout_ns, weft_ctx **ret);

/* A key is the address of a caller-owned object (typed keys without strings):
 *   static const weft_ctx_key request_id_key;  ... &request_id_key
 * Values are borrowed pointers: the caller keeps them alive as long as the ctx. */
typedef struct { char unused; } weft_ctx_key;
WEFT_EXPORT int weft_ctx_with_value(weft_ctx *parent, const weft_ctx_key *key, void *value,
				    weft_ctx **ret);
/* The value for key on ctx or its nearest ancestor, or NULL. */
WEFT_EXPORT void *weft_ctx_value(const weft_ctx *ctx, const weft_ctx_key *key);

/* Cancel ctx and all its descendants with -ECANCELED (Go's cancel()).
 * Idempotent; a no-op on NULL and on contexts created by with_value. */
WEFT_EXPORT void weft_ctx_cancel(weft_ctx *ctx);
/* Cancel with a chosen error (negative errno), e.g. a group's first error. */
WEFT_EXPORT void weft_ctx_cancel_err(weft_ctx *ctx, int err);

/* 0 while ctx is live, else -ECANCELED / -ETIMEDOUT (or the cancel error). Never blocks. */
WEFT_EXPORT int weft_ctx_err(const weft_ctx *ctx);
/* The effective deadline (monotonic ns), or INT64_MAX for none. */
WEFT_EXPORT int64_t weft_ctx_deadline(const weft_ctx *ctx);
/* Block the fiber until ctx is done; returns its error. NULL blocks forever
 * (returns only if... never: use a real context). Fiber only. */
WEFT_EXPORT int weft_ctx_wait(weft_ctx *ctx);

WEFT_EXPORT weft_ctx *weft_ctx_ref(weft_ctx *ctx);
/* Drop a reference (NULL is fine); returns NULL for `ctx = weft_ctx_unref(ctx)`. */
WEFT_EXPORT weft_ctx *weft_ctx_unref(weft_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
