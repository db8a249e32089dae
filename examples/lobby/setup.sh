#!/bin/bash
# SPDX-License-Identifier: MIT
# The lobby's rooms (examples/README.md "setup.sh"): "games", where the
# backend announces the tables (players read it), and one room per table
# of tables.conf, hooked to the backend (a client's event there reaches the
# players only once the backend accepted it: table chat from seated
# players; nobody but the backend announces seats, countdowns or starts).
. "$(dirname "$0")/../common/setup-lib.sh"
tables=${LOBBY_TABLES:-$(dirname "$0")/tables.conf}
rooms=()
while read -r room seats _; do
	[[ -z $room || $room == \#* ]] && continue
	rooms+=("$room")
done <"$tables"
ex_rooms games "${rooms[@]}"
ex_hook "${rooms[@]}"
ex_grant games read $HUB_DEMO_USERS
for r in "${rooms[@]}"; do
	ex_grant "$r" write $HUB_DEMO_USERS
done
