/**
 * @file evchan.h  The event channel of one application (UCWA "events")
 *
 * The app long-polls GET events?ack=N; events are delivered in numbered
 * batches and removed only by the client's ack (PROTOCOL.md):
 *
 *   ack = B+1 (B: the batch last issued) acknowledges batch B; the answer
 *             is batch B+1: what is pending now, or, when nothing is, the
 *             request is parked until an event arrives or the timeout
 *             (an empty batch)
 *   ack = B   the answer to B was lost: batch B again, unchanged
 *   other     a "resync" link only (the client must re-read its state)
 *
 * Each answer links "next" (events?ack=N+1), so a client that only follows
 * the links it is given gets every event exactly once. A second parked
 * request releases the first with 409 PGetReplaced. While parked, a high
 * priority event (invitations) is answered at once; medium (presence) and
 * low ones wait up to the medium / low interval to travel together; an
 * "updated" event for a resource replaces an earlier pending one for the
 * same resource.
 */
#ifndef MOB_EVCHAN_H
#define MOB_EVCHAN_H

#include "core.h"
#include "repr.h"
#include "web.h"

/** Named limits and defaults. */
enum {
	EVCHAN_TIMEOUT_MIN = 180,     /* s, the least timeout= accepted  */
	EVCHAN_TIMEOUT_MAX = 1800,    /* s, the most                      */
	EVCHAN_TIMEOUT_DEFAULT = 180, /* s                                */
	EVCHAN_MEDIUM_DEFAULT = 5,    /* s, presence aggregation          */
	EVCHAN_LOW_DEFAULT = 60,      /* s                                */
	EVCHAN_INTERVAL_MAX = 1800,   /* s, the most low=/medium= accepted */
	EVCHAN_PENDING_MAX = 10000,   /* events held before resync        */
};

enum evchan_prio {
	EVCHAN_LOW,
	EVCHAN_MEDIUM,
	EVCHAN_HIGH,
};

/** An event to post; strings are borrowed (copied). */
struct evchan_event {
	enum evchan_prio prio;
	struct repr_event ev; /**< sender, type, link, in, status, embedded */
	uint64_t mark;        /**< the owner's number for it (e.g. its
				   sequence in the store), 0 for none */
};

/** The client acknowledged every event marked up to mark. */
typedef void(evchan_ack_h)(uint64_t mark, void *arg);

/** Batch number batch, holding events marked up to mark, is about to be
 * answered: make (batch, mark) durable, then call evchan_saved(). Return
 * 0 if the save was started, else an error (the batch is taken back). */
typedef int(evchan_save_h)(uint64_t batch, uint64_t mark, void *arg);

struct evchan;

/**
 * Allocate an event channel.
 *
 * @param chp  Returns a new reference
 * @param w    Timer wheel for the timeout and aggregation (takes a ref)
 * @param href Path of the events resource, e.g.
 *             "/ucwa/oauth/v1/applications/123/events" (copied)
 */
int evchan_alloc(struct evchan **chp, struct wheel *w, const char *href);

/**
 * The application moves to another instance: the requests waiting here
 * (a parked P-GET, one waiting for its batch to be saved, one held
 * behind it) are answered 503 with Retry-After: 1, and the channel
 * answers nothing more. Its events stay in the store.
 */
void evchan_moved(struct evchan *ch);

/** Post an event; a parked request may be answered (now or later). */
int evchan_post(struct evchan *ch, const struct evchan_event *ev);

/**
 * Serve GET events?ack=N[&timeout=S][&low=S][&medium=S]: answers now
 * (a batch, a resync, or 400 for bad parameters) or parks the request.
 *
 * @param ch  Channel
 * @param req Request (a reference is taken while parked)
 */
void evchan_get(struct evchan *ch, struct web_req *req);

/** Be told when acknowledged events had marks (to delete them from the
 * store: an event is removed only by the client's ack). */
void evchan_set_ack_handler(struct evchan *ch, evchan_ack_h *h, void *arg);

/**
 * Be asked to save the batch numbering before an answer that holds marked
 * events newer than the last saved ones goes out (evchan_save_h). Events
 * are only ever given to the app in a batch whose number and mark are
 * durable, so that after a restart (evchan_restore) the app's next P-GET
 * gets every event it has not acknowledged, exactly once. Batches without
 * new marked events are not saved (nothing durable depends on them).
 */
void evchan_set_save_handler(struct evchan *ch, evchan_save_h *h, void *arg);

/**
 * The save asked by evchan_save_h is done: err 0 answers the P-GET with
 * the batch; an error takes the batch back (its events are pending again,
 * the P-GET gets 503). P-GETs that came meanwhile are served then.
 */
void evchan_saved(struct evchan *ch, int err);

/**
 * Reserve the next batch for an event about to be stored (one commit
 * instead of two for a message to a parked P-GET): while a request is
 * parked, the owner of an event marked mark that it will post with high
 * priority once stored may write the numbering (*batchp, mark) in the same
 * commit as the event, or in an earlier one, and tell evchan_reserved()
 * how that write ended. When the event is then posted and the batch to
 * issue is exactly (*batchp, mark), it goes out without a save.
 *
 * Any other batch under that number (a timeout, another event first, the
 * event never posted, the write failed) is saved first, written after the
 * reservation so that it replaces it: a numbering durable for a batch
 * never issued is harmless (the app asks for that batch and gets it), one
 * durable for a batch issued with other events would make a restart count
 * events the app was not given as acknowledged.
 *
 * @return 0 (write *batchp and mark), EBUSY (not parked, a save or another
 *         reservation in flight, no save handler, or mark not newer than
 *         the last saved one: store the event alone), EINVAL
 */
int evchan_reserve(struct evchan *ch, uint64_t mark, uint64_t *batchp);

/** The write of the numbering reserved by evchan_reserve() ended: err 0
 * committed, else failed (the batch will be saved before it goes out).
 * Answers nothing itself. */
void evchan_reserved(struct evchan *ch, int err);

/**
 * Bring back a channel after a restart, once the unacknowledged marked
 * events were posted again (in mark order): batch is the number saved
 * last and mark its highest mark. The events marked up to mark become
 * batch again (the app may ask for it again: ack=batch); the others are
 * pending. The first P-GET then may also be ack=N above batch+1 (the app
 * had empty or unmarked batches after the saved one, which acknowledged
 * it): the numbering continues from there and the pending events are
 * batch N. If it must resync, the events come after the resync.
 *
 * @return 0, or EINVAL if the channel was used already
 */
int evchan_restore(struct evchan *ch, uint64_t batch, uint64_t mark);

/** Number of the batch last issued (0: none yet). */
uint64_t evchan_batch(const struct evchan *ch);

/** True if n more events can be posted without passing
 * EVCHAN_PENDING_MAX (beyond it the channel drops them and the app must
 * resync): an event to be stored first is refused before, not dropped
 * after. */
bool evchan_room(const struct evchan *ch, size_t n);

/** True while a request is parked. */
bool evchan_parked(const struct evchan *ch);

/**
 * When the app last had a request for events with us (tmr_jiffies()
 * milliseconds): now while one is parked or waiting, else when the last
 * one ended (answered, timed out, replaced, or the client left); 0 if
 * there never was one. A parked request is contact with the client for
 * as long as it lasts (the session lifetime counts from its end).
 */
uint64_t evchan_last_parked(const struct evchan *ch);

#endif
