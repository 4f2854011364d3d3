/* SPDX-License-Identifier: MIT */
/* A pipeline's schedule: list, the periodic jobs: each entry's name, cron expression
 * (cron.h; an error points at the column inside the expression), time zone (its TZif file
 * read here, at load, so that firing never reads files nor the process's TZ), payload and
 * catch_up. */
#include "config/sections.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZOFF(f) offsetof(struct weftd_schedule, f)

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_LOCAL       "/etc/localtime"

static int fn_cron(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_schedule *e = obj;
	const char *s;
	size_t len, off = 0;
	char msg[200];
	int r = cfg_scalar(c, n, &s, &len);

	if (r < 0)
		return r;
	if (weftd_cron_parse(s, len, &e->cron, &off, msg, sizeof(msg)) < 0) {
		struct weftd_mark m = cfg_mark(n);
		/* the column of the mistake inside a one-line expression ('...' and "..." open
		 * with their quote) */
		bool quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			      n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		if (n->start_mark.line == n->end_mark.line)
			m.column += (unsigned)off + quoted;
		if (c->errlen && !c->err[0])
			snprintf(c->err, c->errlen, "%s:%u:%u: %s: %s (in \"%.*s\")", c->name, m.line,
				 m.column, c->path, msg, CFG_QUOTE(len), s);
		return -EINVAL;
	}
	return cfg_str(c, n, &e->expr, true);
}

static int fn_payload(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_schedule *e = obj;
	int r = cfg_str(c, n, &e->payload, false);

	if (r == 0)
		e->payload_len = strlen(e->payload);
	return r;
}

static int fn_tz(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_schedule *e = obj;
	const char *s;
	size_t len;
	int r = cfg_scalar(c, n, &s, &len);

	if (r < 0)
		return r;
	if (!weftd_tz_valid_name(s, len))
		return cfg_fail(c, n, "invalid time zone name \"%.*s\" (a tz database name such as Europe/Paris or UTC)",
				CFG_QUOTE(len), s);
	return cfg_str(c, n, &e->tz_name, true);
}

static int fn_catch_up(struct pctx *c, yaml_node_t *n, void *obj)
{
	return cfg_bool(c, n, &((struct weftd_schedule *)obj)->catch_up);
}

static void *arena(void *arg, size_t size)
{
	return cfg_alloc(arg, size);
}

/* Read the zone file at path into e->tz. Returns 0, -ENOENT and friends, -EINVAL
 * (malformed), -EFBIG, -ENOMEM. */
static int read_zone(struct pctx *c, const char *path, struct weftd_schedule *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;
	ssize_t n;
	size_t len = 0;
	uint8_t *buf;

	if (fd < 0)
		return -errno;
	if (!(buf = malloc(WEFTD_TZ_MAX_FILE + 1))) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = read(fd, buf + len, WEFTD_TZ_MAX_FILE + 1 - len)) > 0)
		len += (size_t)n;
	r = n < 0 ? -errno : len > WEFTD_TZ_MAX_FILE ? -EFBIG
	    : weftd_tz_parse_tzif(buf, len, arena, c, &e->tz);
	free(buf);
	close(fd);
	return r;
}

/* e's time zone: UTC needs no file; a name is read from $TZDIR (else the system's tz
 * database); none means the system's zone, /etc/localtime, or UTC without one. */
static int load_zone(struct pctx *c, yaml_node_t *map, struct weftd_schedule *e)
{
	const char *dir = getenv("TZDIR");
	char path[512], msg[700];
	int r;

	e->tz = WEFTD_TZ_UTC;
	if (!e->tz_name) {
		r = read_zone(c, TZ_LOCAL, e);
		if (r == -ENOENT)
			return 0;
		snprintf(path, sizeof(path), "%s", TZ_LOCAL);
	} else {
		if (strcmp(e->tz_name, "UTC") == 0)
			return 0;
		snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : TZ_DEFAULT_DIR, e->tz_name);
		r = read_zone(c, path, e);
	}
	if (r == -ENOMEM)
		return cfg_oom(c);
	if (r == 0)
		return 0;
	if (r == -ENOENT)
		snprintf(msg, sizeof(msg), "unknown time zone \"%s\" (no %s: is tzdata installed?)",
			 e->tz_name, path);
	else
		snprintf(msg, sizeof(msg), "time zone file %s: %s", path,
			 r == -EINVAL ? "not a valid TZif file" : strerror(-r));
	return cfg_fail_at_key(c, map, "tz", msg);
}

static const struct cfg_field entry_fields[] = {
	{ "name", F_NAME, ZOFF(name), 0, 0, 0, 0, 0 },
	{ "cron", F_FN, 0, 0, 0, 0, 0, fn_cron },
	{ "tz", F_FN, 0, 0, 0, 0, 0, fn_tz },
	{ "payload", F_FN, 0, 0, 0, 0, 0, fn_payload },
	{ "catch_up", F_FN, 0, 0, 0, 0, 0, fn_catch_up },
};

static int parse_entry(struct pctx *c, yaml_node_t *n, struct weftd_schedule *e,
		       const struct weftd_schedule *before, size_t nbefore)
{
	int r;

	e->mark = cfg_mark(n);
	e->payload = "";
	if ((r = cfg_walk_map(c, n, entry_fields, ARRAY_SIZE(entry_fields), e)) < 0)
		return r;
	if (!e->name)
		return cfg_fail(c, n, "missing required key \"name\"");
	if (!e->expr)
		return cfg_fail(c, n, "missing required key \"cron\" (e.g. \"*/5 * * * *\" or \"@every 30s\")");
	for (size_t j = 0; j < nbefore; j++)
		if (strcmp(before[j].name, e->name) == 0)
			return cfg_fail_at_key(c, n, "name", "duplicate schedule name in this pipeline");
	return load_zone(c, n, e);
}

int cfg_schedule_section(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct weftd_pipeline *p = obj;
	struct weftd_schedule *es;
	size_t cnt;
	int r = cfg_want_list(c, n, 0, WEFTD_MAX_SCHEDULES, &cnt);

	if (r < 0 || cnt == 0)
		return r;
	if (!(es = cfg_alloc(c, cnt * sizeof(*es))))
		return cfg_oom(c);
	p->schedules = es;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		yaml_node_t *item;
		size_t old = cfg_path_index(c, i);
		if ((r = cfg_node(c, n->data.sequence.items.start[i], n, &item)) == 0 &&
		    (r = cfg_want_type(c, item, YAML_MAPPING_NODE)) == 0)
			r = parse_entry(c, item, &es[i], es, i);
		cfg_path_pop(c, old);
		p->nschedules = r == 0 ? i + 1 : i;
	}
	return r;
}
