# The socat examples of PROTOCOL.md run against the default config and get answers with
# their ids (job ids in the document are placeholders: unknown_job is a fine answer).
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
start_weftd "$(sed -n '/^pipelines:/,$p' "$root/conf/weftd.yaml")"
n=0
grep -E "^echo '.*' \| socat" "$root/daemon/PROTOCOL.md" | grep -v '"op":"drain"' | while read -r line; do
	req=$(echo "$line" | sed -E "s/^echo '(.*)' \| socat.*/\1/")
	resp=$(ask "$req") || fail "no answer to $req"
	echo "$resp" | python3 -c '
import json,sys
req = sys.argv[1]
r = json.loads(sys.stdin.readline())
try:
    want = json.loads(req).get("id")
except Exception:
    want = None
assert r["id"] == want, (r, want)
assert r["ok"] or r["error"]["code"] in ("unknown_job","bad_json","unknown_op","missing_field","unsupported"), r
' "$req" || fail "example $req -> $resp"
	n=$((n + 1))
	echo "ok - example: $req"
done
alive
