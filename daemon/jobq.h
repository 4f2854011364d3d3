/* jobq.h — a bounded FIFO of pointers between fibers: each stage's input queue.
 *
 * Go-channel semantics for the one element type the engine needs (a job pointer): send
 * parks while full (backpressure), recv parks while empty, close lets receivers drain what
 * is queued and then get -EPIPE. Built on the runtime's waiter protocol because weft_chan
 * (weft/chan.h) was not merged yet when the engine was written; the engine only uses the
 * operations below, so switching to weft_chan is a local change. Any proc, any fiber. */
#ifndef WEFTD_JOBQ_H
#define WEFTD_JOBQ_H

#include <stddef.h>
#include <weft/weft.h>

struct weftd_jobq;

/* cap >= 1. Returns 0 or -ENOMEM/-EINVAL. */
int weftd_jobq_new(size_t cap, struct weftd_jobq **ret);
/* Free (NULL ok); elements still queued are the caller's problem (drain first). */
struct weftd_jobq *weftd_jobq_free(struct weftd_jobq *q);
/* 0, -EAGAIN when full, -EPIPE when closed. Never parks. */
int weftd_jobq_try_send(struct weftd_jobq *q, void *p);
/* 0, -EPIPE (closed), or ctx's error. Fiber only. */
int weftd_jobq_send(weft_ctx *ctx, struct weftd_jobq *q, void *p);
/* 0 with *ret set, -EPIPE once closed and empty, or ctx's error. Fiber only. */
int weftd_jobq_recv(weft_ctx *ctx, struct weftd_jobq *q, void **ret);
/* Close: wakes every waiter (senders get -EPIPE). Idempotent. */
void weftd_jobq_close(struct weftd_jobq *q);
size_t weftd_jobq_len(struct weftd_jobq *q);
size_t weftd_jobq_cap(struct weftd_jobq *q);

#endif
