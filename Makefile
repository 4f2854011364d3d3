# SPDX-License-Identifier: MIT
# weft — the library, the daemon, the tests and the benchmarks. This file holds
# the settings and the set-up; each folder's rules are in its own fragment:
# lib/lib.mk, daemon/daemon.mk, tests/tests.mk.
#
#   make all        (the default) build lib/libweft.{a,so}, weftd, weftctl, plugins, man pages
#   make deps       install the missing Debian packages (every goal below runs it)
#   make test       unit + integration tests   (SAN=address | SAN=thread for sanitizer runs)
#   make unit       the unit tests only (cmocka programs, tests/unit/)
#   make integration  the integration tests only (tests/integration/, the real weftd)
#   make bench      benchmarks, one "name value unit" line per figure
#   make bench-go   bench_sync's figures written in Go (golang-go), to compare beside them
#   make run        run weftd on conf/weftd.yaml in the foreground (Ctrl-C stops it)
#   make man        the man pages (man/*.scd -> build/man/, scdoc)
#   make fuzz       build the libFuzzer targets (clang); make fuzz-run runs each briefly
#   make fuzz-run   run each fuzzer FUZZ_SECONDS (default 20)
#   make test-systemd      the daemon under a real systemd in systemd-nspawn (root; caches
#                          a Debian root in $WEFT_NSPAWN_CACHE, default /var/tmp/weft-nspawn-root)
#   make test-cross-arm64  the aarch64 context switch and stacks, cross-built, under qemu-user
#   make check-layers      the daemon uses libweft's public headers only; files <= 700 lines
#   make test BACKEND=epoll  the tests on libweft's epoll back end (WEFT_BACKEND)
#   make test-noiouring    the integration tests with io_uring denied by seccomp
#   make mutate     mutation testing (MUTATE_MODULES=, MUTATE_MAX=N): tests/mutate/mutate.py
#   make install    PREFIX=/usr/local DESTDIR=: library, headers, weft.pc, weftd, weftctl,
#                   the plugin header and example, man pages, bash completion, systemd units
#   make uninstall  remove what make install put there (same PREFIX and DESTDIR)
#   make clean      remove the build directories and ./run
#   make distclean  clean, and remove the test-systemd cached root
#   make help       this list

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/weft
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
CFLAGS     ?= -O2 -g
SAN        ?=
# The one place the version is defined: the daemon, weftctl and weft.pc read it.
VERSION    := 0.1.0

.PHONY: all deps test unit integration bench run fuzz fuzz-run install uninstall clean distclean \
	help man test-systemd test-cross-arm64 check-layers mutate test-noiouring
.SECONDARY:
all:

# ---- Debian packages ---------------------------------------------------------
# `make deps` installs what is missing; every build rule depends on it (order
# only), so pkg-config below is asked after the install. The goal-specific
# lists are added by the goals that need them.
DEB_PKGS := gcc make pkg-config liburing-dev libyaml-dev libsystemd-dev libjansson-dev \
            libjemalloc-dev libcmocka-dev socat libssl-dev scdoc tmux libseccomp-dev \
            libmicrohttpd-dev tzdata zlib1g-dev libhiredis-dev libunwind-dev
DEB_PKGS_fuzz    := clang libclang-rt-14-dev
DEB_PKGS_systemd := debootstrap systemd-container
# test_metrics_http: a real Prometheus (and promtool) scraping weftd; big, so only for tests.
# golang-go: `go tool pprof` reads the profiles in test_profile; redis-server: test_broker's
# Redis; python3-fusepy: test_power_cut's FUSE layer that drops unsynced writes
DEB_PKGS_test    := prometheus curl golang-go redis-server python3-fusepy
# pkg:arch names are Debian multiarch packages: their architecture is added first.
DEB_PKGS_cross   := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static libcmocka-dev:arm64
DEB_WANT := $(DEB_PKGS) \
	$(if $(filter fuzz fuzz-run,$(MAKECMDGOALS)),$(DEB_PKGS_fuzz)) \
	$(if $(filter test-systemd,$(MAKECMDGOALS)),$(DEB_PKGS_systemd)) \
	$(if $(filter test integration,$(MAKECMDGOALS)),$(DEB_PKGS_test)) \
	$(if $(filter test-cross-arm64,$(MAKECMDGOALS)),$(DEB_PKGS_cross))
deps:
	@command -v dpkg-query >/dev/null || exit 0; \
	missing=$$(for p in $(DEB_WANT); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q 'ok installed' || echo $$p; done); \
	[ -z "$$missing" ] && exit 0; \
	sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	echo "weft: installing missing Debian packages:" $$missing; \
	for a in $$(printf '%s\n' $$missing | sed -n 's/.*:\(.*\)/\1/p' | sort -u); do \
	  $$sudo dpkg --add-architecture $$a || exit 1; done; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install \
	  -y -qq --no-install-recommends $$missing

# ---- flags -------------------------------------------------------------------
BUILD := build$(if $(SAN),-$(SAN))
PKGS  := liburing yaml-0.1 libsystemd jansson libcrypto libmicrohttpd zlib hiredis libunwind-generic
# Asked once, when first expanded (after `deps` has run), then kept.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)

override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-fvisibility=hidden -fPIC -pthread -D_GNU_SOURCE -MMD -MP -Ilib/include $(PKG_CFLAGS)
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

# Objects depend on the flags they were built with: a changed CFLAGS (a new -f option, a
# pkg-config path) rebuilds them instead of linking stale objects with new ones.
CFLAGS_SEEN = $(subst ','\'',$(CFLAGS))
$(BUILD)/.cflags: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$(CFLAGS_SEEN)' | cmp -s - $@ || printf '%s\n' '$(CFLAGS_SEEN)' > $@
FORCE:

$(BUILD)/%.o: %.c $(BUILD)/.cflags | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CFLAGS_$(firstword $(subst /, ,$<))) -c $< -o $@
$(BUILD)/%.o: %.S $(BUILD)/.cflags | deps
	@mkdir -p $(@D)
	$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) $(CFLAGS_$(firstword $(subst /, ,$<))) -c $< -o $@

include lib/lib.mk
include daemon/daemon.mk
include tests/tests.mk

# ---- man pages (scdoc sources in man/) --------------------------------------------
MAN_SRCS  := $(wildcard man/*.scd)
MAN_PAGES := $(MAN_SRCS:man/%.scd=build/man/%)
man: $(MAN_PAGES)
build/man/%: man/%.scd | deps
	@mkdir -p $(@D)
	scdoc < $< > $@

all: $(LIB_A) $(LIB_SO) $(BINS) $(PLUGINS) $(MAN_PAGES)

# In the foreground, logging to the terminal: weftctl works from another terminal;
# Ctrl-C (SIGINT) drains and stops it.
run: all
	@mkdir -p run
	$(WEFTD) --config conf/weftd.yaml


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
	@# plugins are built against the installed ABI header; the example is their template
	install -m 0644 daemon/actions/weftd_plugin.h $(DESTDIR)$(INCLUDEDIR)/weftd_plugin.h
	install -d $(DESTDIR)$(DOCDIR)/examples/plugin
	install -m 0644 daemon/plugins/example.c $(DESTDIR)$(DOCDIR)/examples/plugin/
	install -m 0644 daemon/plugins/Makefile.example $(DESTDIR)$(DOCDIR)/examples/plugin/Makefile
	for m in $(MAN_PAGES); do s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s && \
	  install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; done
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 daemon/weftctl/weftctl.bash $(DESTDIR)$(BASHCOMPDIR)/weftctl

# What install put there, and nothing else: the config in SYSCONFDIR is removed only when
# it is still the installed one (an edited config stays).
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(BINS))) \
	  $(DESTDIR)$(LIBDIR)/libweft.a $(DESTDIR)$(LIBDIR)/libweft.so.$(VERSION) \
	  $(DESTDIR)$(LIBDIR)/libweft.so.0 $(DESTDIR)$(LIBDIR)/libweft.so $(DESTDIR)$(LIBDIR)/pkgconfig/weft.pc \
	  $(addprefix $(DESTDIR)$(INCLUDEDIR)/weft/,$(notdir $(wildcard lib/include/weft/*.h))) \
	  $(DESTDIR)$(INCLUDEDIR)/weftd_plugin.h \
	  $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(wildcard systemd/*.service systemd/*.socket))) \
	  $(DESTDIR)$(SYSUSERSDIR)/weftd.conf $(DESTDIR)$(BASHCOMPDIR)/weftctl \
	  $(foreach m,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
	  $(DESTDIR)$(DOCDIR)/examples/plugin/example.c $(DESTDIR)$(DOCDIR)/examples/plugin/Makefile
	$(if $(INSTALL_CONF),cmp -s $(INSTALL_CONF) $(DESTDIR)$(SYSCONFDIR)/weftd/weftd.yaml && rm -f $(DESTDIR)$(SYSCONFDIR)/weftd/weftd.yaml || true)
	-rmdir $(DESTDIR)$(INCLUDEDIR)/weft $(DESTDIR)$(DOCDIR)/examples/plugin $(DESTDIR)$(DOCDIR)/examples \
	  $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/weftd 2>/dev/null

clean:
	rm -rf build build-address build-thread build-fuzz build-arm64 build-mutate run

# The cached Debian root of `make test-systemd` (tests/systemd/run.sh) lives outside the
# tree and survives `make clean` (building it takes minutes); distclean removes it.
WEFT_NSPAWN_CACHE ?= /var/tmp/weft-nspawn-root
distclean: clean
	rm -rf $(WEFT_NSPAWN_CACHE)

# The target list at the top of this file.
help:
	@sed -n '/^#   make /,/^$$/p' Makefile | sed -n 's/^# \{0,1\}//p'

-include $(shell find build* -name '*.d' 2>/dev/null)
