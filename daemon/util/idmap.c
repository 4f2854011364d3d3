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

int weftd_idmap_init(struct weftd_idmap *m, size_t nbuckets)
{
	size_t n = 16;

	while (n < nbuckets)
		n *= 2;
	*m = (struct weftd_idmap){ 0 };
	m->buckets = calloc(n, sizeof(*m->buckets));
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
	n->next = NULL;
	n->id = id;
	n->len = len;
	n->hash = hash_id(id, len);
}

static struct weftd_idmap_node **slot(const struct weftd_idmap *m, const char *id, size_t len,
				      uint64_t hash)
{
	struct weftd_idmap_node **pp = &m->buckets[hash & (m->nbuckets - 1)];

	while (*pp && ((*pp)->hash != hash || (*pp)->len != len || memcmp((*pp)->id, id, len) != 0))
		pp = &(*pp)->next;
	return pp;
}

struct weftd_idmap_node *weftd_idmap_get(const struct weftd_idmap *m, const char *id, size_t len)
{
	if (!m->nbuckets)
		return NULL;
	return *slot(m, id, len, hash_id(id, len));
}

static void grow(struct weftd_idmap *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
	struct weftd_idmap_node **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < m->nbuckets; i++) {
		for (struct weftd_idmap_node *e = m->buckets[i], *next; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

int weftd_idmap_insert(struct weftd_idmap *m, struct weftd_idmap_node *n)
{
	if (m->count >= m->nbuckets)
		grow(m);
	if (!m->nbuckets)
		return -ENOMEM; /* never got a bucket array at all */
	struct weftd_idmap_node **pp = slot(m, n->id, n->len, n->hash);
	if (*pp)
		return -EEXIST;
	n->next = NULL;
	*pp = n;
	m->count++;
	return 0;
}

void weftd_idmap_remove(struct weftd_idmap *m, struct weftd_idmap_node *n)
{
	struct weftd_idmap_node **pp;

	if (!m->nbuckets)
		return;
	pp = &m->buckets[n->hash & (m->nbuckets - 1)];
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = n->next;
		m->count--;
	}
	n->next = NULL;
}
