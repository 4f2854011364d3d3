/* plugin.c — stage functions from shared objects (filled in by a later commit). */
#include <errno.h>
#include <stdio.h>

#include "actor_impl.h"

int weftd_plugin_init(struct weftd_actor *a, char *err, size_t errlen)
{
	snprintf(err, errlen, "stage %s: plugins are not implemented yet", a->cfg->name);
	return -ENOSYS;
}

void weftd_plugin_done(struct weftd_actor *a)
{
}

int weftd_plugin_run(const struct weftd_actor *a, struct weftd_attempt *at)
{
	return weftd_attempt_fail(at, -ENOSYS, "plugins are not implemented yet");
}
