/* SPDX-License-Identifier: MIT */
/*
 * hubctl's help: the global usage and a table with one row per command
 * and subcommand. `hubctl user del --help` prints the row of user del,
 * `hubctl user --help` every user row, `hubctl --help` the global usage.
 */
#include "hubctl_help.h"

#include <stdbool.h>
#include <string.h>

const char hubctl_usage_text[] =
	"usage: hubctl [--config FILE] COMMAND ...\n"
	"\n"
	"users and devices:\n"
	"  user add NAME [--role admin|user] [--display TEXT] [--password-stdin]\n"
	"  user del NAME [--yes]           (also deletes the user's devices)\n"
	"  user passwd NAME [--password-stdin] [--keep-sessions]\n"
	"  user list\n"
	"  device add ID --owner USER [--display TEXT] [--room ROOM]   (prints the secret once)\n"
	"  device del ID\n"
	"  device list\n"
	"rooms:\n"
	"  room add NAME\n"
	"  room del NAME\n"
	"  room list\n"
	"  room hook ROOM SERVICE|none      (events reach members only once the service\n"
	"                                  accepted them)\n"
	"  grant ROOM PRINCIPAL read|write|admin\n"
	"  revoke ROOM PRINCIPAL\n"
	"  members ROOM\n"
	"sessions and tokens:\n"
	"  session list [USER] [--all]\n"
	"  session revoke SID | --user USER\n"
	"  token USER [--ttl SECONDS] [--session-ttl SECONDS]\n"
	"                                  (a fresh MQTT token for CLI tools, in a new\n"
	"                                  session; revoke it with session revoke)\n"
	"  servicekey add NAME             (prints the key once; a backend logs in with it)\n"
	"  servicekey list\n"
	"  servicekey del NAME\n"
	"webhooks (signed POSTs to a backend, retried for 24 h):\n"
	"  webhook add URL [--events joined,left,login,logout,ev:NAME,...] [--rooms ROOM,...]\n"
	"                                  (prints the signing secret once)\n"
	"  webhook list                    (with pending, failing, failed, delivered)\n"
	"  webhook del ID\n"
	"deliveries (one customer sees one vehicle while open):\n"
	"  delivery open ID --vehicle DEVICE --customer USER\n"
	"  delivery close ID\n"
	"  delivery list\n"
	"many at once:\n"
	"  batch [FILE]                    (one command per line; user add|passwd take\n"
	"                                  --password TEXT there)\n"
	"access:\n"
	"  explain PRINCIPAL TOPIC read|write|subscribe\n"
	"backups:\n"
	"  backup FILE [--force]           (online: the store, the token key, the broker's\n"
	"                                  saved state; FILE is a secret, mode 0600)\n"
	"  restore FILE [--yes] [--keep-sessions]   (the stack must be stopped)\n"
	"\n"
	"hubctl COMMAND [SUBCOMMAND] --help (or hubctl help COMMAND [SUBCOMMAND]) explains one.\n"
	"Options: --config FILE (else $HUB_CONFIG, else conf/hub.conf here, else\n"
	"/etc/hub/hub.conf); --create-store (make the store if it is missing: without it\n"
	"a missing store is an error); -h, --help; --version.\n"
	"Exit status: 0 success, 1 failure, 2 bad usage.\n";

struct help {
	const char *cmd; /* command word */
	const char *sub; /* subcommand word, or NULL for a command without */
	const char *text;
};

/* One row per command and subcommand, in the order of the global usage.
 * Each text starts with its "usage:" line(s) and ends with a newline. */
static const struct help table[] = {
	{"user", "add",
		"usage: hubctl user add NAME [--role admin|user] [--display TEXT] "
		"[--password-stdin]\n"
		"\n"
		"Creates a user who logs in with NAME and a password (8 to 1024 bytes,\n"
		"stored only as a salted scrypt hash). NAME: 1-64 of A-Za-z0-9._-, not\n"
		"taken by a user, a device or a service key.\n"
		"\n"
		"  --role admin|user   admin may use the admin API and publish (default user)\n"
		"  --display TEXT      display name, at most 128 bytes (default NAME)\n"
		"  --password-stdin    read the password as one line from standard input\n"
		"                      (also what happens when stdin is not a terminal); on a\n"
		"                      terminal hubctl asks twice without echo\n"
		"\n"
		"Example: echo \"$PW\" | hubctl user add alice --password-stdin\n"},
	{"user", "del",
		"usage: hubctl user del NAME [--yes]\n"
		"\n"
		"Deletes the user NAME and with it its devices, its room memberships and\n"
		"its sessions; their MQTT and Socket.IO connections end within a second.\n"
		"Before deleting, hubctl says what goes with the user (devices by name,\n"
		"memberships, live sessions) and asks on the terminal; without a terminal\n"
		"(scripts, batch files) it deletes only with --yes.\n"
		"\n"
		"  --yes   delete without asking\n"
		"\n"
		"Example: hubctl user del alice --yes\n"},
	{"user", "passwd",
		"usage: hubctl user passwd NAME [--password-stdin] [--keep-sessions]\n"
		"\n"
		"Sets a new password for the user NAME (asked twice on a terminal, else one\n"
		"line from standard input). Every session of the user ends, with its\n"
		"connections, unless --keep-sessions.\n"
		"\n"
		"  --password-stdin   read the password as one line from standard input\n"
		"  --keep-sessions    the user's sessions and connections live on\n"},
	{"user", "list",
		"usage: hubctl user list\n"
		"\n"
		"One line per user: name, role, creation time (UTC), display name.\n"},
	{"device", "add",
		"usage: hubctl device add ID --owner USER [--display TEXT] [--room ROOM]\n"
		"\n"
		"Creates a device (a tracker, a phone) owned by the user USER and prints its\n"
		"secret, the only time it is shown. The device logs into MQTT with\n"
		"username ID and the secret as password.\n"
		"\n"
		"  --owner USER     the owning user (required); the owner reads the device's\n"
		"                   owntracks/ID/... topics\n"
		"  --display TEXT   display name (default ID)\n"
		"  --room ROOM      give the device write level in ROOM (which must exist)\n"
		"\n"
		"Example: hubctl device add truck7 --owner alice --room fleet\n"},
	{"device", "del",
		"usage: hubctl device del ID\n"
		"\n"
		"Deletes the device ID and its memberships; its connections end within a\n"
		"second.\n"},
	{"device", "list",
		"usage: hubctl device list\n"
		"\n"
		"One line per device: id, owner, creation time (UTC), display name. Never\n"
		"the secret.\n"},
	{"room", "add",
		"usage: hubctl room add NAME\n"
		"\n"
		"Creates the room NAME (1-64 of A-Za-z0-9._-). Give members with grant.\n"},
	{"room", "del",
		"usage: hubctl room del NAME\n"
		"\n"
		"Deletes the room NAME with its memberships and its chat history.\n"},
	{"room", "list",
		"usage: hubctl room list\n"
		"\n"
		"One line per room with its number of members (and hook=SERVICE when a\n"
		"service checks its events).\n"},
	{"room", "hook",
		"usage: hubctl room hook ROOM SERVICE|none\n"
		"\n"
		"Names the backend service (a service key) that checks every client event\n"
		"into ROOM before any member gets it: the service accepts it (possibly\n"
		"with changed data) or rejects it, and the sender learns the verdict. While\n"
		"the service has no connection, events into the room are refused, never\n"
		"delivered unchecked. `none` removes the hook. In force when hubctl returns.\n"
		"\n"
		"Example: hubctl room hook lobby chat\n"},
	{"grant", NULL,
		"usage: hubctl grant ROOM PRINCIPAL read|write|admin\n"
		"\n"
		"Gives the user or device PRINCIPAL a level in ROOM, replacing an earlier\n"
		"one: read (see and receive), write (also emit), admin (also manage\n"
		"members). In force at the broker and the gateway when hubctl returns.\n"
		"\n"
		"Example: hubctl grant lobby alice write\n"},
	{"revoke", NULL,
		"usage: hubctl revoke ROOM PRINCIPAL\n"
		"\n"
		"Removes PRINCIPAL from ROOM. Nothing of the room reaches it once hubctl\n"
		"returns.\n"},
	{"members", NULL,
		"usage: hubctl members ROOM\n"
		"\n"
		"One line per member of ROOM: principal and level.\n"},
	{"session", "list",
		"usage: hubctl session list [USER] [--all]\n"
		"\n"
		"Live sessions (logins and hubctl tokens), of USER or of everyone: SID, user,\n"
		"kind (web or cli), created, expires, state, client address.\n"
		"\n"
		"  --all   also ended sessions (state expired, logout, kicked, password, ...)\n"},
	{"session", "revoke",
		"usage: hubctl session revoke SID | --user USER\n"
		"\n"
		"Ends one session (SID from session list, or a token's sid claim) or every\n"
		"live session of USER. Its cookie gets 401 at once and every MQTT and\n"
		"Socket.IO connection made with it ends within a second.\n"},
	{"token", NULL,
		"usage: hubctl token USER [--ttl SECONDS] [--session-ttl SECONDS]\n"
		"\n"
		"Prints a fresh MQTT token (a JWT) for USER, for command-line tools, in a\n"
		"new session (kind cli): the token opens connections for --ttl, which then\n"
		"live as long as the session.\n"
		"\n"
		"  --ttl SECONDS           how long the token opens connections, 30-86400\n"
		"                          (default token_ttl)\n"
		"  --session-ttl SECONDS   the session's life, 30-31536000 (default\n"
		"                          session_ttl); end it early with session revoke\n"
		"\n"
		"Example: mosquitto_sub -u alice -P \"$(hubctl token alice)\" -t "
		"'rooms/lobby/#'\n"},
	{"servicekey", "add",
		"usage: hubctl servicekey add NAME\n"
		"\n"
		"Creates a service key for a backend and prints it once. Use it as\n"
		"Authorization: Bearer <key> on hubd's API (POST /api/publish, /api/sessions)\n"
		"and as the MQTT password of username NAME: the backend then answers calls\n"
		"and checks hooked rooms (docs/backends.md). NAME shares the namespace of\n"
		"users and devices. Usable when hubctl returns.\n"},
	{"servicekey", "list",
		"usage: hubctl servicekey list\n"
		"\n"
		"One line per service key: name, creation time (UTC) and the rooms it hooks.\n"
		"Never the key.\n"},
	{"servicekey", "del",
		"usage: hubctl servicekey del NAME\n"
		"\n"
		"Deletes the service key NAME; requests with it are refused from then on\n"
		"and the service's MQTT connections end within a second. Rooms it hooked\n"
		"stay hooked to the missing service: their events are refused until\n"
		"room hook names another or none.\n"},
	{"webhook", "add",
		"usage: hubctl webhook add URL [--events joined,left,login,logout,ev:NAME,...] "
		"[--rooms ROOM,...]\n"
		"\n"
		"The hub POSTs JSON {\"id\",\"type\",\"ts\",...} to URL when things happen,\n"
		"signed with X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with\n"
		"the secret printed once>. Failed deliveries are retried with growing delays\n"
		"for 24 h, through restarts; each carries the same id on every try.\n"
		"\n"
		"  --events LIST   a comma list of joined, left, login, logout, ev:NAME (room\n"
		"                  events named NAME), ev:* (every room event); default\n"
		"                  joined,left,login,logout\n"
		"  --rooms LIST    only these rooms (room events, joined, left); default every\n"
		"\n"
		"Example: hubctl webhook add https://app.example/hub --events left,ev:order\n"},
	{"webhook", "list",
		"usage: hubctl webhook list\n"
		"\n"
		"Every webhook: id, URL, events, rooms, and its deliveries pending, failing\n"
		"(retrying), failed (given up after 24 h) and delivered, with the last error.\n"},
	{"webhook", "del",
		"usage: hubctl webhook del ID\n"
		"\n"
		"Deletes webhook ID (from webhook list) and its pending deliveries.\n"},
	{"delivery", "open",
		"usage: hubctl delivery open ID --vehicle DEVICE --customer USER\n"
		"\n"
		"Opens a delivery: room delivery-ID with the vehicle (write) and the\n"
		"customer (read), so the customer sees that one vehicle while it is open.\n"
		"ID: 1-55 of A-Za-z0-9._-.\n"},
	{"delivery", "close",
		"usage: hubctl delivery close ID\n"
		"\n"
		"Closes the delivery ID (removes its room); the customer no longer sees the\n"
		"vehicle.\n"},
	{"delivery", "list",
		"usage: hubctl delivery list\n"
		"\n"
		"Open deliveries, one line per member: delivery, member, level.\n"},
	{"batch", NULL,
		"usage: hubctl batch [FILE]\n"
		"\n"
		"Runs one command per line from FILE (or standard input, also with -) in one\n"
		"process, for provisioning many users, devices and grants at once. Words are\n"
		"separated by spaces; \"double quotes\" group words; # starts a comment. In a\n"
		"batch, user add and user passwd take --password TEXT, and user del needs\n"
		"--yes. The first failing line stops the batch with its exit status and\n"
		"its line number.\n"
		"\n"
		"Example line: device add van3 --owner anna --room fleet\n"},
	{"explain", NULL,
		"usage: hubctl explain PRINCIPAL TOPIC read|write|subscribe\n"
		"\n"
		"Prints the broker's decision for PRINCIPAL (a user, a device or $hub)\n"
		"reading, writing or subscribing to TOPIC, and the rule behind it.\n"
		"\n"
		"Example: hubctl explain bob users/alice/status read\n"},
	{"backup", NULL,
		"usage: hubctl backup FILE [--force]\n"
		"\n"
		"Writes a consistent copy of the running (or stopped) hub to FILE: the\n"
		"store (users, devices, rooms, sessions, history; taken with SQLite's online\n"
		"backup from one read transaction, so writers go on), the token key, and the\n"
		"broker's last saved state (mosquitto.db in data_dir: retained messages and\n"
		"persistent sessions, as of its last autosave). FILE is one SQLite file,\n"
		"written beside itself and renamed when complete, mode 0600: it holds the\n"
		"token key and the password hashes, so keep it as private as the data\n"
		"directory.\n"
		"\n"
		"  --force   replace FILE if it exists (else an existing FILE is an error)\n"
		"\n"
		"Example: hubctl backup /var/backups/hub-$(date +%F).db\n"},
	{"restore", NULL,
		"usage: hubctl restore FILE [--yes] [--keep-sessions]\n"
		"\n"
		"Replaces the hub's state with a backup made by hubctl backup: the store\n"
		"(atomically: the old one or the new one, never a mix), the token key and\n"
		"the broker's saved state when FILE has them. The stack must be stopped:\n"
		"hubctl refuses while the broker, the gateway, hubd or anything else has the\n"
		"store open. The data directory is created when missing (a fresh machine).\n"
		"Sessions that were live in the backup are ended (revoked_at now, reason\n"
		"restored): a cookie or a token logged out after the backup was taken\n"
		"cannot come back. Users log in again.\n"
		"\n"
		"  --yes             replace an existing store without asking\n"
		"  --keep-sessions   keep the backup's live sessions (moving a hub to a new\n"
		"                    machine from a backup of the stopped stack)\n"
		"\n"
		"Example: hubctl restore /var/backups/hub-2026-01-31.db --yes\n"},
};

#define TABLE_LEN (sizeof(table) / sizeof(table[0]))

bool hubctl_help_known(const char *cmd)
{
	for (size_t i = 0; i < TABLE_LEN; i++)
		if (!strcmp(table[i].cmd, cmd))
			return true;
	return !strcmp(cmd, "help");
}

bool hubctl_help_has(const char *cmd, const char *sub)
{
	for (size_t i = 0; i < TABLE_LEN; i++)
		if (!strcmp(table[i].cmd, cmd) &&
			(sub ? table[i].sub && !strcmp(table[i].sub, sub) : !table[i].sub))
			return true;
	return false;
}

int hubctl_help_print(FILE *out, int n, char **words)
{
	const char *cmd = NULL, *sub = NULL;
	bool found = false;

	/* the first two words that are not options */
	for (int i = 0; i < n; i++) {
		if (words[i][0] == '-')
			continue;
		if (!cmd)
			cmd = words[i];
		else if (!sub)
			sub = words[i];
	}
	if (cmd && sub)
		for (size_t i = 0; i < TABLE_LEN; i++)
			if (!strcmp(table[i].cmd, cmd) && table[i].sub &&
				!strcmp(table[i].sub, sub)) {
				fputs(table[i].text, out);
				return 0;
			}
	/* the command alone (or an unknown subcommand): all of its rows */
	for (size_t i = 0; cmd && i < TABLE_LEN; i++) {
		if (strcmp(table[i].cmd, cmd))
			continue;
		if (found)
			fputc('\n', out);
		fputs(table[i].text, out);
		found = true;
	}
	if (found)
		return 0;
	fputs(hubctl_usage_text, out);
	return 1;
}
