/* SPDX-License-Identifier: MIT */
/* Output buffers: the only allocation is growth, doubling from 256 bytes. */
#include "proto/buf.h"

#include <errno.h>
#include <stdlib.h>

void weftd_buf_init(struct weftd_buf *b, char *mem, size_t cap)
{
	*b = (struct weftd_buf){ .data = mem, .cap = mem ? cap : 0, .fixed = mem != NULL };
}

void weftd_buf_reset(struct weftd_buf *b)
{
	b->len = 0;
	b->err = 0;
}

void weftd_buf_done(struct weftd_buf *b)
{
	if (!b->fixed)
		free(b->data);
	*b = (struct weftd_buf){ 0 };
}

void weftd_buf_limit(struct weftd_buf *b, size_t max)
{
	b->max = max;
	if (max && !b->fixed && b->cap > max)
		b->cap = max; /* the block stays as large: realloc knows its real size */
}

bool weftd_buf_grow(struct weftd_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return false;
	if (b->cap - b->len >= n)
		return true;
	if (b->max && (n > b->max || b->len > b->max - n)) {
		b->err = -E2BIG;
		return false;
	}
	if (b->fixed) {
		b->err = -ENOBUFS;
		return false;
	}
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	if (b->max && cap > b->max)
		cap = b->max;
	if (!(p = realloc(b->data, cap))) {
		b->err = -ENOMEM;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}
