/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the cron expression parser (config/cron.h) and the two time zone
 * parsers (config/tz.h: POSIX TZ strings, TZif files) on arbitrary bytes, then the slot
 * arithmetic over what parsed. The first byte picks the parser. Must never crash, leak or
 * hang; a slot must come after its start, and be the last slot up to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cron.h"
#include "config/tz.h"

#define NBLOCKS 4

static void *grab(void *arg, size_t size)
{
	void **b = arg;
	for (int i = 0; i < NBLOCKS; i++)
		if (!b[i])
			return b[i] = calloc(1, size);
	return NULL;
}

/* Walk a few slots of c in tz from t, checking each against weftd_cron_last. */
static void walk(const struct weftd_cron *c, const struct weftd_tz *tz, int64_t t)
{
	for (int i = 0; i < 4; i++) {
		int64_t s, l;
		if (weftd_cron_next(c, tz, t, &s) < 0)
			return;
		if (s <= t || weftd_cron_last(c, tz, t, s, &l) != 0 || l != s)
			abort();
		t = s;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t starts[] = { 0, 1796313600, 4102444800, 1616893200 /* a DST day */ };
	struct weftd_tz tz = WEFTD_TZ_UTC;
	struct weftd_cron c;
	void *blocks[NBLOCKS] = { 0 };
	char err[128];
	size_t off;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: /* a cron expression, in UTC and in a zone with DST */
		if (weftd_cron_parse((const char *)data + 1, size - 1, &c, &off, err, sizeof(err)) == 0) {
			const char *paris = "CET-1CEST,M3.5.0,M10.5.0/3";
			struct weftd_tz p = { .has_rule = true };
			if (weftd_tz_parse_posix(paris, strlen(paris), &p.rule) < 0)
				abort();
			for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
				walk(&c, &tz, starts[i]);
				walk(&c, &p, starts[i]);
			}
		} else if (off > size - 1 || !memchr(err, '\0', sizeof(err))) {
			abort();
		}
		break;
	case 1: /* a POSIX TZ string */
		tz.has_rule = true;
		if (weftd_tz_parse_posix((const char *)data + 1, size - 1, &tz.rule) == 0) {
			for (int64_t t = -86400; t < 4 * 366 * 86400LL; t += 7 * 86400 + 3599)
				weftd_tz_offset(&tz, t);
			c = (struct weftd_cron){ .minutes = 1 << 30, .hours = 0xffffff, .doms = ~1u,
						 .months = 0x1ffe, .dows = 0x7f, .dom_star = true,
						 .dow_star = true, .hour_star = true };
			walk(&c, &tz, starts[1]);
		}
		break;
	default: /* a TZif file */
		if (weftd_tz_parse_tzif(data + 1, size - 1, grab, blocks, &tz) == 0) {
			for (size_t i = 1; i < tz.ntrans; i++)
				if (tz.trans[i] <= tz.trans[i - 1])
					abort();
			c = (struct weftd_cron){ .minutes = 1, .hours = 1 << 2, .doms = ~1u,
						 .months = 0x1ffe, .dows = 0x7f, .dom_star = true,
						 .dow_star = true };
			for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
				walk(&c, &tz, starts[i]);
		}
		for (int i = 0; i < NBLOCKS; i++)
			free(blocks[i]);
		break;
	}
	return 0;
}
