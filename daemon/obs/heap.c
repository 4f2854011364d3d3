/* SPDX-License-Identifier: MIT */
/* heap.c — jemalloc's heap_v2 dump to gperftools' legacy heap profile (heap.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "obs/heap.h"

/* The line at *pos (without its '\n'), advancing *pos past it; NULL at the end. */
static const char *next_line(const char *in, size_t len, size_t *pos, size_t *ret_n)
{
	if (*pos >= len)
		return NULL;
	const char *s = in + *pos, *nl = memchr(s, '\n', len - *pos);
	*ret_n = nl ? (size_t)(nl - s) : len - *pos;
	*pos += *ret_n + (nl != NULL);
	return s;
}

/* "  t*: <objects>: <bytes> [<objects>: <bytes>]" -> the four numbers. */
static bool totals(const char *s, size_t n, uint64_t v[4])
{
	char line[160];

	if (n >= sizeof(line))
		return false;
	memcpy(line, s, n);
	line[n] = 0;
	return sscanf(line, " t*: %" SCNu64 ": %" SCNu64 " [%" SCNu64 ": %" SCNu64 "]", &v[0], &v[1],
		      &v[2], &v[3]) == 4;
}

/* "@ 0x.. 0x..": only hex addresses and spaces. */
static bool stack_ok(const char *s, size_t n)
{
	if (n < 2 || s[0] != '@' || s[1] != ' ')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!strchr(" 0123456789abcdefx", s[i]))
			return false;
	return true;
}

int weftd_heap_convert(const char *in, size_t len, struct weftd_buf *out)
{
	static const char magic[] = "heap_v2/";
	size_t pos = 0, n;
	const char *s = next_line(in, len, &pos, &n);
	char head[160];
	uint64_t period = 0, all[4], v[4];
	int stacks = 0;

	if (!s || n <= sizeof(magic) - 1 || n > 40 || memcmp(s, magic, sizeof(magic) - 1))
		return -EINVAL;
	for (size_t i = sizeof(magic) - 1; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || period > UINT64_MAX / 10)
			return -EINVAL;
		period = period * 10 + (uint64_t)(s[i] - '0');
	}
	if (!(s = next_line(in, len, &pos, &n)) || !totals(s, n, all))
		return -EINVAL;
	snprintf(head, sizeof(head), "heap profile: %" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64
		 "] @ heap_v2/%" PRIu64 "\n", all[0], all[1], all[2], all[3], period);
	weftd_buf_put(out, head, strlen(head));
	while ((s = next_line(in, len, &pos, &n))) {
		if (n >= 17 && memcmp(s, "MAPPED_LIBRARIES:", 17) == 0) {
			WEFTD_BUF_PUTS(out, "\nMAPPED_LIBRARIES:\n");
			weftd_buf_put(out, in + pos, len - pos);
			break;
		}
		if (!stack_ok(s, n))
			continue; /* per-thread lines, blank lines */
		const char *st = s;
		size_t stn = n;
		if (!(s = next_line(in, len, &pos, &n)) || !totals(s, n, v))
			return -EINVAL;
		if (v[0] == 0 && v[2] == 0)
			continue;
		snprintf(head, sizeof(head), "%" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64 "] ",
			 v[0], v[1], v[2], v[3]);
		weftd_buf_put(out, head, strlen(head));
		weftd_buf_put(out, st, stn);
		WEFTD_BUF_PUTS(out, "\n");
		stacks++;
	}
	return out->err ? out->err : stacks;
}
