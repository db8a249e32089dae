# SPDX-License-Identifier: MIT
# Shell helpers for an example's setup.sh (examples/README.md): idempotent
# hubctl steps, so the script can run at every start of the stack.
#
#   . "$(dirname "$0")/../common/setup-lib.sh"
#   ex_rooms games games.t1            # rooms that are missing are added
#   ex_hook games.t1                   # its events wait for this example's backend
#   ex_grant games.t1 write $HUB_DEMO_USERS
#
# The environment (set by scripts/stack and by harness.Stack.start_example):
#   HUBCTL          the hubctl to run (its config: HUB_CONFIG)
#   HUB_SERVICE     the example's name = its service key's name
#   HUB_DEMO_USERS  the users to grant the rooms to (space separated; the
#                   stack's demo admin and demo players, a test's users)
set -eu
: "${HUBCTL:?setup.sh runs from scripts/stack or the test harness (HUBCTL unset)}"
: "${HUB_SERVICE:?HUB_SERVICE unset}"
HUB_DEMO_USERS=${HUB_DEMO_USERS:-}

ex_rooms() { # room...: add the rooms that do not exist yet
	local have r
	have=$("$HUBCTL" room list | awk '{print $1}')
	for r in "$@"; do
		grep -qxF -- "$r" <<<"$have" || "$HUBCTL" room add "$r" >/dev/null
	done
}

ex_hook() { # room...: hook them to this example's backend
	local r
	for r in "$@"; do
		"$HUBCTL" room hook "$r" "$HUB_SERVICE" >/dev/null
	done
}

ex_grant() { # room level user...: grant the users that exist (others are skipped)
	local room=$1 level=$2 u out
	shift 2
	for u in "$@"; do
		if ! out=$("$HUBCTL" grant "$room" "$u" "$level" 2>&1 >/dev/null); then
			case $out in
			*"no such user"*) echo "no user $u: not granted $room" ;;
			*) echo "$out" >&2; return 1 ;;
			esac
		fi
	done
}
