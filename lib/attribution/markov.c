/* Removal-effect Markov model of order K = 1..4, solved exactly
 * (specs/attribution.md, "Markov semantics"). States are windows of K
 * consecutive touches packed 16 bits per channel (channel + 1), so at most
 * 65534 channels. Chain indices: 0 (start), 1 (conversion), 2 (null), then
 * the transient states in order of first appearance. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "attribution/attr_internal.h"

#define S_START 0u
#define S_CONV 1u
#define S_NULL 2u
#define S_FIRST 3u

typedef struct mk_tr {
    uint64_t key; /* from << 32 | to */
    double w;
} mk_tr;

typedef struct mk_chain {
    unsigned K;
    bool keep;
    uint64_t *code;          /* per state row */
    size_t ns, ns_cap;
    crm__u64idx sidx;
    mk_tr *tr;
    size_t ntr, tr_cap;
    crm__u64idx tidx;
    double *conv_last, *val_last; /* per state row, grown with code */
    /* dense mode (small alphabets): state of each base-B window code, and
     * counts per (state, next symbol) instead of hashed transitions */
    bool dense;
    uint32_t B;          /* channels + 1 */
    uint64_t BK;         /* B^K */
    int32_t *code2state; /* BK entries, -1 = none */
    uint64_t *dcode;     /* per state row: its base-B code */
    double *tw;          /* per state row: [0] conv, [1] null, [2 + ch] */
    double *start_w;     /* per state row */
} mk_chain;

/* Dense mode when B^K codes and the worst-case count table stay small. */
#define DENSE_CODES_MAX ((uint64_t)1 << 22)
#define DENSE_CELLS_MAX ((uint64_t)1 << 23)

static void chain_free(mk_chain *c)
{
    crm__free(c->code);
    crm__u64idx_free(&c->sidx);
    crm__free(c->tr);
    crm__u64idx_free(&c->tidx);
    crm__free(c->conv_last);
    crm__free(c->val_last);
    crm__free(c->code2state);
    crm__free(c->dcode);
    crm__free(c->tw);
    crm__free(c->start_w);
}

static crm_status chain_init(mk_chain *c, unsigned K, bool keep, size_t nch)
{
    memset(c, 0, sizeof *c);
    c->K = K;
    c->keep = keep;
    c->B = (uint32_t)nch + 1;
    uint64_t bk = 1;
    for (unsigned k = 0; k < K && bk <= DENSE_CODES_MAX; k++)
        bk *= c->B;
    c->BK = bk;
    c->dense = bk <= DENSE_CODES_MAX && bk * (nch + 2) <= DENSE_CELLS_MAX;
    crm_status st = crm__u64idx_init(&c->sidx, 64);
    if (!st)
        st = crm__u64idx_init(&c->tidx, 256);
    if (!st && c->dense) {
        st = crm__alloc_array((void **)&c->code2state, bk, 4, 0, "markov state map");
        if (!st)
            memset(c->code2state, 0xff, bk * 4);
    }
    return st;
}

static crm_status dense_grow(mk_chain *c, size_t cap)
{
    size_t w = c->B + 1;
    void *a = c->dcode, *b = c->tw, *d = c->start_w;
    crm_status st = crm__realloc_array(&a, cap, 8, "markov states");
    if (st)
        return st;
    c->dcode = a;
    if ((st = crm__alloc_array(&b, cap * w, 8, 1, "markov counts")))
        return st;
    if (c->tw)
        memcpy(b, c->tw, c->ns * w * 8);
    crm__free(c->tw);
    c->tw = b;
    if ((st = crm__alloc_array(&d, cap, 8, 1, "markov counts")))
        return st;
    if (c->start_w)
        memcpy(d, c->start_w, c->ns * 8);
    crm__free(c->start_w);
    c->start_w = d;
    return CRM_OK;
}

static crm_status state_of(mk_chain *c, uint64_t code, uint32_t *out)
{
    bool added;
    if (crm__u64idx_full(&c->sidx)) {
        crm_status st = crm__u64idx_grow(&c->sidx, c->code, 8);
        if (st)
            return st;
    }
    if (c->ns == c->ns_cap) {
        size_t cap = c->ns_cap ? 2 * c->ns_cap : 64;
        void *p = c->code, *a = c->conv_last, *b = c->val_last;
        crm_status st = crm__realloc_array(&p, cap, 8, "markov states");
        if (st)
            return st;
        c->code = p;
        if ((st = crm__realloc_array(&a, cap, 8, "markov states")))
            return st;
        c->conv_last = a;
        if ((st = crm__realloc_array(&b, cap, 8, "markov states")))
            return st;
        c->val_last = b;
        if (c->dense && (st = dense_grow(c, cap)))
            return st;
        c->ns_cap = cap;
    }
    size_t r = crm__u64idx_upsert(&c->sidx, code, c->code, 8, &added);
    if (added) {
        c->code[r] = code;
        c->conv_last[r] = 0;
        c->val_last[r] = 0;
        c->ns++;
    }
    if (c->ns + S_FIRST >= UINT32_MAX)
        return crm__fail(CRM_EOVERFLOW, "markov: too many states");
    *out = (uint32_t)r + S_FIRST;
    return CRM_OK;
}

static crm_status add_tr(mk_chain *c, uint32_t from, uint32_t to, double w)
{
    bool added;
    if (crm__u64idx_full(&c->tidx)) {
        crm_status st = crm__u64idx_grow(&c->tidx, c->tr, sizeof(mk_tr));
        if (st)
            return st;
    }
    if (c->ntr == c->tr_cap) {
        size_t cap = c->tr_cap ? 2 * c->tr_cap : 256;
        void *p = c->tr;
        crm_status st = crm__realloc_array(&p, cap, sizeof(mk_tr), "markov transitions");
        if (st)
            return st;
        c->tr = p;
        c->tr_cap = cap;
    }
    uint64_t key = (uint64_t)from << 32 | to;
    size_t r = crm__u64idx_upsert(&c->tidx, key, c->tr, sizeof(mk_tr), &added);
    if (added) {
        c->tr[r].key = key;
        c->tr[r].w = w;
        c->ntr++;
    } else {
        c->tr[r].w += w;
    }
    return CRM_OK;
}

/* Dense counting: one array lookup per touch. The state of a window is
 * found through its base-B code; transitions are counted per (state, next
 * symbol) and turned into (from, to) records by dense_flatten(). */
static crm_status dense_count(mk_chain *c, const crm_attribution_paths *t, const double *conv,
                              const double *val, const double *nulls, size_t r0, size_t r1)
{
    const size_t W = c->B + 1;
    if (c->ns) {
        memset(c->tw, 0, c->ns * W * 8);
        memset(c->start_w, 0, c->ns * 8);
    }
    for (size_t i = 0; i < c->ns; i++)
        c->conv_last[i] = c->val_last[i] = 0;
    const unsigned K = c->K;
    const uint64_t mask = K == 4 ? UINT64_MAX : ((uint64_t)1 << (16 * K)) - 1;
    const uint64_t B = c->B, BK1 = c->BK / c->B;
    const uint32_t *seq = (const uint32_t *)(const void *)t->rows.pool;
    for (size_t r = r0; r < r1; r++) {
        double cv = conv[r], nl = nulls[r], w = cv + nl;
        if (!(w > 0))
            continue;
        const uint32_t *s = seq + t->rows.off[r];
        size_t len = (size_t)(t->rows.off[r + 1] - t->rows.off[r]);
        uint64_t code = 0, dc = 0;
        int64_t prev = -1; /* start */
        size_t first = len < K ? len - 1 : K - 1;
        for (size_t i = 0; i < len; i++) {
            code = (code << 16 | (s[i] + 1u)) & mask;
            if (i >= K)
                dc -= (s[i - K] + 1u) * BK1;
            dc = dc * B + s[i] + 1u;
            if (i < first)
                continue;
            int32_t cur = c->code2state[dc];
            if (cur < 0) {
                uint32_t id;
                crm_status st = state_of(c, code, &id);
                if (st)
                    return st;
                cur = (int32_t)(id - S_FIRST);
                c->code2state[dc] = cur;
                c->dcode[cur] = dc;
                memset(c->tw + (size_t)cur * W, 0, W * 8);
                c->start_w[cur] = 0;
            }
            if (prev < 0)
                c->start_w[cur] += w;
            else if (cur != prev || c->keep)
                c->tw[(size_t)prev * W + 2 + s[i]] += w;
            prev = cur;
        }
        c->tw[(size_t)prev * W + 0] += cv;
        c->tw[(size_t)prev * W + 1] += nl;
        if (cv > 0) {
            c->conv_last[prev] += cv;
            c->val_last[prev] += val[r];
        }
    }
    return CRM_OK;
}

/* Dense counts -> transition records (keys unique; no index needed). */
static crm_status dense_flatten(mk_chain *c)
{
    const size_t W = c->B + 1;
    c->ntr = 0;
    size_t need = c->ns;
    for (size_t i = 0; i < c->ns * W; i++)
        need += c->tw[i] != 0;
    if (need > c->tr_cap) {
        void *p = c->tr;
        crm_status st = crm__realloc_array(&p, need, sizeof(mk_tr), "markov transitions");
        if (st)
            return st;
        c->tr = p;
        c->tr_cap = need;
    }
    for (size_t i = 0; i < c->ns; i++)
        if (c->start_w[i] != 0)
            c->tr[c->ntr++] = (mk_tr){ (uint64_t)S_START << 32 | (uint32_t)(i + S_FIRST),
                                       c->start_w[i] };
    for (size_t i = 0; i < c->ns; i++) {
        const double *row = c->tw + i * W;
        uint64_t from = (uint64_t)(i + S_FIRST) << 32;
        if (row[0] != 0)
            c->tr[c->ntr++] = (mk_tr){ from | S_CONV, row[0] };
        if (row[1] != 0)
            c->tr[c->ntr++] = (mk_tr){ from | S_NULL, row[1] };
        for (size_t y = 0; y + 2 < W; y++)
            if (row[2 + y] != 0) {
                uint64_t dc = (c->dcode[i] * c->B + y + 1) % c->BK;
                int32_t to = c->code2state[dc];
                c->tr[c->ntr++] = (mk_tr){ from | (uint32_t)(to + (int32_t)S_FIRST), row[2 + y] };
            }
    }
    return CRM_OK;
}

/* Count the chain of rows with the given conversions / value / nulls
 * (zeroes existing counts first; keeps the state and transition ids). */
static crm_status hash_count(mk_chain *c, const crm_attribution_paths *t, const double *conv,
                              const double *val, const double *nulls)
{
    for (size_t i = 0; i < c->ntr; i++)
        c->tr[i].w = 0;
    for (size_t i = 0; i < c->ns; i++)
        c->conv_last[i] = c->val_last[i] = 0;
    const unsigned K = c->K;
    const uint64_t mask = K == 4 ? UINT64_MAX : ((uint64_t)1 << (16 * K)) - 1;
    const uint32_t *seq = (const uint32_t *)(const void *)t->rows.pool;
    crm_status st = CRM_OK;
    for (size_t r = 0; r < t->rows.n && !st; r++) {
        double cv = conv[r], nl = nulls[r], w = cv + nl;
        if (!(w > 0))
            continue;
        const uint32_t *s = seq + t->rows.off[r];
        size_t len = (size_t)(t->rows.off[r + 1] - t->rows.off[r]);
        uint32_t prev = S_START, cur;
        uint64_t code = 0;
        if (len < K) {
            for (size_t i = 0; i < len; i++)
                code = code << 16 | (s[i] + 1u);
            if ((st = state_of(c, code, &cur)) || (st = add_tr(c, prev, cur, w)))
                break;
            prev = cur;
        } else {
            for (size_t i = 0; i < len && !st; i++) {
                code = (code << 16 | (s[i] + 1u)) & mask;
                if (i + 1 < K)
                    continue;
                if ((st = state_of(c, code, &cur)))
                    break;
                if (cur == prev && !c->keep)
                    continue;
                st = add_tr(c, prev, cur, w);
                prev = cur;
            }
            if (st)
                break;
        }
        if (cv > 0) {
            st = add_tr(c, prev, S_CONV, cv);
            c->conv_last[prev - S_FIRST] += cv;
            c->val_last[prev - S_FIRST] += val[r];
        }
        if (!st && nl > 0)
            st = add_tr(c, prev, S_NULL, nl);
    }
    return st;
}

/* One thread's share of the dense counting: its own chain over rows [r0, r1). */
typedef struct cnt_job {
    mk_chain ch;
    const crm_attribution_paths *t;
    const double *conv, *val, *nulls;
    size_t r0, r1;
    crm_status st;
} cnt_job;

#define JOBS_MAX 64 /* threads of one counting or removal step */

/* Run fn on T jobs of `size` bytes each (T <= JOBS_MAX): the caller runs job 0,
 * a thread each of the others; a job whose thread cannot start runs on the
 * caller afterwards, so every job runs exactly once. */
static void run_jobs(void *(*fn)(void *), void *jobs, size_t size, size_t T)
{
    pthread_t th[JOBS_MAX];
    bool started[JOBS_MAX] = { false };
    char *at = jobs;
    for (size_t t = 1; t < T; t++)
        started[t] = pthread_create(&th[t], NULL, fn, at + t * size) == 0;
    fn(at);
    for (size_t t = 1; t < T; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            fn(at + t * size);
    }
}

static void *count_worker(void *arg)
{
    cnt_job *j = arg;
    j->st = dense_count(&j->ch, j->t, j->conv, j->val, j->nulls, j->r0, j->r1);
    return NULL;
}

#define ROWS_PER_THREAD_MIN 1024

/* Add a thread's chain into c. Threads cover consecutive row ranges and are
 * merged in order, so new states get the numbers (order of first
 * appearance) a single pass would give them. */
static crm_status dense_absorb(mk_chain *c, const mk_chain *p)
{
    const size_t W = c->B + 1;
    for (size_t i = 0; i < p->ns; i++) {
        uint64_t dc = p->dcode[i];
        int32_t g = c->code2state[dc];
        if (g < 0) {
            uint32_t id;
            crm_status st = state_of(c, p->code[i], &id);
            if (st)
                return st;
            g = (int32_t)(id - S_FIRST);
            c->code2state[dc] = g;
            c->dcode[g] = dc;
            memset(c->tw + (size_t)g * W, 0, W * 8);
            c->start_w[g] = 0;
        }
        const double *src = p->tw + i * W;
        double *dst = c->tw + (size_t)g * W;
        for (size_t k = 0; k < W; k++)
            dst[k] += src[k];
        c->start_w[g] += p->start_w[i];
        c->conv_last[g] += p->conv_last[i];
        c->val_last[g] += p->val_last[i];
    }
    return CRM_OK;
}

static crm_status chain_count(mk_chain *c, const crm_attribution_paths *t, const double *conv,
                              const double *val, const double *nulls, unsigned threads)
{
    if (!c->dense)
        return hash_count(c, t, conv, val, nulls);
    size_t n = t->rows.n, T = threads > 1 ? threads : 1;
    if (T > JOBS_MAX)
        T = JOBS_MAX;
    if (T > n / ROWS_PER_THREAD_MIN)
        T = n / ROWS_PER_THREAD_MIN;
    crm_status st;
    if (T <= 1) {
        st = dense_count(c, t, conv, val, nulls, 0, n);
        return st ? st : dense_flatten(c);
    }
    cnt_job job[JOBS_MAX];
    size_t made = 0;
    st = CRM_OK;
    for (; made < T && !st; made++) {
        job[made] = (cnt_job){ .t = t, .conv = conv, .val = val, .nulls = nulls,
                               .r0 = n * made / T, .r1 = n * (made + 1) / T };
        st = chain_init(&job[made].ch, c->K, c->keep, c->B - 1u);
    }
    if (!st) {
        run_jobs(count_worker, job, sizeof *job, T);
        for (size_t i = 0; i < T && !st; i++)
            st = job[i].st;
    }
    if (!st) {
        const size_t W = c->B + 1;
        if (c->ns) {
            memset(c->tw, 0, c->ns * W * 8);
            memset(c->start_w, 0, c->ns * 8);
        }
        for (size_t i = 0; i < c->ns; i++)
            c->conv_last[i] = c->val_last[i] = 0;
        for (size_t i = 0; i < T && !st; i++)
            st = dense_absorb(c, &job[i].ch);
    }
    for (size_t i = 0; i < made; i++)
        chain_free(&job[i].ch);
    return st ? st : dense_flatten(c);
}

/* ---- the linear system --------------------------------------------------- */

typedef struct mk_sys {
    size_t n;            /* transient states */
    uint64_t *rowp;      /* CSR over transient targets */
    uint32_t *col;
    double *p;
    double *rc, *rv, *q; /* P(s->conv), P(s->conv) m(s), P(start->s) */
} mk_sys;

static void sys_free(mk_sys *s)
{
    crm__free(s->rowp);
    crm__free(s->col);
    crm__free(s->p);
    crm__free(s->rc);
    crm__free(s->rv);
    crm__free(s->q);
    memset(s, 0, sizeof *s);
}

static int tr_cmp(const void *a, const void *b)
{
    uint64_t x = ((const mk_tr *)a)->key, y = ((const mk_tr *)b)->key;
    return (x > y) - (x < y);
}

/* Build the system from counts; sorts c->tr by key (the index is rebuilt). */
static crm_status sys_build(mk_sys *s, mk_chain *c)
{
    crm_status st;
    size_t n = c->ns;
    memset(s, 0, sizeof *s);
    s->n = n;
    qsort(c->tr, c->ntr, sizeof(mk_tr), tr_cmp);
    crm__u64idx_free(&c->tidx);
    if ((st = crm__u64idx_init(&c->tidx, c->ntr + 1)))
        return st;
    for (size_t i = 0; i < c->ntr && !c->dense; i++) {
        bool added;
        crm__u64idx_upsert(&c->tidx, c->tr[i].key, c->tr, sizeof(mk_tr), &added);
    }
    if ((st = crm__alloc_array((void **)&s->rowp, n + 1, 8, 1, "markov system")) ||
        (st = crm__alloc_array((void **)&s->col, c->ntr + 1, 4, 0, "markov system")) ||
        (st = crm__alloc_array((void **)&s->p, c->ntr + 1, 8, 0, "markov system")) ||
        (st = crm__alloc_array((void **)&s->rc, n + 1, 8, 1, "markov system")) ||
        (st = crm__alloc_array((void **)&s->rv, n + 1, 8, 1, "markov system")) ||
        (st = crm__alloc_array((void **)&s->q, n + 1, 8, 1, "markov system"))) {
        sys_free(s);
        return st;
    }
    size_t i = 0, nnz = 0;
    double start_total = 0;
    for (size_t k = 0; k < c->ntr; k++)
        if ((c->tr[k].key >> 32) == S_START)
            start_total += c->tr[k].w;
    while (i < c->ntr) {
        uint32_t from = (uint32_t)(c->tr[i].key >> 32);
        size_t j = i;
        double tot = 0;
        while (j < c->ntr && (uint32_t)(c->tr[j].key >> 32) == from)
            tot += c->tr[j++].w;
        for (size_t k = i; k < j; k++) {
            uint32_t to = (uint32_t)c->tr[k].key;
            double w = c->tr[k].w;
            if (from == S_START) {
                if (start_total > 0)
                    s->q[to - S_FIRST] = w / start_total;
                continue;
            }
            size_t fs = from - S_FIRST;
            if (!(tot > 0))
                continue;
            if (to == S_CONV) {
                s->rc[fs] = w / tot;
                double cl = c->conv_last[fs];
                s->rv[fs] = cl > 0 ? s->rc[fs] * (c->val_last[fs] / cl) : 0;
            } else if (to >= S_FIRST && w > 0) {
                s->col[nnz] = to - S_FIRST;
                s->p[nnz++] = w / tot;
            }
        }
        if (from >= S_FIRST)
            s->rowp[from - S_FIRST + 1] = nnz;
        i = j;
    }
    for (size_t r = 0; r < n; r++) /* rows without transient exits */
        if (s->rowp[r + 1] < s->rowp[r])
            s->rowp[r + 1] = s->rowp[r];
    return CRM_OK;
}

/* P and E with the states flagged in `removed` deleted (NULL: none).
 * x, y: n doubles of workspace (v, v2 too for max_step). */
static crm_status sys_solve(const mk_sys *s, const uint8_t *removed, uint32_t max_step,
                            double *x, double *y, double *v, double *v2, double *P, double *E)
{
    size_t n = s->n;
    if (max_step) {
        double p = 0, e = 0;
        for (size_t i = 0; i < n; i++)
            v[i] = removed && removed[i] ? 0 : s->q[i];
        for (uint32_t k = 1; k <= max_step; k++) {
            for (size_t i = 0; i < n; i++) {
                p += v[i] * s->rc[i];
                e += v[i] * s->rv[i];
            }
            if (k == max_step)
                break;
            memset(v2, 0, n * sizeof *v2);
            for (size_t i = 0; i < n; i++) {
                double vi = v[i];
                if (vi == 0)
                    continue;
                for (uint64_t a = s->rowp[i]; a < s->rowp[i + 1]; a++)
                    v2[s->col[a]] += vi * s->p[a];
            }
            for (size_t i = 0; i < n; i++)
                v[i] = removed && removed[i] ? 0 : v2[i];
        }
        *P = p;
        *E = e;
        return CRM_OK;
    }
    /* Gauss-Seidel on x = Q x + rc, y = Q y + rv (sweeping backwards: states
     * are numbered in order of first appearance, successors mostly later). */
    memset(x, 0, n * sizeof *x);
    memset(y, 0, n * sizeof *y);
    double prev = INFINITY;
    for (long it = 0;; it++) {
        double dx = 0, xmax = 0, ymax = 0, dy = 0;
        for (size_t i = n; i-- > 0;) {
            if (removed && removed[i])
                continue;
            double a = s->rc[i], b = s->rv[i];
            for (uint64_t k = s->rowp[i]; k < s->rowp[i + 1]; k++) {
                double pk = s->p[k];
                uint32_t j = s->col[k];
                a += pk * x[j];
                b += pk * y[j];
            }
            double d = fabs(a - x[i]), e = fabs(b - y[i]);
            if (d > dx)
                dx = d;
            if (e > dy)
                dy = e;
            x[i] = a;
            y[i] = b;
            if (a > xmax)
                xmax = a;
            if (b > ymax)
                ymax = b;
        }
        /* relative change, and the geometric tail it implies */
        double rel = fmax(xmax > 0 ? dx / xmax : dx, ymax > 0 ? dy / ymax : dy);
        if (rel == 0)
            break;
        double rho = prev > 0 && isfinite(prev) ? rel / prev : 0.5;
        if (rho < 1 && rel * rho / (1 - rho) < 1e-15 && it > 1)
            break;
        if (it > 2000000)
            return crm__fail(CRM_EDATA, "markov: the solve did not converge");
        prev = rel;
    }
    double p = 0, e = 0;
    for (size_t i = 0; i < n; i++)
        if (!(removed && removed[i])) {
            p += s->q[i] * x[i];
            e += s->q[i] * y[i];
        }
    *P = p;
    *E = e;
    return CRM_OK;
}

/* ---- fit ----------------------------------------------------------------- */

struct crm_attribution_markov {
    size_t nch;
    double P, E;
    double *arr[8];       /* CRM_ATTRIBUTION_RE .. VALUE_SE, nch each */
    size_t nstates;
    char **names;         /* nstates */
    size_t ntr;
    uint32_t *from, *to;
    double *prob;
};

CRM_API void crm_attribution_markov_free(crm_attribution_markov *m)
{
    if (!m)
        return;
    for (int i = 0; i < 8; i++)
        crm__free(m->arr[i]);
    if (m->names)
        for (size_t i = 0; i < m->nstates; i++)
            crm__free(m->names[i]);
    crm__free(m->names);
    crm__free(m->from);
    crm__free(m->to);
    crm__free(m->prob);
    crm__free(m);
}

/* Removal effects and credit of one set of counts into re, vre, cc, vc. */
typedef struct mk_work {
    double *x, *y, *v, *v2;
    uint8_t *removed;
} mk_work;

/* Removal solves of channels tid, tid + T, ... (one thread's share). */
typedef struct mk_job {
    const mk_chain *c;
    const mk_sys *s;
    uint32_t max_step;
    size_t nch, tid, T;
    mk_work w;
    double *Pc, *Ec;
    crm_status st;
} mk_job;

static void *removal_worker(void *arg)
{
    mk_job *j = arg;
    const mk_sys *s = j->s;
    for (size_t ch = j->tid; ch < j->nch && j->st == CRM_OK; ch += j->T) {
        uint16_t sym = (uint16_t)(ch + 1);
        for (size_t i = 0; i < s->n; i++) {
            uint64_t code = j->c->code[i];
            uint8_t hit = 0;
            for (unsigned k = 0; k < 4; k++)
                hit |= (uint16_t)(code >> (16 * k)) == sym;
            j->w.removed[i] = hit;
        }
        j->st = sys_solve(s, j->w.removed, j->max_step, j->w.x, j->w.y, j->w.v, j->w.v2,
                          &j->Pc[ch], &j->Ec[ch]);
    }
    return NULL;
}

static void work_free(mk_work *w)
{
    crm__free(w->x);
    crm__free(w->y);
    crm__free(w->v);
    crm__free(w->v2);
    crm__free(w->removed);
    memset(w, 0, sizeof *w);
}

static crm_status work_alloc(mk_work *w, size_t n)
{
    memset(w, 0, sizeof *w);
    crm_status st;
    if ((st = crm__alloc_array((void **)&w->x, n, 8, 0, "markov work")) ||
        (st = crm__alloc_array((void **)&w->y, n, 8, 0, "markov work")) ||
        (st = crm__alloc_array((void **)&w->v, n, 8, 0, "markov work")) ||
        (st = crm__alloc_array((void **)&w->v2, n, 8, 0, "markov work")) ||
        (st = crm__alloc_array((void **)&w->removed, n, 1, 0, "markov work")))
        work_free(w);
    return st;
}


static crm_status effects(mk_chain *c, const mk_sys *s, const crm_attribution_options *o,
                          size_t nch, mk_work *w, double tot_conv, double tot_val, double *P,
                          double *E, double *re, double *vre, double *cc, double *vc)
{
    crm_status st = sys_solve(s, NULL, o->max_step, w->x, w->y, w->v, w->v2, P, E);
    if (st)
        return st;
    double *pe = NULL;
    if ((st = crm__alloc_array((void **)&pe, 2 * nch + 1, 8, 0, "markov removal")))
        return st;
    size_t T = o->threads > 1 ? o->threads : 1;
    if (T > nch)
        T = nch ? nch : 1;
    if (T > JOBS_MAX)
        T = JOBS_MAX;
    mk_job job[JOBS_MAX];
    mk_work ws[JOBS_MAX];
    ws[0] = *w;
    for (size_t t = 1; t < T; t++)
        if (work_alloc(&ws[t], s->n + 1) != CRM_OK) {
            T = t; /* run with the threads that got their memory */
            break;
        }
    for (size_t t = 0; t < T; t++)
        job[t] = (mk_job){ c, s, o->max_step, nch, t, T, ws[t], pe, pe + nch, CRM_OK };
    run_jobs(removal_worker, job, sizeof *job, T);
    for (size_t t = 0; t < T; t++)
        if (job[t].st && !st)
            st = job[t].st;
    for (size_t t = 1; t < T; t++)
        work_free(&job[t].w);
    if (st) {
        crm__free(pe);
        return st;
    }
    double sre = 0, svre = 0;
    for (size_t ch = 0; ch < nch; ch++) {
        re[ch] = *P > 0 ? 1.0 - pe[ch] / *P : 0.0;
        vre[ch] = *E > 0 ? 1.0 - pe[nch + ch] / *E : 0.0;
        sre += re[ch];
        svre += vre[ch];
    }
    crm__free(pe);
    for (size_t ch = 0; ch < nch; ch++) {
        cc[ch] = sre > 0 ? tot_conv * re[ch] / sre : 0.0;
        vc[ch] = svre > 0 ? tot_val * vre[ch] / svre : 0.0;
    }
    return CRM_OK;
}

/* Poisson(lambda) draw from a splitmix64 stream (inversion in chunks). */
static double poisson(uint64_t *state, double lambda)
{
    double k = 0;
    while (lambda > 0) {
        double l = lambda > 30 ? 30 : lambda;
        lambda -= l;
        double L = exp(-l), p = 1;
        for (;;) {
            *state += UINT64_C(0x9E3779B97F4A7C15);
            uint64_t z = crm__mix64(*state - UINT64_C(0x9E3779B97F4A7C15));
            p *= ((double)(z >> 11) + 0.5) * 0x1p-53;
            if (p <= L)
                break;
            k++;
        }
    }
    return k;
}

static crm_status state_names(crm_attribution_markov *m, const mk_chain *c,
                              const crm_attribution_paths *t)
{
    size_t n = c->ns + S_FIRST;
    crm_status st = crm__alloc_array((void **)&m->names, n, sizeof(char *), 1, "state names");
    if (st)
        return st;
    m->nstates = n;
    static const char *fixed[] = { "(start)", "(conversion)", "(null)" };
    for (size_t i = 0; i < n; i++) {
        uint32_t sym[4];
        unsigned k = 0;
        size_t len = 1;
        if (i < S_FIRST) {
            len += strlen(fixed[i]);
        } else {
            uint64_t code = c->code[i - S_FIRST];
            for (int q = 3; q >= 0; q--) {
                uint16_t v = (uint16_t)(code >> (16 * q));
                if (v)
                    sym[k++] = v - 1u;
            }
            for (unsigned q = 0; q < k; q++)
                len += strlen(crm_attribution_paths_channel_name(t, sym[q])) + 3;
        }
        char *s = crm__malloc(len);
        if (!s)
            return crm__fail(CRM_ENOMEM, "markov: cannot allocate state names");
        m->names[i] = s;
        if (i < S_FIRST) {
            strcpy(s, fixed[i]);
            continue;
        }
        s[0] = '\0';
        size_t at = 0;
        for (unsigned q = 0; q < k; q++) {
            const char *nm = crm_attribution_paths_channel_name(t, sym[q]);
            if (q) {
                memcpy(s + at, " > ", 3);
                at += 3;
            }
            size_t l = strlen(nm);
            memcpy(s + at, nm, l);
            at += l;
        }
        s[at] = '\0';
    }
    return CRM_OK;
}

static crm_status markov_fit(crm_attribution_markov **out, const crm_attribution_paths *t,
                             const crm_attribution_options *o, bool full)
{
    size_t nch = t->names.n, nr = t->rows.n;
    if (nch > 65534)
        return crm__fail(CRM_EDATA, "markov: %zu channels, at most 65534", nch);
    double tot_conv = 0, tot_val = 0, tot_null = 0;
    for (size_t r = 0; r < nr; r++) {
        tot_conv += t->conv[r];
        tot_val += t->value[r];
        tot_null += t->nulls[r];
    }
    if (!(tot_conv + tot_null > 0))
        return crm__fail(CRM_EDATA, "markov: the table has no journeys");
    crm_attribution_markov *m = crm__malloc(sizeof *m);
    if (!m)
        return crm__fail(CRM_ENOMEM, "markov: cannot allocate the result");
    memset(m, 0, sizeof *m);
    m->nch = nch;
    mk_chain c;
    mk_sys s = { 0 };
    mk_work w = { 0 };
    double *bc = NULL, *bv = NULL, *bn = NULL, *acc = NULL;
    crm_status st = chain_init(&c, o->order, o->keep_self_loops != 0, nch);
    for (int i = 0; i < 8 && !st; i++)
        st = crm__alloc_array((void **)&m->arr[i], nch + 1, 8, 0, "markov result");
    if (st)
        goto out;
    if ((st = chain_count(&c, t, t->conv, t->value, t->nulls, o->threads)) ||
        (st = sys_build(&s, &c)))
        goto out;
    size_t n = s.n + 1;
    if ((st = work_alloc(&w, n)))
        goto out;
    if ((st = effects(&c, &s, o, nch, &w, tot_conv, tot_val, &m->P, &m->E, m->arr[0],
                      m->arr[1], m->arr[2], m->arr[3])))
        goto out;
    if (full) {
        /* transition matrix (c.tr is sorted by key after sys_build) */
        if ((st = state_names(m, &c, t)) ||
            (st = crm__alloc_array((void **)&m->from, c.ntr + 1, 4, 0, "transitions")) ||
            (st = crm__alloc_array((void **)&m->to, c.ntr + 1, 4, 0, "transitions")) ||
            (st = crm__alloc_array((void **)&m->prob, c.ntr + 1, 8, 0, "transitions")))
            goto out;
        size_t i = 0;
        while (i < c.ntr) {
            size_t j = i;
            double tot = 0;
            while (j < c.ntr && (c.tr[j].key >> 32) == (c.tr[i].key >> 32))
                tot += c.tr[j++].w;
            for (; i < j; i++)
                if (c.tr[i].w > 0) {
                    m->from[m->ntr] = (uint32_t)(c.tr[i].key >> 32);
                    m->to[m->ntr] = (uint32_t)c.tr[i].key;
                    m->prob[m->ntr++] = c.tr[i].w / tot;
                }
        }
    }
    for (int a = 4; a < 8; a++)
        for (size_t ch = 0; ch < nch; ch++)
            m->arr[a][ch] = NAN;
    if (full && o->bootstrap > 0) {
        /* seeded Poisson bootstrap over journeys: each row's conversions and
         * nulls are redrawn as Poisson counts, value scales with conversions */
        if ((st = crm__alloc_array((void **)&bc, nr + 1, 8, 0, "bootstrap")) ||
            (st = crm__alloc_array((void **)&bv, nr + 1, 8, 0, "bootstrap")) ||
            (st = crm__alloc_array((void **)&bn, nr + 1, 8, 0, "bootstrap")) ||
            (st = crm__alloc_array((void **)&acc, 8 * nch + 1, 8, 1, "bootstrap")))
            goto out;
        double *tmp[4];
        double *tbuf = NULL;
        if ((st = crm__alloc_array((void **)&tbuf, 4 * nch + 1, 8, 0, "bootstrap")))
            goto out;
        for (int a = 0; a < 4; a++)
            tmp[a] = tbuf + a * nch;
        uint64_t rng = crm__mix64(o->seed);
        for (uint32_t b = 0; b < o->bootstrap && !st; b++) {
            double tc = 0, tv = 0;
            for (size_t r = 0; r < nr; r++) {
                bc[r] = poisson(&rng, t->conv[r]);
                bn[r] = poisson(&rng, t->nulls[r]);
                bv[r] = t->conv[r] > 0 ? t->value[r] * bc[r] / t->conv[r] : 0;
                tc += bc[r];
                tv += bv[r];
            }
            mk_sys sb;
            double Pb, Eb;
            if ((st = chain_count(&c, t, bc, bv, bn, o->threads)) || (st = sys_build(&sb, &c)))
                break;
            st = effects(&c, &sb, o, nch, &w, tc, tv, &Pb, &Eb, tmp[0], tmp[1], tmp[2], tmp[3]);
            sys_free(&sb);
            for (int a = 0; a < 4 && !st; a++)
                for (size_t ch = 0; ch < nch; ch++) {
                    double d = tmp[a][ch] - m->arr[a][ch];
                    acc[a * nch + ch] += d;
                    acc[(4 + a) * nch + ch] += d * d;
                }
        }
        crm__free(tbuf);
        if (st)
            goto out;
        double B = o->bootstrap;
        for (int a = 0; a < 4; a++)
            for (size_t ch = 0; ch < nch; ch++) {
                double mean = acc[a * nch + ch] / B;
                double var = B > 1 ? (acc[(4 + a) * nch + ch] - B * mean * mean) / (B - 1) : 0;
                m->arr[4 + a][ch] = sqrt(var > 0 ? var : 0);
            }
    }
out:
    chain_free(&c);
    sys_free(&s);
    work_free(&w);
    crm__free(bc);
    crm__free(bv);
    crm__free(bn);
    crm__free(acc);
    if (st) {
        crm_attribution_markov_free(m);
        return st;
    }
    *out = m;
    return CRM_OK;
}

crm_status attr_markov_credit(const crm_attribution_paths *t, const crm_attribution_options *o,
                              double *conv, double *value)
{
    crm_attribution_markov *m;
    crm_status st = markov_fit(&m, t, o, false);
    if (st)
        return st;
    memcpy(conv, m->arr[2], m->nch * 8);
    memcpy(value, m->arr[3], m->nch * 8);
    crm_attribution_markov_free(m);
    return CRM_OK;
}

CRM_API crm_status crm_attribution_markov_fit(crm_attribution_markov **out,
                                              const crm_attribution_paths *t,
                                              const crm_attribution_options *opt)
{
    if (!out || !t)
        return crm__fail(CRM_EINVAL, "crm_attribution_markov_fit: %s is NULL",
                         out ? "t" : "out");
    *out = NULL;
    crm_attribution_options o;
    crm_status st = attr_options_resolve(&o, opt);
    if (st)
        return st;
    return markov_fit(out, t, &o, true);
}

CRM_API double crm_attribution_markov_p_conversion(const crm_attribution_markov *m)
{
    return m ? m->P : NAN;
}

CRM_API double crm_attribution_markov_expected_value(const crm_attribution_markov *m)
{
    return m ? m->E : NAN;
}

CRM_API const double *crm_attribution_markov_array(const crm_attribution_markov *m,
                                                   int which, size_t *n)
{
    if (!m || which < CRM_ATTRIBUTION_RE || which > CRM_ATTRIBUTION_VALUE_SE) {
        crm__fail(CRM_EINVAL, "crm_attribution_markov_array: bad argument");
        return NULL;
    }
    if (n)
        *n = m->nch;
    return m->arr[which - 1];
}

CRM_API size_t crm_attribution_markov_n_states(const crm_attribution_markov *m)
{
    return m ? m->nstates : 0;
}

CRM_API const char *crm_attribution_markov_state_name(const crm_attribution_markov *m,
                                                      size_t i)
{
    if (!m || i >= m->nstates)
        return NULL;
    return m->names[i];
}

CRM_API crm_status crm_attribution_markov_transitions(const crm_attribution_markov *m,
                                                      size_t *n, const uint32_t **from,
                                                      const uint32_t **to,
                                                      const double **prob)
{
    if (!m || !n || !from || !to || !prob)
        return crm__fail(CRM_EINVAL, "crm_attribution_markov_transitions: NULL argument");
    *n = m->ntr;
    *from = m->from;
    *to = m->to;
    *prob = m->prob;
    return CRM_OK;
}
