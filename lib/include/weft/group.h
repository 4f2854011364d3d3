/* SPDX-License-Identifier: MIT */
/* weft/group.h — error groups (golang.org/x/sync/errgroup).
 *
 * A group runs member fibers under a context derived from a parent. The
 * first member to return a negative errno cancels the group's context with
 * that error (weft_ctx_cancel_err), so the other members, if they block on
 * the group's context, return it; weft_group_wait() parks until every
 * member has ended and returns that first error.
 *
 *   weft_group *g;
 *   weft_group_new(ctx, &g);
 *   weft_group_go(g, fetch, &urls[i]);          // int fetch(weft_ctx *, void *)
 *   int err = weft_group_wait(g);
 *   weft_group_free(g);
 */
#ifndef WEFT_GROUP_H
#define WEFT_GROUP_H

#include <weft/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_group weft_group;
/* A member: 0 (or positive) for success, a negative errno for failure. ctx
 * is the group's context (borrowed, valid until the member returns). */
typedef int (*weft_group_fn)(weft_ctx *ctx, void *arg);

/* Create a group whose context derives from parent (NULL = background).
 * Returns 0 with *ret owned by the caller, -EINVAL or -ENOMEM. */
WEFT_EXPORT int weft_group_new(weft_ctx *parent, weft_group **ret);
/* The group's context, borrowed: valid until weft_group_free (take a
 * reference with weft_ctx_ref to keep it longer). Done after the first
 * error or once weft_group_wait has returned. */
WEFT_EXPORT weft_ctx *weft_group_ctx(weft_group *g);
/* Allow at most n members to run at once (n <= 0: no limit, the default).
 * Returns 0, -EINVAL, or -EBUSY while members are running (Go panics). */
WEFT_EXPORT int weft_group_set_limit(weft_group *g, long n);
/* Spawn fn(group ctx, arg) as a member fiber; at the limit, park until a
 * member ends. Returns 0, -ENOMEM (fn not run), -EINVAL. Fiber only. */
WEFT_EXPORT int weft_group_go(weft_group *g, weft_group_fn fn, void *arg);
/* Same, but never parks: -EAGAIN at the limit (Go's TryGo returns false). */
WEFT_EXPORT int weft_group_try_go(weft_group *g, weft_group_fn fn, void *arg);
/* Park until every member has ended, cancel the group's context (as Go's
 * Wait does), and return the first member error, or 0. Fiber only (-EPERM
 * elsewhere); may be called more than once. */
WEFT_EXPORT int weft_group_wait(weft_group *g);
/* Release the group (NULL ok); returns NULL. Never blocks, never refuses:
 * if members are still running (no wait, or wait returned early), the
 * group's context is cancelled and they end in the background, the last one
 * releasing the group. The group's context and handle are invalid afterwards.
 * Any thread. */
WEFT_EXPORT weft_group *weft_group_free(weft_group *g);

#ifdef __cplusplus
}
#endif
#endif
