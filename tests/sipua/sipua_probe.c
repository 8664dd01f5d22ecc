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
 *   message TO_URI CTYPE TEXT
 *                         SECRET is the HA1; sends one MESSAGE and prints
 *                         "sent ERRNO SCODE" (exit 0 when ERRNO is 0)
 *   publish CTYPE EXPIRES FILE...
 *                         SECRET is the HA1; publishes FILE (the first,
 *                         then the next at each SIGUSR1) and prints
 *                         "published ERRNO SCODE" for every answer; on
 *                         SIGTERM drops the publication (Expires: 0) and
 *                         prints "unpublished"
 *   subscribe UUID EXPIRES TARGET_URI LIST
 *                         SECRET is the HA1; registers like register, then
 *                         subscribes to TARGET_URI's presence (LIST 1: a
 *                         resource list through RLS) for EXPIRES seconds;
 *                         prints "notify N SENT" for every NOTIFY (SENT:
 *                         SUBSCRIBEs sent so far), then one line
 *                         "presence URI STATE AVAIL" per entry (AVAIL
 *                         "-" when none), "closed ERRNO SCODE" when the
 *                         subscription ends; on SIGTERM drops it
 *                         (Expires: 0), prints "unsubscribed", then
 *                         unregisters
 *
 * Environment: SIPUA_LISTEN=ADDR:PORT with SIPUA_CERT and SIPUA_KEY (PEM)
 * opens the service's own SIP/TLS listener; SIPUA_TRACE=1 prints every
 * SIP message to stderr; SIPUA_LINGER=1 stays STOP_GRACE_MS after the
 * un-REGISTERs instead of leaving once they are answered.
 * For register: SIPUA_CONTACT_USER=NAME is the user part of the Contact;
 * SIPUA_TAKE_MESSAGES=DELAY_MS[,SCODE] takes MESSAGE requests, prints
 * "message FROM_URI CTYPE HEX_BODY" at once and answers SCODE (200)
 * DELAY_MS later, then prints "answered SCODE ERRNO ERRNO2" (ERRNO2: a
 * second answer); SIPUA_TAKE_MESSAGES=drop keeps no reference.
 * For message: SIPUA_MESSAGES=N sends it N times, each once the one
 * before has its final answer (one "sent" line each).
 * For subscribe: SIPUA_SUBSCRIPTIONS=N makes N subscriptions to
 * TARGET_URI at once (the NOTIFY lines are those of the first).
 *
 * Exit status 0 on success, 1 on failure, 2 on bad arguments.
 */
#include <signal.h>
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
	PROBE_MAX_FILE = 65536,
	PROBE_MAX_FILES = 8,
	PROBE_MAX_SUBS = 1000,
};

struct pending_answer {
	struct tmr tmr;
	struct sipua_sreq *sr;
	uint16_t scode;
};

static struct {
	struct sipua *ua;
	struct sipua_reg *reg[PROBE_MAX_REGS];
	size_t nreg;
	struct sipua_check *chk;
	struct sipua_treq *msg;
	struct sipua_id msg_id;
	const char *msg_to, *msg_ctype;
	struct pl msg_body;
	unsigned msg_left;  /* SIPUA_MESSAGES still to send */
	struct tmr msg_tmr; /* sends the next one off the handler */
	struct sipua_pub *pub;
	struct sipua_sub *sub;
	struct sipua_sub *more[PROBE_MAX_SUBS]; /* SIPUA_SUBSCRIPTIONS */
	size_t nmore;
	const char *sub_uri;
	bool sub_list;
	uint32_t sub_expires;
	struct sipua_id sub_id;
	char *files[PROBE_MAX_FILES];
	size_t nfiles, nextfile;
	const char *ctype;
	uint32_t answer_delay;
	uint16_t answer_scode;
	bool answer_drop;
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

static const char *substate_name(enum pidf_substate st)
{
	switch (st) {
	case PIDF_SUB_ACTIVE:
		return "active";
	case PIDF_SUB_PENDING:
		return "pending";
	case PIDF_SUB_TERMINATED:
		return "terminated";
	default:
		return "none";
	}
}

static void notify_handler(const struct sipua_presence *v, size_t n, void *arg)
{
	size_t i;
	(void)arg;

	printf("notify %zu %u\n", n, sipua_sub_sent(probe.sub));
	for (i = 0; i < n; i++)
		printf("presence %s %s %s\n", v[i].uri,
		       substate_name(v[i].state),
		       v[i].p ? pidf_avail_name(v[i].p->avail) : "-");
	fflush(stdout);
}

static void close_handler(int err, uint16_t scode, void *arg)
{
	(void)arg;

	printf("closed %d %u\n", err, scode);
	fflush(stdout);
}

/* One subscription of the probe's; its failure is printed */
static int sub_start(struct sipua_sub **sp, struct sipua_reg *reg,
		     sipua_sub_close_h *ch)
{
	int e = sipua_sub_alloc(sp, probe.ua, reg, &probe.sub_id, probe.sub_uri,
				probe.sub_list, probe.sub_expires,
				notify_handler, ch, NULL);
	if (e) {
		printf("closed %d 0\n", e);
		fflush(stdout);
	}
	return e;
}

/* SIPUA_SUBSCRIPTIONS: the others, all started in this loop turn */
static void more_subs(struct sipua_reg *reg)
{
	const char *n = getenv("SIPUA_SUBSCRIPTIONS");
	size_t want = n ? (size_t)atoi(n) : 1;

	while (probe.sub && probe.nmore + 1 < want &&
	       probe.nmore < PROBE_MAX_SUBS &&
	       !sub_start(&probe.more[probe.nmore], reg, NULL))
		++probe.nmore;
}

static void drop_more_subs(void)
{
	while (probe.nmore > 0) {
		--probe.nmore;
		probe.more[probe.nmore] = mem_deref(probe.more[probe.nmore]);
	}
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

	/* subscribe once the contact is bound */
	if (!err && probe.sub_uri && !probe.sub && !probe.stopping) {
		if (sub_start(&probe.sub, probe.reg[i], close_handler))
			probe.sub_uri = NULL;
		else
			more_subs(probe.reg[i]);
	}
}

static int load_file(struct mbuf **mbp, const char *path)
{
	struct mbuf *mb = mbuf_alloc(1024);
	FILE *f = fopen(path, "rb");
	uint8_t buf[4096];
	size_t n;
	int err = 0;

	if (!mb || !f) {
		err = mb ? ENOENT : ENOMEM;
		goto out;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (mb->end + n > PROBE_MAX_FILE) {
			err = EFBIG;
			break;
		}
		err = mbuf_write_mem(mb, buf, n);
		if (err)
			break;
	}
	mb->pos = 0;

out:
	if (f)
		fclose(f);
	if (err)
		mem_deref(mb);
	else
		*mbp = mb;
	return err;
}

static void answer_timeout(void *arg)
{
	struct pending_answer *pa = arg;
	int err = sipua_sreq_reply(pa->sr, pa->scode, NULL);
	/* a second answer is refused */
	int again = sipua_sreq_reply(pa->sr, 200, NULL);

	printf("answered %u %d %d\n", pa->scode, err, again);
	fflush(stdout);
	mem_deref(pa);
}

static void pa_destructor(void *arg)
{
	struct pending_answer *pa = arg;

	tmr_cancel(&pa->tmr);
	mem_deref(pa->sr);
}

/* SIPUA_TAKE_MESSAGES: show the message, answer it later */
static void req_handler(struct sipua_sreq *sr, const struct sipua_inmsg *in,
			void *arg)
{
	struct pending_answer *pa;
	size_t i;
	(void)arg;

	re_fprintf(stdout, "message %r %r ", &in->from,
		   in->ctype.l ? &in->ctype : &(struct pl)PL("-"));
	for (i = 0; i < in->raw.l; i++)
		printf("%02x", (uint8_t)in->raw.p[i]);
	printf("\n");
	fflush(stdout);

	/* "drop": no reference kept, no answer (the sipua answers 500) */
	if (probe.answer_drop)
		return;

	pa = mem_zalloc(sizeof(*pa), pa_destructor);
	if (!pa)
		return;
	tmr_init(&pa->tmr);
	pa->sr = mem_ref(sr);
	pa->scode = probe.answer_scode;
	tmr_start(&pa->tmr, probe.answer_delay, answer_timeout, pa);
}

static void msg_handler(int err, uint16_t scode, void *arg);

static int msg_send(void)
{
	--probe.msg_left;
	return sipua_message(&probe.msg, probe.ua, &probe.msg_id, probe.msg_to,
			     probe.msg_ctype, &probe.msg_body, msg_handler,
			     NULL);
}

static void msg_next(void *arg)
{
	int err;

	(void)arg;
	probe.msg = mem_deref(probe.msg);
	err = msg_send();
	if (err) {
		printf("sent %d 0\n", err);
		probe.status = 1;
		re_cancel();
	}
}

static void msg_handler(int err, uint16_t scode, void *arg)
{
	(void)arg;

	printf("sent %d %u\n", err, scode);
	fflush(stdout);
	probe.status = err ? 1 : 0;
	if (!err && probe.msg_left) {
		/* its handle is dropped off its own handler */
		tmr_start(&probe.msg_tmr, 0, msg_next, NULL);
		return;
	}
	re_cancel();
}

static int publish_next(void)
{
	struct mbuf *mb = NULL;
	struct pl body;
	int err;

	if (probe.nextfile >= probe.nfiles)
		return ENOENT;

	err = load_file(&mb, probe.files[probe.nextfile++]);
	if (err)
		return err;
	pl_set_mbuf(&body, mb);
	err = sipua_pub_set(probe.pub, probe.ctype, &body);
	mem_deref(mb);
	return err;
}

static void pub_handler(int err, uint16_t scode, void *arg)
{
	(void)arg;

	printf("published %d %u\n", err, scode);
	fflush(stdout);
}

static void usr1_handler(int sig)
{
	(void)sig;
	if (probe.pub)
		(void)publish_next();
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

static void signal_handler(int sig);

static void stop_resume(void *arg)
{
	(void)arg;
	probe.stopping = false;
	signal_handler(0);
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
	if (probe.sub) {
		/* dropping the subscription unsubscribes (Expires: 0);
		 * the registration goes once that had time to be answered */
		probe.sub = mem_deref(probe.sub);
		drop_more_subs();
		probe.sub_uri = NULL;
		printf("unsubscribed\n");
		fflush(stdout);
		tmr_start(&probe.tmr, STOP_GRACE_MS / 3, stop_resume, NULL);
		return;
	}
	if (probe.pub) {
		/* dropping the publication removes it (Expires: 0) */
		probe.pub = mem_deref(probe.pub);
		printf("unpublished\n");
		fflush(stdout);
		stop_deadline = tmr_jiffies() + STOP_GRACE_MS;
		tmr_start(&probe.tmr, 0, stop_poll, &stop_deadline);
		return;
	}
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
		sipua_set_trace_handler(probe.ua, trace_handler, NULL);

	if (!strcmp(argv[7], "check")) {
		err =
		    sipua_check_password(&probe.chk, probe.ua, argv[4], argv[5],
					 argv[6], check_handler, NULL);
		if (err) {
			printf("fail %d 0\n", err);
			goto out;
		}
		tmr_start(&probe.tmr, CHECK_TIMEOUT_MS, stop_timeout, NULL);
	} else if ((!strcmp(argv[7], "register") && argc >= 10) ||
		   (!strcmp(argv[7], "subscribe") && argc == 12)) {
		size_t i, count = 1;
		const char *take = getenv("SIPUA_TAKE_MESSAGES");
		char inst[37];

		if (!strcmp(argv[7], "subscribe")) {
			probe.sub_id.user = argv[4];
			probe.sub_id.domain = argv[5];
			probe.sub_id.ha1 = argv[6];
			probe.sub_uri = argv[10];
			probe.sub_list = atoi(argv[11]) != 0;
			probe.sub_expires = (uint32_t)atoi(argv[9]);
		} else if (argc > 10) {
			count = (size_t)atoi(argv[10]);
		}

		if (take) {
			const char *comma = strchr(take, ',');

			probe.answer_drop = !strcmp(take, "drop");
			probe.answer_delay = (uint32_t)atoi(take);
			probe.answer_scode =
			    comma ? (uint16_t)atoi(comma + 1) : 200;
		}

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
			    .contact_user = getenv("SIPUA_CONTACT_USER"),
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
			if (take)
				sipua_reg_set_request_handler(
				    probe.reg[i], req_handler, NULL);
		}
		probe.status = 0;
	} else if (!strcmp(argv[7], "message") && argc == 11) {
		const char *n = getenv("SIPUA_MESSAGES");

		probe.msg_id.user = argv[4];
		probe.msg_id.domain = argv[5];
		probe.msg_id.ha1 = argv[6];
		probe.msg_to = argv[8];
		probe.msg_ctype = argv[9];
		pl_set_str(&probe.msg_body, argv[10]);
		probe.msg_left = n && atoi(n) > 0 ? (unsigned)atoi(n) : 1;
		err = msg_send();
		if (err) {
			printf("sent %d 0\n", err);
			goto out;
		}
		tmr_start(&probe.tmr, CHECK_TIMEOUT_MS, stop_timeout, NULL);
	} else if (!strcmp(argv[7], "publish") && argc >= 11 &&
		   argc - 10 <= PROBE_MAX_FILES) {
		struct sipua_id id = {argv[4], argv[5], argv[6]};
		int i;

		probe.ctype = argv[8];
		for (i = 10; i < argc; i++)
			probe.files[probe.nfiles++] = argv[i];
		err =
		    sipua_pub_alloc(&probe.pub, probe.ua, &id,
				    (uint32_t)atoi(argv[9]), pub_handler, NULL);
		if (!err)
			err = publish_next();
		if (err) {
			printf("published %d 0\n", err);
			goto out;
		}
		(void)signal(SIGUSR1, usr1_handler);
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
	tmr_cancel(&probe.msg_tmr);
	probe.msg = mem_deref(probe.msg);
	probe.pub = mem_deref(probe.pub);
	probe.sub = mem_deref(probe.sub);
	drop_more_subs();
	drop_regs();
	probe.ua = mem_deref(probe.ua);
	wheel = mem_deref(wheel);
	fflush(stdout);
	libre_close();
	return probe.status;
}
