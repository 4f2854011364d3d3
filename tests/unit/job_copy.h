/* SPDX-License-Identifier: MIT */
/* job_copy.h — tests read a job through weftd_job_read() into a plain copy. */
#ifndef TEST_JOB_COPY_H
#define TEST_JOB_COPY_H

#include <stdio.h>
#include <string.h>

#include "jobs/job.h"

struct job_copy {
	enum weftd_job_state state;
	bool cancel_requested;
	char stage[64];                /* "" before the first stage */
	uint32_t stage_index, attempts;
	bool has_output, has_error;
	char output[256], error[256];  /* NUL-terminated copies */
	size_t output_len;
	size_t log_len;
	int64_t started_ms, finished_ms;
	int64_t run_at_ms;
};

static void job_copy_fn(const struct weftd_job_snap *s, void *arg)
{
	struct job_copy *c = arg;

	*c = (struct job_copy){
		.state = s->state, .cancel_requested = s->cancel_requested,
		.stage_index = s->stage_index, .attempts = s->attempts,
		.has_output = s->output != NULL, .has_error = s->error != NULL,
		.output_len = s->output_len, .log_len = s->log_len,
		.started_ms = s->started_ms, .finished_ms = s->finished_ms,
		.run_at_ms = s->run_at_ms,
	};
	snprintf(c->stage, sizeof(c->stage), "%s", s->stage ? s->stage : "");
	snprintf(c->error, sizeof(c->error), "%s", s->error ? s->error : "");
	if (s->output)
		memcpy(c->output, s->output, s->output_len < sizeof(c->output) - 1 ? s->output_len
										  : sizeof(c->output) - 1);
}

static inline struct job_copy job_copy(struct weftd_job *j)
{
	struct job_copy c;
	weftd_job_read(j, job_copy_fn, &c);
	return c;
}

#endif
