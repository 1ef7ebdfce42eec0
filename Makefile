SHELL := /bin/bash
# qnet — `make test` is the whole check: it installs what the tests need on a fresh
# Debian 12 machine (idempotently), builds, and runs every test tier, then builds the
# static release binary once and checks `make install` and `make deb` with it
# (Tests/Install/install-test.sh). Run it as root so the privileged tests (each in its own
# network namespace) run; with CI=true they must.

SWIFT ?= swift
# Debian packages the tests use as witnesses and peers (qnet itself runs none of them but
# QEMU, qemu-img, dnsmasq, nft and passt; see packaging/debian/control.in).
TEST_PACKAGES := iproute2 strace iputils-ping kmod qemu-system-x86 qemu-utils busybox-static linux-image-amd64 \
	dnsmasq-base dhcpcd-base iperf3 cpio nftables iptables passt util-linux gzip tcpdump \
	dpkg-dev man-db systemd zsh fish lintian libcap2-bin graphviz python3-minimal frr
BENCH_PACKAGES := bridge-utils

# ---------------------------------------------------------------------------------------
# The release build: Swift runtime, Foundation and ICU linked in (--static-swift-stdlib),
# so the binary runs on machines without the Swift toolchain (`ldd` lists only glibc's
# libraries and libgcc/libstdc++). `make demo`, `make bench`, `make install` and
# `make deb` all use this one build.
# --disable-local-rpath: no RUNPATH $ORIGIN, which only made the loader look for glibc's
# libraries in the build folder first (22 failed opens at every start).
# libstdc++ is linked in as well (it is under the GCC Runtime Library Exception): loading
# libstdc++.so.6 cost every start 1.8 M instructions of symbol relocations and 40 page
# faults. The Swift driver asks for it with a plain -lstdc++, so a linker script named
# libstdc++.so in a directory on the search path hands the linker the static archive.
# -no-pie: a position-dependent executable needs no relative relocations. As a PIE the
# binary has 86,000 (Swift metadata, Foundation's and ICU's tables), and applying them at
# every start writes to about 250 pages of its data, each a copy-on-write page fault
# (perf stat: 437 faults against 205); packing them (DT_RELR, glibc >= 2.36) only shrinks
# their table from 2 MB to 16 KB, not those faults. Measured side by side in one
# `make bench` run (BENCHMARKS.md, (e) and (f)): `qnet --version` and QEMU's hook as
# shipped and as a PIE with DT_RELR. The price: the executable's own code is not at a
# random address (shared libraries, heap and stack still are), as with Go's default
# builds; hence the lintian override. PIE=1 links a PIE with DT_RELR instead. The
# programs given a file capability (CAP_NET_ADMIN_PROGRAMS, run by unprivileged users)
# are always PIEs: there the layout's randomness matters more than a millisecond.
# --no-export-dynamic: the static-stdlib link exports every public symbol of qnet's own
# modules (-export-dynamic in the toolchain's static-stdlib-args.lnk): 8,600 dynamic
# symbols that nothing looks up, but that the Swift runtime's start-up dladdr() (its
# backtracer locating itself) scans one by one, 4 % of a hook's CPU time (perf).
# lld (the toolchain's; gold cannot pack relative relocations) links both, so PIE or not
# is a link flag only: switching relinks, it recompiles nothing.
STATIC_CXX_DIR := .build/static-libstdc++
RELEASE_FLAGS := -c release --static-swift-stdlib --disable-local-rpath -Xlinker -L$(CURDIR)/$(STATIC_CXX_DIR) \
	-Xswiftc -use-ld=lld -Xlinker --no-export-dynamic
PIE_LAYOUT := -Xlinker -z -Xlinker pack-relative-relocs
RELEASE_LAYOUT := $(if $(PIE),$(PIE_LAYOUT),-Xlinker -no-pie)
RELEASE_DIR := .build/release

# What `make install` installs; each later addition is one word on one of these lines.
#   BIN_PROGRAMS      executables in BINDIR (with a man page per command, and completions)
#   LIBEXEC_PROGRAMS  helper executables in LIBEXECDIR (e.g. qnet-bridge-helper)
#   HOOK_LINKS        QEMU script=/downscript= hooks in LIBEXECDIR: symlinks to BINDIR/qnet
#   UNITS             systemd units: every file in packaging/systemd (@BINDIR@ and
#                     @LIBEXECDIR@ in them are replaced by the install paths)
BIN_PROGRAMS := qnet
LIBEXEC_PROGRAMS := qnet-bridge-helper
#   CAP_NET_ADMIN_PROGRAMS  of LIBEXEC_PROGRAMS, those given the file capability cap_net_admin+ep
#                     (never setuid; never bin/qnet, which would hand every user CAP_NET_ADMIN)
CAP_NET_ADMIN_PROGRAMS := qnet-bridge-helper
HOOK_LINKS := qemu-ifup qemu-ifdown
UNITS := $(notdir $(wildcard packaging/systemd/*.service packaging/systemd/*.socket \
	packaging/systemd/*.timer packaging/systemd/*.path))
SYSUSERS := qnet.conf
TMPFILES := qnet.conf

# Install locations (GNU conventions; DESTDIR is prepended to every path).
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/qnet
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
# systemd reads units, sysusers.d and tmpfiles.d under /usr/lib and /usr/local/lib alike.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
# Where each shell looks: bash-completion and fish search $XDG_DATA_DIRS
# (/usr/local/share:/usr/share); Debian's zsh has /usr/share/zsh/vendor-completions and
# /usr/local/share/zsh/site-functions on its fpath.
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d

# Generated from the release binary: man pages and completion scripts.
GENERATED := .build/generated
MANUAL_TOOL_SCRATCH := .build/manual-tool

.PHONY: all build release generated install uninstall deb test install-test deps bench bench-build bench-deps clean demo fuzz fuzz-build

all: build

build:
	$(SWIFT) build

release: $(STATIC_CXX_DIR)/libstdc++.so
	@for product in $(BIN_PROGRAMS) $(LIBEXEC_PROGRAMS); do \
		layout="$(RELEASE_LAYOUT)"; case " $(CAP_NET_ADMIN_PROGRAMS) " in *" $$product "*) layout="$(PIE_LAYOUT)";; esac; \
		echo "$(SWIFT) build $(RELEASE_FLAGS) $$layout --product $$product"; \
		$(SWIFT) build $(RELEASE_FLAGS) $$layout --product $$product || exit 1; \
	done

$(STATIC_CXX_DIR)/libstdc++.so:
	@archive=$$(clang -print-file-name=libstdc++.a) && [ -f "$$archive" ] || \
		{ echo "libstdc++.a not found (apt-get install libstdc++-12-dev)" >&2; exit 1; }; \
	mkdir -p $(@D) && echo "INPUT($$archive)" > $@

# Man pages: swift-argument-parser's generate-manual, the tool behind its GenerateManual
# plugin (`swift package plugin generate-manual`), run on the binary we install. The
# plugin itself would rebuild every product without --static-swift-stdlib first; the tool
# reads only the binary's `--experimental-dump-help`. One page per command: qnet.1,
# qnet.bridge.1, qnet.bridge.create.1, ... (packaging/fix-manpages.sh then makes them
# clean for groff and whatis).
generated: release
	@rm -rf $(GENERATED) && mkdir -p $(GENERATED)/man $(GENERATED)/completions
	@mkdir -p $(MANUAL_TOOL_SCRATCH)
	@echo "building generate-manual (swift-argument-parser's tool) into $(MANUAL_TOOL_SCRATCH)"
	@$(SWIFT) build --package-path .build/checkouts/swift-argument-parser --scratch-path $(MANUAL_TOOL_SCRATCH) \
		--product generate-manual > $(MANUAL_TOOL_SCRATCH)/build.log 2>&1 || { cat $(MANUAL_TOOL_SCRATCH)/build.log; exit 1; }
	@for program in $(BIN_PROGRAMS); do \
		$(MANUAL_TOOL_SCRATCH)/debug/generate-manual $(RELEASE_DIR)/$$program --multi-page \
			--date "$$(date -u -d @$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || date +%s)} +%F)" \
			--output-directory $(GENERATED)/man || exit 1; \
		$(RELEASE_DIR)/$$program --generate-completion-script bash | sed '1{/^#!/d}' > $(GENERATED)/completions/$$program.bash && \
		$(RELEASE_DIR)/$$program --generate-completion-script zsh > $(GENERATED)/completions/_$$program && \
		$(RELEASE_DIR)/$$program --generate-completion-script fish > $(GENERATED)/completions/$$program.fish || exit 1; \
	done
	bash packaging/fix-manpages.sh $(GENERATED)/man
	@echo "generated $$(ls $(GENERATED)/man | wc -l) man pages and $$(ls $(GENERATED)/completions | wc -l) completion scripts in $(GENERATED)"

# `make install [PREFIX=/usr/local] [DESTDIR=...]`. Without DESTDIR, and as root, it also
# creates the qnet user and /run/qnet (what the package's postinst does).
install: generated
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	$(foreach p,$(BIN_PROGRAMS),install -m 0755 $(RELEASE_DIR)/$(p) $(DESTDIR)$(BINDIR)/$(p) &&) true
	$(foreach p,$(LIBEXEC_PROGRAMS),install -m 0755 $(RELEASE_DIR)/$(p) $(DESTDIR)$(LIBEXECDIR)/$(p) &&) true
	@# qnet-bridge-helper: QEMU's bridge helper for unprivileged users, limited by /etc/qemu/bridge.conf.
	@# The package's postinst sets the capability again (dpkg does not carry file capabilities).
	@$(foreach p,$(CAP_NET_ADMIN_PROGRAMS),{ setcap cap_net_admin+ep $(DESTDIR)$(LIBEXECDIR)/$(p) 2>/dev/null && \
		echo "setcap cap_net_admin+ep $(DESTDIR)$(LIBEXECDIR)/$(p)" || \
		echo "warning: could not set cap_net_admin+ep on $(DESTDIR)$(LIBEXECDIR)/$(p) (needs root and setcap from libcap2-bin); unprivileged users cannot use it until it is set" >&2; } &&) true
	$(foreach l,$(HOOK_LINKS),ln -sfn $(shell realpath -m --relative-to=$(LIBEXECDIR) $(BINDIR))/qnet $(DESTDIR)$(LIBEXECDIR)/$(l) &&) true
	install -m 0644 $(GENERATED)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(foreach p,$(BIN_PROGRAMS),install -m 0644 $(GENERATED)/completions/$(p).bash $(DESTDIR)$(BASHCOMPDIR)/$(p) && \
		install -m 0644 $(GENERATED)/completions/_$(p) $(DESTDIR)$(ZSHCOMPDIR)/_$(p) && \
		install -m 0644 $(GENERATED)/completions/$(p).fish $(DESTDIR)$(FISHCOMPDIR)/$(p).fish &&) true
	$(foreach f,$(SYSUSERS),install -m 0644 packaging/sysusers.d/$(f) $(DESTDIR)$(SYSUSERSDIR)/$(f) &&) true
	$(foreach f,$(TMPFILES),install -m 0644 packaging/tmpfiles.d/$(f) $(DESTDIR)$(TMPFILESDIR)/$(f) &&) true
	$(if $(UNITS),install -d $(DESTDIR)$(SYSTEMDUNITDIR))
	$(foreach u,$(UNITS),sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' packaging/systemd/$(u) \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/$(u) && chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$(u) &&) true
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ]; then \
		if command -v systemd-sysusers >/dev/null; then systemd-sysusers $(SYSUSERSDIR)/qnet.conf; \
		else id qnet >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin qnet; fi; \
		if command -v systemd-tmpfiles >/dev/null; then systemd-tmpfiles --create $(TMPFILESDIR)/qnet.conf; \
		else mkdir -p /run/qnet; fi; \
	fi

# Removes what `make install` installed (same PREFIX and DESTDIR); keeps the qnet user and
# qnet's state (/run/qnet, /var/lib/qnet).
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(BIN_PROGRAMS)) \
		$(addprefix $(DESTDIR)$(LIBEXECDIR)/,$(LIBEXEC_PROGRAMS) $(HOOK_LINKS)) \
		$(foreach p,$(BIN_PROGRAMS),$(DESTDIR)$(MANDIR)/man1/$(p).1 $(DESTDIR)$(MANDIR)/man1/$(p).*.1 \
			$(DESTDIR)$(BASHCOMPDIR)/$(p) $(DESTDIR)$(ZSHCOMPDIR)/_$(p) $(DESTDIR)$(FISHCOMPDIR)/$(p).fish) \
		$(addprefix $(DESTDIR)$(SYSUSERSDIR)/,$(SYSUSERS)) $(addprefix $(DESTDIR)$(TMPFILESDIR)/,$(TMPFILES)) \
		$(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(UNITS))
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null

# A Debian package (dpkg-deb) of the same install with PREFIX=/usr: .build/qnet_VERSION_ARCH.deb.
DEB_STAGE := .build/deb
deb: generated
	rm -rf $(DEB_STAGE)
	$(MAKE) --no-print-directory install PREFIX=/usr DESTDIR=$(CURDIR)/$(DEB_STAGE)/root
	bash packaging/build-deb.sh $(DEB_STAGE)/root .build

# apt-get only runs when something is missing, so repeated runs stay fast and offline.
deps:
	@missing=""; for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		case " $$missing " in *" frr "*) \
			echo "frr was installed for the tests only: stopping and disabling the frr.service its postinst started"; \
			if [ -d /run/systemd/system ]; then systemctl disable --now frr.service >/dev/null 2>&1 || true; \
			else /usr/lib/frr/frrinit.sh stop >/dev/null 2>&1 || true; fi;; \
		esac; \
	fi
	@# frr: Debian's postinst enables and starts frr.service (watchfrr, zebra, staticd in the
	@# host's namespace, unconfigured) where systemd runs, or via invoke-rc.d without it. The
	@# tests run their own zebra and bgpd in test namespaces (qnet's EVPN networks do), which a
	@# system zebra cannot see, but it would stay running after the tests; an frr that was
	@# already installed (an admin's) is left alone.
	@# QEMU runs as this unprivileged user unless --user or $$SUDO_USER says otherwise.
	@id qnet >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin qnet
	@# The kernel modules the privileged tests need (built in on some kernels).
	@for m in tun bridge veth; do modprobe $$m 2>/dev/null || true; done

# The Swift test tiers, then the release build (once) and the install/package checks.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build 2>&1 | tee .build/test.log; exit $${PIPESTATUS[0]}
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_TEST_SECONDS)
	$(MAKE) --no-print-directory install-test

# ---------------------------------------------------------------------------------------
# Coverage-guided fuzzing with libFuzzer (`swiftc -sanitize=fuzzer,address`): each target in
# Fuzz/ is built into its own scratch folder with -DQNET_FUZZING (libFuzzer supplies main) and
# run for FUZZ_SECONDS, starting from its seeds (Fuzz/Seeds/NAME: the netlink fixtures, QMP
# sessions, VM and network files) plus the corpus earlier runs grew (.build/fuzz/corpus/NAME).
# A crash stops `make fuzz` with libFuzzer's report; the input is saved as
# .build/fuzz/crashes/TARGET-crash-HASH and replays with `swift build --product TARGET &&
# .build/debug/TARGET FILE`. `make test` runs every target for FUZZ_TEST_SECONDS.
#   FuzzNetlink      netlink datagrams decoded every way (NetlinkWire), seeds Fuzz/Seeds/netlink
#   FuzzQMP          a QMP server's lines to QMPClient, and JSONValue, seeds Fuzz/Seeds/qmp
#   FuzzDefinitions  VM and network YAML files (Yams + strict decoding), seeds Fuzz/Seeds/definitions
#   FuzzImporters    ifcfg, interfaces and netplan files (qnet import), each output read back, seeds Fuzz/Seeds/importers
FUZZ_TARGETS := FuzzNetlink:netlink FuzzQMP:qmp FuzzDefinitions:definitions FuzzImporters:importers
FUZZ_SECONDS ?= 300
FUZZ_TEST_SECONDS ?= 5
FUZZ_DIR := .build/fuzz
FUZZ_FLAGS := --scratch-path $(FUZZ_DIR)/build -Xswiftc -sanitize=fuzzer,address -Xswiftc -DQNET_FUZZING

fuzz-build:
	@for pair in $(FUZZ_TARGETS); do \
		echo "$(SWIFT) build $(FUZZ_FLAGS) --product $${pair%%:*}"; \
		$(SWIFT) build $(FUZZ_FLAGS) --product $${pair%%:*} || exit 1; \
	done

fuzz: fuzz-build
	@for pair in $(FUZZ_TARGETS); do \
		target=$${pair%%:*}; seeds=Fuzz/Seeds/$${pair##*:}; corpus=$(FUZZ_DIR)/corpus/$$target; \
		mkdir -p $$corpus $(FUZZ_DIR)/crashes; \
		echo "== $$target for $(FUZZ_SECONDS) s (seeds $$seeds, corpus $$corpus)"; \
		$(FUZZ_DIR)/build/debug/$$target -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crashes/$$target- $$corpus $$seeds \
			> $(FUZZ_DIR)/$$target.log 2>&1 || { tail -n 60 $(FUZZ_DIR)/$$target.log; echo "$$target: libFuzzer found a crash (log: $(FUZZ_DIR)/$$target.log)"; exit 1; }; \
		grep -E "^stat::number_of_executed_units|^stat::new_units_added" $(FUZZ_DIR)/$$target.log | tr '\n' ' '; echo; \
	done

install-test: release
	bash Tests/Install/install-test.sh

# The main job, end to end: the classic recipe replayed in throwaway namespaces with a
# real guest (see README). Needs root; leaves nothing behind, even on Ctrl-C.
demo: deps release
	$(RELEASE_DIR)/qnet demo

bench-deps:
	@missing=""; for p in $(TEST_PACKAGES) $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

# The benchmark program, built with the same flags as qnet (bench/run.sh runs this), and
# qnet-pie: the same objects linked as a PIE (PIE=1), which the bench times beside qnet.
bench-build: release
	$(MAKE) --no-print-directory release PIE=1
	cp $(RELEASE_DIR)/qnet $(RELEASE_DIR)/qnet-pie
	$(MAKE) --no-print-directory release
	$(SWIFT) build $(RELEASE_FLAGS) $(RELEASE_LAYOUT) --product QNetBench

bench: bench-deps
	bash bench/run.sh
	@# Guest-to-guest TCP across hosts (vxlan) against one bridge, TCG guests: bench/vxlan-results.md.
	bash bench/vxlan-bench.sh

clean:
	rm -rf .build .build-*
