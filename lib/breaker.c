/* SPDX-License-Identifier: MIT */
/* breaker.c — circuit breaker. One spinlock guards a small state machine;
 * every transition bumps a generation so that late reports from calls
 * admitted in an earlier state are recognised and dropped. */
#include <stdlib.h>

#include "internal.h"
#include <weft/breaker.h>

struct weft_breaker {
	weft__lock lock;
	struct weft_breaker_opts o;     /* with defaults filled in */
	enum weft_breaker_state state;
	uint64_t gen;                   /* bumped at each transition; a call's ticket */
	int64_t open_until;             /* OPEN: when probing may start */
	unsigned fails;                 /* CLOSED: consecutive failures */
	unsigned probes;                /* HALF_OPEN: probes in flight */
	unsigned probe_ok;              /* HALF_OPEN: successful probes */
	struct weft_breaker_stats st;
};

/* Under the lock. */
static void set_state(weft_breaker *b, enum weft_breaker_state to, int64_t now)
{
	enum weft_breaker_state from = b->state;
	b->state = to;
	b->gen++;
	b->fails = b->probes = b->probe_ok = 0;
	if (to == WEFT_BREAKER_OPEN) {
		b->open_until = now + b->o.cooldown_ns;
		b->st.opened++;
	}
	if (b->o.on_change && from != to)
		b->o.on_change(b, from, to, b->o.arg);
}

/* OPEN becomes HALF_OPEN lazily, when someone looks after the cool-down. */
static void refresh(weft_breaker *b, int64_t now)
{
	if (b->state == WEFT_BREAKER_OPEN && now >= b->open_until)
		set_state(b, WEFT_BREAKER_HALF_OPEN, now);
}

int weft_breaker_new(const struct weft_breaker_opts *opts, weft_breaker **ret)
{
	if (!ret || (opts && opts->cooldown_ns < 0))
		return -EINVAL;
	weft_breaker *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	if (opts)
		b->o = *opts;
	if (!b->o.failure_threshold)
		b->o.failure_threshold = 5;
	if (!b->o.cooldown_ns)
		b->o.cooldown_ns = 30 * WEFT_SEC;
	if (!b->o.half_open_probes)
		b->o.half_open_probes = 1;
	b->gen = 1;
	*ret = b;
	return 0;
}

weft_breaker *weft_breaker_free(weft_breaker *b)
{
	free(b);
	return NULL;
}

int weft_breaker_allow(weft_breaker *b, uint64_t *ret_ticket)
{
	if (!b || !ret_ticket)
		return -EINVAL;
	int64_t now = weft__now();
	int r = 0;
	weft__lock_acquire(&b->lock);
	refresh(b, now);
	switch (b->state) {
	case WEFT_BREAKER_CLOSED:
		break;
	case WEFT_BREAKER_OPEN:
		r = -EBUSY;
		break;
	case WEFT_BREAKER_HALF_OPEN:
		if (b->probes + b->probe_ok >= b->o.half_open_probes)
			r = -EBUSY;
		else
			b->probes++;
		break;
	}
	if (r == 0) {
		*ret_ticket = b->gen;
		b->st.admitted++;
	} else {
		b->st.refused++;
	}
	weft__lock_release(&b->lock);
	return r;
}

int weft_breaker_done(weft_breaker *b, uint64_t ticket, int result)
{
	if (!b)
		return -EINVAL;
	bool failed = b->o.is_failure ? b->o.is_failure(result, b->o.arg) : result < 0;
	int64_t now = weft__now();
	weft__lock_acquire(&b->lock);
	if (failed)
		b->st.failures++;
	else
		b->st.successes++;
	if (ticket != b->gen)
		goto out; /* admitted under an earlier state: not evidence about this one */
	switch (b->state) {
	case WEFT_BREAKER_CLOSED:
		if (!failed)
			b->fails = 0;
		else if (++b->fails >= b->o.failure_threshold)
			set_state(b, WEFT_BREAKER_OPEN, now);
		break;
	case WEFT_BREAKER_HALF_OPEN:
		b->probes--;
		if (failed)
			set_state(b, WEFT_BREAKER_OPEN, now);
		else if (++b->probe_ok >= b->o.half_open_probes)
			set_state(b, WEFT_BREAKER_CLOSED, now);
		break;
	case WEFT_BREAKER_OPEN: /* cannot happen: the gen changed on opening */
		break;
	}
out:
	weft__lock_release(&b->lock);
	return 0;
}

int weft_breaker_call(weft_ctx *ctx, weft_breaker *b, int (*fn)(weft_ctx *ctx, void *arg), void *arg)
{
	if (!fn)
		return -EINVAL;
	uint64_t ticket;
	int r = weft_breaker_allow(b, &ticket);
	if (r < 0)
		return r;
	r = fn(ctx, arg);
	weft_breaker_done(b, ticket, r);
	return r;
}

enum weft_breaker_state weft_breaker_state(weft_breaker *b)
{
	if (!b)
		return WEFT_BREAKER_CLOSED;
	int64_t now = weft__now();
	weft__lock_acquire(&b->lock);
	refresh(b, now);
	enum weft_breaker_state s = b->state;
	weft__lock_release(&b->lock);
	return s;
}

void weft_breaker_reset(weft_breaker *b)
{
	if (!b)
		return;
	weft__lock_acquire(&b->lock);
	set_state(b, WEFT_BREAKER_CLOSED, weft__now());
	weft__lock_release(&b->lock);
}

void weft_breaker_stats(weft_breaker *b, struct weft_breaker_stats *ret)
{
	if (!b || !ret)
		return;
	weft__lock_acquire(&b->lock);
	*ret = b->st;
	ret->consecutive_failures = b->state == WEFT_BREAKER_CLOSED ? b->fails : 0;
	weft__lock_release(&b->lock);
}
