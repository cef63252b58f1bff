/*
 * rw_snapshot.c - am_rw_snapshot over the series store. Kept apart from
 * rw_send.c so the remote_write client links without series.c (its tests
 * drive am_rw_snapshot_visit with plain view arrays).
 */
#include "am/rw.h"
#include "am/series.h"

static void visit_store(void *src, am_series_visit_cb cb, void *ud)
{
    am_series_visit(src, cb, ud);
}

int am_rw_snapshot(struct am_rw *rw, struct am_series_store *store)
{
    return am_rw_snapshot_visit(rw, visit_store, store);
}
