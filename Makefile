# SPDX-License-Identifier: MIT
# The two front doors: `make run` (install what is missing, build, run the
# whole stack with demo data) and `make test` (build, run every test).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build run test start stop status clean deps

all: build

build:
	scripts/deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

# exec: the stack script is make's own child, so a Ctrl-C (SIGINT to the
# terminal's whole process group) finds it there and make waits for its
# clean stop, instead of seeing the recipe's shell die of the signal
run: build
	exec env HUB_BUILD_DIR=$(abspath $(BUILD)) scripts/stack run

start: build
	HUB_BUILD_DIR=$(abspath $(BUILD)) scripts/stack start

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
