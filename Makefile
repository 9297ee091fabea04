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

.PHONY: all build run test bench fuzz stress soak lint format deps-run deps-test deps-deb clean man dist-docs deb test-deb

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
	@$(MAKE) --no-print-directory test-deb

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

# The man pages (squall.1 generated from the argument parser, squall.toml.5 written by hand)
# and the shell completions, named as the Debian package installs them, into .build/dist/.
DIST := .build/dist
man: deps-run
	$(SWIFT) build -c release --product squall
	@$(MAKE) --no-print-directory dist-docs
	@echo "man pages and completions in $(DIST)"

# Used by `make man` and by debian/rules (with its own binary, build folder and DIST):
# argument-parser's generate-manual tool, built from the checkout SwiftPM already holds, reads
# SQUALL_BIN's help (the plugin form would build Squall a second time).
SQUALL_BIN ?= .build/release/squall
SCRATCH ?= .build
MAN_DATE ?= $(shell date -u +%Y-%m-%d)
dist-docs:
	$(SWIFT) build --package-path $(SCRATCH)/checkouts/swift-argument-parser \
	  --scratch-path $(SCRATCH)/tools --product generate-manual
	mkdir -p $(DIST)/man $(DIST)/completions
	$(SCRATCH)/tools/debug/generate-manual $(SQUALL_BIN) --date $(MAN_DATE) --output-directory $(DIST)/man
	cp docs/man/squall.toml.5 $(DIST)/man/
	@# bash sources its completions: no #! line (lintian's bash-completion-with-hashbang).
	$(SQUALL_BIN) --generate-completion-script bash | sed '1{/^#!/d}' > $(DIST)/completions/squall
	$(SQUALL_BIN) --generate-completion-script zsh > $(DIST)/completions/_squall
	$(SQUALL_BIN) --generate-completion-script fish > $(DIST)/completions/squall.fish

# The Debian package: squall_VERSION_amd64.deb (and its -dbgsym, .buildinfo and .changes) in
# DEB_OUT, built by dpkg-buildpackage from debian/ with the binary linked against a static
# Swift runtime (debian/rules says how), then checked by lintian (an error fails the build).
# Built in this tree (the package's own build folder is .build/deb), so the output goes to
# DEB_OUT rather than to the parent directory.
DEB_OUT := .build/debian
DEB_PACKAGES := dpkg-dev debhelper fakeroot lintian debootstrap
deps-deb:
	$(call apt_install,$(RUN_PACKAGES) $(DEB_PACKAGES) python3 curl)

deb: deps-deb
	rm -rf $(DEB_OUT) debian/squall debian/squall-dbgsym debian/.debhelper debian/dist debian/files \
	  debian/*.substvars debian/*.debhelper debian/*.debhelper.log debian/debhelper-build-stamp
	mkdir -p $(DEB_OUT)
	SWIFT=$(SWIFT) DEB_DESTDIR=$(CURDIR)/$(DEB_OUT) dpkg-buildpackage -b -us -uc --no-pre-clean \
	  --buildinfo-option=-u$(CURDIR)/$(DEB_OUT) --changes-option=-u$(CURDIR)/$(DEB_OUT) \
	  --buildinfo-file=$(CURDIR)/$(DEB_OUT)/squall_$$(dpkg-parsechangelog -S Version)_$$(dpkg-architecture -qDEB_HOST_ARCH).buildinfo \
	  --changes-file=$(CURDIR)/$(DEB_OUT)/squall_$$(dpkg-parsechangelog -S Version)_$$(dpkg-architecture -qDEB_HOST_ARCH).changes
	lintian --fail-on error $(DEB_OUT)/*.changes
	@ls $(DEB_OUT)/*.deb

# The package's test (Tests/Package/run): lintian, the binary's links, and an install into a
# clean Debian 12 root made by debootstrap, where it runs. Part of `make test`.
test-deb: deb
	bash Tests/Package/run

# The code keeps to .swift-format; `make format` rewrites files to it.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Benchmarks Package.swift

format:
	$(SWIFT) format -i -r Sources Tests Benchmarks Package.swift

clean:
	rm -rf .build
