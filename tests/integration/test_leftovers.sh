# SPDX-License-Identifier: MIT
# What an exec job leaves behind (actions/orphans.h): a background process left in the
# job's process group is killed when the attempt ends (kill_group_on_exit, default true);
# one that escaped with setsid is adopted by weftd (a child subreaper), killed and reaped,
# and so is the child it leaves in turn; with kill_group_on_exit: false the group's
# leftover runs on and, once it exits, is reaped (no zombie).
. "$(dirname "$0")/lib.sh"
# each script records its leftover's pid, then answers (cat) after the leftover is set up
cat >"$T/grp.sh" <<EOS
sleep 100 </dev/null >/dev/null 2>&1 & echo \$! >"$T/\$1.pid"
cat
EOS
cat >"$T/sid.sh" <<EOS
setsid sleep 100 </dev/null >/dev/null 2>&1 & echo \$! >"$T/sid.pid"
# the second generation: an escaped shell whose own child is left when it is killed
setsid sh -c 'sleep 100 & echo \$! >"$T/sid2.pid"; exec sleep 100' </dev/null >/dev/null 2>&1 &
while [ ! -s "$T/sid2.pid" ]; do sleep 0.05; done
sleep 0.2
cat
EOS
cat >"$T/short.sh" <<EOS
sleep 1 </dev/null >/dev/null 2>&1 & echo \$! >"$T/short.pid"
cat
EOS
start_weftd "pipelines:
  grp:
    stages:
      - {name: e, exec: [sh, $T/grp.sh, grp]}
  sid:
    stages:
      - {name: e, exec: [sh, $T/sid.sh]}
  keep:
    stages:
      - {name: e, exec: [sh, $T/grp.sh, keep], kill_group_on_exit: false}
  short:
    stages:
      - {name: e, exec: [sh, $T/short.sh], kill_group_on_exit: false}"
at_exit 'for f in $T/*.pid; do kill -KILL $(cat $f); done'
# gone: no such process, or (not yet reaped) a zombie; reaped: no such process at all
gone() { [ ! -e /proc/"$1" ] || [ "$(awk '{ print $3 }' /proc/"$1"/stat 2>/dev/null)" = Z ]; }
reaped() { [ ! -e /proc/"$1" ]; }

[ "$("$WEFTCTL" submit grp --wait hello)" = hello ] || fail "grp job"
p=$(cat "$T/grp.pid")
wait_for "sleep 100 left in the job's group ($p) ended and reaped" reaped "$p"
ok "a background process left in the job's group is killed and reaped when the job ends"

[ "$("$WEFTCTL" submit sid --wait hi)" = hi ] || fail "sid job"
p=$(cat "$T/sid.pid"); p2=$(cat "$T/sid2.pid")
wait_for "setsid sleep 100 ($p) ended and reaped" reaped "$p"
wait_for "the child ($p2) of a killed setsid shell ended and reaped" reaped "$p2"
ok "setsid escapees are adopted, killed and reaped, and so is the child one leaves"

[ "$("$WEFTCTL" submit keep --wait x)" = x ] || fail "keep job"
p=$(cat "$T/keep.pid")
sleep 0.5
[ "$(awk '{ print $3 }' /proc/"$p"/stat 2>/dev/null)" = S ] || fail "kill_group_on_exit: false: the leftover ($p) should run on"
ok "kill_group_on_exit: false leaves the group's leftover running"
kill -KILL "$p"

[ "$("$WEFTCTL" submit short --wait x)" = x ] || fail "short job"
p=$(cat "$T/short.pid")
sleep 1.5
[ "$("$WEFTCTL" submit grp --wait again)" = again ] || fail "grp job 2" # a sweep
wait_for "the exited leftover ($p) reaped, not a zombie" reaped "$p"
ok "an adopted leftover that exits is reaped at the next sweep"
