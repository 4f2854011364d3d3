/* SPDX-License-Identifier: MIT */
/* A JSON scanner for one request line: validates as it goes (RFC 8259 as jansson reads it:
 * UTF-8, escapes and surrogate pairs, int64 integers, finite reals, no duplicate keys in
 * any object) and records where each value lies, without building a tree. Iterative, with
 * a bounded nesting depth: a line of 100,000 '[' costs a loop, not a stack. Allocates
 * only for the duplicate check of a line with more than JSCAN_SMALL_KEYS / 2 keys the
 * caller does not track itself; strings are decoded on demand into the caller's storage. */
#ifndef WEFTD_PROTO_JSCAN_H
#define WEFTD_PROTO_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSCAN_DEPTH_MAX  64  /* objects and arrays open at once, the outermost included */
#define JSCAN_SMALL_KEYS 16  /* key set entries held inline */

enum jscan_type {
	JSCAN_NONE, JSCAN_STR, JSCAN_INT, JSCAN_REAL, JSCAN_TRUE, JSCAN_FALSE, JSCAN_NULL,
	JSCAN_OBJ, JSCAN_ARR,
};

/* One value of the line. */
struct jscan_val {
	size_t start, end;      /* its text; a string's without the quotes */
	union {
		int64_t i;      /* JSCAN_INT */
		double d;       /* JSCAN_REAL */
	} num;
	uint8_t type;           /* enum jscan_type; JSCAN_NONE: absent */
	bool esc;               /* string: has escapes, so read it with jscan_str_copy */
	bool nul;               /* string: decodes to text containing a NUL byte */
};

struct jscan_key {
	uint32_t hash;          /* of the decoded key and its object's serial */
	uint32_t obj;           /* 0: free entry */
	size_t start, end;
};

struct jscan {
	const char *s;
	size_t len, pos;        /* the line; pos: the next byte to read */
	int depth;              /* objects and arrays open */
	uint32_t nobj;          /* serial of the last object opened */
	bool nodups;            /* re-reading validated text: skip the duplicate check */
	struct jscan_key *keys; /* open addressing: small, or the heap when it grew */
	uint32_t nkeys, capkeys;
	struct jscan_key small[JSCAN_SMALL_KEYS];
	size_t err_at;          /* after a failure: byte offset and why */
	char err[80];
};

/* Start scanning the len bytes at s (no NUL needed). */
void jscan_init(struct jscan *j, const char *s, size_t len);
/* Free what the duplicate check allocated. */
void jscan_done(struct jscan *j);

/* The next byte after whitespace (consumed), or -1 at the end of the line. */
int jscan_peek(struct jscan *j);
/* Consume the opening byte c ('{' or '[') after whitespace. For '{', *ret_obj gets the
 * object's serial (for jscan_key_unique). 0 or -EINVAL. */
int jscan_open(struct jscan *j, char c, uint32_t *ret_obj);
/* Between members or elements of the innermost open object or array (closing byte
 * close): 1 when another one follows (the separating ',' consumed; *first starts true and
 * is cleared), 0 when close was consumed, -EINVAL on anything else. */
int jscan_next(struct jscan *j, char close, bool *first);
/* An object member's key and its ':'. Keys with a NUL byte are refused (as jansson does).
 * 0 or -EINVAL. */
int jscan_key(struct jscan *j, struct jscan_val *key);
/* Record key as a member of object obj: -EINVAL when obj already has it, -ENOMEM. */
int jscan_key_unique(struct jscan *j, uint32_t obj, const struct jscan_val *key);
/* One whole value, objects and arrays included (validated, iteratively, at most
 * JSCAN_DEPTH_MAX deep). 0, -EINVAL, or -ENOMEM. */
int jscan_value(struct jscan *j, struct jscan_val *v);
/* Only whitespace left: 0, else -EINVAL. */
int jscan_end(struct jscan *j);

/* Fail at byte offset at with a message (for the caller's own checks): -EINVAL. */
__attribute__((format(printf, 3, 4)))
int jscan_fail(struct jscan *j, size_t at, const char *fmt, ...);

/* Decode the string value v of line s: the first cap bytes into dst (no NUL added).
 * Returns the full decoded length (so cap 0 measures it). */
size_t jscan_str_copy(const char *s, const struct jscan_val *v, char *dst, size_t cap);

#endif
