/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the journal replay parser (jrec.c) on arbitrary bytes, every record
 * type (ACCEPT, FINISH, ACCEPT2, STAGE, END, REDRIVE, PURGE). Must never crash, over-read
 * or hang; every record it accepts must re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jrec.h"

/* Every record decoded re-encodes (weftd_jrec_encode, from the decoded members) to its
 * frame's bytes, every type alike. */
static int check(const struct weftd_jrec *r, void *arg)
{
	static unsigned char buf[1 << 20];
	size_t *off = arg;
	size_t need = weftd_jrec_size(r);
	long n;
	if (need != r->frame_len)
		abort();
	if (need > sizeof(buf)) {
		*off += need;
		return 0;
	}
	n = weftd_jrec_encode(buf, r);
	if (n <= 0 || (size_t)n != r->frame_len || memcmp(buf, r->frame, (size_t)n) != 0)
		abort();
	*off += (size_t)n;
	return 0;
}

struct walk {
	size_t good;     /* bytes in valid records */
	size_t bad;      /* bytes in damaged ranges */
	size_t end;      /* where the last range or record ended */
	const uint8_t *base;
};

static int rec(const struct weftd_jrec *r, void *arg)
{
	struct walk *w = arg;
	size_t before = w->good;
	const uint8_t *frame = r->frame;
	if ((size_t)(frame - w->base) != w->end)
		abort();
	check(r, &w->good);
	w->end += w->good - before;
	return 0;
}

static int bad(size_t off, size_t len, void *arg)
{
	struct walk *w = arg;
	if (len == 0 || off != w->end)
		abort(); /* ranges and records tile the input, in order */
	w->bad += len;
	w->end = off + len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct weftd_jrec_scan_result sr;
	struct walk w = { .base = data };
	int magic = size >= WEFTD_JREC_MAGIC_LEN && memcmp(data, WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN) == 0;
	w.end = magic ? WEFTD_JREC_MAGIC_LEN : 0;
	int r = weftd_jrec_scan(data, size, rec, bad, &w, &sr);
	if (r != 0 || sr.bad_bytes != w.bad)
		abort();
	/* every byte is either the magic, a valid record or a reported damaged range */
	if (size && (magic ? WEFTD_JREC_MAGIC_LEN : 0) + w.good + w.bad != size)
		abort();
	/* the frame decoder alone, from the start (no magic) */
	struct weftd_jrec rec;
	long n = weftd_jrec_decode(data, size, &rec);
	if (n > (long)size)
		abort();
	return 0;
}
