/* libFuzzer target: one request line through the parser, then the error or an echo
 * response through the writer; every output must be one line of valid JSON. The fast
 * path (jsmn) and jansson alone must read every line the same. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "../unit/proto_same.h"

static void check_json(const struct weftd_buf *b)
{
	json_error_t e;
	json_t *j;

	if (b->err || !b->len || b->data[b->len - 1] != '\n' || memchr(b->data, '\n', b->len - 1))
		abort();
	j = json_loadb(b->data, b->len, JSON_ALLOW_NUL, &e);
	if (!j)
		abort();
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct weftd_request req;
	struct weftd_buf b;
	int r;

	if (!proto_same((const char *)data, size, 1 << 16, NULL))
		abort();
	r = weftd_request_parse(&req, (const char *)data, size, 1 << 16);

	weftd_buf_init(&b, NULL, 0);
	if (r < 0) {
		weftd_resp_error(&b, req.id, req.err, req.errmsg);
	} else {
		struct weftd_job_view v = { .id = req.job ? req.job : "j", .pipeline = req.pipeline,
					    .has_output = true, .output = req.payload,
					    .output_len = req.payload_len, .error = req.errmsg };
		weftd_resp_begin(&b, req.id);
		weftd_json_job(&b, "job", &v);
		weftd_json_arr_begin(&b, "jobs");
		for (size_t i = 0; i < req.njobs; i++)
			weftd_json_cstr(&b, NULL, weftd_request_job(&req, i));
		weftd_json_arr_end(&b);
		weftd_resp_end(&b);
	}
	check_json(&b);
	weftd_buf_done(&b);
	weftd_request_done(&req);
	return 0;
}
