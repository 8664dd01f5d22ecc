/**
 * @file psub_int.h  Presence subscriptions: what psub.c (the resources),
 *                   plist.c (RLS lists) and psub_store.c (kept across a
 *                   restart) share
 */
#ifndef MOB_PSUB_INT_H
#define MOB_PSUB_INT_H

struct sipua_sub;
struct xcap_rls;

struct psub;
struct store_op;

/* A change is committed (err 0) or not: answer req (NULL when the client
 * is gone) and tell the event channel. */
typedef void(psub_done_h)(struct psub *ps, struct web_req *req, int err);

/* A contact in a presence subscription. */
struct member {
	struct le le;
	struct watched *w; /* held */
};

struct psub {
	struct le le; /* in app->psubs */
	struct app *app;
	unsigned id;
	uint32_t minutes;
	struct wheel_entry timer; /* warning, then the end */
	uint64_t ends_ms;         /* when it runs out (ms since the epoch) */
	bool warned;
	bool live;           /* created: visible, its timer running     */
	struct list members; /* struct member */
	/* RLS mode (plist.c) */
	struct sipua_sub *list; /* the list subscription                */
	struct sipua_sub *dead; /* ... ended: dropped when safe         */
	struct xcap_rls *op;    /* the service being written            */
	struct web_req *req;    /* the request waiting for op or save   */
	struct store_op *save;  /* its record being committed           */
	psub_done_h *done;      /* ... then: answer req, post events    */
	struct le *mark;        /* last member before the change        */
	bool stored;            /* the service is on the XCAP server    */
	char *service; /* its list's URI (RLS mode), set by psub_add() */
};

/* psub.c */
/* Hold req (answered later by whoever clears ps->req). */
void psub_hold(struct psub *ps, struct web_req *req);
struct psub *psub_alloc(struct app *app);
/* In the application's list, with its number (and its list's URI). */
int psub_add(struct app *app, struct psub *ps, unsigned id);
/* Add the contact (once): followed with its own SIP subscription when
 * subscribe is true, else through the list. */
int psub_member_add(struct psub *ps, const char *uri, bool subscribe);
bool psub_has(const struct psub *ps, const struct watched *w);
/* The timer for what is left until ends_ms. */
void psub_arm(struct psub *ps);
uint64_t psub_now_ms(void);
/* The change is in place: answer (req may be NULL), tell the events. */
void psub_finish(struct psub *ps, struct web_req *req);

/* plist.c: with [frontend] rls = yes and an XCAP server */
bool plist_mode(struct app *app);
int plist_subscribe(struct psub *ps);
/* The members changed (after ps->mark): make it so on the Front End,
 * then psub_finish(). */
void plist_commit(struct psub *ps, struct web_req *req);

/* psub_store.c */
/* Commit the record, then done(ps, req, err): nothing is answered
 * before it is durable. */
void psub_save(struct psub *ps, struct web_req *req, psub_done_h *done);
/* It ended for good: out of the store, then freed. */
void psub_end(struct psub *ps);
/* DELETE: its record out of the store, then done(ps, req, err) (err 0 or
 * ENOENT: deleted; done frees it). */
void psub_remove(struct psub *ps, struct web_req *req, psub_done_h *done);

#endif
