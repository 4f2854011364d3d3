/* exec.c — run a command per attempt (filled in by the next commit). */
#include <errno.h>
#include <stdio.h>

#include "actor_impl.h"

int weftd_exec_init(struct weftd_actor *a, char *err, size_t errlen)
{
	snprintf(err, errlen, "stage %s: exec is not implemented yet", a->cfg->name);
	return -ENOSYS;
}

void weftd_exec_done(struct weftd_actor *a)
{
}

int weftd_exec_run(const struct weftd_actor *a, struct weftd_attempt *at)
{
	return weftd_attempt_fail(at, -ENOSYS, "exec is not implemented yet");
}
