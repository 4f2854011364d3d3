/* SPDX-License-Identifier: MIT */
/* burn.c — a test plugin that burns CPU: each job spins for the number of milliseconds
 * in its payload (default 50), in a static function that only the ELF symbol table names
 * (tests/integration/test_profile.sh finds it by name in the CPU profile, with the job's
 * pipeline and stage labels). Yields every 5 ms so the other fibers of its proc run. */
#include <stdlib.h>
#include <time.h>

#include "weftd_plugin.h"

WEFTD_PLUGIN_DEFINE_ABI;

static long long cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static volatile unsigned long long sink;

__attribute__((noinline, noclone)) static unsigned long long burn_plugin_spin(unsigned long long n)
{
	unsigned long long x = 1;
	for (unsigned long long i = 0; i < n; i++)
		x = x * 6364136223846793005ULL + i;
	return x;
}

WEFTD_PLUGIN_EXPORT int weftd_stage(struct weftd_plugin_call *call)
{
	char ms_s[16] = "50";
	size_t n = call->in_len < sizeof(ms_s) - 1 ? call->in_len : sizeof(ms_s) - 1;
	long long ms;

	if (n) {
		for (size_t i = 0; i < n; i++)
			ms_s[i] = ((const char *)call->in)[i];
		ms_s[n] = 0;
	}
	ms = atoll(ms_s);
	for (long long used = 0; used < ms * 1000000LL;) {
		long long t = cpu_ns();
		while (cpu_ns() - t < 5000000LL) /* thread CPU time: the fiber may change thread */
			sink += burn_plugin_spin(20000);
		used += cpu_ns() - t;
		call->beat(call);
		weft_yield();
		if (weft_ctx_err(call->ctx))
			return weft_ctx_err(call->ctx);
	}
	return call->set_output(call, "burnt", 5);
}
