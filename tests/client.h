/**
 * @file client.h  A blocking HTTP/1.1 client run on a thread, for tests of
 * servers that run on the libre loop of the main thread.
 *
 * client_start() runs fn on a new thread; the main thread runs re_main()
 * and client_wait() stops the loop once fn has returned.
 */
#ifndef MOB_TEST_CLIENT_H
#define MOB_TEST_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>

struct client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static inline int client_connect(struct client *c, uint16_t port, bool tls,
				 const char *sni)
{
	struct sockaddr_in sin;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)))
		return errno;
	if (!tls)
		return 0;

	c->ctx = SSL_CTX_new(TLS_client_method());
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	if (sni)
		SSL_set_tlsext_host_name(c->ssl, sni);
	return SSL_connect(c->ssl) == 1 ? 0 : EPROTO;
}

static inline int client_send(struct client *c, const char *s)
{
	size_t n = strlen(s);
	if (c->ssl)
		return SSL_write(c->ssl, s, (int)n) == (int)n ? 0 : EIO;
	return write(c->fd, s, n) == (ssize_t)n ? 0 : EIO;
}

static inline ssize_t client_read1(struct client *c, char *buf, size_t n)
{
	if (c->ssl)
		return SSL_read(c->ssl, buf, (int)n);
	return read(c->fd, buf, n);
}

/* Read one response into buf (NUL-terminated): head and Content-Length
 * bytes of body. Returns the status code, or -1 on EOF/error. */
static inline int client_response(struct client *c, char *buf, size_t size)
{
	size_t have = 0, need = 0;
	char *eoh = NULL;

	while (have + 1 < size) {
		ssize_t n;

		if (eoh && have >= need)
			break;
		n = client_read1(c, buf + have, eoh ? need - have : 1);
		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		if (!eoh && (eoh = strstr(buf, "\r\n\r\n"))) {
			const char *cl = strcasestr(buf, "Content-Length:");
			need = (size_t)(eoh + 4 - buf) +
			       (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
	}
	return atoi(buf + 9);
}

static inline void client_close(struct client *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Thread plumbing */

static volatile int client_done;
static struct tmr client_tmr;

static inline void *client_thread(void *arg)
{
	void (*fn)(void) = (void (*)(void))arg;
	fn();
	client_done = 1;
	return NULL;
}

static inline void client_poll(void *arg)
{
	(void)arg;
	if (client_done) {
		re_cancel();
		return;
	}
	tmr_start(&client_tmr, 5, client_poll, NULL);
}

/* Run fn on a thread while the libre loop runs here; returns when fn has
 * returned. */
static inline void client_run(void (*fn)(void))
{
	pthread_t t;

	client_done = 0;
	pthread_create(&t, NULL, client_thread, (void *)fn);
	tmr_start(&client_tmr, 5, client_poll, NULL);
	(void)re_main(NULL);
	pthread_join(t, NULL);
}

#endif
