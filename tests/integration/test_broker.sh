#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Broker pipelines (issue 15) against a real redis-server on a temporary Unix socket: three
# weftd nodes share one pipeline through Redis Streams; a node killed with -9 has its jobs
# finished by the others; a Redis restart (AOF) loses no acknowledged job; Redis stopped:
# submit answers unavailable and local pipelines are still served.
. "$(dirname "$0")/lib.sh"
command -v redis-server > /dev/null || { skip "redis-server not installed"; exit 0; }
LOAD="python3 $(dirname "$0")/broker_load.py"
RSOCK=$T/redis.sock

start_redis() {
	redis-server --unixsocket "$RSOCK" --unixsocketperm 700 --port 0 --dir "$T" --save '' \
		--appendonly yes --appendfsync always --daemonize yes --pidfile "$T/redis.pid" \
		--logfile "$T/redis.log" > /dev/null
	wait_for "redis up" redis-cli -s "$RSOCK" ping
}
stop_redis() {
	local pid; pid=$(cat "$T/redis.pid")
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}
start_redis
at_exit 'kill $(cat "$T/redis.pid") 2>/dev/null || true'

# node N: its own socket and config; the same broker and pipelines
PIPES='pipelines:
  up:
    broker: main
    stages:
      - {name: u, builtin: upper, workers: 16}
  slow:
    broker: main
    stages:
      - {name: s, builtin: sleep, params: {duration: 1500ms}, workers: 8}
  two:
    broker: main
    stages:
      - {name: n, builtin: noop, workers: 8}
      - {name: u, builtin: upper, workers: 8}
  bad:
    broker: main
    stages:
      - {name: f, builtin: fail, params: {message: boom}, retry: {attempts: 1}, workers: 4}
  mark:
    broker: main
    stages:
      - {name: m, exec: [sh, -c, "sleep 0.5; echo $(cat) >> '"$T/ran"'"], workers: 1}
  loc:
    stages:
      - {name: u, builtin: upper}'
node_conf() { # N
	cat > "$T/n$1.yaml" <<EOC
daemon:
  socket: $T/n$1.sock
  procs: 2
  durability: none
  heartbeat_interval: 200ms
  heartbeat_timeout: 2s
  brokers:
    main: {redis: "unix://$RSOCK"}
$PIPES
EOC
}
declare -A NPID
start_node() { # N
	node_conf "$1"
	"$WEFTD" --config "$T/n$1.yaml" 2>> "$T/n$1.log" &
	NPID[$1]=$!
	wait_for "node $1 up" env WEFT_SOCKET="$T/n$1.sock" "$WEFTCTL" ping
}
for n in 1 2 3; do start_node $n; done
at_exit 'for p in "${NPID[@]}"; do kill -9 $p 2>/dev/null || true; done'
# lib.sh's own daemon: not a node (the check-config and unavailable tests below)
start_weftd "$PIPES" "  heartbeat_interval: 200ms
  heartbeat_timeout: 2s
  brokers:
    main: {redis: \"unix://$RSOCK\"}"

"$WEFTD" --check-config "$T/n1.yaml" > /dev/null || fail "check-config of a broker config"
sed 's/broker: main/broker: nope/' "$T/n1.yaml" > "$T/bad.yaml"
out=$("$WEFTD" --check-config "$T/bad.yaml" 2>&1) && fail "unknown broker accepted"
matches "$out" 'bad.yaml:[0-9]*:[0-9]*: pipelines.up.broker: no broker "nope"' || fail "message: $out"
sed 's|unix://|tcp://|' "$T/n1.yaml" > "$T/bad.yaml"
out=$("$WEFTD" --check-config "$T/bad.yaml" 2>&1) && fail "bad URL accepted"
matches "$out" 'daemon.brokers.main.redis: invalid redis URL' || fail "message: $out"
ok "check-config: broker names and URLs checked with positions"

S="$T/n1.sock $T/n2.sock $T/n3.sock"
out=$($LOAD up 10000 $S) || fail "10,000 jobs: $out"
counts=$(redis-cli -s "$RSOCK" --raw EVAL "local c={} for _,k in ipairs(redis.call('KEYS',ARGV[1])) do local n=redis.call('HGET',k,'node') if n then c[n]=(c[n] or 0)+1 end end local r={} for k,v in pairs(c) do table.insert(r,k..'='..v) end return r" 0 'weft:{up}:j:*')
nodes=$(grep -c '=' <<< "$counts")
[ "$nodes" -ge 3 ] || fail "not every node ran jobs: $counts"
ok "3 nodes: 10,000 jobs round-robin all done with the right output, waited on from another node; ran: $(tr '\n' ' ' <<< "$counts")"

# two stages (the hand-overs committed many entries a call) and failures (dead letters
# committed with their input, many a call)
out=$($LOAD two 3000 $S) || fail "two stages: $out"
$LOAD bad 300 $S --ids "$T/bad.ids" > /dev/null
python3 - "$T/bad.ids" "$T/n1.sock" <<'EOP' || fail "failing jobs: $(cat "$T/bad.out")"
import json, socket, sys
jobs = [json.loads(l) for l in open(sys.argv[1])]
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[2])
s.sendall("".join(json.dumps({"id": i, "op": "wait", "job": j[0], "timeout": "60s"}) + "\n" for i, j in enumerate(jobs)).encode())
buf, got = b"", 0
while got < len(jobs):
    buf += s.recv(1 << 16)
    while b"\n" in buf:
        l, buf = buf.split(b"\n", 1); a = json.loads(l); got += 1
        j = a.get("job", {})
        if not a.get("done") or j.get("id") != jobs[a["id"]][0] or j.get("state") != "failed" or "boom" not in j.get("error", ""):
            open(sys.argv[1].replace("ids", "out"), "w").write(str(a)); sys.exit(1)
EOP
dead=$(redis-cli -s "$RSOCK" XLEN 'weft:{bad}:dead')
failed=$(redis-cli -s "$RSOCK" HGET 'weft:{bad}:stats' failed)
in=$(redis-cli -s "$RSOCK" --raw XRANGE 'weft:{bad}:dead' - + COUNT 1 | sed -n '/^in$/{n;p}')
[ "$dead" = 300 ] && [ "$failed" = 300 ] && matches "$in" -E '^job-[0-9]+$' || fail "dead $dead, failed $failed, in '$in'"
ok "two stages: 3000 jobs done; 300 failing jobs failed once each, into the dead stream with their input"

# kill -9 a node while it runs jobs: the others finish them within heartbeat_timeout + margin
# (a take-over is the next attempt, counted from the delivery count)
for i in $(seq 24); do
	WEFT_SOCKET=$T/n2.sock "$WEFTCTL" submit slow "k$i"
done > "$T/slow.ids"
held() { [ "$(redis-cli -s "$RSOCK" XPENDING 'weft:{slow}:s:0' weft | head -1)" -ge 8 ]; }
wait_for "slow jobs held" held
t0=$(date +%s%N)
kill -9 "${NPID[2]}"
for id in $(cat "$T/slow.ids"); do
	st=$(WEFT_SOCKET=$T/n1.sock "$WEFTCTL" --json --timeout 20s wait "$id" | jget job.state) || true
	[ "$st" = done ] || fail "job $id after the kill: $st"
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $ms -lt 12000 ] || fail "jobs of the killed node took ${ms}ms"
ok "kill -9 of a node running jobs: all 24 done elsewhere ${ms}ms later (heartbeat_timeout 2s)"
start_node 2

# cancel from another node: a queued job is dropped unrun, its waiters woken
for i in $(seq 48); do WEFT_SOCKET=$T/n1.sock "$WEFTCTL" submit slow "f$i"; done > "$T/fill.ids"
c=$(WEFT_SOCKET=$T/n1.sock "$WEFTCTL" submit slow victim)
(WEFT_SOCKET=$T/n3.sock "$WEFTCTL" --json --timeout 30s wait "$c" > "$T/cwait") &
wp=$!
st=$(WEFT_SOCKET=$T/n2.sock "$WEFTCTL" --json cancel "$c" | jget job.state)
[ "$st" = canceled ] || fail "cancel from another node: $st"
wait "$wp" || true
[ "$(jget job.state < "$T/cwait")" = canceled ] || fail "wait on the canceled job: $(cat "$T/cwait")"
for id in $(cat "$T/fill.ids"); do WEFT_SOCKET=$T/n2.sock "$WEFTCTL" --timeout 30s wait "$id" > /dev/null || fail "fill $id"; done
drained() { [ "$(redis-cli -s "$RSOCK" XLEN 'weft:{slow}:s:0')" = 0 ]; }
wait_for "the slow stream drained" drained
st=$(WEFT_SOCKET=$T/n1.sock "$WEFTCTL" --json status "$c" | jget job.state)
[ "$st" = canceled ] || fail "the canceled job after the workers passed it: $st"
out=$(WEFT_SOCKET=$T/n1.sock "$WEFTCTL" --json stats slow)
[ "$(jget pipelines.slow.canceled <<< "$out")" -ge 1 ] || fail "stats canceled: $out"
[ "$(jget pipelines.slow.nodes <<< "$out" | grep -o '"node"' | wc -l)" -ge 4 ] || fail "stats nodes: $out"
ok "cancel from another node: the waiter on a third woke, the job stayed canceled, stats counts it and lists the nodes"

# a job canceled while queued is never run: its node learns so when it fetches it
# (behind 20 jobs of 0.5 s on 4 nodes of one worker, which hold 12 at most: ~1 s to
# cancel it; the fetch that gets it finds it canceled)
$LOAD mark 20 "$T/n1.sock" --ids "$T/mark.list" > /dev/null
c=$(WEFT_SOCKET=$T/n1.sock "$WEFTCTL" submit mark victim)
[ "$(WEFT_SOCKET=$T/n2.sock "$WEFTCTL" --json cancel "$c" | jget job.state)" = canceled ] || fail "cancel of a queued mark job"
for id in $(cut -d'"' -f2 "$T/mark.list") "$c"; do WEFT_SOCKET=$T/n3.sock "$WEFTCTL" --timeout 30s wait "$id" > /dev/null || true; done
# the victim's entry too is gone (committed: run or skipped) before the file is read
mark_drained() { [ "$(redis-cli -s "$RSOCK" XLEN 'weft:{mark}:s:0')" = 0 ]; }
wait_for "the mark stream drained" mark_drained
[ "$(grep -c '^job-' "$T/ran")" -ge 20 ] && ! grep -q victim "$T/ran" || fail "ran: $(tr '\n' ' ' < "$T/ran") (victim: $(WEFT_SOCKET=$T/n1.sock "$WEFTCTL" --json status "$c"))"
ok "a job canceled while queued is skipped unrun by the node that fetches it"

out=$(WEFT_SOCKET=$T/n2.sock "$WEFTCTL" nodes)
[ "$(grep -c '^up ' <<< "$out")" -ge 4 ] && matches "$out" "(this node)" || fail "weftctl nodes: $out"
ok "weftctl nodes lists the nodes of each broker pipeline"

# Redis restarted (AOF, appendfsync always) during a run: nodes reconnect, nothing acknowledged lost
$LOAD slow 0 $S > /dev/null
out=$($LOAD up 3000 $S --ids "$T/ids") || fail "submit before the restart: $out"
stop_redis
start_redis
out=$($LOAD up 0 $S --wait-only "$T/ids") || fail "after the restart: $out"
# every job of up has ended (checks 2 and 6), each submit ran once: a command queued on a
# connection as it failed must not run again on the next one (nor answer another caller)
sub=$(redis-cli -s "$RSOCK" HGET 'weft:{up}:stats' submitted)
done_n=$(redis-cli -s "$RSOCK" HGET 'weft:{up}:stats' done)
[ "$sub" = 13000 ] && [ "$done_n" = 13000 ] || fail "after the restart: submitted $sub, done $done_n (13000 each)"
ok "Redis restarted with AOF right after 3000 submits: nodes reconnected, all acknowledged jobs done ($out)"

# reload under load: node 1 changes up (restarted), removes slow, adds extra; nothing lost
(python3 "$(dirname "$0")/broker_load.py" up 4000 "$T/n1.sock" "$T/n3.sock" > "$T/rl.out" 2>&1) &
lp=$!
base=$(redis-cli -s "$RSOCK" HGET 'weft:{up}:stats' submitted)
under_way() { [ "$(redis-cli -s "$RSOCK" HGET 'weft:{up}:stats' submitted)" -gt $((base + 500)) ]; }
wait_for "load under way" under_way
node_conf 1
sed -i -e 's/builtin: upper, workers: 16}/builtin: upper, workers: 4}/' -e 's/^  slow:$/  extra:/' \
	-e 's/builtin: sleep, params: {duration: 1500ms}, workers: 8}/builtin: echo, params: {text: x}}/' "$T/n1.yaml"
WEFT_SOCKET=$T/n1.sock "$WEFTCTL" reload > /dev/null || fail "reload of node 1"
wait "$lp" || fail "the load across the reload: $(cat "$T/rl.out")"
[ "$(WEFT_SOCKET=$T/n1.sock "$WEFTCTL" --json submit extra a --wait | jget job.output)" = x ] || fail "added pipeline"
r=$(printf '{"id":1,"op":"submit","pipeline":"slow","payload":"x"}\n' | socat -t 5 - UNIX-CONNECT:"$T/n1.sock")
matches "$r" unknown_pipeline || fail "removed pipeline still there: $r"
ok "reload under load (up changed, slow removed, extra added): all $(cat "$T/rl.out" | cut -d' ' -f2) jobs done"

# Redis stopped: submit answers unavailable, local pipelines still served
stop_redis
r=$(ask '{"id":1,"op":"submit","pipeline":"up","payload":"x"}')
matches "$r" '"code":"unavailable"' || fail "submit with Redis down: $r"
[ "$("$WEFTCTL" --json submit loc abc --wait | jget job.output)" = ABC ] || fail "local pipeline with Redis down"
ok "Redis down: submit answers unavailable, local pipelines served"
start_redis
wait_for "submit works again" "$WEFTCTL" submit up again
ok "Redis back: submits accepted again"
alive
