# weftctl against the real weftd: binary outputs (a NUL byte used to make list, status and
# wait exit 3), submit --wait's id first and its failure report, options after the
# arguments, stats in human units.
. "$(dirname "$0")/lib.sh"
start_weftd "pipelines:
  echo:
    stages:
      - name: echo
        builtin: echo
  bad:
    stages:
      - name: sh
        exec: [sh, -c, 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line\$i >&2; done; exit 3']"

printf 'a\0b' > "$T/nul"
id=$("$WEFTCTL" submit echo -f "$T/nul") || fail "submit a NUL payload"
"$WEFTCTL" wait "$id" > "$T/out" || fail "wait on a NUL output: exit $?"
cmp -s "$T/nul" "$T/out" || fail "wait: the output is not the raw bytes: $(od -c "$T/out")"
"$WEFTCTL" status "$id" > "$T/st" || fail "status of a NUL output: exit $?"
grep -aqP '^output +a\x00b$' "$T/st" || fail "status output: $(cat -v "$T/st")"
"$WEFTCTL" list --outputs > /dev/null || fail "list --outputs with a NUL output: exit $?"
[ "$("$WEFTCTL" --json status "$id" | jget job.output_b64)" = YQBi ] || fail "--json: $("$WEFTCTL" --json status "$id")"
[ "$("$WEFTCTL" --json list --outputs | jget jobs.0.output_b64)" = YQBi ] || fail "--json list"
ok "a NUL in an output: raw bytes in human mode, output_b64 in --json, exit 0"

rc=0; "$WEFTCTL" submit echo hi --wait > "$T/out" 2> "$T/err" || rc=$?
[ $rc = 0 ] && [ "$(cat "$T/out")" = hi ] || fail "submit --wait: $rc $(cat "$T/out")"
matches "$(cat "$T/err")" -E '^job [0-9a-f]{16}$' || fail "the id on stderr: $(cat "$T/err")"
rc=0; "$WEFTCTL" submit bad x --wait > "$T/out" 2> "$T/err" || rc=$?
[ $rc = 1 ] || fail "failed job exit $rc"
matches "$(cat "$T/err")" -E '^weftctl: job [0-9a-f]{16} failed: .*exit' || fail "error: $(cat "$T/err")"
matches "$(cat "$T/err")" '^  line12$' && matches "$(cat "$T/err")" '^  line3$' || fail "log tail: $(cat "$T/err")"
ok "submit --wait: the id first on stderr; a failure's error and log tail"

id=$("$WEFTCTL" submit echo "late --json") || fail submit
[ "$("$WEFTCTL" wait "$id" --timeout 5s --json | jget job.output)" = "late --json" ] || fail "options after the id"
matches "$("$WEFTCTL" stats)" -E '^echo +[0-9]+ +[0-9]+ .* [0-9.]+(us|ms|s) *$' || fail "stats: $("$WEFTCTL" stats)"
ok "options after the arguments; stats latencies in units"
