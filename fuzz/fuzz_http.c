/**
 * @file fuzz_http.c  libFuzzer driver: the HTTP request path
 *
 * The input is what a client sends on one connection. It goes through the
 * same steps as in conn_process() (src/web/conn.c): web_head_scan() under
 * the configured limits, then, for a complete and acceptable head with its
 * whole body, web_req_alloc() (a copy of the bytes decoded by libre's
 * http_msg_decode), then the handler side: the request accessors, content
 * negotiation (Accept and Accept-Encoding) and autodiscover_handle(). Pipelined
 * requests are served in turn until the input ends, a head is refused or a
 * request does not keep the connection alive.
 *
 * There is no socket: each request is served twice, once without a
 * connection (plain http: the https redirect document) and once on a
 * closed connection marked as TLS (the full root, domain and user
 * documents). web_reply() then answers ENOTCONN and sends nothing, after
 * the routing, query parsing, negotiation and encoding have run.
 *
 * The configuration is text parsed by conf_parse(); its certificate files
 * (which the parser loads and checks) are generated at start-up in a
 * temporary directory, removed once parsed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <re.h>
#include "core.h"
#include "conf.h"
#include "web_int.h"
#include "autodiscover.h"

enum {
	FUZZ_MAX_REQUESTS = 32, /* pipelined requests served per input */
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf *conf;
static struct autodiscover *ad;
static char dir[] = "/tmp/mobility-fuzz-XXXXXX";
static char cert_path[64], key_path[64];

/* Limits small enough that inputs of a few KiB reach every one of them;
 * the rest of the file is a plain-http deployment like deploy/'s. */
static const char conf_fmt[] =
    "[service]\n"
    "server_fqdn = mobility1.example.test\n"
    "sip_domain = example.test\n"
    "sip_domain = Example.ORG\n"
    "internal_web_fqdn = mobility-int.example.test\n"
    "external_web_fqdn = mobility.example.test\n"
    "external_web_port = 4443\n"
    "log_level = error\n"
    "\n"
    "[http]\n"
    "listen = 127.0.0.1:8080\n"
    "certificate = %s %s\n"
    "max_request_line = 512\n"
    "max_header_bytes = 2048\n"
    "max_headers = 24\n"
    "max_body_bytes = 1024\n"
    "\n"
    "[frontend]\n"
    "address = 127.0.0.1:5061\n"
    "tls_server_name = fe.example.test\n"
    "ca_file = %s\n"
    "client_internal_access = sip-int.example.test:5061\n"
    "client_external_access = sip.example.test:443\n"
    "\n"
    "[sip]\n"
    "internal_listen = 127.0.0.1:5086\n"
    "\n"
    "[autodiscover]\n"
    "redirect = other.test https://lyncdiscover.other.test/\n"
    "link = External/Help https://help.example.test/mobile?lang=en\n"
    "\n"
    "[admin]\n"
    "listen = 127.0.0.1:9180\n";

static void cleanup(void)
{
	(void)unlink(cert_path);
	(void)unlink(key_path);
	(void)rmdir(dir);
}

/* A self-signed P-256 certificate valid from yesterday for a year:
 * it serves as the [http] chain, its key, and the Front End CA file. */
static int write_cert(void)
{
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	FILE *f = NULL;
	int err = EINVAL;

	pk = EVP_EC_gen("P-256");
	x = X509_new();
	if (!pk || !x)
		goto out;

	name = X509_get_subject_name(x);
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"fuzz.test", -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pk) ||
	    !X509_sign(x, pk, EVP_sha256()))
		goto out;

	f = fopen(cert_path, "w");
	if (!f || !PEM_write_X509(f, x) || fclose(f))
		goto out;
	f = fopen(key_path, "w");
	if (!f || !PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) ||
	    fclose(f))
		goto out;
	f = NULL;
	err = 0;

out:
	if (err && f)
		fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
	return err;
}

static int print_stderr(const char *p, size_t size, void *arg)
{
	(void)arg;
	return fwrite(p, 1, size, stderr) == size ? 0 : EIO;
}

/* The token service, by the token's last character: a valid user homed
 * here, one homed on another pool, one with no home, or a bad token
 * (answered at once, as for a token known in memory). */
static int auth_handler(void **chkp, const struct pl *authorization,
			ad_auth_done_h *doneh, void *done_arg, void *arg)
{
	(void)arg;
	*chkp = NULL;

	if (!authorization->l)
		return EACCES;

	switch (authorization->p[authorization->l - 1] & 3) {

	case 0:
		doneh(0, AD_USER_HERE, NULL, done_arg);
		return 0;

	case 1:
		doneh(0, AD_USER_ELSEWHERE,
		      "https://pool2.example.test/Autodiscover/"
		      "AutodiscoverService.svc/root/oauth/user",
		      done_arg);
		return 0;

	case 2:
		doneh(0, AD_USER_UNKNOWN, NULL, done_arg);
		return 0;

	default:
		return EACCES;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct re_printf pf = {print_stderr, NULL};
	char *text;
	int n, err;

	(void)argc;
	(void)argv;

	log_set_level(LOG_ERROR);

	if (!mkdtemp(dir)) {
		perror("fuzz_http: mkdtemp");
		exit(1);
	}
	(void)re_snprintf(cert_path, sizeof(cert_path), "%s/web.pem", dir);
	(void)re_snprintf(key_path, sizeof(key_path), "%s/web.key", dir);

	if (write_cert()) {
		cleanup();
		fprintf(stderr, "fuzz_http: cannot write a certificate\n");
		exit(1);
	}

	n = re_sdprintf(&text, conf_fmt, cert_path, key_path, cert_path);
	if (n < 0) {
		fprintf(stderr, "fuzz_http: out of memory\n");
		exit(1);
	}
	err = conf_parse(&conf, "fuzz.conf", text, strlen(text), &pf);
	mem_deref(text);
	/* the files are read only while parsing: nothing is left behind,
	 * even when a crash ends the process */
	cleanup();
	if (!err)
		err = autodiscover_alloc(&ad, conf);
	if (err) {
		re_fprintf(stderr, "fuzz_http: configuration refused (%m)\n",
			   err);
		exit(1);
	}
	autodiscover_set_auth(ad, auth_handler, NULL);

	return 0;
}

/* What a handler may look at; the results are only checked for sanity. */
static void exercise(struct web_req *req, size_t body_len)
{
	static const char *const names[] = {
	    "Accept", "authorization", "Content-Type", "Cookie", "X-Not-There"};
	static const char *const json_xml[] = {
	    "application/json",
	    "application/vnd.microsoft.rtc.autodiscover+xml", "text/xml"};
	static const char *const one[] = {"application/json"};
	const struct pl *path = web_req_path(req);
	const struct pl *host = web_req_host(req);
	struct pl val;
	size_t i, choice;

	/* web_head_scan() accepted origin-form only */
	if (!path->l || path->p[0] != '/')
		abort();
	if (web_req_body(req)->l != body_len)
		abort();
	if (pl_strchr(host, ':') && host->p[0] != '[')
		abort();
	(void)web_req_method(req);
	(void)web_req_query(req);

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (web_req_header(req, names[i], &val) && val.l &&
		    (val.p < (const char *)req->mb->buf ||
		     val.p + val.l > (const char *)req->mb->buf + req->mb->end))
			abort();
	}

	if (!web_negotiate(req, json_xml, ARRAY_SIZE(json_xml), &choice) &&
	    choice >= ARRAY_SIZE(json_xml))
		abort();
	if (!web_negotiate(req, one, 1, &choice) && choice != 0)
		abort();
	/* Accept-Encoding, as web_reply() reads it */
	if (web_req_coding(req) > WEB_CODING_DEFLATE)
		abort();
	/* runs of '/' were collapsed before routing */
	for (i = 1; i < path->l; i++)
		if (path->p[i] == '/' && path->p[i - 1] == '/')
			abort();

	(void)autodiscover_is_host(ad, host);
	(void)autodiscover_handle(ad, req);
}

/* Serve one request as it arrived, plain and then over "TLS". */
static bool serve(const uint8_t *p, size_t head_len, size_t body_len)
{
	struct web_conn tls_conn;
	struct web_req *req = NULL;
	bool keepalive;

	if (web_req_alloc(&req, NULL, p, head_len, body_len))
		return false; /* the server answers 400 and closes */
	exercise(req, body_len);
	keepalive = req->keepalive;
	req = mem_deref(req);

	/* closed: web_reply() sends nothing and touches no socket */
	memset(&tls_conn, 0, sizeof(tls_conn));
	tls_conn.tls = true;
	tls_conn.closed = true;
	if (web_req_alloc(&req, &tls_conn, p, head_len, body_len))
		abort(); /* same bytes, same verdict */
	exercise(req, body_len);
	mem_deref(req);

	return keepalive;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct conf_http_limits *lim = &conf->limits;
	const uint8_t *p = data;
	size_t left = size;
	unsigned i;

	for (i = 0; i < FUZZ_MAX_REQUESTS && left; i++) {
		struct web_head h, hp;
		int err, errp;

		err = web_head_scan(p, left, lim, &h);
		if (!err && !h.scode && (!h.head_len || h.head_len > left))
			abort();

		/* The server scans whatever has arrived so far: a head found
		 * complete and acceptable in a prefix must be the same head
		 * when more bytes are there. */
		errp = web_head_scan(p, left / 2, lim, &hp);
		if (!errp && !hp.scode &&
		    (err || h.scode || h.head_len != hp.head_len ||
		     h.body_len != hp.body_len))
			abort();

		if (h.scode || err == ENODATA)
			break; /* error answer, or waiting for more */
		if (left - h.head_len < h.body_len)
			break; /* body still arriving */

		if (!serve(p, h.head_len, h.body_len))
			break;
		p += h.head_len + h.body_len;
		left -= h.head_len + h.body_len;
	}

	return 0;
}
