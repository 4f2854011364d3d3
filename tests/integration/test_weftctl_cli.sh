# SPDX-License-Identifier: MIT
# weftctl as a user types it, checked against a stand-in daemon (fake_weftd.py behind
# socat) that records each request line and answers canned replies: options anywhere on
# the line, help and usage errors, the request JSON of every command (issue 12's ops
# included, whose server side this test does not need), the exit codes of the answers,
# binary outputs, stats in human units. The real daemon is in test_weftctl_real.sh.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
export FAKE_DIR=$T/fake
mkdir -p "$FAKE_DIR"
FSOCK=$T/fake.sock
socat UNIX-LISTEN:"$FSOCK",fork EXEC:"python3 $here/fake_weftd.py" 2>/dev/null &
FAKE_PID=$!
at_exit "kill $FAKE_PID"
for _ in $(seq 200); do [ -S "$FSOCK" ] && break; sleep 0.05; done
[ -S "$FSOCK" ] || fail "the fake daemon did not listen"
export WEFT_SOCKET=$FSOCK

# answer OP 'JSON...': the fake's answers to OP from now on (one per line, in turn).
answer() { printf '%s\n' "$2" > "$FAKE_DIR/$1.json"; }
# ctl ARGS...: run weftctl; stdout in $T/out, stderr in $T/err, status in $rc.
ctl() { rc=0; "$WEFTCTL" "$@" > "$T/out" 2> "$T/err" || rc=$?; }
# last_req EXPR: evaluate a Python expression on the last request r (prints it).
last_req() { tail -n 1 "$FAKE_DIR/requests" | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(eval(sys.argv[1]))' "$1"; }
# req_is 'PYTHON-BOOL' DESC: the last request satisfies it.
req_is() { [ "$(last_req "$1")" = True ] || fail "$2: request $(tail -n 1 "$FAKE_DIR/requests")"; }

# ---- the command line ----
ctl --version
[ $rc = 0 ] && matches "$(cat "$T/out")" '^weftctl [0-9]' || fail "--version: $rc $(cat "$T/out")"
ctl help submit
[ $rc = 0 ] && matches "$(cat "$T/out")" -- '--priority N' || fail "help submit"
ctl submit --help
[ $rc = 0 ] && matches "$(cat "$T/out")" '^Usage: weftctl submit PIPELINE' || fail "submit --help"
ctl --help
[ $rc = 0 ] && matches "$(cat "$T/out")" '^  undrain ' || fail "--help lists the commands"
ok "--version, help CMD, CMD --help, --help"

for bad in "frobnicate" "wait" "list --bogus" "list --wait" "submit" "pause" "submit p --priority 101" \
	"retry" "retry x --all" "purge --all" "status a b" "submit p --delay 1s --at 0"; do
	# shellcheck disable=SC2086
	ctl $bad
	[ $rc = 2 ] || fail "'weftctl $bad' exit $rc"
	[ "$(wc -l < "$T/err")" = 2 ] || fail "'weftctl $bad': not one line and a hint: $(cat "$T/err")"
	matches "$(tail -n 1 "$T/err")" '^Usage: weftctl ' || fail "'weftctl $bad' hint: $(cat "$T/err")"
	[ ! -s "$T/out" ] || fail "'weftctl $bad' printed on stdout"
done
matches "$(head -n 1 "$T/err")" 'exclude' || fail "delay+at: $(cat "$T/err")"
ok "usage errors: exit 2, one line and a hint"

answer wait '{"ok":true,"done":true,"job":{"id":"j1","pipeline":"p","state":"done","attempts":1,"output":"out"}}'
ctl wait --timeout 500ms j1
[ $rc = 0 ] && [ "$(cat "$T/out")" = out ] || fail "wait --timeout D ID: $rc $(cat "$T/err")"
req_is 'r["op"]=="wait" and r["job"]=="j1" and r["timeout"]=="500ms"' "wait --timeout before the id"
ctl wait j1 --timeout 250
req_is 'r["timeout"]==250' "a plain number is milliseconds"
ctl -s "$FSOCK" wait j1 --json
[ $rc = 0 ] && [ "$(jget job.output < "$T/out")" = out ] || fail "--json after the id: $(cat "$T/out")"
answer submit '{"ok":true,"job":"j2"}'
ctl submit p x --json
[ $rc = 0 ] && [ "$(jget job < "$T/out")" = j2 ] || fail "submit p x --json: $rc $(cat "$T/err")"
ctl submit p -- -x
req_is 'r["payload"]=="-x"' "a payload after --"
ok "options anywhere: wait --timeout D ID, submit p x --json, -- ends them"

# ---- issue 12's ops: the requests weftctl sends ----
answer submit '{"ok":true,"job":"j3","state":"scheduled","run_at_ms":1796306400000}'
ctl submit p hello --delay 90s --priority 5 --key order-42
[ $rc = 0 ] && [ "$(cat "$T/out")" = j3 ] || fail "submit --delay: $rc $(cat "$T/out") $(cat "$T/err")"
matches "$(cat "$T/err")" '^scheduled: runs at ' || fail "scheduled note: $(cat "$T/err")"
req_is 'r["op"]=="submit" and r["pipeline"]=="p" and r["payload"]=="hello" and r["delay"]=="90s" and r["priority"]==5 and r["key"]=="order-42" and "wait" not in r' "submit --delay --priority --key"
ctl submit p --delay 1500
req_is 'r["delay"]==1500 and "payload" not in r' "--delay 1500 (milliseconds)"
ctl submit p --at 2026-12-03T14:00:00Z --priority -100
req_is 'r["run_at"]=="2026-12-03T14:00:00Z" and r["priority"]==-100 and "delay" not in r' "--at RFC 3339"
ctl submit p --at 1796306400.5
req_is 'r["run_at"]==1796306400.5' "--at Unix seconds"
answer submit '{"ok":true,"job":"j0","duplicate":true}'
ctl submit p x --key k
[ $rc = 0 ] && [ "$(cat "$T/out")" = j0 ] && [ "$(cat "$T/err")" = "duplicate: job j0" ] || fail "duplicate: $(cat "$T/err")"
ok "submit --delay/--at/--priority/--key, a duplicate said on stderr"

answer pause '{"ok":true,"pipeline":"p","paused":true}'
ctl pause p
[ $rc = 0 ] && matches "$(cat "$T/out")" '^pipeline p paused' || fail "pause: $(cat "$T/out")"
req_is 'r["op"]=="pause" and r["pipeline"]=="p"' "pause"
answer resume '{"ok":true,"pipeline":"p","paused":false}'
ctl resume p
req_is 'r["op"]=="resume" and r["pipeline"]=="p"' "resume P"
matches "$(cat "$T/out")" '^pipeline p resumed' || fail "resume P: $(cat "$T/out")"
answer resume '{"ok":true,"intake":"open"}'
ctl resume
req_is 'r["op"]=="resume" and "pipeline" not in r' "resume"
answer undrain '{"ok":true,"intake":"open"}'
ctl undrain
req_is 'r["op"]=="undrain"' "undrain"
matches "$(cat "$T/out")" '^intake open' || fail "undrain: $(cat "$T/out")"
ctl --json undrain
[ "$(jget intake < "$T/out")" = open ] || fail "undrain --json"
ok "pause, resume [P], undrain"

answer retry '{"ok":true,"retried":1,"jobs":["j5"]}'
ctl retry j5
req_is 'r["op"]=="retry" and r["job"]=="j5" and "all" not in r and "from_start" not in r' "retry ID"
[ "$(cat "$T/out")" = j5 ] || fail "retry prints the ids: $(cat "$T/out")"
ctl retry --pipeline p --all --from-start
req_is 'r["pipeline"]=="p" and r["all"] is True and r["from_start"] is True and "job" not in r' "retry --pipeline --all --from-start"
answer retry '{"ok":false,"error":{"code":"conflict","message":"job j6 is running, not a dead letter"}}'
ctl retry j6
[ $rc = 7 ] && matches "$(cat "$T/err")" 'conflict: job j6 is running' || fail "conflict exit $rc: $(cat "$T/err")"
answer purge '{"ok":true,"purged":3}'
ctl purge -p p --all
req_is 'r["op"]=="purge" and r["pipeline"]=="p" and r["all"] is True' "purge --pipeline --all"
[ "$(cat "$T/out")" = "purged 3 dead letters" ] || fail "purge: $(cat "$T/out")"
ctl purge j7
req_is 'r["op"]=="purge" and r["job"]=="j7"' "purge ID"
ok "retry ID | --pipeline P --all [--from-start], purge, conflict exits 7"

answer status '{"ok":true,"job":{"id":"j8","pipeline":"p","state":"scheduled","attempts":0,"priority":3,"key":"k","run_at_ms":1796306400000,"payload":"in\u0000put"}}'
ctl status j8 --payload
req_is 'r["op"]=="status" and r["job"]=="j8" and r["payload"] is True' "status --payload"
grep -aqE '^priority +3$' "$T/out" && grep -aqE '^run at ' "$T/out" || fail "status fields: $(cat -v "$T/out")"
grep -q -a -P '^payload +in\x00put$' "$T/out" || fail "payload raw: $(od -c "$T/out" | head)"
ctl --json status j8 --payload
[ "$(jget job.payload_b64 < "$T/out")" = aW4AcHV0 ] || fail "payload_b64 in --json: $(cat "$T/out")"
ctl list --state scheduled
req_is 'r["op"]=="list" and r["state"]=="scheduled"' "list --state scheduled"
ok "status --payload, list --state scheduled"

# ---- answers: binary, stats, sentences ----
answer wait '{"ok":true,"done":true,"job":{"id":"j9","pipeline":"p","state":"done","attempts":1,"output":"a\u0000b"}}'
ctl wait j9
[ $rc = 0 ] && [ "$(od -An -c "$T/out" | tr -d ' \n')" = 'a\0b' ] || fail "NUL output raw: $rc $(od -c "$T/out")"
ctl --json wait j9
[ $rc = 0 ] && [ "$(jget job.output_b64 < "$T/out")" = YQBi ] && [ "$(jget job.output < "$T/out")" = None ] \
	|| fail "NUL output as base64 in --json: $(cat "$T/out")"
answer list '{"ok":true,"jobs":[{"id":"j9","pipeline":"p","state":"done","attempts":1,"output":"a\u0000b"}]}'
ctl list --outputs
[ $rc = 0 ] && matches "$(cat "$T/out")" '^j9 ' || fail "list with a NUL output: exit $rc $(cat "$T/err")"
ok "outputs with NUL bytes: raw in human mode, base64 in --json"

answer wait '{"ok":true,"done":true,"job":{"id":"j10","pipeline":"p","state":"failed","attempts":3,"error":"stage s: exit status 1","log":"l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\nl11\nl12\n"}}'
ctl wait j10
[ $rc = 1 ] || fail "failed job exit $rc"
matches "$(cat "$T/err")" '^weftctl: job j10 failed: stage s: exit status 1$' || fail "error line: $(cat "$T/err")"
matches "$(cat "$T/err")" '^  l12$' && matches "$(cat "$T/err")" '^  l3$' && ! matches "$(cat "$T/err")" '^  l2$' \
	|| fail "log tail (10 lines): $(cat "$T/err")"
ok "a failed job: its error and the log's last 10 lines on stderr, exit 1"

answer stats '{"ok":true,"intake":"open","jobs":{"table":3,"finished_retained":2,"finished_bytes":5120},"pipelines":{"p":{"submitted":3,"done":2,"failed":1,"canceled":0,"busy":7,"scheduled":1,"paused":true,"latency_us":{"count":2,"p50":850,"p99":3000000,"mean":5,"max":3100000},"stages":[{"name":"s","queued":0,"running":1,"done":2,"failed":1,"retried":4,"canceled":0,"retrying":2,"timeouts":1,"heartbeat_timeouts":5,"workers":2,"queue_cap":1024,"latency_us":{"count":2,"p50":12000,"p99":850,"mean":5,"max":9}}]}},"runtime":{"procs":2,"connections":1,"fibers":5,"fibers_spawned":9,"switches":10,"steals":0,"parks":1,"naps":0,"wakeups":1,"io_submitted":4,"io_completed":4}}'
ctl stats
[ $rc = 0 ] || fail "stats exit $rc"
python3 - "$T/out" <<'PY' || fail "stats table: $(cat "$T/out")"
import sys
text = open(sys.argv[1]).read()
blocks = text.split("\n\n")
pipes = [l.split() for l in blocks[0].splitlines()]
stages = [l.split() for l in blocks[1].splitlines()]
# every row has a value in every column: as many fields as the header
assert all(len(r) == len(pipes[0]) for r in pipes), pipes
assert all(len(r) == len(stages[0]) for r in stages), stages
p = dict(zip(pipes[0], pipes[1]))
assert p["BUSY"] == "7" and p["SCHEDULED"] == "1" and p["PAUSED"] == "yes", p
assert p["P50"] == "850us" and p["P99"] == "3.0s" and p["MAX"] == "3.1s", p
s = dict(zip(stages[0], stages[1]))
assert s["RETRYING"] == "2" and s["HB_TIMEOUTS"] == "5" and s["TIMEOUTS"] == "1", s
assert s["P50"] == "12ms" and s["P99"] == "850us", s
assert "runtime: procs 2, connections 1" in text and "intake open" in text, text
PY
ok "stats: human units, no blank columns, busy/retrying/heartbeat timeouts/scheduled/paused"

answer reload '{"ok":true,"unchanged":5,"changed":1,"added":0,"removed":2}'
ctl reload
[ "$(cat "$T/out")" = "reloaded the config: 5 pipelines unchanged, 1 changed, 0 added, 2 removed" ] || fail "reload: $(cat "$T/out")"
ctl --json reload
[ "$(jget changed < "$T/out")" = 1 ] || fail "reload --json: $(cat "$T/out")"
answer drain '{"ok":true,"drained":42}'
ctl drain
matches "$(cat "$T/out")" '^drained: 42 in-flight jobs finished' || fail "drain: $(cat "$T/out")"
ctl drain --json
[ "$(jget drained < "$T/out")" = 42 ] || fail "drain --json: $(cat "$T/out")"
ok "reload and drain: a sentence, JSON with --json"
