/* SPDX-License-Identifier: MIT */
/* weft/pubsub.h — publish/subscribe broker over channels.
 *
 * Publishers send an element to a topic; every subscriber of that topic (and
 * every subscriber to all topics) receives a copy on its own buffered
 * channel. What happens when a subscriber's buffer is full is chosen per
 * subscriber:
 *   DROP_NEWEST  the new value is dropped for that subscriber (counted);
 *   DROP_OLDEST  the oldest buffered value is dropped to make room (counted);
 *   BLOCK        the publisher parks until there is room (backpressure: one
 *                slow subscriber slows every publisher of its topic).
 * Elements have one fixed size per broker. Thread-safe: any fibers on any
 * procs may publish, subscribe and unsubscribe concurrently.
 */
#ifndef WEFT_PUBSUB_H
#define WEFT_PUBSUB_H

#include <stddef.h>
#include <stdint.h>
#include <weft/chan.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_broker weft_broker;
typedef struct weft_sub weft_sub;

enum weft_drop { WEFT_DROP_NEWEST = 0, WEFT_DROP_OLDEST, WEFT_DROP_BLOCK };

/* elem_size 1..65536. Returns 0 with *ret owned by the caller, -EINVAL, -ENOMEM. */
WEFT_EXPORT int weft_broker_new(size_t elem_size, weft_broker **ret);
/* Close every subscriber's channel, free the subscriptions and the broker
 * (NULL ok; returns NULL). No publish or subscribe may run concurrently.
 * A consumer that may outlive the broker holds its own reference to its
 * channel (weft_chan_ref). */
WEFT_EXPORT weft_broker *weft_broker_free(weft_broker *b);

/* Subscribe to topic (copied; NULL = every topic) with a buffer of cap >= 1
 * elements and a drop policy. Returns 0 with *ret (owned by the broker until
 * weft_sub_cancel or weft_broker_free), -EINVAL, -ENOMEM, or ctx's error.
 * May park briefly (waits for running publishes). Fiber only. */
WEFT_EXPORT int weft_broker_subscribe(weft_ctx *ctx, weft_broker *b, const char *topic, size_t cap,
				      enum weft_drop policy, weft_sub **ret);
/* End a subscription: its channel is closed (the consumer drains what is
 * buffered, then sees -EPIPE) and the subscription freed. A publisher parked
 * on it (BLOCK) is released. Returns 0, -EINVAL, or ctx's error. Fiber only. */
WEFT_EXPORT int weft_sub_cancel(weft_ctx *ctx, weft_sub *s);
/* The channel to receive on (borrowed: valid until cancel/free). */
WEFT_EXPORT weft_chan *weft_sub_chan(weft_sub *s);
/* Values dropped for this subscriber so far (both drop policies). */
WEFT_EXPORT uint64_t weft_sub_dropped(weft_sub *s);

/* Copy *elem to every subscriber of topic (non-NULL). Returns the number of
 * subscribers that got it (dropped-newest ones excluded), or ctx's error if
 * ctx ends while parked on a BLOCK subscriber (subscribers before it got the
 * value), -EINVAL. Parks only for BLOCK subscribers. Fiber only. */
WEFT_EXPORT int weft_broker_publish(weft_ctx *ctx, weft_broker *b, const char *topic, const void *elem);

#ifdef __cplusplus
}
#endif
#endif
