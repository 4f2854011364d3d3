#!/usr/bin/env bash
# Every C example in README.md compiles against libweft and prints what its
# last comment promises (a "/* N */" comment on its printf line).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk -v dir="$tmp" '/^```c$/ { n++; f = dir "/ex" n ".c"; inside = 1; next }
	/^```$/ { inside = 0; next } inside { print > f }' README.md
fail=0 count=0
for src in "$tmp"/ex*.c; do
	[ -e "$src" ] || continue
	count=$((count + 1))
	want=$(grep -o 'printf(.*/\* *[0-9-]* *\*/' "$src" | grep -o '/\* *[0-9-]* *\*/' | tr -dc '0-9-' || true)
	san=""
	case "$build" in build-address) san="-fsanitize=address,undefined" ;; build-thread) san="-fsanitize=thread" ;; esac
	if ! cc -std=gnu11 -Wall -Werror $san -Ilib/include -o "$src.bin" "$src" "$build/lib/libweft.a" \
		$(pkg-config --libs liburing) -pthread; then
		echo "not ok - $(basename "$src") does not compile"; fail=1; continue
	fi
	got=$("$src.bin")
	if [ -n "$want" ] && [ "$got" != "$want" ]; then
		echo "not ok - $(basename "$src") printed '$got', README says $want"; fail=1; continue
	fi
	echo "ok - README example $(basename "$src") (output '$got')"
done
[ "$count" -gt 0 ] || { echo "not ok - no C example found in README.md"; exit 1; }
exit $fail
