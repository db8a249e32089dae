/* SPDX-License-Identifier: MIT */
/*
 * A libhubclient service (the service role: hubio_service_new, hubio_handle,
 * hubio_hook, hubio_answer*, hubio_accept/reject, hubio_stop) driven by
 * tests/integration/test_backends_clients.py: commands as JSON lines on
 * stdin, what happens as JSON lines on stdout (each with "pid"), the shape
 * of tests/integration/js/backend_driver.mjs.
 *
 *   service_driver --port P --service S --key K [--exclusive]
 *                  [--inflight N] [--backoff-min N]
 *
 * The client's loop runs in the library's background thread
 * (hubio_loop_start); "slow" answers come from threads of their own, so
 * answering from another thread is exercised too.
 *
 * Commands:
 *   {"op":"connect"}                     -> {"ev":"connect"} when up
 *   {"op":"handle","method","behaviour","delay"}  behaviour:
 *        echo   answers {"echo":data,"pid"}
 *        ctx    answers {"ctx":{...}}
 *        slow   answers {"echo":data,"pid"} after delay ms (another thread)
 *        fail   answers the error out_of_stock / "no tea left"
 *        hang   never answers
 *   {"op":"hook","room","behaviour","delay"}  room "*": every room;
 *        accept | upper (data.text upper-cased) | reject (reason "no") |
 *        slow (accept after delay ms) | hang | vote (once per user)
 *   {"op":"call","id","service","method","data","timeout"}
 *                                        -> {"ev":"answer","id","code","answer"}
 *   {"op":"stop","timeout"}              -> {"ev":"stopped","code"}
 *   {"op":"inflight"}                    -> {"ev":"inflight","n"}
 *   {"op":"exit"}
 * Besides: {"ev":"call","method","data","ctx"} when a handler starts,
 * {"ev":"hooked","room","event","data","ctx"} when a hook handler starts,
 * {"ev":"answered","rc"} for every answer given, {"ev":"error",...}.
 */
#include "hubio.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void out(cJSON *j)
{
	char *s;
	cJSON_AddNumberToObject(j, "pid", (double)getpid());
	s = cJSON_PrintUnformatted(j);
	pthread_mutex_lock(&out_lock);
	if (s)
		printf("%s\n", s);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	free(s);
	cJSON_Delete(j);
}

static cJSON *ev(const char *name)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "ev", name);
	return j;
}

/* data as JSON when it is, else as a string */
static cJSON *value_of(const char *data, size_t len)
{
	cJSON *v = cJSON_ParseWithLength(data, len);
	char *s;
	if (v)
		return v;
	s = malloc(len + 1);
	if (!s)
		return cJSON_CreateNull();
	memcpy(s, data, len);
	s[len] = '\0';
	v = cJSON_CreateString(s);
	free(s);
	return v;
}

static cJSON *ctx_json(const struct hubio_ctx *c)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "service", c->service);
	if (c->method)
		cJSON_AddStringToObject(j, "method", c->method);
	if (c->room)
		cJSON_AddStringToObject(j, "room", c->room);
	if (c->event)
		cJSON_AddStringToObject(j, "event", c->event);
	cJSON_AddStringToObject(j, "user", c->user);
	cJSON_AddStringToObject(j, "displayName", c->display_name);
	cJSON_AddStringToObject(j, "role", c->role);
	cJSON_AddStringToObject(j, "kind", c->kind);
	return j;
}

static void answered(int rc)
{
	cJSON *j = ev("answered");
	cJSON_AddNumberToObject(j, "rc", rc);
	out(j);
}

/* ----------------------------------------------------------- behaviours */

enum behaviour { B_ECHO, B_CTX, B_SLOW, B_FAIL, B_HANG, B_ACCEPT, B_UPPER, B_REJECT, B_VOTE };

struct route {
	enum behaviour b;
	int delay;
};

static enum behaviour parse_behaviour(const char *s)
{
	static const char *const names[] = {
		"echo", "ctx", "slow", "fail", "hang", "accept", "upper", "reject", "vote"};
	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return (enum behaviour)i;
	return B_ECHO;
}

static char *echo_answer(const char *data, size_t len)
{
	cJSON *j = cJSON_CreateObject();
	char *s;
	cJSON_AddItemToObject(j, "echo", value_of(data, len));
	cJSON_AddNumberToObject(j, "pid", (double)getpid());
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

static int laters; /* answers still to come from threads (atomic) */
static struct route *routes[256];
static int nroutes;

struct later {
	struct hubio *h;
	struct hubio_call *call;
	char *answer; /* NULL: accept a hook request unchanged */
	int delay;
};

static void *later_main(void *arg)
{
	struct later *l = arg;
	struct timespec ts = {l->delay / 1000, (long)(l->delay % 1000) * 1000000L};
	int rc;
	nanosleep(&ts, NULL);
	rc = l->answer ? hubio_answer(l->h, l->call, l->answer, HUBIO_STRLEN)
		       : hubio_accept(l->h, l->call, NULL, 0);
	answered(rc);
	free(l->answer);
	free(l);
	__atomic_sub_fetch(&laters, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void answer_later(struct hubio *h, struct hubio_call *call, char *answer, int delay)
{
	struct later *l = calloc(1, sizeof(*l));
	pthread_t t;
	if (!l)
		return;
	l->h = h;
	l->call = call;
	l->answer = answer;
	l->delay = delay;
	__atomic_add_fetch(&laters, 1, __ATOMIC_SEQ_CST);
	if (pthread_create(&t, NULL, later_main, l) == 0) {
		pthread_detach(t);
	} else {
		__atomic_sub_fetch(&laters, 1, __ATOMIC_SEQ_CST);
		free(l->answer);
		free(l);
	}
}

static void on_call(struct hubio *h, struct hubio_call *call, const char *data, size_t len,
	const struct hubio_ctx *ctx, void *ud)
{
	struct route *r = ud;
	cJSON *j = ev("call"), *a;
	char *s;

	cJSON_AddStringToObject(j, "method", ctx->method);
	cJSON_AddItemToObject(j, "data", value_of(data, len));
	cJSON_AddItemToObject(j, "ctx", ctx_json(ctx));
	out(j);
	switch (r->b) {
	case B_CTX:
		a = cJSON_CreateObject();
		cJSON_AddItemToObject(a, "ctx", ctx_json(ctx));
		s = cJSON_PrintUnformatted(a);
		cJSON_Delete(a);
		answered(hubio_answer(h, call, s, HUBIO_STRLEN));
		free(s);
		break;
	case B_SLOW:
		answer_later(h, call, echo_answer(data, len), r->delay);
		break;
	case B_FAIL:
		answered(hubio_answer_error(h, call, "out_of_stock", "no tea left"));
		break;
	case B_HANG:
		break;
	default:
		s = echo_answer(data, len);
		answered(hubio_answer(h, call, s, HUBIO_STRLEN));
		free(s);
	}
}

/* vote once per user: a small fixed table is enough for the tests */
static char voted[256][65];
static int nvoted;

static void on_hook(struct hubio *h, struct hubio_call *call, const char *data, size_t len,
	const struct hubio_ctx *ctx, void *ud)
{
	struct route *r = ud;
	cJSON *j = ev("hooked"), *v, *t;
	char *s;

	cJSON_AddStringToObject(j, "room", ctx->room);
	cJSON_AddStringToObject(j, "event", ctx->event);
	cJSON_AddItemToObject(j, "data", value_of(data, len));
	cJSON_AddStringToObject(j, "from", ctx->user);
	cJSON_AddItemToObject(j, "ctx", ctx_json(ctx));
	out(j);
	switch (r->b) {
	case B_UPPER:
		v = cJSON_ParseWithLength(data, len);
		if (!cJSON_IsObject(v)) {
			cJSON_Delete(v);
			v = cJSON_CreateObject();
		}
		t = cJSON_GetObjectItemCaseSensitive(v, "text");
		if (cJSON_IsString(t))
			for (char *p = t->valuestring; *p; p++)
				if (*p >= 'a' && *p <= 'z')
					*p = (char)(*p - 'a' + 'A');
		s = cJSON_PrintUnformatted(v);
		cJSON_Delete(v);
		answered(hubio_accept(h, call, s, HUBIO_STRLEN));
		free(s);
		break;
	case B_REJECT:
		answered(hubio_reject(h, call, "no"));
		break;
	case B_SLOW:
		answer_later(h, call, NULL, r->delay);
		break;
	case B_HANG:
		break;
	case B_VOTE:
		for (int i = 0; i < nvoted; i++)
			if (!strcmp(voted[i], ctx->user)) {
				answered(hubio_reject(h, call, "already voted"));
				return;
			}
		if (nvoted < 256)
			snprintf(voted[nvoted++], sizeof(voted[0]), "%s", ctx->user);
		answered(hubio_accept(h, call, NULL, 0));
		break;
	default:
		answered(hubio_accept(h, call, NULL, 0));
	}
}

/* ------------------------------------------------------------- the rest */

static void on_answer(struct hubio *h, int status, const char *answer, size_t len, void *ud)
{
	cJSON *j = ev("answer");
	(void)h;
	cJSON_AddNumberToObject(j, "id", (double)(intptr_t)ud);
	cJSON_AddNumberToObject(j, "code", status);
	cJSON_AddItemToObject(j, "answer", value_of(answer, len));
	out(j);
}

static void on_stopped(struct hubio *h, int status, void *ud)
{
	cJSON *j = ev("stopped");
	(void)h;
	(void)ud;
	cJSON_AddNumberToObject(j, "code", status);
	out(j);
}

static void on_special(struct hubio *h, const char *event, const char *data, size_t len,
	const struct hubio_meta *m, void *ud)
{
	cJSON *j = ev(event);
	(void)h;
	(void)m;
	(void)ud;
	cJSON_AddItemToObject(j, "data", value_of(data, len));
	out(j);
}

static const char *str(cJSON *c, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(c, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int num(cJSON *c, const char *k, int dflt)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(c, k);
	return cJSON_IsNumber(v) ? v->valueint : dflt;
}

/* returns 1 on "exit" */
static int command(struct hubio *h, const char *line)
{
	cJSON *c = cJSON_Parse(line), *r;
	const char *op;
	int rc = HUBIO_EINVAL;

	if (!c)
		return 0;
	op = str(c, "op");
	if (!op) {
		cJSON_Delete(c);
		return 0;
	}
	if (!strcmp(op, "exit")) {
		cJSON_Delete(c);
		return 1;
	} else if (!strcmp(op, "connect")) {
		rc = hubio_connect(h);
	} else if (!strcmp(op, "handle") || !strcmp(op, "hook")) {
		/* one route per command, kept for the process's life */
		struct route *rt = nroutes < 256 ? calloc(1, sizeof(*rt)) : NULL;
		const char *room = str(c, "room");
		if (rt) {
			routes[nroutes++] = rt;
			rt->b = parse_behaviour(str(c, "behaviour"));
			rt->delay = num(c, "delay", 1000);
			if (!strcmp(op, "handle"))
				rc = hubio_handle(h, str(c, "method"), on_call, rt);
			else
				rc = hubio_hook(
					h, room && strcmp(room, "*") ? room : NULL, on_hook, rt);
		}
	} else if (!strcmp(op, "call")) {
		const char *d = str(c, "data");
		rc = hubio_call(h, str(c, "service"), str(c, "method"), d, HUBIO_STRLEN, on_answer,
			(void *)(intptr_t)num(c, "id", 0), num(c, "timeout", 0));
	} else if (!strcmp(op, "stop")) {
		rc = hubio_stop(h, num(c, "timeout", 0), on_stopped, NULL);
	} else if (!strcmp(op, "inflight")) {
		r = ev("inflight");
		cJSON_AddNumberToObject(r, "n", (double)hubio_inflight(h));
		out(r);
		rc = HUBIO_OK;
	}
	r = ev("rc");
	cJSON_AddStringToObject(r, "op", op);
	cJSON_AddNumberToObject(r, "rc", rc);
	cJSON_AddStringToObject(r, "err", hubio_strerror(rc));
	out(r);
	cJSON_Delete(c);
	return 0;
}

static int opt_int(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 1000000)
		exit(2);
	return (int)v;
}

int main(int argc, char **argv)
{
	struct hubio_service_options o = {0};
	struct hubio *h = NULL;
	char line[65536];
	static const char *const specials[] = {"connect", "disconnect", "error"};
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--exclusive")) {
			o.exclusive = 1;
			continue;
		}
		if (!v)
			return 2;
		i++;
		if (!strcmp(a, "--host"))
			o.host = v;
		else if (!strcmp(a, "--port"))
			o.port = opt_int(v);
		else if (!strcmp(a, "--service"))
			o.service = v;
		else if (!strcmp(a, "--key"))
			o.key = v;
		else if (!strcmp(a, "--inflight"))
			o.inflight_max = opt_int(v);
		else if (!strcmp(a, "--backoff-min"))
			o.backoff_min_ms = opt_int(v);
		else
			return 2;
	}
	rc = hubio_service_new(&o, &h);
	if (rc) {
		fprintf(stderr, "hubio_service_new: %s\n", hubio_strerror(rc));
		return 1;
	}
	for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++)
		hubio_on(h, specials[i], on_special, NULL);
	if (hubio_loop_start(h) != HUBIO_OK)
		return 1;
	out(ev("ready"));
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (command(h, line))
			break;
	}
	/* a thread still sleeping on a slow answer would use h after the
	 * destroy: leave without it then */
	if (__atomic_load_n(&laters, __ATOMIC_SEQ_CST) > 0)
		_exit(0);
	hubio_destroy(h);
	for (int i = 0; i < nroutes; i++)
		free(routes[i]);
	return 0;
}
