# lib.sh — shared by the integration tests: start the real weftd on a temporary socket with
# a test config, drive it, stop it on exit. Source it, then call start_weftd CONFIG_TEXT.
set -u
: "${WEFTD:=build/weftd}" "${WEFTCTL:=build/weftctl}" "${BUILD:=build}" "${PLUGINDIR:=build/plugins}"
WEFTD=$(realpath "$WEFTD"); WEFTCTL=$(realpath "$WEFTCTL")
T=$(mktemp -d /tmp/weftd-test.XXXXXX)
SOCK=$T/weftd.sock
export WEFT_SOCKET=$SOCK
WEFTD_PID=
TEST_NAME=$(basename "$0" .sh)
FAILED=0

cleanup() {
	if [ -n "$WEFTD_PID" ] && kill -0 "$WEFTD_PID" 2>/dev/null; then
		kill -TERM "$WEFTD_PID" 2>/dev/null; sleep 0.2
		kill -KILL "$WEFTD_PID" 2>/dev/null
		wait "$WEFTD_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "not ok - $*"; echo "--- weftd log:"; tail -n 30 "$T/weftd.log" 2>/dev/null; exit 1; }
ok() { echo "ok - $*"; }

# write_conf "pipelines: ..." [daemon-extra-yaml-lines]: (re)writes $T/weftd.yaml (reload tests).
write_conf() {
	{
		echo "daemon:"
		echo "  socket: $SOCK"
		echo "  procs: 2"
		echo "  state_dir: $T/state"
		[ -n "${2:-}" ] && echo "$2"
		case "${2:-}" in *durability:*) ;; *) echo "  durability: none" ;; esac
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
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && "$WEFTCTL" ping >/dev/null 2>&1 && return 0
		if ! kill -0 "$WEFTD_PID" 2>/dev/null; then
			if grep -q "not implemented yet" "$T/weftd.log"; then
				echo "ok - # SKIP $TEST_NAME: $(grep -o '[^:]*not implemented yet' "$T/weftd.log" | head -1)"
				exit 0
			fi
			fail "weftd exited at start"
		fi
		sleep 0.05
	done
	fail "weftd did not answer on $SOCK"
}

# ask 'JSON line' -> prints the response line (one request, one response)
ask() { printf '%s\n' "$1" | socat -t 10 - UNIX-CONNECT:"$SOCK"; }

# json_get FIELD-PATH: read JSON on stdin, print a member (python3: always on Debian? use jq-less python)
jget() { python3 -c 'import json,sys
v=json.loads(sys.stdin.readline())
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v.get(k)
print(v if not isinstance(v,(dict,list,bool)) else json.dumps(v))' "$1"; }

alive() { kill -0 "$WEFTD_PID" 2>/dev/null && "$WEFTCTL" ping >/dev/null || fail "daemon not alive: $*"; }
