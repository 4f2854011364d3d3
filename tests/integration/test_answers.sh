# SPDX-License-Identifier: MIT
# Bounded answers (issue 11 item 7): repeated ids in one wait are answered once; binary
# output goes as base64 (not 6-byte \u0000 escapes); list leaves outputs out unless asked;
# an answer over daemon.max_response_bytes is refused with too_large; the daemon's peak
# RSS stays small meanwhile and a new connection is answered at once.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  zeros:
    stages:
      - {name: z, exec: ["head", "-c", "1048576", "/dev/zero"], timeout: 30s, workers: 2}
  text:
    stages:
      - {name: t, builtin: upper}' '  max_response_bytes: 2MiB'
hwm() { awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$WEFTD_PID/status"; }
j=$("$WEFTCTL" submit zeros) || fail "submit"
"$WEFTCTL" wait "$j" >/dev/null || fail "wait"
ids=$(python3 -c 'import json,sys; print(json.dumps([sys.argv[1]] * 256))' "$j")
r=$(printf '%s\n' "{\"id\":1,\"op\":\"wait\",\"jobs\":$ids}" | socat -t 30 - UNIX-CONNECT:"$SOCK")
n=$(echo "$r" | python3 -c 'import json,sys; r=json.load(sys.stdin); js=r["jobs"]; print(len(js), "output" in js[0], len(js[0].get("output_b64","")))')
[ "$n" = "1 False 1398104" ] || fail "wait 256x one job: jobs, text?, b64 length = $n (${#r} bytes)"
peak=$(hwm)
[ "$peak" -lt 200 ] || fail "peak RSS ${peak} MB after the 256x wait"
ok "wait naming one 1 MiB NUL job 256 times: one job, output_b64, ${#r}-byte answer, peak RSS ${peak} MB"
j2=$("$WEFTCTL" submit zeros) || fail "submit"
"$WEFTCTL" wait "$j2" >/dev/null || fail "wait"
t=$("$WEFTCTL" submit text --wait abc) || fail "text submit"
r=$("$WEFTCTL" --json list --limit 12)
! matches "$r" '"output' || fail "list without outputs has outputs: ${r:0:300}"
r=$("$WEFTCTL" --json list --limit 1 --pipeline text --outputs)
matches "$r" '"output":"ABC"' || fail "list --outputs: ${r:0:300}"
ok "list leaves outputs out unless asked (--outputs / \"outputs\":true)"
rc=0; r=$("$WEFTCTL" --json list --limit 12 --outputs 2>&1) || rc=$?
matches "$r" 'too_large' || fail "list --outputs over max_response_bytes: rc $rc ${r:0:300}"
matches "$r" 'max_response_bytes' || fail "too_large message: ${r:0:300}"
ok "an answer over max_response_bytes is refused: too_large (rc $rc)"
alive "after the large answers"
