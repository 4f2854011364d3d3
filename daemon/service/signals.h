/* SPDX-License-Identifier: MIT */
/* signals — weftd's signals, read through io_uring from a signalfd.
 *
 * No handler runs asynchronously: SIGTERM, SIGINT, SIGHUP and SIGUSR1 are blocked in every
 * thread (weftd_signals_block() before weft_run(), whose threads inherit the mask) and read
 * by a fiber from a signalfd with weft_read. SIGPIPE is ignored (a peer closing its socket
 * is an -EPIPE, not a death). Exec children must get the default mask and dispositions back
 * (posix_spawnattr_setsigmask / setsigdefault): blocked and ignored signals are inherited. */
#ifndef WEFTD_SIGNALS_H
#define WEFTD_SIGNALS_H

#include <signal.h>
#include <weft/weft.h>

/* The signals weftd handles: TERM, INT, HUP, USR1. */
void weftd_signals_set(sigset_t *ret);

/* Block weftd's signals in the calling thread and ignore SIGPIPE. Call from the main thread
 * before weft_run (or any thread creation). Returns 0 or -errno. */
int weftd_signals_block(void);

struct weftd_signals;

/* Open a signalfd (SFD_CLOEXEC | SFD_NONBLOCK) for weftd's signals. Any thread.
 * Returns 0 with *ret owned by the caller, or -errno. */
int weftd_signals_open(struct weftd_signals **ret);

/* Wait for the next signal. Fiber only; parks in the ring (a poll then a read of the
 * signalfd, both through io_uring). Returns the signal number, or ctx's error, or -errno. */
int weftd_signals_next(weft_ctx *ctx, struct weftd_signals *s);

/* Call fn(signo, arg) for each signal until ctx is done or fn returns non-zero.
 * Fiber only. Returns ctx's error, fn's value, or -errno from the signalfd. */
int weftd_signals_run(weft_ctx *ctx, struct weftd_signals *s, int (*fn)(int signo, void *arg),
		      void *arg);

/* Close the signalfd (the signals stay blocked). NULL ok; returns NULL. */
struct weftd_signals *weftd_signals_free(struct weftd_signals *s);

#endif
