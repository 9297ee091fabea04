# Squall: `make run` starts the tracker, `make test` runs every test. Both install what is
# missing with apt-get first (as root on Debian 12).
SHELL := /bin/bash
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
# Debian packages: OpenSSL to build and serve HTTPS (and its CLI for the development
# certificate), hiredis to build the Redis store and MariaDB Connector/C for a private tracker's
# site database; the tests add curl, redis-server, mariadb-server (each test starts its own on a
# free port) and real BitTorrent clients for the interop tests, Chromium for the page and
# python3 (its ssl module speaks TLS over memory BIOs, for a client that sends close_notify
# right behind a request).
RUN_PACKAGES := libssl-dev openssl pkg-config libhiredis-dev libmariadb-dev libjs-jquery libjs-jquery-datatables libjs-chart.js
TEST_PACKAGES := $(RUN_PACKAGES) curl redis-server mariadb-server mariadb-client aria2 transmission-cli python3-libtorrent chromium python3 haproxy systemd prometheus
ARGS ?=
# HTTPS for `make run`: a development certificate from certs/make-dev-cert.sh.
DEV_CERTS := certs/dev
TLS_ARGS ?= --https [::]:6970 --tls-cert $(DEV_CERTS)/server.pem --tls-key $(DEV_CERTS)/server.key

.PHONY: all build run test bench fuzz stress soak lint format deps-run deps-test clean man

all: build

build:
	$(SWIFT) build

# Installs the named Debian packages that are not installed yet.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@[ -x "$(SWIFT)" ] || command -v "$(SWIFT)" >/dev/null || { echo "no Swift 6 toolchain: put swift on PATH or set SWIFT=/path/to/swift"; exit 1; }
endef

deps-run:
	$(call apt_install,$(RUN_PACKAGES))

deps-test:
	$(call apt_install,$(TEST_PACKAGES))

# Starts the tracker with the memory store: HTTP on [::]:6969 and HTTPS on [::]:6970 (IPv4 and
# IPv6) with a development certificate. Extra flags: ARGS="..."; TLS_ARGS="" serves no HTTPS.
run: deps-run
	$(SWIFT) build -c release --product squall
	@bash certs/make-dev-cert.sh $(DEV_CERTS)
	@echo "squall: announce at http://localhost:6969/announce and https://localhost:6970/announce"
	@echo "squall: HTTPS clients must trust $(DEV_CERTS)/ca.pem, e.g. curl --cacert $(DEV_CERTS)/ca.pem https://localhost:6970/health"
	.build/release/squall --config Config/squall.toml $(TLS_ARGS) $(ARGS)

# The suite takes under a minute; a run past TEST_TIMEOUT seconds is a hang (a completion that
# never comes), and fails with a message instead of holding CI until its own limit.
TEST_TIMEOUT ?= 1200

# Every log the suite writes, and every secret it used, go to TEST_LOGS; Tests/check-secrets
# then fails if any secret is in any log.
TEST_LOGS := $(CURDIR)/.build/test-logs

test: deps-test lint
	$(SWIFT) build --build-tests
	@rm -rf $(TEST_LOGS)
	@SQUALL_TEST_LOG_DIR=$(TEST_LOGS) timeout --kill-after=10 $(TEST_TIMEOUT) $(SWIFT) test --skip-build --disable-xctest; rc=$$?; \
	if [ $$rc -eq 124 ] || [ $$rc -eq 137 ]; then echo "make test: the tests did not finish within $(TEST_TIMEOUT) s (a hang)"; fi; exit $$rc
	@bash Tests/check-secrets $(TEST_LOGS)

# Squall against nginx and opentracker, same load, same run (Benchmarks/run documents knobs).
bench: deps-run
	bash Benchmarks/run

# libFuzzer on the pure parsers, FUZZ_SECONDS (180) per target; fails on any finding
# (Tests/Fuzz/run documents knobs). Not part of `make test`.
fuzz: deps-run
	bash Tests/Fuzz/run

# The abuse and fault suite (Tests/TrackerServerTests/StressTests.swift) in its long form,
# against the release binary: more clients, longer runs, the latency bounds, the 2 GiB TLS
# write. Each scenario prints `stress: NAME: PASS|FAIL: criterion`. Its short form runs in
# `make test`.
stress: deps-test
	$(SWIFT) build -c release --product squall
	$(SWIFT) build --build-tests
	@ulimit -Sn $$(ulimit -Hn); SQUALL_STRESS=1 SQUALL_BINARY=$(CURDIR)/.build/release/squall \
	  timeout --kill-after=10 $(TEST_TIMEOUT) $(SWIFT) test --skip-build --disable-xctest --filter 'StressTests|TLSChunkTests|aHugeStaleTorrentIsSweptInShortCalls' 2>&1 | \
	  tee .build/stress.log | grep -E '^stress:|passed after|failed after|error'; exit $${PIPESTATUS[0]}

# A release Squall under steady load for SOAK_MINUTES (30) with RSS, descriptors and probe p99
# sampled and plotted (Tests/Soak/run documents knobs; SOAK_SANITIZER=address|thread).
soak: deps-test
	$(call apt_install,wrk gnuplot-nox)
	bash Tests/Soak/run

# The man page (generated from the argument parser) and the shell completions, into
# .build/dist/ (what the Debian package installs).
DIST := .build/dist
man: deps-run
	$(SWIFT) build -c release --product squall
	$(SWIFT) package --allow-writing-to-package-directory generate-manual
	mkdir -p $(DIST)/man $(DIST)/completions
	cp .build/plugins/GenerateManual/outputs/squall/squall.1 docs/man/squall.toml.5 $(DIST)/man/
	.build/release/squall --generate-completion-script bash > $(DIST)/completions/squall.bash
	.build/release/squall --generate-completion-script zsh > $(DIST)/completions/_squall
	.build/release/squall --generate-completion-script fish > $(DIST)/completions/squall.fish
	@echo "man page and completions in $(DIST)"

# The code keeps to .swift-format; `make format` rewrites files to it.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Benchmarks Package.swift

format:
	$(SWIFT) format -i -r Sources Tests Benchmarks Package.swift

clean:
	rm -rf .build
