/* SPDX-License-Identifier: MIT */
/* The commands that send one request and print its answer. */
#include <stdlib.h>
#include <string.h>

#include "weftctl/ctl.h"

/* Send req, print the answer: the line with --json, else through human(); returns the
 * exit status. */
static int one(struct ctl *c, json_t *req, int (*human)(struct ctl *c, json_t *resp))
{
	char *raw;
	int rc = EX_OK;
	json_t *resp = ctl_roundtrip(c, req, &raw, &rc);

	if (!resp)
		return rc;
	if (c->json)
		ctl_print_json(resp, raw);
	else
		rc = human(c, resp);
	json_decref(resp);
	free(raw);
	return rc;
}

static int show_job(struct ctl *c, json_t *resp)
{
	ctl_print_job(json_object_get(resp, "job"));
	return EX_OK;
}

static json_t *job_request(struct ctl *c, const char *op, const char *id)
{
	json_t *req = ctl_request(c, op);
	json_object_set_new(req, "job", json_string(id));
	return req;
}

int cmd_status(struct ctl *c, const struct ctl_args *a)
{
	json_t *req = job_request(c, "status", a->pos[0]);
	if (a->seen & O_PAYLOAD)
		json_object_set_new(req, "payload", json_true());
	return one(c, req, show_job);
}

int cmd_cancel(struct ctl *c, const struct ctl_args *a)
{
	return one(c, job_request(c, "cancel", a->pos[0]), show_job);
}

static int show_list(struct ctl *c, json_t *resp)
{
	size_t i;
	json_t *j;

	printf("%-16s  %-16s  %-9s  %-16s  %s\n", "ID", "PIPELINE", "STATE", "STAGE", "ATTEMPTS");
	json_array_foreach(json_object_get(resp, "jobs"), i, j) {
		const char *st = ctl_gets(j, "stage");
		printf("%-16s  %-16s  %-9s  %-16s  %lld\n", ctl_gets(j, "id"), ctl_gets(j, "pipeline"),
		       ctl_gets(j, "state"), *st ? st : "-", ctl_geti(j, "attempts"));
	}
	return EX_OK;
}

int cmd_list(struct ctl *c, const struct ctl_args *a)
{
	json_t *req = ctl_request(c, "list");

	if (a->pipeline)
		json_object_set_new(req, "pipeline", json_string(a->pipeline));
	if (a->state)
		json_object_set_new(req, "state", json_string(a->state));
	if (a->limit) {
		char *end;
		long long n = strtoll(a->limit, &end, 10);
		if (!*a->limit || *end || n < 1) {
			json_decref(req);
			return ctl_usage_error(c->cmd, "list: --limit takes a positive integer, not \"%s\"",
					       a->limit);
		}
		json_object_set_new(req, "limit", json_integer(n));
	}
	if (a->seen & O_OUTPUTS)
		json_object_set_new(req, "outputs", json_true());
	return one(c, req, show_list);
}

/* retry and purge: one job by id, or --pipeline P --all. */
static json_t *dead_letter_request(struct ctl *c, const char *op, const struct ctl_args *a)
{
	bool all = a->seen & O_ALL;

	if (a->npos == 1 && (all || a->pipeline)) {
		ctl_usage_error(c->cmd, "%s: an ID, or --pipeline P --all, not both", op);
		return NULL;
	}
	if (a->npos == 0 && (!all || !a->pipeline)) {
		ctl_usage_error(c->cmd, "%s: give a job ID, or --pipeline P --all", op);
		return NULL;
	}
	json_t *req = ctl_request(c, op);
	if (a->npos == 1) {
		json_object_set_new(req, "job", json_string(a->pos[0]));
	} else {
		json_object_set_new(req, "pipeline", json_string(a->pipeline));
		json_object_set_new(req, "all", json_true());
	}
	return req;
}

static int show_retried(struct ctl *c, json_t *resp)
{
	size_t i;
	json_t *j;

	json_array_foreach(json_object_get(resp, "jobs"), i, j)
		printf("%s\n", json_string_value(j));
	fprintf(stderr, "retried %lld job%s\n", ctl_geti(resp, "retried"),
		ctl_geti(resp, "retried") == 1 ? "" : "s");
	return EX_OK;
}

int cmd_retry(struct ctl *c, const struct ctl_args *a)
{
	json_t *req = dead_letter_request(c, "retry", a);

	if (!req)
		return EX_USAGE;
	if (a->seen & O_FROM_START)
		json_object_set_new(req, "from_start", json_true());
	return one(c, req, show_retried);
}

static int show_purged(struct ctl *c, json_t *resp)
{
	long long n = ctl_geti(resp, "purged");
	printf("purged %lld dead letter%s\n", n, n == 1 ? "" : "s");
	return EX_OK;
}

int cmd_purge(struct ctl *c, const struct ctl_args *a)
{
	json_t *req = dead_letter_request(c, "purge", a);
	return req ? one(c, req, show_purged) : EX_USAGE;
}

static int show_ping(struct ctl *c, json_t *resp)
{
	printf("weftd %s\n", ctl_gets(resp, "version"));
	return EX_OK;
}

int cmd_ping(struct ctl *c, const struct ctl_args *a)
{
	return one(c, ctl_request(c, "ping"), show_ping);
}

static int show_reload(struct ctl *c, json_t *resp)
{
	printf("reloaded the config: %lld pipeline%s unchanged, %lld changed, %lld added, %lld removed\n",
	       ctl_geti(resp, "unchanged"), ctl_geti(resp, "unchanged") == 1 ? "" : "s",
	       ctl_geti(resp, "changed"), ctl_geti(resp, "added"), ctl_geti(resp, "removed"));
	return EX_OK;
}

int cmd_reload(struct ctl *c, const struct ctl_args *a)
{
	return one(c, ctl_request(c, "reload"), show_reload);
}

static int show_drain(struct ctl *c, json_t *resp)
{
	long long n = ctl_geti(resp, "drained");
	printf("drained: %lld in-flight job%s finished; new jobs are refused until "
	       "`weftctl undrain`\n", n, n == 1 ? "" : "s");
	return EX_OK;
}

int cmd_drain(struct ctl *c, const struct ctl_args *a)
{
	return one(c, ctl_request(c, "drain"), show_drain);
}

static int show_intake(struct ctl *c, json_t *resp)
{
	printf("intake %s: new jobs are accepted\n", json_string_value(json_object_get(resp, "intake")) ?
	       ctl_gets(resp, "intake") : "open");
	return EX_OK;
}

int cmd_undrain(struct ctl *c, const struct ctl_args *a)
{
	return one(c, ctl_request(c, "undrain"), show_intake);
}

static int show_paused(struct ctl *c, json_t *resp)
{
	bool paused = json_is_true(json_object_get(resp, "paused"));
	printf("pipeline %s %s\n", ctl_gets(resp, "pipeline"),
	       paused ? "paused: jobs are accepted, no new attempt starts" : "resumed");
	return EX_OK;
}

int cmd_pause(struct ctl *c, const struct ctl_args *a)
{
	json_t *req = ctl_request(c, "pause");
	json_object_set_new(req, "pipeline", json_string(a->pos[0]));
	return one(c, req, show_paused);
}

int cmd_resume(struct ctl *c, const struct ctl_args *a)
{
	json_t *req = ctl_request(c, "resume");

	if (a->npos == 0)
		return one(c, req, show_intake);
	json_object_set_new(req, "pipeline", json_string(a->pos[0]));
	return one(c, req, show_paused);
}
