# weft — the library, the daemon, the tests and the benchmarks. This file holds
# the settings and the set-up; each folder's rules are in its own fragment:
# lib/lib.mk, daemon/daemon.mk, tests/tests.mk.
#
#   make            build lib/libweft.{a,so}, weftd, weftctl, plugins
#   make deps       install the missing Debian packages (every goal below runs it)
#   make test       unit + integration tests   (SAN=address | SAN=thread for sanitizer runs)
#   make bench      benchmarks, one "name value unit" line per figure
#   make run        run weftd on conf/weftd.yaml
#   make fuzz       build the libFuzzer targets (clang); make fuzz-run runs each briefly
#   make test-cross-arm64  the aarch64 context switch and stacks, cross-built, under qemu-user
#   make check-layers      the daemon uses libweft's public headers only
#   make test BACKEND=epoll  the tests on libweft's epoll back end (WEFT_BACKEND)
#   make test-noiouring    the integration tests with io_uring denied by seccomp
#   make mutate     mutation testing (MUTATE_MODULES=, MUTATE_MAX=N): tests/mutate/mutate.py
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
CFLAGS     ?= -O2 -g
SAN        ?=
# The one place the version is defined: the daemon, weftctl and weft.pc read it.
VERSION    := 0.1.0

.PHONY: all deps test unit integration bench run fuzz fuzz-run install clean help \
	test-systemd test-cross-arm64 check-layers mutate test-noiouring
.SECONDARY:
all:

# ---- Debian packages ---------------------------------------------------------
# `make deps` installs what is missing; every build rule depends on it (order
# only), so pkg-config below is asked after the install. The goal-specific
# lists are added by the goals that need them.
DEB_PKGS := gcc make pkg-config liburing-dev libyaml-dev libsystemd-dev libjansson-dev \
            libjemalloc-dev libcmocka-dev socat libssl-dev libseccomp-dev
DEB_PKGS_fuzz    := clang libclang-rt-14-dev
DEB_PKGS_systemd := debootstrap systemd-container
# pkg:arch names are Debian multiarch packages: their architecture is added first.
DEB_PKGS_cross   := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static libcmocka-dev:arm64
DEB_WANT := $(DEB_PKGS) \
	$(if $(filter fuzz fuzz-run,$(MAKECMDGOALS)),$(DEB_PKGS_fuzz)) \
	$(if $(filter test-systemd,$(MAKECMDGOALS)),$(DEB_PKGS_systemd)) \
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
PKGS  := liburing yaml-0.1 libsystemd jansson libcrypto
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

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CFLAGS_$(firstword $(subst /, ,$<))) -c $< -o $@
$(BUILD)/%.o: %.S | deps
	@mkdir -p $(@D)
	$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) $(CFLAGS_$(firstword $(subst /, ,$<))) -c $< -o $@

include lib/lib.mk
include daemon/daemon.mk
include tests/tests.mk

all: $(LIB_A) $(LIB_SO) $(BINS) $(PLUGINS)

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

clean:
	rm -rf build build-address build-thread build-fuzz build-arm64 build-mutate run

help:
	@sed -n '5,14p' Makefile | sed 's/^# \{0,1\}//'

-include $(shell find build* -name '*.d' 2>/dev/null)
