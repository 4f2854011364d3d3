# SPDX-License-Identifier: MIT
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

# bash completion: the installed script, sourced as bash-completion does, asked as bash
# asks it (COMP_WORDS, COMP_CWORD), weftctl on PATH as once installed.
mkdir -p "$T/bin"; ln -s "$WEFTCTL" "$T/bin/weftctl"
complete_line() { # complete_line WORD...: the candidates for the last word, sorted, one line
	PATH=$T/bin:$PATH bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_weftctl; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ \
		"$(dirname "$0")/../../daemon/weftctl/weftctl.bash" "$@"
}
[ "$(complete_line weftctl un)" = "undrain " ] || fail "command: $(complete_line weftctl un)"
[ "$(complete_line weftctl submit "")" = "bad echo " ] || fail "pipelines: '$(complete_line weftctl submit "")'"
[ "$(complete_line weftctl --json list --pipeline e)" = "echo " ] || fail "--pipeline: $(complete_line weftctl list --pipeline e)"
[ "$(complete_line weftctl list --st)" = "--state " ] || fail "options: $(complete_line weftctl list --st)"
[ "$(complete_line weftctl list --state sch)" = "scheduled " ] || fail "--state"
matches "$(complete_line weftctl status "")" "$id" || fail "job ids: $(complete_line weftctl status "")"
[ -z "$(complete_line weftctl --socket "$T/none" submit "" | tr -d " ")" ] || fail "--socket on the line is used"
all=" $(complete_line weftctl "")"
for c in $("$WEFTCTL" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'); do
	matches "$all" -F " $c " || fail "completion does not offer the command $c: $all"
done
ok "bash completion: commands, options, --state, pipelines and job ids from the daemon"
