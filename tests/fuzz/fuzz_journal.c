/* libFuzzer target: the journal replay parser (jrec.c) on arbitrary bytes. Must never
 * crash, over-read or hang; every record it accepts must re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jrec.h"

static int check(const struct weftd_jrec *r, void *arg)
{
	static unsigned char buf[1 << 20];
	size_t *off = arg;
	long n;
	if (r->type == WEFTD_JREC_ACCEPT) {
		size_t need = weftd_jrec_accept_size(r->id_len, r->pipeline_len, r->payload_len);
		if (need > sizeof(buf)) {
			*off += need;
			return 0;
		}
		n = weftd_jrec_encode_accept(buf, r->id, r->id_len, r->pipeline, r->pipeline_len,
					     r->payload, r->payload_len, r->submitted_ns, r->owner);
	} else if (r->type == WEFTD_JREC_FINISH) {
		n = weftd_jrec_encode_finish(buf, r->id, r->id_len, r->state);
	} else {
		abort();
	}
	if (n <= 0 || memcmp(buf, (const char *)r->id - (r->type == WEFTD_JREC_ACCEPT ?
		WEFTD_JREC_ACCEPT_HDR : WEFTD_JREC_FINISH_HDR) - WEFTD_JREC_FRAME_HDR, (size_t)n) != 0)
		abort();
	*off += (size_t)n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t good = 0, off = WEFTD_JREC_MAGIC_LEN;
	int r = weftd_jrec_scan(data, size, check, &off, &good);
	if (r < 0 || r > 1 || good > size)
		abort();
	if (good && good != off)
		abort(); /* the valid prefix is exactly the records it reported */
	if (r == 0 && size && good != size)
		abort();
	/* the frame decoder alone, from the start (no magic) */
	struct weftd_jrec rec;
	long n = weftd_jrec_decode(data, size, &rec);
	if (n > (long)size)
		abort();
	return 0;
}
