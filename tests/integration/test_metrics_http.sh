# SPDX-License-Identifier: MIT
# The monitoring listener (daemon.http) as its users meet it: a real Prometheus scrapes a
# test weftd and a PromQL query through its HTTP API counts exactly the jobs that ran;
# `promtool check metrics` accepts the exposition, served over HTTP and by `weftctl
# metrics` alike; /healthz, /readyz (503 while draining), 404, 405, 431 and 414; clients that stall
# (more of them than http.max_connections) hold no worker: jobs still run, and the
# listener serves again once their timeout closed them; the listener on a Unix socket.
. "$(dirname "$0")/lib.sh"
command -v curl > /dev/null || { skip "curl is not installed (make test installs it)"; exit 0; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
N=7
start_weftd "pipelines:
  shout:
    stages:
      - name: up
        builtin: upper
      - name: say.it
        builtin: echo
  nap:
    stages:
      - name: nap
        builtin: sleep
        params: {duration: 200ms}" "  http: {listen: \"127.0.0.1:$PORT\", max_connections: 3, timeout: 1s}"
URL=http://127.0.0.1:$PORT
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

for i in $(seq $N); do "$WEFTCTL" submit shout "job $i" --wait > /dev/null 2>&1 || fail "submit $i"; done
m=$(curl -sf "$URL/metrics") || fail "GET /metrics"
matches "$m" -x "weftd_pipeline_jobs_done_total{pipeline=\"shout\"} $N" || fail "done_total $N: $m"
matches "$m" -x "weftd_stage_jobs_done_total{pipeline=\"shout\",stage=\"say.it\"} $N" \
	|| fail "stage done_total: $(grep stage_jobs_done <<<"$m")"
matches "$m" -x "weftd_stage_attempt_duration_seconds_count{pipeline=\"shout\",stage=\"up\"} $N" \
	|| fail "histogram count"
matches "$m" -E '^process_(cpu_seconds_total|resident_memory_bytes|open_fds|max_fds|start_time_seconds) ' \
	|| fail "process_* families"
matches "$m" -E '^weft_proc_cpu_seconds_total\{proc="1"\} [0-9.e-]+$' || fail "per-proc CPU: $(grep proc_cpu <<<"$m")"
ok "GET /metrics counts the $N jobs (per pipeline and stage, histograms, process_*)"
if command -v promtool > /dev/null; then
	out=$(promtool check metrics <<<"$m" 2>&1) || fail "promtool check metrics: $out"
	out=$("$WEFTCTL" metrics | promtool check metrics 2>&1) || fail "promtool on weftctl metrics: $out"
	ok "promtool check metrics passes on GET /metrics and on weftctl metrics"
else
	skip "promtool is not installed (Debian's prometheus package; make test installs it)"
fi
w=$("$WEFTCTL" metrics)
[ "$(grep -c '^# TYPE' <<<"$w")" = "$(grep -c '^# TYPE' <<<"$m")" ] || fail "weftctl metrics: other families than GET /metrics"
matches "$w" -x "weftd_pipeline_jobs_done_total{pipeline=\"shout\"} $N" || fail "weftctl metrics: $w"
ok "weftctl metrics: the same families over the Unix socket"

[ "$(code "$URL/healthz")" = 200 ] || fail "healthz"
[ "$(code "$URL/readyz")" = 200 ] || fail "readyz while serving"
[ "$(code "$URL/nope")" = 404 ] || fail "unknown path: not 404"
[ "$(code "$URL/")" = 404 ] || fail "/: not 404"
[ "$(code -X POST -d x=1 "$URL/metrics")" = 405 ] || fail "POST /metrics: not 405"
[ "$(code -X DELETE "$URL/readyz")" = 405 ] || fail "DELETE /readyz: not 405"
matches "$(curl -s -i -X PUT "$URL/healthz")" -i '^Allow: GET, HEAD' || fail "405 without Allow"
[ "$(code -I "$URL/metrics")" = 200 ] || fail "HEAD /metrics"
big=$(head -c 60000 /dev/zero | tr '\0' a)
[ "$(code -H "X-Big: $big" "$URL/metrics")" = 431 ] || fail "60 KB of headers: not 431"
[ "$(code "$URL/metrics?x=${big:0:40000}")" = 414 ] || fail "a 40 KB URL: not 414"
[ "$(code "$URL/healthz")" = 200 ] || fail "healthz after the oversized requests"
ok "healthz 200, readyz 200, unknown path 404, other methods 405 with Allow, oversized requests 431/414"

"$WEFTCTL" drain > /dev/null || fail "drain"
[ "$(code "$URL/readyz")" = 503 ] || fail "readyz while drained: $(code "$URL/readyz")"
[ "$(code "$URL/healthz")" = 200 ] || fail "healthz while drained"
matches "$(curl -s "$URL/metrics")" -x 'weftd_intake_open 0' || fail "intake gauge"
"$WEFTCTL" undrain > /dev/null || fail "undrain"
[ "$(code "$URL/readyz")" = 200 ] || fail "readyz after undrain"
ok "readyz: 503 while draining, 200 again after undrain (healthz 200 throughout)"

# Stalled clients: every connection slot taken by a request that never ends, plus one
# more waiting in the backlog. The workers go on; the listener serves again once the
# 1 s timeout closed the stalled ones.
stall() { python3 -c '
import socket, sys, time
ss = []
for _ in range(4):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # the headers never end
    ss.append(s)
print("stalled", flush=True)
time.sleep(30)' "$PORT"; }
stall > "$T/stall.out" &
STALL=$!
at_exit "kill $STALL"
wait_for "the stalled clients" grep -q stalled "$T/stall.out"
t0=$(date +%s%N)
for i in 1 2 3; do "$WEFTCTL" submit nap "n$i" --wait > /dev/null 2>&1 || fail "a job with HTTP stalled"; done
ok "jobs run while stalled HTTP clients hold every connection ($(( ($(date +%s%N) - t0) / 1000000 )) ms for 3)"
# each try waits at most 1 s: 60 tries give the 1 s timeout a minute of wall time
healthy() { [ "$(code -m 1 "$URL/healthz")" = 200 ]; }
WAIT_S=3 wait_for "the listener after the stalled clients timed out" healthy
ok "the listener serves again once the stalled clients' timeout closed them"
kill "$STALL" 2>/dev/null || true

# A real Prometheus scraping weftd; PromQL through its HTTP API counts the jobs.
if ! command -v prometheus > /dev/null; then
	skip "prometheus is not installed (Debian's prometheus package; make test installs it)"
else
	PPORT=$(free_port)
	cat > "$T/prom.yml" <<EOC
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: weftd
    static_configs: [{targets: ["127.0.0.1:$PORT"]}]
EOC
	prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/prom" \
		--web.listen-address="127.0.0.1:$PPORT" > "$T/prom.log" 2>&1 &
	PROM=$!
	at_exit "kill $PROM; wait $PROM"
	query() { curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" \
		| python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "none")'; }
	M=5
	for i in $(seq $M); do "$WEFTCTL" submit nap "p$i" > /dev/null || fail "submit nap $i"; done
	counted() { [ "$(query 'sum(weftd_pipeline_jobs_done_total{pipeline="nap"})' 2>/dev/null)" = $((3 + M)) ]; }
	WAIT_S=60 wait_for "Prometheus to see $((3 + M)) nap jobs done (log: $T/prom.log)" counted
	[ "$(query 'weftd_pipeline_jobs_done_total{pipeline="shout"}')" = $N ] || fail "shout: $(query 'weftd_pipeline_jobs_done_total{pipeline="shout"}')"
	[ "$(query 'up{job="weftd"}')" = 1 ] || fail "up"
	hist=$(query 'histogram_quantile(0.5, sum by (le) (weftd_stage_attempt_duration_seconds_bucket{pipeline="nap"}))')
		# 200 ms falls in the bucket (65.536 ms, 262.144 ms], within which PromQL interpolates
	python3 -c "import sys; v=float(sys.argv[1]); sys.exit(not 0.065 <= v <= 0.263)" "$hist" \
		|| fail "the median nap attempt ($hist s) is not in the 200 ms bucket"
	ok "Prometheus scrapes weftd: PromQL counts $N shout and $((3 + M)) nap jobs; the median nap is ${hist}s"
fi

# A reload that changes daemon.http keeps the running listener and says it needs a restart.
sed -i "s|127.0.0.1:$PORT|127.0.0.1:$(free_port)|" "$T/weftd.yaml"
"$WEFTCTL" reload > /dev/null || fail "reload"
logged 'reload: daemon.http changed: needs restart' || fail "no needs-restart line for daemon.http"
[ "$(code "$URL/healthz")" = 200 ] || fail "the listener went away at the reload"
ok "a reload changing daemon.http logs that it needs a restart; the listener stays"

# On a Unix socket: served there, the file removed at exit.
stop_weftd
start_weftd "pipelines:
  p:
    stages:
      - name: s
        builtin: noop" "  http: {listen: \"$T/http.sock\"}"
[ -S "$T/http.sock" ] || fail "no socket at $T/http.sock"
"$WEFTCTL" submit p x --wait > /dev/null 2>&1 || fail "submit p"
matches "$(curl -s --unix-socket "$T/http.sock" http://weftd/metrics)" -x 'weftd_pipeline_jobs_done_total{pipeline="p"} 1' \
	|| fail "metrics on the Unix socket"
stop_weftd
[ "$WEFTD_RC" = 0 ] || fail "exit status $WEFTD_RC"
[ ! -e "$T/http.sock" ] || fail "the HTTP socket file was left behind"
ok "the listener on a Unix socket; its file removed at exit"
