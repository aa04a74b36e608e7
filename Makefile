# lxlb - build, test, demo, bench. See README.md.
VERSION    := 0.1.0
BUILD      ?= build
CC         ?= cc
PKGS       := libevent libevent_openssl jansson openssl lxc
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp

OPT        ?= -O2
CFLAGS_ALL := -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE \
              -DLXLB_VERSION='"$(VERSION)"' -I. -I$(LLHTTP_INC) \
              -DLLHTTP_STRICT_MODE=1 \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS_ALL := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread $(LDLIBS)

ifeq ($(SANITIZE),1)
CFLAGS_ALL += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS    += -fsanitize=address,undefined
endif

# Rebuild everything when the flags change (e.g. SANITIZE=1 after a plain build).
FLAGS_STAMP := $(BUILD)/.flags-$(shell echo '$(CC) $(CFLAGS_ALL) $(LDFLAGS)' | md5sum | cut -c1-12)

SRC        := $(wildcard conf/*.c lb/*.c health/*.c discovery/*.c admin/*.c)
OBJ        := $(SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ   := $(BUILD)/lb/main.o
LIB_OBJ    := $(filter-out $(MAIN_OBJ),$(OBJ))
LLHTTP_OBJ := $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o $(BUILD)/llhttp/llhttp.o
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps test unit integration lxc-test demo demo-stop bench fuzz clean install

all: $(BUILD)/lxlb

$(FLAGS_STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.flags-*
	@find $(BUILD) -name '*.o' -delete 2>/dev/null || true
	@touch $@

$(BUILD)/lxlb: $(OBJ) $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

# Debian's node-llhttp ships the generated C parser; we compile it, never copy it.
$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Wall -Wextra -Werror,$(CFLAGS_ALL)) -w -c -o $@ $<

$(BUILD)/unit: $(LIB_OBJ) $(UNIT_OBJ) $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

deps:
	tests/deps.sh

unit: $(BUILD)/unit
	$(BUILD)/unit

integration: $(BUILD)/lxlb
	LXLB=$(BUILD)/lxlb /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

lxc-test: $(BUILD)/lxlb
	LXLB=$(BUILD)/lxlb tests/lxc/run.sh

# Everything CI runs: installs what it needs, builds, runs every test.
test:
	tests/deps.sh
	$(MAKE) all $(BUILD)/unit
	tests/run-all.sh $(BUILD)

demo:
	tests/deps.sh
	$(MAKE) all
	tests/lxc/demo.sh $(BUILD)/lxlb

demo-stop:
	tests/lxc/demo.sh --stop

bench:
	tests/deps.sh
	$(MAKE) all
	bench/run.sh $(BUILD)/lxlb

clean:
	rm -rf $(BUILD)

-include $(OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
