/* jrec.c — journal record framing and codec (see jrec.h). */
#include <errno.h>
#include <string.h>

#include "jobs/jrec.h"

static uint32_t crc_table[256];
static int crc_ready; /* the table is a pure function of its index: racing fills agree */

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		__atomic_store_n(&crc_table[i], c, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t weftd_crc32(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
		crc_init();
	crc = ~crc;
	while (len--)
		crc = __atomic_load_n(&crc_table[(crc ^ *p++) & 0xff], __ATOMIC_RELAXED) ^ (crc >> 8);
	return ~crc;
}

static void put16(unsigned char *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(unsigned char *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(unsigned char *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }
static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const unsigned char *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const unsigned char *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

size_t weftd_jrec_accept_size(size_t id_len, size_t pipeline_len, size_t payload_len)
{
	return WEFTD_JREC_FRAME_HDR + WEFTD_JREC_ACCEPT_HDR + id_len + pipeline_len + payload_len +
	       WEFTD_JREC_OWNER_LEN;
}

size_t weftd_jrec_finish_size(size_t id_len)
{
	return WEFTD_JREC_FRAME_HDR + WEFTD_JREC_FINISH_HDR + id_len;
}

static long frame_close(unsigned char *f, size_t body_len)
{
	put32(f, (uint32_t)body_len);
	put32(f + 4, weftd_crc32(0, f + WEFTD_JREC_FRAME_HDR, body_len));
	return (long)(WEFTD_JREC_FRAME_HDR + body_len);
}

long weftd_jrec_encode_accept(void *buf, const char *id, size_t id_len, const char *pipeline,
			      size_t pipeline_len, const void *payload, size_t payload_len,
			      uint64_t submitted_ns, uint32_t owner)
{
	size_t body = WEFTD_JREC_ACCEPT_HDR + id_len + pipeline_len + payload_len +
		      (owner != WEFTD_JREC_NO_OWNER ? WEFTD_JREC_OWNER_LEN : 0);
	if (id_len == 0 || id_len > WEFTD_JREC_MAX_ID || pipeline_len > UINT16_MAX ||
	    payload_len > WEFTD_JREC_MAX_BODY || body > WEFTD_JREC_MAX_BODY)
		return -EINVAL;
	unsigned char *f = buf, *b = f + WEFTD_JREC_FRAME_HDR;
	b[0] = WEFTD_JREC_ACCEPT;
	put64(b + 1, submitted_ns);
	put16(b + 9, (uint16_t)id_len);
	put16(b + 11, (uint16_t)pipeline_len);
	put32(b + 13, (uint32_t)payload_len);
	b += WEFTD_JREC_ACCEPT_HDR;
	memcpy(b, id, id_len);
	if (pipeline_len)
		memcpy(b + id_len, pipeline, pipeline_len);
	if (payload_len)
		memcpy(b + id_len + pipeline_len, payload, payload_len);
	if (owner != WEFTD_JREC_NO_OWNER)
		put32(b + id_len + pipeline_len + payload_len, owner);
	return frame_close(f, body);
}

long weftd_jrec_encode_finish(void *buf, const char *id, size_t id_len, enum weftd_jrec_state st)
{
	if (id_len == 0 || id_len > WEFTD_JREC_MAX_ID || st < WEFTD_JREC_DONE || st > WEFTD_JREC_LOST)
		return -EINVAL;
	unsigned char *f = buf, *b = f + WEFTD_JREC_FRAME_HDR;
	b[0] = WEFTD_JREC_FINISH;
	b[1] = (unsigned char)st;
	put16(b + 2, (uint16_t)id_len);
	memcpy(b + WEFTD_JREC_FINISH_HDR, id, id_len);
	return frame_close(f, WEFTD_JREC_FINISH_HDR + id_len);
}

long weftd_jrec_decode(const void *buf, size_t len, struct weftd_jrec *ret)
{
	const unsigned char *f = buf;
	if (len < WEFTD_JREC_FRAME_HDR)
		return 0;
	uint32_t body_len = get32(f);
	if (body_len == 0 || body_len > WEFTD_JREC_MAX_BODY)
		return -EBADMSG;
	if (len - WEFTD_JREC_FRAME_HDR < body_len)
		return 0;
	const unsigned char *b = f + WEFTD_JREC_FRAME_HDR;
	if (weftd_crc32(0, b, body_len) != get32(f + 4))
		return -EBADMSG;
	struct weftd_jrec r = { .type = b[0] };
	if (b[0] == WEFTD_JREC_ACCEPT) {
		if (body_len < WEFTD_JREC_ACCEPT_HDR)
			return -EBADMSG;
		r.submitted_ns = get64(b + 1);
		r.id_len = get16(b + 9);
		r.pipeline_len = get16(b + 11);
		r.payload_len = get32(b + 13);
		uint64_t fixed = (uint64_t)WEFTD_JREC_ACCEPT_HDR + r.id_len + r.pipeline_len + r.payload_len;
		if (r.id_len == 0 || (fixed != body_len && fixed + WEFTD_JREC_OWNER_LEN != body_len))
			return -EBADMSG;
		r.id = (const char *)b + WEFTD_JREC_ACCEPT_HDR;
		r.pipeline = r.id + r.id_len;
		r.payload = r.pipeline + r.pipeline_len;
		r.owner = fixed == body_len ? WEFTD_JREC_NO_OWNER : get32(b + fixed);
		if (r.owner == WEFTD_JREC_NO_OWNER && fixed != body_len)
			return -EBADMSG; /* we never write it: it would not re-encode the same */
	} else if (b[0] == WEFTD_JREC_FINISH) {
		if (body_len < WEFTD_JREC_FINISH_HDR)
			return -EBADMSG;
		r.state = b[1];
		r.id_len = get16(b + 2);
		if (r.state < WEFTD_JREC_DONE || r.state > WEFTD_JREC_LOST || r.id_len == 0 ||
		    WEFTD_JREC_FINISH_HDR + r.id_len != body_len)
			return -EBADMSG;
		r.id = (const char *)b + WEFTD_JREC_FINISH_HDR;
	} else {
		return -EBADMSG;
	}
	*ret = r;
	return (long)(WEFTD_JREC_FRAME_HDR + body_len);
}

/* The offset of the first whole valid frame at or after from, or len. The damaged frame at
 * from - 1... is the caller's; hint is where its length field says the next frame starts. */
static size_t resync(const unsigned char *p, size_t from, size_t hint, size_t len)
{
	struct weftd_jrec r;
	if (hint > from && hint < len && weftd_jrec_decode(p + hint, len - hint, &r) > 0)
		return hint;
	for (size_t off = from; off < len; off++)
		if (weftd_jrec_decode(p + off, len - off, &r) > 0)
			return off;
	return len;
}

static uint32_t frame_len(const unsigned char *p, size_t avail)
{
	return avail >= WEFTD_JREC_FRAME_HDR ? get32(p) : 0;
}

int weftd_jrec_scan(const void *buf, size_t len, int (*fn)(const struct weftd_jrec *r, void *arg),
		    int (*bad)(size_t off, size_t len, void *arg), void *arg,
		    struct weftd_jrec_scan_result *ret)
{
	const unsigned char *p = buf;
	struct weftd_jrec_scan_result dummy;
	size_t off = WEFTD_JREC_MAGIC_LEN, start = off;

	if (!ret)
		ret = &dummy;
	*ret = (struct weftd_jrec_scan_result){ 0 };
	if (len < WEFTD_JREC_MAGIC_LEN || memcmp(p, WEFTD_JREC_MAGIC, WEFTD_JREC_MAGIC_LEN) != 0)
		start = 0, off = resync(p, 0, WEFTD_JREC_MAGIC_LEN, len); /* a damaged header: go on after it */
	for (;;) {
		if (off > start) { /* [start, off) was skipped */
			ret->bad_ranges++;
			ret->bad_bytes += off - start;
			int x = bad ? bad(start, off - start, arg) : 0;
			if (x)
				return x;
		}
		if (off >= len)
			return 0;
		struct weftd_jrec r;
		long n = weftd_jrec_decode(p + off, len - off, &r);
		if (n > 0) {
			ret->records++;
			int x = fn ? fn(&r, arg) : 0;
			if (x)
				return x;
			off += (size_t)n;
			start = off;
			continue;
		}
		start = off;
		off = resync(p, off + 1, off + WEFTD_JREC_FRAME_HDR + frame_len(p + off, len - off), len);
	}
}
