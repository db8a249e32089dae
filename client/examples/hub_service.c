/* SPDX-License-Identifier: MIT */
/*
 * hub-service: a backend on libhubclient's service role (docs/backends.md,
 * "C"): an order service and a "vote once" hook.
 *
 *   hub-service -s SERVICE [-K KEY_FILE] [-H HOST] [-p PORT] [-x]
 *
 * The key comes from KEY_FILE or the environment (HUB_SERVICE_KEY), never
 * from the command line (other users see it in ps). Make one with
 * `hubctl servicekey add SERVICE`.
 *
 * Methods (a browser calls them with io('/SERVICE').emitWithAck('order',
 * {...}) or hubio.js's hub.call('SERVICE', 'order', {...})):
 *   order {"item":"tea","qty":2} -> {"ok":true,"id":1,"item":"tea","qty":2,"by":"alice"}
 *         errors {"error":"invalid","message":...},
 *                {"error":"out_of_stock","message":"no tea left"}
 *   stock {}                     -> {"tea":8,"cake":5,"scone":3}
 * Hook, for every room hooked to SERVICE (hubctl room hook poll SERVICE):
 *   "vote" {"pick":"blue"}: once per user and room; accepted with the count
 *   so far added, {"pick":"blue","count":3} (members get that changed
 *   data); a second vote is rejected "already voted", a vote without a
 *   pick of 1-64 bytes "invalid vote". Other events are accepted as sent.
 *
 * Start it as often as you like: the processes share the calls (the
 * shared subscription $share/SERVICE/svc/SERVICE/#; -x: every process gets
 * every call). Each process keeps its own stock and votes here; a real
 * backend keeps them in its database. SIGINT / SIGTERM stop it gracefully:
 * no new calls come, the ones in flight are answered (10 s at most).
 */
#include "hubio.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_LEN 64
#define VOTES_MAX    10000

static struct hubio *hub;
static long next_order_id = 1;

static struct {
	const char *item;
	long left;
} stock[] = {{"tea", 10}, {"cake", 5}, {"scone", 3}};

struct vote {
	char room[NAME_MAX_LEN + 1];
	char user[NAME_MAX_LEN + 1];
	char pick[NAME_MAX_LEN + 1];
};
static struct vote votes[VOTES_MAX];
static int nvotes;

/* ---------------------------------------------------------------- calls */

static void answer_json(struct hubio *h, struct hubio_call *call, cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	int rc = s ? hubio_answer(h, call, s, HUBIO_STRLEN)
		   : hubio_answer_error(h, call, "internal", "out of memory");
	if (rc != HUBIO_OK)
		fprintf(stderr, "hub-service: answer: %s\n", hubio_strerror(rc));
	free(s);
	cJSON_Delete(j);
}

static void on_order(struct hubio *h, struct hubio_call *call, const char *data, size_t len,
	const struct hubio_ctx *ctx, void *ud)
{
	cJSON *in = cJSON_ParseWithLength(data, len), *item, *qty, *a;
	long n;
	size_t i;
	(void)ud;

	item = cJSON_GetObjectItemCaseSensitive(in, "item");
	qty = cJSON_GetObjectItemCaseSensitive(in, "qty");
	n = cJSON_IsNumber(qty) ? (long)qty->valuedouble : 1;
	if (!cJSON_IsString(item) || (qty && !cJSON_IsNumber(qty)) || n < 1 || n > 100) {
		hubio_answer_error(h, call, "invalid", "expected {\"item\": name, \"qty\": 1-100}");
		goto done;
	}
	for (i = 0; i < sizeof(stock) / sizeof(stock[0]); i++)
		if (!strcmp(stock[i].item, item->valuestring))
			break;
	if (i == sizeof(stock) / sizeof(stock[0])) {
		hubio_answer_error(h, call, "invalid", "no such item");
		goto done;
	}
	if (stock[i].left < n) {
		char msg[96];
		snprintf(msg, sizeof(msg), "no %s left", stock[i].item);
		hubio_answer_error(h, call, "out_of_stock", msg);
		goto done;
	}
	stock[i].left -= n;
	a = cJSON_CreateObject();
	cJSON_AddTrueToObject(a, "ok");
	cJSON_AddNumberToObject(a, "id", (double)next_order_id++);
	cJSON_AddStringToObject(a, "item", stock[i].item);
	cJSON_AddNumberToObject(a, "qty", (double)n);
	cJSON_AddStringToObject(a, "by", ctx->user);
	printf("order %s x%ld by %s (%s)\n", stock[i].item, n, ctx->user, ctx->display_name);
	answer_json(h, call, a);
done:
	cJSON_Delete(in);
}

static void on_stock(struct hubio *h, struct hubio_call *call, const char *data, size_t len,
	const struct hubio_ctx *ctx, void *ud)
{
	cJSON *a = cJSON_CreateObject();
	(void)data;
	(void)len;
	(void)ctx;
	(void)ud;
	for (size_t i = 0; i < sizeof(stock) / sizeof(stock[0]); i++)
		cJSON_AddNumberToObject(a, stock[i].item, (double)stock[i].left);
	answer_json(h, call, a);
}

/* ----------------------------------------------------------------- hook */

static void on_event(struct hubio *h, struct hubio_call *call, const char *data, size_t len,
	const struct hubio_ctx *ctx, void *ud)
{
	cJSON *in, *pick, *out;
	char *s;
	int count = 1;
	(void)ud;

	if (strcmp(ctx->event, "vote") != 0) {
		hubio_accept(h, call, NULL, 0); /* everything else as it was sent */
		return;
	}
	in = cJSON_ParseWithLength(data, len);
	pick = cJSON_GetObjectItemCaseSensitive(in, "pick");
	if (!cJSON_IsString(pick) || !pick->valuestring[0] ||
		strlen(pick->valuestring) > NAME_MAX_LEN) {
		hubio_reject(h, call, "invalid vote");
		goto done;
	}
	for (int i = 0; i < nvotes; i++) {
		if (strcmp(votes[i].room, ctx->room) != 0)
			continue;
		if (!strcmp(votes[i].user, ctx->user)) {
			printf("vote in %s by %s: rejected (already voted)\n", ctx->room,
				ctx->user);
			hubio_reject(h, call, "already voted");
			goto done;
		}
		if (!strcmp(votes[i].pick, pick->valuestring))
			count++;
	}
	if (nvotes == VOTES_MAX) {
		hubio_reject(h, call, "the poll is full");
		goto done;
	}
	snprintf(votes[nvotes].room, sizeof(votes[0].room), "%s", ctx->room);
	snprintf(votes[nvotes].user, sizeof(votes[0].user), "%s", ctx->user);
	snprintf(votes[nvotes].pick, sizeof(votes[0].pick), "%s", pick->valuestring);
	nvotes++;
	/* accepted with changed data: members see the count so far */
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "pick", pick->valuestring);
	cJSON_AddNumberToObject(out, "count", count);
	s = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	printf("vote in %s by %s: %s (%d)\n", ctx->room, ctx->user, pick->valuestring, count);
	if (!s || hubio_accept(h, call, s, HUBIO_STRLEN) != HUBIO_OK)
		hubio_reject(h, call, "the service failed to count the vote");
	free(s);
done:
	cJSON_Delete(in);
}

/* ----------------------------------------------------------------- main */

static void on_status(struct hubio *h, const char *event, const char *data, size_t len,
	const struct hubio_meta *m, void *ud)
{
	(void)h;
	(void)m;
	(void)ud;
	printf("%s %.*s\n", event, (int)len, data);
}

static void on_stopped(struct hubio *h, int status, void *ud)
{
	(void)ud;
	printf("stopped: %s (%ld calls unanswered)\n",
		status == HUBIO_OK ? "every call answered" : hubio_strerror(status),
		hubio_inflight(h));
}

/* async-signal-safe: hubio_loop_break only stores a flag and writes a byte */
static void on_signal(int sig)
{
	(void)sig;
	if (hub)
		hubio_loop_break(hub);
}

static int read_key(const char *path, char *buf, size_t sz)
{
	FILE *f = fopen(path, "r");
	size_t n;
	if (!f)
		return -1;
	n = fread(buf, 1, sz - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return n ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: hub-service -s SERVICE [-K KEY_FILE] [-H HOST] [-p PORT] [-x]\n"
			"       (the key from KEY_FILE or HUB_SERVICE_KEY)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct hubio_service_options o = {0};
	struct sigaction sa = {0};
	char key[HUBIO_TOKEN_MAX];
	const char *key_file = NULL, *env;
	int c, rc;

	while ((c = getopt(argc, argv, "s:K:H:p:x")) != -1) {
		switch (c) {
		case 's':
			o.service = optarg;
			break;
		case 'K':
			key_file = optarg;
			break;
		case 'H':
			o.host = optarg;
			break;
		case 'p': {
			char *end;
			long p = strtol(optarg, &end, 10);
			if (*end || p < 1 || p > 65535)
				usage();
			o.port = (int)p;
			break;
		}
		case 'x':
			o.exclusive = 1;
			break;
		default:
			usage();
		}
	}
	if (!o.service)
		usage();
	if (key_file) {
		if (read_key(key_file, key, sizeof(key)) != 0) {
			fprintf(stderr, "hub-service: cannot read a key from %s\n", key_file);
			return 1;
		}
	} else if ((env = getenv("HUB_SERVICE_KEY")) && *env &&
		   (size_t)snprintf(key, sizeof(key), "%s", env) < sizeof(key)) {
		/* taken */
	} else {
		fprintf(stderr, "hub-service: no key (-K KEY_FILE or HUB_SERVICE_KEY)\n");
		return 2;
	}
	o.key = key;
	setvbuf(stdout, NULL, _IOLBF, 0);

	rc = hubio_service_new(&o, &hub);
	explicit_bzero(key, sizeof(key)); /* the library keeps its own copy */
	if (rc != HUBIO_OK) {
		fprintf(stderr, "hub-service: %s\n", hubio_strerror(rc));
		return 1;
	}
	hubio_handle(hub, "order", on_order, NULL);
	hubio_handle(hub, "stock", on_stock, NULL);
	hubio_hook(hub, NULL, on_event, NULL); /* every room hooked to us */
	hubio_on(hub, "connect", on_status, NULL);
	hubio_on(hub, "disconnect", on_status, NULL);
	hubio_on(hub, "error", on_status, NULL);

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	hubio_connect(hub);
	hubio_loop_forever(hub); /* until a signal */
	printf("stopping\n");
	if (hubio_stop(hub, 10000, on_stopped, NULL) == HUBIO_OK)
		hubio_loop_forever(hub); /* until the calls in flight are answered */
	hubio_destroy(hub);
	return 0;
}
