# img-authz — Docker authorization plugin.
#
#   make demo    sandbox dockerd + registry + notary: a signed image runs, others are denied
#                (guards dockerd 28 with the containerd image store; DOCKERD=20.10 for 20.10)
#   make demo-fleet  two sandbox hosts switch policy by one signed `img-authz bundle push`
#   make test    every test: unit, decoder table, integration against real daemons
#                (dockerd 20.10 classic store and dockerd 28.5 containerd store;
#                MATRIX="28" for one of them)
#
# Managed plugin (the prior img-authz-plugin's targets and meaning):
#   make build          static binary + rootfs + config.json in $(PLUGIN_DIR)
#   make create         docker plugin create $(PLUGIN_NAME):$(PLUGIN_TAG) (left disabled)
#   make push           docker plugin push $(PLUGIN_NAME):$(PLUGIN_TAG)
#   make enable         docker plugin set (REGISTRY, NOTARY, NOTARY_ROOT_CA if given) and enable
#   make local_install  build create enable
#   make all            build create push
# Legacy plugin (systemd, socket activation):
#   make install / make uninstall   (DESTDIR and PREFIX honoured)
#
# Everything installs what it needs (Debian packages) and runs as root.

CARGO        ?= cargo
TRIPLE       := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
BIN          := target/debug/img-authz
RELEASE_BIN  := target/release/img-authz
STATIC_BIN   := target/$(TRIPLE)/release/img-authz

PLUGIN_NAME  ?= img-authz
PLUGIN_TAG   ?= $(shell uname -m)
PLUGIN_DIR   ?= build/plugin-$(PLUGIN_TAG)
STATE_DIR    ?= /var/lib/img-authz

PREFIX       ?= /usr/local
DESTDIR      ?=
UNITDIR      ?= /etc/systemd/system

.PHONY: demo demo-fleet test unit itest lint deps binary release static build clean-plugin create push enable \
        local_install all install uninstall clean

deps:
	@scripts/stack deps
	@command -v $(CARGO) >/dev/null || { echo "cargo (Rust) is required"; exit 1; }

binary:
	$(CARGO) build --locked

release:
	$(CARGO) build --locked --release

# A static binary (glibc static-pie): the plugin rootfs holds nothing else.
static:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --locked --release --target $(TRIPLE)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Every test target that needs neither the stack (tests/integration) nor
# the Go toolchain (tests/differential.rs builds tests/goref): the library and
# binary unit tests, and the tests/*.rs targets below. Some drive the plugin
# binary, which cargo builds for them; servers they need run on 127.0.0.1.
# A new tests/*.rs of that kind belongs in this list (TESTING.md). Then the
# doctests: their compile_fail cases prove what the library does not export
# (nextest, which `make test` uses, does not run doctests).
UNIT_TESTS = decoder policy server ownership policy_file cosign_fixtures parsers_fuzz \
             decision_log memory_notary memory_cosign
unit:
	$(CARGO) test --locked --lib --bins $(addprefix --test ,$(UNIT_TESTS))
	$(CARGO) test --locked --doc

# Integration tests need the real stack; scripts/stack starts and stops it.
# They run once per engine of MATRIX (scripts/matrix): dockerd 20.10 with the
# classic image store, then dockerd 28.5 with the containerd image store.
# `make test` runs every other test once, with the first engine.
MATRIX ?= 20.10 28

itest: deps binary build
	MATRIX="$(MATRIX)" IMG_AUTHZ_PLUGIN_DIR=$(CURDIR)/$(PLUGIN_DIR) scripts/matrix --test integration

test: deps lint binary build
	$(CARGO) test --locked --doc
	MATRIX="$(MATRIX)" IMG_AUTHZ_PLUGIN_DIR=$(CURDIR)/$(PLUGIN_DIR) scripts/matrix --workspace

# Long fuzzing (TESTING.md): the differential run against Go's stdlib for
# FUZZ_SECONDS, then every libFuzzer target under fuzz/ for
# FUZZ_TARGET_SECONDS each. Findings land in target/fuzz-findings.
FUZZ_SECONDS        ?= 600
FUZZ_TARGET_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	@command -v go >/dev/null || scripts/stack deps
	DIFF_SECONDS=$(FUZZ_SECONDS) $(CARGO) test --locked --release --test differential long_differential -- --ignored --nocapture
	scripts/fuzz $(FUZZ_TARGET_SECONDS)

# The guarded daemon is what a new install runs: dockerd 28 with the
# containerd image store. `make demo DOCKERD=20.10` guards the classic 20.10.
DOCKERD ?= 28
demo: deps release
	STACK_DOCKERD=$(DOCKERD) IMG_AUTHZ_BIN=$(CURDIR)/$(RELEASE_BIN) \
	  scripts/stack run "$$(mktemp -d /tmp/iaz-demo.XXXXXX)" -- scripts/demo

# Two hosts following one signed policy bundle (docs/fleet.md).
demo-fleet: deps release
	STACK_DOCKERD=$(DOCKERD) IMG_AUTHZ_BIN=$(CURDIR)/$(RELEASE_BIN) \
	  scripts/stack run "$$(mktemp -d /tmp/iaz-demo.XXXXXX)" -- scripts/demo-fleet

# Benchmarks (BENCHMARKS.md): release build, the real stack, criterion, load
# over the socket, notary lookup and docker run; raw results in target/bench-results.
.PHONY: bench
bench:
	scripts/bench

# --- managed plugin -------------------------------------------------------

clean-plugin:
	rm -rf $(PLUGIN_DIR)

# The rootfs is assembled from the static binary: no base image is pulled.
build: clean-plugin static
	install -d $(PLUGIN_DIR)/rootfs/usr/libexec $(PLUGIN_DIR)/rootfs/run/docker/plugins \
	  $(PLUGIN_DIR)/rootfs/run/img-authz $(PLUGIN_DIR)/rootfs/var/lib/img-authz \
	  $(PLUGIN_DIR)/rootfs/etc $(PLUGIN_DIR)/rootfs/tmp
	install -s -m 0755 $(STATIC_BIN) $(PLUGIN_DIR)/rootfs/usr/libexec/img-authz
	touch $(PLUGIN_DIR)/rootfs/etc/resolv.conf $(PLUGIN_DIR)/rootfs/etc/hosts
	install -m 0644 packaging/managed/config.json $(PLUGIN_DIR)/config.json

create:
	docker plugin rm -f $(PLUGIN_NAME):$(PLUGIN_TAG) 2>/dev/null || true
	docker plugin create $(PLUGIN_NAME):$(PLUGIN_TAG) $(PLUGIN_DIR)

push:
	docker plugin push $(PLUGIN_NAME):$(PLUGIN_TAG)

# Settings are given like the prior plugin's: make enable REGISTRY=... NOTARY=... NOTARY_ROOT_CA="$$(cat ca.crt)"
enable:
	install -d -m 0700 $(STATE_DIR)
	set -e; args=""; \
	  if [ -n "$(REGISTRY)" ]; then docker plugin set $(PLUGIN_NAME):$(PLUGIN_TAG) REGISTRY="$(REGISTRY)"; fi; \
	  if [ -n "$(NOTARY)" ]; then docker plugin set $(PLUGIN_NAME):$(PLUGIN_TAG) NOTARY="$(NOTARY)"; fi; \
	  if [ -n "$$NOTARY_ROOT_CA" ]; then docker plugin set $(PLUGIN_NAME):$(PLUGIN_TAG) NOTARY_ROOT_CA="$$NOTARY_ROOT_CA"; fi
	docker plugin enable $(PLUGIN_NAME):$(PLUGIN_TAG)
	@echo
	@echo "Now add \"authorization-plugins\": [\"$(PLUGIN_NAME):$(PLUGIN_TAG)\"] to /etc/docker/daemon.json"
	@echo "and reload dockerd: kill -HUP \$$(pidof dockerd)"

local_install: build create enable

all: build create push

# --- legacy plugin (systemd socket activation) ----------------------------

install: release
	install -D -m 0755 $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/img-authz
	install -D -m 0644 contrib/systemd/img-authz.socket $(DESTDIR)$(UNITDIR)/img-authz.socket
	sed 's|/usr/local/bin/img-authz|$(PREFIX)/bin/img-authz|' contrib/systemd/img-authz.service \
	  > $(DESTDIR)$(UNITDIR)/img-authz.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/img-authz.service
	install -d -m 0700 $(DESTDIR)/etc/img-authz $(DESTDIR)$(STATE_DIR)
	[ -e $(DESTDIR)/etc/img-authz/env ] || install -m 0600 contrib/img-authz.env.example $(DESTDIR)/etc/img-authz/env
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemctl daemon-reload && systemctl enable --now img-authz.socket; fi
	@echo
	@echo "Installed. Edit /etc/img-authz/env, then add to /etc/docker/daemon.json:"
	@echo '  { "authorization-plugins": ["img-authz"] }'
	@echo "and restart dockerd (systemctl restart docker). See README: Install on a host."

uninstall:
	@echo "Remove \"img-authz\" from authorization-plugins in /etc/docker/daemon.json and reload dockerd FIRST:"
	@echo "a daemon that names a missing plugin fails every API call, and refuses to start."
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemctl disable --now img-authz.socket img-authz.service || true; systemctl daemon-reload; fi
	rm -f $(DESTDIR)$(PREFIX)/bin/img-authz $(DESTDIR)$(UNITDIR)/img-authz.socket $(DESTDIR)$(UNITDIR)/img-authz.service
	@echo "Kept /etc/img-authz and $(STATE_DIR) (configuration and trusted roots); remove them by hand if wanted."

clean:
	$(CARGO) clean
	rm -rf build
