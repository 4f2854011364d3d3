/* SPDX-License-Identifier: MIT */
/* idmap.c — the daemon's id index, see idmap.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/idmap.h"

/* Job ids are a counter in hex: its value spreads consecutive jobs over consecutive
 * buckets, which is as even as a hash gets. Anything else is folded with FNV-1a. */
static uint64_t hash_id(const char *s, size_t len)
{
	uint64_t v = 0, h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		unsigned c = (unsigned char)s[i], d;
		if (c - '0' < 10)
			d = c - '0';
		else if (c - 'a' < 6)
			d = c - 'a' + 10;
		else
			goto fnv;
		v = v << 4 | d;
	}
	return v;
fnv:
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

/* calloc'd chains are empty SLIST heads (a NULL first pointer) */
static struct weftd_idmap_chain *chains_new(size_t n)
{
	return calloc(n, sizeof(struct weftd_idmap_chain));
}

int weftd_idmap_init(struct weftd_idmap *m, size_t nbuckets)
{
	size_t n = 16;

	while (n < nbuckets)
		n *= 2;
	*m = (struct weftd_idmap){ 0 };
	m->buckets = chains_new(n);
	if (!m->buckets)
		return -ENOMEM;
	m->nbuckets = n;
	return 0;
}

void weftd_idmap_done(struct weftd_idmap *m)
{
	free(m->buckets);
	*m = (struct weftd_idmap){ 0 };
}

void weftd_idmap_node_init(struct weftd_idmap_node *n, const char *id, size_t len)
{
	SLIST_NEXT(n, chain) = NULL;
	n->id = id;
	n->len = len;
	n->hash = hash_id(id, len);
}

static struct weftd_idmap_chain *chain_of(const struct weftd_idmap *m, uint64_t hash)
{
	return &m->buckets[hash & (m->nbuckets - 1)];
}

static struct weftd_idmap_node *find(const struct weftd_idmap *m, const char *id, size_t len,
				     uint64_t hash)
{
	struct weftd_idmap_node *n;

	SLIST_FOREACH(n, chain_of(m, hash), chain)
		if (n->hash == hash && n->len == len && memcmp(n->id, id, len) == 0)
			return n;
	return NULL;
}

struct weftd_idmap_node *weftd_idmap_get(const struct weftd_idmap *m, const char *id, size_t len)
{
	if (!m->nbuckets)
		return NULL;
	return find(m, id, len, hash_id(id, len));
}

static void grow(struct weftd_idmap *m)
{
	size_t n = m->nbuckets * 2;
	struct weftd_idmap_chain *b = chains_new(n);
	struct weftd_idmap_node *e;

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < m->nbuckets; i++) {
		while ((e = SLIST_FIRST(&m->buckets[i]))) {
			SLIST_REMOVE_HEAD(&m->buckets[i], chain);
			SLIST_INSERT_HEAD(&b[e->hash & (n - 1)], e, chain);
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

int weftd_idmap_insert(struct weftd_idmap *m, struct weftd_idmap_node *n)
{
	if (!m->nbuckets)
		return -ENOMEM; /* never got a bucket array at all */
	if (m->count >= m->nbuckets)
		grow(m);
	if (find(m, n->id, n->len, n->hash))
		return -EEXIST;
	SLIST_INSERT_HEAD(chain_of(m, n->hash), n, chain);
	m->count++;
	return 0;
}

void weftd_idmap_remove(struct weftd_idmap *m, struct weftd_idmap_node *n)
{
	struct weftd_idmap_node *e;

	if (!m->nbuckets)
		return;
	SLIST_FOREACH(e, chain_of(m, n->hash), chain)
		if (e == n)
			break;
	if (!e)
		return; /* not in m: SLIST_REMOVE would run off the chain's end */
	SLIST_REMOVE(chain_of(m, n->hash), n, weftd_idmap_node, chain);
	m->count--;
}
