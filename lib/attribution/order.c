/* Markov order selection (specs/attribution.md, "Order selection"). Every
 * order K is scored on the same data: the run-collapsed channel sequence of
 * each path, predicted symbol by symbol from the last K channels (fewer at
 * the start of a path, which marks the start), then the outcome. */
#include <math.h>
#include <stdlib.h>

#include "attribution/attr_internal.h"

#define FOLDS 5
#define MAXK 4

/* Count record: key then per-fold counts and the total. */
typedef struct oc_rec {
    uint64_t key;
    double c[FOLDS + 1];
} oc_rec;

typedef struct oc_table {
    crm__u64idx idx;
    oc_rec *rec;
    size_t n, cap;
} oc_table;

static void oct_free(oc_table *t)
{
    crm__u64idx_free(&t->idx);
    crm__free(t->rec);
}

static crm_status oct_add(oc_table *t, uint64_t key, int fold, double w)
{
    bool added;
    if (crm__u64idx_full(&t->idx)) {
        crm_status st = crm__u64idx_grow(&t->idx, t->rec, sizeof(oc_rec));
        if (st)
            return st;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        void *p = t->rec;
        crm_status st = crm__realloc_array(&p, cap, sizeof(oc_rec), "order counts");
        if (st)
            return st;
        t->rec = p;
        t->cap = cap;
    }
    size_t r = crm__u64idx_upsert(&t->idx, key, t->rec, sizeof(oc_rec), &added);
    if (added) {
        memset(&t->rec[r], 0, sizeof(oc_rec));
        t->rec[r].key = key;
        t->n++;
    }
    t->rec[r].c[fold] += w;
    t->rec[r].c[FOLDS] += w;
    return CRM_OK;
}

static const oc_rec *oct_find(const oc_table *t, uint64_t key)
{
    size_t r = crm__u64idx_find(&t->idx, key, t->rec, sizeof(oc_rec));
    return r == SIZE_MAX ? NULL : &t->rec[r];
}

/* Per order: contexts (code -> counts), pairs (context row, next) and, per
 * context row and fold, the number of distinct nexts seen in training. */
typedef struct oc_order {
    oc_table ctx, pair;
    double *distinct; /* rows * FOLDS */
    /* dense mode: rows are base-B context codes (B^K of them); counts of
     * (row, next) in cnt[(row * V + next) * S ..], row totals in ctot */
    double *cnt, *ctot;
    double *lp; /* held-out: log p(next | row) per fold, [(row * V + next) * FOLDS + f] */
    uint64_t rows;
} oc_order;

#define S (FOLDS + 1)
#define DENSE_CELLS_MAX ((uint64_t)1 << 20)

/* Pair key: context row and next symbol (0 conversion, 1 null, ch + 2). */
static uint64_t pair_key(size_t ctx_row, uint32_t next)
{
    return (uint64_t)ctx_row << 32 | next;
}

typedef struct oc_ctx {
    const crm_attribution_paths *t;
    unsigned maxk;
    bool dense;
    uint64_t B, V; /* channels + 1, channels + 2 */
    oc_order ord[MAXK + 1];
    uint32_t *seq; /* collapsed path */
} oc_ctx;

static int fold_of(const crm_attribution_paths *t, size_t r)
{
    return (int)(crm__mix64(t->rows.hash[r] ^ UINT64_C(0x5bd1e995)) % FOLDS);
}

static size_t collapse(const crm_attribution_paths *t, size_t r, uint32_t *out)
{
    size_t len, k = 0;
    const uint32_t *s = attr_seqset_at(&t->rows, r, &len);
    for (size_t i = 0; i < len; i++)
        if (k == 0 || out[k - 1] != s[i])
            out[k++] = s[i];
    return k;
}

typedef crm_status (*visit_fn)(oc_ctx *c, unsigned K, uint64_t ctx, uint64_t dctx,
                               uint32_t next, double w, int fold, void *arg);

/* Call fn for every (order, context, next, weight) of every row. The
 * context of order K at position i is the last min(i, K) symbols, as a
 * 16-bit packed code and as a base-B code (digit 0 = no symbol). */
static crm_status visit(oc_ctx *c, visit_fn fn, void *arg)
{
    const crm_attribution_paths *t = c->t;
    crm_status st = CRM_OK;
    for (size_t r = 0; r < t->rows.n && !st; r++) {
        double cv = t->conv[r], nl = t->nulls[r], w = cv + nl;
        if (!(w > 0))
            continue;
        int fold = fold_of(t, r);
        size_t L = collapse(t, r, c->seq);
        for (size_t i = 0; i <= L && !st; i++)
            for (int out = 0; out < 2 && !st; out++) {
                uint32_t next = i < L ? c->seq[i] + 2u : (uint32_t)out;
                double wn = i < L ? w : out == 0 ? cv : nl;
                if ((i < L && out == 1) || !(wn > 0))
                    continue;
                uint64_t code = 0, dc = 0, pw = 1;
                for (unsigned K = 0; K <= c->maxk && !st; K++) {
                    if (K > 0 && i >= K) {
                        uint64_t sym = c->seq[i - K] + 1u;
                        code |= sym << (16 * (K - 1));
                        dc += sym * pw;
                    }
                    if (K > 0)
                        pw *= c->B;
                    st = fn(c, K, code, dc, next, wn, fold, arg);
                }
            }
    }
    return st;
}

static crm_status count_fn(oc_ctx *c, unsigned K, uint64_t ctx, uint64_t dctx,
                           uint32_t next, double w, int fold, void *arg)
{
    (void)arg;
    oc_order *o = &c->ord[K];
    if (c->dense) {
        double *a = o->ctot + dctx * S, *b = o->cnt + (dctx * c->V + next) * S;
        a[fold] += w;
        a[FOLDS] += w;
        b[fold] += w;
        b[FOLDS] += w;
        return CRM_OK;
    }
    crm_status st = oct_add(&o->ctx, ctx, fold, w);
    if (st)
        return st;
    size_t row = crm__u64idx_find(&o->ctx.idx, ctx, o->ctx.rec, sizeof(oc_rec));
    return oct_add(&o->pair, pair_key(row, next), fold, w);
}

typedef struct eval_arg {
    double ll[MAXK + 1];
    double pk[MAXK + 1]; /* probabilities of the current prediction */
    double vocab;
} eval_arg;

/* Training count (all folds but `fold`) of a count vector, 0 when NULL. */
static double train(const double *c, int fold)
{
    if (!c)
        return 0;
    double v = c[FOLDS] - c[fold];
    return v > 1e-9 * c[FOLDS] ? v : 0;
}

/* Witten-Bell interpolation of order K with K - 1 (order 0: add-one). */
static crm_status eval_fn(oc_ctx *c, unsigned K, uint64_t ctx, uint64_t dctx,
                          uint32_t next, double w, int fold, void *arg)
{
    eval_arg *e = arg;
    oc_order *o = &c->ord[K];
    size_t row;
    double cc, cp;
    if (c->dense) {
        row = (size_t)dctx;
        cc = train(o->ctot + dctx * S, fold);
        cp = train(o->cnt + (dctx * c->V + next) * S, fold);
    } else {
        row = crm__u64idx_find(&o->ctx.idx, ctx, o->ctx.rec, sizeof(oc_rec));
        const oc_rec *pr = row == SIZE_MAX ? NULL : oct_find(&o->pair, pair_key(row, next));
        cc = row == SIZE_MAX ? 0 : train(o->ctx.rec[row].c, fold);
        cp = train(pr ? pr->c : NULL, fold);
    }
    double p;
    if (K == 0) {
        p = (cp + 1.0) / (cc + e->vocab);
    } else {
        double lower = e->pk[K - 1];
        double T = row == SIZE_MAX ? 0 : o->distinct[row * FOLDS + (size_t)fold];
        p = cc > 0 ? (cp + T * lower) / (cc + T) : lower;
    }
    e->pk[K] = p;
    e->ll[K] += w * log(p);
    return CRM_OK;
}

/* Dense held-out scoring: the smoothed probability depends only on the
 * order-K context (lower-order contexts are its suffixes), so it is
 * tabulated once per fold and the pass over the data is table lookups. */
static crm_status dense_logp(oc_ctx *c)
{
    crm_status st = CRM_OK;
    uint64_t V = c->V;
    for (unsigned K = 0; K <= c->maxk && !st; K++) {
        oc_order *o = &c->ord[K];
        if ((st = crm__alloc_array((void **)&o->lp, o->rows * V * FOLDS + 1, 8, 0,
                                   "order probabilities")))
            break;
        uint64_t lower_rows = K ? c->ord[K - 1].rows : 1;
        for (uint64_t row = 0; row < o->rows; row++)
            for (int f = 0; f < FOLDS; f++) {
                double cc = train(o->ctot + row * S, f);
                double T = K ? o->distinct[row * FOLDS + (size_t)f] : 0;
                for (uint64_t y = 0; y < V; y++) {
                    double cp = train(o->cnt + (row * V + y) * S, f), p;
                    if (K == 0) {
                        p = (cp + 1.0) / (cc + (double)V);
                    } else {
                        double lower =
                            c->ord[K - 1].lp[((row % lower_rows) * V + y) * FOLDS + (size_t)f];
                        p = cc > 0 ? (cp + T * lower) / (cc + T) : lower;
                    }
                    o->lp[(row * V + y) * FOLDS + (size_t)f] = p;
                }
            }
    }
    for (unsigned K = 0; K <= c->maxk && !st; K++) {
        oc_order *o = &c->ord[K];
        for (uint64_t i = 0; i < o->rows * V * FOLDS; i++)
            o->lp[i] = log(o->lp[i]);
    }
    return st;
}

static crm_status eval_dense_fn(oc_ctx *c, unsigned K, uint64_t ctx, uint64_t dctx,
                                uint32_t next, double w, int fold, void *arg)
{
    (void)ctx;
    eval_arg *e = arg;
    e->ll[K] += w * c->ord[K].lp[(dctx * c->V + next) * FOLDS + (size_t)fold];
    return CRM_OK;
}

CRM_API crm_status crm_attribution_choose_order(const crm_attribution_paths *t,
                                                uint32_t max_order, int criterion,
                                                uint32_t *order, double *scores)
{
    if (!t || !order)
        return crm__fail(CRM_EINVAL, "crm_attribution_choose_order: %s is NULL",
                         t ? "order" : "t");
    if (max_order < 1 || max_order > MAXK)
        return crm__fail(CRM_EINVAL, "crm_attribution_choose_order: max_order = %u not in "
                         "1..%d", max_order, MAXK);
    if (criterion != CRM_ATTRIBUTION_BIC && criterion != CRM_ATTRIBUTION_HELDOUT)
        return crm__fail(CRM_EINVAL, "crm_attribution_choose_order: unknown criterion %d",
                         criterion);
    if (t->names.n > 65534)
        return crm__fail(CRM_EDATA, "choose_order: %zu channels, at most 65534", t->names.n);
    double N = 0;
    size_t maxlen = 0;
    for (size_t r = 0; r < t->rows.n; r++) {
        N += t->conv[r] + t->nulls[r];
        if (t->rows.off[r + 1] - t->rows.off[r] > maxlen)
            maxlen = (size_t)(t->rows.off[r + 1] - t->rows.off[r]);
    }
    if (!(N > 0))
        return crm__fail(CRM_EDATA, "choose_order: the table has no journeys");
    oc_ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.maxk = max_order;
    c.B = t->names.n + 1;
    c.V = t->names.n + 2;
    uint64_t cells = 0, bk = 1;
    for (unsigned K = 0; K <= max_order; K++, bk *= c.B) {
        c.ord[K].rows = bk;
        cells += bk * (c.V + 1);
        if (cells > DENSE_CELLS_MAX)
            break;
    }
    c.dense = cells <= DENSE_CELLS_MAX;
    crm_status st = crm__alloc_array((void **)&c.seq, maxlen + 1, 4, 0, "order buffer");
    for (unsigned K = 0; K <= max_order && !st; K++) {
        oc_order *o = &c.ord[K];
        if (c.dense) {
            if ((st = crm__alloc_array((void **)&o->cnt, o->rows * c.V * S, 8, 1, "order counts")) ||
                (st = crm__alloc_array((void **)&o->ctot, o->rows * S, 8, 1, "order counts")))
                break;
            continue;
        }
        if ((st = crm__u64idx_init(&o->ctx.idx, 64)) ||
            (st = crm__u64idx_init(&o->pair.idx, 64)))
            break;
    }
    if (!st)
        st = visit(&c, count_fn, NULL);
    double score[MAXK + 1] = { 0 };
    if (!st && criterion == CRM_ATTRIBUTION_BIC) {
        /* -2 LL + k ln N, k = free probabilities = pairs - contexts */
        for (unsigned K = 1; K <= max_order; K++) {
            oc_order *o = &c.ord[K];
            double ll = 0;
            if (c.dense) {
                double npair = 0, nctx = 0;
                for (uint64_t row = 0; row < o->rows; row++) {
                    double cc = o->ctot[row * S + FOLDS];
                    if (!(cc > 0))
                        continue;
                    nctx++;
                    for (uint64_t y = 0; y < c.V; y++) {
                        double cp = o->cnt[(row * c.V + y) * S + FOLDS];
                        if (cp > 0) {
                            npair++;
                            ll += cp * log(cp / cc);
                        }
                    }
                }
                score[K] = -2.0 * ll + (npair - nctx) * log(N);
                continue;
            }
            for (size_t i = 0; i < o->pair.n; i++) {
                double cp = o->pair.rec[i].c[FOLDS];
                double cc = o->ctx.rec[o->pair.rec[i].key >> 32].c[FOLDS];
                ll += cp * log(cp / cc);
            }
            double k = (double)o->pair.n - (double)o->ctx.n;
            score[K] = -2.0 * ll + k * log(N);
        }
    }
    if (!st && criterion == CRM_ATTRIBUTION_HELDOUT) {
        for (unsigned K = 1; K <= max_order && !st; K++) {
            oc_order *o = &c.ord[K];
            size_t nrows = c.dense ? (size_t)o->rows : o->ctx.n;
            if ((st = crm__alloc_array((void **)&o->distinct, nrows * FOLDS + 1, 8, 1,
                                       "order counts")))
                break;
            if (c.dense) {
                for (uint64_t row = 0; row < o->rows; row++)
                    for (uint64_t y = 0; y < c.V; y++)
                        for (int f = 0; f < FOLDS; f++)
                            if (train(o->cnt + (row * c.V + y) * S, f) > 0)
                                o->distinct[row * FOLDS + (size_t)f] += 1;
                continue;
            }
            for (size_t i = 0; i < o->pair.n; i++) {
                size_t row = (size_t)(o->pair.rec[i].key >> 32);
                for (int f = 0; f < FOLDS; f++)
                    if (train(o->pair.rec[i].c, f) > 0)
                        o->distinct[row * FOLDS + (size_t)f] += 1;
            }
        }
        eval_arg e;
        memset(&e, 0, sizeof e);
        e.vocab = (double)t->names.n + 2.0;
        if (!st && c.dense && !(st = dense_logp(&c)))
            st = visit(&c, eval_dense_fn, &e);
        else if (!st)
            st = visit(&c, eval_fn, &e);
        for (unsigned K = 1; K <= max_order; K++)
            score[K] = e.ll[K];
    }
    if (!st) {
        uint32_t best = 1;
        for (uint32_t K = 1; K <= max_order; K++) {
            bool better = criterion == CRM_ATTRIBUTION_BIC ? score[K] < score[best]
                                                           : score[K] > score[best];
            if (better)
                best = K;
            if (scores)
                scores[K - 1] = score[K];
        }
        *order = best;
    }
    for (unsigned K = 0; K <= MAXK; K++) {
        oct_free(&c.ord[K].ctx);
        oct_free(&c.ord[K].pair);
        crm__free(c.ord[K].distinct);
        crm__free(c.ord[K].cnt);
        crm__free(c.ord[K].lp);
        crm__free(c.ord[K].ctot);
    }
    crm__free(c.seq);
    return st;
}
