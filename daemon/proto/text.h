/* SPDX-License-Identifier: MIT */
/* Byte-level text helpers of the protocol: UTF-8 validation and base64, for payloads that
 * travel as JSON strings. Pure functions: no state, no allocation. */
#ifndef WEFTD_PROTO_TEXT_H
#define WEFTD_PROTO_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define WEFTD_B64_ENC_LEN(n) (((n) + 2) / 3 * 4)
#define WEFTD_B64_DEC_MAX(n) ((n) / 4 * 3 + 3)

/* Standard base64 with padding into dst (WEFTD_B64_ENC_LEN(len) bytes, no NUL added).
 * Returns the length written. */
size_t weftd_b64_encode(const void *src, size_t len, char *dst);
/* Decode standard base64 (padding optional, no whitespace) into dst (at least
 * WEFTD_B64_DEC_MAX(len) bytes, or dst == src: the output never overtakes the input).
 * Returns the decoded length, or -EINVAL for a bad character, misplaced padding,
 * impossible length or non-zero trailing bits. */
ssize_t weftd_b64_decode(const char *src, size_t len, void *dst);

/* True when the len bytes are well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool weftd_utf8_valid(const void *s, size_t len);
/* Length (1..4) of the well-formed UTF-8 sequence starting at s, which has len >= 1
 * bytes; 0 when the bytes there are not one. */
size_t weftd_utf8_seq(const unsigned char *s, size_t len);

#endif
