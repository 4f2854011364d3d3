/* SPDX-License-Identifier: MIT */
/* uids.c — each peer uid's share of max_connections (see server_impl.h).
 *
 * A flat array of (uid, count) with one slot per connection allowed: a scan per accept
 * and per close (a few thousand compares at most), no hashing, no growth. */
#include <errno.h>
#include <stdlib.h>

#include "server/server_impl.h"

int srv_uids_init(struct weftd_server *s)
{
	const struct weftd_daemon_config *d = s->d;

	s->per_uid = d->max_connections_per_uid ? d->max_connections_per_uid
						: d->max_connections - d->max_connections / 4;
	if (s->per_uid == 0)
		s->per_uid = 1;
	s->nuids = d->max_connections;
	s->uids = calloc(s->nuids ? s->nuids : 1, sizeof(*s->uids));
	return s->uids ? 0 : -ENOMEM;
}

void srv_uids_done(struct weftd_server *s)
{
	free(s->uids);
	s->uids = NULL;
}

int srv_uid_take(struct weftd_server *s, uid_t uid)
{
	struct uid_count *free_slot = NULL;
	int r = -ENOSPC; /* every slot used: cannot happen below max_connections */

	weftd_spin_lock(&s->uids_lock);
	for (size_t i = 0; i < s->nuids; i++) {
		struct uid_count *u = &s->uids[i];
		if (u->count && u->uid == uid) {
			r = u->count >= s->per_uid ? -EBUSY : (u->count++, 0);
			free_slot = NULL;
			goto out;
		}
		if (!u->count && !free_slot)
			free_slot = u;
	}
	if (free_slot) {
		*free_slot = (struct uid_count){ uid, 1 };
		r = 0;
	}
out:
	weftd_spin_unlock(&s->uids_lock);
	return r;
}

void srv_uid_put(struct weftd_server *s, uid_t uid)
{
	weftd_spin_lock(&s->uids_lock);
	for (size_t i = 0; i < s->nuids; i++)
		if (s->uids[i].count && s->uids[i].uid == uid) {
			s->uids[i].count--;
			break;
		}
	weftd_spin_unlock(&s->uids_lock);
}
