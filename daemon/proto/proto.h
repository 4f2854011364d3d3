/* weftd wire protocol: newline-delimited JSON over a Unix stream socket (see PROTOCOL.md).
 *
 * Parsing: weftd_request_parse() turns one request line into a struct weftd_request whose
 * strings point into the parsed document (no copy per field); weftd_request_done() releases
 * it. Building: weftd_resp_* / weftd_json_* append one response line to a struct weftd_buf,
 * either caller storage (fixed) or a growing heap buffer. Runtime independent, no global
 * state, never blocks, never aborts on input. */
#ifndef WEFTD_PROTO_H
#define WEFTD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_t;

#define WEFTD_ID_MAX        64    /* bytes of the raw JSON text of a request id */
#define WEFTD_JOB_ID_MAX    64    /* bytes of a job id string */
#define WEFTD_NAME_MAX      64    /* bytes of a pipeline name */
#define WEFTD_WAIT_MAX_JOBS 4096  /* ids in one "wait" */
#define WEFTD_LIST_DEFAULT  100
#define WEFTD_LIST_MAX      10000
#define WEFTD_REQ_ARENA     2048  /* bytes in a request for its parsed document: a usual
				     request is parsed without one malloc */

enum weftd_op {
	WEFTD_OP_SUBMIT, WEFTD_OP_STATUS, WEFTD_OP_WAIT, WEFTD_OP_CANCEL, WEFTD_OP_LIST,
	WEFTD_OP_STATS, WEFTD_OP_PIPELINES, WEFTD_OP_PING, WEFTD_OP_RELOAD, WEFTD_OP_DRAIN,
	WEFTD_OP__MAX,
};

enum weftd_err {
	WEFTD_ERR_NONE, WEFTD_ERR_BAD_JSON, WEFTD_ERR_TOO_LARGE, WEFTD_ERR_UNKNOWN_OP,
	WEFTD_ERR_MISSING_FIELD, WEFTD_ERR_BAD_FIELD, WEFTD_ERR_UNKNOWN_PIPELINE,
	WEFTD_ERR_UNKNOWN_JOB, WEFTD_ERR_BUSY, WEFTD_ERR_DRAINING, WEFTD_ERR_FORBIDDEN,
	WEFTD_ERR_INTERNAL, WEFTD_ERR_UNSUPPORTED, WEFTD_ERR_INVALID_CONFIG, WEFTD_ERR__MAX,
};

enum weftd_job_state {
	WEFTD_JOB_QUEUED, WEFTD_JOB_RUNNING, WEFTD_JOB_RETRYING, WEFTD_JOB_DONE,
	WEFTD_JOB_FAILED, WEFTD_JOB_CANCELED, WEFTD_JOB__MAX,
};

/* Names on the wire ("submit", "bad_json", "queued"); NULL when out of range. */
const char *weftd_op_name(enum weftd_op op);
const char *weftd_err_name(enum weftd_err e);
const char *weftd_job_state_name(enum weftd_job_state s);
/* Reverse of weftd_job_state_name for len bytes at s; -EINVAL when unknown. */
int weftd_job_state_parse(const char *s, size_t len, enum weftd_job_state *ret);

/* One parsed request. Absent optional strings are NULL. Valid until weftd_request_done(). */
struct weftd_request {
	enum weftd_op op;
	char id[WEFTD_ID_MAX + 1];  /* raw JSON of "id" to echo ("null" when absent/unusable) */
	const char *pipeline;       /* submit (required), list, stats (filters) */
	const char *job;            /* status, cancel, wait (one of job / jobs) */
	size_t njobs;               /* wait: ids in "jobs", see weftd_request_job() */
	const unsigned char *payload; /* submit: bytes from "payload" or "payload_b64"; */
	size_t payload_len;           /*   empty when neither is given */
	bool wait;                  /* submit: answer when the job ends (default false) */
	bool has_timeout;           /* wait, submit+wait: "timeout" given */
	uint64_t timeout_ns;        /*   ms number or duration string; 0 = answer at once */
	bool has_state;             /* list: filter by "state" */
	enum weftd_job_state state;
	uint32_t limit;             /* list: default WEFTD_LIST_DEFAULT, 1 .. WEFTD_LIST_MAX */
	enum weftd_err err;         /* after a failed parse: code and message for the reply */
	char errmsg[128];
	struct json_t *root;        /* private: the document the strings point into */
	unsigned char *payload_buf; /* private: decoded payload_b64 */
	size_t arena_used;          /* private: the document's nodes live in arena (what */
	_Alignas(16) unsigned char arena[WEFTD_REQ_ARENA]; /* does not fit: malloc) */
};

/* Parse one request line of len bytes (no NUL needed; a trailing "\n" or "\r\n" is fine).
 * The usual request (a flat object of plain strings, integers, true/false/null) is read by
 * a zero-allocation fast path (jsmn): its payload then points into line, and its other
 * strings are copied into req->arena; so line, too, must stay unchanged until
 * weftd_request_done(). Anything else, and any request the fast path would refuse, is
 * parsed by jansson, which alone produces the error replies.
 * The document's nodes are allocated in req->arena while it lasts (jansson's allocator is
 * process-wide: proto.c installs one that tags each block as arena or heap), so req must
 * stay where it is (not copied) until weftd_request_done().
 * max_len is daemon.max_request_bytes. Returns 0 on success; -EINVAL for a bad request,
 * with req->err, req->errmsg and req->id (recovered whenever the line was a JSON object
 * with a scalar id) ready for weftd_resp_error(); -ENOMEM likewise with WEFTD_ERR_INTERNAL.
 * Always call weftd_request_done() afterwards, whatever the result. */
int weftd_request_parse(struct weftd_request *req, const char *line, size_t len, size_t max_len);

/* The same parse without the fast path (every line through jansson): for tests that
 * check the fast path gives the same result. */
int weftd_request_parse_jansson(struct weftd_request *req, const char *line, size_t len,
				size_t max_len);

/* Release what a parse holds; safe on a zeroed or already released request. */
void weftd_request_done(struct weftd_request *req);

/* The i-th id of a "wait" with "jobs" (i < req->njobs); NULL out of range. */
const char *weftd_request_job(const struct weftd_request *req, size_t i);

/* ---- output ------------------------------------------------------------------------ */

/* An output buffer. Errors are sticky: writers do nothing after one, weftd_resp_end()
 * reports it. A fixed buffer that overflows gives -ENOBUFS (nothing partial is valid). */
struct weftd_buf {
	char *data;
	size_t len;
	size_t cap;
	bool fixed;   /* caller storage: never reallocated or freed */
	int err;      /* 0, -ENOBUFS or -ENOMEM */
};

/* mem != NULL: write into mem[0..cap); mem == NULL: grow on the heap as needed. */
void weftd_buf_init(struct weftd_buf *b, char *mem, size_t cap);
/* Forget the content (and the error), keep the storage. */
void weftd_buf_reset(struct weftd_buf *b);
/* Free heap storage; fine on fixed buffers. */
void weftd_buf_done(struct weftd_buf *b);

/* Start a success line: {"id":<id>,"ok":true  — id is raw JSON (req->id); NULL -> null. */
void weftd_resp_begin(struct weftd_buf *b, const char *id);
/* Close the line with "}\n". Returns 0 or the buffer's error. */
int weftd_resp_end(struct weftd_buf *b);
/* A whole error line {"id":..,"ok":false,"error":{"code":..,"message":..}}\n.
 * msg may be NULL (then the code's name is used). Returns 0 or the buffer's error. */
int weftd_resp_error(struct weftd_buf *b, const char *id, enum weftd_err code, const char *msg);

/* Members and array elements: key != NULL writes "key": first (inside objects), key ==
 * NULL writes a bare value (inside arrays). Commas are inserted as needed. Strings are
 * escaped; bytes that are not UTF-8 become U+FFFD so the line is always valid JSON. */
void weftd_json_str(struct weftd_buf *b, const char *key, const char *s, size_t len);
void weftd_json_cstr(struct weftd_buf *b, const char *key, const char *s); /* NULL -> null */
void weftd_json_u64(struct weftd_buf *b, const char *key, uint64_t v);
void weftd_json_i64(struct weftd_buf *b, const char *key, int64_t v);
void weftd_json_double(struct weftd_buf *b, const char *key, double v);
void weftd_json_bool(struct weftd_buf *b, const char *key, bool v);
void weftd_json_null(struct weftd_buf *b, const char *key);
void weftd_json_raw(struct weftd_buf *b, const char *key, const char *json, size_t len);
void weftd_json_obj_begin(struct weftd_buf *b, const char *key);
void weftd_json_obj_end(struct weftd_buf *b);
void weftd_json_arr_begin(struct weftd_buf *b, const char *key);
void weftd_json_arr_end(struct weftd_buf *b);
/* Payload bytes: "key":"text" when data is valid UTF-8, else "key_b64":"base64". */
void weftd_json_bytes(struct weftd_buf *b, const char *key, const char *key_b64,
		      const void *data, size_t len);

/* What the job table exposes of a job, for weftd_json_job(). */
struct weftd_job_view {
	const char *id;
	const char *pipeline;
	enum weftd_job_state state;
	const char *stage;          /* current (or last) stage; NULL omitted */
	uint32_t stage_index;
	uint32_t attempts;          /* of the current stage */
	bool has_output;            /* done jobs: the last stage's output */
	const void *output;
	size_t output_len;
	const char *error;          /* failed/canceled: why; NULL omitted */
	const void *log_tail;       /* stderr tail of exec stages; omitted when empty */
	size_t log_tail_len;
	int64_t created_ms;         /* Unix epoch milliseconds; 0 = omitted */
	int64_t started_ms;
	int64_t finished_ms;
};

/* The job object of PROTOCOL.md as a member (key) or array element (NULL). */
void weftd_json_job(struct weftd_buf *b, const char *key, const struct weftd_job_view *j);

/* ---- helpers ------------------------------------------------------------------------ */

#define WEFTD_B64_ENC_LEN(n) (((n) + 2) / 3 * 4)
#define WEFTD_B64_DEC_MAX(n) ((n) / 4 * 3 + 3)

/* Standard base64 with padding into dst (WEFTD_B64_ENC_LEN(len) bytes, no NUL added).
 * Returns the length written. */
size_t weftd_b64_encode(const void *src, size_t len, char *dst);
/* Decode standard base64 (padding optional, no whitespace) into dst (at least
 * WEFTD_B64_DEC_MAX(len) bytes). Returns the decoded length, or -EINVAL for a bad
 * character, misplaced padding, impossible length or non-zero trailing bits. */
ssize_t weftd_b64_decode(const char *src, size_t len, void *dst);

/* True when the len bytes are well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool weftd_utf8_valid(const void *s, size_t len);

#endif
