/* SPDX-License-Identifier: MIT */
/*
 * The wake connection (hauth_wake.h): a minimal MQTT 3.1.1 client on a raw
 * socket, driven only from the store follower's thread. It never calls the
 * broker API (which is not thread-safe): it only talks to the broker over
 * loopback like any client would.
 */
#include "hauth_wake.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RETRY_MS 1000

struct hauth_wake {
	int fd;
	int64_t retry_at; /* CLOCK_MONOTONIC ms: no connect attempt before */
	char host[256];
	char port[8];
	char secret[65];	  /* 32 random bytes, hex */
	unsigned char hello[256]; /* the CONNECT packet */
	size_t hello_len;
};

static size_t put_str(unsigned char *p, const char *s)
{
	size_t n = strlen(s);
	p[0] = (unsigned char)(n >> 8);
	p[1] = (unsigned char)(n & 0xff);
	memcpy(p + 2, s, n);
	return n + 2;
}

/* CONNECT, MQTT 3.1.1, clean session, user + password, keepalive at the
 * broker's default maximum (0 would be refused by 2.0's max_keepalive). */
static int build_hello(struct hauth_wake *w)
{
	unsigned char body[200];
	char id[40];
	size_t n = 0;
	snprintf(id, sizeof(id), "$hub-wake-%ld", (long)getpid());
	if (10 + 6 + strlen(id) + strlen(HAUTH_WAKE_USER) + strlen(w->secret) > sizeof(body))
		return HUB_ERR_INVAL;
	memcpy(body, "\x00\x04MQTT\x04\xc2\xff\xff", 10);
	n = 10;
	n += put_str(body + n, id);
	n += put_str(body + n, HAUTH_WAKE_USER);
	n += put_str(body + n, w->secret);
	w->hello[0] = 0x10;
	if (n < 128) {
		w->hello[1] = (unsigned char)n;
		memcpy(w->hello + 2, body, n);
		w->hello_len = n + 2;
	} else {
		w->hello[1] = (unsigned char)(0x80 | (n & 0x7f));
		w->hello[2] = (unsigned char)(n >> 7);
		memcpy(w->hello + 3, body, n);
		w->hello_len = n + 3;
	}
	return HUB_OK;
}

int hauth_wake__new(const struct hc_config *cfg, struct hauth_wake **out)
{
	struct hauth_wake *w = calloc(1, sizeof(*w));
	unsigned char rnd[32];
	*out = NULL;
	if (!w)
		return HUB_ERR_NOMEM;
	w->fd = -1;
	snprintf(w->host, sizeof(w->host), "%s", hc_cfg_str(cfg, HC_CFG_MQTT_HOST));
	snprintf(w->port, sizeof(w->port), "%lld", (long long)hc_cfg_int(cfg, HC_CFG_MQTT_PORT));
	if (hc_random(rnd, sizeof(rnd)) != HUB_OK) {
		free(w);
		return HUB_ERR_CRYPTO;
	}
	hc_hex(rnd, sizeof(rnd), w->secret);
	if (build_hello(w) != HUB_OK) {
		free(w);
		return HUB_ERR_INVAL;
	}
	*out = w;
	return HUB_OK;
}

void hauth_wake__free(struct hauth_wake *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	OPENSSL_cleanse(w->secret, sizeof(w->secret));
	OPENSSL_cleanse(w->hello, sizeof(w->hello));
	free(w);
}

bool hauth_wake__is(const struct hauth_wake *w, const char *username, const char *password)
{
	size_t n = sizeof(w->secret) - 1;
	if (!w || !username || !password || strcmp(username, HAUTH_WAKE_USER) != 0)
		return false;
	return strlen(password) == n && hc_ct_equal(password, w->secret, n);
}

static void drop(struct hauth_wake *w)
{
	close(w->fd);
	w->fd = -1;
	w->retry_at = hc_mono_ms() + RETRY_MS;
}

static int dial(struct hauth_wake *w)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int fd = -1, one = 1;

	if (getaddrinfo(w->host, w->port, &hints, &ai) != 0 || !ai)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (send(fd, w->hello, w->hello_len, MSG_NOSIGNAL) != (ssize_t)w->hello_len) {
		close(fd);
		return -1;
	}
	return fd;
}

void hauth_wake__poke(void *ud)
{
	static const unsigned char pingreq[2] = {0xc0, 0x00};
	struct hauth_wake *w = ud;
	unsigned char scratch[256];
	ssize_t r;

	if (!w)
		return;
	if (w->fd >= 0) {
		/* throw away CONNACK and PINGRESPs; notice a closed connection */
		while ((r = recv(w->fd, scratch, sizeof(scratch), MSG_DONTWAIT)) > 0) {
		}
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			drop(w);
	}
	if (w->fd < 0) {
		if (hc_mono_ms() < w->retry_at)
			return;
		w->fd = dial(w);
		if (w->fd < 0) {
			w->retry_at = hc_mono_ms() + RETRY_MS;
			hc_debug("msg=\"wake connection: cannot reach the listener\" host=%s "
				 "port=%s",
				w->host, w->port);
			return;
		}
		/* the new connection alone wakes the loop */
		return;
	}
	if (send(w->fd, pingreq, sizeof(pingreq), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
		errno != EAGAIN && errno != EWOULDBLOCK)
		drop(w);
}
