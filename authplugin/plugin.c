/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so entry points: version negotiation, init (config, key, store,
 * directory, follower), callback registration, cleanup. Configured only by
 * `plugin_opt_config <hub.conf>`; any missing or bad value stops the broker
 * (fail closed).
 */
#include "hauth.h"
#include "hauth_presence.h"
#include "hauth_history.h"
#include "hauth_wake.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HAUTH_EXPORT __attribute__((visibility("default")))

struct hauth *hauth_g;
static mosquitto_plugin_id_t *plugin_id;
static struct hauth_wake *wake_conn; /* our own connection that wakes the loop */

void hauth_log__sink(int level, const char *line)
{
	static const int map[] = {MOSQ_LOG_ERR, MOSQ_LOG_WARNING, MOSQ_LOG_NOTICE, MOSQ_LOG_DEBUG};
	mosquitto_log_printf(map[level < 0 || level > 3 ? 0 : level], "hauth: %s", line);
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	(void)event;
	if (hauth_wake__is(wake_conn, ed->username, ed->password))
		return MOSQ_ERR_SUCCESS; /* no rights, not a client of ours */
	return hauth_auth__basic(userdata, ed->client, ed->username, ed->password);
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	(void)event;
	return hauth_acl__check(userdata, ed->client, ed->topic, ed->access, ed->payload,
		ed->payloadlen, ed->retain);
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_disconnect *ed = event_data;
	struct hauth *h = userdata;
	struct hauth_client *c = hauth_clients__find(h, ed->client);
	(void)event;
	/* failed auths and bare TCP connects also end here: not ours */
	if (c && !c->gone) {
		hauth_clients__gone(h, c);
		if (c->kind == HAUTH_SERVICE || c->kind == HAUTH_LINK)
			hauth_clients__bridge_gone(h, ed->client);
		else if (c->kind == HAUTH_APP && !hauth_calls__service_live(h, c->name))
			hauth_hooks__service_gone(h, c->name);
	}
	return MOSQ_ERR_SUCCESS;
}

/* A retained publish outside $: within the retained bounds (retain.c). */
static int retained(struct hauth *h, struct hauth_client *c, struct mosquitto_evt_message *ed)
{
	const char *why = hauth_retain__publish(h, c ? c->name : "", ed->topic, ed->payloadlen);
	char t[160];
	if (!why)
		return MOSQ_ERR_SUCCESS;
	hc_info("%s/%s | publish | denied topic=\"%s\" rule=\"%s\"",
		c ? hauth_clientid__external(c->id) : "-", c ? c->name : "-",
		hc_log_safe(ed->topic, t, sizeof(t)), why);
	h->stats.acl_denied_write++;
	return MOSQ_ERR_ACL_DENIED;
}

static int on_message(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *ed = event_data;
	struct hauth *h = userdata;
	struct hauth_client *c = hauth_clients__find(h, ed->client);
	bool held;
	int rc;
	(void)event;
	/* once per incoming publish, after its WRITE check passed. What a
	 * link brings was handled where it entered the hub (link.c) */
	if (h->role != HAUTH_ROLE_SINGLE && hauth_link__message(h, c, ed))
		return MOSQ_ERR_SUCCESS;
	switch (ed->topic[0]) {
	case '$':
		if (c && c->kind == HAUTH_SERVICE && !strncmp(ed->topic, "$hub/presence/", 14))
			hauth_attach__message(h, c, ed->topic, ed->payload, ed->payloadlen);
		else if (!strncmp(ed->topic, "$hub/verdict/", 13))
			hauth_hooks__verdict(h, c, ed->topic, ed->payload, ed->payloadlen);
		return MOSQ_ERR_SUCCESS;
	case 'r':
		/* a room event into a hooked room is held (or refused) there */
		rc = hauth_hooks__message(h, c, ed, &held);
		if (held)
			return rc;
		break;
	case 's':
		if (!strncmp(ed->topic, "svc/", 4))
			return hauth_calls__message(h, c, ed);
		break;
	default:
		break;
	}
	if (ed->properties && hauth_stamp__strip(ed))
		return MOSQ_ERR_ACL_DENIED; /* out of memory: fail closed */
	if (ed->retain && (rc = retained(h, c, ed)) != MOSQ_ERR_SUCCESS)
		return rc;
	if (ed->topic[0] == 'o') {
		if (c)
			hauth_cards__seen(h, c, ed->topic);
		return MOSQ_ERR_SUCCESS;
	}
	hauth_history__add(h->history, ed->topic, ed->payload, ed->payloadlen);
	return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
	struct hauth *h = userdata;
	int64_t now = hc_mono_ms();
	(void)event;
	(void)event_data;
	h->reloading = false;
	hauth_revoke__tick(h, now);
	hauth_presence__tick(h, now);
	hauth_hooks__tick(h, now);
	if (h->hello_n)
		hauth_link__tick(h);
	hauth_retain__tick(h);
	hauth_clients__reap(h, now);
	hauth_metrics__tick(h, now);
	if (now - h->log_flush_ms >= 1000) {
		/* summaries of refusal floods, also when the flood stopped */
		h->log_flush_ms = now;
		hc_log_limits_flush(false);
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_reload(int event, void *event_data, void *userdata)
{
	struct hauth *h = userdata;
	(void)event;
	(void)event_data;
	/* 2.0.11 now re-runs BASIC_AUTH for every session with the stored
	 * credentials, then ticks: live connections must survive it */
	h->reloading = true;
	hc_info("msg=\"broker reload: re-checking sessions\"");
	return MOSQ_ERR_SUCCESS;
}

HAUTH_EXPORT int mosquitto_plugin_version(
	int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == 5)
			return 5;
	return -1;
}

static void destroy(struct hauth *h)
{
	if (!h)
		return;
	hc_follow_stop(h->follow);
	hauth_wake__free(wake_conn);
	wake_conn = NULL;
	hauth_hooks__stop(h);
	hauth_history__stop(h->history);
	hauth_retain__stop(h);
	hauth_clients__free_all(h);
	hc_hmap_clear(&h->room_online);
	hc_hmap_clear(&h->by_addr);
	hauth_limits__free(h);
	hauth_cards__free(h);
	hc_acl_dir_free(h->dir);
	hc_token_key_free(h->key);
	hc_config_free(&h->cfg);
	free(h);
}

static int setup(struct hauth *h, const char *conf_path)
{
	char err[512], path[4200], sync_dir[4200];
	struct hc_store *st = NULL;
	int rc;

	rc = hc_config_load(&h->cfg, conf_path, err, sizeof(err));
	if (rc) {
		hc_err("msg=\"bad configuration\" err=\"%s\"", err);
		return rc;
	}
	hc_log_set_level(hc_log_level_parse(hc_cfg_str(&h->cfg, HC_CFG_LOG_LEVEL)));
	hc_log_limits_set((unsigned)hc_cfg_int(&h->cfg, HC_CFG_LOG_REFUSAL_LINES),
		(unsigned)hc_cfg_int(&h->cfg, HC_CFG_LOG_REFUSAL_INTERVAL));
	if (hauth_link__setup(h, err, sizeof(err))) {
		hc_err("msg=\"bad configuration\" err=\"%s\"", err);
		return HUB_ERR_CONFIG;
	}
	if (hc_config_key_path(&h->cfg, path, sizeof(path)))
		return HUB_ERR_CONFIG;
	rc = hc_token_key_load(
		path, hc_cfg_str(&h->cfg, HC_CFG_TOKEN_ALG), 1, &h->key, err, sizeof(err));
	if (rc) {
		hc_err("msg=\"cannot load the token key (the broker runs as its own user: "
		       "the data directory must belong to it)\" err=\"%s\"",
			err);
		return rc;
	}
	if (hc_config_db_path(&h->cfg, path, sizeof(path)))
		return HUB_ERR_CONFIG;
	/* start-up is the one moment we may touch the store on this thread:
	 * create/migrate it and load the directory, before any client exists */
	rc = hc_store_open(path, HC_STORE_RW, &st, err, sizeof(err));
	if (!rc)
		rc = hc_acl_dir_load(st, &h->dir, err, sizeof(err));
	hc_store_close(st);
	if (rc) {
		hc_err("msg=\"cannot open the store\" err=\"%s\"", err);
		return rc;
	}
	rc = hauth_wake__new(&h->cfg, &wake_conn);
	if (rc) {
		hc_err("msg=\"cannot set up the wake connection\" err=%s", hub_strerror(rc));
		return rc;
	}
	rc = hc_follow_start(path, h->dir->seq, (int)hc_cfg_int(&h->cfg, HC_CFG_REFRESH_MS),
		hauth_wake__poke, wake_conn, &h->follow, err, sizeof(err));
	if (!rc)
		rc = hc_config_sync_dir(&h->cfg, sync_dir, sizeof(sync_dir));
	if (!rc)
		rc = hc_follow_listen(h->follow, sync_dir, "broker", err, sizeof(err));
	if (rc) {
		hc_err("msg=\"cannot follow the store\" err=\"%s\"", err);
		return rc;
	}
	/* several brokers on one data_dir: each indexes what entered it */
	if (h->node[0] ? hc_fmt(path, sizeof(path), "%s/retained-%s.db",
				 hc_cfg_str(&h->cfg, HC_CFG_DATA_DIR), h->node)
		       : hc_fmt(path, sizeof(path), "%s/retained.db",
				 hc_cfg_str(&h->cfg, HC_CFG_DATA_DIR)))
		return HUB_ERR_CONFIG;
	rc = hauth_retain__start(h, path, err, sizeof(err));
	if (rc) {
		hc_err("msg=\"cannot open the retained index\" err=\"%s\"", err);
		return rc;
	}
	if (hc_config_db_path(&h->cfg, path, sizeof(path)))
		return HUB_ERR_CONFIG;
	/* the writer stores chat history and makes webhook rows: it runs
	 * even with history_max 0 */
	rc = hauth_history__start(&h->cfg, path, &h->history, err, sizeof(err));
	if (rc) {
		hc_err("msg=\"cannot start the history writer\" err=\"%s\"", err);
		return rc;
	}
	if (hauth_hooks__start(h)) {
		hc_err("msg=\"cannot set up hooks\"");
		return HUB_ERR_NOMEM;
	}
	hc_info("msg=\"ready\" principals=%zu rooms=%zu sessions=%zu seq=%lld",
		h->dir->principals.count, h->dir->rooms.count, h->dir->sessions.count,
		(long long)h->dir->seq);
	return HUB_OK;
}

HAUTH_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
	struct mosquitto_opt *options, int option_count)
{
	const char *conf = NULL;
	struct hauth *h;
	int rc;

	hc_log_init("hauth", HC_LOG_INFO, hauth_log__sink);
	hauth_layout__reset();
	if (hauth_g) {
		hc_err("msg=\"loaded twice: set per_listener_settings false\"");
		return MOSQ_ERR_INVAL;
	}
	for (int i = 0; i < option_count; i++) {
		if (!strcmp(options[i].key, "config"))
			conf = options[i].value;
		else
			hc_warn("msg=\"ignoring unknown option\" option=plugin_opt_%.40s",
				options[i].key);
	}
	if (!conf || !*conf) {
		hc_err("msg=\"missing plugin_opt_config <path to hub.conf>\"");
		return MOSQ_ERR_INVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return MOSQ_ERR_NOMEM;
	hc_hmap_init(&h->clients);
	hc_hmap_init(&h->principals);
	hc_hmap_init(&h->by_addr);
	hc_hmap_init(&h->offline);
	hc_hmap_init(&h->by_id);
	hc_hmap_init(&h->id_owner);
	hc_hmap_init(&h->room_online);
	hc_hmap_init(&h->cards);
	rc = setup(h, conf);
	if (rc) {
		destroy(h);
		return MOSQ_ERR_INVAL;
	}
	{
		/* who frees a property list a MESSAGE callback replaced (stamp.c) */
		const char *source;
		int v = hauth_version__broker(&source);
		hauth_stamp__broker_version(v);
		if (v)
			hc_info("msg=\"broker version\" version=%d.%d.%d source=%s", v / 1000000,
				v / 1000 % 1000, v % 1000, source);
		else
			hc_warn("msg=\"broker version unknown: assuming 2.0.15 or later\"");
	}
	plugin_id = identifier;
	if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, h) ||
		mosquitto_callback_register(
			identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, h) ||
		mosquitto_callback_register(
			identifier, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, h) ||
		mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, h) ||
		mosquitto_callback_register(identifier, MOSQ_EVT_MESSAGE, on_message, NULL, h) ||
		mosquitto_callback_register(identifier, MOSQ_EVT_RELOAD, on_reload, NULL, h)) {
		hc_err("msg=\"cannot register callbacks\"");
		destroy(h);
		return MOSQ_ERR_INVAL;
	}
	hauth_g = h;
	*userdata = h;
	return MOSQ_ERR_SUCCESS;
}

HAUTH_EXPORT int mosquitto_plugin_cleanup(
	void *userdata, struct mosquitto_opt *options, int option_count)
{
	struct hauth *h = userdata;
	(void)options;
	(void)option_count;
	if (plugin_id) {
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_TICK, on_tick, NULL);
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL);
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_RELOAD, on_reload, NULL);
	}
	destroy(h);
	hauth_g = NULL;
	hc_log_limits_flush(true);
	return MOSQ_ERR_SUCCESS;
}
