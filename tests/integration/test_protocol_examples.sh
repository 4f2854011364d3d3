# SPDX-License-Identifier: MIT
# The socat examples of PROTOCOL.md run against the default config and get answers with
# their ids (job ids in the document are placeholders: unknown_job is a fine answer).
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
start_weftd "$(sed -n '/^pipelines:/,$p' "$root/conf/weftd.yaml")"
# read first, loop after: a check inside a `| while` runs in a subshell whose failure
# the script would never see
mapfile -t examples < <(grep -E "^echo '.*' \| socat" "$root/daemon/PROTOCOL.md" | grep -v '"op":"drain"')
[ ${#examples[@]} -ge 10 ] || fail "found ${#examples[@]} socat examples in PROTOCOL.md, want 10 or more"
for line in "${examples[@]}"; do
	req=$(echo "$line" | sed -E "s/^echo '(.*)' \| socat.*/\1/")
	resp=$(ask "$req") || fail "no answer to $req"
	python3 -c '
import json,sys
req = sys.argv[1]
r = json.loads(sys.argv[2])
try:
    want = json.loads(req).get("id")
except Exception:
    want = None
assert r["id"] == want, (r, want)
assert r["ok"] or r["error"]["code"] in ("unknown_job","bad_json","unknown_op","missing_field","unsupported"), r
' "$req" "$resp" || fail "example $req -> $resp"
	ok "example: $req"
done
alive
