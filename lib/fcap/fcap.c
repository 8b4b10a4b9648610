/* Frequency-cap arbitration engine: rules, state, decisions (specs/fcap.md). */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "fcap/fcap_int.h"

#define MONTH_SECONDS (31 * 86400)

/* ---- rules ------------------------------------------------------------------ */

CRM_API crm_status crm_fcap_rules_init(crm_fcap_rules *rules, unsigned version)
{
    if (!rules)
        return crm__fail(CRM_EINVAL, "crm_fcap_rules_init: rules is NULL");
    crm_status s = crm__check_version(version, CRM_FCAP_RULES_VERSION, "crm_fcap_rules");
    if (s)
        return s;
    memset(rules, 0, sizeof *rules);
    rules->version = version;
    rules->n_channels = 8;
    for (unsigned c = 0; c < CRM_FCAP_CATEGORIES; c++) {
        rules->capped[c] = c != CRM_FCAP_SERVICE;
        rules->counts[c] = c != CRM_FCAP_SERVICE;
        rules->requires_consent[c] = 1;
    }
    return CRM_OK;
}

static uint64_t channel_mask(uint32_t n_channels)
{
    return n_channels >= 64 ? UINT64_MAX : (UINT64_C(1) << n_channels) - 1;
}

static crm_status check_cap(const crm_fcap_cap *k, size_t i, uint32_t nch)
{
    if (k->scope > CRM_FCAP_SCOPE_TAG)
        return crm__fail(CRM_ERULE, "caps[%zu].scope = %u is not a scope (0..4)", i, k->scope);
    if (k->limit < 0)
        return crm__fail(CRM_ERULE, "caps[%zu].limit = %lld is negative", i, (long long)k->limit);
    if (k->sliding > 1 || k->tz_utc > 1)
        return crm__fail(CRM_ERULE, "caps[%zu]: sliding and tz_utc must be 0 or 1", i);
    if (k->window < 0 || k->window > CRM_FCAP_WINDOW_MAX ||
        (k->window == CRM_FCAP_WINDOW_MONTH && k->sliding))
        return crm__fail(CRM_ERULE, "caps[%zu].window = %lld: need 1..%lld seconds (or month "
                         "for a calendar cap)", i, (long long)k->window,
                         (long long)CRM_FCAP_WINDOW_MAX);
    if (k->categories > CRM_FCAP_ALL_CATEGORIES)
        return crm__fail(CRM_ERULE, "caps[%zu].categories = 0x%x has bits beyond 4 categories",
                         i, k->categories);
    if (k->channels != CRM_FCAP_ALL_CHANNELS && (k->channels & ~channel_mask(nch)))
        return crm__fail(CRM_ERULE, "caps[%zu].channels names a channel id >= %u", i, nch);
    if (k->scope != CRM_FCAP_SCOPE_GLOBAL && k->key != CRM_FCAP_KEY_ANY) {
        int64_t hi = k->scope == CRM_FCAP_SCOPE_CHANNEL    ? (int64_t)nch - 1
                     : k->scope == CRM_FCAP_SCOPE_CATEGORY ? 3
                     : k->scope == CRM_FCAP_SCOPE_TAG      ? (int64_t)UINT32_MAX
                                                           : INT64_MAX;
        if (k->key < 0 || k->key > hi)
            return crm__fail(CRM_ERULE, "caps[%zu].key = %lld is outside 0..%lld (or -1 for *)",
                             i, (long long)k->key, (long long)hi);
    }
    for (size_t b = 0; b < sizeof k->reserved; b++)
        if (k->reserved[b])
            return crm__fail(CRM_ERULE, "caps[%zu].reserved must be zero", i);
    return CRM_OK;
}

static crm_status check_rules(const crm_fcap_rules *r)
{
    if (r->n_channels < 1 || r->n_channels > CRM_FCAP_MAX_CHANNELS)
        return crm__fail(CRM_ERULE, "rules.n_channels = %u is outside 1..%u", r->n_channels,
                         CRM_FCAP_MAX_CHANNELS);
    if ((r->n_caps && !r->caps) || (r->n_quiet && !r->quiet))
        return crm__fail(CRM_EINVAL, "rules: caps or quiet is NULL with a non-zero count");
    if (r->n_caps > 65535 || r->n_quiet > 65535)
        return crm__fail(CRM_ERULE, "rules: more than 65535 caps or quiet intervals");
    for (size_t i = 0; i < r->n_caps; i++) {
        crm_status s = check_cap(&r->caps[i], i, r->n_channels);
        if (s)
            return s;
    }
    for (size_t i = 0; i < r->n_quiet; i++) {
        const crm_fcap_quiet *q = &r->quiet[i];
        if (q->start < 0 || q->start >= 86400 || q->end < 0 || q->end > 86400)
            return crm__fail(CRM_ERULE, "quiet[%zu]: start %d / end %d outside 0..86399 / 0..86400",
                             i, q->start, q->end);
        if (q->categories > CRM_FCAP_ALL_CATEGORIES ||
            (q->channels != CRM_FCAP_ALL_CHANNELS && (q->channels & ~channel_mask(r->n_channels))))
            return crm__fail(CRM_ERULE, "quiet[%zu]: channel or category filter out of range", i);
        for (size_t b = 0; b < sizeof q->reserved; b++)
            if (q->reserved[b])
                return crm__fail(CRM_ERULE, "quiet[%zu].reserved must be zero", i);
    }
    if (r->sim_max && (r->sim_gap < 1 || r->sim_gap > CRM_FCAP_WINDOW_MAX))
        return crm__fail(CRM_ERULE, "rules.sim_gap = %lld is outside 1..%lld", (long long)r->sim_gap,
                         (long long)CRM_FCAP_WINDOW_MAX);
    for (unsigned c = 0; c < CRM_FCAP_CATEGORIES; c++)
        if (r->capped[c] > 1 || r->counts[c] > 1 || r->requires_consent[c] > 1)
            return crm__fail(CRM_ERULE, "rules: category %u flags must be 0 or 1", c);
    if (r->prefer_preferred > 1 || r->week_sunday > 1)
        return crm__fail(CRM_ERULE, "rules: prefer_preferred and week_sunday must be 0 or 1");
    return CRM_OK;
}

crm_status fcap__set_rules(crm_fcap *f, const crm_fcap_rules *rules)
{
    crm_status s = crm__check_version(rules->version, CRM_FCAP_RULES_VERSION, "crm_fcap_rules");
    if (s || (s = check_rules(rules)))
        return s;
    void *caps = NULL, *quiet = NULL;
    if ((s = crm__alloc_array(&caps, rules->n_caps + 1, sizeof(crm_fcap_cap), 0, "fcap caps")))
        return s;
    if ((s = crm__alloc_array(&quiet, rules->n_quiet + 1, sizeof(crm_fcap_quiet), 0, "fcap quiet"))) {
        crm__free(caps);
        return s;
    }
    if (rules->n_caps)
        memcpy(caps, rules->caps, rules->n_caps * sizeof(crm_fcap_cap));
    if (rules->n_quiet)
        memcpy(quiet, rules->quiet, rules->n_quiet * sizeof(crm_fcap_quiet));
    crm__free(f->caps);
    crm__free(f->quiet);
    f->r = *rules;
    f->caps = caps;
    f->quiet = quiet;
    f->r.caps = caps;
    f->r.quiet = quiet;
    int64_t h = rules->sim_max ? rules->sim_gap : 0;
    for (size_t i = 0; i < rules->n_caps; i++) {
        int64_t w = f->caps[i].window == CRM_FCAP_WINDOW_MONTH ? MONTH_SECONDS : f->caps[i].window;
        if (w > h)
            h = w;
    }
    f->horizon = h;
    return CRM_OK;
}

/* ---- engine ----------------------------------------------------------------- */

crm_status fcap__alloc(crm_fcap **out)
{
    crm_fcap *f = crm__malloc(sizeof *f);
    if (!f)
        return crm__fail(CRM_ENOMEM, "crm_fcap: out of memory");
    memset(f, 0, sizeof *f);
    f->logfd = -1;
    crm_status s = fcap__state_init(f);
    if (s) {
        crm_fcap_free(f);
        return s;
    }
    *out = f;
    return CRM_OK;
}

CRM_API crm_status crm_fcap_new(crm_fcap **out, const crm_fcap_rules *rules)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_fcap_new: out is NULL");
    *out = NULL;
    if (!rules)
        return crm__fail(CRM_EINVAL, "crm_fcap_new: rules is NULL");
    crm_fcap *f;
    crm_status s = fcap__alloc(&f);
    if (s)
        return s;
    if ((s = fcap__set_rules(f, rules))) {
        crm_fcap_free(f);
        return s;
    }
    *out = f;
    return CRM_OK;
}

CRM_API void crm_fcap_free(crm_fcap *f)
{
    if (!f)
        return;
    if (f->logfd >= 0)
        close(f->logfd);
    fcap__state_free(f);
    crm__free(f->caps);
    crm__free(f->quiet);
    crm__free(f->user);
    crm__free(f);
}

CRM_API int64_t crm_fcap_horizon(const crm_fcap *f)
{
    return f ? f->horizon : 0;
}

CRM_API size_t crm_fcap_customers(const crm_fcap *f)
{
    return f ? f->ncust : 0;
}

CRM_API size_t crm_fcap_events(const crm_fcap *f)
{
    return f ? f->nevents : 0;
}

CRM_API uint64_t crm_fcap_sequence(const crm_fcap *f)
{
    return f ? f->seq : 0;
}

CRM_API size_t crm_fcap_memory(const crm_fcap *f)
{
    if (!f)
        return 0;
    return sizeof *f + (f->r.n_caps + 1) * sizeof(crm_fcap_cap) +
           (f->r.n_quiet + 1) * sizeof(crm_fcap_quiet) + f->userlen + fcap__state_memory(f);
}

CRM_API crm_status crm_fcap_set_userdata(crm_fcap *f, const void *data, size_t len)
{
    if (!f || (!data && len))
        return crm__fail(CRM_EINVAL, "crm_fcap_set_userdata: NULL argument");
    uint8_t *p = NULL;
    if (len) {
        p = crm__malloc(len);
        if (!p)
            return crm__fail(CRM_ENOMEM, "crm_fcap_set_userdata: out of memory (%zu bytes)", len);
        memcpy(p, data, len);
    }
    if (f->logfd >= 0) {
        crm__wbuf w;
        crm__wbuf_init(&w);
        fcap__log_begin(f, &w, FLOG_USER);
        crm__wbuf_u64(&w, len);
        crm__wbuf_put(&w, data, len);
        crm_status s = fcap__log_write(f, &w);
        crm__wbuf_free(&w);
        if (s) {
            crm__free(p);
            return s;
        }
    }
    crm__free(f->user);
    f->user = p;
    f->userlen = len;
    f->seq++;
    return CRM_OK;
}

CRM_API const void *crm_fcap_userdata(const crm_fcap *f, size_t *len)
{
    if (len)
        *len = f ? f->userlen : 0;
    return f ? f->user : NULL;
}

static crm_status check_event(const crm_fcap *f, const crm_fcap_event *e, size_t i, size_t n_tags)
{
    if (e->customer_id > CRM_FCAP_ID_MAX || e->campaign_id > CRM_FCAP_ID_MAX ||
        (e->cand_id > CRM_FCAP_ID_MAX && e->cand_id != CRM_FCAP_NO_CAND))
        return crm__fail(CRM_EDATA, "events[%zu]: customer, campaign or cand id above 2^63-1", i);
    if (e->t < 0 || e->t > CRM_FCAP_T_MAX)
        return crm__fail(CRM_EDATA, "events[%zu].t = %lld is outside 0..%lld", i,
                         (long long)e->t, (long long)CRM_FCAP_T_MAX);
    if (e->channel >= f->r.n_channels)
        return crm__fail(CRM_EDATA, "events[%zu].channel = %u is not a channel (0..%u)", i,
                         e->channel, f->r.n_channels - 1);
    if (e->category >= CRM_FCAP_CATEGORIES)
        return crm__fail(CRM_EDATA, "events[%zu].category = %u is not a category (0..3)", i,
                         e->category);
    if (e->counts < -1 || e->counts > 1)
        return crm__fail(CRM_EDATA, "events[%zu].counts = %d is not -1, 0 or 1", i, e->counts);
    if (e->tag_n > n_tags || e->tag_off > n_tags - e->tag_n)
        return crm__fail(CRM_EDATA, "events[%zu]: tags %u..%u outside the %zu tags given", i,
                         e->tag_off, e->tag_off + e->tag_n, n_tags);
    return CRM_OK;
}

CRM_API crm_status crm_fcap_add_history(crm_fcap *f, const crm_fcap_event *events, size_t n,
                                        const uint32_t *tags, size_t n_tags)
{
    if (!f || (!events && n) || (!tags && n_tags))
        return crm__fail(CRM_EINVAL, "crm_fcap_add_history: NULL argument");
    if (n == 0)
        return CRM_OK;
    for (size_t i = 0; i < n; i++) {
        crm_status s = check_event(f, &events[i], i, n_tags);
        if (s)
            return s;
    }
    fnew *v;
    crm_status s = crm__alloc_array((void **)&v, n, sizeof *v, 0, "fcap history");
    if (s)
        return s;
    crm__wbuf w;
    crm__wbuf_init(&w);
    bool logging = f->logfd >= 0;
    if (logging) {
        fcap__log_begin(f, &w, FLOG_HISTORY);
        crm__wbuf_u64(&w, n);
    }
    for (size_t i = 0; i < n; i++) {
        const crm_fcap_event *e = &events[i];
        bool counts = e->counts < 0 ? f->r.counts[e->category] : e->counts == 1;
        v[i] = (fnew){e->customer_id, e->t, e->campaign_id, e->cand_id,
                      n_tags ? tags + e->tag_off : NULL, e->tag_n, e->channel, e->category,
                      counts ? FEV_COUNTS : 0};
        if (logging)
            fcap__put_event(&w, &v[i]);
    }
    s = fcap__commit(f, v, n, logging ? &w : NULL);
    crm__wbuf_free(&w);
    crm__free(v);
    return s;
}

CRM_API crm_status crm_fcap_prune(crm_fcap *f, int64_t now)
{
    if (!f)
        return crm__fail(CRM_EINVAL, "crm_fcap_prune: engine is NULL");
    if (now < f->floor || now > CRM_FCAP_T_MAX)
        return crm__fail(CRM_EINVAL, "crm_fcap_prune: now = %lld is outside %lld..%lld",
                         (long long)now, (long long)f->floor, (long long)CRM_FCAP_T_MAX);
    crm__wbuf w;
    crm__wbuf_init(&w);
    if (f->logfd >= 0) {
        fcap__log_begin(f, &w, FLOG_PRUNE);
        crm__wbuf_i64(&w, now);
    }
    crm_status s = fcap__prune(f, now, f->logfd >= 0 ? &w : NULL);
    crm__wbuf_free(&w);
    return s;
}

/* ---- checks ------------------------------------------------------------------- */

/* An event as the checks see it: stored (decoded), or sent earlier in this
 * call. */
typedef fnew sev;

/* Window bounds of every cap at one (t, UTC offset), computed once per
 * distinct pair a decide call meets (a small direct-mapped cache): e is in
 * cap i's window at t iff lo[i] < e <= t; calendar caps stop failing at
 * nxt[i], the start of the next period. */
#define WC_WAYS 8
#define WC_QMAX 8
typedef struct wcache {
    size_t ncap;
    int64_t kt[WC_WAYS], koff[WC_WAYS], sod[WC_WAYS]; /* sod: local second of day */
    /* the quiet intervals on at sod, in list order (nq -1: more than WC_QMAX) */
    int nq[WC_WAYS];
    uint16_t qon[WC_WAYS][WC_QMAX];
    /* per category: the channels some quiet interval on at sod covers */
    uint64_t qch[WC_WAYS][CRM_FCAP_CATEGORIES];
    int64_t *lo, *nxt; /* WC_WAYS x ncap */
} wcache;

typedef struct dctx {
    const crm_fcap *f;
    const crm_fcap_candidate *c;
    const uint32_t *ctags; /* candidate's tags, sorted unique */
    uint32_t nctags;
    /* the customer's events: fast path (v, at most FV_MAX events) or
     * decoded records (ev[0..nev)) */
    fview *v;
    const sev *ev;
    size_t nev;
    int64_t t, off, sod; /* decision time, UTC offset (s), local second of day */
    const uint16_t *qon; /* quiet intervals on at sod (nqon of them; -1: not known) */
    int nqon;
    const uint64_t *qch; /* per category: channels a quiet interval on at sod covers */
    /* the candidate's channels: allowed by consent (every channel when its
     * category needs none), quiet now (qch of its category) */
    uint64_t cons, cq;
    bool nocap; /* no frequency checks (category not capped, or override) */
    const int64_t *lo, *nxt; /* window bounds per cap at (t, off) */
    int64_t *tmp; /* scratch, >= nev (and >= FV_MAX) */
    bool anybatch; /* some event is a send of this batch (else OUTRANKED cannot be) */
    uint64_t le;    /* fast path: counted events with e <= t */
    uint64_t batch; /* fast path: sends of this batch (FEV_SENT at t) */
    /* fast path: event masks e > lo for the window bounds met so far */
    unsigned nw;
    int64_t wlo[4];
    uint64_t wm[4];
    /* per cap, for the current candidate: outcome of a cap that does not
     * depend on the channel tried (-2 it does, -1 not known yet, 0 passes or
     * does not apply, 1 CAP, 2 OUTRANKED) and its retry_at: capc0[i] at the
     * start of each candidate, capc[i] once capg[i] == gen */
    const int8_t *capc0;
    const uint8_t *cplain; /* per cap: global, no channel or category filter, limit > 0 */
    int8_t *capc;
    uint32_t *capg;
    uint32_t gen;
    int64_t *capr;
} dctx;

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static bool has_tag(const uint32_t *v, uint32_t n, uint32_t tag)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == tag)
            return true;
    return false;
}

static int64_t period_anchor(const crm_fcap *f)
{
    return f->r.week_sunday ? 259200 : 345600;
}

static int64_t period_of(const crm_fcap *f, const crm_fcap_cap *k, int64_t off, int64_t ts)
{
    int64_t o = k->tz_utc ? 0 : off;
    if (k->window == CRM_FCAP_WINDOW_MONTH) {
        int32_t y, m, d;
        crm__civil_from_days(crm__day_of(ts + o), &y, &m, &d);
        return 12 * (int64_t)y + m - 1;
    }
    return floordiv(ts + o - period_anchor(f), k->window);
}

static int64_t period_start(const crm_fcap *f, const crm_fcap_cap *k, int64_t off, int64_t p)
{
    int64_t o = k->tz_utc ? 0 : off;
    if (k->window == CRM_FCAP_WINDOW_MONTH) {
        int64_t y = floordiv(p, 12);
        int32_t m = (int32_t)(p - 12 * y) + 1;
        return crm__days_from_civil((int32_t)y, m, 1) * 86400 - o;
    }
    return p * k->window + period_anchor(f) - o;
}

static crm_status wcache_init(wcache *w, size_t ncap)
{
    memset(w, 0, sizeof *w);
    w->ncap = ncap;
    for (unsigned i = 0; i < WC_WAYS; i++)
        w->kt[i] = -1; /* no time is negative */
    crm_status s = crm__alloc_array((void **)&w->lo, WC_WAYS * (ncap + 1), sizeof *w->lo, 0,
                                    "fcap caps");
    if (!s)
        s = crm__alloc_array((void **)&w->nxt, WC_WAYS * (ncap + 1), sizeof *w->nxt, 0,
                             "fcap caps");
    return s;
}

static void wcache_free(wcache *w)
{
    crm__free(w->lo);
    crm__free(w->nxt);
}

/* Window bounds at (t, off) into x->lo / x->nxt. */
static void wcache_get(wcache *w, const crm_fcap *f, dctx *x)
{
    int64_t t = x->t, off = x->off;
    unsigned h = (unsigned)(((uint64_t)t * 0x9E3779B1u + (uint64_t)off) >> 7) % WC_WAYS;
    int64_t *lo = w->lo + h * (w->ncap + 1), *nxt = w->nxt + h * (w->ncap + 1);
    x->lo = lo;
    x->nxt = nxt;
    x->qon = w->qon[h];
    x->qch = w->qch[h];
    if (w->kt[h] == t && w->koff[h] == off) {
        x->sod = w->sod[h];
        x->nqon = w->nq[h];
        return;
    }
    w->kt[h] = t;
    w->koff[h] = off;
    int64_t sod = x->sod = w->sod[h] = t + off - floordiv(t + off, 86400) * 86400;
    int nq = 0;
    memset(w->qch[h], 0, sizeof w->qch[h]);
    for (size_t i = 0; i < f->r.n_quiet; i++) {
        const crm_fcap_quiet *q = &f->quiet[i];
        bool on = q->start < q->end ? (q->start <= sod && sod < q->end)
                  : q->start > q->end ? (sod >= q->start || sod < q->end)
                                      : false;
        if (!on)
            continue;
        for (unsigned k = 0; k < CRM_FCAP_CATEGORIES; k++)
            if ((q->categories >> k) & 1)
                w->qch[h][k] |= q->channels;
        if (nq == WC_QMAX)
            nq = -1;
        else if (nq >= 0)
            w->qon[h][nq++] = (uint16_t)i;
    }
    x->nqon = w->nq[h] = nq;
    for (size_t i = 0; i < w->ncap; i++) {
        const crm_fcap_cap *k = &f->caps[i];
        /* the window as lo < e <= t: a calendar period is an interval of
         * time (period_of is monotone), so e is in t's period iff e >= its
         * start */
        if (k->sliding) {
            lo[i] = t - k->window;
            nxt[i] = CRM_FCAP_NEVER;
        } else if (k->limit > 0) {
            int64_t p = period_of(f, k, off, t);
            lo[i] = period_start(f, k, off, p) - 1;
            nxt[i] = period_start(f, k, off, p + 1);
        }
    }
}

static bool is_batch(const dctx *x, const sev *e)
{
    return (e->flags & FEV_SENT) && e->t == x->t;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t p = *(const int64_t *)a, q = *(const int64_t *)b;
    return (p > q) - (p < q);
}

static void sort_i64(int64_t *v, size_t n)
{
    size_t k = 1;
    while (k < n && v[k - 1] <= v[k]) /* usually sorted already: events ascend in time */
        k++;
    if (k >= n)
        return;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            int64_t x = v[i];
            size_t j = i;
            for (; j > 0 && v[j - 1] > x; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
    } else {
        qsort(v, n, sizeof *v, cmp_i64);
    }
}

/* Population count without the popcnt instruction (not in baseline
 * x86-64; the builtin becomes a library call). */
static inline unsigned pop64(uint64_t m)
{
    m = m - ((m >> 1) & UINT64_C(0x5555555555555555));
    m = (m & UINT64_C(0x3333333333333333)) + ((m >> 2) & UINT64_C(0x3333333333333333));
    m = (m + (m >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
    return (unsigned)((m * UINT64_C(0x0101010101010101)) >> 56);
}

/* Fast path: mask of the events with e > lo (memoised per candidate). */
static inline __attribute__((always_inline)) uint64_t win_mask(dctx *x, int64_t lo)
{
    for (unsigned i = 0; i < x->nw; i++)
        if (x->wlo[i] == lo)
            return x->wm[i];
    const fview *v = x->v;
    uint64_t m = 0;
    if (v->ordered) { /* a suffix of the events */
        size_t e = 0;
        while (e < v->n && v->t[e] <= lo)
            e++;
        m = e >= 64 ? 0 : ~UINT64_C(0) << e;
    } else {
        for (size_t e = 0; e < v->n; e++)
            m |= (uint64_t)(v->t[e] > lo) << e;
    }
    if (x->nw < 4) {
        x->wlo[x->nw] = lo;
        x->wm[x->nw++] = m;
    }
    return m;
}

static bool view_has_tag(const fview *v, size_t i, uint32_t tag)
{
    if (i < v->nstored)
        return fcap__view_stored_tag(v, i, tag);
    return has_tag(v->stag + v->tagat[i], v->ntag[i], tag);
}

/* The j-th smallest (0-based) time of the events of mask m (j < its
 * count). */
static inline __attribute__((always_inline)) int64_t mask_time_at(const fview *v, uint64_t m, size_t j,
                                                                   int64_t *tmp)
{
    if (v->ordered) { /* events in time order: the j-th event of m */
        for (; j; j--)
            m &= m - 1;
        return v->t[__builtin_ctzll(m)];
    }
    size_t n = 0;
    for (; m; m &= m - 1)
        tmp[n++] = v->t[__builtin_ctzll(m)];
    sort_i64(tmp, n);
    return tmp[j];
}

/* Fast path, a global cap without filters (limit > 0): does it fail? As
 * cap_fails_one. */
static inline __attribute__((always_inline)) bool plain_fails(dctx *x, size_t ki, bool excl,
                                                              int64_t *retry)
{
    const crm_fcap_cap *k = &x->f->caps[ki];
    uint64_t m = x->le & win_mask(x, x->lo[ki]) & (excl ? ~x->batch : ~UINT64_C(0));
    size_t n = pop64(m);
    if ((int64_t)n + 1 <= k->limit)
        return false;
    if (retry)
        *retry = k->sliding ? mask_time_at(x->v, m, n - (size_t)k->limit, x->tmp) + k->window
                            : x->nxt[ki];
    return true;
}

/* Does cap ki fail for channel ch (tag: the tag for tag scope)? excl:
 * ignore this batch's sends. retry (may be NULL) receives when it stops
 * failing. */
static bool cap_fails_one(dctx *x, size_t ki, unsigned ch, uint32_t tag, bool excl,
                          int64_t *retry)
{
    const crm_fcap_cap *k = &x->f->caps[ki];
    if (k->limit == 0) {
        if (retry)
            *retry = CRM_FCAP_NEVER;
        return true;
    }
    const crm_fcap_candidate *c = x->c;
    int64_t lo = x->lo[ki];
    uint64_t chm = k->channels;
    unsigned catm = k->categories;
    bool any = k->key == CRM_FCAP_KEY_ANY;
    uint64_t camp = 0;
    bool by_camp = false, by_tag = false;
    switch (k->scope) {
    case CRM_FCAP_SCOPE_CHANNEL:
        chm &= UINT64_C(1) << (any ? ch : (unsigned)k->key);
        break;
    case CRM_FCAP_SCOPE_CAMPAIGN:
        by_camp = true;
        camp = any ? c->campaign_id : (uint64_t)k->key;
        break;
    case CRM_FCAP_SCOPE_CATEGORY:
        catm &= 1u << (any ? c->category : (unsigned)k->key);
        break;
    case CRM_FCAP_SCOPE_TAG:
        by_tag = true;
        break;
    default:
        break;
    }
    size_t n = 0;
    if (x->v) {
        fview *v = x->v;
        uint64_t m = x->le & win_mask(x, lo), all = channel_mask(x->f->r.n_channels);
        if ((by_camp || by_tag) && !v->hasc)
            fcap__view_cold(v);
        if (excl)
            m &= ~x->batch;
        if ((chm & all) != all || (catm & 15) != 15 || by_camp || by_tag)
            for (uint64_t r = m; r; r &= r - 1) {
                unsigned i = (unsigned)__builtin_ctzll(r), mt = v->meta[i];
                if (!((chm >> (mt & 63)) & 1) || !((catm >> (mt >> 6)) & 1) ||
                    (by_camp && v->camp[i] != camp) || (by_tag && !view_has_tag(v, i, tag)))
                    m &= ~(UINT64_C(1) << i);
            }
        n = (size_t)pop64(m);
        if ((int64_t)n + 1 <= k->limit)
            return false;
        if (retry)
            *retry = k->sliding ? mask_time_at(v, m, n - (size_t)k->limit, x->tmp) + k->window
                                : x->nxt[ki];
        return true;
    }
    const sev *ev = x->ev;
    for (size_t i = 0; i < x->nev; i++) {
        const sev *e = &ev[i];
        if (!(e->flags & FEV_COUNTS) || e->t <= lo || e->t > x->t ||
            !((chm >> e->channel) & 1) || !((catm >> e->cat) & 1))
            continue;
        if ((by_camp && e->campaign != camp) || (by_tag && !has_tag(e->tags, e->ntags, tag)) ||
            (excl && is_batch(x, e)))
            continue;
        if (retry && k->sliding)
            x->tmp[n] = e->t;
        n++;
    }
    if ((int64_t)n + 1 <= k->limit)
        return false;
    if (retry) {
        if (k->sliding) {
            sort_i64(x->tmp, n);
            *retry = x->tmp[n - (size_t)k->limit] + k->window;
        } else {
            *retry = x->nxt[ki];
        }
    }
    return true;
}

static bool cap_applies(const dctx *x, const crm_fcap_cap *k, unsigned ch)
{
    const crm_fcap_candidate *c = x->c;
    if (!((k->channels >> ch) & 1) || !((k->categories >> c->category) & 1))
        return false;
    if (k->key == CRM_FCAP_KEY_ANY)
        return k->scope != CRM_FCAP_SCOPE_TAG || x->nctags > 0;
    switch (k->scope) {
    case CRM_FCAP_SCOPE_CHANNEL:
        return (int64_t)ch == k->key;
    case CRM_FCAP_SCOPE_CAMPAIGN:
        return c->campaign_id == (uint64_t)k->key;
    case CRM_FCAP_SCOPE_CATEGORY:
        return (int64_t)c->category == k->key;
    case CRM_FCAP_SCOPE_TAG:
        return has_tag(x->ctags, x->nctags, (uint32_t)k->key);
    default:
        return true;
    }
}

static bool cap_fails(dctx *x, size_t ki, unsigned ch, bool excl, int64_t *retry)
{
    const crm_fcap_cap *k = &x->f->caps[ki];
    if (k->scope == CRM_FCAP_SCOPE_TAG && k->key == CRM_FCAP_KEY_ANY) {
        for (uint32_t i = 0; i < x->nctags; i++)
            if (cap_fails_one(x, ki, ch, x->ctags[i], excl, retry))
                return true;
        return false;
    }
    return cap_fails_one(x, ki, ch, (uint32_t)k->key, excl, retry);
}

static bool sim_fails(dctx *x, unsigned ch, bool excl, int64_t *retry)
{
    const crm_fcap *f = x->f;
    int64_t last[CRM_FCAP_MAX_CHANNELS];
    uint64_t in = 0;
    if (x->v) {
        const fview *v = x->v;
        uint64_t m = x->le & win_mask(x, x->t - f->r.sim_gap);
        if (excl)
            m &= ~x->batch;
        for (uint64_t r = m; r; r &= r - 1)
            in |= UINT64_C(1) << (v->meta[__builtin_ctzll(r)] & 63);
        if (((in >> ch) & 1) || (unsigned)pop64(in) < f->r.sim_max)
            return false;
        uint64_t seen = 0;
        for (uint64_t r = m; r; r &= r - 1) {
            unsigned i = (unsigned)__builtin_ctzll(r), c = v->meta[i] & 63;
            if (!((seen >> c) & 1) || v->t[i] > last[c])
                last[c] = v->t[i];
            seen |= UINT64_C(1) << c;
        }
    } else {
        for (size_t i = 0; i < x->nev; i++) {
            const sev *e = &x->ev[i];
            if (!(e->flags & FEV_COUNTS) || e->t > x->t || e->t <= x->t - f->r.sim_gap ||
                (excl && is_batch(x, e)))
                continue;
            uint64_t bit = UINT64_C(1) << e->channel;
            if (!(in & bit) || e->t > last[e->channel])
                last[e->channel] = e->t;
            in |= bit;
        }
        if ((in >> ch) & 1)
            return false;
    }
    unsigned s = (unsigned)pop64(in);
    if (s < f->r.sim_max)
        return false;
    if (retry) {
        int64_t v[CRM_FCAP_MAX_CHANNELS];
        size_t n = 0;
        for (unsigned c = 0; c < CRM_FCAP_MAX_CHANNELS; c++)
            if ((in >> c) & 1)
                v[n++] = last[c];
        sort_i64(v, n);
        *retry = v[s - f->r.sim_max] + f->r.sim_gap;
    }
    return true;
}

/* One (candidate, channel) check in spec order; returns the reason. */
static uint8_t check_channel(dctx *x, unsigned ch, bool already, int64_t *retry, uint16_t *arg)
{
    const crm_fcap *f = x->f;
    const crm_fcap_candidate *c = x->c;
    *retry = CRM_FCAP_NEVER;
    *arg = 0;
    if (already)
        return CRM_FCAP_ALREADY_SENT;
    if (!((x->cons >> ch) & 1))
        return CRM_FCAP_NO_CONSENT;
    int64_t sod = x->sod;
    /* (no quiet interval on now covers ch: none to look for) */
    size_t nq = !((x->cq >> ch) & 1) ? 0 : x->nqon >= 0 ? (size_t)x->nqon : f->r.n_quiet;
    for (size_t j = 0; j < nq; j++) {
        size_t i = x->nqon >= 0 ? x->qon[j] : j;
        const crm_fcap_quiet *q = &f->quiet[i];
        if (!((q->channels >> ch) & 1) || !((q->categories >> c->category) & 1))
            continue;
        bool on = q->start < q->end ? (q->start <= sod && sod < q->end)
                  : q->start > q->end ? (sod >= q->start || sod < q->end)
                                      : false;
        if (!on)
            continue;
        *arg = (uint16_t)i;
        if (!(q->start == 0 && q->end == 86400))
            *retry = x->t + (sod < q->end ? q->end - sod : 86400 - sod + q->end);
        return CRM_FCAP_QUIET_HOURS;
    }
    if (x->nocap)
        return CRM_FCAP_OK;
    for (size_t i = 0; i < f->r.n_caps; i++) {
        int8_t r0 = x->capg[i] == x->gen ? x->capc[i] : x->capc0[i], r = r0;
        if (r == 0)
            continue;
        if (r > 0) { /* known from an earlier channel of this candidate */
            *retry = x->capr[i];
        } else {
            r = 0;
            if (x->v && x->cplain[i]) {
                if (plain_fails(x, i, false, retry))
                    r = !x->anybatch || plain_fails(x, i, true, NULL) ? 1 : 2;
            } else if ((x->cplain[i] || cap_applies(x, &f->caps[i], ch)) &&
                       cap_fails(x, i, ch, false, retry)) {
                r = !x->anybatch || cap_fails(x, i, ch, true, NULL) ? 1 : 2;
            }
            if (r0 == -1) {
                x->capc[i] = r;
                x->capg[i] = x->gen;
                x->capr[i] = *retry;
            }
            if (!r)
                continue;
        }
        *arg = (uint16_t)i;
        return r == 1 ? CRM_FCAP_CAP : CRM_FCAP_OUTRANKED_CAP;
    }
    if (f->r.sim_max && sim_fails(x, ch, false, retry))
        return !x->anybatch || sim_fails(x, ch, true, NULL) ? CRM_FCAP_SIMULTANEOUS
                                            : CRM_FCAP_OUTRANKED_SIMULTANEOUS;
    return CRM_FCAP_OK;
}

/* ---- decide ------------------------------------------------------------------- */

#ifndef PF_ROWS
#define PF_ROWS 48 /* candidates ahead: their input and output rows (input order) */
#endif

/* Prefetch the lines of an 88-byte row (write: for writing): it spans
 * two or three lines, its bytes 0, 64 and 87 are in each of them; row
 * starts alone miss 3 lines in 11, which were left to the streamer. */
static inline __attribute__((always_inline)) void pf_row(const void *row, bool write)
{
    _Static_assert(sizeof(crm_fcap_candidate) == 88 && sizeof(crm_fcap_decision) == 88,
                   "88-byte rows");
    const char *p = row;
    if (write) {
        __builtin_prefetch(p, 1);
        __builtin_prefetch(p + 64, 1);
        __builtin_prefetch(p + 87, 1);
    } else {
        crm__prefetch(p);
        crm__prefetch(p + 64);
        crm__prefetch(p + 87);
    }
}

/* (decide keeps the smallest retry_at as an unsigned minimum) */
_Static_assert(CRM_FCAP_NEVER == -1, "CRM_FCAP_NEVER is the largest unsigned retry");

static crm_status check_candidate(const crm_fcap *f, const crm_fcap_candidate *c, size_t i,
                                  size_t n_tags)
{
#define BAD(...) crm__fail(CRM_EDATA, __VA_ARGS__)
    unsigned long long id = (unsigned long long)c->cand_id;
    if (c->cand_id > CRM_FCAP_ID_MAX || c->customer_id > CRM_FCAP_ID_MAX ||
        c->campaign_id > CRM_FCAP_ID_MAX)
        return BAD("candidates[%zu] (cand_id %llu): cand, customer or campaign id above 2^63-1",
                   i, id);
    if (c->t < f->floor || c->t > CRM_FCAP_T_MAX)
        return BAD("candidates[%zu] (cand_id %llu): t = %lld is outside %lld..%lld%s", i, id,
                   (long long)c->t, (long long)f->floor, (long long)CRM_FCAP_T_MAX,
                   c->t < f->floor && c->t >= 0 ? " (before the prune time)" : "");
    if (!isfinite(c->value))
        return BAD("candidates[%zu] (cand_id %llu): value is not finite", i, id);
    if (c->category >= CRM_FCAP_CATEGORIES || c->override > 1)
        return BAD("candidates[%zu] (cand_id %llu): category %u / override %u out of range", i,
                   id, c->category, c->override);
    if (c->utc_offset_min < -720 || c->utc_offset_min > 840)
        return BAD("candidates[%zu] (cand_id %llu): utc_offset_min = %d is outside -720..840", i,
                   id, c->utc_offset_min);
    if (c->preferred < -1 || c->preferred >= (int32_t)f->r.n_channels)
        return BAD("candidates[%zu] (cand_id %llu): preferred channel %d is not a channel", i, id,
                   c->preferred);
    if (c->n_channels < 1 || c->n_channels > CRM_FCAP_MAX_TRIES)
        return BAD("candidates[%zu] (cand_id %llu): n_channels = %u is outside 1..%u", i, id,
                   c->n_channels, CRM_FCAP_MAX_TRIES);
    uint64_t seen = 0;
    for (unsigned j = 0; j < c->n_channels; j++) {
        unsigned ch = c->channels[j];
        if (ch >= f->r.n_channels)
            return BAD("candidates[%zu] (cand_id %llu): channels[%u] = %u is not a channel "
                       "(0..%u)", i, id, j, ch, f->r.n_channels - 1);
        if ((seen >> ch) & 1)
            return BAD("candidates[%zu] (cand_id %llu): channel %u repeated in the fallback "
                       "list", i, id, ch);
        seen |= UINT64_C(1) << ch;
    }
    if (c->tag_n > n_tags || c->tag_off > n_tags - c->tag_n)
        return BAD("candidates[%zu] (cand_id %llu): tags %u..%u outside the %zu tags given", i,
                   id, c->tag_off, c->tag_off + c->tag_n, n_tags);
    return CRM_OK;
#undef BAD
}

/* check_candidate's verdict for the common, valid row in few instructions
 * (range tests as unsigned comparisons); a row it refuses goes to
 * check_candidate, which names the problem. */
static inline __attribute__((always_inline)) bool cand_ok(const crm_fcap *f,
                                                          const crm_fcap_candidate *c,
                                                          size_t n_tags)
{
    uint64_t vbits;
    memcpy(&vbits, &c->value, sizeof vbits);
    uint32_t nch = f->r.n_channels;
    /* (category <= 3 and override <= 1: no bit beyond them) */
    if ((c->cand_id | c->customer_id | c->campaign_id) >> 63 ||
        (uint64_t)c->t - (uint64_t)f->floor > (uint64_t)(CRM_FCAP_T_MAX - f->floor) ||
        (vbits & UINT64_C(0x7FF0000000000000)) == UINT64_C(0x7FF0000000000000) ||
        (((unsigned)c->category | (unsigned)c->override << 8) & ~0x103u) ||
        (uint32_t)c->utc_offset_min + 720u > 1560u || (uint32_t)(c->preferred + 1) > nch ||
        (unsigned)c->n_channels - 1 >= CRM_FCAP_MAX_TRIES ||
        (uint64_t)c->tag_off + c->tag_n > n_tags)
        return false;
    unsigned n = c->n_channels, c0 = c->channels[0], c1 = c->channels[1];
    if (n <= 2) /* (the usual fallback lists) */
        return c0 < nch && (n == 1 || (c1 < nch && c1 != c0));
    uint64_t seen = 0;
    for (unsigned j = 0; j < n; j++) {
        unsigned ch = c->channels[j];
        uint64_t bit = UINT64_C(1) << (ch & 63);
        if (ch >= nch || (seen & bit))
            return false;
        seen |= bit;
    }
    return true;
}

/* What the validation pass learns about the rows. */
typedef struct vpass {
    bool sorted, csorted; /* customer ids ascend; cand ids ascend strictly */
    uint64_t cand_lo, cand_hi, cust_lo, cust_hi;
    uint32_t maxtags;
    size_t sumtags;
} vpass;

/* Validate cands[0..n) (the first bad row fails) into *v. */
static crm_status validate_rows(const crm_fcap *f, const crm_fcap_candidate *cands, size_t n,
                                size_t n_tags, vpass *v)
{
    bool sorted = true, csorted = true;
    uint64_t cand_lo = UINT64_MAX, cand_hi = 0, cust_lo = UINT64_MAX, cust_hi = 0;
    uint64_t prev_cust = 0, next_cand = 0; /* (cand_id + 1 of a valid row does not wrap) */
    uint32_t maxtags = 0;
    size_t sumtags = 0;
    for (size_t i = 0; i < n; i++) {
        const crm_fcap_candidate *c = &cands[i];
        if (i + PF_ROWS < n) /* (the streamer stops at 4 KiB pages) */
            pf_row(&cands[i + PF_ROWS], false);
        crm_status s;
        if (!cand_ok(f, c, n_tags) && (s = check_candidate(f, c, i, n_tags)))
            return s;
        cand_lo = c->cand_id < cand_lo ? c->cand_id : cand_lo;
        cand_hi = c->cand_id > cand_hi ? c->cand_id : cand_hi;
        cust_lo = c->customer_id < cust_lo ? c->customer_id : cust_lo;
        cust_hi = c->customer_id > cust_hi ? c->customer_id : cust_hi;
        maxtags = c->tag_n > maxtags ? c->tag_n : maxtags;
        sumtags += c->tag_n;
        sorted &= c->customer_id >= prev_cust;
        csorted &= c->cand_id >= next_cand;
        prev_cust = c->customer_id;
        next_cand = c->cand_id + 1;
    }
    *v = (vpass){sorted, csorted, cand_lo, cand_hi, cust_lo, cust_hi, maxtags, sumtags};
    return CRM_OK;
}

/* Ranking / grouping key of a candidate. */
typedef struct okey {
    uint64_t customer;
    int64_t t;
    int64_t priority;
    double value;
    uint64_t cand;
    size_t idx;
} okey;

#ifndef PF_CHUNK
#define PF_CHUNK 128 /* candidates whose customers are looked up at once */
#endif

/* Prefetch the table slots probed from home slot hm (a lookup probes ~3.4
 * slots: often into the next line) and the cand-id page of cand. */
static inline __attribute__((always_inline)) void pf_lookup(const crm_fcap *f, size_t hm,
                                                            uint64_t cand)
{
    crm__prefetch(&f->slot[hm]);
    crm__prefetch(&f->slot[hm + 3 < f->tcap ? hm + 3 : hm]);
    uint64_t key1 = (cand >> 6) + 1;
    if (key1 >= f->prange[0] && key1 <= f->prange[1])
        crm__prefetch(&f->page[fcap__page_home(f->pcap, key1)]);
}

/* Prefetch the block of customer row r (a block of 7 events spans two
 * cache lines). */
static inline __attribute__((always_inline)) void pf_block(const crm_fcap *f, size_t r)
{
    const uint8_t *b = fcap__blob_ptr(f, f->slot[r].pos);
    crm__prefetch(b);
    crm__prefetch(b + 64);
}

/* Rows (slot index, SIZE_MAX when absent) of the customers of the
 * candidates at positions lo .. hi - 1 (of ord when not NULL, else of
 * cands), with their table slots, cand pages and blocks prefetched. All
 * lookups of a chunk at once: their cache misses overlap, where one at a
 * time in the decide loop each waited behind that loop's work. */
/* Customer and cand id of candidate position i: of ord when not NULL,
 * else of cands (both in scope where used). */
#define CUST_AT(i) (ord ? ord[i].customer : cands[i].customer_id)
#define CAND_AT(i) (ord ? ord[i].cand : cands[i].cand_id)

static void lookup_chunk(const crm_fcap *f, const crm_fcap_candidate *cands, const okey *ord,
                         size_t lo, size_t hi, size_t *row)
{
    for (size_t i = lo; i < hi; i++) {
        row[i - lo] = fcap__home(f, CUST_AT(i));
        pf_lookup(f, row[i - lo], CAND_AT(i));
    }
    for (size_t i = lo; i < hi; i++) {
        size_t r = i > lo && CUST_AT(i) == CUST_AT(i - 1)
                       ? row[i - 1 - lo]
                       : fcap__find_at(f, CUST_AT(i), row[i - lo]);
        row[i - lo] = r;
        if (r != SIZE_MAX)
            pf_block(f, r);
    }
}

/* customer asc, t asc, priority desc, value desc, cand asc */
static int okey_cmp(const void *pa, const void *pb)
{
    const okey *a = pa, *b = pb;
    if (a->customer != b->customer)
        return a->customer < b->customer ? -1 : 1;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    if (a->value != b->value)
        return a->value > b->value ? -1 : 1;
    return (a->cand > b->cand) - (a->cand < b->cand);
}

static void okey_sort(okey *v, size_t n)
{
    if (n <= 12) {
        for (size_t i = 1; i < n; i++) {
            okey x = v[i];
            size_t j = i;
            for (; j > 0 && okey_cmp(&v[j - 1], &x) > 0; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
    } else {
        qsort(v, n, sizeof *v, okey_cmp);
    }
}


/* Are the cand ids (or customer ids) of c[0..n), all in lo..hi, distinct?
 * Settled with a bit set when the range is dense (below 32 n values):
 * *res = 1 distinct, 0 some id repeats, -1 not settled (range too wide). */
static crm_status dense_distinct(const crm_fcap_candidate *c, size_t n, bool cust, uint64_t lo,
                                 uint64_t hi, int *res)
{
    *res = -1;
    if (hi - lo >= (uint64_t)n * 32)
        return CRM_OK;
    uint64_t *bits;
    crm_status s = crm__alloc_array((void **)&bits, (size_t)((hi - lo) >> 6) + 1, sizeof *bits,
                                    1, "fcap candidates");
    if (s)
        return s;
    *res = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = (cust ? c[i].customer_id : c[i].cand_id) - lo, b = UINT64_C(1) << (v & 63);
        if (bits[v >> 6] & b) {
            *res = 0;
            break;
        }
        bits[v >> 6] |= b;
    }
    crm__free(bits);
    return CRM_OK;
}

CRM_API crm_status crm_fcap_decide(crm_fcap *f, const crm_fcap_candidate *cands, size_t n,
                                   const uint32_t *tags, size_t n_tags, crm_fcap_decision *out)
{
    if (!f || (!cands && n) || (!tags && n_tags) || (!out && n))
        return crm__fail(CRM_EINVAL, "crm_fcap_decide: NULL argument");
    if (n == 0)
        return CRM_OK;
    okey *ord = NULL;
    fcref *ids = NULL, *cids = NULL; /* (cand_id, index), (customer, index) */
    uint32_t *ctag = NULL, *stag = NULL; /* a candidate's / the sends' tags, sorted */
    int8_t *capc = NULL, *capc0 = NULL;
    uint32_t *capg = NULL;
    int64_t *capr = NULL;
    size_t nstag = 0;
    fscratch sc = {0};
    fstage st = {0};
    int64_t *tmp = NULL, ftmp[FV_MAX];
    fview fv;
    wcache wc = {0};
    size_t *sidx = NULL; /* candidate index of each send, in the order recorded (for the
                            log record: NULL when no log is attached) */
    uint64_t *scand = NULL; /* its cand id */
    okey *gk = NULL; /* ranking keys of one customer's candidates (input in groups) */
    fnew add[FV_MAX]; /* the sends of a customer on the fast path */
    size_t gkcap = 0;
    size_t cap_ev = 0, nsend = 0;
    crm__wbuf w;
    crm__wbuf_init(&w);
    /* fresh memory is slow to touch (page faults): per-candidate buffers
     * are touched only as far as used */
    crm_status s = crm__alloc_array((void **)&capc, 3 * (f->r.n_caps + 1), 1, 0, "fcap caps");
    if (!s)
        s = crm__alloc_array((void **)&capr, f->r.n_caps + 1, sizeof *capr, 0, "fcap caps");
    if (!s)
        s = crm__alloc_array((void **)&capg, f->r.n_caps + 1, sizeof *capg, 1, "fcap caps");
    if (!s && f->logfd >= 0)
        s = crm__alloc_array((void **)&sidx, n, sizeof *sidx, 0, "fcap sends");
    if (!s)
        s = crm__alloc_array((void **)&scand, n, sizeof *scand, 0, "fcap sends");
    if (s)
        goto done;
    crm__advise_huge(sidx, n * sizeof *sidx);
    crm__advise_huge(scand, n * sizeof *scand);
    /* one pass over the candidates: validate, see whether they come grouped
     * by customer */
    vpass v;
    if ((s = validate_rows(f, cands, n, n_tags, &v)))
        goto done;
    bool sorted = v.sorted;
    uint32_t maxtags = v.maxtags;
    size_t sumtags = v.sumtags;
    if ((s = crm__alloc_array((void **)&ctag, (size_t)maxtags + 1, sizeof *ctag, 0,
                              "fcap tags")) ||
        (s = crm__alloc_array((void **)&stag, sumtags + 1, sizeof *stag, 0, "fcap tags")))
        goto done;
    /* caps whose outcome is the same on every channel are checked once per
     * candidate */
    capc0 = capc + f->r.n_caps + 1;
    uint8_t *cplain = (uint8_t *)capc0 + f->r.n_caps + 1;
    for (size_t i = 0; i < f->r.n_caps; i++) {
        const crm_fcap_cap *k = &f->caps[i];
        uint64_t all = channel_mask(f->r.n_channels);
        capc0[i] = (int8_t)(k->scope != CRM_FCAP_SCOPE_CHANNEL && (k->channels & all) == all ? -1
                                                                                          : -2);
        cplain[i] = k->scope == CRM_FCAP_SCOPE_GLOBAL && (k->channels & all) == all &&
                    (k->categories & 15) == 15 && k->limit > 0;
    }
    /* unique cand ids (strictly ascending ones are; dense ones by a bit
     * set; else, or to name a repeat, by sorting) */
    int res = 1;
    if (!v.csorted && (s = dense_distinct(cands, n, false, v.cand_lo, v.cand_hi, &res)))
        goto done;
    if (res != 1) {
        if ((s = crm__alloc_array((void **)&ids, n, sizeof *ids, 0, "fcap candidates")))
            goto done;
        crm__advise_huge(ids, n * sizeof *ids);
        for (size_t i = 0; i < n; i++)
            ids[i] = (fcref){cands[i].cand_id, i};
        if ((s = fcap__sort_pairs(ids, n)))
            goto done;
        for (size_t i = 1; i < n; i++)
            if (ids[i].id == ids[i - 1].id) {
                size_t a = ids[i - 1].pos < ids[i].pos ? ids[i - 1].pos : ids[i].pos;
                size_t b = ids[i - 1].pos < ids[i].pos ? ids[i].pos : ids[i - 1].pos;
                s = crm__fail(CRM_EDATA, "candidates[%zu] (cand_id %llu): cand_id already used "
                              "by candidates[%zu]", b, (unsigned long long)ids[i].id, a);
                goto done;
            }
        crm__free(ids);
        ids = NULL;
    }
    /* group by customer: the candidates of a customer are contiguous in
     * input order (`sorted`: sorted by customer, or every customer has one
     * candidate -- the usual batch, known at once for dense customer ids),
     * else (customer, index) pairs are sorted into ord; then each group is
     * ranked */
    if (!sorted && (s = dense_distinct(cands, n, true, v.cust_lo, v.cust_hi, &res)))
        goto done;
    /* input in random customer order, decided in input order: customers
     * looked up a chunk at a time (in customer order their table slots and
     * blocks are sequential: looked up one group ahead of the other) */
    bool chunked = !sorted && res == 1;
    if (chunked)
        sorted = true;
    if (!sorted) {
        if ((s = crm__alloc_array((void **)&cids, n, sizeof *cids, 0, "fcap candidates")) ||
            (s = crm__alloc_array((void **)&ord, n, sizeof *ord, 0, "fcap candidates")))
            goto done;
        crm__advise_huge(cids, n * sizeof *cids);
        crm__advise_huge(ord, n * sizeof *ord);
        for (size_t i = 0; i < n; i++)
            cids[i] = (fcref){cands[i].customer_id, i};
        if ((s = fcap__sort_pairs(cids, n)))
            goto done;
        for (size_t i = 0; i < n; i++) {
            if (i + 16 < n) { /* random order: candidates are far apart */
                crm__prefetch(&cands[cids[i + 16].pos]);
                crm__prefetch((const char *)&cands[cids[i + 16].pos] + 47);
            }
            const crm_fcap_candidate *c = &cands[cids[i].pos];
            ord[i] = (okey){c->customer_id, c->t, c->priority, c->value, c->cand_id,
                            cids[i].pos};
        }
    }
    size_t ahead_at[8], ahead_row[8]; /* rows looked up PF_BLOB groups ahead */
    size_t home_at[32], home_of[32];  /* home slots computed PF_SLOT groups ahead */
    for (unsigned i = 0; i < 32; i++)
        home_at[i] = SIZE_MAX;
    fcap__view_decode_fn vdec = fcap__view_decoder();
    int64_t wc_t = -1, wc_off = 0; /* (t, offset) of x's window bounds (-1: none) */
    dctx x = {.f = f, .capc0 = capc0, .cplain = cplain, .capc = capc, .capg = capg, .capr = capr};
    /* per category: every channel consented (no consent needed), no
     * frequency checks */
    uint64_t anycons[CRM_FCAP_CATEGORIES];
    uint8_t nocapc[CRM_FCAP_CATEGORIES];
    for (unsigned k = 0; k < CRM_FCAP_CATEGORIES; k++) {
        anycons[k] = f->r.requires_consent[k] ? 0 : ~UINT64_C(0);
        nocapc[k] = !f->r.capped[k];
    }
    crm_fcap_decision dtmpl; /* a decision before any channel is tried */
    memset(&dtmpl, 0, sizeof dtmpl);
    dtmpl.channel = CRM_FCAP_NO_CHANNEL;
    dtmpl.retry_at = CRM_FCAP_NEVER;
    memset(dtmpl.detail, CRM_FCAP_NOT_TRIED, sizeof dtmpl.detail);
    st.hint = n < SIZE_MAX / 64 ? n * 32 : 0; /* ~ a block per two candidates */
    if ((s = wcache_init(&wc, f->r.n_caps)))
        goto done;
    for (unsigned i = 0; i < 8; i++)
        ahead_at[i] = SIZE_MAX;
#ifndef PF_SLOT
#define PF_SLOT 16 /* groups ahead: table slot and cand page (< 32: the home ring) */
#endif
#ifndef PF_BLOB
#define PF_BLOB 4 /* groups ahead: the block (its slot is cached by then; < PF_SLOT, <= 7) */
#endif
    size_t crow[PF_CHUNK], chunk_lo = 0, chunk_hi = 0; /* (chunked) rows from chunk_lo */
    for (size_t a = 0, b; a < n; a = b) {
        /* hide memory latency: table slots 16 groups ahead, cand pages 16
         * ahead, the blob 4 ahead (its slot is cached by then) */
        if (chunked && a >= chunk_hi) {
            chunk_lo = a;
            chunk_hi = n - a > PF_CHUNK ? a + PF_CHUNK : n;
            lookup_chunk(f, cands, ord, chunk_lo, chunk_hi, crow);
        }
        if (!chunked && a + PF_SLOT < n) {
            size_t hm = fcap__home(f, CUST_AT(a + PF_SLOT));
            pf_lookup(f, hm, CAND_AT(a + PF_SLOT));
            home_at[(a + PF_SLOT) & 31] = a + PF_SLOT; /* reused by the lookup below */
            home_of[(a + PF_SLOT) & 31] = hm;
        }
        if (!ord && a + PF_ROWS < n) { /* rows in input order: ahead of the streamer's
                                           page-bounded prefetch */
            pf_row(&cands[a + PF_ROWS], false);
            pf_row(&out[a + PF_ROWS], true);
        }
        if (!sorted && a + 8 < n) {
            crm__prefetch(&cands[ord[a + 8].idx]);
            crm__prefetch((const char *)&cands[ord[a + 8].idx] + 64);
            crm__prefetch(&out[ord[a + 8].idx]);
            crm__prefetch((const char *)&out[ord[a + 8].idx] + 64);
        }
        if (!chunked && a + PF_BLOB < n) {
            size_t p4 = a + PF_BLOB;
            size_t r4 = fcap__find_at(f, CUST_AT(p4), home_at[p4 & 31] == p4
                                                         ? home_of[p4 & 31]
                                                         : fcap__home(f, CUST_AT(p4)));
            ahead_at[(a + PF_BLOB) & 7] = a + PF_BLOB;
            ahead_row[(a + PF_BLOB) & 7] = r4;
            if (r4 != SIZE_MAX)
                pf_block(f, r4);
        }
        uint64_t cust = CUST_AT(a);
        if (ord)
            for (b = a + 1; b < n && ord[b].customer == cust; b++)
                ;
        else
            for (b = a + 1; b < n && cands[b].customer_id == cust; b++)
                ;
        okey *g = ord ? ord + a : gk, one;
        if (!ord && b - a == 1) { /* one candidate: nothing to rank */
            one.idx = a;
            one.t = cands[a].t;
            g = &one;
        } else if (!ord) {
            if (b - a > gkcap) {
                crm__free(gk);
                gkcap = 0;
                if ((s = crm__alloc_array((void **)&gk, 2 * (b - a), sizeof *gk, 0,
                                          "fcap candidates")))
                    goto done;
                gkcap = 2 * (b - a);
                g = gk;
            }
            for (size_t i = a; i < b; i++) {
                const crm_fcap_candidate *c = &cands[i];
                g[i - a] = (okey){c->customer_id, c->t, c->priority, c->value, c->cand_id, i};
            }
        }
        size_t gn = b - a;
        if (gn > 1)
            okey_sort(g, gn);
        const crm_fcap_candidate *c0 = &cands[g[0].idx];
        for (size_t i = 1; i < gn; i++) {
            const crm_fcap_candidate *c = &cands[g[i].idx];
            if (c->utc_offset_min != c0->utc_offset_min || c->consent != c0->consent ||
                c->preferred != c0->preferred) {
                s = crm__fail(CRM_EDATA, "candidates[%zu] (cand_id %llu): utc_offset_min, "
                              "consent or preferred disagree with candidates[%zu] of the same "
                              "customer %llu", g[i].idx, (unsigned long long)c->cand_id,
                              g[0].idx, (unsigned long long)c->customer_id);
                goto done;
            }
        }
        /* this customer's events: stored, then this call's sends; as
         * columns (fast path) or, beyond FV_MAX events, decoded records */
        size_t row = chunked ? crow[a - chunk_lo]
                     : ahead_at[a & 7] == a ? ahead_row[a & 7] : fcap__find(f, cust);
        const uint8_t *blob = row != SIZE_MAX ? fcap__blob_ptr(f, f->slot[row].pos) : NULL;
        bool fast = gn <= FV_MAX;
        if (fast && blob) {
            fast = vdec(blob, &fv, FV_MAX - gn);
        } else if (fast) {
            fv.n = fv.nstored = 0;
            fv.counted = fv.sent = 0;
            fv.base = CRM_FCAP_NO_CAND;
            fv.lastcand = CRM_FCAP_NO_CAND;
            fv.cold = fv.end = NULL;
            fv.hasc = true;
        }
        fv.ordered = true;
        fv.stag = stag;
        sev *ev = NULL;
        size_t nev = 0, nstored = 0, nsend0 = nsend;
        unsigned sfl = 0;
        if (!fast) {
            size_t L = 0;
            if (row != SIZE_MAX)
                (void)fcap__blob_at(f, f->slot[row].pos, &L);
            if ((L / 4 + gn + 1 > sc.evcap || L + 1 > sc.tagcap) &&
                (s = fcap__scratch_reserve(&sc, L / 4 + gn + 1, L + 1, 0)))
                goto done;
            if (L + gn + 1 > cap_ev) {
                size_t nc = (L + gn + 1) * 2;
                crm__free(tmp);
                tmp = NULL;
                if ((s = crm__alloc_array((void **)&tmp, nc, sizeof *tmp, 0, "fcap events")))
                    goto done;
                cap_ev = nc;
            }
            ev = sc.ev;
            nev = row != SIZE_MAX ? fcap__decode_slot(f, row, &sc, &sfl) : 0;
            nstored = nev;
            x.tmp = tmp;
        } else {
            x.tmp = ftmp;
        }
        x.v = fast ? &fv : NULL;
        x.ev = ev;
        x.off = 60 * (int64_t)c0->utc_offset_min;
        /* sends of an earlier decide call at the same t count as this
         * batch's: only stored events flagged as sends can be */
        bool stored_sends = (sfl & FEV_SENT) != 0;
        uint32_t rank = 0;
        for (size_t i = 0; i < gn; i++) {
            const crm_fcap_candidate *c = &cands[g[i].idx];
            crm_fcap_decision *d = &out[g[i].idx];
            rank = (i > 0 && g[i].t == g[i - 1].t) ? rank + 1 : 1;
            /* its tags sorted and unique: one tag is read in place */
            if (CRM__UNLIKELY(c->tag_n > 1))
                for (uint32_t j = 0; j < c->tag_n; j++)
                    ctag[j] = tags[c->tag_off + j];
            x.c = c;
            x.cons = c->consent | anycons[c->category];
            x.nocap = nocapc[c->category] | c->override;
            x.ctags = c->tag_n == 1 ? tags + c->tag_off : ctag;
            x.nctags = c->tag_n > 1 ? fcap__sort_unique(ctag, c->tag_n) : c->tag_n;
            x.t = c->t;
            x.nev = nev;
            if (CRM__UNLIKELY(x.t != wc_t || x.off != wc_off)) { /* else x's bounds are
                                                                   still those */
                wcache_get(&wc, f, &x);
                wc_t = x.t;
                wc_off = x.off;
            }
            x.cq = x.qch[c->category];
            if (fast) {
                /* stored events ascend in time, this call's sends are at
                 * times <= t */
                uint64_t le = fv.n == 64 ? UINT64_MAX : (UINT64_C(1) << fv.n) - 1;
                if (fv.nstored && fv.t[fv.nstored - 1] > x.t)
                    for (size_t e = 0; e < fv.nstored; e++)
                        if (fv.t[e] > x.t)
                            le &= ~(UINT64_C(1) << e);
                x.le = le & fv.counted;
                x.batch = 0;
                for (uint64_t r = fv.sent; r; r &= r - 1)
                    if (fv.t[__builtin_ctzll(r)] == x.t)
                        x.batch |= r & -r;
                x.anybatch = x.batch != 0;
                x.nw = 0;
            } else {
                /* this call's sends for the customer ascend in t: the last
                 * one tells whether there is one at t */
                x.anybatch = nev > nstored && ev[nev - 1].t == c->t;
                for (size_t j = 0; stored_sends && !x.anybatch && j < nstored; j++)
                    x.anybatch = is_batch(&x, &ev[j]);
            }
            if (CRM__UNLIKELY(++x.gen == 0)) { /* wrapped: forget every entry */
                memset(capg, 0, f->r.n_caps * sizeof *capg);
                x.gen = 1;
            }
            /* ALREADY_SENT: an event with this cand_id at or before t (the
             * sends of this call have other cand ids) */
            uint64_t key1 = (c->cand_id >> 6) + 1; /* outside the set's page range: new */
            bool already = key1 >= f->prange[0] && key1 <= f->prange[1] &&
                           fcap__cand_maybe(f, c->cand_id) &&
                           ((blob && fcap__blob_has_cand(blob, c->cand_id, c->t)) ||
                            fcap__cand_sent(f, c->cand_id, c->t));
            /* the channels in the order tried: the preferred one first
             * (moved to the front of a copy when it is not there) */
            const uint8_t *order = c->channels;
            uint8_t reord[CRM_FCAP_MAX_TRIES];
            unsigned no = c->n_channels;
            if (f->r.prefer_preferred && c->preferred >= 0)
                for (unsigned j = 1; j < no; j++)
                    if (order[j] == (unsigned)c->preferred) {
                        memcpy(reord + 1, order, j);
                        memcpy(reord + j + 1, order + j + 1, no - j - 1);
                        reord[0] = (uint8_t)c->preferred;
                        order = reord;
                        break;
                    }
            *d = dtmpl;
            d->cand_id = c->cand_id;
            d->rank = rank;
            int64_t best = CRM_FCAP_NEVER;
            for (unsigned j = 0; j < no; j++) {
                int64_t retry;
                uint16_t arg;
                uint8_t r = check_channel(&x, order[j], already, &retry, &arg);
                d->tried[j] = order[j];
                d->detail[j] = r;
                d->detail_arg[j] = arg;
                d->n_tried = (uint8_t)(j + 1);
                if (j == 0) {
                    d->reason = r;
                    d->reason_arg = arg;
                }
                if (r == CRM_FCAP_OK) {
                    d->send = 1;
                    d->reason = CRM_FCAP_OK;
                    d->reason_arg = 0;
                    d->channel = order[j];
                    best = CRM_FCAP_NEVER;
                    bool counts = f->r.counts[c->category];
                    uint8_t fl = (uint8_t)((counts ? FEV_COUNTS : 0) | FEV_SENT);
                    size_t ks = nsend - nsend0; /* the customer's sends so far */
                    if (sidx)
                        sidx[nsend] = g[i].idx;
                    scand[nsend++] = c->cand_id;
                    /* its tags, sorted and unique, are copied to stag when
                     * later candidates of the customer (which reuse ctag)
                     * follow; else they stay where they are until the
                     * customer's block is encoded below */
                    bool more = i + 1 < gn;
                    const uint32_t *stg = x.ctags;
                    if (more) {
                        for (uint32_t j = 0; j < x.nctags; j++)
                            stag[nstag + j] = x.ctags[j];
                        stg = stag + nstag;
                        nstag += x.nctags;
                    }
                    fnew ne = {c->customer_id, c->t, c->campaign_id, c->cand_id, stg,
                               x.nctags, order[j], c->category, fl};
                    if (!fast) {
                        ev[nev++] = ne;
                        break;
                    }
                    add[ks] = ne;
                    if (more) { /* the send joins the view the later ones see */
                        size_t e = fv.n++;
                        fv.ordered &= e == 0 || fv.t[e - 1] <= c->t;
                        fv.t[e] = c->t;
                        fv.camp[e] = c->campaign_id;
                        fv.tagat[e] = (uint32_t)(stg - stag);
                        fv.ntag[e] = x.nctags;
                        fv.meta[e] = (uint8_t)(order[j] | c->category << 6);
                        fv.b1[e] = fl;
                        fv.counted |= (uint64_t)(fl & FEV_COUNTS) << e;
                        fv.sent |= UINT64_C(1) << e;
                    }
                    break;
                }
                /* the smallest retry; NEVER (-1) is the largest unsigned */
                if ((uint64_t)retry < (uint64_t)best)
                    best = retry;
            }
            d->retry_at = best;
        }
        /* the customer's new event list, encoded now (applied at the end) */
        if (!fast) {
            if (nev > nstored &&
                (s = fcap__stage_customer(f, &st, cust, row, ev, nstored, nev)))
                goto done;
            continue;
        }
        size_t k = nsend - nsend0;
        if (!k)
            continue;
        /* the sends extend the stored block when they sort after its last
         * event (the usual case), else the block is rebuilt */
        bool app = blob != NULL;
        for (size_t j = 1; app && j < k; j++)
            app = fcap__ev_cmp(&add[j - 1], &add[j]) <= 0;
        if (app && fv.t[fv.nstored - 1] >= add[0].t) {
            /* (t, channel, category, flags) of the last stored event
             * usually decide; else its cold fields too */
            size_t e = fv.nstored - 1;
            fnew last = {0, fv.t[e], 0, 0, NULL, 0, (uint8_t)(fv.meta[e] & 63),
                         (uint8_t)(fv.meta[e] >> 6), (uint8_t)(fv.b1[e] & 3)};
            int cmp = last.t != add[0].t ? 1 : 0;
            if (cmp == 0) {
                fnew first = add[0];
                first.campaign = 0;
                first.cand = 0;
                first.ntags = 0;
                cmp = fcap__ev_cmp(&last, &first);
            }
            if (cmp == 0) {
                if (!fv.hasc)
                    fcap__view_cold(&fv);
                if ((s = fcap__scratch_reserve(&sc, 1, fv.ntag[e] + 1, 0)))
                    goto done;
                fcap__view_stored_tags(&fv, e, sc.tags);
                last.campaign = fv.camp[e];
                last.cand = fv.lastcand;
                last.tags = sc.tags;
                last.ntags = fv.ntag[e];
                cmp = fcap__ev_cmp(&last, &add[0]);
            }
            app = cmp <= 0;
        }
        if (app) {
            s = fcap__stage_sends(f, &st, cust, row, &fv, add, k);
        } else {
            size_t L = 0;
            if (row != SIZE_MAX)
                (void)fcap__blob_at(f, f->slot[row].pos, &L);
            if ((s = fcap__scratch_reserve(&sc, L / 4 + k + 1, L + 1, 0)))
                goto done;
            size_t m = row != SIZE_MAX ? fcap__decode_slot(f, row, &sc, NULL) : 0;
            memcpy(sc.ev + m, add, k * sizeof *add);
            s = fcap__stage_customer(f, &st, cust, row, sc.ev, m, m + k);
        }
        if (s)
            goto done;
    }
    if (f->logfd >= 0) {
        fcap__log_begin(f, &w, FLOG_DECIDE);
        crm__wbuf_u64(&w, nsend);
        for (size_t i = 0; i < nsend; i++) {
            const crm_fcap_candidate *c = &cands[sidx[i]];
            uint8_t fl = (uint8_t)((f->r.counts[c->category] ? FEV_COUNTS : 0) | FEV_SENT);
            fnew e = {c->customer_id, c->t, c->campaign_id, c->cand_id,
                      n_tags ? tags + c->tag_off : NULL, c->tag_n, out[sidx[i]].channel,
                      c->category, fl};
            fcap__put_event(&w, &e);
        }
        crm__wbuf_u64(&w, n);
        for (size_t i = 0; i < n; i++) {
            crm__wbuf_u64(&w, out[i].cand_id);
            crm__wbuf_i64(&w, out[i].retry_at);
            crm__wbuf_u8(&w, out[i].send);
            crm__wbuf_u8(&w, out[i].channel);
            crm__wbuf_u8(&w, out[i].reason);
            crm__wbuf_u16(&w, out[i].reason_arg);
        }
    }
    s = fcap__stage_apply(f, &st, scand, nsend, f->logfd >= 0 ? &w : NULL);
done:
    crm__wbuf_free(&w);
    crm__free(ord);
    crm__free(ids);
    crm__free(cids);
    crm__free(ctag);
    crm__free(stag);
    crm__free(capc);
    crm__free(capg);
    crm__free(capr);
    fcap__stage_free(&st);
    fcap__scratch_free(&sc);
    wcache_free(&wc);
    crm__free(tmp);
    crm__free(sidx);
    crm__free(scand);
    crm__free(gk);
    return s;
}
