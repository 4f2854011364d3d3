/* SPDX-License-Identifier: MIT */
/* idmap.h — a hash map from string ids to intrusive nodes: the daemon's one id index
 * (the job table's ids, the journal's live set).
 *
 * The node lives inside the caller's object and names its key (the bytes stay owned by
 * that object, and must not change while the node is in a map). The map allocates only its
 * bucket array, which doubles when it holds as many nodes as buckets; a doubling that
 * cannot allocate leaves longer chains, so an insert never fails for want of memory
 * once the map is initialised.
 * Not thread-safe: the owner locks around every call.
 */
#ifndef WEFTD_IDMAP_H
#define WEFTD_IDMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct weftd_idmap_node {
	SLIST_ENTRY(weftd_idmap_node) chain;
	const char *id;                /* the key: len bytes, owned by the containing object */
	size_t len;
	uint64_t hash;
};

SLIST_HEAD(weftd_idmap_chain, weftd_idmap_node);

struct weftd_idmap {
	struct weftd_idmap_chain *buckets;
	size_t nbuckets;               /* a power of two */
	size_t count;
};

/* An empty map with nbuckets (rounded up to a power of two, at least 16) buckets.
 * Returns 0 or -ENOMEM (m is then empty and weftd_idmap_done is still safe). */
int weftd_idmap_init(struct weftd_idmap *m, size_t nbuckets);
/* Free the bucket array; the nodes are the caller's. Safe on a zeroed map. */
void weftd_idmap_done(struct weftd_idmap *m);

/* Name n's key: len bytes at id (which must outlive n's time in a map). */
void weftd_idmap_node_init(struct weftd_idmap_node *n, const char *id, size_t len);

/* The node whose key is the len bytes at id, or NULL. */
struct weftd_idmap_node *weftd_idmap_get(const struct weftd_idmap *m, const char *id, size_t len);
/* Add n (key set by weftd_idmap_node_init). Returns 0, -EEXIST when a node with the
 * same key is in the map, or -ENOMEM when the map never got its buckets (failed init);
 * n is then not added. */
int weftd_idmap_insert(struct weftd_idmap *m, struct weftd_idmap_node *n);
/* Take n out of m; nothing happens when n is not in m (e.g. refused with -EEXIST). */
void weftd_idmap_remove(struct weftd_idmap *m, struct weftd_idmap_node *n);

#endif
