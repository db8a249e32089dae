#!/bin/bash
# SPDX-License-Identifier: MIT
# examples/board: the board's room, hooked to its backend (every change is
# checked and saved before anyone sees it), writable by the demo users.
# Idempotent; run by scripts/stack and the test harness (examples/README.md).
. "$(dirname "$0")/../common/setup-lib.sh"
ex_rooms board
ex_hook board
ex_grant board write $HUB_DEMO_USERS
