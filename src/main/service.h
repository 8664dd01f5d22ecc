/**
 * @file service.h  The running service: listeners and request routing
 */
#ifndef MOB_SERVICE_H
#define MOB_SERVICE_H

#include "conf.h"

struct service;

/**
 * Start every listener of a configuration.
 *
 * @param svcp Returns a new reference
 * @param conf Configuration (takes a reference)
 */
int service_alloc(struct service **svcp, struct conf *conf);

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

#endif
