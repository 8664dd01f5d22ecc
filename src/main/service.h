/**
 * @file service.h  The running service: listeners and request routing
 */
#ifndef MOB_SERVICE_H
#define MOB_SERVICE_H

#include "conf.h"
#include "sipua.h"

struct service;

/**
 * Start every listener of a configuration.
 *
 * @param svcp Returns a new reference
 * @param conf Configuration (takes a reference)
 */
int service_alloc(struct service **svcp, struct conf *conf);

/**
 * First step of a stop (SIGTERM): /healthz answers 503 "draining", new
 * sign-ins (POST of a token or of an application) are refused with 503
 * and Retry-After, and every session's SIP side is removed, paced
 * (sipua_drain()). The listeners stay open: the sessions here are served
 * until then.
 *
 * @param h Called once, from the loop, when the SIP side is removed
 * @return 0, or EALREADY
 */
int service_drain_begin(struct service *svc, sipua_drain_h *h, void *arg);

/** Give the SIP drain up: nothing more is sent to the Front End. */
void service_drain_stop(struct service *svc);

/** Removals of the SIP drain still queued or in flight. */
uint32_t service_drain_left(const struct service *svc);

/** Stop accepting and close connections as they go idle. */
void service_drain(struct service *svc);

/** Connections still open on the public listeners. */
size_t service_conn_count(const struct service *svc);

/*
 * Admin listener (admin.c): /healthz and /metrics on 127.0.0.1.
 */
struct admin;
struct wheel;
struct store;

/**
 * @param st The store (borrowed; outlives the admin listener): /healthz
 *           says "degraded" while it is full
 */
int admin_alloc(struct admin **admp, const struct conf *conf, struct wheel *w,
		const struct store *st);

/** From now on /healthz answers 503 "draining" (NULL: nothing). */
void admin_set_draining(struct admin *adm);

/** While lost, /healthz answers 503 "pool lease lost" (the instance's
 * pool lease lapsed; false once it rejoined). NULL: nothing. */
void admin_set_lost(struct admin *adm, bool lost);

#endif
