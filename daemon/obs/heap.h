/* SPDX-License-Identifier: MIT */
/* heap.h — jemalloc's heap profile in a format `go tool pprof` reads.
 *
 * jemalloc 5 dumps "heap_v2/<sample period>" then, per stack, "@ addr..." followed by
 * "  t*: <objects>: <bytes> [<accumulated>: <bytes>]" (and per-thread lines), then
 * MAPPED_LIBRARIES. Go's pprof (and jeprof) read gperftools' legacy heap profile instead,
 * whose sampling they scale the same way ("@ heap_v2/<period>"): one line per stack,
 * "<objects>: <bytes> [<objects>: <bytes>] @ addr...". This converts the first into the
 * second, keeping the maps (pprof finds weftd and its plugins there to name functions).
 * No I/O, no global state; never aborts on input (fuzzed: tests/fuzz/fuzz_heap.c). */
#ifndef WEFTD_OBS_HEAP_H
#define WEFTD_OBS_HEAP_H

#include <stddef.h>

#include "proto/buf.h"

/* Append the converted profile of in[0..len) to out. Returns the number of stacks, -EINVAL
 * when in is not a jemalloc heap_v2 dump (nothing useful appended), -ENOMEM. */
int weftd_heap_convert(const char *in, size_t len, struct weftd_buf *out);

#endif
