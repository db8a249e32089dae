# SPDX-License-Identifier: MIT
# The two front doors: `make run` (install what is missing, build, run the
# whole stack with demo data) and `make test` (build, run every test); and
# `make install` for a machine that serves (systemd services, docs/deploy.md).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build run test start stop status clean deps install

all: build

build:
	scripts/deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

# exec: the stack script is make's own child, so a Ctrl-C (SIGINT to the
# terminal's whole process group) finds it there and make waits for its
# clean stop, instead of seeing the recipe's shell die of the signal
# TLS=1: TLS on every listener with a dev CA (scripts/dev-ca, docs/tls.md)
run: build
	exec env HUB_BUILD_DIR=$(abspath $(BUILD)) HUB_STACK_TLS=$(if $(filter 1 yes true,$(TLS)),1,0) scripts/stack run

start: build
	HUB_BUILD_DIR=$(abspath $(BUILD)) HUB_STACK_TLS=$(if $(filter 1 yes true,$(TLS)),1,0) scripts/stack start

# as systemd services under /usr/local, /etc/hub, /var/lib/hub (docs/deploy.md);
# options: make install INSTALL_ARGS="--enable"
install: build
	HUB_BUILD_DIR=$(CURDIR)/$(BUILD) scripts/install $(INSTALL_ARGS)

stop:
	scripts/stack stop

status:
	scripts/stack status

test:
	scripts/deps --test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure

clean:
	rm -rf $(BUILD)
