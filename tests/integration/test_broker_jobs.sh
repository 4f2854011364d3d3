#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The job model on broker pipelines (issue 15's Semantics), two weftd nodes on a real
# redis-server: retries through the schedule (holding no worker, attempts counted across
# nodes), delay, idempotency keys, deadlines, dead letters (list, retry, purge), cancel of a
# running attempt from another node, dead nodes forgotten.
. "$(dirname "$0")/lib_broker.sh"
PIPELINES='  flaky:
    broker: main
    stages:
      - {name: f, builtin: fail, params: {message: boom, times: "2"}, workers: 1,
         retry: {attempts: 3, initial: 700ms, max: 700ms, multiplier: 1, jitter: none}}
  doomed:
    broker: main
    stages:
      - {name: a, builtin: upper}
      - {name: d, builtin: fail, params: {message: never, times: "100"}, retry: {attempts: 2, initial: 10ms}}
  up:
    broker: main
    stages:
      - {name: u, builtin: upper, workers: 4}
  prio:
    broker: main
    stages:
      - {name: p, builtin: sleep, params: {duration: 400ms}, workers: 1}
      - {name: q, builtin: upper, workers: 1}
  slow:
    broker: main
    stages:
      - {name: s, builtin: sleep, params: {duration: 6s}, workers: 2}'
start_node 1
start_node 2
n1() { node 1 "$@"; }
n2() { node 2 "$@"; }
ask1() { ask 1 "$1"; }
ask2() { ask 2 "$1"; }
st() { n2 --json status "$1" | jget job.state; }

# 1. retries go through the schedule: the failed attempt frees its worker (the stage has
# one: a second job runs meanwhile), attempts count across nodes, the job ends done
j=$(n1 submit flaky a)
retrying() { [ "$(st "$j")" = retrying ]; }
wait_for "job retrying" retrying
out=$(n2 --json status "$j")
[ "$(jget job.run_at_ms <<< "$out")" -gt 0 ] && [ "$(jget job.attempts <<< "$out")" = 1 ] || fail "retrying job: $out"
[ "$(R ZCARD 'weft:{flaky}:sched')" = 1 ] || fail "not in the schedule"
[ "$(R XPENDING 'weft:{flaky}:s:0' weft | head -1)" = 0 ] || fail "the retrying job holds its entry"
out=$(n2 --json --timeout 20s wait "$j")
[ "$(jget job.state <<< "$out")" = done ] && [ "$(jget job.attempts <<< "$out")" = 3 ] &&
	[ "$(jget job.output <<< "$out")" = a ] || fail "after its retries: $out"
ok "retry: a failed attempt waits in weft:{P}:sched holding no worker, then runs again (3 attempts, done)"

# 2. delay: scheduled until due, then runs; a key answers the first job's id
t0=$(date +%s%3N)
out=$(ask1 '{"id":1,"op":"submit","pipeline":"up","payload":"later","delay":"1500ms","key":"k1"}')
[ "$(jget state <<< "$out")" = scheduled ] && [ "$(jget run_at_ms <<< "$out")" -ge $((t0 + 1400)) ] || fail "delayed submit: $out"
d=$(jget job <<< "$out")
[ "$(st "$d")" = scheduled ] || fail "status of a delayed job: $(st "$d")"
out=$(ask2 '{"id":2,"op":"submit","pipeline":"up","payload":"other","key":"k1"}')
[ "$(jget job <<< "$out")" = "$d" ] && [ "$(jget duplicate <<< "$out")" = true ] || fail "same key from node 2: $out"
out=$(n2 --json --timeout 10s wait "$d")
[ "$(jget job.output <<< "$out")" = LATER ] || fail "delayed job: $out"
[ $(( $(jget job.finished_ms <<< "$out") - t0 )) -ge 1400 ] || fail "delayed job ran early: $out"
[ "$(jget job.key <<< "$out")" = k1 ] || fail "key not shown: $out"
ok "delay: scheduled, then run when due; a second submit with the same key (other node) answers the first id"

# priorities: a band's stream per stage, the higher read first: a high-priority job
# submitted after ten low ones (a worker per node, each holding at most three entries)
# overtakes those not fetched yet
for i in $(seq 10); do echo "{\"id\":$i,\"op\":\"submit\",\"pipeline\":\"prio\",\"payload\":\"low$i\",\"priority\":-5}"; done |
	socat -t 10 - UNIX-CONNECT:"$T/n1.sock" | python3 -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["job"])' > "$T/low.ids"
out=$(ask2 '{"id":11,"op":"submit","pipeline":"prio","payload":"high","priority":7}')
h=$(jget job <<< "$out")
out=$(n1 --json --timeout 20s wait "$h")
[ "$(jget job.output <<< "$out")" = HIGH ] && [ "$(jget job.priority <<< "$out")" = 7 ] || fail "high job: $out"
hf=$(jget job.finished_ms <<< "$out")
later=0
for l in $(cat "$T/low.ids"); do
	out=$(n1 --json --timeout 20s wait "$l")
	[ "$(jget job.priority <<< "$out")" = -5 ] || fail "low job: $out"
	[ "$(jget job.finished_ms <<< "$out")" -gt "$hf" ] && later=$((later + 1))
done
[ $later -ge 2 ] || fail "the high-priority job did not overtake: $later low jobs ended after it"
R EXISTS 'weft:{prio}:s:1:hi' | grep -q 1 || fail "no high band at stage 2"
ok "priority: the high band is read first at every stage (a later high job overtook $later queued low ones)"

# 3. deadlines: a running attempt is cut at its deadline (expired); a delayed job whose
# deadline comes first expires in the schedule
out=$(ask1 '{"id":3,"op":"submit","pipeline":"slow","payload":"x","deadline":"800ms"}')
e1=$(jget job <<< "$out")
out=$(ask1 '{"id":4,"op":"submit","pipeline":"up","payload":"x","delay":"3s","deadline":"1s"}')
e2=$(jget job <<< "$out")
t0=$(date +%s%3N)
[ "$(n2 --json --timeout 10s wait "$e1" | jget job.state)" = expired ] || fail "running job past its deadline: $(st "$e1")"
[ $(( $(date +%s%3N) - t0 )) -lt 4000 ] || fail "the attempt was not cut at the deadline"
[ "$(n2 --json --timeout 10s wait "$e2" | jget job.state)" = expired ] || fail "scheduled job past its deadline: $(st "$e2")"
[ "$(n1 --json stats up | jget pipelines.up.expired)" -ge 1 ] || fail "stats expired"
ok "deadline: a running attempt is cancelled and the job ends expired; a scheduled one expires in the schedule"

# 4. dead letters: list (from the other node), retry (re-driven into the stage that failed,
# fresh attempts), purge
dj=$(n1 submit doomed abc)
[ "$(n2 --json --timeout 10s wait "$dj" | jget job.state)" = failed ] || fail "doomed job"
out=$(ask2 '{"id":5,"op":"list","pipeline":"doomed","state":"failed"}')
matches "$out" "\"$dj\"" || fail "list of dead letters: $out"
out=$(ask2 '{"id":6,"op":"list","pipeline":"up","state":"failed"}')
[ "$(jget jobs <<< "$out")" = "[]" ] || fail "list filter: $out"
[ "$(R XLEN 'weft:{doomed}:dead')" = 1 ] || fail "dead stream"
out=$(ask2 "{\"id\":7,\"op\":\"retry\",\"job\":\"$dj\"}")
[ "$(jget retried <<< "$out")" = 1 ] || fail "retry: $out"
out=$(n1 --json --timeout 10s wait "$dj" || true)
[ "$(jget job.state <<< "$out")" = failed ] && [ "$(jget job.stage <<< "$out")" = d ] &&
	[ "$(jget job.attempts <<< "$out")" = 2 ] || fail "re-driven job: $out"
[ "$(R XLEN 'weft:{doomed}:dead')" = 1 ] || fail "dead stream after the re-drive"
out=$(ask1 "{\"id\":8,\"op\":\"purge\",\"job\":\"$d\"}")
matches "$out" '"code":"conflict"' || fail "purge of a done job: $out"
out=$(ask1 '{"id":9,"op":"purge","pipeline":"doomed","all":true}')
[ "$(jget purged <<< "$out")" = 1 ] || fail "purge all: $out"
[ "$(R XLEN 'weft:{doomed}:dead')" = 0 ] || fail "dead stream after purge"
matches "$(ask1 "{\"id\":10,\"op\":\"status\",\"job\":\"$dj\"}")" unknown_job || fail "purged job still there"
ok "dead letters: list from another node, retry re-drives into the failed stage, purge deletes (not done jobs: conflict)"

# 5. cancel reaches a running attempt on whichever node runs it
c=$(n1 submit slow victim)
running() { [ "$(R XPENDING 'weft:{slow}:s:0' weft | head -1)" -ge 1 ]; }
wait_for "slow job running" running
t0=$(date +%s%3N)
n2 cancel "$c" > /dev/null
drained() { [ "$(R XPENDING 'weft:{slow}:s:0' weft | head -1)" = 0 ]; }
wait_for "the attempt stopped" drained
[ $(( $(date +%s%3N) - t0 )) -lt 4000 ] || fail "the running attempt was not stopped"
[ "$(st "$c")" = canceled ] || fail "canceled running job: $(st "$c")"
ok "cancel from another node stops the running attempt ($(( $(date +%s%3N) - t0 )) ms)"

# 6. dead nodes are forgotten: their heartbeat and their consumers (holding nothing) go
R HSET 'weft:{up}:nodes' ghost:1 $(( $(date +%s%3N) - 60000 )) > /dev/null
R XGROUP CREATECONSUMER 'weft:{up}:s:0' weft ghost:1 > /dev/null
forgotten() { [ -z "$(R HGET 'weft:{up}:nodes' ghost:1)" ] && ! R XINFO CONSUMERS 'weft:{up}:s:0' weft | grep -q ghost; }
wait_for "the ghost node forgotten" forgotten
[ "$(R HLEN 'weft:{up}:nodes')" = 2 ] || fail "live nodes forgotten too"
ok "a node unseen for 10 heartbeat timeouts leaves the nodes hash and the consumer groups"

# 7. redis://HOST:PORT/DB with a host name (resolved with getaddrinfo off the scheduler)
host=$(hostname)
getent hosts "$host" > /dev/null || { skip "host name $host does not resolve"; exit 0; }
start_node 3 "redis://$host:$RPORT/0"
[ "$(WEFT_SOCKET=$T/n3.sock "$WEFTCTL" --json submit up dns --wait | jget job.output)" = DNS ] || fail "node 3 over TCP by name"
ok "redis://$host:$RPORT/0: a host name is resolved (node 3 over TCP runs jobs with the others)"
