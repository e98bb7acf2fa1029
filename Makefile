# Common tasks. `make demo` and `make test` are the two set-up commands.

PREFIX ?= /usr/local
CARGO ?= cargo

.PHONY: all build demo test test-emulator test-unit install clean

all: build

build:
	$(CARGO) build --release --locked

# Runs the main job against the local BigAnimal emulator.
demo:
	bash scripts/demo.sh

# Runs the emulator's own tests, then every Rust test inside a private
# D-Bus session with a fresh, unlocked gnome-keyring, so the Secret
# Service tests use the real thing.
test: test-emulator
	bash tests/support/secret-service-session.sh $(CARGO) test --locked --no-fail-fast

test-emulator:
	python3 -m unittest discover -s emulator -p 'test_*.py'

# Unit and integration tests without the Secret Service session; the
# keychain tests skip themselves outside CI.
test-unit:
	$(CARGO) test --locked --no-fail-fast

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 target/release/biganimal-credential $(DESTDIR)$(PREFIX)/bin/biganimal-credential

clean:
	$(CARGO) clean
