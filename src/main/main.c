/**
 * @file main.c  mobilityd: the Mobility Service daemon
 *
 *   mobilityd [-c FILE]            run with a configuration file
 *   mobilityd --check-config FILE  validate it and exit (0 valid, 1 not)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <re.h>
#include "core.h"
#include "conf.h"
#include "push.h"
#include "service.h"

#define DEFAULT_CONF "/etc/mobilityd/mobilityd.conf"

enum {
	MAX_FDS = 1 << 20,         /* never ask libre for more slots    */
	DRAIN_POLL_MS = 100,       /* check for the end of a drain      */
	DRAIN_LOG_MS = 1000,       /* log the SIP drain's progress      */
	DRAIN_HTTP_MIN_MS = 1000,  /* busy connections at least this   */
	DRAIN_HTTP_MAX_MS = 10000, /* and at most this                  */
	/* descriptors kept for the store, push, the flow to the Front
	 * End, listeners and logs: never given to the connection caps */
	FD_HEADROOM = 256,
};

/*
 * A stop (SIGTERM, SIGINT) drains in two steps within [service]
 * drain_timeout: the SIP side of every session is removed, paced
 * (service_drain_begin), while the listeners stay open and refuse new
 * sign-ins; then the listeners close and the HTTP connections are
 * answered and closed as they go idle (service_drain). A second signal
 * stops at once, sending nothing more.
 */
static struct service *svc;
static const struct conf *run_conf;
static struct tmr drain_tmr;
static uint64_t drain_start;
static uint64_t drain_http; /* when step two began (0: not yet) */

static int stderr_print(const char *p, size_t size, void *arg)
{
	(void)arg;
	return fwrite(p, 1, size, stderr) == size ? 0 : EIO;
}

static struct re_printf errpf = {stderr_print, NULL};

/* Raise the descriptor limit to the hard limit: each idle phone holds a
 * connection, and libre sizes its poll tables once, from this number. */
static int raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > MAX_FDS)
		return MAX_FDS;
	return (int)rl.rlim_cur;
}

static void lower_cap(uint32_t *cap, uint32_t max, const char *what, int maxfds)
{
	if (*cap <= max)
		return;
	log_warn("%s lowered from %u to %u: the process may open %d "
		 "descriptors (RLIMIT_NOFILE); raise that limit (LimitNOFILE= "
		 "in a systemd unit) to allow more",
		 what, *cap, max, maxfds);
	*cap = max;
}

/* A connection cap above what the process may open would fail at
 * accept (EMFILE) for everyone instead of refusing the connections over
 * it: keep the SIP and HTTP caps together below the descriptor limit,
 * the SIP one (the Front End's connections) first, at most half. */
static void clamp_conns(struct conf *conf, int maxfds)
{
	struct conf_http_limits *lim = &conf->limits;
	uint32_t budget = maxfds > 2 * FD_HEADROOM
			      ? (uint32_t)(maxfds - FD_HEADROOM)
			      : (uint32_t)maxfds / 2;

	lower_cap(&conf->sip_max_connections, budget / 2,
		  "[sip] max_connections", maxfds);
	lower_cap(&lim->max_connections, budget - conf->sip_max_connections,
		  "[http] max_connections", maxfds);
	if (lim->max_conns_per_addr > lim->max_connections)
		lim->max_conns_per_addr = lim->max_connections;
}

static bool drain_late(uint64_t ms)
{
	return tmr_jiffies() - drain_start > ms;
}

static void drain_check(void *arg)
{
	uint64_t busy = tmr_jiffies() - drain_http;

	(void)arg;
	/* busy connections get a moment after the SIP side, even past
	 * the deadline, and never more than before the SIP drain was */
	if (!service_conn_count(svc) || busy > DRAIN_HTTP_MAX_MS ||
	    (drain_late(run_conf->drain_timeout_ms) &&
	     busy > DRAIN_HTTP_MIN_MS)) {
		re_cancel();
		return;
	}
	tmr_start(&drain_tmr, DRAIN_POLL_MS, drain_check, NULL);
}

/* Step two: no new connections, answer what is in progress, leave */
static void drain_connections(void)
{
	if (drain_http)
		return;
	drain_http = tmr_jiffies();
	log_notice("draining: closing the listeners (%zu connections open)",
		   service_conn_count(svc));
	service_drain(svc);
	tmr_cancel(&drain_tmr);
	drain_check(NULL);
}

static void sip_drained(void *arg)
{
	(void)arg;
	drain_connections();
}

/* Step one's progress, and its deadline */
static void drain_progress(void *arg)
{
	(void)arg;
	if (drain_late(run_conf->drain_timeout_ms)) {
		log_warn("draining: drain_timeout passed with %u SIP removals "
			 "not answered: left to expire at the Front End",
			 service_drain_left(svc));
		service_drain_stop(svc);
		drain_connections();
		return;
	}
	log_notice("draining: %u SIP removals left", service_drain_left(svc));
	tmr_start(&drain_tmr, DRAIN_LOG_MS, drain_progress, NULL);
}

static void signal_handler(int sig)
{
	if (drain_start) {
		log_notice("signal %d again: stopping now", sig);
		service_drain_stop(svc);
		re_cancel();
		return;
	}

	log_notice("signal %d: draining (at most %u s): no new sign-in, "
		   "removing the sessions' SIP side (in a pool: handing the "
		   "sessions over)",
		   sig, run_conf->drain_timeout_ms / 1000);
	drain_start = tmr_jiffies();
	if (service_drain_begin(svc, sip_drained, NULL)) {
		drain_connections();
		return;
	}
	tmr_start(&drain_tmr, DRAIN_LOG_MS, drain_progress, NULL);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: mobilityd [-c FILE]\n"
		"       mobilityd --check-config FILE\n"
		"  -c, --config FILE     configuration (default %s)\n"
		"  --check-config FILE   validate the configuration and exit\n"
		"  --version             print the version and exit\n"
		"  -h, --help            this text\n",
		DEFAULT_CONF);
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONF;
	struct conf *conf = NULL;
	bool check = false;
	int opt, err, maxfds;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			path = optarg;
			check = true;
			break;
		case 'h':
			usage();
			return 0;
		case 'V':
			printf("mobilityd %s\n", MOBILITY_VERSION);
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}

	if (check) {
		err = conf_load(&conf, path, &errpf);
		if (err == ENOENT || err == EACCES)
			fprintf(stderr, "%s:0: cannot read the file: %s\n",
				path, strerror(err));
		if (!err)
			printf("%s: configuration is valid\n", path);
		mem_deref(conf);
		return err ? 1 : 0;
	}

	maxfds = raise_nofile();
	/* once, before any thread (the store starts some) */
	err = push_init();
	if (err) {
		fprintf(stderr, "mobilityd: cannot initialise libcurl\n");
		return 1;
	}
	err = libre_init();
	if (err) {
		fprintf(stderr, "mobilityd: libre_init: %s\n", strerror(err));
		return 1;
	}
	/* before any socket: libre's poll tables are sized once */
	err = fd_setsize(maxfds);
	if (err)
		goto out;

	err = conf_load(&conf, path, &errpf);
	if (err) {
		if (err == ENOENT || err == EACCES)
			fprintf(stderr, "%s:0: cannot read the file: %s\n",
				path, strerror(err));
		fprintf(stderr, "mobilityd: not started: fix %s first\n", path);
		goto out;
	}
	log_set_level((enum log_level)conf->log_level);
	clamp_conns(conf, maxfds);

	run_conf = conf;
	err = service_alloc(&svc, conf);
	if (err) {
		log_error("not started: %m", err);
		goto out;
	}

	log_notice("mobilityd %s started (pid %d, %d descriptors)",
		   MOBILITY_VERSION, (int)getpid(), maxfds);
	err = re_main(signal_handler);
	/* what the drain did not send is not sent by the sessions' ends */
	if (drain_start)
		service_drain_stop(svc);
	log_notice("stopped");

out:
	tmr_cancel(&drain_tmr);
	svc = mem_deref(svc);
	mem_deref(conf);
	metrics_close();
	libre_close();
	push_close();
	return err ? 1 : 0;
}
