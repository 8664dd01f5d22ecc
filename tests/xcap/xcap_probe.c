/**
 * @file xcap_probe.c  Drive the XCAP client against a Front End, for
 *                     test_xcap.py
 *
 *   xcap_probe BASE USER DOMAIN HA1 COMMAND...
 *
 *   raw METHOD AUID        one request; prints "resp ERR SCODE ETAG" then
 *                          the body
 *   get                    prints "ok", one "group NAME DISPLAY" line per
 *                          group and "entry GROUP URI NAME" per contact
 *   add GROUP URI [NAME]   adds; prints the list as get does
 *   remove GROUP|- URI     removes (- from all groups); same output
 *   rules                  prints "ok" and "rule ID WATCHER ACTION" lines
 *   privacy WATCHER        prints "privacy LEVEL ACTION"
 *   setrule WATCHER ACTION [LEVEL]
 *                          ACTION none|block|confirm|polite-block|allow,
 *                          LEVEL Colleagues|Workgroup|FriendsAndFamily;
 *                          prints the rules as "rules" does
 *
 * Missing names print as "-". Failures print "fail ERRNO". Environment:
 * XCAP_XUI=user addresses that user's documents; XCAP_TIMEOUT_MS.
 *
 * Exit status 0 on success, 1 on failure, 2 on bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xcap.h"

static struct {
	struct xcap_client *xc;
	struct xcap_req *req;
	struct xcap_op *op;
	const char *watcher;
	int status;
} probe = {.status = 1};

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void resp_handler(int err, uint16_t scode, const struct pl *body,
			 const char *etag, void *arg)
{
	(void)arg;

	printf("resp %d %u %s\n", err, scode, or_dash(etag));
	if (body->l)
		fwrite(body->p, 1, body->l, stdout);
	probe.status = 0;
	re_cancel();
}

static void rlist_handler(int err, const struct xcap_rlist *rl, void *arg)
{
	struct le *le, *le2;
	(void)arg;

	if (err) {
		printf("fail %d\n", err);
		re_cancel();
		return;
	}

	printf("ok\n");
	for (le = rl->groups.head; le; le = le->next) {
		const struct xcap_group *g = le->data;

		printf("group %s %s\n", g->name, or_dash(g->display));
		for (le2 = g->entries.head; le2; le2 = le2->next) {
			const struct xcap_entry *e = le2->data;

			printf("entry %s %s %s\n", g->name, e->uri,
			       or_dash(e->name));
		}
	}
	probe.status = 0;
	re_cancel();
}

static void rules_handler(int err, const struct xcap_rules *rs, void *arg)
{
	struct le *le;
	(void)arg;

	if (err) {
		printf("fail %d\n", err);
		re_cancel();
		return;
	}

	if (probe.watcher) {
		printf("privacy %s %s\n",
		       xcap_privacy_name(xcap_rules_privacy(rs, probe.watcher)),
		       xcap_action_name(xcap_rules_action(rs, probe.watcher)));
	} else {
		printf("ok\n");
		for (le = rs->rules.head; le; le = le->next) {
			const struct xcap_rule *r = le->data;

			printf("rule %s %s %s\n", r->id, or_dash(r->watcher),
			       xcap_action_name(r->action));
		}
	}
	probe.status = 0;
	re_cancel();
}

static int parse_action(enum xcap_action *a, const char *s)
{
	enum xcap_action i;

	for (i = XCAP_ACT_NONE; i <= XCAP_ACT_ALLOW; i++) {
		if (!strcmp(s, xcap_action_name(i))) {
			*a = i;
			return 0;
		}
	}
	return EINVAL;
}

static int parse_level(enum xcap_privacy *p, const char *s)
{
	enum xcap_privacy i;

	for (i = XCAP_PRIV_EXTERNAL; i <= XCAP_PRIV_BLOCKED; i++) {
		if (!strcmp(s, xcap_privacy_name(i))) {
			*p = i;
			return 0;
		}
	}
	return EINVAL;
}

static int run(int argc, char **argv)
{
	const char *cmd = argv[0];
	enum xcap_privacy level = XCAP_PRIV_COLLEAGUES;
	enum xcap_action action;

	if (!strcmp(cmd, "raw") && argc == 3)
		return xcap_request(&probe.req, probe.xc, argv[1], argv[2],
				    NULL, NULL, NULL, resp_handler, NULL);
	if (!strcmp(cmd, "get") && argc == 1)
		return xcap_contacts_get(&probe.op, probe.xc, rlist_handler,
					 NULL);
	if (!strcmp(cmd, "add") && (argc == 3 || argc == 4))
		return xcap_contacts_add(&probe.op, probe.xc, argv[1], argv[2],
					 argc == 4 ? argv[3] : NULL,
					 rlist_handler, NULL);
	if (!strcmp(cmd, "remove") && argc == 3)
		return xcap_contacts_remove(
		    &probe.op, probe.xc, strcmp(argv[1], "-") ? argv[1] : NULL,
		    argv[2], rlist_handler, NULL);
	if (!strcmp(cmd, "rules") && argc == 1)
		return xcap_rules_get(&probe.op, probe.xc, rules_handler, NULL);
	if (!strcmp(cmd, "privacy") && argc == 2) {
		probe.watcher = argv[1];
		return xcap_rules_get(&probe.op, probe.xc, rules_handler, NULL);
	}
	if (!strcmp(cmd, "setrule") && (argc == 3 || argc == 4)) {
		if (parse_action(&action, argv[2]) ||
		    (argc == 4 && parse_level(&level, argv[3])))
			return EINVAL;
		return xcap_rules_put(&probe.op, probe.xc, argv[1], action,
				      level, rules_handler, NULL);
	}

	return EINVAL;
}

int main(int argc, char **argv)
{
	const char *xui = getenv("XCAP_XUI");
	const char *tmo = getenv("XCAP_TIMEOUT_MS");
	int err;

	if (argc < 6) {
		fprintf(stderr, "usage: xcap_probe BASE USER DOMAIN HA1 "
				"COMMAND...\n");
		return 2;
	}

	err = libre_init();
	if (err)
		return 1;

	err = xcap_client_alloc(&probe.xc, argv[1], argv[2], argv[3], argv[4]);
	if (!err && xui)
		err = xcap_client_set_xui(probe.xc, xui);
	if (!err && tmo)
		xcap_client_set_timeout(probe.xc, (uint32_t)atoi(tmo));
	if (!err)
		err = run(argc - 5, argv + 5);
	if (err) {
		fprintf(stderr, "xcap_probe: %s\n", strerror(err));
		probe.status = 2;
		goto out;
	}

	(void)re_main(NULL);
	fflush(stdout);

out:
	probe.req = mem_deref(probe.req);
	probe.op = mem_deref(probe.op);
	probe.xc = mem_deref(probe.xc);
	libre_close();
	mem_debug();
	return probe.status;
}
