# lifeboat — see README.md.  `make` builds build/lifeboat, `make test` runs the suite.
# Variants: make BUILD=build/asan SAN=1 (ASan+UBSan), make BUILD=build/fi FI=1
# (fault injection for the crash-point sweep).

BUILD ?= build
CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter -Wformat=2 -Wvla
CPPFLAGS += -D_GNU_SOURCE -Ilib -Irescue-agent
# libarchive, the decompressors and libsodium are linked statically: Debian's shared
# libarchive drags in libxml2, ICU, nettle and more that lifeboat never uses
# (5 MiB of resident memory at start, and far too much for the rescue initramfs).
LIBS := -Wl,-Bstatic -larchive -lz -llzma -lzstd -lbz2 -llz4 -lsodium -Wl,-Bdynamic -ldl -lpthread

ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(FI),1)
CPPFLAGS += -DLB_FAULT_INJECTION
endif

ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(CPPFLAGS)

LIB_SRC := $(wildcard lib/*.c)
AGENT_SRC := $(filter-out rescue-agent/main.c,$(wildcard rescue-agent/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
AGENT_OBJ := $(AGENT_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/replay/%)

.PHONY: all deps test unit integration replay sanitize crashsweep fuzz bench demo demo-engine clean lint format initramfs

all: deps $(BUILD)/lifeboat $(BUILD)/lifeboat-master

deps:
	@scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c $(wildcard lib/*.h rescue-agent/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/liblifeboat.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lifeboat: $(BUILD)/obj/rescue-agent/main.o $(AGENT_OBJ) $(BUILD)/liblifeboat.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# lifeboat-master (the build server's tool): master/*.c, libsolv linked dynamically;
# libdivsufsort (the delta encoder, lib/bdiff.c) only here and in the tests, never in
# lifeboat: the device only applies deltas (lib/bpatch.c). It comes before $(LIBS): the
# static libzstd.a has a divsufsort() of its own (dictBuilder, another signature)
MASTER_SRC := $(wildcard master/*.c)
MASTER_OBJ := $(MASTER_SRC:%.c=$(BUILD)/obj/%.o)
$(MASTER_OBJ): $(wildcard master/*.h)

$(BUILD)/lifeboat-master: $(MASTER_OBJ) $(BUILD)/liblifeboat.a
	$(CC) $(LDFLAGS) -o $@ $^ -ldivsufsort $(LIBS) -lsolv -lsolvext

$(BUILD)/tests/%: tests/unit/%.c $(AGENT_OBJ) $(BUILD)/liblifeboat.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ -ldivsufsort $(LIBS) -lcmocka

$(BUILD)/replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(AGENT_OBJ) $(BUILD)/liblifeboat.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ -ldivsufsort $(LIBS)

# The whole suite: unit, integration, fuzz-corpus replay, the crash-point sweep,
# then unit + integration + replay again under ASan/UBSan.
test: deps
	@tests/run-all.sh

unit: $(UNIT_BIN)
integration: $(BUILD)/lifeboat $(BUILD)/lifeboat-master
replay: $(REPLAY_BIN)

fuzz: deps
	@tests/fuzz/run-fuzz.sh

bench: deps $(BUILD)/lifeboat
	@tests/bench/run.sh

# the main job: a device in QEMU updated, broken and rescued (scripts/demo.sh);
# demo-engine: the package engine alone on a throwaway root, in seconds
demo: deps
	@scripts/demo.sh

demo-engine: deps $(BUILD)/lifeboat
	@scripts/demo-engine.sh

lint:
	@scripts/lint.sh

# The rescue system: Debian's kernel, BusyBox, kexec-tools, e2fsprogs, mtd-utils
# (scripts/fetch-debs.sh unpacks them into build/sysroot), lifeboat and its libraries,
# packed by scripts/build-initramfs.sh. PUBKEY=FILE pins the master's key in it.
SYSROOT ?= build/sysroot
initramfs: deps $(BUILD)/initramfs.cpio.xz

$(SYSROOT)/KVER:
	@scripts/fetch-debs.sh

$(BUILD)/initramfs.cpio.xz: $(BUILD)/lifeboat $(SYSROOT)/KVER scripts/build-initramfs.sh \
		initramfs/init initramfs/modules.txt $(PUBKEY)
	@SYSROOT=$(SYSROOT) BUILD=$(BUILD) PUBKEY=$(PUBKEY) scripts/build-initramfs.sh

clean:
	rm -rf build
