# lxlb - build, test, demo, bench. See README.md.
VERSION    := 0.1.0
BUILD      ?= build
CC         ?= cc
PKGS       := libevent libevent_openssl jansson openssl lxc libnghttp2
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

SRC        := $(wildcard conf/*.c lb/*.c health/*.c discovery/*.c admin/*.c acme/*.c)
OBJ        := $(SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ   := $(BUILD)/lb/main.o
LIB_OBJ    := $(filter-out $(MAIN_OBJ),$(OBJ))
LLHTTP_OBJ := $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o $(BUILD)/llhttp/llhttp.o
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps test unit integration lxc-test demo demo-stop demo-ha bench bench-route bench-h2 fuzz clean install uninstall

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

# The unit binary's own allocations go through a failing allocator
# (tests/unit/failalloc.h): tests make the Nth one fail.
UNIT_WRAP  := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup \
              -Wl,--wrap=strndup,--wrap=aligned_alloc
# The stream's server side, faked in tests/unit/test_stream.c (no sockets).
UNIT_WRAP  += -Wl,--wrap=sconn_connect,--wrap=sconn_adopt,--wrap=sconn_out \
              -Wl,--wrap=sconn_send,--wrap=sconn_room,--wrap=sconn_body \
              -Wl,--wrap=sconn_body_end,--wrap=sconn_resume,--wrap=sconn_release \
              -Wl,--wrap=sconn_free,--wrap=pool_take

$(BUILD)/unit: $(LIB_OBJ) $(UNIT_OBJ) $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) $(UNIT_WRAP) -o $@ $^ $(LDLIBS_ALL)

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

# libFuzzer over the request path, PROXY headers, routing and import-haproxy
# (clang), the time split between them; `make fuzz FUZZ_SECONDS=3600` for a long run.
FUZZ_SECONDS ?= 300
fuzz:
	tests/deps.sh
	tests/fuzz/run.sh $(FUZZ_SECONDS)

demo-stop:
	tests/lxc/demo.sh --stop

# Two balancers behind keepalived, a failover shown live (README "Two
# balancers, one address"); removes everything when done.
demo-ha:
	tests/deps.sh
	$(MAKE) all
	tests/lxc/demo_ha.sh $(BUILD)/lxlb

bench:
	tests/deps.sh
	$(MAKE) all
	bench/run.sh $(BUILD)/lxlb

# Nanoseconds per routing decision, 1,000 routes (bench/bench_route.c).
$(BUILD)/bench_route: $(BUILD)/bench/bench_route.o $(LIB_OBJ) $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

bench-route: $(BUILD)/bench_route
	$(BUILD)/bench_route

# HTTP/2 over TLS: h2load against lxlb, HAProxy and nginx (bench/h2.sh).
bench-h2: all
	bench/h2.sh $(BUILD)/lxlb

clean:
	rm -rf $(BUILD)

# Install as a Debian service (README "Install and run as a service").
# The configuration is always under /etc, whatever PREFIX. The unit goes where
# systemd looks for it: /lib/systemd/system for PREFIX=/usr (Debian's own
# units), $(PREFIX)/lib/systemd/system otherwise (/usr/local/lib/systemd/system
# is on systemd's search path). An existing lxlb.json is never overwritten.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/lxlb
SYSCONFDIR ?= /etc
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib,$(PREFIX)/lib)/systemd/system
DIST_SED   := -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/etc/lxlb/|$(SYSCONFDIR)/lxlb/|g'

install: $(BUILD)/lxlb
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/lxlb $(DESTDIR)$(SYSCONFDIR)/logrotate.d \
	    $(DESTDIR)$(DOCDIR)/examples
	install -m 755 $(BUILD)/lxlb $(DESTDIR)$(SBINDIR)/lxlb
	install -m 644 dist/lxlb.8 $(DESTDIR)$(MANDIR)/man8/lxlb.8
	install -m 644 dist/lxlb.json.5 $(DESTDIR)$(MANDIR)/man5/lxlb.json.5
	sed $(DIST_SED) dist/lxlb.service > $(DESTDIR)$(UNITDIR)/lxlb.service
	chmod 644 $(DESTDIR)$(UNITDIR)/lxlb.service
	install -m 644 dist/lxlb.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/lxlb
	install -m 644 dist/keepalived/keepalived.conf $(DESTDIR)$(DOCDIR)/examples/keepalived.conf
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/lxlb/lxlb.json ]; then \
	    echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/lxlb/lxlb.json (example: dist/lxlb.json)"; \
	else \
	    echo "install -m 640 dist/lxlb.json $(DESTDIR)$(SYSCONFDIR)/lxlb/lxlb.json"; \
	    install -m 640 dist/lxlb.json $(DESTDIR)$(SYSCONFDIR)/lxlb/lxlb.json; \
	fi
	@[ -n "$(DESTDIR)" ] || ! command -v systemctl >/dev/null || systemctl daemon-reload 2>/dev/null || true

# Leaves /etc/lxlb/lxlb.json, as dpkg leaves a conffile until purge.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/lxlb $(DESTDIR)$(MANDIR)/man8/lxlb.8 \
	    $(DESTDIR)$(MANDIR)/man5/lxlb.json.5 $(DESTDIR)$(UNITDIR)/lxlb.service \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d/lxlb $(DESTDIR)$(DOCDIR)/examples/keepalived.conf
	@rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/lxlb/ left in place"

-include $(OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(BUILD)/bench/bench_route.d
