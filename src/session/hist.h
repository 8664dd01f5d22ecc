/**
 * @file hist.h  The history's entries, shared by hist.c (kept, stored,
 * restored) and hist_get.c (the conversationLogs resource)
 */
#ifndef MOB_HIST_H
#define MOB_HIST_H

enum hkind {
	H_CONV,
	H_MISSED,
	H_UNCERTAIN, /* a message whose 200 may be lost: not shown */
};

/* One entry, as kept in memory and in its record. */
struct hentry {
	struct le le; /* in app->hist, oldest first */
	enum hkind kind;
	uint64_t serial;   /* its key: c<serial>, m<serial>           */
	uint64_t first;    /* conversation: began; missed: when       */
	uint64_t last;     /* last message (or first)                 */
	uint64_t seq;      /* missed message: its event; 0 otherwise  */
	uint64_t lastseq;  /* conversation: last incoming event counted */
	uint64_t firstseq; /* conversation: the event that began it    */
	uint64_t hash;     /* uncertain: of its sender and text        */
	uint64_t date;     /* uncertain: the Date of the Front End's copy
			      it came as (ms), 0 if it came first-hand */
	unsigned n;        /* conversation number (conversations/<n>)  */
	unsigned count;    /* messages                                 */
	bool incoming;     /* who began it / direction of last message */
	bool last_in;
	bool accepted, ended;
	bool window;   /* uncertain: its 200 may be lost (a copy dated near
			  its arrival is it again), not only a copy's Date */
	char type[16]; /* missed: "message", "call"      */
	char peer[UCWA_URI_MAX + 1];
	char subject[4 * UCWA_FIELD_MAX + 1];
	char text[UCWA_HIST_TEXT_MAX + 1];
};

/* Drop what is past its age or its kind's count (the least recently
 * active first), from memory and from the store. */
void hist_prune(struct app *app);

#endif
