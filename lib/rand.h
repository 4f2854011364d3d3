/* rand.h — the library's one pseudo-random generator (private): splitmix64,
 * exported as weft_rand64 (weft/retry.h). Cheap, and any state (0 included)
 * gives a full-period stream, so seeding is trivial. Each proc keeps a state
 * for its own use (the victim order of stealing, select's shuffle); other
 * users (the retry jitter) keep theirs.
 */
#ifndef WEFT_RAND_H
#define WEFT_RAND_H

#include <stdint.h>

static inline uint64_t weft__rand64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [0, n) for n <= 2^32 (Lemire's multiply, no division). */
static inline uint32_t weft__rand_below(uint64_t *state, uint32_t n)
{
	return (uint32_t)(((weft__rand64(state) >> 32) * n) >> 32);
}

#endif
