/* SPDX-License-Identifier: MIT */
/* render_job.c — a job's JSON (render_job.h). */
#include <errno.h>
#include <stdlib.h>
#include <weft/weft.h>

#include "proto/json.h"
#include "proto/reply.h"
#include "server/render_job.h"

struct put {
	struct weftd_buf *b;
	const char *key;
	bool output;
	const void *payload;       /* non-NULL: show it */
	size_t payload_len;
};

/* Under the job's lock (weftd_job_read): copy, never park. */
static void put_job(const struct weftd_job_snap *s, void *arg)
{
	struct put *p = arg;

	weftd_json_job(p->b, p->key, &(struct weftd_job_view){
		.id = s->info->id, .pipeline = s->info->pipeline, .state = s->state,
		.stage = s->stage, .stage_index = s->stage_index, .attempts = s->attempts,
		.has_output = p->output && s->state == WEFTD_JOB_DONE, .output = s->output,
		.output_len = s->output_len, .error = s->error, .log_tail = s->log,
		.log_tail_len = s->log_len, .created_ms = s->info->created_ms,
		.started_ms = s->started_ms, .finished_ms = s->finished_ms,
		.priority = s->info->priority, .key = s->info->key, .key_len = s->info->key_len,
		.run_at_ms = s->run_at_ms, /* scheduled or retrying: when it runs next */
		.deadline_ms = s->info->deadline_ms,
		.has_payload = p->payload != NULL, .payload = p->payload,
		.payload_len = p->payload_len,
	});
}

void weftd_job_json(struct weftd_buf *b, const char *key, struct weftd_job *j)
{
	weftd_job_read(j, put_job, &(struct put){ b, key, true, NULL, 0 });
}

void weftd_job_json_payload(struct weftd_buf *b, const char *key, struct weftd_job *j, bool payload)
{
	struct put p = { b, key, true, NULL, 0 };

	if (payload) /* fixed for the job's life: read outside its lock */
		weftd_job_payload(j, &p.payload, &p.payload_len);
	if (payload && !p.payload)
		p.payload = "";
	weftd_job_read(j, put_job, &p);
}

void weftd_job_json_listed(struct weftd_buf *b, struct weftd_job *j, bool outputs)
{
	weftd_job_read(j, put_job, &(struct put){ b, NULL, outputs, NULL, 0 });
}

void weftd_jobs_list_json(struct weftd_jobs *t, struct weftd_buf *b, const char *key,
			  const char *pipeline, uid_t owner, bool has_state,
			  enum weftd_job_state state, uint32_t limit, bool outputs)
{
	struct weftd_job **pick = malloc((limit ? limit : 1) * sizeof(*pick));
	size_t n;

	if (!pick) {
		b->err = b->err ? b->err : -ENOMEM;
		return;
	}
	/* references taken under the table lock, written outside it */
	n = weftd_jobs_pick(t, pipeline, owner, has_state, state, pick, limit);
	weftd_json_arr_begin(b, key);
	for (size_t i = 0; i < n; i++) {
		if (!b->err)
			weftd_job_read(pick[i], put_job, &(struct put){ b, NULL, outputs, NULL, 0 });
		weftd_job_unref(pick[i]);
		if (outputs)
			weft_yield();
	}
	weftd_json_arr_end(b);
	free(pick);
}
