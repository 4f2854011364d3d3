/* SPDX-License-Identifier: MIT */
/* jrec.c — journal record framing and codec (see jrec.h). */
#include <errno.h>
#include <stdbool.h>
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

/* ---- the issue-12 records: fixed fields, then the variable ones in order ---------- */

struct var {
	const void *p;
	size_t len, max;               /* max: the length field's limit */
};

/* The variable parts of r and its fixed header size; 0 parts for an unknown type. */
static size_t vars_of(const struct weftd_jrec *r, struct var *v, size_t *ret_hdr)
{
	switch (r->type) {
	case WEFTD_JREC_ACCEPT2:
		*ret_hdr = WEFTD_JREC_ACCEPT2_HDR;
		v[0] = (struct var){ r->id, r->id_len, UINT16_MAX };
		v[1] = (struct var){ r->pipeline, r->pipeline_len, UINT16_MAX };
		v[2] = (struct var){ r->key, r->key_len, UINT16_MAX };
		v[3] = (struct var){ r->payload, r->payload_len, UINT32_MAX };
		return 4;
	case WEFTD_JREC_STAGE:
	case WEFTD_JREC_REDRIVE:
	case WEFTD_JREC_RETRY:
		*ret_hdr = r->type == WEFTD_JREC_RETRY ? WEFTD_JREC_RETRY_HDR : WEFTD_JREC_STAGE_HDR;
		v[0] = (struct var){ r->id, r->id_len, UINT16_MAX };
		v[1] = (struct var){ r->stage_name, r->stage_name_len, UINT16_MAX };
		v[2] = (struct var){ r->payload, r->payload_len, UINT32_MAX };
		return 3;
	case WEFTD_JREC_END:
		*ret_hdr = WEFTD_JREC_END_HDR;
		v[0] = (struct var){ r->id, r->id_len, UINT16_MAX };
		v[1] = (struct var){ r->stage_name, r->stage_name_len, UINT16_MAX };
		v[2] = (struct var){ r->output, r->output_len, UINT32_MAX };
		v[3] = (struct var){ r->error, r->error_len, UINT32_MAX };
		v[4] = (struct var){ r->log, r->log_len, UINT32_MAX };
		return 5;
	case WEFTD_JREC_PURGE:
		*ret_hdr = WEFTD_JREC_PURGE_HDR;
		v[0] = (struct var){ r->id, r->id_len, UINT16_MAX };
		return 1;
	default:
		*ret_hdr = 0;
		return 0;
	}
}

size_t weftd_jrec_size(const struct weftd_jrec *r)
{
	struct var v[5];
	size_t hdr, n, body;

	if (r->type == WEFTD_JREC_ACCEPT)
		return weftd_jrec_accept_size(r->id_len, r->pipeline_len, r->payload_len) -
		       (r->owner == WEFTD_JREC_NO_OWNER ? WEFTD_JREC_OWNER_LEN : 0);
	if (r->type == WEFTD_JREC_FINISH)
		return weftd_jrec_finish_size(r->id_len);
	n = vars_of(r, v, &hdr);
	body = hdr;
	for (size_t i = 0; i < n; i++)
		body += v[i].len;
	if (r->type == WEFTD_JREC_ACCEPT2 && r->deadline_ms)
		body += 8;
	return WEFTD_JREC_FRAME_HDR + body;
}

/* A state END may record (FINISH: up to LOST; END: not LOST, EXPIRED too). */
static bool state_ok(unsigned st)
{
	return st >= WEFTD_JREC_DONE && st <= WEFTD_JREC_EXPIRED;
}

long weftd_jrec_encode(void *buf, const struct weftd_jrec *r)
{
	struct var v[5];
	size_t hdr, n, body;
	unsigned char *f = buf, *b = f + WEFTD_JREC_FRAME_HDR, *at;

	if (r->type == WEFTD_JREC_ACCEPT)
		return weftd_jrec_encode_accept(buf, r->id, r->id_len, r->pipeline, r->pipeline_len,
						r->payload, r->payload_len, r->submitted_ns, r->owner);
	if (r->type == WEFTD_JREC_FINISH)
		return weftd_jrec_encode_finish(buf, r->id, r->id_len, r->state);
	n = vars_of(r, v, &hdr);
	if (!n || r->id_len == 0 || r->id_len > WEFTD_JREC_MAX_ID)
		return -EINVAL;
	body = hdr;
	for (size_t i = 0; i < n; i++) {
		if (v[i].len > v[i].max || v[i].len > WEFTD_JREC_MAX_BODY)
			return -EINVAL;
		body += v[i].len;
	}
	if (r->type == WEFTD_JREC_ACCEPT2 && r->deadline_ms)
		body += 8; /* the deadline, after the payload */
	if (body > WEFTD_JREC_MAX_BODY)
		return -EINVAL;
	if (r->type == WEFTD_JREC_ACCEPT2 &&
	    (r->priority < -WEFTD_JREC_PRIO_MAX || r->priority > WEFTD_JREC_PRIO_MAX))
		return -EINVAL;
	if (r->type == WEFTD_JREC_END && (!state_ok(r->state) || r->state == WEFTD_JREC_LOST))
		return -EINVAL;
	memset(b, 0, hdr);
	b[0] = (unsigned char)r->type;
	put16(b + 2, (uint16_t)r->id_len);
	switch (r->type) {
	case WEFTD_JREC_ACCEPT2:
		b[1] = r->deadline_ms ? 1 : 0;
		put16(b + 2, (uint16_t)(int16_t)r->priority);
		put32(b + 4, r->owner);
		put64(b + 8, r->submitted_ns);
		put64(b + 16, (uint64_t)r->run_at_ms);
		put16(b + 24, (uint16_t)r->id_len);
		put16(b + 26, (uint16_t)r->pipeline_len);
		put16(b + 28, (uint16_t)r->key_len);
		put32(b + 30, (uint32_t)r->payload_len);
		break;
	case WEFTD_JREC_RETRY:
		put32(b + 14, r->attempts);
		put64(b + 18, (uint64_t)r->run_at_ms);
		__attribute__((fallthrough)); /* then STAGE's fields */
	case WEFTD_JREC_STAGE:
	case WEFTD_JREC_REDRIVE:
		put32(b + 4, r->stage);
		put16(b + 8, (uint16_t)r->stage_name_len);
		put32(b + 10, (uint32_t)r->payload_len);
		break;
	case WEFTD_JREC_END:
		b[1] = (unsigned char)r->state;
		put32(b + 4, r->stage);
		put32(b + 8, r->attempts);
		put64(b + 12, (uint64_t)r->started_ms);
		put64(b + 20, (uint64_t)r->finished_ms);
		put16(b + 28, (uint16_t)r->stage_name_len);
		put32(b + 30, (uint32_t)r->output_len);
		put32(b + 34, (uint32_t)r->error_len);
		put32(b + 38, (uint32_t)r->log_len);
		break;
	default:
		break;
	}
	at = b + hdr;
	for (size_t i = 0; i < n; i++) {
		if (v[i].len)
			memcpy(at, v[i].p, v[i].len);
		at += v[i].len;
	}
	if (r->type == WEFTD_JREC_ACCEPT2 && r->deadline_ms)
		put64(at, (uint64_t)r->deadline_ms);
	return frame_close(f, body);
}

/* Decode an issue-12 body (type b[0], body_len bytes) into r. 0 or -EBADMSG. */
static int decode_new(const unsigned char *b, size_t body_len, struct weftd_jrec *r)
{
	uint64_t lens[5], hdr, total, tail = 0;
	size_t n;

	switch (b[0]) {
	case WEFTD_JREC_ACCEPT2:
		if (body_len < WEFTD_JREC_ACCEPT2_HDR || b[1] > 1)
			return -EBADMSG;
		tail = b[1] ? 8 : 0; /* flags 1: a deadline after the payload */
		r->priority = (int16_t)get16(b + 2);
		r->owner = get32(b + 4);
		r->submitted_ns = get64(b + 8);
		r->run_at_ms = (int64_t)get64(b + 16);
		lens[0] = get16(b + 24), lens[1] = get16(b + 26), lens[2] = get16(b + 28);
		lens[3] = get32(b + 30);
		hdr = WEFTD_JREC_ACCEPT2_HDR, n = 4;
		if (r->priority < -WEFTD_JREC_PRIO_MAX || r->priority > WEFTD_JREC_PRIO_MAX)
			return -EBADMSG;
		break;
	case WEFTD_JREC_STAGE:
	case WEFTD_JREC_REDRIVE:
	case WEFTD_JREC_RETRY:
		hdr = b[0] == WEFTD_JREC_RETRY ? WEFTD_JREC_RETRY_HDR : WEFTD_JREC_STAGE_HDR, n = 3;
		if (body_len < hdr || b[1] != 0)
			return -EBADMSG;
		lens[0] = get16(b + 2);
		r->stage = get32(b + 4);
		lens[1] = get16(b + 8), lens[2] = get32(b + 10);
		if (b[0] == WEFTD_JREC_RETRY) {
			r->attempts = get32(b + 14);
			r->run_at_ms = (int64_t)get64(b + 18);
		}
		break;
	case WEFTD_JREC_END:
		if (body_len < WEFTD_JREC_END_HDR)
			return -EBADMSG;
		r->state = b[1];
		lens[0] = get16(b + 2);
		r->stage = get32(b + 4);
		r->attempts = get32(b + 8);
		r->started_ms = (int64_t)get64(b + 12);
		r->finished_ms = (int64_t)get64(b + 20);
		lens[1] = get16(b + 28), lens[2] = get32(b + 30), lens[3] = get32(b + 34);
		lens[4] = get32(b + 38);
		hdr = WEFTD_JREC_END_HDR, n = 5;
		if (!state_ok(r->state) || r->state == WEFTD_JREC_LOST)
			return -EBADMSG;
		break;
	case WEFTD_JREC_PURGE:
		if (body_len < WEFTD_JREC_PURGE_HDR || b[1] != 0)
			return -EBADMSG;
		lens[0] = get16(b + 2);
		hdr = WEFTD_JREC_PURGE_HDR, n = 1;
		break;
	default:
		return -EBADMSG;
	}
	total = hdr + tail;
	for (size_t i = 0; i < n; i++)
		total += lens[i];
	if (lens[0] == 0 || total != body_len)
		return -EBADMSG;
	const char *at = (const char *)b + hdr;
	r->id = at, r->id_len = lens[0], at += lens[0];
	if (b[0] == WEFTD_JREC_ACCEPT2) {
		r->pipeline = at, r->pipeline_len = lens[1], at += lens[1];
		r->key = at, r->key_len = lens[2], at += lens[2];
		r->payload = at, r->payload_len = lens[3];
		r->deadline_ms = tail ? (int64_t)get64((const unsigned char *)at + lens[3]) : 0;
		if (tail && r->deadline_ms == 0)
			return -EBADMSG; /* flag 1 says there is one: re-encoding must give these bytes */
	} else if (b[0] == WEFTD_JREC_STAGE || b[0] == WEFTD_JREC_REDRIVE || b[0] == WEFTD_JREC_RETRY) {
		r->stage_name = at, r->stage_name_len = lens[1], at += lens[1];
		r->payload = at, r->payload_len = lens[2];
	} else if (b[0] == WEFTD_JREC_END) {
		r->stage_name = at, r->stage_name_len = lens[1], at += lens[1];
		r->output = at, r->output_len = lens[2], at += lens[2];
		r->error = at, r->error_len = lens[3], at += lens[3];
		r->log = at, r->log_len = lens[4];
	}
	return 0;
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
	} else if (decode_new(b, body_len, &r) < 0) {
		return -EBADMSG;
	}
	r.frame = f;
	r.frame_len = WEFTD_JREC_FRAME_HDR + body_len;
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
