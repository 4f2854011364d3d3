/* SPDX-License-Identifier: MIT */
/* The JSON writer. A separator is decided from the last byte written, so callers never
 * track "first member" state. */
#include "proto/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "proto/text.h"

#define put weftd_buf_put
#define PUTS WEFTD_BUF_PUTS

static void sep_key(struct weftd_buf *b, const char *key)
{
	if (b->len && !b->err) {
		char last = b->data[b->len - 1];
		if (last != '{' && last != '[' && last != ':')
			PUTS(b, ",");
	}
	if (key) {
		PUTS(b, "\"");
		put(b, key, strlen(key)); /* keys are our own literals: no escaping needed */
		PUTS(b, "\":");
	}
}

/* Escape s as a JSON string body; runs of plain ASCII are copied in one go. */
static void put_escaped(struct weftd_buf *b, const unsigned char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run;

	while (i < len) {
		for (run = i; run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
			      s[run] != '\\'; run++)
			;
		put(b, s + i, run - i);
		if ((i = run) >= len)
			break;
		unsigned char c = s[i];
		size_t n = c >= 0x80 ? weftd_utf8_seq(s + i, len - i) : 1;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(b, e, 2);
		} else if (c == '\n') {
			PUTS(b, "\\n");
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			put(b, e, 6);
		} else if (n) {
			put(b, s + i, n);
		} else {
			PUTS(b, "\\ufffd"); /* one invalid byte, resynchronise at the next */
			n = 1;
		}
		i += n ? n : 1;
	}
}

void weftd_json_str(struct weftd_buf *b, const char *key, const char *s, size_t len)
{
	sep_key(b, key);
	PUTS(b, "\"");
	put_escaped(b, (const unsigned char *)s, len);
	PUTS(b, "\"");
}

void weftd_json_cstr(struct weftd_buf *b, const char *key, const char *s)
{
	if (s)
		weftd_json_str(b, key, s, strlen(s));
	else
		weftd_json_null(b, key);
}

void weftd_json_u64(struct weftd_buf *b, const char *key, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	sep_key(b, key);
	put(b, tmp, (size_t)n);
}

void weftd_json_i64(struct weftd_buf *b, const char *key, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	sep_key(b, key);
	put(b, tmp, (size_t)n);
}

void weftd_json_double(struct weftd_buf *b, const char *key, double v)
{
	char tmp[32];
	int n = isfinite(v) ? snprintf(tmp, sizeof(tmp), "%.17g", v) : snprintf(tmp, sizeof(tmp), "null");
	sep_key(b, key);
	put(b, tmp, (size_t)n);
}

void weftd_json_bool(struct weftd_buf *b, const char *key, bool v)
{
	sep_key(b, key);
	if (v)
		PUTS(b, "true");
	else
		PUTS(b, "false");
}

void weftd_json_null(struct weftd_buf *b, const char *key)
{
	sep_key(b, key);
	PUTS(b, "null");
}

void weftd_json_raw(struct weftd_buf *b, const char *key, const char *json, size_t len)
{
	sep_key(b, key);
	put(b, json, len);
}

void weftd_json_obj_begin(struct weftd_buf *b, const char *key)
{
	sep_key(b, key);
	PUTS(b, "{");
}

void weftd_json_obj_end(struct weftd_buf *b)
{
	PUTS(b, "}");
}

void weftd_json_arr_begin(struct weftd_buf *b, const char *key)
{
	sep_key(b, key);
	PUTS(b, "[");
}

void weftd_json_arr_end(struct weftd_buf *b)
{
	PUTS(b, "]");
}

/* What put_escaped writes for s, up to stop bytes (then it stops counting). */
static size_t escaped_len(const unsigned char *s, size_t len, size_t stop)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n <= stop; i++)
		n += s[i] >= 0x20 ? 1 + (s[i] == '"' || s[i] == '\\') : s[i] == '\n' ? 2 : 6;
	return n;
}

void weftd_json_bytes(struct weftd_buf *b, const char *key, const char *key_b64,
		      const void *data, size_t len)
{
	/* Text when it is UTF-8 and escaping costs at most what base64 would (plus a little,
	 * so short text with a tab stays text): binary (NULs, control bytes: 6 bytes each as
	 * \u00XX) goes as base64, 4/3 of its size. */
	size_t most = WEFTD_B64_ENC_LEN(len) + 32;
	if (escaped_len(data, len, most) <= most && weftd_utf8_valid(data, len)) {
		weftd_json_str(b, key, data, len);
		return;
	}
	sep_key(b, key_b64);
	PUTS(b, "\"");
	if (weftd_buf_reserve(b, WEFTD_B64_ENC_LEN(len)))
		b->len += weftd_b64_encode(data, len, b->data + b->len);
	PUTS(b, "\"");
}
