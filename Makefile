# causeway build. Targets: all (library + program), check (all tests), bench, asan, demo, clean.
# Sources are found by wildcard: a new file under src/ or tests/ needs no edit here.

CC ?= cc
BUILD ?= build
NATIVE ?= 0
ARCH := $(if $(filter 1,$(NATIVE)),-march=native,-march=x86-64-v3)

PKG_CFLAGS := $(shell pkg-config --cflags hdf5 jansson openblas 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs hdf5 jansson openblas 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
# MPI data-parallel training (src/core/dist.c) when Open MPI's pkg-config file is installed;
# MPI=0 builds the one-process stubs.
MPI ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(MPI),1)
PKG_CFLAGS += -DCW_HAVE_MPI $(shell pkg-config --cflags ompi-c)
PKG_LIBS += $(shell pkg-config --libs ompi-c)
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wvla
CFLAGS ?= -O3 -g
override CFLAGS += -std=c11 -D_POSIX_C_SOURCE=200809L -fno-math-errno -fopenmp $(ARCH) $(WARN) \
          -Iinclude -Isrc -I/usr/include/liblzf $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS := $(PKG_LIBS) -llapacke -llzf -lm
override LDFLAGS += -fopenmp $(EXTRA_LDFLAGS)

LIB_SRC := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB := $(BUILD)/libcauseway.a
PROG := $(BUILD)/causeway

.PHONY: all check bench asan demo clean deps tests FORCE
all: $(PROG)

# Everything is rebuilt when the flags change (MPI=0/1, CFLAGS, NATIVE, ...): the objects depend
# on a file holding the flags, rewritten only when they differ from the last build's.
FLAGS_STAMP := $(BUILD)/.build-flags
FLAGS_NOW := $(CC) $(CFLAGS) | $(LDFLAGS) $(LDLIBS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@if [ x'$(FLAGS_NOW)' != x"$$(cat $@ 2>/dev/null)" ]; then echo '$(FLAGS_NOW)' > $@; fi

# Leaky-ReLU blends (src/nn/activation.c header): no trapping math, values unchanged.
$(BUILD)/src/nn/activation.o: override CFLAGS += -fno-trapping-math

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(PROG): $(CLI_OBJ) $(LIB) $(FLAGS_STAMP)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(LIB) $(CLI_SRC) $(wildcard src/*/*.h) \
                  $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS) $(CMOCKA_LIBS)

tests: $(TEST_BIN) $(PROG)

# Runs every test binary; prints the cmocka summary of each and a final "N passed, N failed".
check: tests
	@CW_BUILD=$(BUILD) sh scripts/run-tests.sh $(TEST_BIN)

bench: $(PROG)
	$(PROG) bench all

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" check

demo: $(PROG)
	sh scripts/demo.sh

deps:
	sh scripts/install-deps.sh

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
