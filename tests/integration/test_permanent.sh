# SPDX-License-Identifier: MIT
# Issue 17: a failure no retry can mend dead-letters at once. An exec stage with
# retry.permanent_exit_codes: [2, 64] fails a job exiting 2 or 64 after one attempt (a
# 10 s backoff would follow otherwise) while another exit code is retried; a plugin
# returning -WEFTD_PLUGIN_EPERMANENT does the same; --check-config refuses a bad code and
# the key on a non-exec stage.
. "$(dirname "$0")/lib.sh"
TPLUGIN=$(realpath "$BUILD/tests/plugins/permanent.so")
start_weftd "
pipelines:
  p:
    stages:
      - name: s
        exec: [sh, -c, 'exit \$(cat)']
        retry: {attempts: 3, initial: 10s, max: 10s, permanent_exit_codes: [2, 64]}
  plug:
    stages:
      - name: s
        plugin: {path: $TPLUGIN}
        retry: {attempts: 3, initial: 10s, max: 10s}"

for code in 2 64; do
	r=$(ask "{\"op\":\"submit\",\"pipeline\":\"p\",\"payload\":\"$code\",\"wait\":true,\"timeout\":\"5s\"}")
	matches "$r" '"state":"failed"' || fail "exit $code: $r"
	[ "$(jget job.attempts <<<"$r")" = 1 ] || fail "exit $code: attempts: $r"
	matches "$r" "attempt 1/3, permanent: exit status $code" || fail "exit $code: error: $r"
done
ok "exit codes 2 and 64 dead-letter after one attempt"
r=$(ask '{"op":"submit","pipeline":"p","payload":"3"}')
id=$(jget job <<<"$r")
wait_for "exit 3 retrying" in_state "$id" retrying
ok "exit code 3 is retried"

r=$(ask '{"op":"submit","pipeline":"plug","payload":"bad","wait":true,"timeout":"5s"}')
matches "$r" '"state":"failed"' && matches "$r" 'attempt 1/3, permanent: bad input, attempt 1' ||
	fail "plugin permanent: $r"
r=$(ask '{"op":"submit","pipeline":"plug","payload":"good","wait":true,"timeout":"5s"}')
matches "$r" '"output":"good"' || fail "plugin good: $r"
ok "a plugin's -WEFTD_PLUGIN_EPERMANENT dead-letters at once"

check() {
	printf 'pipelines:\n  p:\n    stages:\n%s\n' "$1" > "$T/bad.yaml"
	out=$("$WEFTD" --check-config "$T/bad.yaml" 2>&1) && fail "accepted: $1"
	matches "$out" "$2" || fail "check-config said: $out (want $2)"
}
check "      - {name: s, exec: [true], retry: {permanent_exit_codes: [0]}}" 'bad.yaml:4:.*invalid exit code "0"'
check "      - {name: s, exec: [true], retry: {permanent_exit_codes: [256]}}" 'invalid exit code "256"'
check "      - {name: s, exec: [true], retry: {permanent_exit_codes: 2}}" 'expected a list'
check "      - {name: s, builtin: noop, retry: {permanent_exit_codes: [2]}}" 'apply to exec stages only'
ok "--check-config refuses exit codes out of 1..255 and the key on a non-exec stage"
alive
