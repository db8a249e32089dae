/* SPDX-License-Identifier: MIT */
/*
 * Schema migrations of the store, applied in order; PRAGMA user_version
 * holds how many have run. Append new steps; never edit a released one.
 */
#include "store_internal.h"

const char *const hc_store__migrations[] = {
	/* 1: identities, rooms, sessions, service keys, change log */
	"CREATE TABLE principals("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  kind TEXT NOT NULL CHECK(kind IN ('user','device')),"
	"  display_name TEXT NOT NULL DEFAULT '',"
	"  role TEXT NOT NULL DEFAULT 'user' CHECK(role IN ('admin','user')),"
	"  pw_hash TEXT,"
	"  owner TEXT REFERENCES principals(name) ON DELETE CASCADE,"
	"  secret_hash TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  CHECK((kind = 'user' AND owner IS NULL) OR (kind = 'device' AND owner IS NOT NULL))"
	");"
	"CREATE INDEX principals_owner ON principals(owner);"
	"CREATE TABLE rooms("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE memberships("
	"  room TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,"
	"  principal TEXT NOT NULL REFERENCES principals(name) ON DELETE CASCADE,"
	"  level INTEGER NOT NULL CHECK(level BETWEEN 1 AND 3),"
	"  PRIMARY KEY(room, principal)"
	") WITHOUT ROWID;"
	"CREATE INDEX memberships_principal ON memberships(principal);"
	"CREATE TABLE sessions("
	"  sid TEXT PRIMARY KEY NOT NULL,"
	"  secret_hash TEXT NOT NULL UNIQUE,"
	"  principal TEXT NOT NULL,"
	"  kind TEXT NOT NULL DEFAULT 'web',"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  revoked_at INTEGER NOT NULL DEFAULT 0,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  addr TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX sessions_principal ON sessions(principal);"
	"CREATE TABLE service_keys("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  key_hash TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE change_log("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  entity TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  at INTEGER NOT NULL DEFAULT (unixepoch())"
	");"
	/* Every change to what the broker and bridge mirror is logged by
	 * trigger, so no writer (hubd, hubctl, sqlite3 by hand) can forget. */
	"CREATE TRIGGER principals_ai AFTER INSERT ON principals BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('principal', NEW.name); END;"
	"CREATE TRIGGER principals_au AFTER UPDATE ON principals BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('principal', NEW.name); END;"
	"CREATE TRIGGER principals_ad AFTER DELETE ON principals BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('principal', OLD.name); END;"
	"CREATE TRIGGER rooms_ai AFTER INSERT ON rooms BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('room', NEW.name); END;"
	"CREATE TRIGGER rooms_ad AFTER DELETE ON rooms BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('room', OLD.name); END;"
	"CREATE TRIGGER memberships_ai AFTER INSERT ON memberships BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('membership', NEW.room || '/' || "
	"NEW.principal); END;"
	"CREATE TRIGGER memberships_au AFTER UPDATE ON memberships BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('membership', NEW.room || '/' || "
	"NEW.principal); END;"
	"CREATE TRIGGER memberships_ad AFTER DELETE ON memberships BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('membership', OLD.room || '/' || "
	"OLD.principal); END;"
	"CREATE TRIGGER sessions_ai AFTER INSERT ON sessions BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('session', NEW.sid); END;"
	"CREATE TRIGGER sessions_au AFTER UPDATE ON sessions BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('session', NEW.sid); END;"
	"CREATE TRIGGER sessions_ad AFTER DELETE ON sessions BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('session', OLD.sid); END;",

	/* 2: chat history */
	"CREATE TABLE messages("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  room TEXT NOT NULL,"
	"  event TEXT NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  data BLOB NOT NULL"
	");"
	"CREATE INDEX messages_room ON messages(room, id);",

	/* 3: backends. Service keys are mirrored by the broker and the gateway
	 * (services log in over MQTT), so their changes are logged; a room may
	 * name the service that checks its events (hook); webhooks and their
	 * durable outbox. */
	"ALTER TABLE rooms ADD COLUMN hook TEXT NOT NULL DEFAULT '';"
	"CREATE TRIGGER rooms_au AFTER UPDATE ON rooms BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('room', NEW.name); END;"
	"CREATE TRIGGER service_keys_ai AFTER INSERT ON service_keys BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('service', NEW.name); END;"
	"CREATE TRIGGER service_keys_au AFTER UPDATE ON service_keys BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('service', NEW.name); END;"
	"CREATE TRIGGER service_keys_ad AFTER DELETE ON service_keys BEGIN"
	"  INSERT INTO change_log(entity, key) VALUES('service', OLD.name); END;"
	"CREATE TABLE webhooks("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  url TEXT NOT NULL,"
	"  secret TEXT NOT NULL,"
	"  events TEXT NOT NULL,"
	"  rooms TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE webhook_outbox("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  hook INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
	"  type TEXT NOT NULL,"
	"  body BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  next_at INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  state TEXT NOT NULL DEFAULT 'pending' CHECK(state IN ('pending','done','failed')),"
	"  last_status INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_at);"
	"CREATE INDEX webhook_outbox_hook ON webhook_outbox(hook, state);",

	/* 4: sessions made by a service for an app with its own login
	 * (POST /api/sessions) remember that service: only it may end them.
	 * The sender takes each webhook's due rows by (hook, state, next_at),
	 * so a dead endpoint's backlog is never walked to find the others'. */
	"ALTER TABLE sessions ADD COLUMN service TEXT NOT NULL DEFAULT '';"
	"DROP INDEX webhook_outbox_hook;"
	"CREATE INDEX webhook_outbox_hook ON webhook_outbox(hook, state, next_at);",
};

const int hc_store__migration_count =
	(int)(sizeof(hc_store__migrations) / sizeof(hc_store__migrations[0]));
