# SPDX-License-Identifier: MIT
# The man pages say what the code does: every config key of daemon/config/config.h (the
# config structs) and of the parser's key tables is in weftd.yaml(5); every weftctl command
# and option (from weftctl --help and weftctl help CMD) is in weftctl(1); every weftd
# option in weftd(8); each page renders (scdoc, then man) with its NAME section.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v scdoc > /dev/null || fail "scdoc is not installed (make deps installs it)"
for src in "$root"/man/*.scd; do
	page=$(basename "$src" .scd)
	scdoc < "$src" > "$T/$page" 2> "$T/scdoc.err" || fail "scdoc $page: $(cat "$T/scdoc.err")"
	out=$(MANWIDTH=100 man -l "$T/$page" 2>&1) || fail "man -l $page: $out"
	matches "$out" '^NAME' && matches "$out" '^SEE ALSO' || fail "$page: no NAME or SEE ALSO"
done
ok "man/*.scd render with scdoc and man"

# config.h: the members of the structs that hold config values, as YAML keys. A member
# that is not a key of its own (counts of arrays, positions, the action kind) or whose
# key is spelt differently is listed here: a new member must be documented, or listed.
python3 - "$root/daemon/config/config.h" "$root/man/weftd.yaml.5.scd" "$root"/daemon/config/*.c <<'PY' \
	> "$T/keys.out" || fail "weftd.yaml(5) misses config keys: $(cat "$T/keys.out")"
import re, sys
hdr, man, srcs = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3:]
structs = ["weftd_retry", "weftd_rate_limit", "weftd_stage", "weftd_retention", "weftd_daemon_config",
           "weftd_http_config"]
not_keys = {"argc", "action", "mark", "nparams", "nallow_uids", "nallow_gids", "nadmin_uids",
            "nadmin_gids", "per_ns", "nbrokers"}
renamed = {"argv": "exec", "plugin_path": "path", "plugin_symbol": "symbol", "allow_gids": "allow_groups",
           "admin_gids": "admin_groups", "count": "count", "per_ns": "rate"}
keys = set()
for s in structs:
    body = re.search(r"struct %s \{(.*?)\n\};" % s, hdr, re.S)
    assert body, "struct %s not found in config.h" % s
    text = re.sub(r"/\*.*?\*/", "", body.group(1), flags=re.S)
    for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^]]*\])?\s*;", text):
        f = m.group(1)
        if f in not_keys:
            continue
        if s == "weftd_rate_limit" and f == "count":
            f = "rate"  # "50/s": count and period in one key
        f = renamed.get(f, f)
        keys.add(re.sub(r"_ns$", "", f))
keys.add("rate")
# and every key the parser's tables accept
for src in srcs:
    for m in re.finditer(r'\{\s*"([a-z_]+)",\s*F_[A-Z0-9]+', open(src).read()):
        keys.add(m.group(1))
missing = sorted(k for k in keys if not re.search(r"\*%s\*" % re.escape(k), man))
print(len(keys), "keys;", "missing:" if missing else "all documented", " ".join(missing))
sys.exit(1 if missing else 0)
PY
ok "weftd.yaml(5) documents every config key: $(cat "$T/keys.out")"

man1=$root/man/weftctl.1.scd
cmds=$("$WEFTCTL" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ "$(echo "$cmds" | wc -w)" -ge 15 ] || fail "weftctl --help lists: $cmds"
for c in $cmds; do
	matches "$(cat "$man1")" -E "^\*$c\*( |$)" || fail "weftctl(1) has no entry for the command '$c'"
	for o in $("$WEFTCTL" help "$c" | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
		matches "$(cat "$man1")" -F -- "$o" || fail "weftctl(1) does not mention $o (weftctl help $c)"
	done
done
for o in $("$WEFTCTL" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
	matches "$(cat "$man1")" -F -- "$o" || fail "weftctl(1) does not mention $o (weftctl --help)"
done
ok "weftctl(1) documents every command and option of weftctl --help: $(echo $cmds)"

for o in $("$WEFTD" --help | grep -oE -- '(^|[ ,])-(-[a-z][a-z-]*|[a-zA-Z])' | tr -d ' ,' | sort -u); do
	matches "$(cat "$root/man/weftd.8.scd")" -F -- "$o" || fail "weftd(8) does not mention $o"
done
ok "weftd(8) documents every option of weftd --help"
