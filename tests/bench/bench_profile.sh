# SPDX-License-Identifier: MIT
# bench_profile.sh — what a running CPU profile costs the jobs (run by `make bench`):
#   profile_overhead_pct  noop throughput lost while a CPU profile runs (the `profile`
#                         op, kind cpu: SIGPROF at 100 Hz per proc thread, a DWARF CFI
#                         unwind per sample, a collector fiber), interleaved with runs
#                         without (overhead.sh). Target: under 5 (issue 14).
. "$(dirname "$0")/overhead.sh"
command -v socat > /dev/null || { echo "# profile_overhead_pct skipped: no socat" >&2; exit 0; }
overhead profile_overhead_pct '{"id":1,"op":"profile","kind":"cpu","seconds":60}' "profile: cpu"
