# SPDX-License-Identifier: MIT
# bench_profile.sh — what a running CPU profile costs the jobs (run by `make bench`):
#   profile_overhead_pct  noop throughput lost while a CPU profile runs (the `profile`
#                         op, kind cpu: SIGPROF at 100 Hz per proc thread, a frame-pointer
#                         walk per sample, a collector fiber): interleaved runs with and
#                         without a profile (BENCH_PROFILE_RUNS pairs, alternating which
#                         goes first), median of each, (without - with) / without
# Target: under 5 (issue 14). A comment line gives the runs. Env: WEFTD, BUILD,
# BENCH_PROFILE_JOBS (default 1000000), BENCH_PROFILE_RUNS (3), BENCH_CONNS (4),
# BENCH_WINDOW (64).
set -eu
: "${WEFTD:=build/weftd}" "${BUILD:=build}"
LOAD=$BUILD/bench/weftd_load
N=${BENCH_PROFILE_JOBS:-1000000}; C=${BENCH_CONNS:-4}; W=${BENCH_WINDOW:-64}
command -v socat > /dev/null || { echo "# profile_overhead_pct skipped: no socat" >&2; exit 0; }
T=$(mktemp -d /tmp/weftd-bench.XXXXXX)
PID= PROFILER=
trap 'kill $PROFILER $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT
printf 'daemon:\n  socket: %s\n  procs: 2\n  durability: none\n  log_level: info\n  retention: {count: 100000, age: 1m}\npipelines:\n  noop:\n    stages:\n      - {name: noop, builtin: noop, workers: 8, queue: 65536, timeout: 0s}\n' \
	"$T/s.sock" > "$T/c.yaml"
"$WEFTD" --config "$T/c.yaml" 2> "$T/log" & PID=$!
for _ in $(seq 100); do echo '{"op":"ping"}' | socat -t 1 - UNIX-CONNECT:"$T/s.sock" 2>/dev/null | grep -q true && break; sleep 0.05; done
"$LOAD" "$T/s.sock" noop "$C" "$W" 120000 > /dev/null   # warm-up (bench_daemon.sh says why)
rate() { "$LOAD" "$T/s.sock" noop "$C" "$W" "$N" | sed -E 's/.*jobs_per_s ([0-9]+).*/\1/'; }
logs() { grep -c "$1" "$T/log" || true; }
wait_log() { for _ in $(seq 400); do [ "$(logs "$1")" -ge "$2" ] && return 0; sleep 0.05; done; echo "# no '$1' in the log" >&2; exit 1; }
echo '{"id":1,"op":"profile","kind":"cpu","seconds":60}' > "$T/req"
: > "$T/off"; : > "$T/on"
profiles=0
# the profile ends when its client goes (the connection's ctx)
run_on() {
	socat -u SYSTEM:"cat $T/req; exec sleep 120" UNIX-CONNECT:"$T/s.sock" & PROFILER=$!
	profiles=$((profiles + 1))
	wait_log "profile: cpu started" $profiles
	rate >> "$T/on"
	kill $PROFILER; wait $PROFILER 2>/dev/null || true; PROFILER=
	wait_log "profile: cpu ended" $profiles
}
for i in $(seq "${BENCH_PROFILE_RUNS:-3}"); do
	if [ $((i % 2)) = 1 ]; then rate >> "$T/off"; run_on; else run_on; rate >> "$T/off"; fi
done
med() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
off=$(med "$T/off"); on=$(med "$T/on")
echo "# profile: without $(tr '\n' ' ' < "$T/off")jobs/s, while a CPU profile runs $(tr '\n' ' ' < "$T/on")jobs/s" >&2
echo "profile_overhead_pct $(awk -v a="$off" -v b="$on" 'BEGIN {printf "%.1f", (a - b) / a * 100}') %"
