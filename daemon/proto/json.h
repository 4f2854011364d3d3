/* SPDX-License-Identifier: MIT */
/* JSON writing into a struct weftd_buf: members and array elements appended in order,
 * the commas placed for the caller. No tree: a response is a few memcpy. */
#ifndef WEFTD_PROTO_JSON_H
#define WEFTD_PROTO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"

/* key != NULL writes "key": first (inside objects), key == NULL a bare value (inside
 * arrays). Keys are the caller's literals and are not escaped. Strings are escaped; bytes
 * that are not UTF-8 become U+FFFD so the line is always valid JSON. Errors land in the
 * buffer (see buf.h). */
void weftd_json_str(struct weftd_buf *b, const char *key, const char *s, size_t len);
void weftd_json_cstr(struct weftd_buf *b, const char *key, const char *s); /* NULL -> null */
void weftd_json_u64(struct weftd_buf *b, const char *key, uint64_t v);
void weftd_json_i64(struct weftd_buf *b, const char *key, int64_t v);
void weftd_json_double(struct weftd_buf *b, const char *key, double v); /* inf, nan -> null */
void weftd_json_bool(struct weftd_buf *b, const char *key, bool v);
void weftd_json_null(struct weftd_buf *b, const char *key);
/* len bytes of JSON text the caller vouches for, copied as they are. */
void weftd_json_raw(struct weftd_buf *b, const char *key, const char *json, size_t len);
void weftd_json_obj_begin(struct weftd_buf *b, const char *key);
void weftd_json_obj_end(struct weftd_buf *b);
void weftd_json_arr_begin(struct weftd_buf *b, const char *key);
void weftd_json_arr_end(struct weftd_buf *b);
/* Payload bytes: "key":"text" when data is valid UTF-8, else "key_b64":"base64". */
void weftd_json_bytes(struct weftd_buf *b, const char *key, const char *key_b64,
		      const void *data, size_t len);

#endif
