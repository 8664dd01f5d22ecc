/**
 * @file curlloop.h  libcurl's multi-socket interface on the libre loop
 *
 * One curl multi handle driven by the libre main loop: curl says which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION: fd_listen/fd_close) and when
 * to call it back (CURLMOPT_TIMERFUNCTION: one libre timer); the events
 * go to curl_multi_socket_action, and each finished transfer to the done
 * handler with the CURLOPT_PRIVATE pointer of its easy handle.
 *
 * Ownership: curlloop_alloc() returns a mem object; its destructor
 * cleans up the multi handle and closes the sockets curl left open, so
 * the easy handles of its users must be removed first (each request of
 * a user holds a reference on the user, the user one on the loop). The
 * users set their own options on curlloop_multi() and add and remove
 * their easy handles there; the loop holds a reference on itself while
 * it calls curl, so a done handler may drop its request and its user.
 * curlloop_alloc() takes a curl_global_init() reference, given back by
 * the destructor.
 */
#ifndef MOB_CURLLOOP_H
#define MOB_CURLLOOP_H

#include <curl/curl.h>

struct curlloop;

/* A finished transfer: priv its CURLOPT_PRIVATE, rc its result. */
typedef void(curlloop_done_h)(void *priv, CURLcode rc);

int curlloop_alloc(struct curlloop **clp, curlloop_done_h *doneh);
CURLM *curlloop_multi(const struct curlloop *cl);

#endif
