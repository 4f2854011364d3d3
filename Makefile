# weft — one Makefile for the library, the daemon, the tests and the benchmarks.
#
#   make            build lib/libweft.{a,so}, weftd, weftctl, plugins
#   make test       unit + integration tests   (SAN=address | SAN=thread for sanitizer runs)
#   make bench      benchmarks, one "name value unit" line per figure
#   make run        run weftd on conf/weftd.yaml
#   make fuzz       build the libFuzzer targets (clang); make fuzz-run runs each briefly
#   make test-cross-arm64  the aarch64 context switch and stacks, cross-built, under qemu-user
#   make install    PREFIX=/usr/local DESTDIR=
#
# Missing Debian packages are installed on first use (quietly skipped when present).

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
CFLAGS     ?= -O2 -g
SAN        ?=
VERSION    := 0.1.0

DEB_PKGS := gcc make pkg-config liburing-dev libyaml-dev libsystemd-dev libjansson-dev \
            libjsmn-dev libjemalloc-dev libcmocka-dev socat libssl-dev
ifneq ($(filter fuzz fuzz-run,$(MAKECMDGOALS)),)
DEB_PKGS += clang libclang-rt-14-dev
endif
ifneq ($(filter test-systemd,$(MAKECMDGOALS)),)
DEB_PKGS += debootstrap systemd-container
endif
# pkg:arch names are Debian multiarch packages: their architecture is added first.
ifneq ($(filter test-cross-arm64,$(MAKECMDGOALS)),)
DEB_PKGS += gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static libcmocka-dev:arm64
endif

# Install what is missing before anything asks pkg-config.
ifeq ($(filter clean help,$(MAKECMDGOALS)),)
ifneq ($(shell command -v dpkg-query),)
MISSING := $(shell for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done)
ifneq ($(strip $(MISSING)),)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(info weft: installing missing Debian packages: $(MISSING))
FOREIGN_ARCHS := $(sort $(foreach p,$(MISSING),$(if $(findstring :,$(p)),$(lastword $(subst :, ,$(p))))))
APT_RC := $(shell $(foreach a,$(FOREIGN_ARCHS),$(SUDO) dpkg --add-architecture $(a) && ) $(SUDO) apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(MISSING) >&2; echo $$?)
ifneq ($(APT_RC),0)
$(error weft: could not install $(MISSING))
endif
endif
endif
endif

BUILD := build$(if $(SAN),-$(SAN))
PKGS  := liburing yaml-0.1 libsystemd jansson libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-fvisibility=hidden -fPIC -pthread -D_GNU_SOURCE -MMD -MP -Ilib/include -Ilib \
	$(PKG_CFLAGS)
override ASFLAGS += -MMD -MP
override LDFLAGS += -pthread
ifeq ($(SAN),address)
override CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -DWEFT_SAN_ADDRESS
override LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),thread)
override CFLAGS  += -fsanitize=thread -DWEFT_SAN_THREAD
override LDFLAGS += -fsanitize=thread
else ifneq ($(SAN),)
$(error SAN must be address or thread)
endif

# ---- libweft ---------------------------------------------------------------
LIB_C    := $(wildcard lib/*.c)
LIB_S    := $(wildcard lib/*.S)
LIB_OBJS := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_S:%.S=$(BUILD)/%.o)
LIB_A    := $(BUILD)/lib/libweft.a
LIB_SO   := $(BUILD)/lib/libweft.so

# ---- daemon ----------------------------------------------------------------
DAEMON_MAINS := daemon/weftd.c daemon/weftctl.c
DAEMON_C     := $(filter-out $(DAEMON_MAINS),$(wildcard daemon/*.c))
DAEMON_OBJS  := $(DAEMON_C:%.c=$(BUILD)/%.o)
DAEMON_A     := $(if $(DAEMON_OBJS),$(BUILD)/daemon/libweftd.a) # none until daemon/ has sources
WEFTD        := $(BUILD)/weftd
WEFTCTL      := $(BUILD)/weftctl
PLUGINS      := $(patsubst daemon/plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard daemon/plugins/*.c))
BINS         := $(if $(wildcard daemon/weftd.c),$(WEFTD)) $(if $(wildcard daemon/weftctl.c),$(WEFTCTL))

# ---- tests -----------------------------------------------------------------
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Plugins only the tests load (wrong ABI, no ABI symbol...).
TEST_PLUGINS := $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))
INTEG      := $(sort $(wildcard tests/integration/test_*.sh))
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
LOAD_BIN   := $(BUILD)/bench/weftd_load   # the daemon benchmark's client (plain threads)
TEST_LIBS  := $(DAEMON_A) $(LIB_A) $(PKG_LIBS) -lcmocka -ldl -lm

.PHONY: all test unit integration bench run fuzz fuzz-run install clean help test-systemd test-cross-arm64
.SECONDARY:
all: $(LIB_A) $(LIB_SO) $(BINS) $(PLUGINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(@D); rm -f $@
	$(AR) rcs $@ $^
$(LIB_SO): $(LIB_OBJS) lib/libweft.map
	$(CC) -shared -o $@ $(LIB_OBJS) -Wl,--version-script=lib/libweft.map -Wl,-soname,libweft.so.0 $(LDFLAGS) $(PKG_LIBS)
ifneq ($(DAEMON_A),)
$(DAEMON_A): $(DAEMON_OBJS)
	@mkdir -p $(@D); rm -f $@
	$(AR) rcs $@ $^
endif
# weftd allocates a job on one proc and frees it on another, in bursts: glibc's malloc
# spends a third of the daemon's time there (arena locks, heap trimmed and regrown).
# jemalloc, as Redis links it; the sanitizers bring their own allocator.
$(BUILD)/weftd: MALLOC_LIBS := $(if $(SAN),,$(shell pkg-config --libs jemalloc 2>/dev/null))
$(BUILD)/%: $(BUILD)/daemon/%.o $(DAEMON_A) $(LIB_A)
	$(CC) -o $@ $< $(DAEMON_A) -Wl,--whole-archive $(LIB_A) -Wl,--no-whole-archive $(LDFLAGS) $(PKG_LIBS) $(MALLOC_LIBS) -ldl -lm -rdynamic
$(BUILD)/plugins/%.so: daemon/plugins/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Idaemon -shared -o $@ $< $(LDFLAGS)
$(BUILD)/tests/plugins/%.so: tests/plugins/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Idaemon -shared -o $@ $< $(LDFLAGS)
# Unit tests find the plugins next to themselves (test_actor loads them). Named in an
# explicit rule, not only a pattern rule, so make neither skips nor deletes them as
# "intermediate" files.
$(UNIT_BINS): | $(PLUGINS) $(TEST_PLUGINS)
$(BUILD)/tests/%: tests/unit/%.c $(DAEMON_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Idaemon -o $@ $< $(TEST_LIBS) $(LDFLAGS) -rdynamic
$(BUILD)/bench/%: tests/bench/%.c $(DAEMON_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Idaemon -o $@ $< $(TEST_LIBS) $(LDFLAGS)

# Unit tests run one program at a time; the closing line counts programs.
# CMOCKA_TEST_ABORT: an assertion failing in a fiber on another proc's thread
# cannot longjmp back to the test (another thread, another stack); it aborts
# with its message instead of dying silently.
unit: $(UNIT_BINS)
	@pass=0; fail=0; for t in $(UNIT_BINS); do \
	  echo "== $$t"; if CMOCKA_TEST_ABORT=1 $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "unit: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

integration: all
	@pass=0; fail=0; for t in $(INTEG); do \
	  echo "== $$t"; if BUILD=$(BUILD) WEFTD=$(WEFTD) WEFTCTL=$(WEFTCTL) PLUGINDIR=$(BUILD)/plugins timeout 600 bash $$t; \
	  then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "integration: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

test: all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

$(LOAD_BIN): tests/bench/weftd_load.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)

bench: all $(BENCH_BINS) $(LOAD_BIN)
	@for b in $(BENCH_BINS); do $$b || exit 1; done
	@for b in $(sort $(wildcard tests/bench/bench_*.sh)); do BUILD=$(BUILD) WEFTD=$(WEFTD) WEFTCTL=$(WEFTCTL) bash $$b || exit 1; done

run: all
	@mkdir -p run
	$(WEFTD) --config conf/weftd.yaml

# ---- fuzzing (clang + libFuzzer) -------------------------------------------
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS = -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Ilib/include -Ilib -Idaemon $(PKG_CFLAGS)
# Each target links only the pure modules it exercises (no runtime, no io_uring).
FUZZ_DEPS_fuzz_config := daemon/config.c daemon/units.c
FUZZ_DEPS_fuzz_proto  := daemon/proto.c daemon/units.c
FUZZ_DEPS_fuzz_journal := daemon/jrec.c
.SECONDEXPANSION:
build-fuzz/%: tests/fuzz/%.c $$(FUZZ_DEPS_$$*) $$(wildcard daemon/*.h)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_DEPS_$*) $(PKG_LIBS) -lm -ldl -pthread -fsanitize=fuzzer
fuzz: $(FUZZ_BINS)
fuzz-run: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build-fuzz/corpus-$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	    build-fuzz/corpus-$$n tests/fuzz/corpus/$${n#fuzz_} 2>&1 | tail -3 || exit 1; done

test-systemd: all
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
$(ARM64_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(ARM64_CC) $(ARM64_CFLAGS) -c $< -o $@
$(ARM64_BUILD)/%.o: %.S
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
$(ARM64_BUILD)/tests/test_switch_pac: tests/unit/test_switch.c lib/switch.c lib/switch.h lib/switch_aarch64.S
	@mkdir -p $(@D)
	$(ARM64_CC) $(ARM64_PAC_FLAGS) -c lib/switch_aarch64.S -o $@-switch_aarch64.o
	aarch64-linux-gnu-readelf -n $@-switch_aarch64.o | grep -q 'AArch64 feature: BTI' \
	  || { echo "weft: switch_aarch64.S lacks the BTI property" >&2; exit 1; }
	$(ARM64_CC) $(ARM64_PAC_FLAGS) -o $@ tests/unit/test_switch.c lib/switch.c $@-switch_aarch64.o -lcmocka -lm
test-cross-arm64: $(ARM64_TESTS)
	@pass=0; fail=0; for t in $(ARM64_TESTS); do \
	  echo "== $$t (qemu-aarch64)"; if timeout 300 $(ARM64_RUN) $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "unit-arm64: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

# ---- install ---------------------------------------------------------------
# The installed config is the systemd one (socket /run/weftd/weftd.sock, state
# /var/lib/weftd); conf/weftd.yaml stays the development config of `make run`.
INSTALL_CONF := $(firstword $(wildcard systemd/weftd.yaml conf/weftd.yaml))
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/weft
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libweft.so.$(VERSION)
	ln -sf libweft.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libweft.so.0
	ln -sf libweft.so.0 $(DESTDIR)$(LIBDIR)/libweft.so
	install -m 0644 lib/include/weft/*.h $(DESTDIR)$(INCLUDEDIR)/weft/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
	  lib/weft.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/weft.pc
	$(if $(strip $(BINS)),install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/)
	install -d $(DESTDIR)$(UNITDIR)
	for u in $(wildcard systemd/*.service systemd/*.socket); do \
	  sed -e 's|/usr/local/bin/|$(BINDIR)/|g; s|/etc/weftd/|$(SYSCONFDIR)/weftd/|g' $$u > $(DESTDIR)$(UNITDIR)/$${u#systemd/} && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$${u#systemd/} || exit 1; done
	$(if $(wildcard systemd/*.sysusers),install -d $(DESTDIR)$(SYSUSERSDIR) && install -m 0644 systemd/weftd.sysusers $(DESTDIR)$(SYSUSERSDIR)/weftd.conf)
	$(if $(INSTALL_CONF),install -d $(DESTDIR)$(SYSCONFDIR)/weftd && install -m 0644 $(INSTALL_CONF) $(DESTDIR)$(SYSCONFDIR)/weftd/weftd.yaml)

clean:
	rm -rf build build-address build-thread build-fuzz build-arm64 run

help:
	@sed -n '2,11p' Makefile | sed 's/^# \{0,1\}//'

-include $(shell find build* -name '*.d' 2>/dev/null)
