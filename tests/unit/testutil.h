/* SPDX-License-Identifier: MIT */
/* testutil.h — shared by the unit tests. */
#ifndef WEFT_TESTUTIL_H
#define WEFT_TESTUTIL_H

#include <stdint.h>

/* ThreadSanitizer makes every fiber a thread of its own (tens of
 * microseconds to create, a few hundred KiB each): tests that spawn many
 * fibers scale their counts down under it, keeping every assertion. */
#ifdef WEFT_SAN_THREAD
#define TEST_SCALE(n) ((n) / 50 > 0 ? (n) / 50 : 1)
#else
#define TEST_SCALE(n) (n)
#endif

/* Most tests run twice, with 1 and with 2 procs: BOTH(test) puts both runs
 * in a cmocka table and the test reads the count from g_procs. */
__attribute__((unused)) static unsigned g_procs = 1;

__attribute__((unused)) static int set_procs(void **state)
{
	g_procs = (unsigned)(uintptr_t)*state;
	return 0;
}

#define BOTH(t)                                                                  \
	cmocka_unit_test_prestate_setup_teardown(t, set_procs, NULL, (void *)1), \
	cmocka_unit_test_prestate_setup_teardown(t, set_procs, NULL, (void *)2)

#endif
