/* SPDX-License-Identifier: MIT */
/* UTF-8 and base64 (RFC 3629, RFC 4648 section 4), strict on input. */
#include "proto/text.h"

#include <errno.h>
#include <stdint.h>

size_t weftd_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return len >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		return len >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		return len >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
		       (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

bool weftd_utf8_valid(const void *s, size_t len)
{
	const unsigned char *p = s;

	for (size_t i = 0, n; i < len; i += n)
		if (!(n = weftd_utf8_seq(p + i, len - i)))
			return false;
	return true;
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t weftd_b64_encode(const void *src, size_t len, char *dst)
{
	const unsigned char *s = src;
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		dst[o++] = b64_alphabet[v >> 18];
		dst[o++] = b64_alphabet[(v >> 12) & 63];
		dst[o++] = b64_alphabet[(v >> 6) & 63];
		dst[o++] = b64_alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
		dst[o++] = b64_alphabet[v >> 18];
		dst[o++] = b64_alphabet[(v >> 12) & 63];
		dst[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		dst[o++] = '=';
	}
	return o;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

ssize_t weftd_b64_decode(const char *src, size_t len, void *dst)
{
	unsigned char *d = dst;
	uint32_t acc = 0;
	size_t o = 0, n;

	/* Up to two '=' at the very end, and only to complete a 4-character group. */
	if (len % 4 == 0 && len && src[len - 1] == '=')
		len -= len >= 2 && src[len - 2] == '=' ? 2 : 1;
	if (len % 4 == 1)
		return -EINVAL;
	/* In place (dst == src) works: a group's 3 bytes are written only after its 4
	 * characters were read, behind them. */
	for (n = 0; n < len; n++) {
		int v = b64_value(src[n]);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		if (n % 4 == 3) {
			d[o++] = (unsigned char)(acc >> 16);
			d[o++] = (unsigned char)(acc >> 8);
			d[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (len % 4 == 2) {
		if (acc & 0xf)
			return -EINVAL;
		d[o++] = (unsigned char)(acc >> 4);
	} else if (len % 4 == 3) {
		if (acc & 0x3)
			return -EINVAL;
		d[o++] = (unsigned char)(acc >> 10);
		d[o++] = (unsigned char)(acc >> 2);
	}
	return (ssize_t)o;
}
