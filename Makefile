# img-authz — Docker authorization plugin.
#
#   make demo    sandbox dockerd + registry + notary: a trusted image runs, others are denied
#   make test    every test: unit, decoder table, and integration against real daemons
#
# Both install what they need (Debian packages) and run as root.

CARGO        ?= cargo
BIN          := target/debug/img-authz
RELEASE_BIN  := target/release/img-authz

.PHONY: demo test unit itest lint deps binary release clean

deps:
	@scripts/stack deps
	@command -v $(CARGO) >/dev/null || { echo "cargo (Rust) is required"; exit 1; }

binary:
	$(CARGO) build --locked

release:
	$(CARGO) build --locked --release

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Unit tests need no daemon.
unit:
	$(CARGO) test --locked --lib --bins --test decoder --test policy --test server

# Integration tests need the real stack; scripts/stack starts and stops it.
itest: deps binary
	scripts/stack run "$$(mktemp -d /tmp/iaz-test.XXXXXX)" -- scripts/nextest --test integration

test: deps lint binary
	scripts/stack run "$$(mktemp -d /tmp/iaz-test.XXXXXX)" -- scripts/nextest --workspace

demo: deps release
	IMG_AUTHZ_BIN=$(CURDIR)/$(RELEASE_BIN) scripts/stack run "$$(mktemp -d /tmp/iaz-demo.XXXXXX)" -- scripts/demo

clean:
	$(CARGO) clean
