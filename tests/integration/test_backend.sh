# SPDX-License-Identifier: MIT
# weftd on libweft's epoll back end: chosen by itself where a seccomp filter denies
# io_uring (as Docker's default profile does), saying why in one warning; forced with
# WEFT_BACKEND=epoll. Either way exec jobs run (pipes, child reaping) and `stats` and the
# SIGUSR1 fiber dump name the back end.
. "$(dirname "$0")/lib.sh"
CONF='
pipelines:
  ex:
    stages:
      - {name: e, exec: [tr, a-z, A-Z], workers: 2}'
REAL_WEFTD=$WEFTD
unset WEFT_BACKEND

NOIOURING=$BUILD/tests/tools/noiouring
if [ -x "$NOIOURING" ]; then
	printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$(realpath "$NOIOURING")" "$REAL_WEFTD" > "$T/weftd-noiouring"
	chmod +x "$T/weftd-noiouring"
	WEFTD=$T/weftd-noiouring
	start_weftd "$CONF"
	[ "$("$WEFTCTL" submit ex hello --wait)" = HELLO ] || fail "exec job under the filter"
	[ "$("$WEFTCTL" --json stats | jget backend)" = epoll ] || fail "stats backend: $("$WEFTCTL" --json stats)"
	[ "$(log_count 'io_uring unavailable \(Operation not permitted\): using the epoll I/O back end')" = 1 ] \
		|| fail "one warning saying why"
	ok "io_uring denied by seccomp: weftd falls back to epoll, says why once, runs exec jobs"
	stop_weftd
	[ "$WEFTD_RC" = 0 ] || fail "weftd under the filter exited $WEFTD_RC"
	WEFTD=$REAL_WEFTD
	: > "$T/weftd.log"
else
	skip "no $NOIOURING (make test-noiouring builds it)"
fi

export WEFT_BACKEND=epoll
start_weftd "$CONF"
ids=$(for i in 1 2 3 4 5 6; do "$WEFTCTL" submit ex "job$i" || exit 1; done) || fail "submit"
"$WEFTCTL" wait $ids > "$T/w" || fail "wait: $(cat "$T/w")"
[ "$(grep -c ' done$' "$T/w")" = 6 ] || fail "6 jobs done: $(cat "$T/w")"
[ "$("$WEFTCTL" --json stats | jget backend)" = epoll ] || fail "stats backend"
logged 'io_uring unavailable' && fail "a forced back end is no fallback: nothing to warn about"
kill -USR1 "$WEFTD_PID"
wait_for "the dump names the back end" logged '^# backend epoll procs [0-9]+$'
ok "WEFT_BACKEND=epoll: jobs run, stats and the fiber dump say epoll"
