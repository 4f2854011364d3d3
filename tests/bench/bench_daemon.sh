# SPDX-License-Identifier: MIT
# bench_daemon.sh — end-to-end daemon figures (run by `make bench`):
#   jobs_per_s_noop  submit over the socket -> one noop builtin stage -> result available
#                    (BENCH_CONNS connections, each with BENCH_WINDOW submits in flight;
#                    timed until the daemon's stats count every job done)
#   submit_p99_us    latency of one submit (request written -> response read) on a separate
#                    probe connection sending one request at a time during the noop run
#                    (a comment line repeats it under a paced load at half the rate)
#                    (both: the median of BENCH_RUNS runs, each printed as a comment with
#                    the daemon's CPU time per job; the daemon and the load share the cores)
#   jobs_per_s_exec  the same end-to-end rate with stage exec: [/bin/true], 16 workers;
#                    a comment line gives the machine's raw posix_spawn+waitpid rate of
#                    /bin/true at that moment (2 threads), the ceiling for this figure
# Env: WEFTD, BUILD, BENCH_JOBS (default 200000), BENCH_CONNS (4), BENCH_WINDOW (64),
#      BENCH_RUNS (3), BENCH_EXEC_JOBS (1500).
set -eu
: "${WEFTD:=build/weftd}" "${BUILD:=build}"
LOAD=$BUILD/bench/weftd_load
N=${BENCH_JOBS:-200000}; C=${BENCH_CONNS:-4}; W=${BENCH_WINDOW:-64}
T=$(mktemp -d /tmp/weftd-bench.XXXXXX)
PID=
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT
# start PIPELINE-YAML: a daemon on a fresh socket; returns 1 if it does not come up
start() {
	[ -n "$PID" ] && { kill $PID; wait $PID 2>/dev/null || true; }
	rm -f "$T/s.sock"
	printf 'daemon:\n  socket: %s\n  procs: 2\n  durability: none\n  log_level: warning\n  retention: {count: 100000, age: 1m}\npipelines:\n%s\n' "$T/s.sock" "$1" > "$T/c.yaml"
	"$WEFTD" --config "$T/c.yaml" 2> "$T/log" & PID=$!
	for _ in $(seq 100); do
		echo '{"op":"ping"}' | socat -t 1 - UNIX-CONNECT:"$T/s.sock" 2>/dev/null | grep -q true && return 0
		kill -0 $PID 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
start '  noop:
    stages:
      - {name: noop, builtin: noop, workers: 8, queue: 65536, timeout: 0s}' || { cat "$T/log" >&2; exit 1; }
# Warm-up: past the 100,000 retained jobs, so the runs see the steady state of a daemon
# that has been up a while (the first 100,000 jobs also grow the heap: ~35% slower).
"$LOAD" "$T/s.sock" noop "$C" "$W" 120000 > /dev/null
# median FIELD: the middle value of FIELD over the runs in $T/runs
median() { sed -E "s/.*$1 ([0-9]+).*/\1/" "$T/runs" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
: > "$T/runs"
# cpu_ticks: the daemon's user+system CPU so far, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
for _ in $(seq "${BENCH_RUNS:-3}"); do
	c0=$(cpu_ticks)
	r=$("$LOAD" "$T/s.sock" noop "$C" "$W" "$N")
	c1=$(cpu_ticks)
	echo "# noop: $r daemon_cpu_us_per_job $(awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN {printf "%.2f", d / hz * 1e6 / n}')" >&2
	echo "$r" >> "$T/runs"
done
echo "jobs_per_s_noop $(median jobs_per_s) jobs/s"
echo "submit_p99_us $(median submit_p99_us) us"
# The same probe under an open load at half that rate: latency without the saturation.
half=$(( $(median jobs_per_s) / 2 ))
echo "# noop paced at $half jobs/s: $("$LOAD" "$T/s.sock" noop "$C" "$W" "$N" "$half")" >&2
if ! start '  exec:
    stages:
      - {name: true, exec: ["/bin/true"], workers: 16, queue: 65536, timeout: 10s}'; then
	echo "# jobs_per_s_exec skipped: $(tail -1 "$T/log")" >&2
else
	r=$("$LOAD" "$T/s.sock" exec 2 32 ${BENCH_EXEC_JOBS:-1500})
	echo "# exec: $r" >&2
	echo "# exec reference: $("$LOAD" --spawn 2 ${BENCH_EXEC_JOBS:-1500}) (posix_spawn+waitpid of /bin/true, 2 threads)" >&2
	echo "jobs_per_s_exec $(echo "$r" | sed -E 's/.*jobs_per_s ([0-9]+).*/\1/') jobs/s"
fi
