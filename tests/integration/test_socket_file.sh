# SPDX-License-Identifier: MIT
# The socket file (issue 11 item 5): a daemon removes at exit only the socket file it bound,
# never one a newer daemon bound at the same path; the file's mode is socket_mode whatever
# the umask (set at bind, not by a chmod on the path).
. "$(dirname "$0")/lib.sh"
CONF='
pipelines:
  quick:
    stages:
      - {name: q, builtin: upper}'

# A runs; its socket file goes (an operator, a restart script); B binds the same path
start_weftd "$CONF" '  socket_mode: "0600"'
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "mode $(stat -c %a "$SOCK"), want 600"
ok "socket_mode 0600 applied"
A_PID=$WEFTD_PID
rm -f "$SOCK"
sed -e "s|state_dir: .*|state_dir: $T/state-b|" -e 's|socket_mode: .*|socket_mode: "0666"|' \
	"$T/weftd.yaml" > "$T/b.yaml"
(umask 077; exec "$WEFTD" --config "$T/b.yaml" 2>> "$T/b.log") &
B_PID=$!
at_exit "kill -KILL $B_PID"
b_up() { [ -S "$SOCK" ] && "$WEFTCTL" ping >/dev/null 2>&1; }
wait_for "daemon B on the path" b_up
[ "$(stat -c %a "$SOCK")" = 666 ] || fail "B's mode $(stat -c %a "$SOCK") under umask 077, want 666"
ok "socket_mode 0666 under umask 077"
ino_b=$(stat -c %i "$SOCK")
# A exits: B's socket must survive
stop_weftd
[ "$WEFTD_RC" = 0 ] || fail "A exit $WEFTD_RC"
[ -S "$SOCK" ] && [ "$(stat -c %i "$SOCK")" = "$ino_b" ] || fail "A removed B's socket at exit"
"$WEFTCTL" ping >/dev/null || fail "B unreachable after A exited"
logged "another socket took the path; left alone" || fail "A did not say why it left the file"
ok "A's exit leaves B's socket in place (B still answers)"
# B exits: its own socket goes
kill -TERM "$B_PID"; rc=0; wait "$B_PID" || rc=$?
[ "$rc" = 0 ] || fail "B exit $rc"
[ ! -e "$SOCK" ] || fail "B left its own socket behind"
ok "B removes its own socket at exit"
