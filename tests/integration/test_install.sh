# SPDX-License-Identifier: MIT
# make install into a DESTDIR, as a packager runs it, and make uninstall: every part is
# there (library, headers, weft.pc, weftd, weftctl, the plugin ABI header and example,
# the man pages, the bash completion, the units); the example plugin builds from its
# installed source against the installed headers alone and weftd loads it; the public
# headers compile with -std=c99 and -std=c11 through weft.pc's flags; uninstall leaves
# nothing behind; make help names every target.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
san=
case "$(realpath "$BUILD")" in */build-address) san=address ;; */build-thread) san=thread ;; esac
D=$T/dest
make -s -C "$root" --no-print-directory install DESTDIR="$D" PREFIX=/usr/local SAN="$san" > "$T/install.log" 2>&1 \
	|| fail "make install: $(tail -5 "$T/install.log")"
for f in usr/local/bin/weftd usr/local/bin/weftctl usr/local/lib/libweft.a usr/local/lib/libweft.so \
	usr/local/lib/pkgconfig/weft.pc usr/local/include/weft/weft.h usr/local/include/weftd_plugin.h \
	usr/local/share/doc/weft/examples/plugin/example.c usr/local/share/doc/weft/examples/plugin/Makefile \
	usr/local/share/man/man1/weftctl.1 usr/local/share/man/man8/weftd.8 \
	usr/local/share/man/man5/weftd.yaml.5 usr/local/share/man/man3/libweft.3 \
	usr/local/share/bash-completion/completions/weftctl lib/systemd/system/weftd.service \
	usr/lib/sysusers.d/weftd.conf etc/weftd/weftd.yaml; do
	[ -e "$D/$f" ] || fail "make install did not install /$f"
done
for m in "$D"/usr/local/share/man/man*/*; do
	out=$(MANWIDTH=80 man -l "$m" 2>&1) || fail "man -l $m: $out"
	matches "$out" '^NAME' || fail "$m renders without a NAME section"
done
ok "make install: binaries, library, headers, weft.pc, plugin header and example, man pages, completion, units"

# The plugin, built where only the install is: pkg-config finds weft.pc in the DESTDIR
# (PKG_CONFIG_SYSROOT_DIR prefixes its -I), nothing of the source tree is on the path.
export PKG_CONFIG_PATH=$D/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
cp -r "$D/usr/local/share/doc/weft/examples/plugin" "$T/plugin"
make -s -C "$T/plugin" > "$T/plugin.log" 2>&1 || fail "building the installed example plugin: $(cat "$T/plugin.log")"
start_weftd "pipelines:
  rev:
    stages:
      - name: rev
        plugin: {path: $T/plugin/example.so}"
[ "$("$WEFTCTL" submit rev --wait abc)" = cba ] || fail "the installed example plugin"
ok "the example plugin builds from the install alone and weftd runs it"

# Public headers: each alone, and all after a system header (weft.pc's -D_DEFAULT_SOURCE).
cflags=$(pkg-config --cflags weft)
for std in c99 c11; do
	for h in "$D"/usr/local/include/weft/*.h; do
		printf '#include <weft/%s>\nint main(void) { return 0; }\n' "$(basename "$h")" > "$T/h.c"
		cc -std=$std -pedantic-errors -Wall -Wextra -Werror -I"$D/usr/local/include" -c "$T/h.c" -o "$T/h.o" \
			2> "$T/h.err" || fail "weft/$(basename "$h") alone, -std=$std: $(head -3 "$T/h.err")"
	done
	printf '#include <stdio.h>\n#include <signal.h>\n#include <weft/weft.h>\nint main(void) { return 0; }\n' > "$T/late.c"
	# shellcheck disable=SC2086
	cc -std=$std -pedantic-errors -Wall -Werror $cflags -c "$T/late.c" -o "$T/late.o" 2> "$T/h.err" \
		|| fail "weft.h after system headers with weft.pc's flags, -std=$std: $(head -3 "$T/h.err")"
done
# In the default GNU mode, weft.h first must not narrow what the system headers declare
# (defining _POSIX_C_SOURCE there would turn glibc's implicit _DEFAULT_SOURCE off).
printf '#include <weft/weft.h>\n#include <sys/mman.h>\nint main(void) { return MAP_ANONYMOUS; }\n' > "$T/gnu.c"
cc -std=gnu11 -Wall -Werror -I"$D/usr/local/include" -c "$T/gnu.c" -o "$T/gnu.o" 2> "$T/h.err" \
	|| fail "weft.h first hides MAP_ANONYMOUS under -std=gnu11: $(head -3 "$T/h.err")"
ok "public headers compile with -std=c99 and -std=c11 (alone, and after system headers with weft.pc; gnu11 untouched)"

make -s -C "$root" --no-print-directory uninstall DESTDIR="$D" PREFIX=/usr/local SAN="$san" > "$T/uninstall.log" 2>&1 \
	|| fail "make uninstall: $(tail -5 "$T/uninstall.log")"
left=$(find "$D" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
ok "make uninstall removes every file install put there"

help=$(make -s -C "$root" --no-print-directory help)
for t in $(sed -n '/^\.PHONY:/,/[^\\]$/p' "$root/Makefile" | tr -d '\\' | sed 's/^\.PHONY://'); do
	matches "$help" -E "make $t( |$)" || fail "make help does not list '$t'"
done
ok "make help lists every target"
