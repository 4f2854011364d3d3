# SPDX-License-Identifier: MIT
# bench_trace.sh — what a running scheduler trace costs the jobs (run by `make bench`):
#   trace_overhead_pct  noop throughput lost while a trace runs (the `trace` op: every
#                       proc writes its events, a fiber collects them every 100 ms into
#                       JSON), interleaved with runs without (overhead.sh)
# With no trace running the hooks cost one load and a predictable branch each: compare
# jobs_per_s_noop of two builds (tests/bench/README.md) to see that. A comment line gives
# the runs and what the last trace held.
. "$(dirname "$0")/overhead.sh"
command -v socat > /dev/null || { echo "# trace_overhead_pct skipped: no socat" >&2; exit 0; }
overhead trace_overhead_pct '{"id":1,"op":"trace","seconds":60}' "trace:"
echo "# trace: $(grep 'trace: ended' "$T/log" | tail -1 | sed 's/.*trace: //')" >&2
