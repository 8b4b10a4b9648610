/* Internal state of the frequency-cap engine, shared by fcap.c (rules,
 * decisions), state.c (the compact customer store) and persist.c
 * (snapshots, decision log). */
#ifndef CRM_FCAP_INT_H
#define CRM_FCAP_INT_H

#include "core/blob.h"
#include "core/core.h"
#include "crm/fcap.h"

#define FEV_COUNTS 1u /* a counted event */
#define FEV_SENT 2u   /* recorded by crm_fcap_decide (a batch send at its t) */

/* An event, decoded (history row, send, replayed record, or a stored event
 * unpacked for the checks): tags sorted or not, duplicates allowed when
 * added; a decoded stored event has them sorted and unique. */
typedef struct fnew {
    uint64_t customer;
    int64_t t;
    uint64_t campaign;
    uint64_t cand; /* CRM_FCAP_NO_CAND when none */
    const uint32_t *tags;
    uint32_t ntags;
    uint8_t channel, cat, flags;
} fnew;

/* A customer: one slot of an open-addressing table (linear probing from
 * the home slot fhome gives, capacity not a power of two). Its events
 * live in the byte pool as one canonical, compactly encoded blob (see
 * state.c):
 *   pos = byte offset of the blob in the pool (bits 0..39) | capacity of
 *   its pool region (bits 40..63). */
typedef struct fslot {
    uint64_t id1; /* customer id + 1; 0 = empty slot */
    uint64_t pos;
} fslot;

/* Where a customer's probe starts (its home slot) in the ordered part of
 * the customer table: ids keep their order there, so that a batch sorted
 * by customer reads the table front to back instead of one random slot
 * (and page) per customer. Built from the
 * ids present when the table is (re)built: ids lo .. lo + span fall into
 * buckets of 2^sh ids; bucket b owns the run of slots st[b] .. st[b + 1]
 * (in proportion to its customers then). In a run of at most FHOME_ORDERED
 * slots an id's home is interpolated from its place in the bucket; a wider
 * run (a bucket of many ids, which may be spread unevenly in it) is hashed
 * within the run; an empty bucket's ids, and ids outside lo .. lo + span,
 * are hashed over the whole table. Without a model (lo = UINT64_MAX: no
 * customer id is that large) every id is hashed. The ordered part holds
 * only ids the model was built from; customers added later go to the
 * overflow part (hashed, probed only when the ordered part misses) until
 * they are 1/8 of all, when the table is rebuilt. */
#define FHOME_ORDERED 32u
typedef struct fhome {
    uint64_t lo, span, mask; /* mask = 2^sh - 1 */
    unsigned sh;
    size_t nb;    /* buckets; st has nb + 1 entries */
    uint32_t *st; /* NULL without a model */
} fhome;

#define FSLOT_OFF(p) ((p) & ((UINT64_C(1) << 40) - 1))
#define FSLOT_CAP(p) ((size_t)((p) >> 40))
#define FSLOT_MAXCAP ((size_t)1 << 24)

/* A page of the cand-id set: bit j of `bits` is set when some stored event
 * carries cand_id 64 * (key1 - 1) + j (an exact set, compact for the dense
 * id ranges candidate ids come from). */
typedef struct fpage {
    uint64_t key1; /* page + 1; 0 = empty slot */
    uint64_t bits;
} fpage;

/* Growable scratch for decoding one customer's events. */
typedef struct fscratch {
    fnew *ev;
    size_t evcap;
    uint32_t *tags;
    size_t tagcap;
    uint8_t *enc;
    size_t enccap;
} fscratch;

struct crm_fcap {
    crm_fcap_rules r; /* caps/quiet point at the owned arrays below */
    crm_fcap_cap *caps;
    crm_fcap_quiet *quiet;
    int64_t horizon;

    fslot *slot;         /* customer table: tcap ordered slots, then ocap overflow slots */
    size_t tcap, ncust;  /* ordered slots, customers (each has >= 1 event) */
    fhome hm;            /* home slots of the ordered part */
    size_t ocap, nov;    /* overflow: slots, customers (added since the table was built) */
    uint64_t tgen;       /* counts the times slots moved */
    uint8_t *pool;       /* event blobs: pool offsets below extbase */
    size_t poolcap, poollen, garbage; /* bytes: allocated (pool), used, freed regions */
    uint8_t *ext;        /* the pool's extension: offsets extbase .. extbase + extcap */
    size_t extbase, extcap; /* (SIZE_MAX, 0: none; see fcap__pool_at) */
    size_t nevents;

    fpage *page;         /* cand-id set */
    size_t pcap, npage;
    uint64_t prange[2];  /* smallest and largest page key in it (UINT64_MAX, 0: none) */

    int64_t floor; /* prune time: decisions before it are refused */
    uint64_t seq;  /* state changes applied */
    uint8_t *user;
    size_t userlen;

    int logfd; /* -1 when no log is attached */
    int logsync;
};

/* A (key, value) pair sorted by key: a customer as snapshots list them
 * (id, fslot.pos), or an id and the index of its row. */
typedef struct fcref {
    uint64_t id;
    uint64_t pos;
} fcref;

/* The events of one customer as the decide fast path sees them (at most
 * FV_MAX: the checks work on 64-bit event masks): the stored events, whose
 * hot parts (time, channel, category, flags) are decoded at once and cold
 * parts (campaign, cand id, tags) on demand (fcap__view_cold), then the
 * sends of the current decide call. */
#define FV_MAX 64
typedef struct fview {
    size_t n, nstored;
    bool ordered;          /* events ascend in time (index order is time order) */
    bool hasc;             /* cold columns decoded (camp, tagat, ntag, base, lastcand) */
    bool wide;             /* the stored block has wide hot records (state.c) */
    uint64_t counted;      /* events with FEV_COUNTS (bit i = event i) */
    uint64_t sent;         /* events with FEV_SENT */
    uint64_t base;         /* first cand id of the block (CRM_FCAP_NO_CAND: none) */
    uint64_t lastcand;     /* cand id of its last event, or CRM_FCAP_NO_CAND */
    const uint8_t *cold, *end; /* cold part of the stored block */
    const uint32_t *stag;  /* sorted tags of the sends (tagat indexes it) */
    int64_t t[FV_MAX];
    uint64_t camp[FV_MAX];
    uint32_t tagat[FV_MAX]; /* stored: offset of the tag list in cold; send: in stag */
    uint32_t ntag[FV_MAX];
    uint8_t meta[FV_MAX];   /* channel | category << 6 */
    uint8_t b1[FV_MAX];     /* FEV_ flags */
} fview;

/* Canonical event order: t, channel, category, flags, campaign, cand, tags. */
static inline int fcap__ev_cmp(const fnew *a, const fnew *b)
{
#define CMP(x, y) \
    if ((x) != (y)) \
        return (x) < (y) ? -1 : 1
    CMP(a->t, b->t);
    CMP(a->channel, b->channel);
    CMP(a->cat, b->cat);
    CMP(a->flags, b->flags);
    CMP(a->campaign, b->campaign);
    CMP(a->cand, b->cand);
    for (uint32_t i = 0; i < a->ntags && i < b->ntags; i++)
        CMP(a->tags[i], b->tags[i]);
    CMP(a->ntags, b->ntags);
    return 0;
#undef CMP
}

/* The pool byte at offset off (a blob's region lies in one part). A large
 * pool grows by an extension instead of a realloc: realloc moves a large
 * block to new pages (mremap), and on some virtual machines every page of a
 * moved block faults again at its next use (~5 us per 4 KiB page measured,
 * ~100 ms for a 64 MB pool). Compaction, prune and load make it one block
 * again. */
static inline __attribute__((always_inline)) uint8_t *fcap__pool_at(const crm_fcap *f,
                                                                    size_t off)
{
    return off < f->extbase ? f->pool + off : f->ext + (off - f->extbase);
}

/* The blob at slot position pos (fslot.pos: offset and region size). */
static inline __attribute__((always_inline)) uint8_t *fcap__blob_ptr(const crm_fcap *f,
                                                                     uint64_t pos)
{
    return fcap__pool_at(f, FSLOT_OFF(pos));
}

/* ---- state.c ---- */
/* Sort 16-byte (key, value) records by key (stable LSD radix on the key
 * bits that vary; a temporary copy). */
crm_status fcap__sort_pairs(fcref *v, size_t n);
/* Every customer, ascending by id (*out: crm__free). */
crm_status fcap__customers_by_id(const crm_fcap *f, fcref **out);
/* Empty customer store. */
crm_status fcap__state_init(crm_fcap *f);
void fcap__state_free(crm_fcap *f);
size_t fcap__state_memory(const crm_fcap *f);
/* Slot index of customer id, or SIZE_MAX. */
size_t fcap__find(const crm_fcap *f, uint64_t id);
/* fcap__find with the home slot of id already known. */
size_t fcap__find_at(const crm_fcap *f, uint64_t id, size_t home);
/* x hashed onto 0 .. cap - 1 (always inlined: the call cost as much as the
 * hash). */
static inline __attribute__((always_inline)) size_t fcap__hash_home(size_t cap, uint64_t x)
{
    __extension__ typedef unsigned __int128 u128;
    return (size_t)(((u128)crm__mix64(x) * cap) >> 64);
}
/* Home slot of customer id in the ordered part by model h (see fhome), or
 * SIZE_MAX when h has no run for id (no model, id out of range, empty
 * bucket). */
static inline __attribute__((always_inline)) size_t fcap__home_run(const fhome *h, uint64_t id)
{
    __extension__ typedef unsigned __int128 u128;
    uint64_t d = id - h->lo;
    if (d <= h->span) {
        size_t b = (size_t)(d >> h->sh);
        uint32_t s0 = h->st[b], w = h->st[b + 1] - s0;
        if (w - 1 < FHOME_ORDERED) /* 1 .. FHOME_ORDERED */
            return s0 + (size_t)(((u128)(d & h->mask) * w) >> h->sh);
        if (w)
            return s0 + fcap__hash_home(w, id);
    }
    return SIZE_MAX;
}
/* Home slot of cand-id page key1 in a page table of cap slots. */
static inline __attribute__((always_inline)) size_t fcap__page_home(size_t cap, uint64_t key1)
{
    return fcap__hash_home(cap, key1 ^ UINT64_C(0x5851F42D4C957F2D));
}
/* Home slot of customer id in the overflow part. */
static inline __attribute__((always_inline)) size_t fcap__ov_home(const crm_fcap *f, uint64_t id)
{
    return f->tcap + fcap__hash_home(f->ocap, id);
}
/* Home slot of customer id, where fcap__find_at starts: its run's slot
 * in the ordered part, or, for an id the model has no run for (which the
 * ordered part cannot hold), its home in the overflow part; without a
 * model, hashed over the ordered part. */
static inline __attribute__((always_inline)) size_t fcap__home(const crm_fcap *f, uint64_t id)
{
    size_t i = fcap__home_run(&f->hm, id);
    if (i != SIZE_MAX)
        return i;
    return f->hm.st ? fcap__ov_home(f, id) : fcap__hash_home(f->tcap, id);
}
/* Does the cand-id set contain cand? */
bool fcap__cand_maybe(const crm_fcap *f, uint64_t cand);
/* Exact: some stored event carries cand at time <= t (scans every blob
 * when the set has cand: call it only when the customer's own events do
 * not settle the question). */
bool fcap__cand_sent(const crm_fcap *f, uint64_t cand, int64_t t);
/* A decoder of the hot parts of the stored block at p (trusted) into v (n,
 * nstored, counted, sent, t, meta, b1; hasc = false); false when it has
 * more than `max` events (v is then incomplete). */
typedef bool (*fcap__view_decode_fn)(const uint8_t *p, fview *v, size_t max);
/* The decoder for this CPU (AVX-512, AVX2 or portable; CRM_FCAP_DECODER=avx2
 * or portable in the environment: that one): fetched once per call, called
 * per block. */
fcap__view_decode_fn fcap__view_decoder(void);
/* Decode the cold columns of v's stored events (camp, tagat, ntag, base,
 * lastcand; hasc = true). */
void fcap__view_cold(fview *v);
/* Does stored event i of v (i < v->nstored, cold columns decoded) carry tag? */
bool fcap__view_stored_tag(const fview *v, size_t i, uint32_t tag);
/* Decode the tags of stored event i of v into out (room for v->ntag[i]). */
void fcap__view_stored_tags(const fview *v, size_t i, uint32_t *out);
/* Does the trusted blob at p hold an event with cand at time <= t? */
bool fcap__blob_has_cand(const uint8_t *p, uint64_t cand, int64_t t);
/* Decode the blob of slot i into s->ev (tags into s->tags); returns the
 * number of events (the pool is trusted); *flags (may be NULL) receives the
 * OR of their FEV_ flags. */
size_t fcap__decode_slot(const crm_fcap *f, size_t i, fscratch *s, unsigned *flags);
/* Room for n events / n tags / n bytes in s (contents dropped when grown). */
crm_status fcap__scratch_reserve(fscratch *s, size_t nev, size_t ntags, size_t nenc);
void fcap__scratch_free(fscratch *s);
/* Blob at slot position pos: bytes and length (length prefix included). */
const uint8_t *fcap__blob_at(const crm_fcap *f, uint64_t pos, size_t *len);
/* Validate one encoded blob at p (at most avail bytes): its length and
 * canonical content. Returns its total byte length, or 0 with *why / *at
 * (offset from p) describing the first problem. Counts events into *nev. */
size_t fcap__blob_check(const crm_fcap *f, const uint8_t *p, size_t avail, fscratch *s,
                        size_t *nev, const char **why, size_t *at);
/* Copy the validated blob of a loaded customer into the pool (capacity must
 * suffice: fcap__reserve_load) and add its cand ids (the set grows);
 * *pos receives its slot position for fcap__index_loaded. */
crm_status fcap__put_loaded(crm_fcap *f, uint64_t id, const uint8_t *blob, size_t len,
                            size_t nev, const fnew *ev, uint64_t *pos);
/* Insert n loaded customers (absent, distinct) into the table. */
void fcap__index_loaded(crm_fcap *f, const fcref *v, size_t n);
/* Capacity for a load of ncust customers and `bytes` blob bytes. */
crm_status fcap__reserve_load(crm_fcap *f, size_t ncust, size_t bytes);
/* Room for `more` cand ids in the page set. */
crm_status fcap__pages_reserve(crm_fcap *f, size_t more);
/* Release unused pool capacity (after a load). */
void fcap__pool_trim(crm_fcap *f);

/* Sort and deduplicate v[0..n) in place; returns the new length. */
uint32_t fcap__sort_unique(uint32_t *v, uint32_t n);
/* A change being prepared: the new blobs of the customers it touches. */
typedef struct fgroup {
    size_t slot; /* SIZE_MAX: new customer */
    uint64_t id;
    size_t enc;      /* encoded blob: offset in the stage buffer, or in the pool (tail) */
    uint32_t len;    /* its length (< FSLOT_MAXCAP) */
    uint32_t region; /* its pool region's size, 0 when rewritten in place */
    bool tail;       /* encoded at the pool's tail (in its region when region > 0) */
} fgroup;

typedef struct fstage {
    fgroup *grp;
    size_t ngrp, grpcap;
    uint8_t *enc;
    size_t enclen, enccap;
    size_t newcust, need;
    size_t pend;        /* bytes staged at the pool's tail, beyond poollen */
    size_t garbage;     /* pool bytes freed when applied: staged at the tail and copied
                           elsewhere, or regions replaced */
    size_t hint; /* expected encoded bytes (first allocation size), 0: none */
} fstage;

/* Stage the complete new event list ev[0..m) of customer id (slot, or
 * SIZE_MAX when new); ev[0..nold) are its stored events as decoded (in
 * canonical order), the rest new ones; tags of ev must be sorted and unique;
 * ev is sorted here. The state is not changed (the pool may grow or be
 * compacted: blob pointers taken before are stale). */
crm_status fcap__stage_customer(crm_fcap *f, fstage *st, uint64_t id, size_t slot,
                                fnew *ev, size_t nold, size_t m);
/* Stage customer id (at slot), whose stored block v was decoded by the
 * fast decoder (fcap__view_decoder; v->nstored >= 1), as that block
 * extended by add[0..k) (canonical order, sorting after the stored events;
 * tags sorted, unique): the block's part boundaries, last time and first
 * cand id are taken from v. The state is not changed (as
 * fcap__stage_customer). */
crm_status fcap__stage_sends(crm_fcap *f, fstage *st, uint64_t id, size_t slot, const fview *v,
                             const fnew *add, size_t k);
/* Apply a stage (all-or-nothing): it adds n events, whose cand ids
 * (CRM_FCAP_NO_CAND for none) cand[0..n) join the set (cand is reordered
 * here); `log` as fcap__commit. */
crm_status fcap__stage_apply(crm_fcap *f, fstage *st, uint64_t *cand, size_t n,
                             crm__wbuf *log);
void fcap__stage_free(fstage *st);
/* Add events (all-or-nothing); `log` (may be NULL) is the payload of the log
 * record to write before the change is applied. */
crm_status fcap__commit(crm_fcap *f, const fnew *v, size_t n, crm__wbuf *log);
/* Drop events e <= now - horizon; `log` as above. */
crm_status fcap__prune(crm_fcap *f, int64_t now, crm__wbuf *log);

/* ---- fcap.c / persist.c ---- */
/* Validate rules (CRM_ERULE naming the item) and copy them into f. */
crm_status fcap__set_rules(crm_fcap *f, const crm_fcap_rules *rules);
/* Empty engine (no rules yet). */
crm_status fcap__alloc(crm_fcap **out);
/* Write a framed log record whose payload is log->p[0..len) (if attached). */
crm_status fcap__log_write(crm_fcap *f, crm__wbuf *payload);
/* Start a log record payload of `type` with the next sequence number. */
void fcap__log_begin(const crm_fcap *f, crm__wbuf *w, uint8_t type);
/* Append an event to a log payload. */
void fcap__put_event(crm__wbuf *w, const fnew *e);

#define FLOG_HISTORY 1u
#define FLOG_DECIDE 2u
#define FLOG_PRUNE 3u
#define FLOG_USER 4u

#endif
