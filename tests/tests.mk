# SPDX-License-Identifier: MIT
# The tests: unit (cmocka, one program per module), integration (the real weftd
# driven by weftctl and socat), benchmarks, fuzzers, the systemd boot test and
# the aarch64 cross test. Unit tests see the daemon's headers; test_stack and
# test_switch test libweft's private layer, and a few set its test knobs (-Ilib).
CFLAGS_tests := -Idaemon

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Plugins only the tests load (wrong ABI, no ABI symbol...).
TEST_PLUGINS := $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))
INTEG      := $(sort $(wildcard tests/integration/test_*.sh))
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
LOAD_BIN   := $(BUILD)/bench/weftd_load   # the daemon benchmark's client (plain threads)
TEST_LIBS   = $(DAEMON_A) $(LIB_A) $(PKG_LIBS) -lcmocka -ldl -lm
# test_sched, test_io, test_million, test_backend and test_ctx_race also set test knobs
# (lib/testing.h).
PRIVATE_TESTS := $(BUILD)/tests/test_stack $(BUILD)/tests/test_switch $(BUILD)/tests/test_sched \
		 $(BUILD)/tests/test_io $(BUILD)/tests/test_million $(BUILD)/tests/test_backend \
		 $(BUILD)/tests/test_ctx_race

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c daemon/actions/weftd_plugin.h | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Idaemon/actions -shared -o $@ $< $(LDFLAGS)
# Unit tests find the plugins next to themselves (test_actor loads them). Named in an
# explicit rule, not only a pattern rule, so make neither skips nor deletes them as
# "intermediate" files.
$(UNIT_BINS): | $(PLUGINS) $(TEST_PLUGINS)
$(BENCH_BINS): | $(TEST_PLUGINS) # bench_retry loads the test plugin permanent.so
$(PRIVATE_TESTS): CFLAGS_PRIVATE := -Ilib
$(BUILD)/tests/%: tests/unit/%.c $(DAEMON_A) $(LIB_A) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CFLAGS_tests) $(CFLAGS_PRIVATE) -o $@ $< $(TEST_LIBS) $(LDFLAGS) -rdynamic
$(BUILD)/bench/%: tests/bench/%.c $(DAEMON_A) $(LIB_A) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CFLAGS_tests) -o $@ $< $(TEST_LIBS) $(LDFLAGS)

# A hang is a failure: every program and script runs under `timeout`, which names it
# when it fires (TERM at the limit, KILL 10 s later if it ignores that; timeout signals
# the program's whole process group, so a script's weftd goes with it). The limits are
# far above a normal run: the slowest unit program (test_supervisor) takes ~40 s under
# SAN=thread, the slowest script (test_reload) ~10 s under SAN=address.
UNIT_TIMEOUT  ?= 300
INTEG_TIMEOUT ?= 600
# limited NAME SECONDS CMD...: run CMD; its status, and a TIMEOUT line if the limit hit.
LIMITED = limited() { n=$$1; lim=$$2; shift 2; s=$$(date +%s); timeout -k 10 $$lim "$$@"; rc=$$?; \
	if [ $$rc -eq 124 ] || { [ $$rc -eq 137 ] && [ $$(( $$(date +%s) - s )) -ge $$lim ]; }; then \
	  echo "TIMEOUT: $$n after $$lim s"; fi; return $$rc; }

# BACKEND=epoll|io_uring: the I/O back end every unit program and script (and the
# weftd they start) runs on, through WEFT_BACKEND; empty: libweft chooses.
# TEST_WRAP: a command they all run under (test-noiouring's seccomp filter).
BACKEND ?=
ifneq ($(BACKEND),)
export WEFT_BACKEND := $(BACKEND)
endif
TEST_WRAP ?=
NOIOURING := $(BUILD)/tests/tools/noiouring
$(NOIOURING): tests/tools/noiouring.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lseccomp $(LDFLAGS)

# Unit tests run one program at a time; the closing line counts programs.
# CMOCKA_TEST_ABORT: an assertion failing in a fiber on another proc's thread
# cannot longjmp back to the test (another thread, another stack); it aborts
# with its message instead of dying silently.
unit: $(UNIT_BINS)
	@$(LIMITED); pass=0; fail=0; for t in $(UNIT_BINS); do \
	  echo "== $$t"; if limited $$t $(UNIT_TIMEOUT) $(TEST_WRAP) env CMOCKA_TEST_ABORT=1 $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "unit: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

integration: all $(NOIOURING) $(TEST_PLUGINS)
	@$(LIMITED); pass=0; fail=0; for t in $(INTEG); do \
	  echo "== $$t"; if limited $$t $(INTEG_TIMEOUT) $(TEST_WRAP) env BUILD=$(BUILD) WEFTD=$(WEFTD) \
	    WEFTCTL=$(WEFTCTL) PLUGINDIR=$(BUILD)/plugins bash $$t; \
	  then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "integration: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

test: all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

# Where io_uring is forbidden (Docker's default seccomp profile): the filter must
# really deny it (a program forcing io_uring fails), then weftd, falling back to
# epoll by itself, passes the integration tests.
test-noiouring: all $(NOIOURING) $(BUILD)/tests/test_backend
	@$(NOIOURING) $(BUILD)/tests/test_backend 2>&1 | grep -q 'SKIP: io_uring unavailable' \
	  || { echo "test-noiouring: the filter let io_uring through"; exit 1; }
	@$(MAKE) --no-print-directory integration TEST_WRAP=$(abspath $(NOIOURING)) WEFT_BACKEND=

$(LOAD_BIN): tests/bench/weftd_load.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)

# The runtime's figures twice: on the default back end, then on epoll (names + _epoll).
bench: all $(BENCH_BINS) $(LOAD_BIN)
	@for b in $(BENCH_BINS); do $$b || exit 1; done
	@for b in $(BENCH_BINS); do WEFT_BACKEND=epoll $$b > $(BUILD)/bench/epoll.out || exit 1; \
	  sed 's/^\([A-Za-z0-9_]*\) /\1_epoll /' $(BUILD)/bench/epoll.out; done
	@for b in $(sort $(wildcard tests/bench/bench_*.sh)); do BUILD=$(BUILD) WEFTD=$(WEFTD) WEFTCTL=$(WEFTCTL) bash $$b || exit 1; done

# bench_sync's figures in Go (tests/bench/go, standard library only, GOMAXPROCS=2),
# for interleaved runs beside build/bench/bench_sync (tests/bench/README.md).
.PHONY: bench-go
GO_BENCH := $(BUILD)/bench/weftbench-go
$(GO_BENCH): tests/bench/go/main.go tests/bench/go/go.mod
	@command -v go >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
	@mkdir -p $(@D)
	cd tests/bench/go && GOFLAGS=-mod=mod GOPROXY=off GOCACHE=$(abspath $(BUILD))/gocache go build -o $(abspath $@) .
bench-go: $(GO_BENCH)
	@$(GO_BENCH)

# ---- fuzzing (clang + libFuzzer) -------------------------------------------
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS = -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Ilib/include -Idaemon $(PKG_CFLAGS)
# Each target links only the pure modules it exercises (no runtime, no io_uring).
FUZZ_DEPS_fuzz_config := $(wildcard daemon/config/*.c)
FUZZ_DEPS_fuzz_proto  := $(wildcard daemon/proto/*.c) daemon/config/units.c
build-fuzz/fuzz_proto: tests/unit/proto_ref.h # its oracle, included, not compiled alone
FUZZ_DEPS_fuzz_journal := daemon/jobs/jrec.c
FUZZ_DEPS_fuzz_cron    := daemon/config/cron.c daemon/config/tz.c daemon/config/units.c
FUZZ_DEPS_fuzz_heap    := daemon/obs/heap.c daemon/proto/buf.c
.SECONDEXPANSION:
build-fuzz/%: tests/fuzz/%.c $$(FUZZ_DEPS_$$*) $$(wildcard daemon/*/*.h) | deps
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_DEPS_$*) $(PKG_LIBS) -lm -ldl -pthread -fsanitize=fuzzer
fuzz: $(FUZZ_BINS)
# Each target's output goes to build-fuzz/<target>.log and its crash, leak and
# timeout inputs to build-fuzz/artifacts-<target>/ (not the working directory).
# The status is the fuzzer's own (no pipe: /bin/sh has no pipefail): a crash
# fails the step and prints the report's end; the other targets still run.
fuzz-run: $(FUZZ_BINS)
	@bad=; for f in $(FUZZ_BINS); do n=$$(basename $$f); log=build-fuzz/$$n.log; \
	  art=build-fuzz/artifacts-$$n; mkdir -p build-fuzz/corpus-$$n $$art; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; rc=0; $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	    -artifact_prefix=$$art/ build-fuzz/corpus-$$n tests/fuzz/corpus/$${n#fuzz_} >$$log 2>&1 || rc=$$?; \
	  if [ $$rc -eq 0 ]; then tail -3 $$log; else tail -40 $$log; bad="$$bad $$n"; \
	    echo "== $$n FAILED (exit $$rc): log $$log, inputs in $$art/"; fi; done; \
	  if [ -n "$$bad" ]; then echo "fuzz-run: failed:$$bad"; exit 1; fi

test-systemd: all | deps
	bash tests/systemd/run.sh

# ---- aarch64 under qemu-user -----------------------------------------------
# Debian's cross compiler builds all of libweft for aarch64 (warnings are
# errors) and the unit tests that need no io_uring, which run under
# qemu-user: test_switch (callee-saved x19-x29, d8-d15, sp, FPCR, first entry,
# alignment; also built with PAC/BTI, below) and test_stack (guard page, canary). The rest of the suite cannot
# run there: qemu-user 7.2 does not emulate io_uring_setup (ENOSYS).
# liburing-dev and libcmocka-dev are Multi-Arch: same, so their headers in
# /usr/include are the same for every architecture and the host's serve;
# only libcmocka is linked (from libcmocka-dev:arm64): the tests run here
# pull in no liburing code.
ARM64_CC     := aarch64-linux-gnu-gcc
ARM64_BUILD  := build-arm64
# No -L /usr/aarch64-linux-gnu: the multiarch libc6:arm64 (pulled in by
# libcmocka0:arm64) is then found through /etc/ld.so.cache next to the cross
# ld.so of another glibc build, and pthread_create hangs. Without -L the
# loader and libc both come from libc6:arm64.
ARM64_RUN    := qemu-aarch64-static
ARM64_TESTS  := $(ARM64_BUILD)/tests/test_switch $(ARM64_BUILD)/tests/test_stack \
	$(ARM64_BUILD)/tests/test_switch_pac
ARM64_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-fvisibility=hidden -fPIC -pthread -D_GNU_SOURCE -MMD -MP -Ilib/include -Ilib
ARM64_LIB_A  := $(ARM64_BUILD)/lib/libweft.a
$(ARM64_BUILD)/%.o: %.c | deps
	@mkdir -p $(@D)
	$(ARM64_CC) $(ARM64_CFLAGS) -c $< -o $@
$(ARM64_BUILD)/%.o: %.S | deps
	@mkdir -p $(@D)
	$(ARM64_CC) $(ARM64_CFLAGS) -c $< -o $@
$(ARM64_LIB_A): $(LIB_C:%.c=$(ARM64_BUILD)/%.o) $(LIB_S:%.S=$(ARM64_BUILD)/%.o)
	@mkdir -p $(@D); rm -f $@
	aarch64-linux-gnu-ar rcs $@ $^
$(ARM64_BUILD)/tests/%: tests/unit/%.c $(ARM64_LIB_A)
	@mkdir -p $(@D)
	$(ARM64_CC) $(ARM64_CFLAGS) -o $@ $< $(ARM64_LIB_A) -lcmocka -lm
# test_switch again with -mbranch-protection=standard: qemu emulates PAuth, so
# every C frame's signed lr is authenticated against sp after fibers moved
# between stacks. BTI cannot be enforced here (Debian 12's crt files carry no
# BTI property, so no program gets it), so only the property of
# switch_aarch64.o is checked: without it the linker drops BTI everywhere.
ARM64_PAC_FLAGS := $(filter-out -MMD -MP,$(ARM64_CFLAGS)) -mbranch-protection=standard
$(ARM64_BUILD)/tests/test_switch_pac: tests/unit/test_switch.c lib/switch.c lib/switch.h lib/switch_aarch64.S | deps
	@mkdir -p $(@D)
	$(ARM64_CC) $(ARM64_PAC_FLAGS) -c lib/switch_aarch64.S -o $@-switch_aarch64.o
	aarch64-linux-gnu-readelf -n $@-switch_aarch64.o | grep -q 'AArch64 feature: BTI' \
	  || { echo "weft: switch_aarch64.S lacks the BTI property" >&2; exit 1; }
	$(ARM64_CC) $(ARM64_PAC_FLAGS) -o $@ tests/unit/test_switch.c lib/switch.c $@-switch_aarch64.o -lcmocka -lm
test-cross-arm64: $(ARM64_TESTS)
	@pass=0; fail=0; for t in $(ARM64_TESTS); do \
	  echo "== $$t (qemu-aarch64)"; if timeout 300 $(ARM64_RUN) $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "unit-arm64: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

# ---- mutation testing (not in CI: hours for every mutant) --------------------
# Plants one bug at a time in a scratch copy of the tree (build-mutate/), rebuilds, runs
# the module's unit tests under a timeout; prints killed/survived, the score and the
# survivors. MUTATE_MODULES="lib/chan.c ..." MUTATE_MAX=N (seeded sample) MUTATE_SAN=address;
# MUTATE_ONLY=@build-mutate/survivors re-runs the last run's survivors: tests/mutate/mutate.py.
mutate: | deps
	python3 tests/mutate/mutate.py
