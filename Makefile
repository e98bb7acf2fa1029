# Common tasks. `make demo` and `make test` are the two set-up commands.

PREFIX ?= /usr/local
CARGO ?= cargo
# The release build names its target explicitly, so that the flags below
# apply to the binary but not to build scripts and proc macros.
TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
# On glibc Linux the release binary links the C library statically: with
# no dynamic loader to run, a cached `get` starts in about half the
# instructions. glibc's own `files` and `dns` host lookup still work;
# NSS modules loaded from shared libraries (such as `mymachines`) do not.
ifneq ($(findstring linux-gnu,$(TRIPLE)),)
RELEASE_RUSTFLAGS := -C target-feature=+crt-static
endif
# The binary `install-files` copies; `install` builds it first. It follows
# CARGO_TARGET_DIR, as cargo does.
BINARY ?= $(or $(CARGO_TARGET_DIR),target)/$(TRIPLE)/release/biganimal-credential

.PHONY: all build demo test test-emulator test-unit oidc-fixture bench install install-files clean fuzz fuzz-all

all: build

build:
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) build --release --locked --target $(TRIPLE)

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

# Measures the cached path, the refresh path and concurrency with hyperfine
# and writes docs/benchmarks.md.
bench: build
	BENCH_BINARY=$(BINARY) bash tests/support/secret-service-session.sh bash scripts/bench.sh

# Installs the npm packages of the oidc-provider fixture that
# tests/oidc_conformance.rs runs; without them those tests skip outside CI.
oidc-fixture:
	cd tests/fixtures/oidc-provider && npm ci --no-audit --no-fund

install: build
	$(MAKE) install-files

# Where shells and man look for their files under PREFIX.
BASH_COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions
ZSH_COMPLETION_DIR ?= $(PREFIX)/share/zsh/site-functions
FISH_COMPLETION_DIR ?= $(PREFIX)/share/fish/vendor_completions.d
MAN1_DIR ?= $(PREFIX)/share/man/man1

# Installs the binary; as relative symbolic links next to it, the names
# under which it speaks git's and docker's credential-helper protocols;
# and the shell completions and man pages, which the binary generates
# from its own option definitions (`biganimal-credential generate`).
install-files:
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINARY) $(DESTDIR)$(PREFIX)/bin/biganimal-credential
	ln -sf biganimal-credential $(DESTDIR)$(PREFIX)/bin/git-credential-biganimal
	ln -sf biganimal-credential $(DESTDIR)$(PREFIX)/bin/docker-credential-biganimal
	install -d $(DESTDIR)$(BASH_COMPLETION_DIR) $(DESTDIR)$(ZSH_COMPLETION_DIR) \
		$(DESTDIR)$(FISH_COMPLETION_DIR) $(DESTDIR)$(MAN1_DIR)
	$(BINARY) generate completion bash > $(DESTDIR)$(BASH_COMPLETION_DIR)/biganimal-credential
	$(BINARY) generate completion zsh > $(DESTDIR)$(ZSH_COMPLETION_DIR)/_biganimal-credential
	$(BINARY) generate completion fish > $(DESTDIR)$(FISH_COMPLETION_DIR)/biganimal-credential.fish
	$(BINARY) generate man --out-dir $(DESTDIR)$(MAN1_DIR)
	chmod 0644 $(DESTDIR)$(BASH_COMPLETION_DIR)/biganimal-credential \
		$(DESTDIR)$(ZSH_COMPLETION_DIR)/_biganimal-credential \
		$(DESTDIR)$(FISH_COMPLETION_DIR)/biganimal-credential.fish \
		$(DESTDIR)$(MAN1_DIR)/biganimal-credential*.1

clean:
	$(CARGO) clean

# Fuzzing with cargo-fuzz (`cargo install cargo-fuzz --locked`), one target
# at a time: `make fuzz TARGET=http_reply SECONDS=300`, or every target in
# turn with `make fuzz-all SECONDS=60`. See docs/fuzzing.md.
SECONDS ?= 60

fuzz:
	bash fuzz/run.sh $(TARGET) $(SECONDS)

fuzz-all:
	bash fuzz/run.sh all $(SECONDS)
