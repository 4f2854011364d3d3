/* SPDX-License-Identifier: MIT */
/* prof_pb.c — profiles in pprof's protobuf (github.com/google/pprof, proto/profile.proto),
 * gzipped as `go tool pprof` expects.
 *
 * Written by hand rather than with protobuf-c: a profile is write-only here and its wire
 * format is five message types of varints and length-delimited fields; a streaming writer
 * of ~60 lines encodes samples as they come, with no generated code, no object tree per
 * sample and no protobuf runtime for every program that links libweft. The schema it
 * follows is tests/prof/profile.proto (what the tests decode it with).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "internal.h"

/* ---- bytes and varints ---------------------------------------------------------------- */

struct pbuf { uint8_t *d; size_t len, cap; bool oom; };

static void pb_raw(struct pbuf *b, const void *p, size_t n)
{
	if (b->oom || !n) /* an empty field's bytes may be NULL */
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *d = realloc(b->d, cap);
		if (!d) {
			b->oom = true;
			return;
		}
		b->d = d;
		b->cap = cap;
	}
	memcpy(b->d + b->len, p, n);
	b->len += n;
}

static void pb_varint(struct pbuf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;

	do {
		t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	pb_raw(b, t, n);
}

static void pb_u64(struct pbuf *b, unsigned field, uint64_t v) /* wire type 0 */
{
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

static void pb_bytes(struct pbuf *b, unsigned field, const void *p, size_t n) /* type 2 */
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, n);
	pb_raw(b, p, n);
}

/* ---- interning ------------------------------------------------------------------------ */

/* Open addressing from a 64-bit key to a 1-based index (0: empty). */
struct imap { uint64_t *k; uint32_t *v; size_t cap, n; };

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static uint32_t *imap_slot(struct imap *m, uint64_t k)
{
	for (size_t i = mix(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
		if (!m->v[i] || m->k[i] == k)
			return &m->v[i];
}

/* The value of k, or 0 after making room for it (the caller stores into *ret_slot). */
static uint32_t imap_get(struct imap *m, uint64_t k, uint32_t **ret_slot)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct imap o = *m;
		m->cap = o.cap ? o.cap * 2 : 256;
		m->k = calloc(m->cap, sizeof(*m->k));
		m->v = calloc(m->cap, sizeof(*m->v));
		if (!m->k || !m->v) {
			free(m->k);
			free(m->v);
			*m = o;
			*ret_slot = NULL;
			return 0;
		}
		for (size_t i = 0; i < o.cap; i++)
			if (o.v[i]) {
				uint32_t *s = imap_slot(m, o.k[i]);
				m->k[s - m->v] = o.k[i];
				*s = o.v[i];
			}
		free(o.k);
		free(o.v);
	}
	uint32_t *s = imap_slot(m, k);
	if (!*s) {
		m->k[s - m->v] = k;
		m->n++;
		*ret_slot = s;
		return 0;
	}
	*ret_slot = NULL;
	return *s;
}

static void imap_free(struct imap *m)
{
	free(m->k);
	free(m->v);
}

struct loc { uintptr_t addr; uint32_t pseudo; }; /* pseudo: a string index, or 0 */

struct weft__pprof {
	struct pbuf head, samples;
	char **strs;                   /* string table */
	size_t nstrs, capstrs;
	struct imap strmap;            /* hash of a string -> index + 1 (chained by probing) */
	struct loc *locs;
	size_t nlocs, caplocs;
	struct imap locmap;            /* address (or pseudo name | 1<<63) -> location id */
	int64_t time_ns, duration_ns;
	int nvals;                     /* sample types: values per sample */
	bool oom;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* The index of s in the string table, added if new; 0 ("") on failure. */
static uint32_t str_id(struct weft__pprof *p, const char *s)
{
	uint32_t *slot;
	uint64_t h = str_hash(s);

	if (!*s)
		return 0;
	/* collisions: probe with h+1, h+2... (the key is the hash, the value the index) */
	for (;; h++) {
		uint32_t v = imap_get(&p->strmap, h, &slot);
		if (!v && !slot)
			goto oom;
		if (v) {
			if (strcmp(p->strs[v - 1], s) == 0)
				return v - 1;
			continue;
		}
		if (p->nstrs == p->capstrs) {
			size_t cap = p->capstrs * 2;
			char **n = realloc(p->strs, cap * sizeof(*n));
			if (!n)
				goto undo;
			p->strs = n;
			p->capstrs = cap;
		}
		if (!(p->strs[p->nstrs] = strdup(s)))
			goto undo;
		*slot = (uint32_t)++p->nstrs;
		return (uint32_t)p->nstrs - 1;
	}
undo: /* the slot was claimed (key written, value 0): it stays empty */
oom:
	p->oom = true;
	return 0;
}

static void value_type(struct pbuf *b, unsigned field, struct weft__pprof *p, const char *t,
		       const char *u)
{
	struct pbuf m = { 0 };
	pb_u64(&m, 1, str_id(p, t));
	pb_u64(&m, 2, str_id(p, u));
	pb_bytes(b, field, m.d, m.len);
	b->oom |= m.oom;
	free(m.d);
}

struct weft__pprof *weft__pprof_new(const char *const types[][2], int n, const char *ptype,
				    const char *punit, int64_t period)
{
	struct weft__pprof *p = calloc(1, sizeof(*p));

	if (!p || !(p->strs = malloc(64 * sizeof(*p->strs))) || !(p->strs[0] = strdup(""))) {
		if (p)
			free(p->strs);
		free(p);
		return NULL;
	}
	p->capstrs = 64;
	p->nstrs = 1;
	p->nvals = n;
	for (int i = 0; i < n; i++)
		value_type(&p->head, 1, p, types[i][0], types[i][1]);
	value_type(&p->head, 11, p, ptype, punit);
	pb_u64(&p->head, 12, (uint64_t)period);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	p->time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return p;
}

void weft__pprof_set_time(struct weft__pprof *p, int64_t time_ns, int64_t duration_ns)
{
	if (time_ns)
		p->time_ns = time_ns;
	p->duration_ns = duration_ns;
}

/* Location id (1-based) for an address or a pseudo frame; 0 when out of memory. */
static uint64_t loc_id(struct weft__pprof *p, uintptr_t addr, const char *pseudo)
{
	uint32_t *slot, sid = pseudo ? str_id(p, pseudo) : 0;
	uint64_t key = pseudo ? (1ull << 63) | sid : addr;
	uint32_t v = imap_get(&p->locmap, key, &slot);

	if (v)
		return v;
	if (!slot)
		goto oom;
	if (p->nlocs == p->caplocs) {
		size_t cap = p->caplocs ? p->caplocs * 2 : 256;
		struct loc *n = realloc(p->locs, cap * sizeof(*n));
		if (!n)
			goto oom;
		p->locs = n;
		p->caplocs = cap;
	}
	p->locs[p->nlocs] = (struct loc){ .addr = addr, .pseudo = sid };
	*slot = (uint32_t)++p->nlocs;
	return p->nlocs;
oom:
	p->oom = true;
	return 0;
}

int weft__pprof_sample(struct weft__pprof *p, const uintptr_t *pcs, int n, const char *pseudo,
		       const int64_t *values, const struct weft__pprof_label *labels, int nl)
{
	struct pbuf m = { 0 }, ids = { 0 }, vals = { 0 };

	if (p->oom)
		return -ENOMEM;
	for (int i = 0; i < n; i++) /* return addresses: the call is the byte before */
		pb_varint(&ids, loc_id(p, i ? pcs[i] - 1 : pcs[i], NULL));
	if (pseudo)
		pb_varint(&ids, loc_id(p, 0, pseudo));
	for (int i = 0; i < p->nvals; i++)
		pb_varint(&vals, (uint64_t)values[i]);
	pb_bytes(&m, 1, ids.d, ids.len);
	pb_bytes(&m, 2, vals.d, vals.len);
	for (int i = 0; i < nl; i++) {
		struct pbuf l = { 0 };
		pb_u64(&l, 1, str_id(p, labels[i].key));
		pb_u64(&l, 2, str_id(p, labels[i].str));
		pb_bytes(&m, 3, l.d, l.len);
		m.oom |= l.oom;
		free(l.d);
	}
	pb_bytes(&p->samples, 2, m.d, m.len);
	p->oom |= m.oom || ids.oom || vals.oom || p->samples.oom;
	free(m.d);
	free(ids.d);
	free(vals.d);
	return p->oom ? -ENOMEM : 0;
}

void weft__pprof_free(struct weft__pprof *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nstrs; i++)
		free(p->strs[i]);
	free(p->strs);
	imap_free(&p->strmap);
	imap_free(&p->locmap);
	free(p->locs);
	free(p->head.d);
	free(p->samples.d);
	free(p);
}

/* Mappings, locations with their function, functions (one per distinct name). */
static void write_tables(struct weft__pprof *p, struct pbuf *b)
{
	struct weft__syms *syms = weft__syms_load();
	const struct weft__sym_map *maps = NULL;
	size_t nmaps = syms ? weft__syms_maps(syms, &maps) : 0;
	struct imap funcs = { 0 }; /* name's string index -> function id */
	uint32_t nfuncs = 0, *slot;
	struct pbuf fb = { 0 };

	for (size_t i = 0; i < nmaps; i++) {
		struct pbuf m = { 0 };
		pb_u64(&m, 1, i + 1);
		pb_u64(&m, 2, maps[i].start);
		pb_u64(&m, 3, maps[i].limit);
		pb_u64(&m, 4, maps[i].offset);
		pb_u64(&m, 5, str_id(p, maps[i].file));
		pb_u64(&m, 7, 1); /* has_functions: pprof must not symbolize again */
		pb_bytes(b, 3, m.d, m.len);
		b->oom |= m.oom;
		free(m.d);
	}
	for (size_t i = 0; i < p->nlocs; i++) {
		struct pbuf m = { 0 }, line = { 0 };
		const struct weft__sym_map *map = NULL;
		uintptr_t start = 0;
		const char *name = NULL;
		char hex[32];
		uint32_t sid;

		if (p->locs[i].pseudo) {
			sid = p->locs[i].pseudo;
		} else {
			name = syms ? weft__syms_find(syms, p->locs[i].addr, &start, &map) : NULL;
			if (!name) {
				snprintf(hex, sizeof(hex), "0x%lx", (unsigned long)p->locs[i].addr);
				name = hex;
			}
			sid = str_id(p, name);
		}
		uint32_t fid = imap_get(&funcs, sid, &slot);
		if (!fid && slot) {
			struct pbuf f = { 0 };
			*slot = fid = ++nfuncs;
			pb_u64(&f, 1, fid);
			pb_u64(&f, 2, sid);
			pb_u64(&f, 3, sid);
			pb_bytes(&fb, 5, f.d, f.len);
			fb.oom |= f.oom;
			free(f.d);
		} else if (!fid) {
			p->oom = true;
		}
		pb_u64(&m, 1, i + 1);
		if (map)
			pb_u64(&m, 2, (uint64_t)(map - maps) + 1);
		pb_u64(&m, 3, p->locs[i].addr);
		pb_u64(&line, 1, fid);
		pb_bytes(&m, 4, line.d, line.len);
		pb_bytes(b, 4, m.d, m.len);
		b->oom |= m.oom || line.oom;
		free(m.d);
		free(line.d);
	}
	pb_raw(b, fb.d, fb.len);
	b->oom |= fb.oom;
	free(fb.d);
	imap_free(&funcs);
	weft__syms_free(syms);
}

static int gzip_buf(const struct pbuf *in, void **ret, size_t *ret_len)
{
	z_stream z = { 0 };
	uLong bound;
	uint8_t *out;

	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)in->len) + 32;
	if (!(out = malloc(bound))) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = in->d;
	z.avail_in = (uInt)in->len;
	z.next_out = out;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return -ENOMEM;
	}
	*ret_len = z.total_out;
	*ret = out;
	deflateEnd(&z);
	return 0;
}

int weft__pprof_finish(struct weft__pprof *p, void **ret, size_t *ret_len)
{
	struct pbuf b = { 0 };
	int r = -ENOMEM;

	pb_raw(&b, p->head.d, p->head.len);
	pb_raw(&b, p->samples.d, p->samples.len);
	write_tables(p, &b);
	for (size_t i = 0; i < p->nstrs; i++) /* last: the tables above added names */
		pb_bytes(&b, 6, p->strs[i], strlen(p->strs[i]));
	pb_u64(&b, 9, (uint64_t)p->time_ns);
	pb_u64(&b, 10, (uint64_t)p->duration_ns);
	if (!b.oom && !p->oom && !p->head.oom)
		r = gzip_buf(&b, ret, ret_len);
	free(b.d);
	weft__pprof_free(p);
	return r;
}
