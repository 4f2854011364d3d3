/* SPDX-License-Identifier: MIT */
/* builtin.c — the in-process stage actions: noop, echo, upper, sha256, sleep,
 * fail. Params are parsed once when the actor is made; a run only reads them,
 * so one actor serves many worker fibers at once. Long CPU work (upper and
 * sha256 over big payloads) yields every chunk so one job cannot hold a proc. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions/action.h"

#define CHUNK (1u << 20) /* bytes of CPU work between yields */

struct builtin;

/* One stage's builtin: which one, and its params parsed once. */
struct bstate {
	const struct weftd_stage *cfg;  /* borrowed: outlives the state */
	const struct builtin *b;
	const char *text;               /* echo: param text, or NULL = the input */
	uint64_t duration_ns;           /* sleep */
	bool silent;                    /* sleep: beat: false (never beats) */
	const char *message;            /* fail: the error text */
	uint64_t fail_times;            /* fail: attempts that fail; UINT64_MAX = all */
};

typedef int builtin_fn(const struct bstate *s, struct weftd_attempt *at);

static int b_noop(const struct bstate *s, struct weftd_attempt *at)
{
	return weftd_attempt_output(at, at->in, at->in_len);
}

static int b_echo(const struct bstate *s, struct weftd_attempt *at)
{
	if (s->text)
		return weftd_attempt_output(at, s->text, strlen(s->text));
	return weftd_attempt_output(at, at->in, at->in_len);
}

/* Between chunks: let others run, say we are alive, stop when told to. */
static int chunk_pause(const struct bstate *s, struct weftd_attempt *at)
{
	int r;

	weftd_attempt_beat(at);
	weft_yield();
	if ((r = weft_ctx_err(at->ctx)) < 0)
		return weftd_attempt_ctx_fail(at, r, s->cfg->timeout_ns);
	return 0;
}

static int b_upper(const struct bstate *s, struct weftd_attempt *at)
{
	const unsigned char *in = at->in;
	char *out = malloc(at->in_len + 1);
	int r;

	if (!out)
		return weftd_attempt_fail(at, -ENOMEM, "out of memory (%zu-byte output)", at->in_len);
	for (size_t i = 0; i < at->in_len; i++) {
		if (i && i % CHUNK == 0 && (r = chunk_pause(s, at)) < 0) {
			free(out);
			return r;
		}
		unsigned char c = in[i];
		out[i] = (char)(c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c);
	}
	out[at->in_len] = '\0';
	weftd_attempt_output_take(at, out, at->in_len);
	return 0;
}

static int b_sha256(const struct bstate *s, struct weftd_attempt *at)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	const unsigned char *p = at->in;
	size_t left = at->in_len;
	EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
	char *out;
	int r = 0;

	if (!md_ctx)
		return weftd_attempt_fail(at, -ENOMEM, "out of memory (sha256)");
	if (!EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL))
		r = weftd_attempt_fail(at, -EIO, "sha256: libcrypto init failed");
	while (r == 0 && left) {
		size_t n = left < CHUNK ? left : CHUNK;
		if (!EVP_DigestUpdate(md_ctx, p, n))
			r = weftd_attempt_fail(at, -EIO, "sha256: libcrypto update failed");
		p += n;
		left -= n;
		if (r == 0 && left)
			r = chunk_pause(s, at);
	}
	if (r == 0 && !EVP_DigestFinal_ex(md_ctx, md, &mdlen))
		r = weftd_attempt_fail(at, -EIO, "sha256: libcrypto final failed");
	EVP_MD_CTX_free(md_ctx);
	if (r < 0)
		return r;
	if (!(out = malloc(2 * mdlen + 1)))
		return weftd_attempt_fail(at, -ENOMEM, "out of memory (sha256)");
	for (unsigned i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * mdlen] = '\0';
	weftd_attempt_output_take(at, out, 2 * mdlen);
	return 0;
}

/* Sleep in slices so a heartbeat goes out while parked. */
#define SLEEP_BEAT_NS (100 * WEFT_MSEC)

static int b_sleep(const struct bstate *s, struct weftd_attempt *at)
{
	int64_t end = weft_now() + (int64_t)s->duration_ns;
	int r;

	for (;;) {
		int64_t now = weft_now(), left = end - now;
		if (!s->silent)
			weftd_attempt_beat(at);
		if (left <= 0)
			break;
		if ((r = weft_sleep_until(at->ctx, left < SLEEP_BEAT_NS ? end : now + SLEEP_BEAT_NS)) < 0)
			return weftd_attempt_ctx_fail(at, r, s->cfg->timeout_ns);
	}
	return weftd_attempt_output(at, at->in, at->in_len);
}

static int b_fail(const struct bstate *s, struct weftd_attempt *at)
{
	if (at->attempt <= s->fail_times)
		return weftd_attempt_fail(at, -EIO, "%s", s->message);
	return weftd_attempt_output(at, at->in, at->in_len);
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (!s[0] || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static const struct builtin {
	const char *name;
	builtin_fn *fn;
	const char *params[3];  /* the params it accepts, NULL-terminated */
	bool instant;           /* never parks, never reads the ctx */
} builtins[] = {
	{ "noop", b_noop, { NULL }, true },
	{ "echo", b_echo, { "text", NULL }, true },
	{ "upper", b_upper, { NULL }, false },
	{ "sha256", b_sha256, { NULL }, false },
	{ "sleep", b_sleep, { "duration", "beat", NULL }, false },
	{ "fail", b_fail, { "message", "times", NULL }, false },
};

static int check_params(const struct weftd_stage *cfg, const struct builtin *b, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->nparams; i++) {
		const char *key = cfg->params[i].key;
		size_t j = 0;
		while (b->params[j] && strcmp(b->params[j], key) != 0)
			j++;
		if (!b->params[j]) {
			snprintf(err, errlen, "stage %s: builtin %s has no param \"%s\"",
				 cfg->name, b->name, key);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_params(struct bstate *s, char *err, size_t errlen)
{
	const struct weftd_stage *cfg = s->cfg;
	const char *v;

	s->text = weftd_stage_param(cfg, "text");
	s->duration_ns = WEFTD_NSEC_PER_SEC;
	if ((v = weftd_stage_param(cfg, "duration")) &&
	    weftd_parse_duration(v, strlen(v), &s->duration_ns) < 0) {
		snprintf(err, errlen, "stage %s: param duration: invalid duration \"%s\"", cfg->name, v);
		return -EINVAL;
	}
	s->message = weftd_stage_param(cfg, "message");
	if (!s->message)
		s->message = "failed (builtin fail)";
	/* beat: false makes a stuck attempt for heartbeat tests (parks without beating) */
	if ((v = weftd_stage_param(cfg, "beat"))) {
		if (strcmp(v, "false") == 0) {
			s->silent = true;
		} else if (strcmp(v, "true") != 0) {
			snprintf(err, errlen, "stage %s: param beat: expected true or false, not \"%s\"",
				 cfg->name, v);
			return -EINVAL;
		}
	}
	s->fail_times = UINT64_MAX;
	if ((v = weftd_stage_param(cfg, "times")) && parse_u64(v, &s->fail_times) < 0) {
		snprintf(err, errlen, "stage %s: param times: not a count \"%s\"", cfg->name, v);
		return -EINVAL;
	}
	return 0;
}

static int builtin_init(const struct weftd_stage *cfg, void **ret_state, char *err, size_t errlen)
{
	const struct builtin *b = NULL;
	struct bstate *s;
	int r;

	for (size_t i = 0; cfg->builtin && i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strcmp(builtins[i].name, cfg->builtin) == 0)
			b = &builtins[i];
	if (!b) {
		snprintf(err, errlen, "stage %s: unknown builtin \"%s\"", cfg->name,
			 cfg->builtin ? cfg->builtin : "");
		return -EINVAL;
	}
	if ((r = check_params(cfg, b, err, errlen)) < 0)
		return r;
	if (!(s = calloc(1, sizeof(*s)))) {
		snprintf(err, errlen, "stage %s: out of memory", cfg->name);
		return -ENOMEM;
	}
	s->cfg = cfg;
	s->b = b;
	if ((r = parse_params(s, err, errlen)) < 0) {
		free(s);
		return r;
	}
	*ret_state = s;
	return 0;
}

static int builtin_run(const void *state, struct weftd_attempt *at)
{
	const struct bstate *s = state;

	return s->b->fn(s, at);
}

static bool builtin_instant(const void *state)
{
	return ((const struct bstate *)state)->b->instant;
}

const struct weftd_action_ops weftd_action_builtin = {
	.name = "builtin",
	.init = builtin_init,
	.run = builtin_run,
	.done = free,
	.instant = builtin_instant,
};
