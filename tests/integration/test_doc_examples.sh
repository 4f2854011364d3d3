# SPDX-License-Identifier: MIT
# Every example of the man pages (man/*.scd) and every shell example of README.md runs:
# "$ " command lines in order, in one shell, against a weftd on conf/weftd.yaml started
# in a scratch directory (so ./run/weftd.sock, the documented default, is its socket);
# weftd.yaml(5)'s complete configs pass --check-config; libweft(3)'s C program compiles
# and prints what it says. What cannot run here is skipped with its reason: "# " (root)
# lines, and commands that change the system or rebuild the tree (test_install.sh and
# tests/systemd cover those). A command issue 12's ops need answered "unknown op" by a
# daemon without them is skipped, said so.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath "$BUILD")
W=$T/work
mkdir -p "$W/run" "$W/conf" "$T/bin"
ln -s "$WEFTD" "$T/bin/weftd"
ln -s "$WEFTCTL" "$T/bin/weftctl"
mkdir -p "$W/build" && ln -s "$WEFTCTL" "$W/build/weftctl"   # the README's build/weftctl
export PATH=$T/bin:$PATH
unset WEFT_SOCKET
cp "$root/conf/weftd.yaml" "$W/conf/weftd.yaml"
(cd "$W" && exec "$WEFTD" --config conf/weftd.yaml 2>> "$T/weftd.log") &
WEFTD_PID=$!
SOCK=$W/run/weftd.sock
for _ in $(seq 400); do [ -S "$SOCK" ] && (cd "$W" && weftctl ping > /dev/null 2>&1) && break; sleep 0.05; done
(cd "$W" && weftctl ping > /dev/null) || fail "weftd on conf/weftd.yaml did not answer"

# not_here CMD: the reason CMD is not run here, or nothing.
not_here() {
	case "$1" in
	make\ *|sudo\ *|systemctl\ *|systemd-sysusers*|ldconfig*|journalctl\ *)
		echo "changes the system or rebuilds the tree (test_install.sh, make test-systemd and CI run it)" ;;
	*pkg-config\ *) echo "needs make install first (test_install.sh builds against an install)" ;;
	esac
}

# run_commands NAME FILE-WITH-ONE-COMMAND-PER-LINE: each in the same bash, in $W.
run_commands() {
	local name=$1 list=$2 n=0
	{
		echo 'cd "$1"'
		while IFS= read -r cmd; do
			n=$((n + 1))
			printf 'exec 3>&2 2>"%s/err.%s"; %s > "%s/out.%s"; echo "$?" > "%s/rc.%s"; exec 2>&3\n' \
				"$T" "$n" "$cmd" "$T" "$n" "$T" "$n"
		done < "$list"
	} > "$T/script.sh"
	bash "$T/script.sh" "$W" < /dev/null || true
	n=0
	while IFS= read -r cmd; do
		n=$((n + 1))
		local rc; rc=$(cat "$T/rc.$n" 2>/dev/null || echo none)
		if [ "$rc" = 0 ]; then
			ok "$name: $cmd"
		else
			not_ok "$name: '$cmd' exit $rc: $(head -c 300 "$T/err.$n")"
		fi
	done < "$list"
}

# README.md (first: the weftctl(1) examples end with a drain): every line of its ```sh blocks (continued lines joined).
: > "$T/cmds"
while IFS= read -r cmd; do
	if [ -n "$(not_here "$cmd")" ]; then
		skip "README: '$cmd': $(not_here "$cmd")"
	else
		echo "$cmd" >> "$T/cmds"
	fi
done < <(awk '/^```sh$/ { inb = 1; next } /^```/ { inb = 0; next }
	inb { sub(/[ \t]+#[^'"'"'"]*$/, ""); if (/\\$/) { sub(/\\$/, ""); acc = acc $0; next }
	      line = acc $0; acc = ""; if (line ~ /[^ ]/) print line }' "$root/README.md")
[ -s "$T/cmds" ] || fail "no runnable shell example in README.md"
run_commands README "$T/cmds"

# scd pages: the "$ " lines of their ``` blocks; "# " lines are root's, skipped.
for page in weftctl.1 weftd.8; do
	: > "$T/cmds"
	while IFS= read -r line; do
		cmd=${line#??}
		if [ "${line:0:2}" = '# ' ] && [ "${cmd#weftd --config}" != "$cmd" ]; then
			skip "$page: '$cmd' stays in the foreground until stopped (this test runs it in the background)"
		elif [ "${line:0:2}" = '# ' ]; then
			skip "$page: '$cmd' needs root and a real system (tests/systemd runs these steps)"
		elif [ -n "$(not_here "$cmd")" ]; then
			skip "$page: '$cmd': $(not_here "$cmd")"
		else
			echo "$cmd" >> "$T/cmds"
		fi
	done < <(awk '/^```/ { inb = !inb; next } inb && /^(\$|#) / { print }' "$root/man/$page.scd")
	[ -s "$T/cmds" ] || fail "no example found in man/$page.scd"
	run_commands "$page" "$T/cmds"
done

# weftd.yaml(5): complete configs (with pipelines:) pass --check-config; fragments are shown only.
awk -v dir="$T" '/^```/ { if (inb) { close(f) } else { n++; f = dir "/conf" n ".yaml" } inb = !inb; next }
	inb { print > f }' "$root/man/weftd.yaml.5.scd"
count=0
for f in "$T"/conf*.yaml; do
	if ! grep -q '^pipelines:' "$f"; then
		skip "weftd.yaml(5): a fragment ($(grep -m1 'name:' "$f" | sed 's/^ *//')) is not a whole config"
		continue
	fi
	count=$((count + 1))
	out=$(weftd --check-config "$f" 2>&1) || fail "weftd.yaml(5) example $count: $out"
	ok "weftd.yaml(5) example $count passes --check-config"
done
[ $count -ge 2 ] || fail "weftd.yaml(5): $count complete examples"

# libweft(3): the C example.
awk '/^```/ { n++; inb = !inb; next } inb && n >= 3 { print }' "$root/man/libweft.3.scd" > "$T/ex.c"
grep -q 'weft_run' "$T/ex.c" || fail "libweft(3): no C example found"
san=
case "$build" in */build-address) san="-fsanitize=address,undefined" ;; */build-thread) san="-fsanitize=thread" ;; esac
# shellcheck disable=SC2086
cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror $san -I"$root/lib/include" -o "$T/ex" "$T/ex.c" "$build/lib/libweft.a" \
	$(pkg-config --libs liburing libunwind-generic) -pthread || fail "libweft(3)'s example does not compile"
[ "$("$T/ex")" = 385 ] || fail "libweft(3)'s example printed $("$T/ex")"
ok "libweft(3)'s example compiles (-std=c11) and prints 385"
