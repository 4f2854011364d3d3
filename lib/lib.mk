# SPDX-License-Identifier: MIT
# libweft: lib/*.c and the switch in assembly, as a static and a shared library.
# lib/ sees its private headers; nothing outside lib/ and its tests does.
CFLAGS_lib := -Ilib

LIB_C    := $(wildcard lib/*.c)
LIB_S    := $(wildcard lib/*.S)
LIB_OBJS := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_S:%.S=$(BUILD)/%.o)
LIB_A    := $(BUILD)/lib/libweft.a
LIB_SO   := $(BUILD)/lib/libweft.so

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(@D); rm -f $@
	$(AR) rcs $@ $^
$(LIB_SO): $(LIB_OBJS) lib/libweft.map
	$(CC) -shared -o $@ $(LIB_OBJS) -Wl,--version-script=lib/libweft.map -Wl,-soname,libweft.so.0 $(LDFLAGS) $(PKG_LIBS)
