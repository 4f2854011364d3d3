#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The client ops on broker pipelines answer as they do on local ones (issue 15: "status,
# wait, cancel, list, stats work from any node"), two weftd nodes on a real redis-server:
# status with payload and stage_index, list without pipeline (local and broker jobs
# merged, newest first, limit), wait on several jobs (broker and local), retry from_start
# (the payload is kept) and of a retrying job (its next attempt now), idempotency keys
# that live as long as their job, list by SCAN, another user's job unknown at once.
. "$(dirname "$0")/lib_broker.sh"
PIPELINES="  up:
    broker: main
    stages:
      - {name: u, builtin: upper, workers: 2}
  two:
    broker: main
    stages:
      - {name: n, builtin: noop}
      - {name: u, builtin: upper}
  redo:
    broker: main
    stages:
      - {name: a, exec: [sh, -c, 'echo ran >> $T/ran_a; cat']}
      - {name: d, builtin: fail, params: {message: never, times: '1000'}, retry: {attempts: 1}}
  later:
    broker: main
    stages:
      - {name: f, exec: [sh, -c, 'if [ -e $T/once ]; then cat; else touch $T/once; exit 1; fi'],
         retry: {attempts: 3, initial: 1h, max: 1h, multiplier: 1, jitter: none}}
  slow:
    broker: main
    stages:
      - {name: s, builtin: sleep, params: {duration: 5s}, workers: 1}
  loc:
    stages:
      - {name: u, builtin: upper}"
NODE_DAEMON='  socket_mode: "0666"' # (section 8: another user connects)
start_node 1
start_node 2
ids() { python3 -c 'import json,sys; print(" ".join(j["id"] for j in json.loads(sys.stdin.readline())["jobs"]))'; }
hkey() { echo "weft:{$1}:j:${2#*/}"; } # PIPELINE ID: the job's hash

# 1. status: the payload (text or base64) when asked, stage_index, as a local job shows them
j=$(node 1 submit two hello)
out=$(ask 2 "{\"id\":1,\"op\":\"wait\",\"job\":\"$j\",\"timeout\":\"10s\"}")
[ "$(jget job.output <<< "$out")" = HELLO ] && [ "$(jget job.stage <<< "$out")" = u ] &&
	[ "$(jget job.stage_index <<< "$out")" = 1 ] || fail "stage_index of a job at its second stage: $out"
out=$(ask 2 "{\"id\":2,\"op\":\"status\",\"job\":\"$j\",\"payload\":true}")
[ "$(jget job.payload <<< "$out")" = hello ] || fail "status payload: $out"
[ "$(ask 2 "{\"id\":3,\"op\":\"status\",\"job\":\"$j\"}" | jget job.payload)" = None ] || fail "payload unasked"
b=$(ask 1 '{"id":4,"op":"submit","pipeline":"up","payload_b64":"AP/+","delay":"1h"}' | jget job)
out=$(ask 2 "{\"id\":5,\"op\":\"status\",\"job\":\"$b\",\"payload\":true}")
[ "$(jget job.payload_b64 <<< "$out")" = AP/+ ] || fail "binary payload: $out"
ok "status from another node: payload / payload_b64 with \"payload\":true, stage_index"

# 2. list without pipeline: this node's local jobs and every broker pipeline's, merged
# newest first, limit in all
b1=$(node 1 submit up b1); sleep 0.02
l2=$(node 2 submit loc l2); sleep 0.02
b2=$(node 1 submit up b2)
out=$(ask 2 '{"id":6,"op":"list","limit":3}')
[ "$(ids <<< "$out")" = "$b2 $l2 $b1" ] || fail "list without pipeline, limit 3: $(ids <<< "$out") (want $b2 $l2 $b1)"
out=$(ask 2 '{"id":7,"op":"list","limit":1000}')
for x in "$j" "$b" "$l2"; do matches "$out" "\"$x\"" || fail "$x not in the whole list: $out"; done
out=$(ask 2 '{"id":8,"op":"list","state":"scheduled"}')
[ "$(ids <<< "$out")" = "$b" ] || fail "list state scheduled: $out"
out=$(ask 2 '{"id":9,"op":"list","pipeline":"loc"}')
[ "$(ids <<< "$out")" = "$l2" ] || fail "list of a local pipeline: $out"
ok "list without pipeline: local and broker jobs, newest first, limit and state across both"

# the answer is bounded by max_response_bytes as a local list's (too_large, never cut)
NODE_DAEMON='  max_response_bytes: 4096' start_node 3
big=$(head -c 1500 /dev/zero | tr '\0' x)
for i in 1 2 3; do node 3 submit up "$big" > /dev/null; done
out=$(ask 3 '{"id":9,"op":"list","outputs":true,"limit":10}')
matches "$out" '"code":"too_large"' || fail "list past max_response_bytes: $(head -c 300 <<< "$out")"
out=$(ask 3 '{"id":9,"op":"list","limit":10}')
[ "$(jget ok <<< "$out")" = True ] || [ "$(jget ok <<< "$out")" = true ] || fail "list without outputs: $(head -c 300 <<< "$out")"
ok "list without pipeline past max_response_bytes: too_large"

# 3. wait on several jobs: broker (submitted to either node) and local, in request order,
# each once; a timeout answers done:false; an unknown id fails the whole request
w1=$(node 1 submit up w1); w2=$(node 2 submit up w2); wl=$(node 2 submit loc wl)
out=$(ask 2 "{\"id\":10,\"op\":\"wait\",\"jobs\":[\"$w1\",\"$wl\",\"$w2\",\"$w1\"],\"timeout\":\"10s\"}")
[ "$(jget done <<< "$out")" = true ] && [ "$(ids <<< "$out")" = "$w1 $wl $w2" ] &&
	[ "$(jget jobs.2.output <<< "$out")" = W2 ] && [ "$(jget jobs.1.output <<< "$out")" = WL ] || fail "wait jobs: $out"
out=$(ask 1 "{\"id\":10,\"op\":\"wait\",\"job\":\"$w1\",\"timeout\":0}")
[ "$(jget done <<< "$out")" = true ] || fail "wait timeout 0 on a done job: $out"
out=$(ask 1 "{\"id\":10,\"op\":\"wait\",\"jobs\":[\"$w2\",\"$w1\"],\"timeout\":0}")
[ "$(jget done <<< "$out")" = true ] || fail "wait jobs timeout 0 on done jobs: $out"
s=$(node 1 submit slow zz)
t0=$(date +%s%3N)
out=$(ask 2 "{\"id\":11,\"op\":\"wait\",\"jobs\":[\"$w1\",\"$s\"],\"timeout\":\"300ms\"}")
[ "$(jget done <<< "$out")" = false ] && [ "$(ids <<< "$out")" = "$w1 $s" ] || fail "wait jobs, timeout: $out"
[ $(( $(date +%s%3N) - t0 )) -lt 3000 ] || fail "the timeout did not end the wait"
t0=$(date +%s%3N)
out=$(ask 2 "{\"id\":12,\"op\":\"wait\",\"jobs\":[\"$s\",\"up/00000000deadbeef\"],\"timeout\":\"20s\"}")
matches "$out" '"code":"unknown_job"' || fail "wait jobs with an unknown id: $out"
[ $(( $(date +%s%3N) - t0 )) -lt 3000 ] || fail "an unknown id failed the wait only after the others ended"
node 2 cancel "$s" > /dev/null
ok "wait with jobs: broker and local jobs in one answer, done:false at the timeout, unknown_job; timeout 0 checks"

# 4. retry from_start: from the first stage with the submitted payload (kept in the job's
# hash); without it from the stage that failed
ran() { wc -l < "$T/ran_a"; }
d=$(node 1 submit redo abc)
[ "$(ask 2 "{\"id\":13,\"op\":\"wait\",\"job\":\"$d\",\"timeout\":\"10s\"}" | jget job.state)" = failed ] || fail "redo job"
[ "$(ran)" = 1 ] || fail "stage a ran $(ran) times"
out=$(ask 2 "{\"id\":14,\"op\":\"retry\",\"job\":\"$d\",\"from_start\":true}")
[ "$(jget retried <<< "$out")" = 1 ] || fail "retry from_start: $out"
out=$(ask 1 "{\"id\":15,\"op\":\"wait\",\"job\":\"$d\",\"timeout\":\"10s\"}")
[ "$(jget job.state <<< "$out")" = failed ] && [ "$(jget job.stage <<< "$out")" = d ] || fail "after from_start: $out"
[ "$(ran)" = 2 ] || fail "from_start did not run stage a again ($(ran) runs)"
[ "$(ask 1 "{\"id\":16,\"op\":\"retry\",\"job\":\"$d\"}" | jget retried)" = 1 ] || fail "plain retry"
[ "$(ask 1 "{\"id\":17,\"op\":\"wait\",\"job\":\"$d\",\"timeout\":\"10s\"}" | jget job.state)" = failed ] || fail "after retry"
[ "$(ran)" = 2 ] || fail "a plain retry ran stage a again"
out=$(ask 1 '{"id":18,"op":"retry","pipeline":"redo","all":true,"from_start":true}')
[ "$(jget retried <<< "$out")" = 1 ] && matches "$out" "\"$d\"" || fail "retry all from_start: $out"
[ "$(ask 1 "{\"id\":19,\"op\":\"wait\",\"job\":\"$d\",\"timeout\":\"10s\"}" | jget job.state)" = failed ] || fail "after retry all"
[ "$(ran)" = 3 ] || fail "retry all from_start did not run stage a ($(ran) runs)"
R HDEL "$(hkey redo "$d")" payload > /dev/null # as a job submitted by a weftd that kept none
out=$(ask 2 "{\"id\":20,\"op\":\"retry\",\"job\":\"$d\",\"from_start\":true}")
matches "$out" '"code":"conflict"' && matches "$out" 'payload' || fail "from_start without a payload: $out"
ok "retry from_start re-runs the first stage with the payload (job and all); plain retry the failed stage"

# 5. retry of a retrying job: its next attempt now, attempts kept
r=$(node 1 submit later q)
retrying() { [ "$(node 2 --json status "$r" | jget job.state)" = retrying ]; }
wait_for "job retrying (next attempt in 1h)" retrying
out=$(ask 2 "{\"id\":21,\"op\":\"retry\",\"job\":\"$r\"}")
[ "$(jget retried <<< "$out")" = 1 ] || fail "retry of a retrying job: $out"
out=$(ask 1 "{\"id\":22,\"op\":\"wait\",\"job\":\"$r\",\"timeout\":\"10s\"}")
[ "$(jget job.state <<< "$out")" = done ] && [ "$(jget job.attempts <<< "$out")" = 2 ] || fail "retried now: $out"
[ "$(R ZCARD 'weft:{later}:sched')" = 0 ] || fail "left in the schedule"
ok "retry of a retrying job runs its next attempt now (attempt 2), out of the schedule"

# 6. idempotency keys live as long as their job: past its deadline; from a cancel's end;
# a key whose job is gone is free
# (delayed: a job that ended has its key's TTL set from its end, checked below)
ask 1 '{"id":23,"op":"submit","pipeline":"up","payload":"k","key":"kn","delay":"10m"}' > /dev/null
ask 1 '{"id":24,"op":"submit","pipeline":"up","payload":"k","key":"kd","delay":"10m","deadline":"2h"}' > /dev/null
tn=$(R TTL 'weft:{up}:k:kn'); td=$(R TTL 'weft:{up}:k:kd')
ret=$((tn - 600)) # the retention, about
[ "$td" -gt $((ret + 7000)) ] || fail "a key with a 2h deadline: TTL $td s (without: $tn s)"
c=$(ask 1 '{"id":25,"op":"submit","pipeline":"slow","payload":"k","key":"kc","delay":"1h"}' | jget job)
[ "$(R TTL 'weft:{slow}:k:kc')" -gt $((ret + 3000)) ] || fail "a delayed job's key"
node 2 cancel "$c" > /dev/null
[ "$(R TTL 'weft:{slow}:k:kc')" -le "$ret" ] || fail "a canceled job's key: TTL $(R TTL 'weft:{slow}:k:kc') s"
g=$(ask 1 '{"id":26,"op":"submit","pipeline":"up","payload":"g","key":"kg"}' | jget job)
[ "$(ask 2 '{"id":27,"op":"submit","pipeline":"up","payload":"g","key":"kg"}' | jget job)" = "$g" ] || fail "duplicate"
R DEL "$(hkey up "$g")" > /dev/null # its hash expired first
out=$(ask 2 '{"id":28,"op":"submit","pipeline":"up","payload":"g","key":"kg"}')
[ "$(jget duplicate <<< "$out")" = None ] && [ "$(jget job <<< "$out")" != "$g" ] || fail "a gone job's key: $out"
# a key whose time ran short while its job waited or ran lives the retention from the
# job's end: when a worker ends it, and when the keeper finds it past its deadline
w=$(ask 1 '{"id":40,"op":"submit","pipeline":"slow","payload":"k","key":"kw"}' | jget job)
x=$(ask 1 '{"id":41,"op":"submit","pipeline":"up","payload":"k","key":"kx","delay":"1s","deadline":"500ms"}' | jget job)
R EXPIRE 'weft:{slow}:k:kw' 30 > /dev/null
R EXPIRE 'weft:{up}:k:kx' 30 > /dev/null
[ "$(ask 2 "{\"id\":42,\"op\":\"wait\",\"job\":\"$w\",\"timeout\":\"20s\"}" | jget job.state)" = done ] || fail "the slow keyed job"
[ "$(ask 2 "{\"id\":43,\"op\":\"wait\",\"job\":\"$x\",\"timeout\":\"20s\"}" | jget job.state)" = expired ] || fail "the expired keyed job"
[ "$(R TTL 'weft:{slow}:k:kw')" -gt 60 ] || fail "a key at its job's end by a worker: TTL $(R TTL 'weft:{slow}:k:kw') s"
[ "$(R TTL 'weft:{up}:k:kx')" -gt 60 ] || fail "a key at its job's expiry in the schedule: TTL $(R TTL 'weft:{up}:k:kx') s"
ok "keys: TTL past the deadline, retention from a cancel or any end, free once the job is gone"

# 9. a broker job whose attempt runs shows running, its stage, attempt and started_ms from
# any node (as a local job), its hash the node running it; it ends done, started <= finished
s=$(node 1 submit slow run)
running() { [ "$(node 2 --json status "$s" | jget job.state)" = running ]; }
wait_for "a broker job running, seen from node 2" running
out=$(node 2 --json status "$s")
st=$(jget job.started_ms <<< "$out")
[ "$st" != None ] && [ "$st" -gt 0 ] && [ "$(jget job.stage <<< "$out")" = s ] &&
	[ "$(jget job.attempts <<< "$out")" = 1 ] || fail "a running broker job's status: $out"
rn=$(R HGET "$(hkey slow "$s")" node)
ours=0; for p in "${NPID[@]}"; do [ "${rn##*:}" = "$p" ] && ours=1; done
[ "$ours" = 1 ] || fail "the running job's node: '$rn' (nodes ${NPID[*]})"
matches "$(ask 1 '{"id":44,"op":"list","pipeline":"slow","state":"running"}')" "\"$s\"" || fail "list state running"
out=$(ask 1 "{\"id\":45,\"op\":\"wait\",\"job\":\"$s\",\"timeout\":\"20s\"}")
[ "$(jget job.state <<< "$out")" = done ] && [ "$(jget job.started_ms <<< "$out")" = "$st" ] &&
	[ "$st" -le "$(jget job.finished_ms <<< "$out")" ] || fail "the running job's end: $out"
# a burst (read by the fetch script while entries wait, not only by the blocking read) and
# two stages: every job started, at its first stage's attempt, before it finished
js=$(for i in $(seq 40); do node 1 submit two "b$i"; done)
for x in $js; do
	out=$(ask 2 "{\"id\":46,\"op\":\"wait\",\"job\":\"$x\",\"timeout\":\"20s\"}")
	st=$(jget job.started_ms <<< "$out")
	[ "$(jget job.state <<< "$out")" = done ] && [ "$st" != None ] && [ "$st" -le "$(jget job.finished_ms <<< "$out")" ] &&
		[ "$st" -ge "$(jget job.created_ms <<< "$out")" ] || fail "a burst's job: $out"
done
ok "a running broker job: running with stage, attempts and started_ms from any node; done, created <= started <= finished"

# 7. list walks Redis with SCAN, never KEYS (which blocks the server)
R CONFIG RESETSTAT > /dev/null
ask 2 '{"id":29,"op":"list"}' > /dev/null
ask 1 '{"id":30,"op":"list","pipeline":"up"}' > /dev/null
stats=$(R INFO commandstats)
matches "$stats" cmdstat_scan && ! matches "$stats" cmdstat_keys: || fail "list's commands: $stats"
ok "list uses SCAN, never KEYS"

# 8. another user's broker job is unknown to wait at once (as a local one), not when it ends
if [ "$(id -u)" != 0 ] || ! command -v setpriv > /dev/null; then
	skip "another user's job: needs root and setpriv"
	exit 0
fi
chmod 0755 "$T"
nobody() { printf '%s\n' "$2" | setpriv --reuid=65534 --regid=65534 --clear-groups socat -t 10 - UNIX-CONNECT:"$T/n$1.sock"; }
s=$(node 1 submit slow mine)
t0=$(date +%s%3N)
out=$(nobody 2 "{\"id\":31,\"op\":\"wait\",\"job\":\"$s\",\"timeout\":\"20s\"}")
matches "$out" '"code":"unknown_job"' || fail "another's wait: $out"
out=$(nobody 2 "{\"id\":32,\"op\":\"wait\",\"jobs\":[\"$s\"],\"timeout\":\"20s\"}")
matches "$out" '"code":"unknown_job"' || fail "another's wait jobs: $out"
[ $(( $(date +%s%3N) - t0 )) -lt 3000 ] || fail "another's job was waited for ($(( $(date +%s%3N) - t0 )) ms)"
[ "$(nobody 1 '{"id":33,"op":"list"}' | jget jobs)" = "[]" ] || fail "another's jobs listed"
node 1 cancel "$s" > /dev/null
ok "another user's broker job: wait answers unknown_job at once, list leaves it out"
