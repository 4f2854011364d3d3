# SPDX-License-Identifier: MIT
# Every C example in README.md compiles against libweft and prints what its
# last comment promises (a "/* N */" comment on its printf line).
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath "$BUILD")
awk -v dir="$T" '/^```c$/ { n++; f = dir "/ex" n ".c"; inside = 1; next }
	/^```$/ { inside = 0; next } inside { print > f }' "$root/README.md"
count=0
san=""
case "$build" in */build-address) san="-fsanitize=address,undefined" ;; */build-thread) san="-fsanitize=thread" ;; esac
for src in "$T"/ex*.c; do
	[ -e "$src" ] || continue
	count=$((count + 1))
	want=$(grep -o 'printf(.*/\* *[0-9-]* *\*/' "$src" | grep -o '/\* *[0-9-]* *\*/' | tr -dc '0-9-' || true)
	# shellcheck disable=SC2046,SC2086
	if ! cc -std=gnu11 -Wall -Werror $san -I"$root/lib/include" -o "$src.bin" "$src" "$build/lib/libweft.a" \
		$(pkg-config --libs liburing libunwind-generic) -pthread; then
		not_ok "$(basename "$src") does not compile"; continue
	fi
	rc=0; got=$("$src.bin") || rc=$?
	if [ $rc -ne 0 ]; then
		not_ok "$(basename "$src") exited $rc"; continue
	fi
	if [ -n "$want" ] && [ "$got" != "$want" ]; then
		not_ok "$(basename "$src") printed '$got', README says $want"; continue
	fi
	ok "README example $(basename "$src") (output '$got')"
done
[ "$count" -gt 0 ] || fail "no C example found in README.md"
