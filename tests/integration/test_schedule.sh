# SPDX-License-Identifier: MIT
# Issue 17: periodic jobs (a pipeline's schedule: entries). A "@every 1s" entry fires once
# per second across a reload and a restart without firing any slot twice (counted by the
# jobs' keys, cron:<entry>:<slot>); `weftctl schedules` shows each entry's next run and
# last fire; after downtime a catch_up entry fires its last missed slot once at start and
# one without catch_up fires none of its missed slots; reload adds and removes entries.
. "$(dirname "$0")/lib.sh"
conf() { # conf EXTRA-ENTRIES
	echo "
pipelines:
  p:
    stages:
      - {name: e, builtin: echo}
    schedule:
      - {name: tick, cron: '@every 1s', payload: ${2:-tick}}
      - {name: cu, cron: '@every 3s', catch_up: true}
      - {name: nc, cron: '@every 3s'}
      - {name: paris, cron: '30 2 * * *', tz: Europe/Paris}
${1:-}"
}
DAEMON="  durability: batch"
start_weftd "$(conf)" "$DAEMON"

# slots ENTRY: the slots fired for ENTRY, one per line, from the jobs' keys (all retained)
slots() { "$WEFTCTL" --json list --pipeline p --limit 10000 | python3 -c '
import json, sys
for j in json.loads(sys.stdin.readline())["jobs"]:
    k = j.get("key", "")
    if k.startswith("cron:" + sys.argv[1] + ":"):
        print(k.split(":")[2])' "$1" | sort -n; }
nslots() { slots "$1" | wc -l; }
at_least() { [ "$(nslots "$1")" -ge "$2" ]; }
# no_dupes ENTRY: each slot fired once (one job per key: the engine refuses a second job
# with a key anyway, so count the log's "submitted" lines too: a second fire of a slot
# would log "already has")
no_dupes() {
	[ -z "$(slots "$1" | uniq -d)" ] || fail "$1: a slot has two jobs: $(slots "$1" | uniq -d | head -3)"
	! logged "schedule p/$1: slot [0-9]+ already has" || fail "$1: a slot fired twice: $(grep 'already has' "$T/weftd.log" | head -2)"
}

wait_for "3 ticks" at_least tick 3
r=$("$WEFTCTL" --json schedules)
now=$(date +%s%3N)
next=$(jget schedules.0.next_run_ms <<<"$r"); last=$(jget schedules.0.last_fire_ms <<<"$r")
[ "$(jget schedules.0.name <<<"$r")" = tick ] && [ "$next" -gt $((now - 1000)) ] &&
	[ "$next" -le $((now + 2000)) ] && [ "$last" -lt "$next" ] || fail "schedules: $r (now $now)"
pnext=$(jget schedules.3.next_run_ms <<<"$r")
# 02:30 in Paris is 00:30 or 01:30 UTC: the next one within a day
[ "$(jget schedules.3.tz <<<"$r")" = Europe/Paris ] && [ "$pnext" -gt "$now" ] &&
	[ "$pnext" -le $((now + 86400000)) ] && [ $(( pnext / 1000 % 3600 )) -eq 1800 ] &&
	[ "$(jget schedules.3.last_fire_ms <<<"$r")" = None ] || fail "schedules paris: $r"
out=$("$WEFTCTL" schedules p)
matches "$out" '^p  *tick  *@every 1s  *local  *20[0-9-]*T[0-9:]*Z  *20' && matches "$out" 'paris .*Europe/Paris .*T0[01]:30:00Z  *-$' ||
	fail "weftctl schedules: $out"
ok "weftctl schedules shows each entry's next run and last fire ($(nslots tick) ticks so far)"

# a reload that adds an entry and changes tick's payload: tick goes on, no double fire
n0=$(nslots tick)
write_conf "$(conf "      - {name: added, cron: '@every 1s'}" tock)" "$DAEMON"
"$WEFTCTL" reload >/dev/null || fail "reload"
matches "$("$WEFTCTL" --json schedules p)" '"payload":"tock"' || fail "tick's payload not changed by the reload"

wait_for "the added entry fires" at_least added 2
wait_for "ticks after the reload" at_least tick $((n0 + 3))
no_dupes tick
ok "a reload adds an entry (it fires) and changes tick's payload: tick goes on with no slot fired twice"

# the ticks so far have no gap: one per second across the reload
s=$(slots tick)
first=$(head -1 <<<"$s"); lastslot=$(tail -1 <<<"$s"); n=$(wc -l <<<"$s")
[ $((lastslot - first + 1)) -eq "$n" ] || fail "tick: $n slots from $first to $lastslot: $(tr '\n' ' ' <<<"$s")"
ok "tick fired $n times in $n seconds, one per slot, across the reload"

# restart (TERM, then start): no slot twice, and the schedules carry on
n1=$(nslots tick)
stop_weftd TERM
[ -s "$T/state/schedules" ] || fail "no state_dir/schedules after the stop"
cu_last=$(awk '$2 == "cu" { print $3 }' "$T/state/schedules")
nc_before=$(awk '$2 == "nc" { print $3 }' "$T/state/schedules")
# down across two 3 s slots of cu and nc (a wait on the clock: the downtime is the test)
while [ "$(date +%s)" -lt $((cu_last + 7)) ]; do sleep 0.2; done
start_weftd "$(conf "      - {name: added, cron: '@every 1s'}")" "$DAEMON"
wait_for "ticks after the restart" at_least tick $((n1 + 3))
no_dupes tick
no_dupes added
ok "after a restart tick goes on, no slot fired twice ($(nslots tick) ticks)"

# catch_up: the last slot missed while down fires once at start (logged as a catch-up),
# not the earlier missed one; without catch_up the missed slots are not fired
wait_for "cu's catch-up" logged "schedule p/cu: catching up slot"
[ "$(log_count 'schedule p/cu: catching up slot')" -eq 1 ] || fail "more than one catch-up: $(grep 'catching up' "$T/weftd.log")"
c=$(grep -o 'schedule p/cu: catching up slot [0-9]*' "$T/weftd.log" | grep -o '[0-9]*$')
[ "$c" -ge $((cu_last + 6)) ] || fail "cu caught up slot $c (last before the stop: $cu_last)"
has_cu() { matches "$(slots cu)" -x "$c"; }
wait_for "the catch-up's job" has_cu
matches "$(slots cu)" -x "$((cu_last + 3))" && fail "cu fired its first missed slot $((cu_last + 3)) too"
nc_missed=$(slots nc | awk -v b="$nc_before" -v s="$c" '$1 > b && $1 <= s' | wc -l)
[ "$nc_missed" -eq 0 ] || fail "nc (no catch_up) fired $nc_missed missed slots"
no_dupes cu
ok "catch_up fires the last missed slot ($c) once at start; an entry without it fires none"

# a reload that removes an entry: it fires no more; gone from schedules
write_conf "$(conf)" "$DAEMON"
"$WEFTCTL" reload >/dev/null || fail "reload 2"
na=$(nslots added)
matches "$("$WEFTCTL" schedules)" ' added ' && fail "added still listed"
wait_for "ticks after the second reload" at_least tick $(( $(nslots tick) + 2 ))
[ "$(nslots added)" -le $((na + 1)) ] || fail "a removed entry still fires"
ok "a reload removes an entry: it is no longer listed nor fired"

# kill -9 right after fires: the restart fires no slot twice (the keys of retained jobs
# and state_dir/schedules)
stop_weftd KILL
rm -f "$SOCK"
start_weftd "$(conf)" "$DAEMON"
wait_for "ticks after kill -9" at_least tick $(( $(nslots tick) + 2 ))
no_dupes tick
ok "after kill -9 no slot fires twice"
alive
