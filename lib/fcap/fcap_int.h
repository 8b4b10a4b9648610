/* Internal state of the frequency-cap engine, shared by fcap.c (rules,
 * decisions) and persist.c (snapshots, decision log). */
#ifndef CRM_FCAP_INT_H
#define CRM_FCAP_INT_H

#include "core/blob.h"
#include "core/core.h"
#include "crm/fcap.h"

#define FEV_COUNTS 1u /* a counted event */
#define FEV_SENT 2u   /* recorded by crm_fcap_decide (a batch send at its t) */

/* A stored event: 32 bytes. */
typedef struct fev {
    int64_t t;
    uint64_t campaign;
    uint64_t cand;   /* CRM_FCAP_NO_CAND when none */
    uint32_t tagset; /* index into the interned tag sets (0 = no tags) */
    uint8_t channel;
    uint8_t cat;
    uint8_t flags;   /* FEV_* */
    uint8_t pad;
} fev;

/* A customer: id first (crm__u64idx key). */
typedef struct fcust {
    uint64_t id;
    fev *ev;
    uint32_t n, cap;
} fcust;

/* A slot of the cand-id set (open addressing, linear probing): key =
 * cand_id + 1 (0 = empty slot), the earliest time of an event with it. */
typedef struct fcand {
    uint64_t key;
    int64_t tmin;
} fcand;

typedef struct ftagset {
    uint32_t off, n; /* into tagpool, sorted ascending, unique */
} ftagset;

/* An event to add (history row, send, or replayed record): tags sorted or
 * not, duplicates allowed; interned as a sorted set. */
typedef struct fnew {
    uint64_t customer;
    int64_t t;
    uint64_t campaign;
    uint64_t cand;
    const uint32_t *tags;
    uint32_t ntags;
    uint8_t channel, cat, flags;
} fnew;

struct crm_fcap {
    crm_fcap_rules r;      /* caps/quiet point at the owned arrays below */
    crm_fcap_cap *caps;
    crm_fcap_quiet *quiet;
    int64_t horizon;

    fcust *cust;
    size_t ncust, capcust, nlive; /* rows, capacity, rows with events */
    crm__u64idx cidx;
    size_t nevents;

    fcand *cset;          /* cand ids of stored events, load <= 3/4 */
    size_t cmask, ccount; /* capacity - 1, keys */

    uint32_t *tagpool;
    size_t ntagpool, captagpool;
    ftagset *ts;
    size_t nts, capts;
    uint32_t *tsbucket; /* set index + 1, 0 = empty */
    size_t tsmask;

    int64_t floor;  /* prune time: decisions before it are refused */
    uint64_t seq;   /* state changes applied */
    uint8_t *user;
    size_t userlen;

    int logfd;      /* -1 when no log is attached */
    int logsync;
};

/* Validate rules (CRM_ERULE naming the item) and copy them into f. */
crm_status fcap__set_rules(crm_fcap *f, const crm_fcap_rules *rules);
/* Empty engine (no rules yet). */
crm_status fcap__alloc(crm_fcap **out);
/* Add events (all-or-nothing); `log` (may be NULL) is the payload of the log
 * record to write before the change is applied. */
crm_status fcap__commit(crm_fcap *f, const fnew *v, size_t n, crm__wbuf *log);
/* Drop events e <= now - horizon; `log` as above. */
crm_status fcap__prune(crm_fcap *f, int64_t now, crm__wbuf *log);
/* Write a framed log record whose payload is log->p[0..len) (if attached). */
crm_status fcap__log_write(crm_fcap *f, crm__wbuf *payload);
/* Start a log record payload of `type` with the next sequence number. */
void fcap__log_begin(const crm_fcap *f, crm__wbuf *w, uint8_t type);
/* Append an event to a log payload / snapshot. */
void fcap__put_event(crm__wbuf *w, const fnew *e);
/* Tags of an interned set. */
static inline const uint32_t *fcap__tags(const crm_fcap *f, uint32_t set, uint32_t *n)
{
    *n = f->ts[set].n;
    return f->tagpool + f->ts[set].off;
}

#define FLOG_HISTORY 1u
#define FLOG_DECIDE 2u
#define FLOG_PRUNE 3u
#define FLOG_USER 4u

#endif
