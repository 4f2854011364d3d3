#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench_redis.sh — broker pipelines (issue 15), run by `make bench`:
#   jobs_per_s_redis         one node, one noop stage, Redis on a Unix socket (no
#                            persistence), 4 connections x 64 submits in flight
#   jobs_per_s_redis_2nodes  the same submits through one node, two nodes' workers
# End to end: first submit written -> every job done (acknowledged, result stored), as
# weftd_load reads it from stats (a broker pipeline's stats are the cluster's counts).
# The median of BENCH_RUNS runs, each printed as a comment. Skipped (a comment) without
# redis-server. Env: WEFTD, BUILD, BENCH_REDIS_JOBS (default 100000), BENCH_RUNS (3).
set -eu
: "${WEFTD:=build/weftd}" "${BUILD:=build}"
command -v redis-server > /dev/null || { echo "# jobs_per_s_redis: skipped (no redis-server)" >&2; exit 0; }
LOAD=$BUILD/bench/weftd_load
N=${BENCH_REDIS_JOBS:-100000}
T=$(mktemp -d "${TMPDIR:-/tmp}/weftd-bench-redis.XXXXXX")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; kill $(cat "$T/redis.pid" 2>/dev/null) 2>/dev/null; rm -rf "$T"' EXIT
redis-server --unixsocket "$T/redis.sock" --port 0 --dir "$T" --save '' --appendonly no \
	--daemonize yes --pidfile "$T/redis.pid" --logfile "$T/redis.log" > /dev/null
for _ in $(seq 100); do redis-cli -s "$T/redis.sock" ping > /dev/null 2>&1 && break; sleep 0.05; done
node() { # N
	printf 'daemon:\n  socket: %s\n  procs: 2\n  log_level: warning\n  brokers:\n    main: {redis: "unix://%s"}\npipelines:\n  noop:\n    broker: main\n    stages:\n      - {name: noop, builtin: noop, workers: 256, timeout: 0s}\n' \
		"$T/n$1.sock" "$T/redis.sock" > "$T/n$1.yaml"
	"$WEFTD" --config "$T/n$1.yaml" 2> "$T/n$1.log" & PIDS+=($!)
	for _ in $(seq 100); do
		echo '{"op":"stats","pipeline":"noop"}' | socat -t 1 - UNIX-CONNECT:"$T/n$1.sock" 2>/dev/null | grep -q '"ok":true' && return 0
		sleep 0.05
	done
	cat "$T/n$1.log" >&2; exit 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # PID: user + system clock ticks
# run NAME: the median jobs/s over the runs (submits to node 1), each run as a comment
run() {
	"$LOAD" "$T/n1.sock" noop 4 64 20000 > /dev/null # warm-up
	: > "$T/runs"
	for _ in $(seq "${BENCH_RUNS:-3}"); do
		local c0 l; c0=$(cpu_ticks "$(cat "$T/redis.pid")"); l=$(cut -d' ' -f1 /proc/loadavg)
		r=$("$LOAD" "$T/n1.sock" noop 4 64 "$N")
		# the machine's load before the run and Redis's CPU per job: figures from a shared
		# machine read with them
		echo "# $1: $r load $l redis_cpu_us_per_job $(( ($(cpu_ticks "$(cat "$T/redis.pid")") - c0) * 1000000 / $(getconf CLK_TCK) / N ))" >&2
		echo "$r" | sed -E 's/.*jobs_per_s ([0-9]+).*/\1/' >> "$T/runs"
	done
	echo "$1 $(sort -n "$T/runs" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}') jobs/s"
}
node 1
run jobs_per_s_redis
node 2
run jobs_per_s_redis_2nodes
