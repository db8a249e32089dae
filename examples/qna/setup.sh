#!/bin/bash
# SPDX-License-Identifier: MIT
# The Q&A's room (examples/README.md "setup.sh"): "qna" (QNA_ROOM), hooked
# to the backend: a question, a vote, a poll answer or a moderator's action
# is an event into it that reaches the members only once the backend
# accepted it. The audience writes there; moderators are the hub's admins
# and the users of QNA_MODERATORS (the backend's setting).
. "$(dirname "$0")/../common/setup-lib.sh"
room=${QNA_ROOM:-qna}
ex_rooms "$room"
ex_hook "$room"
ex_grant "$room" write $HUB_DEMO_USERS
