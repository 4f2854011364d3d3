# SPDX-License-Identifier: MIT
# bench_trace.sh — what a running scheduler trace costs the jobs (run by `make bench`):
#   trace_overhead_pct  noop throughput lost while a trace runs (the `trace` op: every
#                       proc writes its events, a fiber collects them every 100 ms into
#                       JSON): interleaved runs with and without a trace (BENCH_TRACE_RUNS
#                       pairs, alternating which goes first), median of each,
#                       (without - with) / without
# With no trace running the hooks cost one load and a predictable branch each: compare
# jobs_per_s_noop of two builds (tests/bench/README.md) to see that. A comment line gives
# the runs and what the traces held. Env: WEFTD, BUILD, BENCH_TRACE_JOBS (default
# 1000000), BENCH_TRACE_RUNS (3), BENCH_CONNS (4), BENCH_WINDOW (64).
set -eu
: "${WEFTD:=build/weftd}" "${BUILD:=build}"
LOAD=$BUILD/bench/weftd_load
N=${BENCH_TRACE_JOBS:-1000000}; C=${BENCH_CONNS:-4}; W=${BENCH_WINDOW:-64}
command -v socat > /dev/null || { echo "# trace_overhead_pct skipped: no socat" >&2; exit 0; }
T=$(mktemp -d /tmp/weftd-bench.XXXXXX)
PID= TRACER=
trap 'kill $TRACER $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT
printf 'daemon:\n  socket: %s\n  procs: 2\n  durability: none\n  log_level: info\n  retention: {count: 100000, age: 1m}\npipelines:\n  noop:\n    stages:\n      - {name: noop, builtin: noop, workers: 8, queue: 65536, timeout: 0s}\n' \
	"$T/s.sock" > "$T/c.yaml"
"$WEFTD" --config "$T/c.yaml" 2> "$T/log" & PID=$!
for _ in $(seq 100); do echo '{"op":"ping"}' | socat -t 1 - UNIX-CONNECT:"$T/s.sock" 2>/dev/null | grep -q true && break; sleep 0.05; done
"$LOAD" "$T/s.sock" noop "$C" "$W" 120000 > /dev/null   # warm-up (bench_daemon.sh says why)
rate() { "$LOAD" "$T/s.sock" noop "$C" "$W" "$N" | sed -E 's/.*jobs_per_s ([0-9]+).*/\1/'; }
logs() { grep -c "$1" "$T/log" || true; }
# wait_log PATTERN N: the daemon logged PATTERN N times (a trace started, ended)
wait_log() { for _ in $(seq 400); do [ "$(logs "$1")" -ge "$2" ] && return 0; sleep 0.05; done; echo "# no '$1' in the log" >&2; exit 1; }
echo '{"id":1,"op":"trace","seconds":60}' > "$T/req"
: > "$T/off"; : > "$T/on"
traces=0
# the trace ends when its client goes (its answer, up to 64 MiB of JSON, is dropped)
run_on() {
	socat -u SYSTEM:"cat $T/req; exec sleep 120" UNIX-CONNECT:"$T/s.sock" & TRACER=$!
	traces=$((traces + 1))
	wait_log "trace: started" $traces
	rate >> "$T/on"
	kill $TRACER; wait $TRACER 2>/dev/null || true; TRACER=
	wait_log "trace: ended" $traces
}
for i in $(seq "${BENCH_TRACE_RUNS:-3}"); do
	if [ $((i % 2)) = 1 ]; then rate >> "$T/off"; run_on; else run_on; rate >> "$T/off"; fi
done
med() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
off=$(med "$T/off"); on=$(med "$T/on")
echo "# trace: without $(tr '\n' ' ' < "$T/off")jobs/s, while tracing $(tr '\n' ' ' < "$T/on")jobs/s; $(grep 'trace: ended' "$T/log" | tail -1 | sed 's/.*trace: //')" >&2
echo "trace_overhead_pct $(awk -v a="$off" -v b="$on" 'BEGIN {printf "%.1f", (a - b) / a * 100}') %"
