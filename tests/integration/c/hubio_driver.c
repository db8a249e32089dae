/* SPDX-License-Identifier: MIT */
/*
 * A libhubclient test driver for tests/integration/test_hubio_c.py: one
 * client, commands as JSON lines on stdin, everything that happens as JSON
 * lines on stdout (the shape of tests/integration/js/mqtt_driver.mjs).
 *
 *   hubio_driver --port P --user U (--token T | --token-file F |
 *                --hubctl PATH [--ttl N]) [--protocol 4|5] [--thread]
 *                [--typing-ms N] [--backoff-min N] [--backoff-max N]
 *                [--keepalive N] [--auth-max N] [--cafile F]
 *
 * --token-file is read before every connection attempt (the test rewrites
 * it); --hubctl runs "PATH token U [--ttl N]" through fork/exec before every
 * attempt (HUB_CONFIG comes from the environment). --thread runs the
 * library's background thread and reads stdin on the main thread; without
 * it the main thread polls stdin and the client's socket together
 * (hubio_socket / hubio_want_write / hubio_timeout_ms). --cafile: MQTT over
 * TLS verified against the CA file F (hubio_tls_set).
 *
 * Commands: {"op":"connect"} {"op":"disconnect"} {"op":"join","room"}
 * {"op":"leave","room"} {"op":"emit","id","room","event","data","timeout"}
 * {"op":"emit_user","id","user","event","data","timeout"}
 * {"op":"typing","id","room"} {"op":"request","id","room"|"user","event",
 * "data","timeout"} {"op":"responder","event","answer"} (reply to requests
 * of that event) {"op":"presence","room"} {"op":"count","id","room"}
 * {"op":"call","id","service","method","data","timeout"} (its outcome:
 * {"ev":"answer","id","code","status","answer"}) {"op":"exit"}. Every
 * command answers {"ev":"rc","id","op","rc","err"}.
 */
#include "hubio.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *token_file;
static const char *hubctl;
static const char *ttl;
static const char *user;
static int token_calls;
static char responder_event[80];
static char responder_answer[4096];

static void out(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
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

static void add_data(cJSON *j, const char *data, size_t len)
{
	char *s = malloc(len + 1);
	if (!s)
		return;
	memcpy(s, data, len);
	s[len] = '\0';
	cJSON_AddStringToObject(j, "data", s);
	free(s);
}

/* ------------------------------------------------------------- tokens */

static int token_from_file(char *buf, size_t sz)
{
	FILE *f = fopen(token_file, "r");
	size_t n;
	if (!f)
		return -1;
	n = fread(buf, 1, sz - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return n ? 0 : -1;
}

/* hubctl token USER [--ttl N --session-ttl N], through a pipe: fork/exec,
 * no shell (the session ends with the token: the expiry tests need that) */
static int token_from_hubctl(char *buf, size_t sz)
{
	int p[2], status;
	size_t n = 0;
	pid_t pid;

	if (pipe(p) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		char *argv[] = {(char *)hubctl, "token", (char *)user, ttl ? "--ttl" : NULL,
			(char *)ttl, "--session-ttl", (char *)ttl, NULL};
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(hubctl, argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t r = read(p[0], buf + n, sz - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sz - 1)
			break;
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 && n ? 0 : -1;
}

static int get_token(void *ud, char *buf, size_t sz)
{
	int rc = token_file ? token_from_file(buf, sz) : token_from_hubctl(buf, sz);
	cJSON *j = ev("token");
	(void)ud;
	cJSON_AddNumberToObject(j, "n", ++token_calls);
	cJSON_AddNumberToObject(j, "rc", rc);
	out(j);
	return rc;
}

/* ---------------------------------------------------------- callbacks */

static void on_event(struct hubio *h, const char *event, const char *data, size_t len,
	const struct hubio_meta *m, void *ud)
{
	cJSON *j = ev((const char *)ud);
	cJSON_AddStringToObject(j, "event", event);
	add_data(j, data, len);
	if (m->room)
		cJSON_AddStringToObject(j, "room", m->room);
	if (m->from)
		cJSON_AddStringToObject(j, "from", m->from);
	cJSON_AddNumberToObject(j, "ts", (double)m->ts);
	cJSON_AddBoolToObject(j, "inbox", m->inbox);
	cJSON_AddBoolToObject(j, "has_reply", m->reply != NULL);
	out(j);
	if (m->reply && responder_event[0] && strcmp(event, responder_event) == 0) {
		int rc = hubio_reply(h, m, responder_answer, HUBIO_STRLEN);
		cJSON *r = ev("replied");
		cJSON_AddNumberToObject(r, "rc", rc);
		out(r);
	}
}

static void on_join(struct hubio *h, const char *room, int status, void *ud)
{
	cJSON *j = ev("join");
	(void)h;
	(void)ud;
	cJSON_AddStringToObject(j, "room", room);
	cJSON_AddStringToObject(j, "status", status ? hubio_strerror(status) : "ok");
	cJSON_AddNumberToObject(j, "code", status);
	out(j);
}

static void on_ack(struct hubio *h, int status, void *ud)
{
	cJSON *j = ev("ack");
	(void)h;
	cJSON_AddNumberToObject(j, "id", (double)(intptr_t)ud);
	cJSON_AddStringToObject(j, "status", status ? hubio_strerror(status) : "ok");
	cJSON_AddNumberToObject(j, "code", status);
	out(j);
}

static void on_reply(struct hubio *h, int status, const char *data, size_t len,
	const struct hubio_meta *m, void *ud)
{
	cJSON *j = ev("reply");
	(void)h;
	cJSON_AddNumberToObject(j, "id", (double)(intptr_t)ud);
	cJSON_AddStringToObject(j, "status", status ? hubio_strerror(status) : "ok");
	cJSON_AddNumberToObject(j, "code", status);
	if (data)
		add_data(j, data, len);
	if (m && m->from)
		cJSON_AddStringToObject(j, "from", m->from);
	if (m)
		cJSON_AddBoolToObject(j, "inbox", m->inbox);
	out(j);
}

static void on_answer(struct hubio *h, int status, const char *answer, size_t len, void *ud)
{
	cJSON *j = ev("answer");
	(void)h;
	cJSON_AddNumberToObject(j, "id", (double)(intptr_t)ud);
	cJSON_AddStringToObject(j, "status", status ? hubio_strerror(status) : "ok");
	cJSON_AddNumberToObject(j, "code", status);
	add_data(j, answer, len);
	out(j);
}

static void on_presence(
	struct hubio *h, const char *room, const struct hubio_member *mem, size_t n, void *ud)
{
	cJSON *j = ev("presence"), *a = cJSON_CreateArray();
	(void)ud;
	cJSON_AddStringToObject(j, "room", room);
	cJSON_AddNumberToObject(j, "n", (double)n);
	cJSON_AddNumberToObject(j, "count", (double)hubio_presence_count(h, room));
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(mem[i].user));
	cJSON_AddItemToObject(j, "members", a);
	out(j);
}

/* ----------------------------------------------------------- commands */

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
	intptr_t id;
	int rc = HUBIO_EINVAL;
	long count = 0;
	const char *data;

	if (!c)
		return 0;
	op = str(c, "op");
	id = num(c, "id", 0);
	data = str(c, "data");
	if (!op) {
		cJSON_Delete(c);
		return 0;
	}
	if (!strcmp(op, "exit")) {
		cJSON_Delete(c);
		return 1;
	} else if (!strcmp(op, "connect")) {
		rc = hubio_connect(h);
	} else if (!strcmp(op, "disconnect")) {
		rc = hubio_disconnect(h);
	} else if (!strcmp(op, "join")) {
		rc = hubio_join(h, str(c, "room"), on_join, NULL);
	} else if (!strcmp(op, "leave")) {
		rc = hubio_leave(h, str(c, "room"));
	} else if (!strcmp(op, "emit")) {
		rc = hubio_emit(h, str(c, "room"), str(c, "event"), data, HUBIO_STRLEN, on_ack,
			(void *)id, num(c, "timeout", 0));
	} else if (!strcmp(op, "emit_user")) {
		rc = hubio_emit_to_user(h, str(c, "user"), str(c, "event"), data, HUBIO_STRLEN,
			on_ack, (void *)id, num(c, "timeout", 0));
	} else if (!strcmp(op, "typing")) {
		rc = hubio_typing(h, str(c, "room"));
	} else if (!strcmp(op, "request")) {
		rc = hubio_request(h, str(c, "room"), str(c, "user"), str(c, "event"), data,
			HUBIO_STRLEN, on_reply, (void *)id, num(c, "timeout", 0));
	} else if (!strcmp(op, "call")) {
		rc = hubio_call(h, str(c, "service"), str(c, "method"), data, HUBIO_STRLEN,
			on_answer, (void *)id, num(c, "timeout", 0));
	} else if (!strcmp(op, "responder")) {
		snprintf(responder_event, sizeof(responder_event), "%s",
			str(c, "event") ? str(c, "event") : "");
		snprintf(responder_answer, sizeof(responder_answer), "%s",
			str(c, "answer") ? str(c, "answer") : "{}");
		rc = HUBIO_OK;
	} else if (!strcmp(op, "presence")) {
		rc = hubio_on_presence(h, str(c, "room"), on_presence, NULL);
	} else if (!strcmp(op, "count")) {
		count = hubio_presence_count(h, str(c, "room"));
		rc = HUBIO_OK;
	} else if (!strcmp(op, "connected")) {
		count = hubio_connected(h);
		rc = HUBIO_OK;
	}
	r = ev("rc");
	cJSON_AddNumberToObject(r, "id", (double)id);
	cJSON_AddStringToObject(r, "op", op);
	cJSON_AddNumberToObject(r, "rc", rc);
	cJSON_AddStringToObject(r, "err", hubio_strerror(rc));
	cJSON_AddNumberToObject(r, "value", (double)count);
	out(r);
	cJSON_Delete(c);
	return 0;
}

/* ---------------------------------------------------------------- main */

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
	struct hubio_options o = {0};
	struct hubio *h = NULL;
	char line[65536];
	size_t used = 0;
	int threaded = 0, rc;
	const char *cafile = NULL;
	static const char *const specials[] = {"connect", "disconnect", "joined", "left", "error"};

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--thread")) {
			threaded = 1;
			continue;
		}
		if (!v)
			return 2;
		i++;
		if (!strcmp(a, "--host"))
			o.host = v;
		else if (!strcmp(a, "--port"))
			o.port = opt_int(v);
		else if (!strcmp(a, "--user"))
			o.username = user = v;
		else if (!strcmp(a, "--token"))
			o.token = v;
		else if (!strcmp(a, "--token-file"))
			token_file = v;
		else if (!strcmp(a, "--hubctl"))
			hubctl = v;
		else if (!strcmp(a, "--ttl"))
			ttl = v;
		else if (!strcmp(a, "--protocol"))
			o.protocol = opt_int(v);
		else if (!strcmp(a, "--typing-ms"))
			o.typing_interval_ms = opt_int(v);
		else if (!strcmp(a, "--backoff-min"))
			o.backoff_min_ms = opt_int(v);
		else if (!strcmp(a, "--backoff-max"))
			o.backoff_max_ms = opt_int(v);
		else if (!strcmp(a, "--keepalive"))
			o.keepalive = opt_int(v);
		else if (!strcmp(a, "--auth-max"))
			o.auth_failures_max = opt_int(v);
		else if (!strcmp(a, "--cafile"))
			cafile = v;
		else
			return 2;
	}
	if (token_file || hubctl)
		o.get_token = get_token;
	rc = hubio_new(&o, &h);
	if (rc) {
		fprintf(stderr, "hubio_new: %s\n", hubio_strerror(rc));
		return 1;
	}
	if (cafile && (rc = hubio_tls_set(h, cafile, NULL)) != HUBIO_OK) {
		fprintf(stderr, "hubio_tls_set: %s\n", hubio_strerror(rc));
		hubio_destroy(h); /* LeakSanitizer checks this exit too */
		return 1;
	}
	hubio_on(h, "*", on_event, "event");
	for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++)
		hubio_on(h, specials[i], on_event, (void *)specials[i]);
	if (threaded && hubio_loop_start(h) != HUBIO_OK)
		return 1;
	out(ev("ready"));

	for (;;) {
		struct pollfd p[2] = {{.fd = 0, .events = POLLIN}};
		int n = 1, wait = -1;
		if (!threaded) {
			int fd = hubio_socket(h);
			wait = hubio_timeout_ms(h);
			if (fd >= 0) {
				p[1].fd = fd;
				p[1].events = POLLIN | (hubio_want_write(h) ? POLLOUT : 0);
				n = 2;
			}
		}
		if (poll(p, (nfds_t)n, wait) < 0 && errno != EINTR)
			break;
		if (!threaded)
			hubio_loop(h, 0);
		if (p[0].revents & (POLLIN | POLLHUP)) {
			ssize_t r = read(0, line + used, sizeof(line) - 1 - used);
			char *nl;
			if (r <= 0)
				break;
			used += (size_t)r;
			line[used] = '\0';
			while ((nl = memchr(line, '\n', used))) {
				*nl = '\0';
				if (command(h, line)) {
					hubio_destroy(h);
					return 0;
				}
				used -= (size_t)(nl + 1 - line);
				memmove(line, nl + 1, used);
				line[used] = '\0';
			}
			if (used == sizeof(line) - 1)
				used = 0;
		}
	}
	hubio_destroy(h);
	return 0;
}
