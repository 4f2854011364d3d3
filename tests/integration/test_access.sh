# SPDX-License-Identifier: MIT
# Who may do what (PROTOCOL.md, "Access"): jobs belong to the uid that submitted them, and
# stay so across a restart; another user sees none of them (unknown_job) and may neither
# drain nor reload (forbidden); an admin (admin_groups, as a supplementary group) sees and
# cancels every job; allow_groups and admin_groups look at the peer's full group list; a
# refused connection gets weftctl's error exit (6) with the daemon's message, every time.
# Needs root (useradd, setpriv): the test users and groups are made here and removed at exit.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! command -v setpriv >/dev/null; then
	skip "$TEST_NAME: needs root, useradd and setpriv (test users)"
	exit 0
fi
S=$$
UA=wta$S UB=wtb$S UC=wtc$S UD=wtd$S GALLOW=wtg$S GADM=wtm$S
at_exit "for u in $UA $UB $UC $UD; do userdel \$u; done; groupdel $GALLOW; groupdel $GADM"
groupadd "$GALLOW" && groupadd "$GADM" || { skip "$TEST_NAME: groupadd failed"; exit 0; }
# -N: primary group "users" (not one of ours): the groups below are supplementary only
if ! { useradd -M -N -s /usr/sbin/nologin -G "$GALLOW" "$UA" &&
	useradd -M -N -s /usr/sbin/nologin -G "$GALLOW" "$UB" &&
	useradd -M -N -s /usr/sbin/nologin -G "$GALLOW,$GADM" "$UC" &&
	useradd -M -N -s /usr/sbin/nologin "$UD"; }; then
	skip "$TEST_NAME: useradd failed"
	exit 0
fi
[ "$(id -gn "$UA")" != "$GALLOW" ] || fail "setup: $UA's primary group is $GALLOW"
chmod 0755 "$T" # the socket's directory, for the test users

# as USER CMD...: run CMD as USER with its full group list
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"; }
CTL=$T/weftctl # a copy the test users can surely run
cp "$WEFTCTL" "$CTL" && chmod 0755 "$CTL"

CONF='
pipelines:
  slow:
    stages:
      - {name: s, builtin: sleep, params: {duration: 60s}, workers: 4}'
DAEMON="  socket_mode: \"0666\"
  allow_uids: [root]
  allow_groups: [$GALLOW]
  admin_groups: [$GADM]"
start_weftd "$CONF" "$DAEMON
  durability: batch"

# item 11: a supplementary member of allow_groups is let in
ja=$(as "$UA" "$CTL" submit slow "a's secret") || fail "$UA (in $GALLOW as a supplementary group) cannot submit"
ok "allow_groups: a supplementary member is let in (submitted $ja)"
[ "$(as "$UA" "$CTL" --json status "$ja" | jget job.id)" = "$ja" ] || fail "$UA cannot see its own job"
matches "$(as "$UA" "$CTL" --json list)" "$ja" || fail "$UA's list lacks its job"
ok "the owner sees its job (status, list)"

# item 10: another user does not see it, cannot cancel or wait on it
for cmd in status cancel wait; do
	rc=0; out=$(as "$UB" "$CTL" --timeout 1s "$cmd" "$ja" 2>&1) || rc=$?
	[ $rc -eq 6 ] || fail "$UB $cmd on $UA's job: exit $rc ($out)"
	matches "$out" "unknown_job" || fail "$UB $cmd on $UA's job: $out"
done
rc=0; out=$(as "$UB" "$CTL" --json list) || rc=$?
[ $rc -eq 0 ] || fail "$UB list: exit $rc"
! matches "$out" "$ja" || fail "$UB's list shows $UA's job: $out"
in_state "$ja" running || fail "$ja is $(job_state "$ja") after $UB's cancel"
ok "another user gets unknown_job for status/cancel/wait, an empty list; the job runs on"

for cmd in drain reload; do
	rc=0; out=$(as "$UB" "$CTL" "$cmd" 2>&1) || rc=$?
	[ $rc -eq 6 ] || fail "$UB $cmd: exit $rc ($out)"
	matches "$out" "forbidden" || fail "$UB $cmd: $out"
done
jb=$(as "$UB" "$CTL" submit slow b) || fail "submit after $UB's drain: refused"
ok "a non-admin's drain and reload are forbidden (and did nothing)"

# an admin through admin_groups (supplementary) sees and cancels everyone's jobs, reloads
[ "$(as "$UC" "$CTL" --json status "$ja" | jget job.id)" = "$ja" ] || fail "admin $UC cannot see $ja"
out=$(as "$UC" "$CTL" --json list)
matches "$out" "$ja" && matches "$out" "$jb" || fail "admin $UC's list: $out"
as "$UC" "$CTL" reload > /dev/null || fail "admin $UC's reload refused"
as "$UC" "$CTL" cancel "$jb" > /dev/null || fail "admin $UC cannot cancel $jb"
wait_for "$jb canceled by the admin" in_state "$jb" canceled
ok "admin_groups (supplementary): the admin sees, lists and cancels others' jobs, reloads"

# item 12: a refused connection: the daemon's forbidden line and exit 6, every time
bad=0
for i in $(seq 20); do
	rc=0; out=$(as "$UD" "$CTL" ping 2>&1) || rc=$?
	if [ $rc -ne 6 ] || ! matches "$out" "forbidden: peer uid/groups not in allow_uids/allow_groups"; then
		bad=$((bad + 1)); echo "# run $i: exit $rc: $out"
	fi
done
[ $bad -eq 0 ] || fail "weftctl on a refused connection: $bad of 20 runs wrong"
ok "a refused peer: weftctl prints the daemon's forbidden message, exit 6, 20 of 20 runs"
rc=0; out=$(as "$UD" socat -t 5 -u UNIX-CONNECT:"$SOCK" -) || rc=$? # read only: nothing sent
matches "$out" '"code":"forbidden"' || fail "the daemon's answer to a refused peer: $out"
ok "the daemon writes the forbidden line to a refused peer"

# jobs replayed after a restart keep their owner
stop_weftd KILL
rm -f "$SOCK" # (its io_uring may hold the listening socket a moment after the exit)
start_weftd "$CONF" "$DAEMON
  durability: batch"
[ "$(as "$UA" "$CTL" --json status "$ja" | jget job.id)" = "$ja" ] || fail "$UA lost its job over the restart"
rc=0; out=$(as "$UB" "$CTL" status "$ja" 2>&1) || rc=$?
[ $rc -eq 6 ] && matches "$out" "unknown_job" || fail "$UB sees $UA's replayed job: exit $rc $out"
ok "after kill -9 and replay the job keeps its owner"

# root (the daemon's own user) is an admin without being listed
as "$UC" "$CTL" cancel "$ja" > /dev/null || fail "admin cancel of $ja"
"$WEFTCTL" drain > /dev/null || fail "root's drain refused"
ok "root drains"
