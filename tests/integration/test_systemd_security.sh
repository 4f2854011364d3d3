# SPDX-License-Identifier: MIT
# The unit's exposure as `systemd-analyze security --offline=true` scores it (no running
# systemd needed; tests/systemd/run.sh checks the installed unit under a real one): under
# 1.0 as installed, and under 1.0 with the TCP drop-in of weftd(8)
# (systemd/weftd.service.d/http-tcp.conf.example), which must keep AF_UNIX and add
# AF_INET and AF_INET6 only. The drop-in is appended to a copy of the unit: the same
# result as a drop-in directory for these settings (later lines win, SystemCallFilter=
# accumulates).
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze > /dev/null || { skip "systemd-analyze is not installed"; exit 0; }
UNIT=systemd/weftd.service
DROPIN=systemd/weftd.service.d/http-tcp.conf.example
# score FILE: the overall exposure (one decimal); also checks it through --threshold,
# which compares the exact figure (on a scale of 100) and exits non-zero above it
score() {
	systemd-analyze security --offline=true --no-pager "$1" 2>/dev/null \
		| sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p'
}
under_one() { systemd-analyze security --offline=true --threshold=9 --no-pager "$1" > /dev/null 2>&1; }

mkdir -p "$T/u"
cp "$UNIT" "$T/u/weftd.service"
s=$(score "$T/u/weftd.service")
[ -n "$s" ] || fail "systemd-analyze gave no score"
under_one "$T/u/weftd.service" || fail "weftd.service as installed scores $s, not under 1.0"
ok "weftd.service as installed: exposure $s"

grep -qx 'RestrictAddressFamilies=AF_UNIX' "$UNIT" || fail "the unit is no longer AF_UNIX only"
matches "$(cat "$DROPIN")" -x 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' || fail "the drop-in's families"
cat "$UNIT" "$DROPIN" > "$T/u/weftd.service"
s=$(score "$T/u/weftd.service")
under_one "$T/u/weftd.service" || fail "weftd.service with $DROPIN scores $s, not under 1.0"
out=$(systemd-analyze security --offline=true --no-pager "$T/u/weftd.service" 2>&1)
matches "$out" 'RestrictAddressFamilies=~AF_(INET|INET6).*Internet sockets' || fail "the drop-in did not open AF_INET: $out"
ok "with the TCP drop-in (AF_INET, AF_INET6, localhost only): exposure $s, under 1.0"
finish
