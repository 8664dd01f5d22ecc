/**
 * @file push_client.c  Sends pushes through the push service from the
 * command line, on a libre loop; driven by tests/push/test_push.py and
 * bench/push_bench.sh
 *
 *   push_client -c mobilityd.conf [options]
 *     -p apns|fcm       provider (apns)
 *     -t TOKEN          device token; repeat to cycle through several
 *     -v TOKEN          APNs VoIP token
 *     -T TOPIC          APNs bundle id / FCM project
 *     -k message|missed_call|call   kind (message)
 *     -s SENDER -x TEXT -C COLLAPSE -b BADGE -a PUSHID
 *     -n COUNT          pushes (1)
 *     -j CONCURRENCY    pushes outstanding at once (all)
 *     -q                no line per result
 *     -m                print the metrics at the end
 *     -d                drop each handle at once (results not reported)
 *     -e N              stop after N results: the service is dropped with
 *                       the other pushes queued, in flight or in backoff
 *
 * One JSON line per result, then one line of totals.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
/* re.h pulls in re_json.h, whose JSON_STRING and JSON_NULL clash with
 * jansson's (src/repr/json.c does the same) */
#define RE_H__ 1
#include <re_types.h>
#include <re_fmt.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_mem.h>
#include <re_sa.h>
#include <re_tmr.h>
#include <re_main.h>
#include <re_sys.h>
#include "core.h"
#include "conf.h"
#include "push.h"

enum { MAX_TOKENS = 64 };

struct client {
	struct push *push;
	struct push_target t;
	struct push_msg m;
	const char *tokens[MAX_TOKENS];
	unsigned ntokens;
	unsigned count, conc, sent, done, outstanding, stop_after;
	unsigned nres[3];
	bool quiet, drop;
	uint64_t t0;
	struct tmr wait;
	struct list ones;
};

struct one {
	struct le le; /* struct client.ones: freed at exit if never answered */
	struct client *c;
	unsigned i;
	const char *token;
	uint64_t t0;
};

static void send_more(struct client *c);

/* Outcomes counted by the service, whoever listens. */
static int64_t outcomes(enum push_provider p)
{
	static const char *const o[] = {"sent", "dropped_token", "failed"};
	int64_t n = 0;
	char l[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(o); i++) {
		(void)re_snprintf(l, sizeof(l),
				  "provider=\"%s\",outcome=\"%s\"",
				  p == PUSH_APNS ? "apns" : "fcm", o[i]);
		n += metric_value(
		    metrics_get(METRIC_COUNTER, "mobility_push_total", l, ""));
	}
	return n;
}

static void wait_h(void *arg)
{
	struct client *c = arg;

	if (outcomes(c->t.provider) >= c->count)
		re_cancel();
	else
		tmr_start(&c->wait, 10, wait_h, c);
}

static int print_pf(const char *p, size_t size, void *arg)
{
	(void)arg;
	return fwrite(p, 1, size, stdout) == size ? 0 : EIO;
}

static const char *res_name(enum push_result r)
{
	switch (r) {
	case PUSH_SENT:
		return "sent";
	case PUSH_DROP_TOKEN:
		return "drop_token";
	default:
		return "failed";
	}
}

static void result_h(enum push_result res, uint16_t status, const char *reason,
		     void *arg)
{
	struct one *o = arg;
	struct client *c = o->c;

	c->nres[res]++;
	c->done++;
	c->outstanding--;

	if (!c->quiet) {
		json_t *j =
		    json_pack("{s:i,s:s,s:s,s:i,s:s,s:I}", "i", o->i, "token",
			      o->token, "result", res_name(res), "status",
			      status, "reason", reason ? reason : "", "ms",
			      (json_int_t)(tmr_jiffies() - o->t0));
		char *s = json_dumps(j, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		json_decref(j);
	}
	list_unlink(&o->le);
	mem_deref(o);

	if (c->done == c->count || (c->stop_after && c->done >= c->stop_after))
		re_cancel();
	else
		send_more(c);
}

static void send_more(struct client *c)
{
	while (c->sent < c->count && c->outstanding < c->conc) {
		struct push_op *op = NULL;
		struct one *o = mem_zalloc(sizeof(*o), NULL);
		int err;

		if (!o)
			exit(1);
		o->c = c;
		o->i = c->sent;
		o->token = c->tokens[c->sent % c->ntokens];
		o->t0 = tmr_jiffies();
		c->t.token = o->token;

		err = push_send(c->push, &c->t, &c->m, result_h, o,
				c->drop ? &op : NULL);
		c->sent++;
		if (err) {
			printf("{\"i\":%u,\"error\":\"%s\"}\n", o->i,
			       strerror(err));
			mem_deref(o);
			c->done++;
			c->nres[PUSH_FAILED]++;
			continue;
		}
		c->outstanding++;
		list_append(&c->ones, &o->le, o);
		if (c->drop) {
			/* the push goes out, nobody hears of it */
			mem_deref(op);
			list_unlink(&o->le);
			mem_deref(o);
			c->outstanding--;
			c->done++;
		}
	}
	if (c->done == c->count)
		re_cancel();
}

static int kind_parse(enum push_kind *k, const char *s)
{
	if (!strcmp(s, "message"))
		*k = PUSH_MESSAGE;
	else if (!strcmp(s, "missed_call"))
		*k = PUSH_MISSED_CALL;
	else if (!strcmp(s, "call"))
		*k = PUSH_CALL;
	else
		return EINVAL;
	return 0;
}

int main(int argc, char *argv[])
{
	struct re_printf pf = {print_pf, NULL};
	struct client c = {.count = 1, .t.provider = PUSH_APNS};
	const char *path = NULL;
	bool metrics = false, drop_wait = false;
	struct conf *conf = NULL;
	struct timespec cpu0, cpu1;
	double secs, cpu;
	int opt, err;

	while ((opt = getopt(argc, argv, "c:p:t:v:T:k:s:x:C:b:a:n:j:qmde:")) !=
	       -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'p':
			c.t.provider =
			    strcmp(optarg, "fcm") ? PUSH_APNS : PUSH_FCM;
			break;
		case 't':
			if (c.ntokens < MAX_TOKENS)
				c.tokens[c.ntokens++] = optarg;
			break;
		case 'v':
			c.t.voip_token = optarg;
			break;
		case 'T':
			c.t.topic = optarg;
			break;
		case 'k':
			if (kind_parse(&c.m.kind, optarg))
				return 2;
			break;
		case 's':
			c.m.sender = optarg;
			break;
		case 'x':
			c.m.text = optarg;
			break;
		case 'C':
			c.m.collapse = optarg;
			break;
		case 'b':
			c.m.badge = (unsigned)atoi(optarg);
			break;
		case 'a':
			c.m.push_id = optarg;
			break;
		case 'n':
			c.count = (unsigned)atoi(optarg);
			break;
		case 'j':
			c.conc = (unsigned)atoi(optarg);
			break;
		case 'q':
			c.quiet = true;
			break;
		case 'm':
			metrics = true;
			break;
		case 'e':
			c.stop_after = (unsigned)atoi(optarg);
			break;
		case 'd':
			c.drop = true;
			drop_wait = true;
			break;
		default:
			return 2;
		}
	}
	if (!path || !c.ntokens || !c.count) {
		fprintf(stderr, "usage: push_client -c CONF -t TOKEN [...]\n");
		return 2;
	}
	if (!c.conc)
		c.conc = c.count;

	err = push_init();
	err |= libre_init();
	if (err)
		return 1;
	(void)fd_setsize(4096);

	err = conf_load(&conf, path, &pf);
	if (err)
		goto out;
	log_set_level((enum log_level)conf->log_level);

	err = push_alloc(&c.push, conf);
	if (err) {
		fprintf(stderr, "push_alloc: %s\n", strerror(err));
		goto out;
	}

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
	c.t0 = tmr_jiffies();
	send_more(&c);
	if (c.done < c.count)
		err = re_main(NULL);
	if (drop_wait) {
		/* the dropped pushes still go out: wait for their outcomes */
		tmr_start(&c.wait, 10, wait_h, &c);
		err = re_main(NULL);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);

	secs = (double)(tmr_jiffies() - c.t0) / 1000.0;
	cpu = (double)(cpu1.tv_sec - cpu0.tv_sec) +
	      (double)(cpu1.tv_nsec - cpu0.tv_nsec) / 1e9;
	printf("{\"total\":%u,\"sent\":%u,\"drop_token\":%u,\"failed\":%u,"
	       "\"seconds\":%.3f,\"per_second\":%.0f,\"cpu_us_per_push\":"
	       "%.2f}\n",
	       c.done, c.nres[PUSH_SENT], c.nres[PUSH_DROP_TOKEN],
	       c.nres[PUSH_FAILED], secs, secs > 0 ? c.done / secs : 0.0,
	       c.done ? cpu * 1e6 / c.done : 0.0);
	if (metrics)
		(void)metrics_print(&pf);
	fflush(stdout);

out:
	tmr_cancel(&c.wait);
	mem_deref(c.push);
	list_flush(&c.ones);
	mem_deref(conf);
	metrics_close();
	libre_close();
	push_close();
	return err ? 1 : 0;
}
