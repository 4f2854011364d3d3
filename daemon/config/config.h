/* SPDX-License-Identifier: MIT */
/* weftd configuration: the YAML file (conf/weftd.yaml) parsed into plain structs.
 *
 * Runtime-independent (libyaml only); no global state. A loaded config is immutable and
 * owned by the caller, who frees it with weftd_config_free(). Reload loads a new config,
 * compares pipelines with weftd_pipeline_equal() and swaps.
 *
 * Errors are written into a caller buffer as "FILE:LINE:COLUMN: <key path>: <message>",
 * e.g. "conf/x.yaml:12:9: pipelines.thumbnails.stages[0].timeout: invalid duration \"10q\"",
 * with 1-based line and column. Durations are stored in nanoseconds (uint64_t, <= INT64_MAX). */
#ifndef WEFTD_CONFIG_H
#define WEFTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/cron.h"
#include "config/units.h"
#include "util/log.h" /* enum weftd_log_level */

#define WEFTD_CONFIG_MAX_BYTES   (1u << 20) /* config file size limit */
#define WEFTD_MAX_PIPELINES      256
#define WEFTD_MAX_STAGES         64         /* per pipeline */
#define WEFTD_MAX_NAME           64         /* pipeline / stage name, [A-Za-z0-9_.-] */
#define WEFTD_MAX_ARGV           256        /* exec argv entries */
#define WEFTD_MAX_PARAMS         32         /* builtin/plugin params */
#define WEFTD_MAX_ALLOW          256        /* allow_/admin_ uids / groups entries */
#define WEFTD_MAX_WORKERS        65536
#define WEFTD_MAX_QUEUE          (1u << 24)
#define WEFTD_MAX_PROCS          1024
#define WEFTD_MAX_SCHEDULES      256        /* schedule: entries per pipeline */

/* The builtins the stage module implements; unknown names are config errors. */
#define WEFTD_BUILTINS { "noop", "echo", "upper", "sha256", "sleep", "fail" }

enum weftd_action { WEFTD_ACTION_EXEC, WEFTD_ACTION_BUILTIN, WEFTD_ACTION_PLUGIN };
enum weftd_jitter { WEFTD_JITTER_NONE, WEFTD_JITTER_FULL, WEFTD_JITTER_EQUAL };
enum weftd_durability { WEFTD_DURABILITY_NONE, WEFTD_DURABILITY_BATCH, WEFTD_DURABILITY_FSYNC };
/* auto: watchdog on exactly when systemd passes WATCHDOG_USEC. */
enum weftd_watchdog { WEFTD_WATCHDOG_AUTO, WEFTD_WATCHDOG_OFF, WEFTD_WATCHDOG_ON };

/* Position of a node in the file, 1-based, for errors found after loading. */
struct weftd_mark {
	unsigned line;
	unsigned column;
};

/* One "key: value" scalar from a stage's params: map (both NUL-free strings). */
struct weftd_param {
	const char *key;
	const char *value;
};

struct weftd_retry {
	uint32_t attempts;          /* total tries incl. the first; default 1 (no retry), >= 1 */
	uint64_t initial_ns;        /* first backoff; default 100ms */
	uint64_t max_ns;            /* backoff cap; default 30s; >= initial */
	double multiplier;          /* backoff growth; default 2.0; 1.0 .. 1000 */
	enum weftd_jitter jitter;   /* default full */
	/* exec stages: exit codes (1..255) that fail the job at once, no retry; bit c of
	 * [c / 64] (weftd_retry_permanent) */
	uint64_t permanent_exit_codes[4];
};

/* Is exit code c one of rt's permanent_exit_codes? */
static inline bool weftd_retry_permanent(const struct weftd_retry *rt, int c)
{
	return c > 0 && c < 256 && (rt->permanent_exit_codes[c / 64] >> (c % 64) & 1);
}

struct weftd_rate_limit {
	uint32_t count;             /* jobs per period; 0 = unlimited (default: no rate_limit) */
	uint64_t per_ns;            /* period: "50/s" -> count 50, per 1s */
	uint32_t burst;             /* bucket size; default = count (at least 1) */
};

#define WEFTD_MAX_OUTPUT_DEFAULT (64u << 20) /* a stage's max_output */

struct weftd_stage {
	const char *name;               /* required, unique in the pipeline */
	enum weftd_action action;       /* exactly one of exec / builtin / plugin */
	const char *const *argv;        /* exec: NULL-terminated, argc >= 1 */
	size_t argc;
	const char *builtin;            /* builtin: one of WEFTD_BUILTINS */
	const char *plugin_path;        /* plugin: shared object path, required */
	const char *plugin_symbol;      /* plugin: exported stage function; default "weftd_stage" */
	const struct weftd_param *params; /* builtin/plugin params: map; default none */
	size_t nparams;
	uint32_t workers;               /* pool size; default 1; 1 .. WEFTD_MAX_WORKERS */
	uint32_t queue;                 /* input queue capacity; default 1024; 1 .. WEFTD_MAX_QUEUE */
	uint64_t timeout_ns;            /* per attempt; default 60s; 0 = none */
	struct weftd_retry retry;
	struct weftd_rate_limit rate_limit;
	uint64_t kill_grace_ns;         /* SIGTERM -> SIGKILL for exec; default 5s */
	bool kill_group_on_exit;        /* exec: SIGKILL the job's process group when its
					   attempt ends (leftovers such as `cmd &`); true
					   (default) | false. See actions/orphans.h */
	uint64_t heartbeat_timeout_ns;  /* default 0 = daemon.heartbeat_timeout */
	uint64_t max_output;            /* bytes an attempt may output, else it fails (-EFBIG);
					   1 .. 1 GiB; default (and 0) WEFTD_MAX_OUTPUT_DEFAULT */
	struct weftd_mark mark;         /* where the stage starts in the file */
};

/* A periodic job (a pipeline's schedule: entry; engine/periodic.h fires it). */
struct weftd_schedule {
	const char *name;               /* required, a name, unique in the pipeline */
	const char *expr;               /* cron: required, as written (cron.h's grammar) */
	struct weftd_cron cron;         /* expr parsed */
	const char *tz_name;            /* tz: a zone of the tz database ("Europe/Paris");
					   default NULL: the system's (/etc/localtime, else UTC) */
	struct weftd_tz tz;             /* its rules, read at load */
	const char *payload;            /* each job's payload; default "" */
	size_t payload_len;
	bool catch_up;                  /* after downtime, fire the last missed slot once at
					   start; default false */
	struct weftd_mark mark;         /* where the entry starts in the file */
};

struct weftd_pipeline {
	const char *name;
	const struct weftd_stage *stages; /* 1 .. WEFTD_MAX_STAGES */
	size_t nstages;
	const struct weftd_schedule *schedules; /* schedule:, 0 .. WEFTD_MAX_SCHEDULES; not
						   part of weftd_pipeline_equal (a reload
						   changes them without restarting stages) */
	size_t nschedules;
	struct weftd_mark mark;
	const char *broker;               /* broker: NAME of daemon.brokers; NULL = local
	                                     (queues + journal). broker/broker.h */
	struct weftd_mark broker_mark;
};

struct weftd_retention {
	uint32_t count;             /* finished jobs kept; default 10000 */
	uint64_t age_ns;            /* and for at most; default 1h */
	uint64_t bytes;             /* and within this many bytes of outputs and logs
				       (oldest evicted first; the newest is kept even when alone
				       over it); default 256 MiB */
};

/* daemon.http: the HTTP listener for monitoring (GET /metrics, /healthz, /readyz; obs/http.h).
 * Off unless listen is set. Changes need a restart (a reload logs so). */
#define WEFTD_HTTP_MAX_CONNECTIONS 1024
struct weftd_http_config {
	const char *listen;         /* "IPv4:PORT", "[IPv6]:PORT" (numeric addresses; port
	                               1..65535) or an absolute Unix socket path; default NULL:
	                               no listener */
	bool debug;                 /* the debugging endpoints (profiles; later); default false */
	uint32_t max_connections;   /* open HTTP connections at once; default 16; 1 .. 1024 */
	uint64_t timeout_ns;        /* a connection idle this long is closed; default 10s; >= 1s */
};

/* daemon.brokers.NAME: a Redis server that broker-backed pipelines share between nodes
 * (config/brokers.c; broker/broker.h). */
#define WEFTD_MAX_BROKERS 32
struct weftd_broker_config {
	const char *name;
	const char *redis;          /* "unix:///path[?db=N]" or "redis://host:port[/db]"; required */
	const char *password_file;  /* AUTH with this file's first line; NULL: none */
	struct weftd_mark mark;
};
/* Parse a broker's redis URL: *ret_path (Unix socket) or *ret_host and *ret_port (TCP),
 * and *ret_db. Writes into the caller's buffers (path/host at most len bytes with NUL).
 * Returns 0 or -EINVAL. Pure. */
int weftd_broker_url_parse(const char *url, char *path_or_host, size_t len, bool *ret_unix,
			   unsigned *ret_port, unsigned *ret_db);
struct weftd_daemon_config {
	const char *socket;         /* default "/run/weftd/weftd.sock"; socket activation wins */
	uint32_t socket_mode;       /* octal string "0660" or number; default 0660; applied
	                               through the umask at bind (permission bits only) */
	uint32_t procs;             /* scheduler threads; "auto" (default) = 0 = CPU count */
	uint32_t max_connections;   /* default 1024 */
	uint64_t max_request_bytes; /* one request line; default 1MiB; 64B .. 1GiB */
	uint64_t max_response_bytes; /* one answer line; larger ones are refused (too_large);
	                                default 64MiB; 4KiB .. 16GiB */
	uint32_t max_connections_per_uid; /* one peer uid's share of max_connections;
	                                     0 (default) = three quarters of it */
	uint64_t idle_timeout_ns;   /* a connection with nothing pending and no byte read for
	                               this long is closed; default 5m; 0 = never */
	uint64_t request_timeout_ns; /* a request line not completed within this of its first
	                                byte closes the connection; default 10s; 0 = never */
	uint64_t shutdown_timeout_ns; /* drain budget; default 30s */
	const uid_t *allow_uids;    /* names or numbers; empty (default) = no uid check */
	size_t nallow_uids;
	const gid_t *allow_gids;    /* allow_groups: names resolved at load, or numbers */
	size_t nallow_gids;
	/* Admins see and cancel every job and alone may drain and reload (PROTOCOL.md, access):
	 * a peer whose uid is in admin_uids or who is in a group of admin_groups (its full
	 * group list), besides root and the daemon's own uid, always admins. Others see only
	 * the jobs they submitted. Names or numbers, resolved at load; default empty. */
	const uid_t *admin_uids;
	size_t nadmin_uids;
	const gid_t *admin_gids;    /* admin_groups */
	size_t nadmin_gids;
	uint64_t heartbeat_interval_ns; /* default 1s */
	uint64_t heartbeat_timeout_ns;  /* default 30s; > heartbeat_interval */
	enum weftd_watchdog watchdog;   /* true | false | auto (default) */
	enum weftd_durability durability; /* none (default) | batch | fsync */
	const char *state_dir;      /* journal directory; default "/var/lib/weftd"; with durability, flock()ed (state_dir/lock) by one daemon at a time */
	struct weftd_retention retention;
	enum weftd_log_level log_level; /* err|warning|notice|info (default)|debug */
	struct weftd_http_config http;
	const struct weftd_broker_config *brokers; /* daemon.brokers, file order; default none */
	size_t nbrokers;
};

struct weftd_config {
	struct weftd_daemon_config daemon;
	const struct weftd_pipeline *pipelines; /* 1 .. WEFTD_MAX_PIPELINES, file order */
	size_t npipelines;
	const char *name;                       /* the file (name_for_errors): the FILE of
						   errors found after loading (FILE:LINE:COL) */
	struct weftd_config_mem *mem;           /* private: owns every string and array */
};

/* Read and parse the file at path. On success returns 0 and *ret owns a new config.
 * On failure returns a negative errno (-EINVAL bad config, -ENOENT/-EACCES/... I/O, -EFBIG
 * over WEFTD_CONFIG_MAX_BYTES, -ENOMEM), *ret is untouched and err (if errlen > 0) holds
 * one NUL-terminated line as described above. Blocking file I/O: call off the scheduler
 * (weft_blocking) or before it starts. Group/user names are resolved (NSS) here. */
int weftd_config_load(const char *path, struct weftd_config **ret, char *err, size_t errlen);

/* Same as weftd_config_load() from len bytes at buf (need not be NUL-terminated);
 * name_for_errors is the FILE part of error messages. Returns 0, -EINVAL, -EFBIG, -ENOMEM. */
int weftd_config_parse(const char *buf, size_t len, const char *name_for_errors,
		       struct weftd_config **ret, char *err, size_t errlen);

/* Free a config; NULL is fine. Returns NULL for "c = weftd_config_free(c)". */
struct weftd_config *weftd_config_free(struct weftd_config *c);

/* Find a pipeline by name (NUL-terminated); NULL if absent. */
const struct weftd_pipeline *weftd_config_pipeline(const struct weftd_config *c, const char *name);

/* True when a and b would run identically: same name and stages with equal settings
 * (file positions are ignored). Reload keeps equal pipelines running untouched. */
bool weftd_pipeline_equal(const struct weftd_pipeline *a, const struct weftd_pipeline *b);

/* True when a and b configure the same HTTP listener (reload: a change needs a restart). */
bool weftd_http_config_equal(const struct weftd_http_config *a, const struct weftd_http_config *b);

/* Parse an http.listen value that is not a path ("127.0.0.1:9464", "[::1]:9464"): numeric
 * address and port 1..65535 into *ret (struct sockaddr_in or _in6, *ret_len its size).
 * Returns 0 or -EINVAL. Pure. */
struct sockaddr_storage;
int weftd_http_addr_parse(const char *s, struct sockaddr_storage *ret, unsigned *ret_len);

#endif
