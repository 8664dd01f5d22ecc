/**
 * @file sipua_probe.c  Drive the SIP user agent against a Front End, for
 * test_sipua.py
 *
 *   sipua_probe FE_ADDR CA_FILE SERVER_NAME USER DOMAIN SECRET COMMAND...
 *
 *   check                 SECRET is the password; prints
 *                         "ok HA1" or "fail ERRNO SCODE"
 *   register UUID EXPIRES [COUNT]
 *                         SECRET is the HA1; registers and prints one line
 *                         per status change ("registered EXPIRES SENT",
 *                         "failed ERRNO SCODE SENT") until SIGTERM/SIGINT,
 *                         then unregisters and prints "unregistered".
 *                         With COUNT > 1, COUNT registrations of the user
 *                         whose UUIDs end in 0000, 0001... (the lines end
 *                         with " #INDEX")
 *   serve                 prints "listening" and runs until a signal
 *
 * Environment: SIPUA_LISTEN=ADDR:PORT with SIPUA_CERT and SIPUA_KEY (PEM)
 * opens the service's own SIP/TLS listener; SIPUA_TRACE=1 prints every
 * SIP message to stderr; SIPUA_LINGER=1 stays STOP_GRACE_MS after the
 * un-REGISTERs instead of leaving once they are answered.
 *
 * Exit status 0 on success, 1 on failure, 2 on bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sipua.h"

enum {
	WHEEL_TICK_MS = 50,
	WHEEL_SLOTS = 1024,
	STOP_GRACE_MS = 3000, /* time to get the un-REGISTERs out */
	STOP_POLL_MS = 20,
	CHECK_TIMEOUT_MS = 40000,
	PROBE_MAX_REGS = 1000,
};

static struct {
	struct sipua *ua;
	struct sipua_reg *reg[PROBE_MAX_REGS];
	size_t nreg;
	struct sipua_check *chk;
	struct tmr tmr;
	int status;
	bool stopping;
} probe;

static void check_handler(int err, const char *ha1, uint16_t scode, void *arg)
{
	(void)arg;

	if (!err) {
		printf("ok %s\n", ha1);
		probe.status = 0;
	} else {
		printf("fail %d %u\n", err, scode);
		probe.status = 1;
	}
	fflush(stdout);
	re_cancel();
}

static void reg_handler(int err, uint16_t scode, uint32_t expires, void *arg)
{
	size_t i = (size_t)(uintptr_t)arg;

	if (!err)
		printf("registered %u %u", expires,
		       sipua_reg_sent(probe.reg[i]));
	else
		printf("failed %d %u %u", err, scode,
		       sipua_reg_sent(probe.reg[i]));
	if (probe.nreg > 1)
		printf(" #%zu", i);
	printf("\n");
	fflush(stdout);
}

static void drop_regs(void)
{
	size_t i;

	for (i = 0; i < probe.nreg; i++)
		probe.reg[i] = mem_deref(probe.reg[i]);
	probe.nreg = 0;
}

/* SIPUA_TRACE=1: every SIP message sent and received, to stderr */
static void trace_handler(bool tx, enum sip_transp tp, const struct sa *src,
			  const struct sa *dst, const uint8_t *pkt, size_t len,
			  void *arg)
{
	(void)tp;
	(void)arg;
	re_fprintf(stderr, "%s %J -> %J\n%b\n", tx ? "send" : "recv", src, dst,
		   pkt, len);
}

static void stop_timeout(void *arg)
{
	(void)arg;
	re_cancel();
}

/* Stop once the un-REGISTERs are answered (or after STOP_GRACE_MS). */
static void stop_poll(void *arg)
{
	uint64_t *deadline = arg;

	/* SIPUA_LINGER=1 keeps the connection the whole grace time, so a
	 * test can tell an un-REGISTER from a lost connection */
	if ((!sipua_pending(probe.ua) && !getenv("SIPUA_LINGER")) ||
	    tmr_jiffies() >= *deadline) {
		re_cancel();
		return;
	}
	tmr_start(&probe.tmr, STOP_POLL_MS, stop_poll, arg);
}

static void signal_handler(int sig)
{
	static uint64_t stop_deadline;

	(void)sig;

	if (probe.stopping) {
		re_cancel();
		return;
	}
	probe.stopping = true;
	if (probe.nreg) {
		/* dropping a registration sends its un-REGISTER */
		drop_regs();
		printf("unregistered\n");
		fflush(stdout);
		stop_deadline = tmr_jiffies() + STOP_GRACE_MS;
		tmr_start(&probe.tmr, 0, stop_poll, &stop_deadline);
		return;
	}
	re_cancel();
}

int main(int argc, char *argv[])
{
	struct sipua_param p;
	struct wheel *wheel = NULL;
	struct pl addr;
	int err;

	if (argc < 8) {
		fprintf(stderr, "usage: sipua_probe FE_ADDR CA_FILE "
				"SERVER_NAME USER DOMAIN SECRET COMMAND...\n");
		return 2;
	}

	err = libre_init();
	if (err)
		return 1;
	(void)fd_setsize(1024);
	tmr_init(&probe.tmr);
	probe.status = 1;

	memset(&p, 0, sizeof(p));
	pl_set_str(&addr, argv[1]);
	if (sa_decode(&p.fe_addr, addr.p, addr.l)) {
		fprintf(stderr, "bad address %s\n", argv[1]);
		probe.status = 2;
		goto out;
	}
	p.fe_ca_file = argv[2];
	p.fe_server_name = argv[3];

	if (getenv("SIPUA_LISTEN")) {
		pl_set_str(&addr, getenv("SIPUA_LISTEN"));
		if (sa_decode(&p.sip_internal, addr.p, addr.l)) {
			probe.status = 2;
			goto out;
		}
		p.cert_chain = getenv("SIPUA_CERT");
		p.cert_key = getenv("SIPUA_KEY");
	}

	err = wheel_alloc(&wheel, WHEEL_TICK_MS, WHEEL_SLOTS, true);
	if (err)
		goto out;
	p.wheel = wheel;

	err = sipua_alloc(&probe.ua, &p);
	if (err) {
		printf("fail %d 0\n", err);
		goto out;
	}

	if (getenv("SIPUA_TRACE"))
		sip_set_trace_handler(sipua_sip(probe.ua), trace_handler);

	if (!strcmp(argv[7], "check")) {
		err =
		    sipua_check_password(&probe.chk, probe.ua, argv[4], argv[5],
					 argv[6], check_handler, NULL);
		if (err) {
			printf("fail %d 0\n", err);
			goto out;
		}
		tmr_start(&probe.tmr, CHECK_TIMEOUT_MS, stop_timeout, NULL);
	} else if (!strcmp(argv[7], "register") && argc >= 10) {
		size_t i, count = argc > 10 ? (size_t)atoi(argv[10]) : 1;
		char inst[37];

		if (count < 1 || count > PROBE_MAX_REGS ||
		    strlen(argv[8]) != 36) {
			probe.status = 2;
			goto out;
		}
		for (i = 0; i < count; i++) {
			struct sipua_reg_param rp = {
			    .user = argv[4],
			    .domain = argv[5],
			    .ha1 = argv[6],
			    .instance = argv[8],
			    .expires = (uint32_t)atoi(argv[9]),
			};

			if (count > 1) {
				/* the last 4 hex digits number the devices */
				memcpy(inst, argv[8], 32);
				(void)snprintf(inst + 32, 5, "%04zx",
					       i % 0x10000);
				rp.instance = inst;
			}
			err =
			    sipua_reg_alloc(&probe.reg[i], probe.ua, &rp,
					    reg_handler, (void *)(uintptr_t)i);
			if (err) {
				printf("fail %d 0\n", err);
				goto out;
			}
			probe.nreg = i + 1;
		}
		probe.status = 0;
	} else if (!strcmp(argv[7], "serve")) {
		printf("listening\n");
		fflush(stdout);
		probe.status = 0;
	} else {
		probe.status = 2;
		goto out;
	}

	(void)re_main(signal_handler);

out:
	tmr_cancel(&probe.tmr);
	probe.chk = mem_deref(probe.chk);
	drop_regs();
	probe.ua = mem_deref(probe.ua);
	wheel = mem_deref(wheel);
	fflush(stdout);
	libre_close();
	return probe.status;
}
