# SPDX-License-Identifier: MIT
# Journal damage costs only itself (issue 11, item 3): a journal of 40 accepted jobs (written
# here from jrec.h's format) with one byte flipped in record 20 resumes the other 39 and
# keeps the damaged bytes in state_dir/journal.bad.<ns>; a damaged header loses nothing
# else; each damaged start keeps its own bad file.
. "$(dirname "$0")/lib.sh"
CONF='
pipelines:
  p:
    stages:
      - {name: u, builtin: upper}'
# mkjournal FILE FLIP_OFFSET_IN_RECORD_20|header|none
mkjournal() {
	python3 - "$@" <<'PY'
import struct, sys, zlib
recs = []
for i in range(1, 41):
    jid, pl, pay = b"%016x" % (0xabc000 + i), b"p", b"job %d" % i
    body = bytes([1]) + struct.pack("<QHHI", 1, len(jid), len(pl), len(pay)) + jid + pl + pay
    recs.append(struct.pack("<II", len(body), zlib.crc32(body)) + body)
img = bytearray(b"WEFTJ001" + b"".join(recs))
if sys.argv[2] == "header":
    img[2] ^= 1
elif sys.argv[2] != "none":
    img[8 + sum(len(r) for r in recs[:19]) + int(sys.argv[2])] ^= 0x40
open(sys.argv[1], "wb").write(img)
PY
}
mkdir -p "$T/state"
mkjournal "$T/state/journal" 20
start_weftd "$CONF" "  durability: batch"
line=$(grep "damaged journal" "$T/weftd.log" || true)
matches "$line" "kept 39 records (39 unfinished jobs), quarantined [0-9]* bytes in 1 ranges to journal.bad" ||
	fail "no damage report: $(cat "$T/weftd.log")"
logged "39 unfinished jobs resumed" || fail "not 39 resumed"
[ "$(ls "$T/state" | grep -c '^journal\.bad\.')" = 1 ] || fail "no journal.bad file"
[ "$("$WEFTCTL" --json status 0000000000abc014 2>/dev/null | jget job.state || true)" != done ] ||
	fail "the damaged record's job ran"
p_done() { [ "$("$WEFTCTL" --json stats p | jget pipelines.p.done)" = 39 ]; }
wait_for "the 39 resumed jobs done" p_done
out=$("$WEFTCTL" wait 0000000000abc015) || fail "job 21 after the damage"
[ "$out" = "JOB 21" ] || fail "job 21's output: $out"
ok "a byte flipped in record 20 of 40: ${line#*journal: }"
stop_weftd
mkjournal "$T/state/journal" header
start_weftd "$CONF" "  durability: batch"
logged "40 unfinished jobs resumed" || fail "a damaged header lost jobs: $(grep journal "$T/weftd.log" | tail -2)"
[ "$(ls "$T/state" | grep -c '^journal\.bad\.')" = 2 ] || fail "the second damaged start did not keep its own bad file: $(ls "$T/state")"
ok "a damaged header: 40 of 40 resumed; two damaged starts keep two bad files"
stop_weftd
