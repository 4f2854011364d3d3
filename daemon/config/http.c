/* SPDX-License-Identifier: MIT */
/* The daemon.http section (config.h: struct weftd_http_config): where the monitoring
 * listener binds, checked at load so that a typo fails --check-config, not the start. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config/sections.h"

static int parse_port(const char *s, uint16_t *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

int weftd_http_addr_parse(const char *s, struct sockaddr_storage *ret, unsigned *ret_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = s;
	size_t hlen;
	uint16_t port;

	if (!s || !ret || !ret_len)
		return -EINVAL;
	if (s[0] == '[') { /* [IPv6]:PORT */
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host) || parse_port(colon + 1, &port) < 0)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	memset(ret, 0, sizeof(*ret));
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ret;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		*ret_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ret;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		*ret_len = sizeof(*a);
	}
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool weftd_http_config_equal(const struct weftd_http_config *a, const struct weftd_http_config *b)
{
	return str_eq(a->listen, b->listen) && a->debug == b->debug &&
	       a->max_connections == b->max_connections && a->timeout_ns == b->timeout_ns;
}

/* A path (absolute, fits sun_path) or a numeric HOST:PORT. */
static int fn_listen(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_http_config *h = obj;
	struct sockaddr_storage ss;
	unsigned len;
	const char *s;
	int r = cfg_str(c, n, &s, true);

	if (r < 0)
		return r;
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return cfg_fail(c, n, "socket path too long (at most %zu bytes)",
					sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	} else if (weftd_http_addr_parse(s, &ss, &len) < 0) {
		return cfg_fail(c, n, "invalid address \"%s\" (\"127.0.0.1:9464\", \"[::1]:9464\" or an absolute socket path)", s);
	}
	h->listen = s;
	return 0;
}

static int fn_debug(struct pctx *c, yaml_node_t *n, void *obj)
{
	return cfg_bool(c, n, &((struct weftd_http_config *)obj)->debug);
}

int cfg_http_section(struct pctx *c, yaml_node_t *n, void *obj)
{
	static const struct cfg_field f[] = {
		{ "listen", F_FN, 0, 0, 0, 0, 0, fn_listen },
		{ "debug", F_FN, 0, 0, 0, 0, 0, fn_debug },
		{ "max_connections", F_U32, offsetof(struct weftd_http_config, max_connections), 1,
		  WEFTD_HTTP_MAX_CONNECTIONS, 0, 0, 0 },
		{ "timeout", F_DUR, offsetof(struct weftd_http_config, timeout_ns), WEFTD_NSEC_PER_SEC,
		  CFG_MAX_DUR, 0, 0, 0 },
	};
	return cfg_walk_map(c, n, f, ARRAY_SIZE(f), &((struct weftd_daemon_config *)obj)->http);
}
