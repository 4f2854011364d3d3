/* SPDX-License-Identifier: MIT */
/* jrec — the journal's on-disk record format: framing, CRC32 and codec.
 *
 * Pure functions (no runtime, no I/O, no allocation) so the replay parser can be
 * fuzzed on its own (tests/fuzz/fuzz_journal.c).
 *
 * A journal file is the 8-byte magic WEFTD_JREC_MAGIC followed by frames:
 *   u32 body_len (LE) | u32 crc32(body) (LE, IEEE 802.3) | body
 * body, first byte = type:
 *   ACCEPT: u8 1 | u64 submitted_ns (CLOCK_REALTIME) | u16 id_len | u16 pipeline_len
 *           | u32 payload_len | id | pipeline | payload [| u32 owner]
 *           owner: the submitter's uid; absent from records written before owners were
 *           kept (decoded as WEFTD_JREC_NO_OWNER), and written only when known, so old
 *           journals replay unchanged (a journal with owners cannot go back to an older
 *           daemon: it sees those records as corrupt)
 *   FINISH: u8 2 | u8 state | u16 id_len | id
 *           (ACCEPT and FINISH are written since issue 12 only by the old entry points, kept
 *           for old journals and tests; the daemon writes the records below)
 *   ACCEPT2 (a job accepted; issue 12):
 *           u8 3 | u8 flags | i16 priority | u32 owner | u64 submitted_ns
 *           | i64 run_at_ms (0: at once) | u16 id_len | u16 pipeline_len | u16 key_len
 *           | u32 payload_len | id | pipeline | key | payload [| i64 deadline_ms]
 *           flags: 0, or 1 when the job has a deadline (issue 17), then appended
 *   STAGE   (a live job reached stage k; input: that stage's input, the previous output):
 *           u8 4 | u8 0 | u16 id_len | u32 stage | u16 name_len | u32 input_len | id | name | input
 *   END     (a final state, with what status shows of it):
 *           u8 5 | u8 state | u16 id_len | u32 stage | u32 attempts | i64 started_ms
 *           | i64 finished_ms | u16 stage_name_len | u32 output_len | u32 error_len
 *           | u32 log_len | id | stage_name | output | error | log
 *           (output: a done job's output; a failed one's: the input of the stage it failed
 *           in, which a re-drive from that stage runs on again; state EXPIRED since
 *           issue 17)
 *   REDRIVE (a dead letter live again at stage k with that input): the layout of STAGE, u8 6
 *   PURGE   (a job deleted: a dead letter purged, or a submit refused after its ACCEPT):
 *           u8 7 | u8 0 | u16 id_len | id
 *   RETRY   (issue 17: a live job failed an attempt at stage k and waits for its next, due
 *           at due_ms, Unix ms, with attempts made so far at k; input: k's input, as STAGE):
 *           u8 8 | u8 0 | u16 id_len | u32 stage | u16 name_len | u32 input_len
 *           | u32 attempts | i64 due_ms | id | name | input
 * Old journals read unchanged (same magic: the new types only add); a journal with the
 * new types cannot go back to an older daemon, which sees them as corrupt records.
 * All integers little-endian. A frame whose length runs past the end of the data is a torn
 * write; a frame whose CRC or body does not check is corrupt. Either is skipped by the scan,
 * which resynchronises on the next valid frame (weftd_jrec_scan). */
#ifndef WEFTD_JREC_H
#define WEFTD_JREC_H

#include <stddef.h>
#include <stdint.h>

#define WEFTD_JREC_MAGIC      "WEFTJ001"
#define WEFTD_JREC_MAGIC_LEN  8
#define WEFTD_JREC_FRAME_HDR  8u
#define WEFTD_JREC_ACCEPT_HDR 17u           /* fixed part of an ACCEPT body */
#define WEFTD_JREC_FINISH_HDR 4u            /* fixed part of a FINISH body */
#define WEFTD_JREC_OWNER_LEN  4u            /* the optional owner after an ACCEPT's payload */
#define WEFTD_JREC_NO_OWNER   UINT32_MAX
#define WEFTD_JREC_MAX_ID     UINT16_MAX
#define WEFTD_JREC_MAX_BODY   ((1u << 30) + (1u << 18)) /* 1 GiB payload + names */
#define WEFTD_JREC_ACCEPT2_HDR 34u          /* fixed parts of the issue-12 bodies */
#define WEFTD_JREC_STAGE_HDR   14u
#define WEFTD_JREC_END_HDR     42u
#define WEFTD_JREC_PURGE_HDR   4u
#define WEFTD_JREC_RETRY_HDR   26u          /* STAGE's + attempts + due_ms */
#define WEFTD_JREC_PRIO_MAX    100          /* priorities: -100..100 (job.h) */

/* Record types (values are on disk: never renumber). */
enum weftd_jrec_type {
	WEFTD_JREC_ACCEPT = 1, WEFTD_JREC_FINISH = 2, WEFTD_JREC_ACCEPT2 = 3, WEFTD_JREC_STAGE = 4,
	WEFTD_JREC_END = 5, WEFTD_JREC_REDRIVE = 6, WEFTD_JREC_PURGE = 7, WEFTD_JREC_RETRY = 8,
};

/* Final states recorded by FINISH (values are on disk: never renumber). */
enum weftd_jrec_state {
	WEFTD_JREC_DONE = 1, WEFTD_JREC_FAILED = 2, WEFTD_JREC_CANCELED = 3, WEFTD_JREC_LOST = 4,
	WEFTD_JREC_EXPIRED = 5, /* END only */
};

/* A record, decoded (pointers borrow from the buffer, not NUL-terminated) or to encode
 * (weftd_jrec_encode: the members its type uses; the others are ignored). */
struct weftd_jrec {
	enum weftd_jrec_type type;
	const void *frame;             /* decoded: the whole frame, header included */
	size_t frame_len;
	const char *id;
	size_t id_len;
	/* ACCEPT, ACCEPT2 */
	const char *pipeline;
	size_t pipeline_len;
	const void *payload;           /* ACCEPT*: the submitted input; STAGE, REDRIVE: the */
	size_t payload_len;            /*   stage's input */
	uint64_t submitted_ns;
	uint32_t owner;                /* WEFTD_JREC_NO_OWNER when the record has none */
	int priority;                  /* ACCEPT2 */
	int64_t run_at_ms;             /* ACCEPT2; RETRY: the next attempt's due time */
	int64_t deadline_ms;           /* ACCEPT2: 0: none */
	const char *key;               /* ACCEPT2; key_len 0: none */
	size_t key_len;
	/* STAGE, REDRIVE, RETRY, END */
	uint32_t stage;
	const char *stage_name;        /* STAGE, REDRIVE, RETRY: the stage's name; END: the last */
	size_t stage_name_len;
	/* FINISH, END */
	enum weftd_jrec_state state;
	/* END, RETRY */
	uint32_t attempts;
	int64_t started_ms, finished_ms;
	const void *output;
	size_t output_len;
	const char *error;
	size_t error_len;
	const char *log;
	size_t log_len;
};

/* CRC-32 (IEEE, reflected, as zlib's crc32): crc = weftd_crc32(0, buf, len), chainable. */
uint32_t weftd_crc32(uint32_t crc, const void *buf, size_t len);

/* Size of the frame encoding r (any type), and the encoding itself into buf (at least
 * that size): the bytes written, or -EINVAL when a member is over its on-disk limit, the
 * id is empty, a state or priority is out of range, or the type is unknown. What a
 * decode returns re-encodes to the same bytes. */
size_t weftd_jrec_size(const struct weftd_jrec *r);
long weftd_jrec_encode(void *buf, const struct weftd_jrec *r);

/* Size of the frame encoding an ACCEPT (with an owner: at most) / FINISH record. */
size_t weftd_jrec_accept_size(size_t id_len, size_t pipeline_len, size_t payload_len);
size_t weftd_jrec_finish_size(size_t id_len);

/* Encode into buf (at least the size above; the owner is left out when it is
 * WEFTD_JREC_NO_OWNER). Returns the bytes written, or -EINVAL when a
 * field is over its limit (id > 65535, pipeline > 65535, body > WEFTD_JREC_MAX_BODY). */
long weftd_jrec_encode_accept(void *buf, const char *id, size_t id_len, const char *pipeline,
			      size_t pipeline_len, const void *payload, size_t payload_len,
			      uint64_t submitted_ns, uint32_t owner);
long weftd_jrec_encode_finish(void *buf, const char *id, size_t id_len, enum weftd_jrec_state st);

/* Decode one frame at buf[0..len). Returns the frame size (> 0) with *ret filled,
 * 0 when the data ends inside the frame (torn tail), or -EBADMSG when the frame is corrupt
 * (bad CRC, unknown type, inconsistent lengths, empty id, unknown state). */
long weftd_jrec_decode(const void *buf, size_t len, struct weftd_jrec *ret);

struct weftd_jrec_scan_result {
	size_t records;               /* valid frames passed to fn */
	size_t bad_ranges;            /* damaged byte ranges skipped */
	size_t bad_bytes;             /* their total length */
};

/* Walk a whole file image: call fn for each valid record in order, and bad (may be NULL)
 * for each damaged byte range [off, off + len) it skips: a bad or missing magic, a corrupt
 * frame, a torn tail. After damage the scan resynchronises on the next whole valid frame:
 * first where the damaged frame's own length says the next one starts (a flipped byte in a
 * body), else at the first later offset where a frame decodes (length in range, CRC and
 * body check). So one damaged record costs only itself; every range is reported, none is
 * dropped silently. A callback returning non-zero stops the scan with that value; else
 * returns 0. *ret is filled either way (NULL ok). */
int weftd_jrec_scan(const void *buf, size_t len, int (*fn)(const struct weftd_jrec *r, void *arg),
		    int (*bad)(size_t off, size_t len, void *arg), void *arg,
		    struct weftd_jrec_scan_result *ret);

#endif
