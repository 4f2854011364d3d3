# SPDX-License-Identifier: MIT
# `weftctl top` as a person sees it, in a tmux terminal read with capture-pane: a table of
# every pipeline and stage with its queue, running attempts, latencies and failures, redrawn
# every second with each proc's utilisation (the clock moves, the done rate shows the jobs flowing, a queue that fills
# shows), the runtime's line; `q` quits, and the terminal is as it was (the shell's prompt
# and the earlier screen back, echo on).
. "$(dirname "$0")/lib.sh"
command -v tmux > /dev/null || { skip "tmux is not installed (make deps installs it)"; exit 0; }
start_weftd "pipelines:
  slow:
    stages:
      - name: nap
        builtin: sleep
        workers: 2
        params: {duration: 300ms}
      - name: shout
        builtin: upper
  flaky:
    stages:
      - name: boom
        builtin: fail
        params: {message: nope}"

export TMUX_TMPDIR=$T
S=top-test
tmux new-session -d -s "$S" -x 120 -y 30 "env PS1='$ ' bash --norc --noprofile"
at_exit "tmux kill-server"
screen() { tmux capture-pane -p -t "$S"; }
shows() { matches "$(screen)" -E "$1"; }
tmux send-keys -t "$S" "echo before-top" Enter
wait_for "the shell" shows '^before-top$'
"$WEFTCTL" submit flaky x > /dev/null
for i in $(seq 12); do "$WEFTCTL" submit slow "j$i" > /dev/null; done
tmux send-keys -t "$S" "WEFT_SOCKET=$SOCK $WEFTCTL top; echo \"[exit \$?]\"" Enter
wait_for "the top header" shows '^weftctl top  [0-9]{2}:[0-9]{2}:[0-9]{2}  intake open  \(q quits\)'
wait_for "the stage rows" shows '^slow/shout +'
scr=$(screen)
matches "$scr" -E '^PIPELINE/STAGE +DONE/s +QUEUED +RUNNING +P50 +P99 +FAILED +FAILED/s$' || fail "header: $scr"
matches "$scr" -E '^flaky/boom ' || fail "flaky row: $scr"
matches "$scr" -E '^runtime: procs 2, fibers [0-9]+, switches/s' || fail "runtime line: $scr"
wait_for "each proc's utilisation" shows '^procs busy: 0: +[0-9]+% 1: +[0-9]+%$'
! matches "$scr" 'before-top' || fail "top did not take the whole screen: $scr"
ok "top shows every pipeline/stage, the column headers and the runtime"
# the queue of nap fills (12 jobs, 2 workers), running shows 2, the rate shows
wait_for "2 running at slow/nap" shows '^slow/nap +[-0-9.]+ +[0-9]+ +2 '
wait_for "a done rate at slow/nap" shows '^slow/nap +[1-9][0-9]*\.[0-9] '
wait_for "the failure at flaky/boom" shows '^flaky/boom +[-0-9.]+ +0 +0 +[^ ]+ +[^ ]+ +1 '
clock() { screen | sed -n 's/^weftctl top  \([0-9:]*\) .*/\1/p'; }
c1=$(clock)
moved() { [ -n "$(clock)" ] && [ "$(clock)" != "$c1" ]; }
wait_for "the clock to move past $c1" moved
wait_for "slow's queue to empty" shows '^slow/shout +[-0-9.]+ +0 +0 '
matches "$(screen)" -E '^slow/shout .* 0 +[-0-9.]+$' || fail "shout failed jobs: $(screen)"
ok "redrawn every second: the clock moves, the queue drains at its done rate, the failure counts"

tmux send-keys -t "$S" q
wait_for "top to quit" shows '^\[exit 0\]$'
scr=$(screen)
matches "$scr" '^before-top$' || fail "the earlier screen is not back: $scr"
! matches "$scr" 'PIPELINE/STAGE' || fail "top left its table on the screen: $scr"
tmux send-keys -t "$S" "echo typed-back" Enter
wait_for "the echo of typed keys" shows '^\$ echo typed-back$'
ok "q quits with status 0 and restores the screen and the terminal (echo on)"
