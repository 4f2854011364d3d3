#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_layers.sh — the architecture rules that a compiler does not check (make check-layers):
#  1. daemon/ meets libweft at its public headers only: no private header, no weft__ name;
#  2. no include cycle among daemon/ headers, and none between daemon/'s folders (a folder
#     is a layer: util <- config <- proto <- jobs <- actions <- engine <- obs <- broker <- server
#     <- service; broker plugs its store into the engine by injection, never the reverse);
#  3. no source file outside tests/ over 700 lines.
# Prints what breaks a rule and exits 1, or one line per rule kept.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0

if grep -rn --include='*.[ch]' 'internal\.h\|weft__\|"stack\.h"\|"switch\.h"\|"proc\.h"\|"rand\.h"\|"testing\.h"' daemon/; then
	echo "check-layers: daemon/ uses libweft's private core (above)"; bad=1
else
	echo "check-layers: daemon/ uses libweft's public API only"
fi

# "included-file includer" pairs for the daemon's own headers ("folder/name.h").
edges=$(for f in daemon/*.c daemon/*/*.[ch]; do
	sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | while read -r h; do
		[ -f "daemon/$h" ] && echo "daemon/$h $f"
	done
done)
hdr_edges=$(awk '$2 ~ /\.h$/' <<< "$edges")
if ! out=$(tsort <<< "$hdr_edges" 2>&1 >/dev/null) || [ -n "$out" ]; then
	echo "$out"; echo "check-layers: an include cycle among daemon/ headers (above)"; bad=1
else
	echo "check-layers: no include cycle among daemon/ headers"
fi
folder_edges=$(awk '{split($1, a, "/"); split($2, b, "/");
	if (a[3] != "" && b[3] != "" && a[2] != b[2]) print a[2], b[2]}' <<< "$edges" | sort -u)
if ! out=$(tsort <<< "$folder_edges" 2>&1 >/dev/null) || [ -n "$out" ]; then
	echo "$out"; echo "check-layers: daemon/ folders depend on each other in a cycle (above)"; bad=1
else
	echo "check-layers: daemon/ folders form layers: $(tsort <<< "$folder_edges" | tr '\n' ' ')"
fi

big=$(git ls-files -- '*.c' '*.h' '*.S' ':!tests/' 2>/dev/null | xargs wc -l | awk '$2 != "total" && $1 > 700')
if [ -n "$big" ]; then
	echo "$big"; echo "check-layers: source files over 700 lines (above)"; bad=1
else
	echo "check-layers: no source file outside tests/ over 700 lines"
fi
exit $bad
