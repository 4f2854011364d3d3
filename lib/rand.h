/* SPDX-License-Identifier: MIT */
/* rand.h — the library's one pseudo-random generator (private): wyrand (one
 * 64x64->128 multiply per draw; passes BigCrush and PractRand), exported as
 * weft_rand64 (weft/retry.h). Any state (0 included) gives a full-period
 * stream, so seeding is trivial, and successive draws depend on each other
 * only through an add, so a loop of them (select's shuffle) pipelines. Each
 * proc keeps a state for its own use (the victim order of stealing,
 * select's shuffle); other users (the retry jitter) keep theirs.
 */
#ifndef WEFT_RAND_H
#define WEFT_RAND_H

#include <stdint.h>

static inline uint64_t weft__rand64(uint64_t *state)
{
	uint64_t s = (*state += UINT64_C(0xa0761d6478bd642f));
	unsigned __int128 t = (unsigned __int128)s * (s ^ UINT64_C(0xe7037ed1a0b428db));
	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* Uniform in [0, n) for n <= 2^32 (Lemire's multiply, no division). */
static inline uint32_t weft__rand_below(uint64_t *state, uint32_t n)
{
	return (uint32_t)(((weft__rand64(state) >> 32) * n) >> 32);
}

#endif
