/* SPDX-License-Identifier: MIT */
/*
 * hubio-chat: a small chat client on libhubclient. Joins one room, prints
 * every event with who sent it, and sends each line typed on stdin as a
 * "chat message" {"room":..,"content":..}. It polls stdin and the client's
 * socket in one poll() (hubio_socket / hubio_want_write / hubio_timeout_ms
 * + hubio_loop(h, 0)).
 *
 *   hubio-chat -u USER (-t TOKEN | -f TOKEN_FILE) [-r ROOM] [-H HOST] [-p PORT]
 *
 * With -f the file is read again before every reconnect, so a script that
 * keeps it fresh (hubctl token USER > file) keeps the client connected
 * across token expiry. Get a token with `hubctl token USER` or from
 * POST /api/login.
 */
#include "hubio.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *room = "lobby";
static const char *token_file;

static int read_token(void *ud, char *buf, size_t sz)
{
	FILE *f = fopen(token_file, "r");
	size_t n;
	(void)ud;
	if (!f)
		return -1;
	n = fread(buf, 1, sz - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return n ? 0 : -1;
}

static void on_event(struct hubio *h, const char *event, const char *data, size_t len,
	const struct hubio_meta *m, void *ud)
{
	(void)h;
	(void)ud;
	printf("[%lld] %s%s%s %s from %s: %.*s\n", (long long)m->ts, m->room ? "#" : "",
		m->room ? m->room : "", m->inbox ? "(inbox)" : "", event, m->from ? m->from : "-",
		(int)len, data);
	fflush(stdout);
}

static void on_join(struct hubio *h, const char *r, int status, void *ud)
{
	(void)h;
	(void)ud;
	printf("join %s: %s\n", r, status ? hubio_strerror(status) : "ok");
	fflush(stdout);
}

static void on_presence(
	struct hubio *h, const char *r, const struct hubio_member *m, size_t n, void *ud)
{
	(void)h;
	(void)ud;
	printf("presence %s: %zu online:", r, n);
	for (size_t i = 0; i < n; i++)
		printf(" %s", m[i].user);
	printf("\n");
	fflush(stdout);
}

static void send_line(struct hubio *h, const char *text)
{
	cJSON *j = cJSON_CreateObject();
	char *body;
	int rc;
	cJSON_AddStringToObject(j, "room", room);
	cJSON_AddStringToObject(j, "content", text);
	body = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!body)
		return;
	rc = hubio_emit(h, room, "chat message", body, HUBIO_STRLEN, NULL, NULL, 0);
	if (rc)
		fprintf(stderr, "not sent: %s\n", hubio_strerror(rc));
	free(body);
}

static int usage(void)
{
	fprintf(stderr, "usage: hubio-chat -u USER (-t TOKEN | -f TOKEN_FILE) [-r ROOM] "
			"[-H HOST] [-p PORT]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct hubio_options o = {0};
	struct hubio *h;
	char line[4096];
	size_t used = 0;
	int c, rc;

	while ((c = getopt(argc, argv, "u:t:f:r:H:p:")) != -1) {
		switch (c) {
		case 'u':
			o.username = optarg;
			break;
		case 't':
			o.token = optarg;
			break;
		case 'f':
			token_file = optarg;
			o.get_token = read_token;
			break;
		case 'r':
			room = optarg;
			break;
		case 'H':
			o.host = optarg;
			break;
		case 'p': {
			char *end;
			long p = strtol(optarg, &end, 10);
			if (*end || p < 1 || p > 65535)
				return usage();
			o.port = (int)p;
			break;
		}
		default:
			return usage();
		}
	}
	if (!o.username || (!o.token && !token_file))
		return usage();
	if ((rc = hubio_new(&o, &h))) {
		fprintf(stderr, "hubio-chat: %s\n", hubio_strerror(rc));
		return 1;
	}
	hubio_on(h, "*", on_event, NULL);
	hubio_on(h, "joined", on_event, NULL);
	hubio_on(h, "left", on_event, NULL);
	hubio_on(h, "connect", on_event, NULL);
	hubio_on(h, "disconnect", on_event, NULL);
	hubio_on(h, "error", on_event, NULL);
	if ((rc = hubio_join(h, room, on_join, NULL)) ||
		(rc = hubio_on_presence(h, room, on_presence, NULL)) || (rc = hubio_connect(h))) {
		fprintf(stderr, "hubio-chat: %s\n", hubio_strerror(rc));
		hubio_destroy(h);
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = 0, .events = POLLIN}};
		int n = 1, fd = hubio_socket(h);
		if (fd >= 0) {
			p[1].fd = fd;
			p[1].events = POLLIN | (hubio_want_write(h) ? POLLOUT : 0);
			n = 2;
		}
		if (poll(p, (nfds_t)n, hubio_timeout_ms(h)) < 0 && errno != EINTR)
			break;
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
				if (line[0])
					send_line(h, line);
				used -= (size_t)(nl + 1 - line);
				memmove(line, nl + 1, used);
				line[used] = '\0';
			}
			if (used == sizeof(line) - 1) { /* an over-long line: send it as is */
				send_line(h, line);
				used = 0;
			}
		}
	}
	/* flush what is queued, then leave cleanly */
	for (int i = 0; i < 5; i++)
		hubio_loop(h, 50);
	hubio_destroy(h);
	return 0;
}
