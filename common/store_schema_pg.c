/* SPDX-License-Identifier: MIT */
/*
 * Schema migrations of the store on PostgreSQL, applied in order; the
 * table hub_schema holds how many have run. Step N makes the same tables
 * as SQLite's step N (store_schema.c), so a schema version means the same
 * on both engines. Append new steps; never edit a released one.
 *
 * Change log: one trigger function logs every change of principals,
 * rooms, memberships, sessions and service keys, and tells followers at
 * once with NOTIFY hub_change '<seq>' (delivered at commit). It first takes
 * the writers' advisory lock (the one hc_store_tx takes), so sequence
 * numbers are handed out in commit order even to a write made by hand:
 * a follower that read up to seq N never misses a row below N later.
 */
#include "store_internal.h"

const char *const hc_store__pg_migrations[] = {
	/* 1: identities, rooms, sessions, service keys, change log */
	"CREATE OR REPLACE FUNCTION unixepoch() RETURNS bigint LANGUAGE sql STABLE "
	"AS 'SELECT floor(extract(epoch FROM now()))::bigint';"
	"CREATE TABLE principals("
	"  name text PRIMARY KEY NOT NULL,"
	"  kind text NOT NULL CHECK(kind IN ('user','device')),"
	"  display_name text NOT NULL DEFAULT '',"
	"  role text NOT NULL DEFAULT 'user' CHECK(role IN ('admin','user')),"
	"  pw_hash text,"
	"  owner text REFERENCES principals(name) ON DELETE CASCADE,"
	"  secret_hash text,"
	"  created_at bigint NOT NULL,"
	"  CHECK((kind = 'user' AND owner IS NULL) OR (kind = 'device' AND owner IS NOT NULL))"
	");"
	"CREATE INDEX principals_owner ON principals(owner);"
	"CREATE TABLE rooms("
	"  name text PRIMARY KEY NOT NULL,"
	"  created_at bigint NOT NULL"
	");"
	"CREATE TABLE memberships("
	"  room text NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,"
	"  principal text NOT NULL REFERENCES principals(name) ON DELETE CASCADE,"
	"  level integer NOT NULL CHECK(level BETWEEN 1 AND 3),"
	"  PRIMARY KEY(room, principal)"
	");"
	"CREATE INDEX memberships_principal ON memberships(principal);"
	"CREATE TABLE sessions("
	"  sid text PRIMARY KEY NOT NULL,"
	"  secret_hash text NOT NULL UNIQUE,"
	"  principal text NOT NULL,"
	"  kind text NOT NULL DEFAULT 'web',"
	"  created_at bigint NOT NULL,"
	"  expires_at bigint NOT NULL,"
	"  revoked_at bigint NOT NULL DEFAULT 0,"
	"  reason text NOT NULL DEFAULT '',"
	"  addr text NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX sessions_principal ON sessions(principal);"
	"CREATE TABLE service_keys("
	"  name text PRIMARY KEY NOT NULL,"
	"  key_hash text NOT NULL UNIQUE,"
	"  created_at bigint NOT NULL"
	");"
	"CREATE TABLE change_log("
	"  seq bigserial PRIMARY KEY,"
	"  entity text NOT NULL,"
	"  key text NOT NULL,"
	"  at bigint NOT NULL DEFAULT unixepoch()"
	");"
	"CREATE INDEX change_log_at ON change_log(at);"
	"CREATE FUNCTION hub_log_change() RETURNS trigger LANGUAGE plpgsql AS $$\n"
	"DECLARE j jsonb; k text; s bigint;\n"
	"BEGIN\n"
	"  PERFORM pg_advisory_xact_lock(1752523297);\n"
	"  IF TG_OP = 'DELETE' THEN j := to_jsonb(OLD); ELSE j := to_jsonb(NEW); END IF;\n"
	"  IF TG_ARGV[0] = 'membership' THEN k := (j->>'room') || '/' || (j->>'principal');\n"
	"  ELSIF TG_ARGV[0] = 'session' THEN k := j->>'sid';\n"
	"  ELSE k := j->>'name'; END IF;\n"
	"  INSERT INTO change_log(entity, key) VALUES(TG_ARGV[0], k) RETURNING seq INTO s;\n"
	"  PERFORM pg_notify('hub_change', s::text);\n"
	"  RETURN NULL;\n"
	"END $$;"
	"CREATE TRIGGER principals_log AFTER INSERT OR UPDATE OR DELETE ON principals "
	"  FOR EACH ROW EXECUTE FUNCTION hub_log_change('principal');"
	"CREATE TRIGGER rooms_log AFTER INSERT OR DELETE ON rooms "
	"  FOR EACH ROW EXECUTE FUNCTION hub_log_change('room');"
	"CREATE TRIGGER memberships_log AFTER INSERT OR UPDATE OR DELETE ON memberships "
	"  FOR EACH ROW EXECUTE FUNCTION hub_log_change('membership');"
	"CREATE TRIGGER sessions_log AFTER INSERT OR UPDATE OR DELETE ON sessions "
	"  FOR EACH ROW EXECUTE FUNCTION hub_log_change('session');",

	/* 2: chat history */
	"CREATE TABLE messages("
	"  id bigserial PRIMARY KEY,"
	"  room text NOT NULL,"
	"  event text NOT NULL,"
	"  sender text NOT NULL,"
	"  ts bigint NOT NULL,"
	"  data bytea NOT NULL"
	");"
	"CREATE INDEX messages_room ON messages(room, id);",

	/* 3: backends (see store_schema.c step 3) */
	"ALTER TABLE rooms ADD COLUMN hook text NOT NULL DEFAULT '';"
	"CREATE TRIGGER rooms_log_update AFTER UPDATE ON rooms "
	"  FOR EACH ROW EXECUTE FUNCTION hub_log_change('room');"
	"CREATE TRIGGER service_keys_log AFTER INSERT OR UPDATE OR DELETE ON service_keys "
	"  FOR EACH ROW EXECUTE FUNCTION hub_log_change('service');"
	"CREATE TABLE webhooks("
	"  id bigserial PRIMARY KEY,"
	"  url text NOT NULL,"
	"  secret text NOT NULL,"
	"  events text NOT NULL,"
	"  rooms text NOT NULL DEFAULT '',"
	"  created_at bigint NOT NULL"
	");"
	/* rowid: named like SQLite's implicit one, the insertion order the
	 * sender's queries share */
	"CREATE TABLE webhook_outbox("
	"  rowid bigserial NOT NULL UNIQUE,"
	"  id text PRIMARY KEY NOT NULL,"
	"  hook bigint NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
	"  type text NOT NULL,"
	"  body bytea NOT NULL,"
	"  created_at bigint NOT NULL,"
	"  next_at bigint NOT NULL,"
	"  attempts integer NOT NULL DEFAULT 0,"
	"  state text NOT NULL DEFAULT 'pending' CHECK(state IN ('pending','done','failed')),"
	"  last_status integer NOT NULL DEFAULT 0,"
	"  last_error text NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_at);",

	/* 4: app sessions' service; the outbox by (hook, state, next_at);
	 * and what PostgreSQL needs beyond SQLite: each follower's applied
	 * position, so a writer on any node can wait until every live node
	 * enforces its change (hc_store_sync_wait) */
	"ALTER TABLE sessions ADD COLUMN service text NOT NULL DEFAULT '';"
	"CREATE INDEX webhook_outbox_hook ON webhook_outbox(hook, state, next_at);"
	"CREATE FUNCTION hub_now_ms() RETURNS bigint LANGUAGE sql VOLATILE "
	"AS 'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint';"
	"CREATE TABLE node_applied("
	"  node text PRIMARY KEY NOT NULL,"
	"  pos bigint NOT NULL,"
	"  updated bigint NOT NULL"
	");",
};

const int hc_store__pg_migration_count =
	(int)(sizeof(hc_store__pg_migrations) / sizeof(hc_store__pg_migrations[0]));
