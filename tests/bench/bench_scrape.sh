# SPDX-License-Identifier: MIT
# bench_scrape.sh — what a Prometheus scrape costs the jobs (run by `make bench`):
#   scrape_overhead_pct  noop throughput lost to a 1 Hz GET /metrics: interleaved runs with
#                        and without the scraper (BENCH_SCRAPE_RUNS pairs, alternating
#                        which goes first), median of each, (without - with) / without
#   scrape_ms            one GET /metrics under that load (the median of the scrapes)
# A comment line gives the runs and the exposition's size. Env: WEFTD, BUILD,
# BENCH_SCRAPE_JOBS (default 1000000: a run of a few seconds sees a few scrapes),
# BENCH_SCRAPE_RUNS (3), BENCH_CONNS (4), BENCH_WINDOW (64).
set -eu
: "${WEFTD:=build/weftd}" "${BUILD:=build}"
LOAD=$BUILD/bench/weftd_load
N=${BENCH_SCRAPE_JOBS:-1000000}; C=${BENCH_CONNS:-4}; W=${BENCH_WINDOW:-64}
command -v curl > /dev/null || { echo "# scrape_overhead_pct skipped: no curl" >&2; exit 0; }
T=$(mktemp -d /tmp/weftd-bench.XXXXXX)
PID= SCRAPER=
trap 'kill $SCRAPER $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'daemon:\n  socket: %s\n  procs: 2\n  durability: none\n  log_level: warning\n  retention: {count: 100000, age: 1m}\n  http: {listen: "127.0.0.1:%s"}\npipelines:\n  noop:\n    stages:\n      - {name: noop, builtin: noop, workers: 8, queue: 65536, timeout: 0s}\n' \
	"$T/s.sock" "$PORT" > "$T/c.yaml"
"$WEFTD" --config "$T/c.yaml" 2> "$T/log" & PID=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && break; sleep 0.05; done
curl -sf "127.0.0.1:$PORT/healthz" > /dev/null || { cat "$T/log" >&2; exit 1; }
"$LOAD" "$T/s.sock" noop "$C" "$W" 120000 > /dev/null   # warm-up (bench_daemon.sh says why)
# the scraper: one GET per second, as Prometheus at scrape_interval 1s; its times in ms
scraper() { while :; do curl -s -o /dev/null -w '%{time_total}\n' "127.0.0.1:$PORT/metrics" >> "$T/scrapes"; sleep 1; done; }
rate() { "$LOAD" "$T/s.sock" noop "$C" "$W" "$N" | sed -E 's/.*jobs_per_s ([0-9]+).*/\1/'; }
: > "$T/off"; : > "$T/on"; : > "$T/scrapes"
run_on() { scraper & SCRAPER=$!; rate >> "$T/on"; kill $SCRAPER; wait $SCRAPER 2>/dev/null || true; SCRAPER=; }
for i in $(seq "${BENCH_SCRAPE_RUNS:-3}"); do
	if [ $((i % 2)) = 1 ]; then rate >> "$T/off"; run_on; else run_on; rate >> "$T/off"; fi
done
med() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
off=$(med "$T/off"); on=$(med "$T/on")
echo "# scrape: without $(tr '\n' ' ' < "$T/off")jobs/s, with a 1 Hz scrape $(tr '\n' ' ' < "$T/on")jobs/s; $(grep -c . "$T/scrapes") scrapes of $(curl -s "127.0.0.1:$PORT/metrics" | wc -c) bytes" >&2
echo "scrape_overhead_pct $(awk -v a="$off" -v b="$on" 'BEGIN {printf "%.1f", (a - b) / a * 100}') %"
echo "scrape_ms $(awk '{print $1 * 1000}' "$T/scrapes" | sort -n | awk '{v[NR]=$1} END {printf "%.2f", v[int((NR+1)/2)]}') ms"
