#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pause / resume of a broker pipeline act on every node (issue 15): paused from node 1,
# submits on node 2 are accepted and stay queued, a node started while paused runs none of
# them, resume from node 2 and they all finish. Two (then three) weftd nodes, a real
# redis-server.
. "$(dirname "$0")/lib_broker.sh"
PIPELINES='  up:
    broker: main
    stages:
      - {name: u, builtin: upper, workers: 2}
      - {name: v, builtin: upper, workers: 2}'
start_node 1
start_node 2
n1() { node 1 "$@"; }
paused_on() { [ "$(ask "$1" '{"id":1,"op":"stats","pipeline":"up"}' | jget pipelines.up.paused)" = "$2" ]; }

# running before the pause
j=$(n1 submit up a)
[ "$(n1 --json --timeout 10s wait "$j" | jget job.output)" = A ] || fail "before the pause"

out=$(ask 1 '{"id":2,"op":"pause","pipeline":"up"}')
[ "$(jget paused <<< "$out")" = true ] && [ "$(jget pipeline <<< "$out")" = up ] || fail "pause: $out"
[ "$(R EXISTS 'weft:{up}:paused')" = 1 ] || fail "no weft:{up}:paused"
wait_for "node 2 sees the pause" paused_on 2 true
paused_on 1 true || fail "node 1's stats"
: > "$T/ids"
for i in $(seq 6); do
	out=$(ask 2 "{\"id\":3,\"op\":\"submit\",\"pipeline\":\"up\",\"payload\":\"p$i\"}")
	jget job <<< "$out" >> "$T/ids" || fail "submit while paused: $out"
done
all_queued() {
	for id in $(cat "$T/ids"); do
		[ "$(ask "$1" "{\"id\":4,\"op\":\"status\",\"job\":\"$id\"}" | jget job.state)" = queued ] || return 1
	done
}
# (nothing to wait for: give the nodes a few heartbeats to run them if they would)
sleep 1
all_queued 1 || fail "a paused pipeline ran jobs"
ok "pause from node 1: submits on node 2 accepted, none run on either node"

start_node 3
paused_on 3 true || fail "node 3 started while paused does not say so"
sleep 1
all_queued 3 || fail "node 3, started while paused, ran jobs"
ok "a node started while paused runs nothing"

out=$(ask 2 '{"id":5,"op":"resume","pipeline":"up"}')
[ "$(jget paused <<< "$out")" = false ] || fail "resume: $out"
[ "$(R EXISTS 'weft:{up}:paused')" = 0 ] || fail "weft:{up}:paused left"
i=0
for id in $(cat "$T/ids"); do
	i=$((i + 1))
	[ "$(n1 --json --timeout 10s wait "$id" | jget job.output)" = "P$i" ] || fail "job $id after the resume"
done
for n in 1 2 3; do paused_on $n false || fail "node $n still paused"; done
ok "resume from node 2: every queued job ran, no node says paused"

out=$(ask 1 '{"id":6,"op":"pause","pipeline":"nope"}')
[ "$(jget ok <<< "$out")" = false ] || fail "pause of an unknown pipeline: $out"
ok "pause of an unknown pipeline: an error"
