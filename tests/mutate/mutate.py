#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make mutate: a small mutation-testing driver (issue 18, item 7).

Plants one semantic bug at a time in a core module, rebuilds, runs that module's unit
tests under a timeout, and counts the mutant as killed (a test failed or timed out) or
survived (every test passed). Mutants that do not compile are "invalid" and not counted.
Prints one line per mutant (its id: file:line:operator.k), the score (killed / (killed +
survived)) and the survivors (id, the line and its mutant), whose ids it also writes to
build-mutate/survivors (beside MUTATE_DIR).

The real tree is never touched: the sources git tracks are copied into a scratch
directory (MUTATE_DIR, default build-mutate/src) and mutated there, one file at a time,
restored after each mutant.

Operators:
  cmp       flip a comparison: < <=, > >=, == !=
  bound     off-by-one in a bound: drop a "+ 1" / "- 1"
  call      drop a call statement
  ret       return success on an error path: return -Exxx; -> return 0;
  wakeup    skip a wake-up: drop a weft__ready / weft_event_set / weft_cond_signal ... call

Environment:
  MUTATE_MODULES  space-separated sources (default: every module in MODULES below)
  MUTATE_MAX      sample at most N mutants over all the modules (deterministic: MUTATE_SEED)
  MUTATE_SEED     the sample's seed (default 18)
  MUTATE_TIMEOUT  seconds per test program (default 120): a hang is a kill
  MUTATE_OPS      operators to use (default: all)
  MUTATE_DIR      scratch copy (default build-mutate/src)
  MUTATE_ONLY     only these mutants, by place ("lib/chan.c:157": every mutant of that line)
                  or by id ("lib/chan.c:157:cmp.1", as the run prints them); "@FILE" reads
                  the list from FILE. Each run writes its survivors' ids to
                  build-mutate/survivors, so MUTATE_ONLY=@build-mutate/survivors re-runs
                  just those (ids hold line numbers: valid while the mutated files are
                  unchanged; tests may change freely)
  MUTATE_LIST     1: print the mutants the other variables select (id, the mutated line)
                  and stop: nothing is built
  MUTATE_SAN      build the mutants with SAN=address (or thread): a dropped free() or an
                  off-by-one write is then killed by the sanitizer; slower
  MUTATE_RECHECK  sanitizers that test again each mutant the plain build let survive
                  (default "address": a dropped free() is a leak LeakSanitizer reports;
                  "address thread" adds TSan for dropped locks, much slower; "" for none).
                  A module is rechecked only if its unmutated tests pass under that
                  sanitizer. The suite runs under both in CI (make SAN=...), so what they
                  catch is caught by the project's tests.
  MUTATE_RECHECK_LOCKS  sanitizers that test again a survivor that dropped a lock or
                  unlock call (default "thread": a dropped lock is a data race that
                  ThreadSanitizer reports where a plain run passes by luck; "" for none).
                  Only those mutants pay for the TSan build; the module's unmutated tests
                  must pass under it (checked the first time one needs it).

Not in CI: a full run builds and tests every mutant (hours). Run it before resolving an
issue that touches these modules. The last measured score and its survivors: README.md here.
"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

# Module -> the unit test programs that exercise it.
MODULES = {
    "lib/chan.c": ["test_chan", "test_patterns", "test_chan_edges", "test_outside_fiber",
                   "test_chan_closed"],
    "lib/sched.c": ["test_sched", "test_chan"],
    "lib/runq.c": ["test_sched"],
    "lib/mutex.c": ["test_sync", "test_order", "test_sync_edges", "test_outside_fiber"],
    "lib/rwmutex.c": ["test_sync", "test_order", "test_sync_edges", "test_outside_fiber"],
    "lib/sem.c": ["test_sync", "test_order", "test_sync_edges", "test_outside_fiber"],
    "lib/cond.c": ["test_sync", "test_order", "test_outside_fiber"],
    "lib/event.c": ["test_event", "test_outside_fiber"],
    "lib/ctx.c": ["test_ctx", "test_sync_edges", "test_ctx_edges"],
    "daemon/jobs/journal_writer.c": ["test_journal", "test_journal_edges"],
    "daemon/jobs/journal.c": ["test_journal", "test_journal_edges"],
    # submit's deadline, retry and steer paths are tested in programs of their own
    "daemon/engine/submit.c": ["test_engine", "test_engine_deadline", "test_engine_retry",
                               "test_engine_steer", "test_pipelined", "test_engine_edges"],
    "daemon/proto/request.c": ["test_proto", "test_proto_edges"],
    "daemon/config/scalars.c": ["test_config"],
    "daemon/actions/exec.c": ["test_actor", "test_exec_orphans"],
}

# Mutants known to be equivalent (no test can tell them from the original), by file and
# the line before and after (not line numbers: they move). Reported, not counted.
EQUIVALENT = {
    ("daemon/proto/request.c", "uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;",
     "uint64_t u = v <= 0 ? -(uint64_t)v : (uint64_t)v;"):
        "-(uint64_t)0 is 0",
    ("daemon/proto/request.c", "if (v->type != JSCAN_STR || n > sizeof(name) ||",
     "if (v->type != JSCAN_STR || n >= sizeof(name) ||"):
        "a 16-byte state is refused either way: no state name is 16 bytes long",
    ("daemon/proto/request.c", "if ((n = jscan_str_copy(line, key, buf, sizeof(buf))) > sizeof(buf))",
     "if ((n = jscan_str_copy(line, key, buf, sizeof(buf))) >= sizeof(buf))"):
        "a 12-byte escaped key matches no field either way: the longest is 11 bytes",
    ("daemon/proto/request.c", "req->timeout_ns = v->num.d >= (double)(WEFTD_TIMEOUT_MAX_NS / WEFTD_NSEC_PER_MSEC) ?",
     "req->timeout_ns = v->num.d > (double)(WEFTD_TIMEOUT_MAX_NS / WEFTD_NSEC_PER_MSEC) ?"):
        "at exactly the maximum in ms both are below the clamp and neither overflows",
    ("daemon/config/scalars.c", "for (size_t i = 0; i < len; i++)", "for (size_t i = 0; i <= len; i++)"):
        "cfg_valid_name's names are NUL-terminated and strchr(\"_.-\", 0) accepts the NUL",
    ("lib/mutex.c", "for (int k = 0; k < SPIN_PAUSES; k++)", "for (int k = 0; k <= SPIN_PAUSES; k++)"):
        "one more pause in the spin: timing only",
    ("lib/mutex.c", "weft__cpu_relax();", "(void)0; /* mutant: dropped call */"):
        "a pause instruction in the spin: timing only",
    ("lib/chan.c", "poll[np] = j < np ? poll[j] : 0;", "poll[np] = j <= np ? poll[j] : 0;"):
        "j == np reads poll[np], which poll[j] = i overwrites on the next line",
    ("lib/chan.c", "if (np > 1 || !won) {", "if (np >= 1 || !won) {"):
        "with one channel the pass has no other queue to leave: it only locks and unlocks",
    ("lib/runq.c", "if (n > len)", "if (n >= len)"):
        "at n == len the clamp assigns n its own value",
    ("lib/ctx.c", "if (deadline_ns < c->deadline && !atomic_load(&c->err)) {",
     "if (deadline_ns <= c->deadline && !atomic_load(&c->err)) {"):
        "a deadline equal to the parent's: the child's own timer fires at the instant the"
        " parent's does, with the same -ETIMEDOUT",
    ("lib/mutex.c", "if (result == R_HANDOFF && (empty || weft__now() - w->index < STARVE_NS))",
     "if (result == R_HANDOFF && (empty || weft__now() - w->index <= STARVE_NS))"):
        "differs only for a waiter that waited exactly 1 ms to the nanosecond",
    ("lib/cond.c", "if (r < 0) {", "if (r <= 0) {"):
        "r == 0: wake() popped w already; waitq_remove of an unlinked waiter is a no-op",
    ("daemon/actions/exec.c", "cap = x->at->max_output + READ_CHUNK + 1;",
     "cap = x->at->max_output + READ_CHUNK;"):
        "reading stops once out_len > max_output, long before out_cap - out_len < 2 at either cap",
    ("daemon/actions/exec.c", "if (cap > x->at->max_output + READ_CHUNK + 1)",
     "if (cap >= x->at->max_output + READ_CHUNK + 1)"):
        "at equality the clamp assigns cap its own value",
    ("daemon/actions/exec.c", "if (cap > x->at->max_output + READ_CHUNK + 1)",
     "if (cap > x->at->max_output + READ_CHUNK)"):
        "at cap == max_output + READ_CHUNK + 1 the clamp assigns cap its own value",
    ("daemon/actions/exec.c", "if (x->out_cap - x->out_len < 2) {", "if (x->out_cap - x->out_len <= 2) {"):
        "grows the buffer one byte earlier below the clamp; at the clamp READ_CHUNK + 1 bytes are"
        " always left while reading goes on, so the output is the same",
    ("daemon/actions/exec.c", "weft_wg_init(&x->wg);", "(void)0; /* mutant: dropped call */"):
        "x comes from calloc: a zeroed weft_wg is WEFT_WG_INIT",
    ("daemon/actions/exec.c", "weft_ctx_cancel(x->io);", "(void)0; /* mutant: dropped call */"):
        "weft_wg_wait(x->io, ...) fails only once x->io is done: cancelling it again is a no-op",
    ("daemon/proto/request.c", "if (f < 0 && (r = jscan_key_unique(j, obj, &key)) < 0)",
     "if (f <= 0 && (r = jscan_key_unique(j, obj, &key)) < 0)"):
        "field 0's key also enters the unknown-key set; its repeat is caught as a known duplicate first",
    ("daemon/proto/request.c", "if (n <= WEFTD_ID_MAX)", "if (n < WEFTD_ID_MAX)"):
        "a real's canonical text (%.17g in a 40-byte buffer) never reaches the 64-byte edge",
    ("daemon/proto/request.c", "jscan_next(&j, ']', &first) > 0 && jscan_value(&j, &e) == 0; n++)",
     "jscan_next(&j, ']', &first) >= 0 && jscan_value(&j, &e) == 0; n++)"):
        "at the array's end (0) the next token of the already-validated line is ',' or '}',"
        " which jscan_value refuses: the count is the same",
    ("daemon/jobs/journal.c", "if (r >= 0)", "if (r > 0)"):
        "r is a new file's fd, never 0 while stdin is open (the tests; systemd's StandardInput=null)",
    ("daemon/jobs/journal_writer.c", "if (fd >= 0) {", "if (fd > 0) {"):
        "fd is a new file's fd, never 0 while stdin is open (the tests; systemd's StandardInput=null)",
    ("daemon/jobs/journal.c", "return fd >= 0 ? fd : -errno;", "return fd > 0 ? fd : -errno;"):
        "a new file's fd, never 0 while stdin is open (the tests; systemd's StandardInput=null)",
    ("daemon/jobs/journal.c", "if (j->fd >= 0)", "if (j->fd > 0)"):
        "the journal's fd, never 0 while stdin is open (the tests; systemd's StandardInput=null)",
    ("daemon/jobs/journal.c", "if (j->dirfd >= 0)", "if (j->dirfd > 0)"):
        "the directory's fd, never 0 while stdin is open (the tests; systemd's StandardInput=null)",
    ("daemon/jobs/journal.c", "if (j->lockfd >= 0)", "if (j->lockfd > 0)"):
        "the lock file's fd, never 0 while stdin is open (the tests; systemd's StandardInput=null)",
    ("daemon/jobs/journal.c", "return r < 0 ? r : 0;", "return r <= 0 ? r : 0;"):
        "r == 0 returns 0 either way",
    ("daemon/jobs/journal.c", "if (n < 0)", "if (n <= 0)"):
        "pwrite of len > 0 bytes to a regular file returns > 0 or -1, never 0",
    ("lib/mutex.c", "atomic_fetch_and(STATE(m), ~WAITERS);", "(void)0; /* mutant: dropped call */"):
        "a stale WAITERS bit on an empty queue only sends lock and unlock through their slow"
        " paths, which then behave as the fast ones",
    ("daemon/jobs/journal_writer.c", "if (fd >= 0)", "if (fd > 0)"):
        "fd is a new file's fd, never 0 while stdin is open (the tests; systemd's StandardInput=null)",
    ("daemon/jobs/journal.c", "r = fd < 0 ? -errno : write_sync_close(fd, v, n);",
     "r = fd <= 0 ? -errno : write_sync_close(fd, v, n);"):
        "a new file's fd, never 0 while stdin is open (the tests; systemd's StandardInput=null)",
    ("daemon/jobs/journal.c", "weft_wg_init(&j->done);", "(void)0; /* mutant: dropped call */"):
        "j comes from calloc: a zeroed weft_wg is WEFT_WG_INIT",
    ("daemon/actions/exec.c",
     "int n = weft_read(x->io, x->out_r, x->out + x->out_len, x->out_cap - x->out_len - 1, -1);",
     "int n = weft_read(x->io, x->out_r, x->out + x->out_len, x->out_cap - x->out_len, -1);"):
        "the spare byte for the NUL is also kept by the check before every read (< 2 left:"
        " grow): the read that ends the output returns 0 with 2 or more bytes left, and"
        " below the clamp (max_output + READ_CHUNK + 1) reading stops at max_output + 1",
    ("daemon/proto/request.c", "if (n > UNKNOWN_SHOWN)", "if (n >= UNKNOWN_SHOWN)"):
        "at n == UNKNOWN_SHOWN the clamp assigns n its own value",
    ("daemon/proto/request.c", "for (size_t i = 0; i < sizeof(req->heap) / sizeof(req->heap[0]); i++)",
     "for (size_t i = 0; i <= sizeof(req->heap) / sizeof(req->heap[0]); i++)"):
        "never runs past 3 slots: only payload, payload_b64 (submit) and jobs (wait) can outgrow"
        " the 2 KiB arena, whose other strings (names <= 64 B, key <= 256 B, times) fit it:"
        " no request needs a 4th heap string",
    ("daemon/engine/submit.c", "later = o->run_at_ms > 0 && weftd_job_state(j) == WEFTD_JOB_SCHEDULED;",
     "later = o->run_at_ms >= 0 && weftd_job_state(j) == WEFTD_JOB_SCHEDULED;"):
        "a job is SCHEDULED only with a run_at_ms after its creation time (job.c), so never"
        " with run_at_ms == 0",
    ("lib/runq.c", "if (n > max)", "if (n >= max)"):
        "at n == max the clamp assigns n its own value",
    ("lib/ctx.c", "weft__timer_del(&c->timer);", "(void)0; /* mutant: dropped call */"):
        "the deadline timer of a ctx cancelled otherwise: left armed, it fires into a ctx"
        " already done (cancel's compare-and-swap fails: a no-op), or goes with the last"
        " unref, which deletes it too",
    ("lib/sched.c", "for (unsigned i = 0; i < s->nprocs && woken < n; i++) {",
     "for (unsigned i = 0; i <= s->nprocs && woken < n; i++) {"):
        "the extra pass tries the first proc again (index modulo nprocs): at most one more"
        " wake-up, of a proc that went idle meanwhile",
    ("lib/sched.c", "if (WEFT__UNLIKELY(!f->stack.guarded) && &here < (char *)f->stack.lo + 256)",
     "if (WEFT__UNLIKELY(!f->stack.guarded) && &here <= (char *)f->stack.lo + 256)"):
        "differs only when the switch's local sits exactly 256 bytes above the stack's"
        " bottom: one byte of a 256-byte safety margin",
}
WAKEUPS = ("weft__ready", "weft_event_set", "weft_cond_signal", "weft_cond_broadcast",
           "wake", "weft_sem_post")
KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "do", "else", "case",
            "assert", "static_assert", "_Static_assert", "goto"}
CALL_RE = re.compile(r"^(\s*)([A-Za-z_][\w.>\-]*)\s*\((.*)\)\s*;\s*$")
RET_RE = re.compile(r"\breturn\s+-E[A-Z0-9]+\s*;")
CMP_RE = re.compile(r"(?<![<>=!\-])(<=|>=|==|!=|<|>)(?![<>=])")
CMP_SWAP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
BOUND_RE = re.compile(r"\s[+-]\s1\b(?!\.)")


def code_lines(text):
    """(line number, line) for the lines of code: not comments, not preprocessor."""
    in_comment = False
    for no, line in enumerate(text.split("\n"), 1):
        s = line.strip()
        if in_comment:
            if "*/" in s:
                in_comment = False
            continue
        if s.startswith("/*"):
            in_comment = "*/" not in s
            continue
        if not s or s.startswith("//") or s.startswith("*") or s.startswith("#"):
            continue
        yield no, line


def strip_strings(line):
    """The line with string and char literals and trailing comments blanked (same length)."""
    out = re.sub(r'"(\\.|[^"\\])*"', lambda m: '"' + " " * (len(m.group(0)) - 2) + '"', line)
    out = re.sub(r"'(\\.|[^'\\])*'", lambda m: "'" + " " * (len(m.group(0)) - 2) + "'", out)
    i = out.find("/*")
    if i >= 0:
        out = out[:i] + " " * (len(out) - i)
    i = out.find("//")
    if i >= 0:
        out = out[:i] + " " * (len(out) - i)
    return out


def mutants(path, text):
    """Every mutant of one file: (path, line no, operator, new line)."""
    for no, line in code_lines(text):
        bare = strip_strings(line)
        if "_Static_assert" in bare or "static_assert" in bare:
            continue
        m = CALL_RE.match(bare)
        if m and m.group(2) not in KEYWORDS and "=" not in bare.split("(")[0]:
            fn = m.group(2)
            op = "wakeup" if any(w in fn for w in WAKEUPS) else "call"
            yield path, no, op, m.group(1) + "(void)0; /* mutant: dropped call */"
        for m in RET_RE.finditer(bare):
            yield path, no, "ret", line[:m.start()] + "return 0;" + line[m.end():]
        # A comparison: not in "->", "<<", ">>", nor in a template-ish include.
        for m in CMP_RE.finditer(bare):
            tok = m.group(1)
            a, b = m.start(), m.end()
            if tok in "<>" and (bare[a - 1:a] == "-" or bare[b:b + 1] in "<>"):
                continue
            yield path, no, "cmp", line[:a] + CMP_SWAP[tok] + line[b:]
        for m in BOUND_RE.finditer(bare):
            yield path, no, "bound", line[:m.start()] + line[m.end():]


def run(cmd, cwd, timeout=None):
    """(status, output) of cmd, or ("timeout", ""). cmd runs in a session of its own: a
    mutant that signals its process group (kill(0, ...), a pgid of 0) or leaves children
    behind kills or holds only that session, which a timeout ends as a whole."""
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=dict(os.environ, CMOCKA_TEST_ABORT="1"), start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:  # a grandchild that left the session may still hold the pipe
            p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
        return "timeout", ""


SAN = os.environ.get("MUTATE_SAN", "")
# A mutant that survives the plain build is tested again under these sanitizers, as
# `make SAN=address test` / `make SAN=thread unit` would: a dropped free() is a leak only
# LeakSanitizer sees, a dropped lock a race only ThreadSanitizer sees.
RECHECK = [x for x in os.environ.get("MUTATE_RECHECK", "address").split() if x != SAN]
RECHECK_LOCKS = [x for x in os.environ.get("MUTATE_RECHECK_LOCKS", "thread").split()
                 if x != SAN and x not in RECHECK]
# A dropped call that takes or releases a lock (weft__lock_acquire, weftd_spin_lock,
# weft_mutex_unlock ...): its race is what ThreadSanitizer reports.
LOCK_RE = re.compile(r"^\s*\w*(lock|unlock|acquire|release)\w*\s*\(")


def build_dir(san):
    return "build" + (f"-{san}" if san else "")


def build(work, tests, san=SAN):
    rc, out = run(["make", "-j2", "--no-print-directory", f"SAN={san}"] +
                  [f"{build_dir(san)}/tests/{t}" for t in tests], work)
    return rc == 0, out


def run_tests(work, tests, limit, san=SAN):
    """None when every test passed, else the first one that failed (and how)."""
    for t in tests:
        rc, _ = run([f"{build_dir(san)}/tests/{t}"], work, timeout=limit)
        if rc == "timeout":
            return f"{t} timed out"
        if rc != 0:
            return f"{t} failed"
    return None


def with_ids(every):
    """The mutants with an id each: file:line:operator.k (k counts that line's mutants of
    that operator from 1), stable while the file is."""
    seen, out = {}, []
    for path, no, op, new in every:
        key = (path, no, op)
        seen[key] = seen.get(key, 0) + 1
        out.append((path, no, op, new, f"{path}:{no}:{op}.{seen[key]}"))
    return out


def selected(every, only):
    """MUTATE_ONLY: ids or file:line places, or @FILE holding them."""
    words = []
    for w in only.split():
        if w.startswith("@"):
            words += open(w[1:]).read().split()
        else:
            words.append(w)
    if not words:
        return every
    want = set(words)
    return [x for x in every if x[4] in want or f"{x[0]}:{x[1]}" in want]


def main():
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], stdout=subprocess.PIPE,
                          check=True).stdout.decode().strip()
    work = os.path.abspath(os.environ.get("MUTATE_DIR", os.path.join(root, "build-mutate/src")))
    mods = os.environ.get("MUTATE_MODULES", "").split() or list(MODULES)
    for m in mods:
        if m not in MODULES:
            sys.exit(f"mutate: no tests mapped for {m} (known: {' '.join(MODULES)})")
    ops = set(os.environ.get("MUTATE_OPS", "cmp bound call ret wakeup").split())
    limit = int(os.environ.get("MUTATE_TIMEOUT", "120"))
    cap = int(os.environ.get("MUTATE_MAX", "0"))
    seed = int(os.environ.get("MUTATE_SEED", "18"))
    listing = os.environ.get("MUTATE_LIST", "") not in ("", "0")

    # The scratch copy: the tracked files (the working tree's content), nothing built.
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, stdout=subprocess.PIPE,
                           check=True).stdout.decode().split("\0")
    os.makedirs(work, exist_ok=True)
    for f in filter(None, files):
        src, dst = os.path.join(root, f), os.path.join(work, f)
        if not os.path.isfile(src):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst) or open(src, "rb").read() != open(dst, "rb").read():
            shutil.copy(src, dst)  # a new mtime: make rebuilds what an interrupted run left mutated

    every = []
    for m in mods:
        every += [x for x in mutants(m, open(os.path.join(work, m)).read()) if x[2] in ops]
    every = selected(with_ids(every), os.environ.get("MUTATE_ONLY", ""))
    sample = every
    if cap and len(every) > cap:
        sample = sorted(random.Random(seed).sample(every, cap), key=lambda x: (x[0], x[1]))
    print(f"mutate: {len(every)} mutants in {len(mods)} modules; running {len(sample)}"
          f" (seed {seed}, timeout {limit} s)")
    if listing:
        for path, no, op, new, mid in sample:
            print(f"{mid}\t{new.strip()}")
        return 0

    tests = sorted({t for m in mods for t in MODULES[m]})
    ok, out = build(work, tests)
    if not ok:
        sys.exit("mutate: the unmutated tree does not build:\n" + out[-3000:])
    for m in mods:
        why = run_tests(work, MODULES[m], limit)
        if why:
            sys.exit(f"mutate: the unmutated tree fails its tests ({why})")
    # The rechecks count only where the unmutated tree passes under that sanitizer: checked
    # up front for RECHECK, the first time a module needs it for RECHECK_LOCKS (before its
    # file is mutated).
    recheck = {}
    for san in RECHECK:
        ok, out = build(work, tests, san)
        for m in mods:
            why = run_tests(work, MODULES[m], 3 * limit, san) if ok else "no build"
            if why:
                print(f"mutate: no {san} recheck for {m}: the unmutated tree fails ({why})")
            else:
                recheck.setdefault(m, []).append(san)
    lock_ok = {}

    def lock_recheck(path):
        for san in RECHECK_LOCKS:
            if (path, san) not in lock_ok:
                ok = build(work, MODULES[path], san)[0]
                why = run_tests(work, MODULES[path], 3 * limit, san) if ok else "no build"
                if why:
                    print(f"mutate: no {san} recheck for {path}: the unmutated tree fails ({why})")
                lock_ok[(path, san)] = not why
        return [san for san in RECHECK_LOCKS if lock_ok[(path, san)]]

    killed, survived, invalid, equivalent = 0, [], 0, []
    start = time.time()
    for i, (path, no, op, new, mid) in enumerate(sample, 1):
        full = os.path.join(work, path)
        orig = open(full).read()
        lines = orig.split("\n")
        old = lines[no - 1]
        why = EQUIVALENT.get((path, old.strip(), new.strip()))
        if why:
            equivalent.append((path, no, why))
            print(f"[{i}/{len(sample)}] {mid}: equivalent ({why})", flush=True)
            continue
        sans = list(recheck.get(path, []))
        if op in ("call", "wakeup") and LOCK_RE.match(old):
            sans += lock_recheck(path)
        lines[no - 1] = new
        open(full, "w").write("\n".join(lines))
        try:
            ok, _ = build(work, MODULES[path])
            if not ok:
                verdict = "invalid"
                invalid += 1
            else:
                why = run_tests(work, MODULES[path], limit)
                for san in sans if not why else []:
                    if build(work, MODULES[path], san)[0]:
                        why = run_tests(work, MODULES[path], 3 * limit, san)
                        why = why and f"{why} under SAN={san}"
                    if why:
                        break
                if why:
                    verdict = f"killed ({why})"
                    killed += 1
                else:
                    verdict = "SURVIVED"
                    survived.append((path, no, op, old.strip(), new.strip(), mid))
        finally:
            open(full, "w").write(orig)
        print(f"[{i}/{len(sample)}] {mid}: {verdict}", flush=True)

    counted = killed + len(survived)
    score = 100.0 * killed / counted if counted else 0.0
    print(f"\nmutate: {killed} killed, {len(survived)} survived, {invalid} invalid,"
          f" {len(equivalent)} known equivalent;"
          f" score {score:.1f}% ({time.time() - start:.0f} s)")
    for path, no, op, old, new, mid in survived:
        print(f"survivor {mid}\n    - {old}\n    + {new}")
    # Their ids, for MUTATE_ONLY=@build-mutate/survivors.
    with open(os.path.join(os.path.dirname(work), "survivors"), "w") as f:
        f.write("".join(f"{x[5]}\n" for x in survived))
    # The mutated files are restored; rebuild so the scratch tree is clean for the next run.
    build(work, tests)
    for san in RECHECK + [s for s in RECHECK_LOCKS if any(k[1] == s for k in lock_ok)]:
        build(work, tests, san)
    return 0


if __name__ == "__main__":
    sys.exit(main())
