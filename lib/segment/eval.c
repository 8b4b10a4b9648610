/*
 * Rule-language segments: the column environment, resolution of a program's
 * tests against it (names, types, exact bounds), and block-wise evaluation
 * into membership bitsets.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "segment/segment_int.h"

#define MAX_NAMES 65536u

/* ---- environment ---------------------------------------------------------- */

CRM_API crm_status crm_segment_env_new(crm_segment_env **out, size_t n)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_segment_env_new: out is NULL");
    *out = NULL;
    crm_segment_env *e = crm__malloc(sizeof *e);
    if (!e)
        return crm__fail(CRM_ENOMEM, "crm_segment_env_new: cannot allocate the environment");
    memset(e, 0, sizeof *e);
    e->n = n;
    *out = e;
    return CRM_OK;
}

static void col_clear_names(seg_col *c)
{
    crm__free(c->names);
    crm__free(c->name_off);
    crm__free(c->sorted);
    c->names = NULL;
    c->name_off = NULL;
    c->sorted = NULL;
    c->n_names = 0;
}

CRM_API void crm_segment_env_free(crm_segment_env *env)
{
    if (!env)
        return;
    for (size_t i = 0; i < env->ncols; i++)
        col_clear_names(&env->cols[i]);
    crm__free(env->cols);
    crm__free(env);
}

CRM_API size_t crm_segment_env_count(const crm_segment_env *env)
{
    return env ? env->n : 0;
}

const seg_col *crm__segment_env_find(const crm_segment_env *env, const char *name, size_t len)
{
    for (size_t i = 0; i < env->ncols; i++)
        if (strlen(env->cols[i].name) == len && memcmp(env->cols[i].name, name, len) == 0)
            return &env->cols[i];
    return NULL;
}

static crm_status check_name(const char *fn, const char *name)
{
    if (!name)
        return crm__fail(CRM_EINVAL, "%s: name is NULL", fn);
    size_t len = strnlen(name, CRM_SEGMENT_NAME_MAX + 1);
    bool ok = len >= 1 && len <= CRM_SEGMENT_NAME_MAX;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        ok = alpha || (i > 0 && c >= '0' && c <= '9');
    }
    if (!ok)
        return crm__fail(CRM_EINVAL,
                         "%s: field name '%.40s' is not an identifier of 1..%u bytes "
                         "([A-Za-z_][A-Za-z0-9_]*)",
                         fn, name, CRM_SEGMENT_NAME_MAX);
    if (crm__segment_is_keyword(name, len))
        return crm__fail(CRM_EINVAL, "%s: field name '%s' is a keyword", fn, name);
    return CRM_OK;
}

/* Slot for `name`: the existing column of that name or a new one at the end
 * (capacity for `extra` new columns is ensured first). */
static crm_status reserve(crm_segment_env *env, size_t extra)
{
    if (env->ncols + extra <= env->cap)
        return CRM_OK;
    size_t c = env->cap ? env->cap : 16;
    while (c < env->ncols + extra)
        c *= 2;
    crm_status s = crm__realloc_array((void **)&env->cols, c, sizeof *env->cols,
                                      "segment environment");
    if (!s)
        env->cap = c;
    return s;
}

static seg_col *slot(crm_segment_env *env, const char *name)
{
    seg_col *c = (seg_col *)crm__segment_env_find(env, name, strlen(name));
    if (c)
        return c;
    c = &env->cols[env->ncols++];
    memset(c, 0, sizeof *c);
    memcpy(c->name, name, strlen(name) + 1);
    return c;
}

CRM_API crm_status crm_segment_env_bind(crm_segment_env *env, const char *name, int type,
                                        const void *values)
{
    static const char fn[] = "crm_segment_env_bind";
    if (!env)
        return crm__fail(CRM_EINVAL, "%s: env is NULL", fn);
    crm_status s = check_name(fn, name);
    if (s)
        return s;
    if (type < CRM_SEGMENT_I8 || type > CRM_SEGMENT_F64)
        return crm__fail(CRM_EINVAL, "%s: column '%s' has unknown type %d", fn, name, type);
    if (!values && env->n)
        return crm__fail(CRM_EINVAL, "%s: column '%s' values are NULL", fn, name);
    if ((s = reserve(env, 1)))
        return s;
    seg_col *c = slot(env, name);
    col_clear_names(c);
    c->type = type;
    c->values = values;
    return CRM_OK;
}

static const char *cat_name(const seg_col *c, uint32_t i)
{
    return c->names + c->name_off[i];
}

/* Sort code indices by name (insertion into a merge sort, stable). */
static void sort_names(seg_col *c, uint32_t *tmp)
{
    size_t n = c->n_names;
    for (size_t i = 0; i < n; i++)
        c->sorted[i] = (uint32_t)i;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                tmp[o++] = strcmp(cat_name(c, c->sorted[b]), cat_name(c, c->sorted[a])) < 0
                               ? c->sorted[b++] : c->sorted[a++];
            while (a < mid)
                tmp[o++] = c->sorted[a++];
            while (b < hi)
                tmp[o++] = c->sorted[b++];
        }
        memcpy(c->sorted, tmp, n * sizeof *tmp);
    }
}

CRM_API crm_status crm_segment_env_bind_categorical(crm_segment_env *env, const char *name,
                                                    const uint32_t *codes,
                                                    const char *const *names, size_t n_names)
{
    static const char fn[] = "crm_segment_env_bind_categorical";
    if (!env)
        return crm__fail(CRM_EINVAL, "%s: env is NULL", fn);
    crm_status s = check_name(fn, name);
    if (s)
        return s;
    if (!codes && env->n)
        return crm__fail(CRM_EINVAL, "%s: column '%s' codes are NULL", fn, name);
    if (n_names > MAX_NAMES)
        return crm__fail(CRM_EINVAL, "%s: column '%s' has %zu names, more than %u", fn, name,
                         n_names, MAX_NAMES);
    if (!names && n_names)
        return crm__fail(CRM_EINVAL, "%s: column '%s' names are NULL", fn, name);
    size_t bytes = 0;
    for (size_t i = 0; i < n_names; i++) {
        if (!names[i])
            return crm__fail(CRM_EINVAL, "%s: column '%s' names[%zu] is NULL", fn, name, i);
        size_t l = strnlen(names[i], CRM_SEGMENT_NAME_MAX + 1);
        if (l > CRM_SEGMENT_NAME_MAX)
            return crm__fail(CRM_EINVAL, "%s: column '%s' names[%zu] is longer than %u bytes",
                             fn, name, i, CRM_SEGMENT_NAME_MAX);
        bytes += l + 1;
    }
    seg_col tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.n_names = n_names;
    uint32_t *scratch = NULL;
    size_t m = n_names ? n_names : 1;
    if ((s = crm__alloc_array((void **)&tmp.names, bytes ? bytes : 1, 1, 0, fn)) ||
        (s = crm__alloc_array((void **)&tmp.name_off, m, sizeof(uint32_t), 0, fn)) ||
        (s = crm__alloc_array((void **)&tmp.sorted, m, sizeof(uint32_t), 0, fn)) ||
        (s = crm__alloc_array((void **)&scratch, m, sizeof(uint32_t), 0, fn)) ||
        (s = reserve(env, 1))) {
        col_clear_names(&tmp);
        crm__free(scratch);
        return s;
    }
    size_t o = 0;
    for (size_t i = 0; i < n_names; i++) {
        size_t l = strlen(names[i]);
        tmp.name_off[i] = (uint32_t)o;
        memcpy(tmp.names + o, names[i], l + 1);
        o += l + 1;
    }
    sort_names(&tmp, scratch);
    crm__free(scratch);
    seg_col *c = slot(env, name);
    col_clear_names(c);
    c->type = SEG_CATEGORICAL;
    c->values = codes;
    c->n_names = tmp.n_names;
    c->names = tmp.names;
    c->name_off = tmp.name_off;
    c->sorted = tmp.sorted;
    return CRM_OK;
}

CRM_API crm_status crm_segment_env_bind_profiles(crm_segment_env *env, const crm_profiles *p)
{
    if (!env || !p)
        return crm__fail(CRM_EINVAL, "crm_segment_env_bind_profiles: %s is NULL",
                         env ? "p" : "env");
    if (crm_profiles_count(p) != env->n)
        return crm__fail(CRM_EINVAL,
                         "crm_segment_env_bind_profiles: the table has %zu customers, "
                         "the environment %zu",
                         crm_profiles_count(p), env->n);
    const struct { const char *name; int type; const void *v; } cols[] = {
        {"customer_id", CRM_SEGMENT_U64, crm_profiles_customer_id(p)},
        {"first_day", CRM_SEGMENT_I32, crm_profiles_first_day(p)},
        {"last_day", CRM_SEGMENT_I32, crm_profiles_last_day(p)},
        {"recency_days", CRM_SEGMENT_I32, crm_profiles_recency_days(p)},
        {"frequency", CRM_SEGMENT_U32, crm_profiles_frequency(p)},
        {"monetary", CRM_SEGMENT_I64, crm_profiles_monetary(p)},
        {"tenure_days", CRM_SEGMENT_I32, crm_profiles_tenure_days(p)},
        {"gap_avg", CRM_SEGMENT_F64, crm_profiles_gap_avg(p)},
        {"purchase_days", CRM_SEGMENT_U32, crm_profiles_purchase_days(p)},
    };
    crm_status s = reserve(env, CRM__ARRAY_LEN(cols));
    if (s)
        return s;
    for (size_t i = 0; i < CRM__ARRAY_LEN(cols); i++) {
        seg_col *c = slot(env, cols[i].name);
        col_clear_names(c);
        c->type = cols[i].type;
        c->values = cols[i].v;
    }
    return CRM_OK;
}

/* ---- resolution ------------------------------------------------------------ */

static void type_bounds(int type, seg_wide *lo, seg_wide *hi)
{
    switch (type) {
    case CRM_SEGMENT_I8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case CRM_SEGMENT_U8: *lo = 0; *hi = UINT8_MAX; break;
    case CRM_SEGMENT_I16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case CRM_SEGMENT_U16: *lo = 0; *hi = UINT16_MAX; break;
    case CRM_SEGMENT_I32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    case CRM_SEGMENT_U32: *lo = 0; *hi = UINT32_MAX; break;
    case CRM_SEGMENT_I64: *lo = INT64_MIN; *hi = INT64_MAX; break;
    default: *lo = 0; *hi = UINT64_MAX; break;
    }
}

typedef struct interval {
    seg_wide lo, hi;   /* integer columns, inclusive */
    double flo, fhi;   /* double columns, inclusive */
} interval;

/* Interval of `x op v`; `!=` gives the interval of `=` (the caller negates). */
static interval cmp_interval(int op, const seg_value *v)
{
    interval r = {-SEG_WIDE_SAT * 2, SEG_WIDE_SAT * 2, -INFINITY, INFINITY};
    double d = v->d;
    switch (op) {
    case SEG_EQ:
    case SEG_NE:
        r.lo = v->ceil_v;
        r.hi = v->floor_v; /* empty unless integral */
        r.flo = r.fhi = d;
        break;
    case SEG_LT:
        r.hi = v->ceil_v - 1;
        r.fhi = d == -INFINITY ? NAN : nextafter(d, -INFINITY);
        break;
    case SEG_LE:
        r.hi = v->floor_v;
        r.fhi = d;
        break;
    case SEG_GT:
        r.lo = v->floor_v + 1;
        r.flo = d == INFINITY ? NAN : nextafter(d, INFINITY);
        break;
    default: /* SEG_GE */
        r.lo = v->ceil_v;
        r.flo = d;
        break;
    }
    return r;
}

static bool type_signed(int type)
{
    return type == CRM_SEGMENT_I8 || type == CRM_SEGMENT_I16 || type == CRM_SEGMENT_I32 ||
           type == CRM_SEGMENT_I64;
}

#define SIGN_BIT (UINT64_C(1) << 63)

/* Order-preserving map of a value of an integer column type to uint64. */
static uint64_t key_of(int type, seg_wide v)
{
    return type_signed(type) ? (uint64_t)(int64_t)v ^ SIGN_BIT : (uint64_t)v;
}

static int cmp_klo(const void *a, const void *b)
{
    const seg_range *x = a, *y = b;
    return (x->klo > y->klo) - (x->klo < y->klo);
}

static int cmp_flo(const void *a, const void *b)
{
    const seg_range *x = a, *y = b;
    return (x->flo > y->flo) - (x->flo < y->flo);
}

/* Sort the ranges of a long `in` list and merge overlapping or adjacent ones,
 * so each value is looked up by one binary search. */
static void sort_merge(seg_rtest *r)
{
    bool f = r->type == CRM_SEGMENT_F64;
    qsort(r->ranges, r->nranges, sizeof *r->ranges, f ? cmp_flo : cmp_klo);
    size_t o = 0;
    for (size_t i = 1; i < r->nranges; i++) {
        seg_range *cur = &r->ranges[o];
        const seg_range *nx = &r->ranges[i];
        bool join = f ? nx->flo <= cur->fhi
                      : (cur->khi == UINT64_MAX || nx->klo <= cur->khi + 1);
        if (join) {
            if (f ? nx->fhi > cur->fhi : nx->khi > cur->khi) {
                cur->fhi = nx->fhi;
                cur->khi = nx->khi;
            }
        } else {
            r->ranges[++o] = *nx;
        }
    }
    r->nranges = o + 1;
    r->sorted = 1;
}

static crm_status rule_error(size_t *err_offset, size_t off, const char *fmt, ...)
    CRM__PRINTF(3, 4);
static crm_status rule_error(size_t *err_offset, size_t off, const char *fmt, ...)
{
    if (err_offset)
        *err_offset = off;
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return crm__fail(CRM_ERULE, "expression byte %zu: %s", off, msg);
}

static const char *vkind_name(int k)
{
    return k == SEG_V_NUM ? "a number" : k == SEG_V_STR ? "a string" : "a name";
}

static crm_status resolve_numeric(seg_rtest *r, const crm_segment_program *g,
                                  const seg_test *t, const seg_col *c, const char *fname,
                                  size_t *err_offset)
{
    for (uint32_t i = 0; i < t->nv; i++) {
        const seg_value *v = &g->vals[t->v0 + i];
        if (v->kind != SEG_V_NUM)
            return rule_error(err_offset, v->off, "field '%s' is numeric: expected a number, "
                              "found %s", fname, vkind_name(v->kind));
    }
    r->kind = SEG_R_RANGES;
    r->type = c->type;
    r->col = c->values;
    r->negate = t->negate || (t->kind == SEG_T_CMP && t->op == SEG_NE);
    size_t ni = t->kind == SEG_T_IN ? t->nv : 1;
    crm_status s = crm__alloc_array((void **)&r->ranges, ni, sizeof *r->ranges, 0,
                                    "segment evaluation");
    if (s)
        return s;
    seg_wide tlo, thi;
    type_bounds(c->type, &tlo, &thi);
    for (size_t i = 0; i < ni; i++) {
        interval iv;
        if (t->kind == SEG_T_BETWEEN) {
            const seg_value *a = &g->vals[t->v0], *b = &g->vals[t->v0 + 1];
            iv.lo = a->ceil_v;
            iv.hi = b->floor_v;
            iv.flo = a->d;
            iv.fhi = b->d;
        } else {
            iv = cmp_interval(t->kind == SEG_T_IN ? SEG_EQ : t->op, &g->vals[t->v0 + i]);
        }
        seg_range *rg = &r->ranges[r->nranges];
        if (c->type == CRM_SEGMENT_F64) {
            if (!(iv.flo <= iv.fhi)) /* empty, or a NaN bound from +-inf */
                continue;
            rg->flo = iv.flo;
            rg->fhi = iv.fhi;
        } else {
            if (iv.lo < tlo)
                iv.lo = tlo;
            if (iv.hi > thi)
                iv.hi = thi;
            if (iv.lo > iv.hi)
                continue;
            rg->lo = (uint64_t)iv.lo;
            rg->span = (uint64_t)(iv.hi - iv.lo);
            rg->klo = key_of(c->type, iv.lo);
            rg->khi = key_of(c->type, iv.hi);
        }
        r->nranges++;
    }
    if (r->nranges == 0) {
        r->kind = SEG_R_CONST;
        r->constval = r->negate;
    } else if (r->nranges > SEG_SET_MIN) {
        sort_merge(r);
    }
    return CRM_OK;
}

static crm_status resolve_categorical(seg_rtest *r, const crm_segment_program *g,
                                      const seg_test *t, const seg_col *c, const char *fname,
                                      size_t *err_offset)
{
    if (t->kind == SEG_T_BETWEEN || (t->kind == SEG_T_CMP && t->op != SEG_EQ && t->op != SEG_NE))
        return rule_error(err_offset, t->op_off, "field '%s' is categorical: only =, !=, "
                          "in and not in apply", fname);
    for (uint32_t i = 0; i < t->nv; i++) {
        const seg_value *v = &g->vals[t->v0 + i];
        if (v->kind == SEG_V_NUM)
            return rule_error(err_offset, v->off, "field '%s' is categorical: expected a "
                              "category name, found %s", fname, vkind_name(v->kind));
    }
    r->kind = SEG_R_CAT;
    r->col = c->values;
    r->negate = t->negate || (t->kind == SEG_T_CMP && t->op == SEG_NE);
    r->n_names = (uint32_t)c->n_names;
    crm_status s = crm__alloc_array((void **)&r->lut, c->n_names + 1, 1, 1,
                                    "segment evaluation");
    if (s)
        return s;
    for (uint32_t i = 0; i < t->nv; i++) {
        const seg_value *v = &g->vals[t->v0 + i];
        const char *want = g->strings + v->s_off;
        if (strlen(want) != v->s_len)
            continue; /* an embedded NUL never matches a name */
        size_t lo = 0, hi = c->n_names;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(cat_name(c, c->sorted[mid]), want) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < c->n_names && strcmp(cat_name(c, c->sorted[lo]), want) == 0; lo++)
            r->lut[c->sorted[lo]] = 1;
    }
    return CRM_OK;
}

void crm__segment_resolved_free(seg_rtest *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++) {
        crm__free(r[i].ranges);
        crm__free(r[i].lut);
    }
    crm__free(r);
}

crm_status crm__segment_resolve(seg_rtest **out, const crm_segment_program *g,
                                const crm_segment_env *env, size_t *err_offset)
{
    *out = NULL;
    seg_rtest *r = NULL;
    crm_status s = crm__alloc_array((void **)&r, g->ntests ? g->ntests : 1, sizeof *r, 1,
                                    "segment evaluation");
    if (s)
        return s;
    for (size_t i = 0; i < g->ntests && !s; i++) {
        const seg_test *t = &g->tests[i];
        char fname[CRM_SEGMENT_NAME_MAX + 1];
        memcpy(fname, g->text + t->field_off, t->field_len);
        fname[t->field_len] = '\0';
        const seg_col *c = crm__segment_env_find(env, fname, t->field_len);
        if (!c)
            s = rule_error(err_offset, t->field_off, "unknown field '%s'%s", fname,
                           env->ncols ? "" : " (no field is bound)");
        else if (c->type == SEG_CATEGORICAL)
            s = resolve_categorical(&r[i], g, t, c, fname, err_offset);
        else
            s = resolve_numeric(&r[i], g, t, c, fname, err_offset);
    }
    if (s) {
        crm__segment_resolved_free(r, g->ntests);
        return s;
    }
    *out = r;
    return CRM_OK;
}

/* ---- kernels ---------------------------------------------------------------- */

#define BLOCK_WORDS 64u
#define BLOCK_BITS (BLOCK_WORDS * 64u)

/* Pack 64 bytes of 0/1 into a word, byte j -> bit j. */
static inline uint64_t pack64(const uint8_t *c)
{
    uint64_t b = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (unsigned k = 0; k < 8; k++) {
        uint64_t w;
        memcpy(&w, c + 8 * k, 8);
        b |= ((w * UINT64_C(0x0102040810204080)) >> 56) << (8 * k);
    }
#else
    for (unsigned j = 0; j < 64; j++)
        b |= (uint64_t)c[j] << j;
#endif
    return b;
}

/* out[w] (|)= bits of lo <= x <= hi over m values, via one unsigned compare:
 * 64 compares into bytes (vectorisable), then packed. */
#define RANGE_KERNEL(NAME, T, UT)                                                     \
    static void NAME(const void *col, size_t m, uint64_t lo64, uint64_t span64,       \
                     uint64_t *out, int acc)                                          \
    {                                                                                 \
        const T *x = (const T *)col;                                                  \
        const UT lo = (UT)lo64, span = (UT)span64;                                    \
        uint8_t c[64];                                                                \
        for (size_t w = 0; w * 64 < m; w++) {                                         \
            size_t k = m - w * 64 < 64 ? m - w * 64 : 64;                             \
            const T *xp = x + w * 64;                                                 \
            uint64_t b;                                                               \
            if (k == 64) {                                                            \
                for (unsigned j = 0; j < 64; j++)                                     \
                    c[j] = (UT)((UT)xp[j] - lo) <= span;                              \
                b = pack64(c);                                                        \
            } else {                                                                  \
                b = 0;                                                                \
                for (unsigned j = 0; j < k; j++)                                      \
                    b |= (uint64_t)((UT)((UT)xp[j] - lo) <= span) << j;               \
            }                                                                         \
            out[w] = acc ? out[w] | b : b;                                            \
        }                                                                             \
    }

RANGE_KERNEL(range_i8, int8_t, uint8_t)
RANGE_KERNEL(range_u8, uint8_t, uint8_t)
RANGE_KERNEL(range_i16, int16_t, uint16_t)
RANGE_KERNEL(range_u16, uint16_t, uint16_t)
RANGE_KERNEL(range_i32, int32_t, uint32_t)
RANGE_KERNEL(range_u32, uint32_t, uint32_t)
RANGE_KERNEL(range_i64, int64_t, uint64_t)
RANGE_KERNEL(range_u64, uint64_t, uint64_t)

static void range_f64(const double *x, size_t m, double lo, double hi, uint64_t *out, int acc)
{
    uint8_t c[64];
    for (size_t w = 0; w * 64 < m; w++) {
        size_t k = m - w * 64 < 64 ? m - w * 64 : 64;
        const double *xp = x + w * 64;
        uint64_t b;
        if (k == 64) {
            for (unsigned j = 0; j < 64; j++)
                c[j] = (uint8_t)((xp[j] >= lo) & (xp[j] <= hi));
            b = pack64(c);
        } else {
            b = 0;
            for (unsigned j = 0; j < k; j++)
                b |= (uint64_t)((xp[j] >= lo) & (xp[j] <= hi)) << j;
        }
        out[w] = acc ? out[w] | b : b;
    }
}

static void cat_kernel(const uint32_t *x, size_t m, const uint8_t *lut, uint32_t nn,
                       uint64_t *out)
{
    uint8_t c[64];
    for (size_t w = 0; w * 64 < m; w++) {
        size_t k = m - w * 64 < 64 ? m - w * 64 : 64;
        const uint32_t *xp = x + w * 64;
        if (k == 64) {
            for (unsigned j = 0; j < 64; j++)
                c[j] = lut[xp[j] < nn ? xp[j] : nn];
            out[w] = pack64(c);
        } else {
            uint64_t b = 0;
            for (unsigned j = 0; j < k; j++)
                b |= (uint64_t)lut[xp[j] < nn ? xp[j] : nn] << j;
            out[w] = b;
        }
    }
}

/* Index of the last range whose low bound is <= key, + 1 (0: none). */
#define UPPER(N, R, FIELD, KEY)                                                       \
    do {                                                                              \
        size_t lo_ = 0, hi_ = (N);                                                    \
        while (lo_ < hi_) {                                                           \
            size_t mid_ = lo_ + (hi_ - lo_) / 2;                                      \
            if ((R)[mid_].FIELD <= (KEY))                                             \
                lo_ = mid_ + 1;                                                       \
            else                                                                      \
                hi_ = mid_;                                                           \
        }                                                                             \
        pos_ = lo_;                                                                   \
    } while (0)

/* out[w] = bits of "value in one of the sorted disjoint ranges". */
#define SET_KERNEL(NAME, T, KEYEXPR)                                                  \
    static void NAME(const void *col, size_t m, const seg_range *rg, size_t n,        \
                     uint64_t *out)                                                   \
    {                                                                                 \
        const T *x = (const T *)col;                                                  \
        for (size_t w = 0; w * 64 < m; w++) {                                         \
            size_t k = m - w * 64 < 64 ? m - w * 64 : 64;                             \
            uint64_t b = 0;                                                           \
            for (unsigned j = 0; j < k; j++) {                                        \
                T v = x[w * 64 + j];                                                  \
                uint64_t key = KEYEXPR;                                               \
                size_t pos_;                                                          \
                UPPER(n, rg, klo, key);                                               \
                b |= (uint64_t)(pos_ > 0 && key <= rg[pos_ - 1].khi) << j;            \
            }                                                                         \
            out[w] = b;                                                               \
        }                                                                             \
    }

SET_KERNEL(set_i8, int8_t, (uint64_t)(int64_t)v ^ SIGN_BIT)
SET_KERNEL(set_u8, uint8_t, (uint64_t)v)
SET_KERNEL(set_i16, int16_t, (uint64_t)(int64_t)v ^ SIGN_BIT)
SET_KERNEL(set_u16, uint16_t, (uint64_t)v)
SET_KERNEL(set_i32, int32_t, (uint64_t)(int64_t)v ^ SIGN_BIT)
SET_KERNEL(set_u32, uint32_t, (uint64_t)v)
SET_KERNEL(set_i64, int64_t, (uint64_t)(int64_t)v ^ SIGN_BIT)
SET_KERNEL(set_u64, uint64_t, (uint64_t)v)

static void set_f64(const double *x, size_t m, const seg_range *rg, size_t n, uint64_t *out)
{
    for (size_t w = 0; w * 64 < m; w++) {
        size_t k = m - w * 64 < 64 ? m - w * 64 : 64;
        uint64_t b = 0;
        for (unsigned j = 0; j < k; j++) {
            double v = x[w * 64 + j];
            size_t pos_;
            UPPER(n, rg, flo, v); /* NaN: no low bound is <= it, pos_ = 0 */
            b |= (uint64_t)(pos_ > 0 && v <= rg[pos_ - 1].fhi) << j;
        }
        out[w] = b;
    }
}

static size_t elem_size(int type)
{
    static const size_t sz[] = {0, 1, 1, 2, 2, 4, 4, 8, 8, 8};
    return sz[type];
}

/* Bits of test r for customers [base, base + m) into out (ceil(m/64) words). */
static void run_test(const seg_rtest *r, size_t base, size_t m, uint64_t *out)
{
    size_t nw = (m + 63) / 64;
    if (r->kind == SEG_R_CONST) {
        memset(out, r->constval ? 0xff : 0, nw * sizeof *out);
        return;
    }
    if (r->kind == SEG_R_CAT) {
        cat_kernel((const uint32_t *)r->col + base, m, r->lut, r->n_names, out);
    } else {
        const void *col = (const char *)r->col + base * elem_size(r->type);
        if (r->sorted) {
            const seg_range *g = r->ranges;
            size_t k = r->nranges;
            switch (r->type) {
            case CRM_SEGMENT_I8: set_i8(col, m, g, k, out); break;
            case CRM_SEGMENT_U8: set_u8(col, m, g, k, out); break;
            case CRM_SEGMENT_I16: set_i16(col, m, g, k, out); break;
            case CRM_SEGMENT_U16: set_u16(col, m, g, k, out); break;
            case CRM_SEGMENT_I32: set_i32(col, m, g, k, out); break;
            case CRM_SEGMENT_U32: set_u32(col, m, g, k, out); break;
            case CRM_SEGMENT_I64: set_i64(col, m, g, k, out); break;
            case CRM_SEGMENT_U64: set_u64(col, m, g, k, out); break;
            default: set_f64(col, m, g, k, out); break;
            }
        }
        for (size_t i = 0; !r->sorted && i < r->nranges; i++) {
            const seg_range *g = &r->ranges[i];
            int acc = i > 0;
            switch (r->type) {
            case CRM_SEGMENT_I8: range_i8(col, m, g->lo, g->span, out, acc); break;
            case CRM_SEGMENT_U8: range_u8(col, m, g->lo, g->span, out, acc); break;
            case CRM_SEGMENT_I16: range_i16(col, m, g->lo, g->span, out, acc); break;
            case CRM_SEGMENT_U16: range_u16(col, m, g->lo, g->span, out, acc); break;
            case CRM_SEGMENT_I32: range_i32(col, m, g->lo, g->span, out, acc); break;
            case CRM_SEGMENT_U32: range_u32(col, m, g->lo, g->span, out, acc); break;
            case CRM_SEGMENT_I64: range_i64(col, m, g->lo, g->span, out, acc); break;
            case CRM_SEGMENT_U64: range_u64(col, m, g->lo, g->span, out, acc); break;
            default: range_f64(col, m, g->flo, g->fhi, out, acc); break;
            }
        }
    }
    if (r->negate)
        for (size_t w = 0; w < nw; w++)
            out[w] = ~out[w];
}

CRM_API crm_status crm_segment_eval(uint64_t *bits, size_t n_words,
                                    const crm_segment_program *prog,
                                    const crm_segment_env *env)
{
    static const char fn[] = "crm_segment_eval";
    if (!bits || !prog || !env)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn,
                         !bits ? "bits" : !prog ? "prog" : "env");
    size_t n = env->n;
    size_t need = n / 64 + (n % 64 != 0);
    if (n_words < need)
        return crm__fail(CRM_EINVAL, "%s: bits has %zu words, %zu customers need %zu", fn,
                         n_words, n, need);
    seg_rtest *r = NULL;
    crm_status s = crm__segment_resolve(&r, prog, env, NULL);
    if (s)
        return s;
    uint64_t *stack = NULL;
    s = crm__alloc_array((void **)&stack, prog->max_stack ? prog->max_stack : 1,
                         BLOCK_WORDS * sizeof(uint64_t), 0, fn);
    if (s) {
        crm__segment_resolved_free(r, prog->ntests);
        return s;
    }
    for (size_t base = 0; base < n; base += BLOCK_BITS) {
        size_t m = n - base < BLOCK_BITS ? n - base : BLOCK_BITS;
        size_t nw = (m + 63) / 64;
        size_t sp = 0;
        for (size_t pc = 0; pc < prog->ncode; pc++) {
            uint32_t ins = prog->code[pc];
            /* TEST pushes; NOT works on the top; AND/OR fold the top two
             * into the lower one, `top` below points at that. */
            uint64_t *top = stack + (sp ? sp - 1 : 0) * BLOCK_WORDS;
            if ((ins & 3u) == SEG_OP_AND || (ins & 3u) == SEG_OP_OR)
                top -= BLOCK_WORDS;
            switch (ins & 3u) {
            case SEG_OP_TEST:
                run_test(&r[ins >> 2], base, m, stack + sp * BLOCK_WORDS);
                sp++;
                break;
            case SEG_OP_NOT:
                for (size_t w = 0; w < nw; w++)
                    top[w] = ~top[w];
                break;
            case SEG_OP_AND:
                for (size_t w = 0; w < nw; w++)
                    top[w] &= top[w + BLOCK_WORDS];
                sp--;
                break;
            default:
                for (size_t w = 0; w < nw; w++)
                    top[w] |= top[w + BLOCK_WORDS];
                sp--;
                break;
            }
        }
        if (m % 64)
            stack[nw - 1] &= (UINT64_C(1) << (m % 64)) - 1;
        memcpy(bits + base / 64, stack, nw * sizeof *bits);
    }
    crm__free(stack);
    crm__segment_resolved_free(r, prog->ntests);
    return CRM_OK;
}
