/* SPDX-License-Identifier: MIT */
/*
 * hubctl: the admin command line. Users, devices, rooms, memberships,
 * sessions, tokens, service keys and ACL explanations, straight on the
 * store. A command that changed something returns only when the broker and
 * the gateway confirmed they apply the change (hc_sync.h), so a device
 * added can connect and a revoked room is closed when hubctl exits.
 * Exit codes: 0 success, 1 failure (one line on stderr), 2 bad usage.
 * The help texts live in hubctl_help.c.
 */
#include "hubctl_help.h"

#include "hc_acl.h"
#include "hc_backup.h"
#include "hc_db.h"
#include "hc_config.h"
#include "hc_delivery.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_names.h"
#include "hc_password.h"
#include "hc_proc.h"
#include "hc_store.h"
#include "hc_sync.h"
#include "hc_token.h"
#include "hc_util.h"
#include "hc_webhook.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2

static struct hc_config cfg;
static const char *config_arg; /* --config FILE, or NULL */
static bool create_store;      /* --create-store: a missing store may be made */
static struct hc_store *store;
static char help_hint[48] = "hubctl --help"; /* where a usage error points */
static int64_t seq_at_open;		     /* change log position when the store was opened */
static bool in_batch;			     /* running the lines of `hubctl batch` */
static int batch_line; /* the batch line being run (0: none), named in errors */

/* "hubctl: " and, in a batch, "batch line N: ": every error is one line */
static void error_prefix(void)
{
	fputs("hubctl: ", stderr);
	if (batch_line > 0)
		fprintf(stderr, "batch line %d: ", batch_line);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	error_prefix();
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (%s)\n", help_hint);
	return EXIT_USAGE;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	error_prefix();
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

/* Where data_dir (and so the store) came from, for people. */
static void store_origin(char *out, size_t n)
{
	const char *env = getenv("HUB_DATA_DIR");
	if (env && *env)
		snprintf(out, n, "data_dir from HUB_DATA_DIR");
	else if (cfg.file)
		snprintf(out, n, "data_dir of %s%s", cfg.file,
			config_arg	       ? ", from --config"
			: getenv("HUB_CONFIG") ? ", from HUB_CONFIG"
					       : ", found without --config or HUB_CONFIG");
	else
		snprintf(out, n,
			"the default data_dir: no config file found (no --config, no "
			"HUB_CONFIG, no conf/hub.conf here, no " HC_CONFIG_SYSTEM_FILE ")");
}

/* A command that needs the store found none: say where hubctl looked and
 * why there, instead of creating an empty store nobody asked for. */
static int missing_store(const char *path)
{
	char origin[4400];
	store_origin(origin, sizeof(origin));
	return fail("no store at %s (%s); point --config or HUB_CONFIG at the hub's hub.conf, "
		    "or add --create-store to make a new empty store there",
		path, origin);
}

static int open_store(void)
{
	char err[512], path[4200];
	struct stat sb;
	int rc;

	if (store)
		return 0;
	if (hc_config_db_path(&cfg, path, sizeof(path)))
		return fail("data_dir path too long");
	/* no store here: an error unless asked to make one (a typo in a path
	 * or a hubctl run from the wrong directory must not look like an
	 * empty hub) */
	if (!create_store && !hc_db_is_postgresql(path) && stat(path, &sb) != 0 && errno == ENOENT)
		return missing_store(path);
	rc = hc_data_dir_prepare(&cfg, err, sizeof(err));
	if (!rc)
		rc = hc_drop_privileges(&cfg, err, sizeof(err));
	if (rc)
		return fail("%s", err);
	rc = hc_store_open(path, HC_STORE_RW, &store, err, sizeof(err));
	if (rc)
		return fail("%s", err);
	if (hc_store_change_seq(store, &seq_at_open) != HUB_OK)
		seq_at_open = 0;
	return 0;
}

/* Ask on the terminal; true for y or yes. Never asks in a batch or without
 * a terminal (the caller then needs --yes). */
static bool confirm(const char *question)
{
	char answer[16];
	if (in_batch || !isatty(STDIN_FILENO))
		return false;
	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	answer[strcspn(answer, "\r\n")] = '\0';
	for (char *c = answer; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return !strcmp(answer, "y") || !strcmp(answer, "yes");
}

static bool can_confirm(void)
{
	return !in_batch && isatty(STDIN_FILENO);
}

/* If this run changed the store, wait until the broker and the gateway
 * apply it. The change is saved either way: a follower that does not
 * answer in time gets a warning, not a failure (it applies the change when
 * it gets to it; a process that restarts loads the whole store). */
static void await_in_force(void)
{
	char dir[4200], err[512];
	int64_t seq = 0;
	if (!store || hc_store_change_seq(store, &seq) != HUB_OK || seq <= seq_at_open)
		return;
	if (hc_config_sync_dir(&cfg, dir, sizeof(dir)))
		return;
	fflush(stdout);
	/* SQLite: the followers on this machine, through their sockets;
	 * PostgreSQL: every live node, through node_applied (hc_sync.h) */
	if ((hc_db_engine(store) == HC_DB_POSTGRESQL
			    ? hc_sync_wait_store(store, seq,
				      (int)hc_cfg_int(&cfg, HC_CFG_SYNC_TIMEOUT_MS), err,
				      sizeof(err))
			    : hc_sync_wait(dir, seq, (int)hc_cfg_int(&cfg, HC_CFG_SYNC_TIMEOUT_MS),
				      err, sizeof(err))) != HUB_OK)
		fprintf(stderr, "hubctl: warning: the change is saved, but %s\n", err);
}

/* A user or device name in use (they share one namespace): say by what. */
static int name_taken(const char *name)
{
	struct hc_principal p;
	if (store && hc_store_principal_get(store, name, &p, NULL, 0) == HUB_OK)
		return fail("'%s' is already taken by a %s (users, devices and service keys "
			    "share one namespace)",
			name, p.kind == HC_KIND_DEVICE ? "device" : "user");
	return fail("'%s' is already taken by a service key (users, devices and service "
		    "keys share one namespace)",
		name);
}

/* name is not a kind ("user" or "device"): say so, and whether it is the
 * other kind (they share one namespace) */
static int no_such(const char *kind, const char *name)
{
	struct hc_principal p;
	if (store && hc_store_principal_get(store, name, &p, NULL, 0) == HUB_OK)
		return fail("'%s' is a %s, not a %s", name,
			p.kind == HC_KIND_DEVICE ? "device" : "user", kind);
	return fail("no such %s: '%s'", kind, name);
}

/* getopt_long found an unknown option or one without its value (opterr is
 * off: the message is ours, prefixed hubctl:) */
static int bad_option(const char *cmd, char **argv)
{
	return usage_error("%s: unknown option or missing value: '%.40s'", cmd, argv[optind - 1]);
}

/* Map a store error to a one-line failure about what. */
static int store_fail(int rc, const char *what, const char *name)
{
	switch (rc) {
	case HUB_ERR_EXISTS:
		if (!strcmp(what, "user") || !strcmp(what, "device"))
			return name_taken(name);
		if (!strcmp(what, "service key") && store &&
			hc_store_principal_get(store, name, &(struct hc_principal){0}, NULL, 0) ==
				HUB_OK)
			return name_taken(name);
		return fail("%s '%s' already exists", what, name);
	case HUB_ERR_NOTFOUND:
		if (!strcmp(what, "user") || !strcmp(what, "device"))
			return no_such(what, name);
		return fail("no such %s: '%s'", what, name);
	case HUB_ERR_INVAL:
		return fail("invalid %s '%s'", what, name);
	case HUB_ERR_BUSY:
		return fail("the store is busy; try again");
	default:
		return fail(
			"%s '%s': %s (%s)", what, name, hub_strerror(rc), hc_store_errmsg(store));
	}
}

static int check_name(const char *what, const char *name)
{
	if (!hc_name_valid(name))
		return usage_error(
			"invalid %s '%.80s': 1-64 characters of A-Za-z0-9._-", what, name);
	return 0;
}

/* Read a password: from stdin (one line) when asked or when stdin is not a
 * terminal, else prompted twice without echo. */
static int read_password(bool from_stdin, char *out, size_t n)
{
	struct termios old, quiet;
	char again[HC_PASSWORD_MAX + 2];
	bool tty = isatty(STDIN_FILENO);

	if (from_stdin || !tty) {
		if (!fgets(out, (int)n, stdin))
			return fail("no password on standard input");
		if (!strchr(out, '\n') && !feof(stdin))
			return fail("password longer than %d bytes", HC_PASSWORD_MAX);
		out[strcspn(out, "\r\n")] = '\0';
	} else {
		if (tcgetattr(STDIN_FILENO, &old) != 0)
			return fail("cannot read the terminal: %s", strerror(errno));
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		fputs("Password: ", stderr);
		if (!fgets(out, (int)n, stdin))
			out[0] = '\0';
		fputs("\nAgain: ", stderr);
		if (!fgets(again, sizeof(again), stdin))
			again[0] = '\0';
		fputc('\n', stderr);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		out[strcspn(out, "\r\n")] = '\0';
		again[strcspn(again, "\r\n")] = '\0';
		if (strcmp(out, again) != 0) {
			OPENSSL_cleanse(again, sizeof(again));
			return fail("the passwords do not match");
		}
		OPENSSL_cleanse(again, sizeof(again));
	}
	if (strlen(out) < 8)
		return fail("password too short: at least 8 characters");
	return 0;
}

static int hash_password(const char *pw, char *hash, size_t n)
{
	struct hc_scrypt_params p = {(int)hc_cfg_int(&cfg, HC_CFG_SCRYPT_LOG2N),
		(int)hc_cfg_int(&cfg, HC_CFG_SCRYPT_R), (int)hc_cfg_int(&cfg, HC_CFG_SCRYPT_P)};
	int rc = hc_password_hash(pw, strlen(pw), &p, hash, n);
	if (rc)
		return fail("cannot hash the password: %s", hub_strerror(rc));
	return 0;
}

/* ------------------------------------------------------------------ users */

static int print_principal(void *ud, const struct hc_principal *p)
{
	char when[32];
	time_t t = (time_t)p->created_at;
	struct tm tm;
	(void)ud;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (p->kind == HC_KIND_DEVICE)
		printf("%-24s %-16s %-20s %s\n", p->name, p->owner, when, p->display_name);
	else
		printf("%-24s %-6s %-20s %s\n", p->name, p->role, when, p->display_name);
	return 0;
}

/* What deleting a user takes with it, listed before asking. */
struct user_reach {
	const char *user;
	char *devices; /* owned; "a b c": the user's devices, sorted */
	size_t len, cap;
	int ndevices, rooms, sessions;
	bool nomem;
};

static int reach_device(void *ud, const struct hc_principal *p)
{
	struct user_reach *r = ud;
	size_t n = strlen(p->name);
	if (strcmp(p->owner, r->user))
		return 0;
	if (r->len + n + 2 > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		char *grown;
		while (cap < r->len + n + 2)
			cap *= 2;
		grown = realloc(r->devices, cap);
		if (!grown) {
			r->nomem = true;
			return 1;
		}
		r->devices = grown;
		r->cap = cap;
	}
	if (r->len)
		r->devices[r->len++] = ' ';
	memcpy(r->devices + r->len, p->name, n + 1);
	r->len += n;
	r->ndevices++;
	return 0;
}

static int reach_room(void *ud, const struct hc_membership *m)
{
	(void)m;
	((struct user_reach *)ud)->rooms++;
	return 0;
}

static int reach_session(void *ud, const struct hc_session *s)
{
	(void)s;
	((struct user_reach *)ud)->sessions++;
	return 0;
}

static int user_reach_list(struct hc_store *st, struct user_reach *r)
{
	int rc;
	r->len = 0;
	r->ndevices = r->rooms = r->sessions = 0;
	if (r->devices)
		r->devices[0] = '\0';
	rc = hc_store_principal_list(st, HC_KIND_DEVICE, reach_device, r);
	if (!rc)
		rc = hc_store_membership_list(st, NULL, r->user, reach_room, r);
	if (!rc)
		rc = hc_store_session_list(st, r->user, false, hc_now(), reach_session, r);
	return r->nomem ? HUB_ERR_NOMEM : rc;
}

/* "its 2 devices (truck1, truck2), its memberships of 3 rooms and its 1
 * live session" (or "nothing else (...)"): at most 8 device names, then
 * how many more. */
static void user_reach_text(const struct user_reach *r, char *out, size_t n)
{
	char devs[700] = "", rooms[64] = "", sess[64] = "";
	size_t o = 0;
	const char *p = r->devices;
	for (int i = 0; i < r->ndevices && i < 8; i++) {
		size_t w = strcspn(p, " ");
		int k = snprintf(devs + o, sizeof(devs) - o, "%s%.*s", i ? ", " : "", (int)w, p);
		if (k < 0 || (size_t)k >= sizeof(devs) - o)
			break;
		o += (size_t)k;
		p += w + (p[w] ? 1 : 0);
	}
	if (r->ndevices > 8)
		snprintf(devs + o, sizeof(devs) - o, " and %d more", r->ndevices - 8);
	if (r->rooms)
		snprintf(rooms, sizeof(rooms), "its memberships of %d room%s", r->rooms,
			r->rooms == 1 ? "" : "s");
	if (r->sessions)
		snprintf(sess, sizeof(sess), "its %d live session%s", r->sessions,
			r->sessions == 1 ? "" : "s");
	{
		char devpart[760] = "";
		const char *parts[3];
		int k = 0;
		if (r->ndevices) {
			snprintf(devpart, sizeof(devpart), "its %d device%s (%s)", r->ndevices,
				r->ndevices == 1 ? "" : "s", devs);
			parts[k++] = devpart;
		}
		if (rooms[0])
			parts[k++] = rooms;
		if (sess[0])
			parts[k++] = sess;
		if (k == 0)
			snprintf(out, n, "nothing else (no devices, memberships or live sessions)");
		else if (k == 1)
			snprintf(out, n, "%s", parts[0]);
		else if (k == 2)
			snprintf(out, n, "%s and %s", parts[0], parts[1]);
		else
			snprintf(out, n, "%s, %s and %s", parts[0], parts[1], parts[2]);
	}
}

struct user_del_tx {
	struct user_reach *seen; /* what the operator agreed to */
	bool changed;
};

/* In one transaction: delete the user only if its devices are still the
 * ones listed to the operator (a device added meanwhile would otherwise
 * go unannounced). */
static int user_del_if_same(struct hc_store *st, void *ud)
{
	struct user_del_tx *t = ud;
	struct user_reach now = {.user = t->seen->user};
	int rc = user_reach_list(st, &now);
	if (!rc && (now.ndevices != t->seen->ndevices ||
			   (now.ndevices && strcmp(now.devices, t->seen->devices)))) {
		t->changed = true;
		rc = HUB_ERR_INVAL;
	}
	free(now.devices);
	return rc ? rc : hc_store_user_del(st, t->seen->user);
}

/* user del NAME [--yes]: say what goes with the user, ask (or need
 * --yes), delete. */
static int user_del(const char *name, bool yes)
{
	struct user_reach r = {.user = name};
	struct user_del_tx t = {.seen = &r};
	struct hc_principal p;
	char what[1024], question[1200];
	int rc;

	if ((rc = open_store()))
		return rc;
	if (hc_store_principal_get(store, name, &p, NULL, 0) != HUB_OK || p.kind != HC_KIND_USER)
		return no_such("user", name);
	if ((rc = user_reach_list(store, &r))) {
		rc = store_fail(rc, "user", name);
		goto out;
	}
	user_reach_text(&r, what, sizeof(what));
	if (!yes && !can_confirm()) {
		rc = usage_error("user del %s also deletes %s: add --yes to delete", name, what);
		goto out;
	}
	if (!yes) {
		snprintf(question, sizeof(question),
			"Deleting user %s also deletes %s. Delete user %s?", name, what, name);
		if (!confirm(question)) {
			rc = fail("user %s not deleted", name);
			goto out;
		}
	}
	rc = hc_store_tx(store, user_del_if_same, &t);
	if (t.changed)
		rc = fail(
			"the devices of %s changed meanwhile; nothing deleted: run user del again",
			name);
	else if (rc)
		rc = store_fail(rc, "user", name);
	else if (!r.ndevices && !r.rooms && !r.sessions)
		printf("user %s deleted\n", name);
	else
		printf("user %s deleted, with %s\n", name, what);
out:
	free(r.devices);
	return rc;
}

static int cmd_user(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	const char *role = "user", *display = NULL;
	bool pw_stdin = false, keep = false, yes = false;
	const char *pw_arg = NULL;
	char pw[HC_PASSWORD_MAX + 2], hash[HC_PASSWORD_HASH_MAX];
	int rc, opt;
	static const struct option opts[] = {{"role", required_argument, 0, 'r'},
		{"display", required_argument, 0, 'd'}, {"password-stdin", no_argument, 0, 'p'},
		{"password", required_argument, 0, 'P'}, {"keep-sessions", no_argument, 0, 'k'},
		{"yes", no_argument, 0, 'y'}, {0, 0, 0, 0}};

	if (!sub)
		return usage_error("user: expected add, del, passwd or list");
	if (strcmp(sub, "add") && strcmp(sub, "del") && strcmp(sub, "passwd") &&
		strcmp(sub, "list"))
		return usage_error("user: unknown subcommand '%.40s'", sub);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			role = optarg;
			break;
		case 'd':
			display = optarg;
			break;
		case 'p':
			pw_stdin = true;
			break;
		case 'P':
			/* only in a batch file: on a command line it would sit in
			 * the shell history and the process list */
			if (!in_batch)
				return usage_error("--password is for batch files; use "
						   "--password-stdin");
			pw_arg = optarg;
			break;
		case 'k':
			keep = true;
			break;
		case 'y':
			yes = true;
			break;
		default:
			return bad_option("user", argv);
		}
	}
	if (!strcmp(sub, "list")) {
		if (optind != argc)
			return usage_error("user list takes no arguments");
		if ((rc = open_store()))
			return rc;
		rc = hc_store_principal_list(store, HC_KIND_USER, print_principal, NULL);
		return rc ? store_fail(rc, "user list", "") : 0;
	}
	if (optind != argc - 1)
		return usage_error("user %s: expected one NAME", sub);
	const char *name = argv[optind];
	if ((rc = check_name("username", name)))
		return rc;
	/* a batch's standard input may be the batch itself: its passwords
	 * come only from --password */
	if (in_batch && !pw_arg && (!strcmp(sub, "add") || !strcmp(sub, "passwd")))
		return usage_error("user %s in a batch needs --password", sub);
	if (pw_arg && (strlen(pw_arg) < 8 || strlen(pw_arg) > HC_PASSWORD_MAX ||
			      hc_fmt(pw, sizeof(pw), "%s", pw_arg)))
		return fail("--password must be 8 to %d characters", HC_PASSWORD_MAX);
	if (!strcmp(sub, "add")) {
		if (strcmp(role, "admin") && strcmp(role, "user"))
			return usage_error("--role must be admin or user");
		if (display && strlen(display) > HC_DISPLAY_MAX)
			return usage_error("--display longer than %d bytes", HC_DISPLAY_MAX);
		if ((rc = open_store()))
			goto out;
		/* taken: say so before asking for a password */
		if (hc_store_principal_get(store, name, &(struct hc_principal){0}, NULL, 0) ==
			HUB_OK) {
			rc = name_taken(name);
			goto out;
		}
		if ((!pw_arg && (rc = read_password(pw_stdin, pw, sizeof(pw)))) ||
			(rc = hash_password(pw, hash, sizeof(hash))))
			goto out;
		rc = hc_store_user_add(store, name, display ? display : name, role, hash);
		rc = rc ? store_fail(rc, "user", name) : (printf("user %s added\n", name), 0);
	} else if (!strcmp(sub, "del")) {
		return user_del(name, yes);
	} else if (!strcmp(sub, "passwd")) {
		struct hc_principal p;
		if ((rc = open_store()))
			goto out;
		/* a wrong name: say so before asking for a password */
		if (hc_store_principal_get(store, name, &p, NULL, 0) != HUB_OK ||
			p.kind != HC_KIND_USER) {
			rc = no_such("user", name);
			goto out;
		}
		if ((!pw_arg && (rc = read_password(pw_stdin, pw, sizeof(pw)))) ||
			(rc = hash_password(pw, hash, sizeof(hash))))
			goto out;
		rc = hc_store_user_set_password(store, name, hash, !keep);
		rc = rc ? store_fail(rc, "user", name)
			: (printf("password of %s changed%s\n", name,
				   keep ? "" : "; its sessions were ended"),
				  0);
	} else {
		return usage_error("user: unknown subcommand '%s'", sub);
	}
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	return rc;
}

/* ---------------------------------------------------------------- devices */

static int cmd_device(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	const char *owner = NULL, *display = NULL, *room = NULL;
	char secret[HC_SECRET_LEN + 1], hash[65];
	int rc, opt;
	static const struct option opts[] = {{"owner", required_argument, 0, 'o'},
		{"display", required_argument, 0, 'd'}, {"room", required_argument, 0, 'r'},
		{0, 0, 0, 0}};

	if (!sub)
		return usage_error("device: expected add, del or list");
	if (strcmp(sub, "add") && strcmp(sub, "del") && strcmp(sub, "list"))
		return usage_error("device: unknown subcommand '%.40s'", sub);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			owner = optarg;
			break;
		case 'd':
			display = optarg;
			break;
		case 'r':
			room = optarg;
			break;
		default:
			return bad_option("device", argv);
		}
	}
	if (!strcmp(sub, "list")) {
		if (optind != argc)
			return usage_error("device list takes no arguments");
		if ((rc = open_store()))
			return rc;
		rc = hc_store_principal_list(store, HC_KIND_DEVICE, print_principal, NULL);
		return rc ? store_fail(rc, "device list", "") : 0;
	}
	if (optind != argc - 1)
		return usage_error("device %s: expected one ID", sub);
	const char *id = argv[optind];
	if ((rc = check_name("device id", id)))
		return rc;
	if (!strcmp(sub, "add")) {
		if (!owner)
			return usage_error("device add needs --owner USER");
		if ((rc = check_name("owner", owner)) || (room && (rc = check_name("room", room))))
			return rc;
		if (display && strlen(display) > HC_DISPLAY_MAX)
			return usage_error("--display longer than %d bytes", HC_DISPLAY_MAX);
		if ((rc = open_store()))
			return rc;
		if (room && hc_store_room_exists(store, room) != HUB_OK)
			return fail("no such room: '%s'", room);
		if (hc_random_token(32, secret, sizeof(secret)))
			return fail("no randomness available");
		hc_sha256_hex(secret, strlen(secret), hash);
		rc = hc_store_device_add(store, id, owner, display ? display : id, hash);
		if (rc == HUB_ERR_NOTFOUND)
			rc = fail("no such user: '%s' (a device's owner must be a user)", owner);
		else if (rc)
			rc = store_fail(rc, "device", id);
		else if (room && (rc = hc_store_grant(store, room, id, HC_LEVEL_WRITE)))
			rc = store_fail(rc, "room", room);
		if (!rc) {
			printf("device %s added (owner %s)\n", id, owner);
			printf("secret: %s\n", secret);
			printf("This secret is shown once. MQTT: username %s, password the "
			       "secret.\n",
				id);
		}
		OPENSSL_cleanse(secret, sizeof(secret));
		return rc;
	}
	if (!strcmp(sub, "del")) {
		if ((rc = open_store()))
			return rc;
		rc = hc_store_device_del(store, id);
		return rc ? store_fail(rc, "device", id) : (printf("device %s deleted\n", id), 0);
	}
	return usage_error("device: unknown subcommand '%s'", sub);
}

/* ------------------------------------------------------------------ rooms */

static int print_room(void *ud, const struct hc_room *r)
{
	(void)ud;
	printf("%-24s %d member%s%s%s\n", r->name, r->members, r->members == 1 ? "" : "s",
		r->hook[0] ? "  hook=" : "", r->hook);
	return 0;
}

static int print_servicekey(void *ud, const char *name, int64_t created_at, const char *hooks)
{
	char when[32];
	time_t t = (time_t)created_at;
	struct tm tm;
	(void)ud;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm))
		snprintf(when, sizeof(when), "-");
	printf("%-24s created %s UTC%s%s\n", name, when, hooks[0] ? "  hooks: " : "", hooks);
	return 0;
}

static int print_member(void *ud, const struct hc_membership *m)
{
	(void)ud;
	printf("%-24s %s\n", m->principal, hc_level_name(m->level));
	return 0;
}

static int cmd_room(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	int rc;

	if (!sub)
		return usage_error("room: expected add, del, list or hook");
	if (strcmp(sub, "add") && strcmp(sub, "del") && strcmp(sub, "list") && strcmp(sub, "hook"))
		return usage_error("room: unknown subcommand '%.40s'", sub);
	if (!strcmp(sub, "hook")) {
		const char *what = NULL;
		bool none;
		if (argc != 4)
			return usage_error("usage: room hook ROOM SERVICE|none");
		none = !strcmp(argv[3], "none");
		if ((rc = check_name("room name", argv[2])) ||
			(!none && (rc = check_name("service name", argv[3]))))
			return rc;
		if ((rc = open_store()))
			return rc;
		rc = hc_store_room_set_hook(store, argv[2], none ? NULL : argv[3], &what);
		if (rc == HUB_ERR_NOTFOUND && what && !strcmp(what, "service"))
			return fail("no such service: '%s' (hubctl servicekey add %s)", argv[3],
				argv[3]);
		if (rc)
			return store_fail(rc, "room", argv[2]);
		if (none)
			printf("room %s: no hook; events reach members unchecked\n", argv[2]);
		else
			printf("room %s: events reach members only once service %s accepted "
			       "them\n",
				argv[2], argv[3]);
		return 0;
	}
	if (!strcmp(sub, "list")) {
		if (argc != 2)
			return usage_error("room list takes no arguments");
		if ((rc = open_store()))
			return rc;
		rc = hc_store_room_list(store, print_room, NULL);
		return rc ? store_fail(rc, "room list", "") : 0;
	}
	if (argc != 3)
		return usage_error("room %s: expected one NAME", sub);
	if ((rc = check_name("room name", argv[2])))
		return rc;
	if ((rc = open_store()))
		return rc;
	if (!strcmp(sub, "add")) {
		rc = hc_store_room_add(store, argv[2]);
		return rc ? store_fail(rc, "room", argv[2])
			  : (printf("room %s added\n", argv[2]), 0);
	}
	if (!strcmp(sub, "del")) {
		rc = hc_store_room_del(store, argv[2]);
		return rc ? store_fail(rc, "room", argv[2])
			  : (printf("room %s deleted\n", argv[2]), 0);
	}
	return usage_error("room: unknown subcommand '%s'", sub);
}

static int cmd_grant(int argc, char **argv)
{
	int rc, level;
	if (argc != 4)
		return usage_error("usage: grant ROOM PRINCIPAL read|write|admin");
	if ((rc = check_name("room name", argv[1])) || (rc = check_name("principal", argv[2])))
		return rc;
	level = hc_level_parse(argv[3]);
	if (level == HC_LEVEL_NONE)
		return usage_error("level must be read, write or admin, not '%.20s'", argv[3]);
	if ((rc = open_store()))
		return rc;
	if (hc_store_room_exists(store, argv[1]) != HUB_OK)
		return fail("no such room: '%s'", argv[1]);
	rc = hc_store_grant(store, argv[1], argv[2], level);
	if (rc)
		return store_fail(rc, "user or device", argv[2]);
	printf("%s has %s in %s\n", argv[2], argv[3], argv[1]);
	return 0;
}

static int cmd_revoke(int argc, char **argv)
{
	int rc;
	if (argc != 3)
		return usage_error("usage: revoke ROOM PRINCIPAL");
	if ((rc = check_name("room name", argv[1])) || (rc = check_name("principal", argv[2])))
		return rc;
	if ((rc = open_store()))
		return rc;
	if (hc_store_room_exists(store, argv[1]) != HUB_OK)
		return fail("no such room: '%s'", argv[1]);
	if (hc_store_principal_get(store, argv[2], &(struct hc_principal){0}, NULL, 0) != HUB_OK)
		return fail("no such user or device: '%s'", argv[2]);
	rc = hc_store_revoke(store, argv[1], argv[2]);
	if (rc == HUB_ERR_NOTFOUND)
		return fail("%s is not a member of %s", argv[2], argv[1]);
	if (rc)
		return store_fail(rc, "membership", argv[2]);
	printf("%s removed from %s\n", argv[2], argv[1]);
	return 0;
}

static int cmd_members(int argc, char **argv)
{
	int rc;
	if (argc != 2)
		return usage_error("usage: members ROOM");
	if ((rc = check_name("room name", argv[1])) || (rc = open_store()))
		return rc;
	if (hc_store_room_exists(store, argv[1]) != HUB_OK)
		return fail("no such room: '%s'", argv[1]);
	rc = hc_store_membership_list(store, argv[1], NULL, print_member, NULL);
	return rc ? store_fail(rc, "room", argv[1]) : 0;
}

/* --------------------------------------------------------------- sessions */

static int print_session(void *ud, const struct hc_session *s)
{
	int64_t now = *(int64_t *)ud;
	char created[32], expires[32];
	time_t c = (time_t)s->created_at, e = (time_t)s->expires_at;
	struct tm tm;
	const char *state = s->revoked_at ? s->reason : now >= s->expires_at ? "expired" : "live";

	gmtime_r(&c, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	gmtime_r(&e, &tm);
	strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-22s %-16s %-4s %-20s %-20s %-8s %s\n", s->sid, s->principal, s->kind, created,
		expires, state, s->addr);
	return 0;
}

static int cmd_session(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	int64_t now = hc_now();
	int rc;

	if (!sub)
		return usage_error("session: expected list or revoke");
	if (!strcmp(sub, "list")) {
		const char *user = NULL;
		bool all = false;
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--all"))
				all = true;
			else if (!user && argv[i][0] != '-')
				user = argv[i];
			else
				return usage_error("usage: session list [USER] [--all]");
		}
		if (user && (rc = check_name("username", user)))
			return rc;
		if ((rc = open_store()))
			return rc;
		if (user && hc_store_principal_get(
				    store, user, &(struct hc_principal){0}, NULL, 0) != HUB_OK)
			return fail("no such user or device: '%s'", user);
		printf("%-22s %-16s %-4s %-20s %-20s %-8s %s\n", "SID", "USER", "KIND", "CREATED",
			"EXPIRES", "STATE", "ADDRESS");
		rc = hc_store_session_list(store, user, all, now, print_session, &now);
		return rc ? store_fail(rc, "session list", "") : 0;
	}
	if (!strcmp(sub, "revoke")) {
		if (argc == 4 && !strcmp(argv[2], "--user")) {
			int count = 0;
			if ((rc = check_name("username", argv[3])) || (rc = open_store()))
				return rc;
			if (hc_store_principal_get(
				    store, argv[3], &(struct hc_principal){0}, NULL, 0) != HUB_OK)
				return fail("no such user: '%s'", argv[3]);
			rc = hc_store_session_revoke_principal(store, argv[3], "kicked", &count);
			if (rc)
				return store_fail(rc, "user", argv[3]);
			printf("%d session%s of %s revoked\n", count, count == 1 ? "" : "s",
				argv[3]);
			return 0;
		}
		/* a session id may start with '-' (base64url): only a short
		 * '-' word is an option */
		if (argc != 3 || (argv[2][0] == '-' && strlen(argv[2]) != HC_SID_LEN))
			return usage_error("usage: session revoke SID | --user USER");
		if (strlen(argv[2]) != HC_SID_LEN)
			return fail("no such live session: '%.40s'", argv[2]);
		if ((rc = open_store()))
			return rc;
		rc = hc_store_session_revoke(store, argv[2], "kicked");
		if (rc == HUB_ERR_NOTFOUND)
			return fail("no such live session: '%s'", argv[2]);
		if (rc)
			return store_fail(rc, "session", argv[2]);
		printf("session %s revoked\n", argv[2]);
		return 0;
	}
	return usage_error("session: unknown subcommand '%s'", sub);
}

static int cmd_token(int argc, char **argv)
{
	char sid[HC_SID_LEN + 1], secret[HC_SECRET_LEN + 1], token[HC_TOKEN_MAX + 1];
	char err[512], keypath[4200];
	struct hc_token_key *key = NULL;
	struct hc_principal p;
	int64_t ttl = hc_cfg_int(&cfg, HC_CFG_TOKEN_TTL), now;
	int64_t session_ttl = hc_cfg_int(&cfg, HC_CFG_SESSION_TTL);
	const char *user = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ttl") && i + 1 < argc) {
			if (hc_parse_i64(argv[++i], 30, 86400, &ttl))
				return usage_error("--ttl must be 30 to 86400 seconds");
		} else if (!strcmp(argv[i], "--session-ttl") && i + 1 < argc) {
			if (hc_parse_i64(argv[++i], 30, 31536000, &session_ttl))
				return usage_error("--session-ttl must be 30 to 31536000 seconds");
		} else if (!user && argv[i][0] != '-') {
			user = argv[i];
		} else {
			return usage_error(
				"usage: token USER [--ttl SECONDS] [--session-ttl SECONDS]");
		}
	}
	if (!user)
		return usage_error("usage: token USER [--ttl SECONDS] [--session-ttl SECONDS]");
	if ((rc = check_name("username", user)) || (rc = open_store()))
		return rc;
	rc = hc_store_principal_get(store, user, &p, NULL, 0);
	if (rc)
		return fail("no such user: '%s'", user);
	if (p.kind != HC_KIND_USER)
		return fail(
			"'%s' is a device: devices connect with their secret, not a token", user);
	if (hc_config_key_path(&cfg, keypath, sizeof(keypath)))
		return fail("key path too long");
	rc = hc_token_key_load(
		keypath, hc_cfg_str(&cfg, HC_CFG_TOKEN_ALG), 1, &key, err, sizeof(err));
	if (rc)
		return fail("%s", err);
	/* like a login: the token opens connections for --ttl, and they then
	 * live as long as the session (session_ttl, or --session-ttl), which
	 * `hubctl session revoke` ends; the token never outlives its session */
	if (ttl > session_ttl)
		ttl = session_ttl;
	rc = hc_store_session_create(store, user, "cli", session_ttl, "cli", sid, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (rc) {
		hc_token_key_free(key);
		return store_fail(rc, "session for", user);
	}
	now = hc_now();
	rc = hc_token_mint(key, "mqtt", user, sid, now, now + ttl, token, sizeof(token));
	hc_token_key_free(key);
	if (rc)
		return fail("cannot mint token: %s", hub_strerror(rc));
	printf("%s\n", token);
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}

static int cmd_servicekey(int argc, char **argv)
{
	char secret[HC_SECRET_LEN + 1];
	int rc;
	if (argc == 2 && !strcmp(argv[1], "list")) {
		if ((rc = open_store()))
			return rc;
		rc = hc_store_servicekey_list(store, print_servicekey, NULL);
		return rc ? store_fail(rc, "service key list", "") : 0;
	}
	if (argc != 3 || (strcmp(argv[1], "add") && strcmp(argv[1], "del")))
		return usage_error("usage: servicekey add|del NAME, servicekey list");
	if ((rc = check_name("key name", argv[2])) || (rc = open_store()))
		return rc;
	if (!strcmp(argv[1], "del")) {
		rc = hc_store_servicekey_del(store, argv[2]);
		return rc ? store_fail(rc, "service key", argv[2])
			  : (printf("service key %s deleted\n", argv[2]), 0);
	}
	rc = hc_store_servicekey_add(store, argv[2], secret);
	if (rc)
		return store_fail(rc, "service key", argv[2]);
	printf("service key %s added\n", argv[2]);
	printf("key: %s\n", secret);
	printf("This key is shown once. Use it as: Authorization: Bearer <key> (HTTP API), "
	       "or as the MQTT password of username %s (a backend)\n",
		argv[2]);
	OPENSSL_cleanse(secret, sizeof(secret));
	return 0;
}

/* ------------------------------------------------------------- deliveries */

static int delivery_room(const char *id, char *room, size_t n)
{
	if (hc_delivery_room(id, room, n))
		return usage_error("invalid delivery id '%.40s': A-Za-z0-9._- and at most %d "
				   "characters",
			id, HC_DELIVERY_ID_MAX);
	return 0;
}

static int print_delivery(void *ud, const struct hc_membership *m)
{
	(void)ud;
	printf("%-32s %-24s %s\n", m->room + 9, m->principal, hc_level_name(m->level));
	return 0;
}

static int list_delivery_rooms(void *ud, const struct hc_room *r)
{
	(void)ud;
	if (strncmp(r->name, "delivery-", 9) == 0)
		return hc_store_membership_list(store, r->name, NULL, print_delivery, NULL);
	return 0;
}

static int cmd_delivery(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	const char *vehicle = NULL, *customer = NULL;
	char room[HC_NAME_MAX + 8];
	const char *what = NULL;
	int rc, opt;
	static const struct option opts[] = {{"vehicle", required_argument, 0, 'v'},
		{"customer", required_argument, 0, 'c'}, {0, 0, 0, 0}};

	if (!sub)
		return usage_error("delivery: expected open, close or list");
	if (strcmp(sub, "open") && strcmp(sub, "close") && strcmp(sub, "list"))
		return usage_error("delivery: unknown subcommand '%.40s'", sub);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			vehicle = optarg;
			break;
		case 'c':
			customer = optarg;
			break;
		default:
			return bad_option("delivery", argv);
		}
	}
	if (!strcmp(sub, "list")) {
		if (optind != argc)
			return usage_error("delivery list takes no arguments");
		if ((rc = open_store()))
			return rc;
		printf("%-32s %-24s %s\n", "DELIVERY", "MEMBER", "LEVEL");
		rc = hc_store_room_list(store, list_delivery_rooms, NULL);
		return rc ? store_fail(rc, "delivery list", "") : 0;
	}
	if (optind != argc - 1)
		return usage_error("delivery %s: expected one ID", sub);
	if ((rc = delivery_room(argv[optind], room, sizeof(room))))
		return rc;
	if (!strcmp(sub, "close")) {
		if ((rc = open_store()))
			return rc;
		rc = hc_delivery_close(store, argv[optind]);
		if (rc == HUB_ERR_NOTFOUND)
			return fail("no open delivery '%s'", argv[optind]);
		if (rc)
			return store_fail(rc, "delivery", argv[optind]);
		printf("delivery %s closed\n", argv[optind]);
		return 0;
	}
	if (strcmp(sub, "open"))
		return usage_error("delivery: unknown subcommand '%s'", sub);
	if (!vehicle || !customer)
		return usage_error("delivery open ID --vehicle DEVICE --customer USER");
	if ((rc = check_name("vehicle", vehicle)) || (rc = check_name("customer", customer)) ||
		(rc = open_store()))
		return rc;
	rc = hc_delivery_open(store, argv[optind], vehicle, customer, &what);
	if (rc == HUB_ERR_NOTFOUND)
		return !strcmp(what ? what : "", "vehicle") ? no_such("device", vehicle)
							    : no_such("user", customer);
	if (rc == HUB_ERR_EXISTS)
		return fail("delivery '%s' is already open", argv[optind]);
	if (rc)
		return store_fail(rc, "delivery", argv[optind]);
	printf("delivery %s open: %s sees %s (room %s)\n", argv[optind], customer, vehicle, room);
	return 0;
}

/* ---------------------------------------------------------------- explain */

static int cmd_explain(int argc, char **argv)
{
	struct hc_acl_dir *dir = NULL;
	struct hc_acl_decision d = {.explain = true};
	char err[512];
	int access, rc;

	if (argc != 4)
		return usage_error("usage: explain PRINCIPAL TOPIC read|write|subscribe");
	if (!strcmp(argv[3], "read"))
		access = HC_ACL_READ;
	else if (!strcmp(argv[3], "write"))
		access = HC_ACL_WRITE;
	else if (!strcmp(argv[3], "subscribe"))
		access = HC_ACL_SUBSCRIBE;
	else
		return usage_error("access must be read, write or subscribe, not '%.20s'", argv[3]);
	if (strcmp(argv[1], HC_SERVICE_PRINCIPAL) && (rc = check_name("principal", argv[1])))
		return rc;
	if ((rc = open_store()))
		return rc;
	/* the same in-memory directory and decision function the broker uses */
	rc = hc_acl_dir_load(store, &dir, err, sizeof(err));
	if (rc)
		return fail("%s", err);
	if (strcmp(argv[1], HC_SERVICE_PRINCIPAL) &&
		!hc_dir_principal(dir, argv[1], strlen(argv[1]))) {
		hc_acl_dir_free(dir);
		return fail("no such user or device: '%s'", argv[1]);
	}
	hc_acl_check(dir, argv[1], argv[2], strlen(argv[2]), access, &d);
	printf("%s: %s %s %s\n", d.allow ? "allow" : "deny", argv[1], argv[3], argv[2]);
	printf("rule: %s\n", d.rule);
	hc_acl_dir_free(dir);
	return 0;
}

/* ---------------------------------------------------------------- backups */

struct paths {
	char db[4200], key[4200], broker[4200], sync[4200];
	struct hc_backup_paths p;
};

/* Where this hub keeps its store, key, broker state and sync sockets.
 * The broker's persistence file is data_dir/mosquitto.db: the hub's
 * mosquitto.conf sets persistence_location to data_dir. */
static int hub_paths(struct paths *x)
{
	if (hc_config_db_path(&cfg, x->db, sizeof(x->db)) ||
		hc_config_key_path(&cfg, x->key, sizeof(x->key)) ||
		hc_config_sync_dir(&cfg, x->sync, sizeof(x->sync)) ||
		hc_fmt(x->broker, sizeof(x->broker), "%s/mosquitto.db",
			hc_cfg_str(&cfg, HC_CFG_DATA_DIR)))
		return fail("data_dir or key_file path too long");
	x->p = (struct hc_backup_paths){x->db, x->key, x->broker, x->sync};
	return 0;
}

static void human_bytes(int64_t n, char *out, size_t sz)
{
	if (n >= 10 * 1024 * 1024)
		snprintf(out, sz, "%.0f MiB", (double)n / (1024 * 1024));
	else if (n >= 1024 * 1024)
		snprintf(out, sz, "%.1f MiB", (double)n / (1024 * 1024));
	else if (n >= 10 * 1024)
		snprintf(out, sz, "%.0f KiB", (double)n / 1024);
	else if (n >= 1024)
		snprintf(out, sz, "%.1f KiB", (double)n / 1024);
	else
		snprintf(out, sz, "%lld bytes", (long long)n);
}

static void utc(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, n, "-");
}

static void print_counts(const struct hc_backup_info *i)
{
	char size[32];
	human_bytes(i->store_bytes, size, sizeof(size));
	printf("store: schema %d, %s: %lld users, %lld devices, %lld rooms, %lld memberships, "
	       "%lld live sessions, %lld history messages\n",
		i->schema, size, (long long)i->users, (long long)i->devices, (long long)i->rooms,
		(long long)i->memberships, (long long)i->sessions_live, (long long)i->messages);
}

/* hubctl backup/restore handle the SQLite store and its files; a store on
 * PostgreSQL has PostgreSQL's own tools. */
static int on_postgresql(const char *what)
{
	return fail("%s: the store is on PostgreSQL (setting store): use pg_dump -Fc to back it "
		    "up and pg_restore to restore it, and copy the token key file (key_file, "
		    "default <data_dir>/token.key) yourself (docs/operations.md)",
		what);
}

static int cmd_backup(int argc, char **argv)
{
	static const struct option opts[] = {{"force", no_argument, 0, 'f'}, {0, 0, 0, 0}};
	struct hc_backup_info info;
	struct paths x;
	char err[1024], size[32], when[32];
	bool force = false;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'f')
			return bad_option("backup", argv);
		force = true;
	}
	if (optind != argc - 1)
		return usage_error("usage: backup FILE [--force]");
	if ((rc = hub_paths(&x)))
		return rc;
	if (hc_db_is_postgresql(x.db))
		return on_postgresql("backup");
	if (access(x.db, F_OK) != 0 && errno == ENOENT)
		return missing_store(x.db);
	/* no privilege drop: root reads the hub's files and writes a backup
	 * only root can read, wherever it is asked to (SQLite gives any -wal
	 * or -shm it creates as root the store's owner) */
	rc = hc_backup_write(
		&x.p, argv[optind], force, "hubctl " HUB_VERSION, &info, err, sizeof(err));
	if (rc == HUB_ERR_EXISTS)
		return fail("%s (--force replaces it)", err);
	if (rc)
		return fail("backup failed: %s", err);
	printf("backup written to %s (mode 0600: it holds the token key and the password "
	       "hashes; keep it private)\n",
		argv[optind]);
	print_counts(&info);
	printf("token key: %s\n", info.has_key ? "included" : "none yet (no key file)");
	if (info.has_broker) {
		human_bytes(info.broker_bytes, size, sizeof(size));
		utc(info.broker_saved_at, when, sizeof(when));
		printf("broker state: included (%s, %s, as the broker last saved it at %s)\n",
			x.broker, size, when);
	} else if (info.broker_note[0]) {
		printf("broker state: left out: %s\n", info.broker_note);
	} else {
		printf("broker state: none (no %s: the broker has not saved yet)\n", x.broker);
	}
	return 0;
}

/* Started as root with run_as: what the restore wrote is handed to the
 * service account (SQLite and the temporary files made them root's). */
static int hand_over(const struct paths *x)
{
	char err[512];
	const char *user = hc_cfg_str(&cfg, HC_CFG_RUN_AS);
	const char *files[] = {x->db, x->key, x->broker};
	struct stat sb;

	if (geteuid() != 0 || !*user)
		return 0;
	if (hc_data_dir_prepare(&cfg, err, sizeof(err)))
		return fail("%s", err);
	if (stat(hc_cfg_str(&cfg, HC_CFG_DATA_DIR), &sb) != 0)
		return fail("%s: %s", hc_cfg_str(&cfg, HC_CFG_DATA_DIR), strerror(errno));
	/* data_dir now belongs to the account: its owner is the one to use */
	/* never through a link (the account may write data_dir) */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (fchownat(AT_FDCWD, files[i], sb.st_uid, sb.st_gid, AT_SYMLINK_NOFOLLOW) != 0 &&
			errno != ENOENT)
			return fail(
				"%s: cannot hand it to %s: %s", files[i], user, strerror(errno));
	return 0;
}

static int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{"yes", no_argument, 0, 'y'}, {"keep-sessions", no_argument, 0, 'k'}, {0, 0, 0, 0}};
	struct hc_backup_info in, now;
	struct stat lsb;
	struct paths x;
	char err[1024], when[32], question[4600];
	const char *file;
	bool yes = false, keep = false;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'y')
			yes = true;
		else if (opt == 'k')
			keep = true;
		else
			return bad_option("restore", argv);
	}
	if (optind != argc - 1)
		return usage_error("usage: restore FILE [--yes] [--keep-sessions]");
	if (in_batch)
		return fail("restore is not a batch command (it needs the store closed)");
	file = argv[optind];
	if ((rc = hub_paths(&x)))
		return rc;
	if (hc_db_is_postgresql(x.db))
		return on_postgresql("restore");
	rc = hc_backup_inspect(file, &in, err, sizeof(err));
	if (rc)
		return fail("%s", err);
	/* the data directory of a fresh machine is made here (and, started
	 * as root, handed to run_as); the restore itself runs as root, which
	 * can read a backup kept anywhere */
	if (hc_data_dir_prepare(&cfg, err, sizeof(err)))
		return fail("%s", err);
	if ((rc = hc_backup_check_stopped(&x.p, err, sizeof(err))))
		return fail("%s", err);
	if (lstat(x.db, &lsb) == 0) {
		char have[200];
		/* (a link there is refused by the restore itself) */
		if (S_ISLNK(lsb.st_mode))
			return fail("%s is a symbolic link, not the store: refusing to restore "
				    "through it",
				x.db);
		if (hc_backup_inspect(x.db, &now, err, sizeof(err)) == HUB_OK)
			snprintf(have, sizeof(have), "%lld users, %lld devices, %lld rooms",
				(long long)now.users, (long long)now.devices, (long long)now.rooms);
		else
			snprintf(have, sizeof(have), "not a readable store: it is moved aside");
		if (!yes && !can_confirm())
			return usage_error("restore replaces the store at %s (%s): add --yes to "
					   "replace it",
				x.db, have);
		snprintf(question, sizeof(question),
			"Replace the store at %s (%s) with the backup (%lld users, %lld devices, "
			"%lld rooms)?",
			x.db, have, (long long)in.users, (long long)in.devices,
			(long long)in.rooms);
		if (!yes && !confirm(question))
			return fail("nothing restored");
	}
	rc = hc_backup_restore(
		&x.p, file, keep ? HC_RESTORE_KEEP_SESSIONS : 0, &in, err, sizeof(err));
	if (rc)
		return fail("restore failed: %s", err);
	if ((rc = hand_over(&x)))
		return rc;
	utc(in.created_at, when, sizeof(when));
	if (in.format)
		printf("restored %s (made %s by %s) into %s\n", file, when,
			in.made_by[0] ? in.made_by : "?", x.db);
	else
		printf("restored %s (a copy of a store, not a hubctl backup) into %s\n", file,
			x.db);
	if (in.set_aside[0])
		printf("the damaged store was moved to %s\n", in.set_aside);
	print_counts(&in);
	if (keep)
		printf("sessions: kept (--keep-sessions)\n");
	else
		printf("sessions: %lld live in the backup, ended (reason restored): users log in "
		       "again\n",
			(long long)in.sessions_ended);
	printf("token key: %s\n", in.has_key ? "restored"
					     : "not in the backup; this hub's own is kept (or "
					       "made at the next start)");
	printf("broker state: %s\n", in.has_broker ? "restored (mosquitto.db)"
						   : "not in the backup; the broker's own file, "
						     "if any, is kept");
	return 0;
}

/* Which store this hubctl uses (cfg loaded), after the global usage. */
static void store_line(FILE *out)
{
	char path[4200], origin[4400];
	struct stat sb;
	if (hc_config_db_path(&cfg, path, sizeof(path)) != HUB_OK)
		return;
	store_origin(origin, sizeof(origin));
	fprintf(out, "\nThis hubctl's store: %s (%s; %s)\n", path,
		stat(path, &sb) == 0 ? "exists" : "missing", origin);
}

/* help [COMMAND [SUBCOMMAND]] */
static int cmd_help(int argc, char **argv)
{
	if (argc > 1 && !hubctl_help_known(argv[1]))
		return usage_error("help: unknown command '%.40s'", argv[1]);
	if (hubctl_help_print(stdout, argc - 1, argv + 1))
		store_line(stdout); /* the global usage */
	return 0;
}

/* ------------------------------------------------------------------ batch */

static int print_webhook(void *ud, const struct hc_webhook *w)
{
	(void)ud;
	printf("%lld %s\n  events=%s rooms=%s\n  pending=%lld failing=%lld failed=%lld "
	       "delivered=%lld%s%s\n",
		(long long)w->id, w->url, w->events, w->rooms[0] ? w->rooms : "*",
		(long long)w->pending, (long long)w->failing, (long long)w->failed,
		(long long)w->delivered, w->last_error[0] ? "\n  last error: " : "", w->last_error);
	return 0;
}

static int cmd_webhook(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	const char *events = NULL, *rooms = NULL;
	char secret[44];
	int64_t id = 0;
	int rc, opt;
	static const struct option opts[] = {{"events", required_argument, 0, 'e'},
		{"rooms", required_argument, 0, 'r'}, {0, 0, 0, 0}};

	if (!sub)
		return usage_error("webhook: expected add, list or del");
	if (strcmp(sub, "add") && strcmp(sub, "list") && strcmp(sub, "del"))
		return usage_error("webhook: unknown subcommand '%.40s'", sub);
	if (!strcmp(sub, "list")) {
		if (argc != 2)
			return usage_error("webhook list takes no arguments");
		if ((rc = open_store()))
			return rc;
		rc = hc_webhook_list(store, print_webhook, NULL);
		return rc ? store_fail(rc, "webhook list", "") : 0;
	}
	if (!strcmp(sub, "del")) {
		if (argc != 3 || hc_parse_i64(argv[2], 1, INT64_MAX, &id))
			return usage_error("usage: webhook del ID (a number from webhook list)");
		if ((rc = open_store()))
			return rc;
		rc = hc_webhook_del(store, id);
		if (rc == HUB_ERR_NOTFOUND)
			return fail("no such webhook: %lld", (long long)id);
		return rc ? store_fail(rc, "webhook", argv[2])
			  : (printf("webhook %lld deleted\n", (long long)id), 0);
	}
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'e')
			events = optarg;
		else if (opt == 'r')
			rooms = optarg;
		else
			return bad_option("webhook", argv);
	}
	if (optind != argc - 1)
		return usage_error("usage: webhook add URL [--events joined,left,login,logout,"
				   "ev:NAME,...] [--rooms ROOM,...]");
	if (!hc_webhook_url_valid(argv[optind]))
		return usage_error(
			"invalid URL '%.80s': http:// or https:// with a host", argv[optind]);
	if (events && !hc_webhook_events_valid(events))
		return usage_error("invalid --events '%.80s': a comma list of joined, left, "
				   "login, logout, ev:NAME, ev:*",
			events);
	if (rooms && !hc_webhook_rooms_valid(rooms))
		return usage_error("invalid --rooms '%.80s': a comma list of room names", rooms);
	if ((rc = open_store()))
		return rc;
	rc = hc_webhook_add(store, argv[optind], events, rooms, secret, &id);
	if (rc)
		return store_fail(rc, "webhook", argv[optind]);
	printf("webhook %lld added: %s\n", (long long)id, argv[optind]);
	printf("secret: %s\n", secret);
	printf("This secret is shown once. Each POST carries X-Hub-Signature-256: "
	       "sha256=<hex HMAC-SHA256 of the body with it>\n");
	OPENSSL_cleanse(secret, sizeof(secret));
	return 0;
}

/* Usage errors of this command point to its own help: "hubctl user add
 * --help", "hubctl user --help" (a word that is no subcommand of it), or
 * "hubctl --help" (no such command). Only table words are copied. */
static void set_help_hint(int argc, char **argv)
{
	if (!hubctl_help_known(argv[0]))
		snprintf(help_hint, sizeof(help_hint), "hubctl --help");
	else if (argc > 1 && hubctl_help_has(argv[0], argv[1]))
		snprintf(help_hint, sizeof(help_hint), "hubctl %.16s %.16s --help", argv[0],
			argv[1]);
	else
		snprintf(help_hint, sizeof(help_hint), "hubctl %.16s --help", argv[0]);
}

static int dispatch(int argc, char **argv)
{
	set_help_hint(argc, argv);
	/* a fresh getopt state for this command (glibc: optind 0 re-initialises;
	 * each command then starts at its own argv[2]) */
	static char *none[] = {"hubctl", NULL};
	optind = 0;
	getopt_long(1, none, "", NULL, NULL);
	if (!strcmp(argv[0], "user"))
		return cmd_user(argc, argv);
	if (!strcmp(argv[0], "device"))
		return cmd_device(argc, argv);
	if (!strcmp(argv[0], "room"))
		return cmd_room(argc, argv);
	if (!strcmp(argv[0], "grant"))
		return cmd_grant(argc, argv);
	if (!strcmp(argv[0], "revoke"))
		return cmd_revoke(argc, argv);
	if (!strcmp(argv[0], "members"))
		return cmd_members(argc, argv);
	if (!strcmp(argv[0], "session"))
		return cmd_session(argc, argv);
	if (!strcmp(argv[0], "token"))
		return cmd_token(argc, argv);
	if (!strcmp(argv[0], "servicekey"))
		return cmd_servicekey(argc, argv);
	if (!strcmp(argv[0], "delivery"))
		return cmd_delivery(argc, argv);
	if (!strcmp(argv[0], "webhook"))
		return cmd_webhook(argc, argv);
	if (!strcmp(argv[0], "explain"))
		return cmd_explain(argc, argv);
	if (!strcmp(argv[0], "backup"))
		return cmd_backup(argc, argv);
	if (!strcmp(argv[0], "restore"))
		return cmd_restore(argc, argv);
	if (!strcmp(argv[0], "help"))
		return cmd_help(argc, argv);
	return usage_error("unknown command '%.40s'", argv[0]);
}

/* Split line into words: spaces separate, "double quotes" group (no
 * escapes), '#' starts a comment. Returns the count or -1 (unterminated
 * quote, too many words). */
static int split_words(char *line, char **words, int max)
{
	int n = 0;
	char *p = line;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			break;
		if (n == max)
			return -1;
		if (*p == '"') {
			words[n++] = ++p;
			p = strchr(p, '"');
			if (!p)
				return -1;
			*p++ = '\0';
		} else {
			words[n++] = p;
			while (*p && *p != ' ' && *p != '\t')
				p++;
			if (*p)
				*p++ = '\0';
		}
	}
	return n;
}

/* `hubctl batch [FILE]`: one command per line (from FILE or stdin) in one
 * process with one store connection, for provisioning many users, devices
 * and grants at once. In a batch, `user add` and `user passwd` take their
 * password from --password TEXT only (stdin may be the batch). Stops at the
 * first failing line, with its exit status. */
static int cmd_batch(int argc, char **argv)
{
	char line[4096];
	char *words[33];
	FILE *f = stdin;
	int lineno = 0, rc = 0;

	if (argc > 2)
		return usage_error("usage: batch [FILE]");
	if (argc == 2 && strcmp(argv[1], "-") && !(f = fopen(argv[1], "r")))
		return fail("%s: %s", argv[1], strerror(errno));
	in_batch = true;
	/* errors from here on name the line (one line on stderr, as for a
	 * single command); the first failing line stops the batch */
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		int n;
		batch_line = ++lineno;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = fail("line longer than %d bytes", (int)sizeof(line) - 2);
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		n = split_words(line, words, 32);
		if (n < 0) {
			rc = fail("unterminated quote or too many words");
			break;
		}
		if (n == 0)
			continue;
		if (!strcmp(words[0], "batch")) {
			rc = fail("batches do not nest");
			break;
		}
		words[n] = NULL;
		rc = dispatch(n, words);
		fflush(stdout);
	}
	batch_line = 0;
	if (f != stdin)
		fclose(f);
	OPENSSL_cleanse(line, sizeof(line));
	return rc;
}

/* ------------------------------------------------------------------- main */

/* --help without a command: the global usage and this hubctl's store. */
static int global_help(FILE *out)
{
	char err[512];

	fputs(hubctl_usage_text, out);
	if (hc_config_load(&cfg, config_arg, err, sizeof(err)))
		fprintf(out, "\nThis hubctl's config: %s\n", err);
	else
		store_line(out);
	hc_config_free(&cfg);
	return 0;
}

int main(int argc, char **argv)
{
	char err[512];
	int i = 1, rc;

	hc_log_init("hubctl", HC_LOG_WARN, NULL);
	opterr = 0;
	/* the global options may come before or after the command: take them
	 * out of argv wherever they are (a word after --config is its FILE) */
	for (int k = 1; k < argc;) {
		int drop = 0;
		if (!strcmp(argv[k], "--config")) {
			if (k + 1 >= argc)
				return usage_error("--config needs a FILE");
			config_arg = argv[k + 1];
			drop = 2;
		} else if (!strncmp(argv[k], "--config=", 9)) {
			config_arg = argv[k] + 9;
			drop = 1;
		} else if (!strcmp(argv[k], "--create-store")) {
			create_store = true;
			drop = 1;
		}
		if (!drop) {
			k++;
			continue;
		}
		memmove(&argv[k], &argv[k + drop], (size_t)(argc - k - drop + 1) * sizeof(*argv));
		argc -= drop;
	}
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return global_help(stdout);
		if (!strcmp(argv[i], "--version")) {
			puts("hubctl " HUB_VERSION);
			return 0;
		}
		return usage_error("unknown option '%.40s'", argv[i]);
	}
	if (i >= argc) {
		fputs(hubctl_usage_text, stderr);
		return EXIT_USAGE;
	}
	/* COMMAND [SUBCOMMAND] ... --help: that command's help */
	for (int k = i + 1; k < argc; k++)
		if (!strcmp(argv[k], "-h") || !strcmp(argv[k], "--help")) {
			if (!hubctl_help_known(argv[i]))
				return usage_error("unknown command '%.40s'", argv[i]);
			hubctl_help_print(stdout, argc - i, argv + i);
			return 0;
		}
	rc = hc_config_load(&cfg, config_arg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "hubctl: %s\n", err);
		return EXIT_FAILURE;
	}
	argc -= i;
	argv += i;
	rc = !strcmp(argv[0], "batch") ? cmd_batch(argc, argv) : dispatch(argc, argv);
	await_in_force();
	hc_store_close(store);
	hc_config_free(&cfg);
	return rc;
}
