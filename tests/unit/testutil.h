/* testutil.h — shared by the unit tests. */
#ifndef WEFT_TESTUTIL_H
#define WEFT_TESTUTIL_H

/* ThreadSanitizer makes every fiber a thread of its own (tens of
 * microseconds to create, a few hundred KiB each): tests that spawn many
 * fibers scale their counts down under it, keeping every assertion. */
#ifdef WEFT_SAN_THREAD
#define TEST_SCALE(n) ((n) / 50 > 0 ? (n) / 50 : 1)
#else
#define TEST_SCALE(n) (n)
#endif

#endif
