/**
 * @file signin_client.c  Sign-ins from a client that costs little CPU
 *
 * Driven by bench/signin_bench.py (--client c), which builds it. THREADS
 * threads, each signing in one (user, device) after another with blocking
 * I/O: a token (POST /WebTicket/oauthtoken), then an application (POST
 * applications, answered 201 once the device's REGISTER is accepted).
 *
 *   signin_client PORT HOST CAFILE THREADS USERS DEVICES SECONDS MODE
 *
 * MODE is "full" (a new TLS connection with a full handshake for every
 * sign-in, as a phone signing in for the first time), "resume" (a new
 * connection resuming the TLS session of the thread's previous one, as a
 * phone coming back does) or "keep" (one keep-alive connection per
 * thread). Sign-in k is user "u%05d" (k % USERS) with device "dev-"
 * (k / USERS); the run stops after USERS x DEVICES sign-ins or SECONDS.
 * The server's certificate is verified against CAFILE (the host name is
 * not: everything is on loopback).
 *
 * Prints one "key value" line per figure: signins, again (answered 200:
 * a device signed in before), errors, resumed, seconds, cpu (this
 * process, seconds), p50/p90/p99 (ms, per sign-in, connection included),
 * and the first error.
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

enum {
	THREADS_MAX = 256,
	ANSWER_MAX = 65536, /* head and body of one answer */
	REQUEST_MAX = 2048,
	TOKEN_MAX = 128,
};

enum mode { FULL, RESUME, KEEP };

static struct {
	SSL_CTX *ctx;
	struct sockaddr_in addr;
	const char *host;
	unsigned users, devices;
	unsigned long total;
	enum mode mode;
	double deadline;
	atomic_ulong next;
	atomic_ulong signins, again, errors, resumed;
	pthread_mutex_t lock;
	char first_error[256];
} g;

struct worker {
	pthread_t tid;
	double *lat; /* seconds per sign-in */
	size_t n, size;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, const char *detail)
{
	atomic_fetch_add(&g.errors, 1);
	pthread_mutex_lock(&g.lock);
	if (!g.first_error[0])
		snprintf(g.first_error, sizeof(g.first_error), "%s: %.200s",
			 what, detail);
	pthread_mutex_unlock(&g.lock);
}

struct conn {
	int fd;
	SSL *ssl;
};

static void conn_close(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

/* A new TLS connection, resuming sess when given. */
static int conn_open(struct conn *c, SSL_SESSION *sess)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return errno;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&g.addr, sizeof(g.addr)))
		return errno;
	c->ssl = SSL_new(g.ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) ||
	    !SSL_set_tlsext_host_name(c->ssl, g.host))
		return ENOMEM;
	if (sess)
		(void)SSL_set_session(c->ssl, sess);
	if (SSL_connect(c->ssl) != 1)
		return EPROTO;
	if (SSL_session_reused(c->ssl))
		atomic_fetch_add(&g.resumed, 1);
	return 0;
}

/*
 * Send one request and read its answer (Content-Length framing: the
 * service always sends it). Returns the status code, 0 on a transport
 * error; body points into buf.
 */
static int exchange(struct conn *c, const char *req, size_t len, char *buf,
		    const char **body)
{
	size_t have = 0, need = 0;
	char *end = NULL, *cl;
	int n, status;

	if (SSL_write(c->ssl, req, (int)len) != (int)len)
		return 0;
	for (;;) {
		if (have >= ANSWER_MAX - 1)
			return 0;
		n = SSL_read(c->ssl, buf + have, (int)(ANSWER_MAX - 1 - have));
		if (n <= 0)
			return 0;
		have += (size_t)n;
		buf[have] = '\0';
		if (!end) {
			end = strstr(buf, "\r\n\r\n");
			if (!end)
				continue;
			cl = strcasestr(buf, "\r\nContent-Length:");
			need =
			    (size_t)(end + 4 - buf) +
			    (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
		}
		if (have >= need)
			break;
	}
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return 0;
	*body = end + 4;
	return status;
}

/* One sign-in on c (opened here unless kept); false on an error. */
static bool sign_in(struct conn *c, unsigned long k, char *buf,
		    SSL_SESSION **sess)
{
	char req[REQUEST_MAX], body[256], tok[TOKEN_MAX];
	unsigned user = (unsigned)(k % g.users);
	unsigned dev = (unsigned)(k / g.users);
	const char *ans, *p, *q;
	int n, blen, status, err;

	if (c->fd < 0) {
		err = conn_open(c, g.mode == RESUME ? *sess : NULL);
		if (err) {
			fail("connect or TLS handshake", strerror(err));
			return false;
		}
	}

	blen = snprintf(body, sizeof(body),
			"grant_type=password&username=u%05u@example.test"
			"&password=pw-u%05u",
			user, user);
	n = snprintf(req, sizeof(req),
		     "POST /WebTicket/oauthtoken HTTP/1.1\r\nHost: %s\r\n"
		     "Accept: application/json\r\nContent-Type: "
		     "application/x-www-form-urlencoded\r\n"
		     "Content-Length: %d\r\n\r\n%s",
		     g.host, blen, body);
	status = exchange(c, req, (size_t)n, buf, &ans);
	p = status == 200 ? strstr(ans, "\"access_token\":\"") : NULL;
	q = p ? strchr(p + 16, '"') : NULL;
	if (!q || (size_t)(q - p - 16) >= sizeof(tok)) {
		fail("token", status ? buf : "no answer");
		return false;
	}
	memcpy(tok, p + 16, (size_t)(q - p - 16));
	tok[q - p - 16] = '\0';

	blen = snprintf(body, sizeof(body),
			"{\"culture\":\"en-US\",\"endpointId\":\"dev-%u\","
			"\"userAgent\":\"bench/1.0\"}",
			dev);
	n = snprintf(req, sizeof(req),
		     "POST /ucwa/oauth/v1/applications HTTP/1.1\r\n"
		     "Host: %s\r\nAccept: application/json\r\n"
		     "Authorization: Bearer %s\r\n"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %d\r\n%s\r\n%s",
		     g.host, tok, blen,
		     g.mode == KEEP ? "" : "Connection: close\r\n", body);
	status = exchange(c, req, (size_t)n, buf, &ans);
	if (status == 201)
		atomic_fetch_add(&g.signins, 1);
	else if (status == 200)
		atomic_fetch_add(&g.again, 1);
	else {
		fail("application", status ? buf : "no answer");
		return false;
	}
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct conn c = {.fd = -1, .ssl = NULL};
	SSL_SESSION *sess = NULL;
	char *buf = malloc(ANSWER_MAX);
	unsigned long k;
	double t0;
	bool ok;

	while (buf && now() < g.deadline) {
		k = atomic_fetch_add(&g.next, 1);
		if (k >= g.total)
			break;
		t0 = now();
		ok = sign_in(&c, k, buf, &sess);
		if (ok && w->n < w->size)
			w->lat[w->n++] = now() - t0;
		/* the session's tickets came with the answers: keep the
		 * latest for the next connection. The server closes after
		 * the answer; marked as shut down, the session stays
		 * resumable (OpenSSL drops a session freed without it). */
		if (ok && g.mode == RESUME) {
			SSL_set_shutdown(c.ssl, SSL_SENT_SHUTDOWN |
						    SSL_RECEIVED_SHUTDOWN);
			SSL_SESSION_free(sess);
			sess = SSL_get1_session(c.ssl);
		}
		if (!ok || g.mode != KEEP)
			conn_close(&c);
	}
	conn_close(&c);
	SSL_SESSION_free(sess);
	free(buf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static struct worker w[THREADS_MAX];
	struct rusage ru;
	unsigned threads, i;
	double *all, t0, dt;
	size_t n = 0, j;

	if (argc != 9) {
		fprintf(stderr,
			"usage: %s PORT HOST CAFILE THREADS USERS "
			"DEVICES SECONDS full|resume|keep\n",
			argv[0]);
		return 2;
	}
	threads = (unsigned)atoi(argv[4]);
	g.users = (unsigned)atoi(argv[5]);
	g.devices = (unsigned)atoi(argv[6]);
	g.total = (unsigned long)g.users * g.devices;
	g.mode = !strcmp(argv[8], "keep")     ? KEEP
		 : !strcmp(argv[8], "resume") ? RESUME
					      : FULL;
	g.host = argv[2];
	if (!threads || threads > THREADS_MAX || !g.users || !g.devices) {
		fprintf(stderr,
			"signin_client: 1 to %d threads, users and "
			"devices at least 1\n",
			THREADS_MAX);
		return 2;
	}
	g.addr.sin_family = AF_INET;
	g.addr.sin_port = htons((uint16_t)atoi(argv[1]));
	g.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_mutex_init(&g.lock, NULL);
	/* a write to a connection the server closed is an error, not a
	 * signal */
	signal(SIGPIPE, SIG_IGN);

	g.ctx = SSL_CTX_new(TLS_client_method());
	if (!g.ctx ||
	    SSL_CTX_load_verify_locations(g.ctx, argv[3], NULL) != 1) {
		fprintf(stderr, "signin_client: cannot load %s\n", argv[3]);
		return 1;
	}
	SSL_CTX_set_verify(g.ctx, SSL_VERIFY_PEER, NULL);
	/* sessions are kept by the threads themselves */
	SSL_CTX_set_session_cache_mode(g.ctx, SSL_SESS_CACHE_CLIENT |
						  SSL_SESS_CACHE_NO_INTERNAL);

	t0 = now();
	g.deadline = t0 + atof(argv[7]);
	for (i = 0; i < threads; i++) {
		/* threads take sign-ins as they go: any may do them all */
		w[i].size = g.total;
		w[i].lat = calloc(w[i].size, sizeof(double));
		if (!w[i].lat ||
		    pthread_create(&w[i].tid, NULL, worker_main, &w[i])) {
			fprintf(stderr, "signin_client: no thread\n");
			return 1;
		}
	}
	for (i = 0; i < threads; i++)
		pthread_join(w[i].tid, NULL);
	dt = now() - t0;
	getrusage(RUSAGE_SELF, &ru);

	all = calloc(g.total + 1, sizeof(double));
	for (i = 0; all && i < threads; i++) {
		for (j = 0; j < w[i].n; j++)
			all[n++] = w[i].lat[j];
		free(w[i].lat);
	}
	if (all)
		qsort(all, n, sizeof(double), cmp_double);
	printf("signins %lu\nagain %lu\nerrors %lu\nresumed %lu\n"
	       "seconds %.3f\ncpu %.3f\n",
	       atomic_load(&g.signins), atomic_load(&g.again),
	       atomic_load(&g.errors), atomic_load(&g.resumed), dt,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	if (n)
		printf("p50 %.2f\np90 %.2f\np99 %.2f\n",
		       1000 * all[n * 50 / 100], 1000 * all[n * 90 / 100],
		       1000 * all[n * 99 / 100]);
	if (g.first_error[0])
		printf("first_error %s\n", g.first_error);
	free(all);
	SSL_CTX_free(g.ctx);
	return 0;
}
