/**
 * @file curlloop.c  libcurl's multi-socket interface on the libre loop
 * (curlloop.h)
 */
#include <curl/curl.h>
#include <re.h>
#include "curlloop.h"

struct curlloop {
	CURLM *multi;
	struct tmr tmr;    /* curl's timeout */
	struct list socks; /* struct csock */
	curlloop_done_h *doneh;
};

/* One socket curl asked us to watch. */
struct csock {
	struct le le;
	struct curlloop *cl;
	curl_socket_t fd;
};

static void destructor(void *arg)
{
	struct curlloop *cl = arg;

	tmr_cancel(&cl->tmr);
	/* the users' easy handles are gone; the sockets of idle
	 * connections close now */
	if (cl->multi)
		curl_multi_cleanup(cl->multi);
	while (cl->socks.head) {
		struct csock *cs = cl->socks.head->data;

		fd_close(cs->fd);
		list_unlink(&cs->le);
		mem_deref(cs);
	}
	curl_global_cleanup();
}

/* Completed transfers: each to its owner. The caller holds cl. */
static void process(struct curlloop *cl)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(cl->multi, &left))) {
		void *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					&priv);
		if (priv)
			cl->doneh(priv, msg->data.result);
	}
}

static void fd_handler(int flags, void *arg)
{
	struct csock *cs = arg;
	struct curlloop *cl = cs->cl;
	curl_socket_t fd = cs->fd; /* cs may go inside socket_action */
	int mask = 0, running;

	if (flags & FD_READ)
		mask |= CURL_CSELECT_IN;
	if (flags & FD_WRITE)
		mask |= CURL_CSELECT_OUT;
	if (flags & FD_EXCEPT)
		mask |= CURL_CSELECT_ERR;

	mem_ref(cl);
	(void)curl_multi_socket_action(cl->multi, fd, mask, &running);
	process(cl);
	mem_deref(cl);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
		     void *socketp)
{
	struct curlloop *cl = userp;
	struct csock *cs = socketp;
	int flags = 0;
	(void)easy;

	if (what == CURL_POLL_REMOVE) {
		fd_close(s);
		if (cs)
			list_unlink(&cs->le);
		mem_deref(cs);
		(void)curl_multi_assign(cl->multi, s, NULL);
		return 0;
	}
	if (!cs) {
		cs = mem_zalloc(sizeof(*cs), NULL);
		if (!cs)
			return -1;
		cs->cl = cl;
		cs->fd = s;
		list_append(&cl->socks, &cs->le, cs);
		(void)curl_multi_assign(cl->multi, s, cs);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		flags |= FD_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		flags |= FD_WRITE;
	return fd_listen(s, flags, fd_handler, cs) ? -1 : 0;
}

static void tmr_handler(void *arg)
{
	struct curlloop *cl = arg;
	int running;

	mem_ref(cl);
	(void)curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0,
				       &running);
	process(cl);
	mem_deref(cl);
}

/* curl must not be called back from inside this callback: a timer. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlloop *cl = userp;
	(void)multi;

	if (timeout_ms < 0)
		tmr_cancel(&cl->tmr);
	else
		tmr_start(&cl->tmr, (uint64_t)timeout_ms, tmr_handler, cl);
	return 0;
}

int curlloop_alloc(struct curlloop **clp, curlloop_done_h *doneh)
{
	struct curlloop *cl;
	int err = 0;

	if (!clp || !doneh)
		return EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ENOMEM;
	cl = mem_zalloc(sizeof(*cl), destructor);
	if (!cl) {
		curl_global_cleanup();
		return ENOMEM;
	}
	tmr_init(&cl->tmr);
	cl->doneh = doneh;
	cl->multi = curl_multi_init();
	if (!cl->multi) {
		err = ENOMEM;
		goto out;
	}
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);

out:
	if (err)
		mem_deref(cl);
	else
		*clp = cl;
	return err;
}

CURLM *curlloop_multi(const struct curlloop *cl)
{
	return cl ? cl->multi : NULL;
}
