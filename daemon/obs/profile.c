/* SPDX-License-Identifier: MIT */
/* profile.c — taking weftd's profiles (see profile.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "obs/heap.h"
#include "obs/profile.h"
#include "proto/json.h"
#include "proto/reply.h"
#include "proto/text.h"
#include "util/log.h"

/* One CPU profile, one block/mutex window at a time in the process: libweft's CPU profile
 * is process-wide (one SIGPROF handler), and so are the block and mutex rates. */
static atomic_bool cpu_busy, waits_busy;

static atomic_bool *claim_flag(const char *kind)
{
	if (strcmp(kind, "cpu") == 0)
		return &cpu_busy;
	if (strcmp(kind, "block") == 0 || strcmp(kind, "mutex") == 0)
		return &waits_busy;
	return NULL;
}

int weftd_profile_claim(const struct weftd_profile_args *args)
{
	atomic_bool *f = claim_flag(args->kind);
	bool exp = false;

	if (f && !atomic_compare_exchange_strong(f, &exp, true))
		return -EBUSY;
	return 0;
}

void weftd_profile_release(const struct weftd_profile_args *args)
{
	atomic_bool *f = claim_flag(args->kind);

	if (f)
		atomic_store(f, false);
}

/* ---- heap: jemalloc's own profile ----------------------------------------------------- */

/* Weak: weftd links jemalloc except in sanitizer builds (which bring their allocator). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
	__attribute__((weak));

struct heap_dump { char path[64]; int r; };

static int heap_dump_blocking(void *arg)
{
	struct heap_dump *h = arg;
	const char *p = h->path;
	return mallctl("prof.dump", NULL, NULL, (void *)&p, sizeof(p)) == 0 ? 0 : -EIO;
}

static int read_file(const char *path, struct weftd_profile *ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if ((size_t)st.st_size > WEFTD_PROFILE_BYTES_MAX)
		r = -E2BIG;
	else if (!(ret->data = malloc((size_t)st.st_size + 1)))
		r = -ENOMEM;
	else if (read(fd, ret->data, (size_t)st.st_size) != st.st_size)
		r = -EIO;
	ret->len = (size_t)st.st_size;
	close(fd);
	if (r < 0) {
		free(ret->data);
		ret->data = NULL;
	}
	return r;
}

static int heap(struct weftd_profile *ret, char *err, size_t errlen)
{
	struct heap_dump h = { .r = 0 };
	struct weftd_profile dump = { 0 };
	struct weftd_buf b;
	bool on = false;
	size_t sz = sizeof(on);
	const char *tmp = getenv("TMPDIR");
	int fd, r;

	if (!mallctl) {
		snprintf(err, errlen, "heap profiling needs weftd linked with jemalloc (this build is not: a sanitizer build?)");
		return -EOPNOTSUPP;
	}
	if (mallctl("config.prof", &on, &sz, NULL, 0) != 0 || !on) {
		snprintf(err, errlen, "heap profiling needs jemalloc built with --enable-prof");
		return -EOPNOTSUPP;
	}
	sz = sizeof(on);
	if (mallctl("opt.prof", &on, &sz, NULL, 0) != 0 || !on) {
		snprintf(err, errlen, "heap profiling needs weftd started with MALLOC_CONF=prof:true (jemalloc samples allocations only then)");
		return -EOPNOTSUPP;
	}
	snprintf(h.path, sizeof(h.path), "%s/weftd-heap-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if ((fd = mkostemp(h.path, O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errlen, "heap profile: cannot create %s: %s", h.path, strerror(-r));
		return r;
	}
	close(fd);
	r = weft_blocking(heap_dump_blocking, &h); /* writes a file: off the procs */
	if (r == 0)
		r = read_file(h.path, &dump);
	unlink(h.path);
	if (r < 0) {
		snprintf(err, errlen, "heap profile: jemalloc's prof.dump: %s", strerror(-r));
		return r;
	}
	weftd_buf_init(&b, NULL, 0);
	r = weftd_heap_convert(dump.data, dump.len, &b);
	free(dump.data);
	if (r < 0) {
		weftd_buf_done(&b);
		snprintf(err, errlen, "heap profile: jemalloc's dump is not in its heap_v2 format");
		return r == -ENOMEM ? r : -EIO;
	}
	ret->data = b.data;
	ret->len = b.len;
	ret->text = true;
	return 0;
}

/* ---- the others: libweft ------------------------------------------------------------- */

static int cpu(const struct weftd_profile_args *a, weft_ctx *ctx, struct weftd_profile *ret)
{
	int r = weft_prof_cpu_start(0);

	if (r < 0)
		return r;
	weft_sleep(ctx, (int64_t)(a->has_seconds ? a->seconds : WEFTD_PROFILE_CPU_DEFAULT) * WEFT_SEC);
	r = weft_prof_cpu_stop(&ret->data, &ret->len);
	return r < 0 ? r : 0;
}

static int waits(const struct weftd_profile_args *a, weft_ctx *ctx, struct weftd_profile *ret)
{
	bool block = strcmp(a->kind, "block") == 0;
	int r;

	weft_prof_waits_reset();
	if (block)
		weft_prof_set_block_rate(1);
	else
		weft_prof_set_mutex_fraction(1);
	weft_sleep(ctx, (int64_t)(a->has_seconds ? a->seconds : WEFTD_PROFILE_WAITS_DEFAULT) * WEFT_SEC);
	if (block)
		weft_prof_set_block_rate(0);
	else
		weft_prof_set_mutex_fraction(0);
	r = block ? weft_prof_block(&ret->data, &ret->len) : weft_prof_mutex(&ret->data, &ret->len);
	return r < 0 ? r : 0;
}

int weftd_profile_take(const struct weftd_profile_args *a, weft_ctx *ctx,
		       struct weftd_profile *ret, char *err, size_t errlen)
{
	atomic_bool *flag = claim_flag(a->kind);
	int r;

	*ret = (struct weftd_profile){ 0 };
	if (a->debug < 0 || a->debug > 2 || (a->has_seconds && (a->seconds < 1 ||
	    a->seconds > WEFTD_PROFILE_SECONDS_MAX))) {
		snprintf(err, errlen, "debug must be 0..2 and seconds 1..%d", WEFTD_PROFILE_SECONDS_MAX);
		r = -EINVAL;
	} else if (strcmp(a->kind, "cpu") == 0) {
		r = cpu(a, ctx, ret);
	} else if (strcmp(a->kind, "heap") == 0) {
		r = heap(ret, err, errlen);
	} else if (strcmp(a->kind, "fibers") == 0) {
		r = weft_prof_fibers(a->debug, &ret->data, &ret->len);
		ret->text = a->debug > 0;
		r = r < 0 ? r : 0;
	} else if (flag) {
		r = waits(a, ctx, ret);
	} else {
		snprintf(err, errlen, "kind must be one of cpu, heap, fibers, block, mutex");
		r = -EINVAL;
	}
	weftd_profile_release(a);
	if (r == 0 && ret->len > WEFTD_PROFILE_BYTES_MAX) {
		snprintf(err, errlen, "the profile is larger than %u bytes", WEFTD_PROFILE_BYTES_MAX);
		r = -E2BIG;
	}
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s profile: %s", a->kind, strerror(-r));
		free(ret->data);
		*ret = (struct weftd_profile){ 0 };
	}
	return r;
}

/* "data_b64":"<base64>": a binary profile, always base64 whatever its bytes. */
static int b64(struct weftd_buf *out, const void *data, size_t len)
{
	char *enc = malloc(WEFTD_B64_ENC_LEN(len) + 2);
	size_t n;

	if (!enc)
		return -ENOMEM;
	enc[0] = '"';
	n = 1 + weftd_b64_encode(data, len, enc + 1);
	enc[n++] = '"';
	weftd_json_raw(out, "data_b64", enc, n);
	free(enc);
	return 0;
}

int weftd_profile_answer(void *arg, const struct weftd_request *req, const char *id,
			 struct weftd_buf *out, char *err, size_t errlen)
{
	const struct weftd_profile_args *a = &req->prof;
	struct weftd_profile p;
	int r;

	if (weftd_profile_claim(a) < 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "a %s profile is being taken already: retry when it ends",
			 strcmp(a->kind, "cpu") ? "block or mutex" : "CPU");
		return weftd_resp_error(out, id, WEFTD_ERR_CONFLICT, msg);
	}
	err[0] = 0;
	/* the connection's ctx: a client that goes away ends its profile (nobody reads it) */
	weftd_info("profile: %s started", a->kind);
	r = weftd_profile_take(a, req->conn_ctx, &p, err, errlen);
	weftd_info("profile: %s ended (%s)", a->kind, r < 0 ? strerror(-r) : "taken");
	if (r == -EOPNOTSUPP || r == -E2BIG || r == -EINVAL) /* the user's to read, not internal */
		return weftd_resp_error(out, id, r == -EINVAL ? WEFTD_ERR_BAD_FIELD : WEFTD_ERR_UNSUPPORTED, err);
	if (r < 0)
		return r;
	weftd_resp_begin(out, id);
	weftd_json_cstr(out, "kind", a->kind);
	weftd_json_cstr(out, "format", p.text ? "text" : "pprof");
	if (p.text)
		weftd_json_bytes(out, "text", "data_b64", p.data, p.len);
	else if (b64(out, p.data, p.len) < 0)
		r = -ENOMEM;
	free(p.data);
	if (r < 0)
		return r;
	return weftd_resp_end(out);
}
