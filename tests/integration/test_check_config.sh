# SPDX-License-Identifier: MIT
# weftd --check-config runs what start and reload run, not only the file's syntax: each
# stage's action is prepared (builtin params parsed, the exec program found in PATH, the
# plugin opened and its symbol found). Each broken case below is refused with a non-zero
# exit and FILE:LINE:COL pointing at the stage, and start refuses it with the same words.
. "$(dirname "$0")/lib.sh"
PLUGIN=$(realpath "$PLUGINDIR/example.so")

# check NAME 'stage yaml' PATTERN: --check-config refuses it with PATTERN at FILE:LINE:COL,
# and weftd --config refuses to start with the same message.
check() {
	local f="$T/$1.yaml" out rc=0
	printf '%s\n' "daemon:" "  socket: $T/$1.sock" "  state_dir: $T/state-$1" \
		"pipelines:" "  p:" "    stages:" "      - {name: ok, builtin: upper}" "$2" >"$f"
	out=$("$WEFTD" --check-config "$f" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "$1: --check-config accepted it: $out"
	matches "$out" -E "^$f:8:9: pipeline p: stage bad: .*$3" || fail "$1: message: $out"
	ok "$1: --check-config exits $rc: $out"
	rc=0
	timeout 20 "$WEFTD" --config "$f" >"$T/$1.start" 2>&1 || rc=$?
	[ $rc -ne 0 ] && matches "$(cat "$T/$1.start")" -F "$out" \
		|| fail "$1: start did not refuse it the same way (exit $rc): $(cat "$T/$1.start")"
	ok "$1: start refuses it with the same message"
}
check duration "      - {name: bad, builtin: sleep, params: {duration: two}}" 'duration.*"two"'
check exec "      - {name: bad, exec: [weft-no-such-program-42, -x]}" 'weft-no-such-program-42: not found in PATH'
check symbol "      - {name: bad, plugin: {path: $PLUGIN, symbol: no_such_stage_fn}}" 'no symbol "no_such_stage_fn"'
check unknown_param "      - {name: bad, builtin: upper, params: {speed: 3}}" 'no param "speed"'

good="$T/good.yaml"
printf '%s\n' "pipelines:" "  p:" "    stages:" "      - {name: s, builtin: sleep, params: {duration: 2ms}}" \
	"      - {name: x, exec: [tr, a-z, A-Z]}" "      - {name: g, plugin: {path: $PLUGIN}}" >"$good"
out=$("$WEFTD" --check-config "$good" 2>&1) || fail "a valid config refused: $out"
matches "$out" -F "$good: ok (1 pipelines)" || fail "valid config output: $out"
ok "a valid config with the three kinds of stages passes: $out"

# reload: the same refusal, the running config stays
start_weftd "pipelines:
  p:
    stages:
      - {name: ok, builtin: upper}"
write_conf "pipelines:
  p:
    stages:
      - {name: ok, builtin: upper}
      - {name: bad, builtin: sleep, params: {duration: two}}"
rc=0; out=$("$WEFTCTL" reload 2>&1) || rc=$?
[ $rc -ne 0 ] && matches "$out" -E "weftd.yaml:[0-9]+:[0-9]+: pipeline p: stage bad: param duration" \
	|| fail "reload of a bad duration (exit $rc): $out"
ok "reload refuses it with FILE:LINE:COL too (exit $rc)"
[ "$("$WEFTCTL" submit p --wait still)" = STILL ] || fail "the old config runs on"
ok "the old config runs on"
