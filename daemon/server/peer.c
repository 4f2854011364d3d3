/* SPDX-License-Identifier: MIT */
/* peer.c — who is on the other end of a connection: its credentials, its full group list,
 * and what they allow (see server_impl.h). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server_impl.h"

#define GROUPS_ON_STACK 64

static bool uid_in(uid_t u, const uid_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == u)
			return true;
	return false;
}

static bool any_gid_in(const gid_t *g, size_t ng, const gid_t *v, size_t n)
{
	for (size_t i = 0; i < ng; i++)
		for (size_t k = 0; k < n; k++)
			if (g[i] == v[k])
				return true;
	return false;
}

/* The peer's supplementary groups from the kernel (SO_PEERGROUPS, Linux 4.13), else from
 * NSS for its uid (getgrouplist; blocking, only on kernels without SO_PEERGROUPS). Returns
 * how many in *ret (g, or a malloc'd array the caller frees when it is not g), -errno. */
static int peer_groups(int fd, const struct ucred *cr, gid_t *g, size_t cap, gid_t **ret)
{
	socklen_t len = (socklen_t)(cap * sizeof(gid_t));

	*ret = g;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0)
		return (int)(len / sizeof(gid_t));
	if (errno == ERANGE) {
		gid_t *big = malloc(len);
		if (!big)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, big, &len) < 0) {
			free(big);
			return -errno;
		}
		*ret = big;
		return (int)(len / sizeof(gid_t));
	}
	if (errno != ENOPROTOOPT)
		return -errno;
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = (int)cap;
	if (getpwuid_r(cr->uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return 0; /* no such user: its primary gid only */
	if (getgrouplist(pw.pw_name, cr->gid, g, &n) < 0)
		n = (int)cap; /* more than fit: the first cap (admin/allow lists are short) */
	return n;
}

int srv_peer_check(int fd, const struct weftd_daemon_config *d, uid_t *ret_uid, bool *ret_admin)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	gid_t mem[GROUPS_ON_STACK], *g = mem;
	int ng = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	if (d->nallow_gids || d->nadmin_gids) {
		ng = peer_groups(fd, &cr, mem, GROUPS_ON_STACK, &g);
		if (ng < 0)
			return ng;
	}
	bool allowed = (!d->nallow_uids && !d->nallow_gids) || uid_in(cr.uid, d->allow_uids, d->nallow_uids) ||
		       any_gid_in(&cr.gid, 1, d->allow_gids, d->nallow_gids) ||
		       any_gid_in(g, (size_t)ng, d->allow_gids, d->nallow_gids);
	*ret_uid = cr.uid;
	*ret_admin = cr.uid == 0 || cr.uid == getuid() || uid_in(cr.uid, d->admin_uids, d->nadmin_uids) ||
		     any_gid_in(&cr.gid, 1, d->admin_gids, d->nadmin_gids) ||
		     any_gid_in(g, (size_t)ng, d->admin_gids, d->nadmin_gids);
	if (g != mem)
		free(g);
	return allowed ? 0 : -EACCES;
}
