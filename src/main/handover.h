/**
 * @file handover.h  The drain of a pool instance (SIGTERM): its sessions
 * handed over to the other instances instead of removed (docs/pool.md
 * "Drain")
 */
#ifndef MOB_HANDOVER_H
#define MOB_HANDOVER_H

#include <stdint.h>

struct handover;
struct store;
struct ucwa;
struct pool;

enum {
	/* releases in flight at once: the pace of sipua's drain (each
	 * next one goes as an answer comes) */
	HANDOVER_INFLIGHT_MAX = 64,
};

/** Every session handed over and the instance's lease ended. */
typedef void(handover_done_h)(void *arg);

/**
 * Hand every session of u over, paced: each is forgotten here
 * (ucwa_forget_id(): no SIP sent, no un-REGISTER), then its lease
 * released (store_lease_release()) for another instance's takeover, at
 * most HANDOVER_INFLIGHT_MAX releases in flight. Then the pool stops
 * (pool_end(): no takeover, no renewal, the instance's lease dropped)
 * and h runs once, from the loop.
 *
 * @param st, u, p Borrowed; outlive the handover
 */
int handover_start(struct handover **hop, struct store *st, struct ucwa *u,
		   struct pool *p, handover_done_h *h, void *arg);

/** Sessions not handed over yet (queued or their release in flight). */
uint32_t handover_left(const struct handover *ho);

/** Give up (drain_timeout): forget every session left at once, end the
 * lease (they lapse for the others); h is not called. */
void handover_stop(struct handover *ho);

#endif
