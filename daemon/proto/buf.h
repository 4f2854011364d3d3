/* SPDX-License-Identifier: MIT */
/* An output buffer for response lines: caller storage (fixed) or a growing heap block.
 * Errors are sticky: writers do nothing after one, and whoever finishes the line
 * (weftd_resp_end) reports it. A fixed buffer that overflows gives -ENOBUFS (nothing
 * partial is valid then). */
#ifndef WEFTD_PROTO_BUF_H
#define WEFTD_PROTO_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct weftd_buf {
	char *data;
	size_t len;
	size_t cap;
	bool fixed;   /* caller storage: never reallocated or freed */
	int err;      /* 0, -ENOBUFS, -ENOMEM or -E2BIG */
	size_t max;   /* 0, or growing len past it fails with -E2BIG (weftd_buf_limit) */
};

/* mem != NULL: write into mem[0..cap); mem == NULL: grow on the heap as needed. */
void weftd_buf_init(struct weftd_buf *b, char *mem, size_t cap);
/* Forget the content (and the error), keep the storage. */
void weftd_buf_reset(struct weftd_buf *b);
/* Free heap storage; fine on fixed buffers. */
void weftd_buf_done(struct weftd_buf *b);

/* Let b->len grow to at most max bytes (0: no limit; a response's cap is its start +
 * daemon.max_response_bytes); past it writers fail with -E2BIG, before the memory is
 * taken. The limit costs the fast path nothing: a heap buffer's cap is lowered to it. */
void weftd_buf_limit(struct weftd_buf *b, size_t max);

/* The slow half of weftd_buf_reserve: grow a heap buffer, or fail a fixed one. */
bool weftd_buf_grow(struct weftd_buf *b, size_t n);

/* Make room for n more bytes at b->data + b->len. False, with b->err set (and kept), when
 * impossible or when the buffer already failed. Inline: every JSON token goes through it. */
static inline bool weftd_buf_reserve(struct weftd_buf *b, size_t n)
{
	if (b->err)
		return false;
	return b->cap - b->len >= n || weftd_buf_grow(b, n);
}

/* Append n bytes (nothing once the buffer failed). */
static inline void weftd_buf_put(struct weftd_buf *b, const void *s, size_t n)
{
	if (weftd_buf_reserve(b, n)) {
		memcpy(b->data + b->len, s, n);
		b->len += n;
	}
}

/* Append a string literal. */
#define WEFTD_BUF_PUTS(b, lit) weftd_buf_put((b), (lit), sizeof(lit) - 1)

#endif
