# SPDX-License-Identifier: MIT
# weftctl as a person sees it: `weftctl submit --wait` on a 3 s job in a tmux terminal,
# the screen read with capture-pane while it runs and after: the job id shows at once,
# a progress line (elapsed time, state, stage, attempt) shows and moves while the job runs,
# it is gone when the output is printed, and the output ends with a newline (the shell's
# next line starts at column 0). Then `weftctl wait` on three jobs that end a second apart:
# its progress line ("1/3 done, 2 waiting") shows between results and is cleared before each.
. "$(dirname "$0")/lib.sh"
command -v tmux > /dev/null || { skip "tmux is not installed (make deps installs it)"; exit 0; }
start_weftd "pipelines:
  slow3:
    stages:
      - name: nap
        builtin: sleep
        params: {duration: 3s}
      - name: shout
        builtin: upper
  nap1:
    stages:
      - name: nap
        builtin: sleep
        workers: 1
        params: {duration: 1s}"

export TMUX_TMPDIR=$T   # a tmux server of our own, whatever the user runs
S=weftctl-test
tmux new-session -d -s "$S" -x 120 -y 20 "env PS1='$ ' bash --norc --noprofile"
at_exit "tmux kill-server"
screen() { tmux capture-pane -p -t "$S"; }
tmux send-keys -t "$S" "WEFT_SOCKET=$SOCK $WEFTCTL submit slow3 --wait hello; echo \"[exit \$?]\"" Enter

# the id, then the progress line (it names the stage the job is in)
shows() { matches "$(screen)" -E "$1"; }
wait_for "the job id on the screen" shows '^job [0-9a-f]{16}$'
id=$(screen | grep -oE '^job [0-9a-f]{16}$' | head -1 | cut -d' ' -f2)
wait_for "the progress line" shows "job $id: running, stage nap, attempt 1"
# the elapsed time at the line's start (empty while tmux is between the erase and the text)
elapsed() { screen | grep -oE "^[0-9.]+s  job $id" | head -1 | cut -d' ' -f1 || true; }
first=
have_first() { first=$(elapsed); [ -n "$first" ]; }
wait_for "the elapsed time" have_first
moved() { local e; e=$(elapsed); [ -n "$e" ] && [ "$e" != "$first" ]; }
wait_for "the elapsed time moving past $first" moved
ok "id shown first ($id), then a progress line that moves ($first, then later)"

WAIT_S=30 wait_for "the command to end" shows '^\[exit [0-9]+\]'
scr=$(screen)
matches "$scr" '^\[exit 0\]$' || fail "exit status: $scr"
# The output line, then the shell's echo and prompt on their own lines: a newline ended
# the output ("hello" is upper-cased: the job ran both stages).
after=$(sed -n "/^job $id\$/,\$p" <<<"$scr" | sed '/^$/d')
[ "$after" = "job $id
HELLO
[exit 0]
\$" ] || fail "screen after the job: $(printf '%s\n' "$scr" | cat -A)"
! matches "$scr" "stage nap" || fail "the progress line was not cleared: $scr"
ok "progress cleared before the output; the output ends with a newline"

tmux send-keys -t "$S" "clear" Enter
wait_for "a clear screen" eval '[ -z "$(screen | sed "/^\\$ *$/d; /^$/d")" ]'
ids=$(for i in 1 2 3; do "$WEFTCTL" submit nap1 "n$i" || exit 1; done | tr '\n' ' ') || fail "submit 3"
tmux send-keys -t "$S" "WEFT_SOCKET=$SOCK $WEFTCTL wait $ids; echo \"[exit \$?]\"" Enter
wait_for "the progress between results" shows '^1/3 done, 2 waiting'
WAIT_S=30 wait_for "the wait to end" shows '^\[exit [0-9]+\]'
scr=$(screen)
[ "$(grep -cE '^[0-9a-f]{16} done$' <<<"$scr")" = 3 ] || fail "three result lines: $(printf '%s\n' "$scr" | cat -A)"
! matches "$scr" 'waiting' || fail "a progress line left on the screen: $(printf '%s\n' "$scr" | cat -A)"
matches "$scr" '^\[exit 0\]$' || fail "wait exit: $scr"
ok "multi-id wait: progress shown between results, cleared before each"
