/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the heap profile converter (obs/heap.c) on arbitrary bytes, as jemalloc's
 * prof.dump would write them. Must never crash, over-read or hang; whatever it accepts
 * comes out as gperftools' legacy heap header and one "N: B [N: B] @ ..." line per stack. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs/heap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct weftd_buf b;
	int n;

	weftd_buf_init(&b, NULL, 0);
	n = weftd_heap_convert((const char *)data, size, &b);
	if (n >= 0 && (b.len < 14 || memcmp(b.data, "heap profile: ", 14) != 0))
		abort();
	if (n < 0 && n != -EINVAL && n != -ENOMEM)
		abort();
	weftd_buf_done(&b);
	return 0;
}
