/* Heuristic models (first, last, linear, position-based, last non-direct,
 * time decay, ad-server last) over path tables and events, and the credit
 * dispatch (specs/attribution.md, "Models"). */
#include <math.h>
#include <stdlib.h>

#include "attribution/attr_internal.h"
#include "core/blob.h"

static const size_t opt_size[] = {
    0, CRM__SIZE_THROUGH(crm_attribution_options, seed),
    CRM__SIZE_THROUGH(crm_attribution_options, threads),
};

CRM_API crm_status crm_attribution_options_init(crm_attribution_options *opt,
                                                unsigned version)
{
    crm_status s = crm__options_init(opt, version, NULL, opt_size, CRM_ATTRIBUTION_OPTIONS_VERSION,
                                     "crm_attribution_options");
    if (s)
        return s;
    opt->order = 1;
    opt->position_first = 0.4;
    opt->position_middle = 0.2;
    opt->position_last = 0.4;
    opt->direct_channel = -1;
    opt->half_life_days = 7.0;
    opt->seed = 1;
    if (version >= 2)
        opt->threads = 1;
    return CRM_OK;
}

crm_status attr_options_resolve(crm_attribution_options *o, const crm_attribution_options *in)
{
    crm_attribution_options_init(o, CRM_ATTRIBUTION_OPTIONS_VERSION);
    crm_status st = crm__options_resolve(o, in, opt_size, CRM_ATTRIBUTION_OPTIONS_VERSION,
                                         "crm_attribution_options");
    if (st)
        return st;
    if (o->order < 1 || o->order > 4)
        return crm__fail(CRM_EINVAL, "crm_attribution_options.order = %u not in 1..4", o->order);
    double w[3] = { o->position_first, o->position_middle, o->position_last };
    for (int i = 0; i < 3; i++)
        if (!isfinite(w[i]) || w[i] < 0)
            return crm__fail(CRM_EINVAL, "crm_attribution_options.position weights must be "
                             "finite and >= 0");
    if (fabs(w[0] + w[1] + w[2] - 1.0) > 1e-9)
        return crm__fail(CRM_EINVAL, "crm_attribution_options.position weights sum to %g, "
                         "not 1", w[0] + w[1] + w[2]);
    if (!isfinite(o->half_life_days) || !(o->half_life_days > 0))
        return crm__fail(CRM_EINVAL, "crm_attribution_options.half_life_days = %g is not > 0",
                         o->half_life_days);
    if (o->threads > 64)
        return crm__fail(CRM_EINVAL, "crm_attribution_options.threads = %u > 64", o->threads);
    if (o->direct_channel < -1)
        return crm__fail(CRM_EINVAL, "crm_attribution_options.direct_channel = %lld",
                         (long long)o->direct_channel);
    return CRM_OK;
}

void attr_heuristic_weights(int model, const uint32_t *ch, size_t len,
                            const crm_attribution_options *o, double *w)
{
    for (size_t i = 0; i < len; i++)
        w[i] = 0.0;
    switch (model) {
    case CRM_ATTRIBUTION_FIRST_TOUCH:
        w[0] = 1.0;
        break;
    case CRM_ATTRIBUTION_LAST_TOUCH:
        w[len - 1] = 1.0;
        break;
    case CRM_ATTRIBUTION_LINEAR:
        for (size_t i = 0; i < len; i++)
            w[i] = 1.0 / (double)len;
        break;
    case CRM_ATTRIBUTION_POSITION_BASED:
        if (len == 1) {
            w[0] = 1.0;
        } else if (len == 2) {
            w[0] = w[1] = 0.5;
        } else {
            w[0] = o->position_first;
            w[len - 1] = o->position_last;
            for (size_t i = 1; i + 1 < len; i++)
                w[i] = o->position_middle / (double)(len - 2);
        }
        break;
    case CRM_ATTRIBUTION_LAST_NON_DIRECT: {
        size_t i = len;
        while (i > 0 && o->direct_channel >= 0 && ch[i - 1] == (uint64_t)o->direct_channel)
            i--;
        w[i > 0 ? i - 1 : len - 1] = 1.0;
        break;
    }
    default:
        break;
    }
}

/* Path-level heuristics straight into per-channel sums (hot loop: one pass
 * over the touches, no weight buffer). */
static void paths_heuristic(const crm_attribution_paths *t, int model,
                            const crm_attribution_options *o, double *conv, double *val)
{
    const uint32_t *seq = (const uint32_t *)(const void *)t->rows.pool;
    const uint64_t *off = t->rows.off;
    size_t n = t->rows.n;
    int64_t direct = o->direct_channel;
    for (size_t r = 0; r < n; r++) {
        const uint32_t *s = seq + off[r];
        size_t len = (size_t)(off[r + 1] - off[r]);
        double c = t->conv[r], v = t->value[r];
        switch (model) {
        case CRM_ATTRIBUTION_FIRST_TOUCH:
            conv[s[0]] += c;
            val[s[0]] += v;
            break;
        case CRM_ATTRIBUTION_LAST_TOUCH:
            conv[s[len - 1]] += c;
            val[s[len - 1]] += v;
            break;
        case CRM_ATTRIBUTION_LAST_NON_DIRECT: {
            size_t i = len;
            while (i > 0 && direct >= 0 && s[i - 1] == (uint64_t)direct)
                i--;
            uint32_t ch = s[i > 0 ? i - 1 : len - 1];
            conv[ch] += c;
            val[ch] += v;
            break;
        }
        case CRM_ATTRIBUTION_LINEAR: {
            double wc = c / (double)len, wv = v / (double)len;
            for (size_t i = 0; i < len; i++) {
                conv[s[i]] += wc;
                val[s[i]] += wv;
            }
            break;
        }
        case CRM_ATTRIBUTION_POSITION_BASED:
            if (len == 1) {
                conv[s[0]] += c;
                val[s[0]] += v;
            } else if (len == 2) {
                conv[s[0]] += 0.5 * c;
                val[s[0]] += 0.5 * v;
                conv[s[1]] += 0.5 * c;
                val[s[1]] += 0.5 * v;
            } else {
                conv[s[0]] += o->position_first * c;
                val[s[0]] += o->position_first * v;
                conv[s[len - 1]] += o->position_last * c;
                val[s[len - 1]] += o->position_last * v;
                double m = o->position_middle / (double)(len - 2);
                double mc = m * c, mv = m * v;
                for (size_t i = 1; i + 1 < len; i++) {
                    conv[s[i]] += mc;
                    val[s[i]] += mv;
                }
            }
            break;
        default:
            break;
        }
    }
}

CRM_API crm_status crm_attribution_paths_credit(const crm_attribution_paths *t, int model,
                                                const crm_attribution_options *opt,
                                                double *conversions, double *value)
{
    if (!t || !conversions)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_credit: %s is NULL",
                         t ? "conversions" : "t");
    crm_attribution_options o;
    crm_status st = attr_options_resolve(&o, opt);
    if (st)
        return st;
    size_t nch = t->names.n;
    double *c = NULL, *v = NULL;
    if ((st = crm__alloc_array((void **)&c, nch + 1, 8, 1, "credit")) ||
        (st = crm__alloc_array((void **)&v, nch + 1, 8, 1, "credit")))
        goto out;
    switch (model) {
    case CRM_ATTRIBUTION_FIRST_TOUCH:
    case CRM_ATTRIBUTION_LAST_TOUCH:
    case CRM_ATTRIBUTION_LINEAR:
    case CRM_ATTRIBUTION_POSITION_BASED:
    case CRM_ATTRIBUTION_LAST_NON_DIRECT:
        paths_heuristic(t, model, &o, c, v);
        break;
    case CRM_ATTRIBUTION_MARKOV:
        st = attr_markov_credit(t, &o, c, v);
        break;
    case CRM_ATTRIBUTION_SHAPLEY:
    case CRM_ATTRIBUTION_SHAPLEY_CR:
        st = attr_shapley_credit(t, model, &o, c, v);
        break;
    case CRM_ATTRIBUTION_TIME_DECAY:
    case CRM_ATTRIBUTION_AD_SERVER_LAST:
        st = crm__fail(CRM_EINVAL, "crm_attribution_paths_credit: model %d needs events "
                       "(crm_attribution_events_credit)", model);
        break;
    default:
        st = crm__fail(CRM_EINVAL, "crm_attribution_paths_credit: unknown model %d", model);
    }
    if (st == CRM_OK) {
        memcpy(conversions, c, nch * sizeof *c);
        if (value)
            memcpy(value, v, nch * sizeof *v);
    }
out:
    crm__free(c);
    crm__free(v);
    return st;
}

/* ---- events credit ------------------------------------------------------- */

#define N_EVENT_MODELS 7

struct crm_attribution_credit {
    size_t n_ids[2];
    uint32_t *ids[2];             /* sorted channel ids, campaign ids */
    double *conv[2], *value[2];   /* [model * n_ids + id] */
    double un_conv, un_value;
};

CRM_API void crm_attribution_credit_free(crm_attribution_credit *c)
{
    if (!c)
        return;
    for (int b = 0; b < 2; b++) {
        crm__free(c->ids[b]);
        crm__free(c->conv[b]);
        crm__free(c->value[b]);
    }
    crm__free(c);
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static size_t u32_find(const uint32_t *ids, size_t n, uint32_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct ec_ctx {
    crm_attribution_credit *c;
    const crm_touch *touches;
    const crm_conversion *convs;
    const crm_attribution_options *o;
    uint32_t *idx[2];  /* per touch: channel / campaign position */
    uint32_t *chan;    /* journey buffer of channel ids */
    double *w;         /* journey weights */
} ec_ctx;

static crm_status ec_journey(void *vctx, const uint32_t *touch, size_t k, size_t conv)
{
    ec_ctx *x = vctx;
    crm_attribution_credit *c = x->c;
    if (conv == SIZE_MAX)
        return CRM_OK;
    double cv = x->convs[conv].weight, vv = x->convs[conv].value;
    if (k == 0) {
        c->un_conv += cv;
        c->un_value += vv;
        return CRM_OK;
    }
    int64_t T = x->convs[conv].ts;
    for (size_t q = 0; q < k; q++)
        x->chan[q] = x->touches[touch[q]].channel;
    for (int m = 1; m <= N_EVENT_MODELS; m++) {
        double *w = x->w;
        if (m == CRM_ATTRIBUTION_TIME_DECAY) {
            double hl = x->o->half_life_days * 86400.0, sum = 0;
            for (size_t q = 0; q < k; q++)
                sum += w[q] = exp2(-(double)(T - x->touches[touch[q]].ts) / hl);
            for (size_t q = 0; q < k; q++)
                w[q] /= sum;
        } else if (m == CRM_ATTRIBUTION_AD_SERVER_LAST) {
            for (size_t q = 0; q < k; q++)
                w[q] = 0;
            size_t pick = k - 1;
            for (size_t q = k; q > 0; q--)
                if (x->touches[touch[q - 1]].kind == CRM_TOUCH_CLICK) {
                    pick = q - 1;
                    break;
                }
            w[pick] = 1.0;
        } else {
            attr_heuristic_weights(m, x->chan, k, x->o, w);
        }
        for (int b = 0; b < 2; b++) {
            size_t base = (size_t)(m - 1) * c->n_ids[b];
            for (size_t q = 0; q < k; q++) {
                if (w[q] == 0)
                    continue;
                size_t id = base + x->idx[b][touch[q]];
                c->conv[b][id] += cv * w[q];
                c->value[b][id] += vv * w[q];
            }
        }
    }
    return CRM_OK;
}

CRM_API crm_status crm_attribution_events_credit(
    crm_attribution_credit **out, const crm_touch *touches, size_t n_touches,
    const crm_conversion *conversions, size_t n_conversions,
    const crm_attribution_journey_options *jopt, const crm_attribution_options *opt)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_attribution_events_credit: out is NULL");
    *out = NULL;
    if ((!touches && n_touches) || (!conversions && n_conversions))
        return crm__fail(CRM_EINVAL, "crm_attribution_events_credit: NULL records");
    crm_attribution_journey_options jo;
    crm_attribution_options o;
    crm_status st = attr_journey_resolve(&jo, jopt);
    if (!st)
        st = attr_options_resolve(&o, opt);
    if (st)
        return st;
    ec_ctx x = { NULL, touches, conversions, &o, { NULL, NULL }, NULL, NULL };
    crm_attribution_credit *c = crm__malloc(sizeof *c);
    if (!c)
        return crm__fail(CRM_ENOMEM, "attribution: cannot allocate the credit result");
    memset(c, 0, sizeof *c);
    x.c = c;
    for (int b = 0; b < 2 && !st; b++) {
        uint32_t *ids = NULL;
        if ((st = crm__alloc_array((void **)&ids, n_touches + 1, 4, 0, "ids")))
            break;
        c->ids[b] = ids;
        for (size_t i = 0; i < n_touches; i++)
            ids[i] = b ? touches[i].campaign : touches[i].channel;
        qsort(ids, n_touches, 4, u32_cmp);
        size_t n = 0;
        for (size_t i = 0; i < n_touches; i++)
            if (n == 0 || ids[n - 1] != ids[i])
                ids[n++] = ids[i];
        c->n_ids[b] = n;
        if ((st = crm__alloc_array((void **)&x.idx[b], n_touches + 1, 4, 0, "touch ids")) ||
            (st = crm__alloc_array((void **)&c->conv[b], N_EVENT_MODELS * n + 1, 8, 1,
                                   "credit")) ||
            (st = crm__alloc_array((void **)&c->value[b], N_EVENT_MODELS * n + 1, 8, 1,
                                   "credit")))
            break;
        for (size_t i = 0; i < n_touches; i++)
            x.idx[b][i] = (uint32_t)u32_find(ids, n,
                                             b ? touches[i].campaign : touches[i].channel);
    }
    if (!st && !(st = crm__alloc_array((void **)&x.chan, n_touches + 1, 4, 0, "journey")) &&
        !(st = crm__alloc_array((void **)&x.w, n_touches + 1, 8, 0, "journey")))
        st = attr_journeys(touches, n_touches, conversions, n_conversions, &jo, ec_journey, &x);
    crm__free(x.idx[0]);
    crm__free(x.idx[1]);
    crm__free(x.chan);
    crm__free(x.w);
    if (st) {
        crm_attribution_credit_free(c);
        return st;
    }
    *out = c;
    return CRM_OK;
}

CRM_API const uint32_t *crm_attribution_credit_ids(const crm_attribution_credit *c,
                                                   int by, size_t *n)
{
    if (!c || (by != CRM_ATTRIBUTION_BY_CHANNEL && by != CRM_ATTRIBUTION_BY_CAMPAIGN)) {
        crm__fail(CRM_EINVAL, "crm_attribution_credit_ids: bad argument");
        return NULL;
    }
    if (n)
        *n = c->n_ids[by];
    return c->ids[by];
}

CRM_API crm_status crm_attribution_credit_get(const crm_attribution_credit *c, int model,
                                              int by, const double **conversions,
                                              const double **value)
{
    if (!c || (by != CRM_ATTRIBUTION_BY_CHANNEL && by != CRM_ATTRIBUTION_BY_CAMPAIGN))
        return crm__fail(CRM_EINVAL, "crm_attribution_credit_get: bad argument");
    if (model < 1 || model > N_EVENT_MODELS)
        return crm__fail(CRM_EINVAL, "crm_attribution_credit_get: model %d is not an event "
                         "heuristic (1..%d)", model, N_EVENT_MODELS);
    size_t base = (size_t)(model - 1) * c->n_ids[by];
    if (conversions)
        *conversions = c->conv[by] + base;
    if (value)
        *value = c->value[by] + base;
    return CRM_OK;
}

CRM_API crm_status crm_attribution_credit_unattributed(const crm_attribution_credit *c,
                                                       double *conversions, double *value)
{
    if (!c)
        return crm__fail(CRM_EINVAL, "crm_attribution_credit_unattributed: c is NULL");
    if (conversions)
        *conversions = c->un_conv;
    if (value)
        *value = c->un_value;
    return CRM_OK;
}

/* ---- credit partials ----------------------------------------------------- */

#define CREDIT_BLOB_VERSION 1u

static crm_status credit_alloc(crm_attribution_credit **out, const size_t n[2])
{
    crm_attribution_credit *c = crm__malloc(sizeof *c);
    if (!c)
        return crm__fail(CRM_ENOMEM, "attribution: cannot allocate the credit result");
    memset(c, 0, sizeof *c);
    crm_status st = CRM_OK;
    for (int b = 0; b < 2 && !st; b++) {
        c->n_ids[b] = n[b];
        if ((st = crm__alloc_array((void **)&c->ids[b], n[b] + 1, 4, 0, "ids")) ||
            (st = crm__alloc_array((void **)&c->conv[b], N_EVENT_MODELS * n[b] + 1, 8, 1,
                                   "credit")) ||
            (st = crm__alloc_array((void **)&c->value[b], N_EVENT_MODELS * n[b] + 1, 8, 1,
                                   "credit")))
            break;
    }
    if (st) {
        crm_attribution_credit_free(c);
        return st;
    }
    *out = c;
    return CRM_OK;
}

/* Add the sums of src into dst, whose ids include src's. */
static void credit_add(crm_attribution_credit *dst, const crm_attribution_credit *src)
{
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; i < src->n_ids[b]; i++) {
            size_t j = u32_find(dst->ids[b], dst->n_ids[b], src->ids[b][i]);
            for (int m = 0; m < N_EVENT_MODELS; m++) {
                dst->conv[b][(size_t)m * dst->n_ids[b] + j] +=
                    src->conv[b][(size_t)m * src->n_ids[b] + i];
                dst->value[b][(size_t)m * dst->n_ids[b] + j] +=
                    src->value[b][(size_t)m * src->n_ids[b] + i];
            }
        }
    dst->un_conv += src->un_conv;
    dst->un_value += src->un_value;
}

CRM_API crm_status crm_attribution_credit_merge(crm_attribution_credit **out,
                                                const crm_attribution_credit *a,
                                                const crm_attribution_credit *b)
{
    if (!out || !a || !b)
        return crm__fail(CRM_EINVAL, "crm_attribution_credit_merge: NULL argument");
    *out = NULL;
    size_t n[2];
    for (int g = 0; g < 2; g++) { /* size of the union of the sorted ids */
        size_t i = 0, j = 0, k = 0;
        while (i < a->n_ids[g] || j < b->n_ids[g]) {
            if (j >= b->n_ids[g] || (i < a->n_ids[g] && a->ids[g][i] < b->ids[g][j]))
                i++;
            else if (i >= a->n_ids[g] || b->ids[g][j] < a->ids[g][i])
                j++;
            else
                i++, j++;
            k++;
        }
        n[g] = k;
    }
    crm_attribution_credit *c = NULL;
    crm_status st = credit_alloc(&c, n);
    if (st)
        return st;
    for (int g = 0; g < 2; g++) {
        size_t i = 0, j = 0, k = 0;
        while (i < a->n_ids[g] || j < b->n_ids[g]) {
            if (j >= b->n_ids[g] || (i < a->n_ids[g] && a->ids[g][i] < b->ids[g][j]))
                c->ids[g][k++] = a->ids[g][i++];
            else if (i >= a->n_ids[g] || b->ids[g][j] < a->ids[g][i])
                c->ids[g][k++] = b->ids[g][j++];
            else
                c->ids[g][k++] = a->ids[g][i++], j++;
        }
    }
    credit_add(c, a);
    credit_add(c, b);
    *out = c;
    return CRM_OK;
}

CRM_API crm_status crm_attribution_credit_serialize(const crm_attribution_credit *c,
                                                    void **bytes, size_t *len)
{
    if (!c || !bytes || !len)
        return crm__fail(CRM_EINVAL, "crm_attribution_credit_serialize: NULL argument");
    *bytes = NULL;
    *len = 0;
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, CRM__BLOB_ATTRIBUTION_CREDIT, CREDIT_BLOB_VERSION);
    for (int b = 0; b < 2; b++) {
        crm__wbuf_u64(&w, c->n_ids[b]);
        crm__wbuf_u32s(&w, c->ids[b], c->n_ids[b]);
        crm__wbuf_f64s(&w, c->conv[b], N_EVENT_MODELS * c->n_ids[b]);
        crm__wbuf_f64s(&w, c->value[b], N_EVENT_MODELS * c->n_ids[b]);
    }
    crm__wbuf_f64(&w, c->un_conv);
    crm__wbuf_f64(&w, c->un_value);
    return crm__blob_end(&w, bytes, len, "attribution credit partial");
}

CRM_API crm_status crm_attribution_credit_deserialize(crm_attribution_credit **out,
                                                      const void *bytes, size_t len)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_attribution_credit_deserialize: out is NULL");
    *out = NULL;
    crm__rbuf r;
    uint16_t ver;
    crm_status st = crm__blob_open(&r, bytes, len, CRM__BLOB_ATTRIBUTION_CREDIT,
                                   CREDIT_BLOB_VERSION, &ver, "attribution credit partial");
    if (st)
        return st;
    crm_attribution_credit *c = crm__malloc(sizeof *c);
    if (!c)
        return crm__fail(CRM_ENOMEM, "attribution: cannot allocate the credit result");
    memset(c, 0, sizeof *c);
    for (int b = 0; b < 2 && !r.err; b++) {
        uint64_t n;
        if (!crm__rbuf_u64(&r, &n, "id count"))
            break;
        if (n > crm__rbuf_left(&r) / (4 + 16 * N_EVENT_MODELS)) {
            crm__rbuf_bad(&r, "id count %llu too large", (unsigned long long)n);
            break;
        }
        c->n_ids[b] = (size_t)n;
        if ((st = crm__alloc_array((void **)&c->ids[b], n + 1, 4, 0, "ids")) ||
            (st = crm__alloc_array((void **)&c->conv[b], N_EVENT_MODELS * n + 1, 8, 0,
                                   "credit")) ||
            (st = crm__alloc_array((void **)&c->value[b], N_EVENT_MODELS * n + 1, 8, 0,
                                   "credit")))
            break;
        if (!crm__rbuf_u32s(&r, c->ids[b], n, "ids") ||
            !crm__rbuf_f64s(&r, c->conv[b], N_EVENT_MODELS * n, "conversions") ||
            !crm__rbuf_f64s(&r, c->value[b], N_EVENT_MODELS * n, "value"))
            break;
        for (uint64_t i = 1; i < n; i++)
            if (c->ids[b][i] <= c->ids[b][i - 1]) {
                crm__rbuf_bad(&r, "ids not increasing at %llu", (unsigned long long)i);
                break;
            }
        for (uint64_t i = 0; i < N_EVENT_MODELS * n && !r.err; i++)
            if (!isfinite(c->conv[b][i]) || !isfinite(c->value[b][i]))
                crm__rbuf_bad(&r, "credit %llu is not finite", (unsigned long long)i);
    }
    if (!st && !r.err) {
        crm__rbuf_f64(&r, &c->un_conv, "unattributed conversions");
        crm__rbuf_f64(&r, &c->un_value, "unattributed value");
    }
    if (!st)
        st = r.err ? r.err : crm__rbuf_finish(&r);
    if (st) {
        crm_attribution_credit_free(c);
        return st;
    }
    *out = c;
    return CRM_OK;
}
