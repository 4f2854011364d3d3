# SPDX-License-Identifier: MIT
# weftd and weftctl. The daemon sees libweft through <weft/*.h> only (the
# top-level CFLAGS give -Ilib/include; `make check-layers` enforces it) and its
# own modules as "folder/module.h".
CFLAGS_daemon := -Idaemon
CFLAGS_daemon += -DWEFT_VERSION='"$(VERSION)"'

DAEMON_MAINS := daemon/weftd.c $(wildcard daemon/weftctl/*.c)
DAEMON_C     := $(filter-out $(DAEMON_MAINS) daemon/plugins/%,$(wildcard daemon/*.c daemon/*/*.c))
DAEMON_OBJS  := $(DAEMON_C:%.c=$(BUILD)/%.o)
DAEMON_A     := $(BUILD)/daemon/libweftd.a
WEFTD        := $(BUILD)/weftd
WEFTCTL      := $(BUILD)/weftctl
WEFTCTL_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard daemon/weftctl/*.c))
PLUGINS      := $(patsubst daemon/plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard daemon/plugins/*.c))
BINS         := $(WEFTD) $(WEFTCTL)

$(DAEMON_A): $(DAEMON_OBJS)
	@mkdir -p $(@D); rm -f $@
	$(AR) rcs $@ $^
# weftd allocates a job on one proc and frees it on another, in bursts: glibc's malloc
# spends a third of the daemon's time there (arena locks, heap trimmed and regrown).
# jemalloc, as Redis links it; the sanitizers bring their own allocator.
$(WEFTD): MALLOC_LIBS = $(if $(SAN),,$(shell pkg-config --libs jemalloc 2>/dev/null))
$(WEFTD): $(BUILD)/daemon/weftd.o $(DAEMON_A) $(LIB_A)
	$(CC) -o $@ $< $(DAEMON_A) -Wl,--whole-archive $(LIB_A) -Wl,--no-whole-archive $(LDFLAGS) $(PKG_LIBS) $(MALLOC_LIBS) -ldl -lm -rdynamic
$(WEFTCTL): $(WEFTCTL_OBJS) $(DAEMON_A) $(LIB_A)
	$(CC) -o $@ $(WEFTCTL_OBJS) $(DAEMON_A) $(LIB_A) $(LDFLAGS) $(PKG_LIBS) -ldl -lm
# Plugins see only the plugin ABI header.
$(BUILD)/plugins/%.so: daemon/plugins/%.c daemon/actions/weftd_plugin.h | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Idaemon/actions -shared -o $@ $< $(LDFLAGS)

# The daemon meets libweft at its public headers; its folders are layers; files stay small.
check-layers:
	@bash tests/check_layers.sh
