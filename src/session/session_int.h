/**
 * @file session_int.h  Private declarations of the session component
 * (session.c, life.c, quota.c, hist.c): not visible outside src/session
 */
#ifndef MOB_SESSION_INT_H
#define MOB_SESSION_INT_H

/* quota.c: the app acknowledged the events up to mark (session_acked()). */
void quota_acked(struct session *s, uint64_t mark);
void quota_close(struct session *s);

/* hist.c: the app has the events up to mark; the session ends */
void hist_acked(struct session *s, uint64_t mark);
void hist_close(struct session *s);

#endif
