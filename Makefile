SHELL := /bin/bash
# qnet — `make test` is the whole check: it installs what the tests need on a fresh
# Debian 12 machine (idempotently), builds, and runs every test tier. Run it as root so
# the privileged tests (each in its own network namespace) run; with CI=true they must.

SWIFT ?= swift
# Debian packages the tests use as witnesses and peers (qnet itself runs none of them).
TEST_PACKAGES := iproute2 strace iputils-ping kmod qemu-system-x86 qemu-utils busybox-static linux-image-amd64 \
	dnsmasq-base iperf3 cpio nftables iptables passt util-linux gzip tcpdump
BENCH_PACKAGES := bridge-utils

.PHONY: all build release test deps bench clean demo

all: build

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --product qnet

# apt-get only runs when something is missing, so repeated runs stay fast and offline.
deps:
	@missing=""; for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# QEMU runs as this unprivileged user unless --user or $$SUDO_USER says otherwise.
	@id qnet >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin qnet
	@# The kernel modules the privileged tests need (built in on some kernels).
	@for m in tun bridge veth; do modprobe $$m 2>/dev/null || true; done

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build 2>&1 | tee .build/test.log; exit $${PIPESTATUS[0]}

# The main job, end to end: the classic recipe replayed in throwaway namespaces with a
# real guest (see README). Needs root; leaves nothing behind, even on Ctrl-C.
demo: deps
	$(SWIFT) build -c release --product qnet
	.build/release/qnet demo

bench-deps:
	@missing=""; for p in $(TEST_PACKAGES) $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

bench: bench-deps
	bash bench/run.sh

clean:
	rm -rf .build .build-*
