# SPDX-License-Identifier: MIT
# lib.sh — shared by the integration tests: start the real weftd on a temporary socket with
# a test config, drive it, stop it on exit. Source it, then call start_weftd CONFIG_TEXT.
#
# Every script runs under `set -euo pipefail` and reports through ok/fail: `ok DESC` counts a
# passed check, `fail DESC` prints `not ok`, the log's tail, and ends the script (later
# checks build on the state the failed one expected). At exit a `N passed, M failed` line
# closes the output; a script that ran no check, or stopped on a command that failed
# outside any check, fails. With pipefail, keep `grep -q` out of pipelines (it exits at
# the first match and its writer dies of SIGPIPE): use `matches "$(cmd)" PATTERN`.
set -Eeuo pipefail
: "${WEFTD:=build/weftd}" "${WEFTCTL:=build/weftctl}" "${BUILD:=build}" "${PLUGINDIR:=build/plugins}"
WEFTD=$(realpath "$WEFTD"); WEFTCTL=$(realpath "$WEFTCTL")
T=$(mktemp -d /tmp/weftd-test.XXXXXX)
SOCK=$T/weftd.sock
export WEFT_SOCKET=$SOCK
WEFTD_PID=
WEFTD_RC=
TEST_NAME=$(basename "$0" .sh)
PASSED=0
FAILED=0
AT_EXIT=()         # commands run before the daemon is stopped (at_exit CMD)
ERR_AT=            # the last command that failed at top level: named if the script aborts
trap 'ERR_AT="line $LINENO: $BASH_COMMAND (exit $?)"' ERR

# at_exit 'CMD': also run CMD at exit (a helper process the script started).
at_exit() { AT_EXIT+=("$1"); }

cleanup() {
	local c
	for c in "${AT_EXIT[@]}"; do eval "$c" 2>/dev/null || true; done
	if [ -n "$WEFTD_PID" ] && kill -0 "$WEFTD_PID" 2>/dev/null; then
		kill -TERM "$WEFTD_PID" 2>/dev/null || true
		for _ in $(seq 40); do kill -0 "$WEFTD_PID" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$WEFTD_PID" 2>/dev/null || true
		wait "$WEFTD_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}

finish() {
	local rc=$?
	trap - ERR
	set +e
	if [ $rc -ne 0 ] && [ $FAILED -eq 0 ]; then
		FAILED=1
		echo "not ok - $TEST_NAME stopped outside a check: ${ERR_AT:-exit $rc}"
		tail -n 30 "$T/weftd.log" 2>/dev/null | sed 's/^/# /'
	fi
	if [ $((PASSED + FAILED)) -eq 0 ]; then
		FAILED=1
		echo "not ok - $TEST_NAME ran no check"
	fi
	cleanup
	echo "$TEST_NAME: $PASSED passed, $FAILED failed"
	[ $FAILED -eq 0 ] && exit 0
	exit 1
}
trap finish EXIT
# `timeout` (make's limit) ends a hung script with TERM: that is a failure, not a pass
trap 'not_ok "$TEST_NAME killed by SIGTERM (a hang? make stops a script at its time limit)"; exit 143' TERM
trap 'not_ok "$TEST_NAME interrupted"; exit 130' INT

# not_ok DESC: count a failed check and go on (checks independent of each other).
not_ok() { FAILED=$((FAILED + 1)); echo "not ok $((PASSED + FAILED)) - $*"; }
fail() {
	not_ok "$@"
	if [ -s "$T/weftd.log" ]; then
		echo "# weftd log:"
		tail -n 30 "$T/weftd.log" | sed 's/^/# /' || true
	fi
	exit 1
}
ok() { PASSED=$((PASSED + 1)); echo "ok $((PASSED + FAILED)) - $*"; }
skip() { PASSED=$((PASSED + 1)); echo "ok $((PASSED + FAILED)) - # SKIP $*"; }

# matches TEXT [GREP-OPTIONS] PATTERN: grep -q on a string (pipefail-safe).
matches() { local text=$1; shift; grep -q "$@" <<<"$text"; }

# wait_for DESC CMD...: run CMD until it succeeds, every 50 ms for at most WAIT_S seconds
# (default 20: far beyond what an idle machine needs, so a loaded one does not flake);
# fail naming DESC when it never does. For states the daemon reaches on its own.
wait_for() {
	local desc=$1; shift
	local tries=$(( ${WAIT_S:-20} * 20 ))
	for _ in $(seq "$tries"); do
		"$@" && return 0
		sleep 0.05
	done
	fail "timed out after ${WAIT_S:-20}s waiting for: $desc"
}

# job_state ID: prints the job's state. in_state ID 'STATE[|STATE...]': true when it is one.
job_state() { "$WEFTCTL" --json status "$1" | jget job.state; }
in_state() { [[ "$(job_state "$1")" =~ ^($2)$ ]]; }
# logged PATTERN: the daemon's log has a line matching PATTERN (grep -E).
logged() { grep -qE -- "$1" "$T/weftd.log" 2>/dev/null; }
# log_count PATTERN: how many log lines match.
log_count() { grep -cE -- "$1" "$T/weftd.log" 2>/dev/null || true; }

# write_conf "pipelines: ..." [daemon-extra-yaml-lines]: (re)writes $T/weftd.yaml (reload tests).
# Durability is none unless the extra lines set it, or TEST_DURABILITY does (batch: every
# script then runs with group commit in the server's path).
write_conf() {
	{
		echo "daemon:"
		echo "  socket: $SOCK"
		echo "  procs: 2"
		echo "  state_dir: $T/state"
		if [ -n "${2:-}" ]; then echo "$2"; fi
		case "${2:-}" in *durability:*) ;; *) echo "  durability: ${TEST_DURABILITY:-none}" ;; esac
		echo "$1"
	} > "$T/weftd.yaml.new"
	mv "$T/weftd.yaml.new" "$T/weftd.yaml"
}

# start_weftd "pipelines: ..." [daemon-extra-yaml-lines]: writes $T/weftd.yaml, starts, waits.
# The log is appended to (a restart keeps the earlier lines).
start_weftd() {
	write_conf "$@"
	"$WEFTD" --config "$T/weftd.yaml" 2>> "$T/weftd.log" &
	WEFTD_PID=$!
	for _ in $(seq 400); do
		if [ -S "$SOCK" ] && "$WEFTCTL" ping >/dev/null 2>&1; then return 0; fi
		if ! kill -0 "$WEFTD_PID" 2>/dev/null; then
			if grep -q "not implemented yet" "$T/weftd.log"; then
				skip "$TEST_NAME: $(grep -o '[^:]*not implemented yet' "$T/weftd.log" | head -1)"
				exit 0
			fi
			fail "weftd exited at start"
		fi
		sleep 0.05
	done
	fail "weftd did not answer on $SOCK"
}

# stop_weftd [SIGNAL]: signal weftd (TERM by default), wait for it, its exit status in WEFTD_RC.
stop_weftd() {
	kill -"${1:-TERM}" "$WEFTD_PID"
	WEFTD_RC=0
	wait "$WEFTD_PID" 2>/dev/null || WEFTD_RC=$?
}

# ask 'JSON line' -> prints the response line (one request, one response)
ask() { printf '%s\n' "$1" | socat -t 10 - UNIX-CONNECT:"$SOCK"; }

# jget FIELD-PATH: read JSON on stdin, print a member (numbers index lists)
jget() { python3 -c 'import json,sys
v=json.loads(sys.stdin.readline())
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v.get(k) if isinstance(v, dict) else None
print(v if not isinstance(v,(dict,list,bool)) else json.dumps(v))' "$1"; }

# alive [WHEN]: the daemon runs and answers a ping (a check of its own).
alive() {
	if kill -0 "$WEFTD_PID" 2>/dev/null && "$WEFTCTL" ping >/dev/null; then
		ok "daemon alive${1:+ $1}"
	else
		fail "daemon not alive${1:+ $1}"
	fi
}
