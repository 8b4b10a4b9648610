/* Path tables: distinct channel sequences with conversion, value and null
 * counts; text and array input, merge, serialisation (specs/attribution.md,
 * "Paths"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "attribution/attr_internal.h"
#include "core/blob.h"

#define PATHS_BLOB_VERSION 1u

/* ---- sequence interner --------------------------------------------------- */

uint64_t attr_hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = crm__mix64(n);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, b, 8);
        h = crm__mix64(h ^ v);
        b += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, b, n);
        h = crm__mix64(h ^ v ^ ((uint64_t)n << 56));
    }
    return h;
}

void attr_seqset_init(attr_seqset *s, size_t es)
{
    memset(s, 0, sizeof *s);
    s->es = es;
}

void attr_seqset_free(attr_seqset *s)
{
    crm__free(s->off);
    crm__free(s->hash);
    crm__free(s->pool);
    crm__free(s->bucket);
    attr_seqset_init(s, s->es);
}

static size_t seqset_probe(const attr_seqset *s, const void *e, size_t len, uint64_t h,
                           bool *found)
{
    size_t bytes = len * s->es;
    for (size_t i = (size_t)h & s->mask;; i = (i + 1) & s->mask) {
        uint32_t b = s->bucket[i];
        if (b == 0) {
            *found = false;
            return i;
        }
        size_t r = b - 1;
        if (s->hash[r] == h && s->off[r + 1] - s->off[r] == len &&
            memcmp(s->pool + s->off[r] * s->es, e, bytes) == 0) {
            *found = true;
            return i;
        }
    }
}

crm_status attr_seqset_reserve(attr_seqset *s, size_t rows, size_t elems)
{
    size_t need_rows, need_elems;
    if (__builtin_add_overflow(s->n, rows, &need_rows) ||
        __builtin_add_overflow(s->pool_len, elems, &need_elems) || need_rows >= UINT32_MAX)
        return crm__fail(CRM_EOVERFLOW, "attribution: table too large");
    if (need_rows > s->rows_cap || s->off == NULL) {
        size_t cap = s->rows_cap ? s->rows_cap : 16;
        while (cap < need_rows)
            cap *= 2;
        void *o = s->off, *h = s->hash;
        crm_status st = crm__realloc_array(&o, cap + 1, 8, "path offsets");
        if (st == CRM_OK)
            s->off = o;
        if (st == CRM_OK)
            st = crm__realloc_array(&h, cap, 8, "path hashes");
        if (st)
            return st;
        s->hash = h;
        if (s->rows_cap == 0)
            s->off[0] = 0;
        s->rows_cap = cap;
    }
    if (need_elems > s->pool_cap || s->pool == NULL) {
        size_t cap = s->pool_cap ? s->pool_cap : 64;
        while (cap < need_elems)
            cap *= 2;
        void *p = s->pool;
        crm_status st = crm__realloc_array(&p, cap, s->es, "path elements");
        if (st)
            return st;
        s->pool = p;
        s->pool_cap = cap;
    }
    if (need_rows * 2 > s->mask + 1 || s->bucket == NULL) {
        size_t cap = s->mask ? s->mask + 1 : 32;
        while (cap < need_rows * 2)
            cap *= 2;
        uint32_t *b = NULL;
        crm_status st = crm__alloc_array((void **)&b, cap, 4, 1, "path index");
        if (st)
            return st;
        crm__free(s->bucket);
        s->bucket = b;
        s->mask = cap - 1;
        for (size_t r = 0; r < s->n; r++) {
            size_t i = (size_t)s->hash[r] & s->mask;
            while (b[i])
                i = (i + 1) & s->mask;
            b[i] = (uint32_t)(r + 1);
        }
    }
    return CRM_OK;
}

size_t attr_seqset_find(const attr_seqset *s, const void *e, size_t len, uint64_t h)
{
    if (!s->bucket)
        return SIZE_MAX;
    bool found;
    size_t i = seqset_probe(s, e, len, h, &found);
    return found ? s->bucket[i] - 1 : SIZE_MAX;
}

size_t attr_seqset_add(attr_seqset *s, const void *e, size_t len, uint64_t h, bool *added)
{
    bool found;
    size_t i = seqset_probe(s, e, len, h, &found);
    if (found) {
        *added = false;
        return s->bucket[i] - 1;
    }
    size_t r = s->n++;
    uint8_t *dst = s->pool + s->pool_len * s->es;
    if (dst != (const uint8_t *)e)
        memcpy(dst, e, len * s->es);
    s->pool_len += len;
    s->off[r + 1] = s->pool_len;
    s->hash[r] = h;
    s->bucket[i] = (uint32_t)(r + 1);
    *added = true;
    return r;
}

/* ---- table --------------------------------------------------------------- */

crm_status attr_paths_alloc(crm_attribution_paths **out)
{
    crm_attribution_paths *t = crm__malloc(sizeof *t);
    if (!t)
        return crm__fail(CRM_ENOMEM, "attribution: cannot allocate a path table");
    memset(t, 0, sizeof *t);
    attr_seqset_init(&t->names, 1);
    attr_seqset_init(&t->rows, 4);
    crm_status st = attr_paths_reserve(t, 0, 0, 0, 0);
    if (st) {
        crm_attribution_paths_free(t);
        return st;
    }
    *out = t;
    return CRM_OK;
}

CRM_API crm_status crm_attribution_paths_new(crm_attribution_paths **out)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_new: out is NULL");
    *out = NULL;
    return attr_paths_alloc(out);
}

CRM_API void crm_attribution_paths_free(crm_attribution_paths *t)
{
    if (!t)
        return;
    attr_seqset_free(&t->names);
    attr_seqset_free(&t->rows);
    crm__free(t->conv);
    crm__free(t->value);
    crm__free(t->nulls);
    crm__free(t->scratch);
    crm__free(t);
}

crm_status attr_paths_reserve(crm_attribution_paths *t, size_t rows, size_t elems,
                              size_t names, size_t name_bytes)
{
    crm_status st = attr_seqset_reserve(&t->names, names, name_bytes);
    if (st == CRM_OK && t->names.n + names > 65535u * 65536u)
        st = crm__fail(CRM_EOVERFLOW, "attribution: too many channels");
    if (st == CRM_OK)
        st = attr_seqset_reserve(&t->rows, rows, elems);
    if (st == CRM_OK && t->rows.rows_cap > t->vcap) {
        size_t cap = t->rows.rows_cap;
        double **cols[] = { &t->conv, &t->value, &t->nulls };
        for (size_t i = 0; i < 3 && st == CRM_OK; i++) {
            void *p = *cols[i];
            st = crm__realloc_array(&p, cap, sizeof(double), "path counts");
            if (st == CRM_OK)
                *cols[i] = p;
        }
        if (st == CRM_OK)
            t->vcap = cap;
    }
    return st;
}

void attr_paths_put(crm_attribution_paths *t, const uint32_t *seq, size_t len,
                    double conv, double value, double nulls)
{
    if (len == 0) {
        t->un_conv += conv;
        t->un_value += value;
        t->un_nulls += nulls;
        return;
    }
    bool added;
    size_t r = attr_seqset_add(&t->rows, seq, len, attr_hash_bytes(seq, len * 4), &added);
    if (added) {
        t->conv[r] = conv;
        t->value[r] = value;
        t->nulls[r] = nulls;
    } else {
        t->conv[r] += conv;
        t->value[r] += value;
        t->nulls[r] += nulls;
    }
}

uint32_t attr_paths_channel(crm_attribution_paths *t, const char *name, size_t len)
{
    /* names are stored with their NUL (channel_name() hands out the pool):
     * build the key in the reserved tail of the pool, where it stays if new */
    char *key = (char *)t->names.pool + t->names.pool_len;
    memmove(key, name, len);
    key[len] = '\0';
    bool added;
    return (uint32_t)attr_seqset_add(&t->names, key, len + 1,
                                     attr_hash_bytes(key, len + 1), &added);
}

crm_status attr_check_count(double v, const char *what, size_t idx, const char *field)
{
    if (!isfinite(v) || v < 0)
        return crm__fail(CRM_EDATA, "%s[%zu].%s = %g is not a finite value >= 0", what,
                         idx, field, v);
    return CRM_OK;
}

/* Spans of the channel names in path text: [start, end) pairs in spans. */
static size_t split_names(const char *path, size_t plen, const char *sep, size_t slen,
                          size_t *spans, size_t max)
{
    size_t n = 0, i = 0;
    for (;;) {
        size_t j = i;
        while (j < plen && !(j + slen <= plen && memcmp(path + j, sep, slen) == 0))
            j++;
        size_t a = i, b = j;
        while (a < b && (path[a] == ' ' || path[a] == '\t' || path[a] == '\r' || path[a] == '\n'))
            a++;
        while (b > a && (path[b - 1] == ' ' || path[b - 1] == '\t' || path[b - 1] == '\r' ||
                         path[b - 1] == '\n'))
            b--;
        if (b > a) {
            if (n < max) {
                spans[2 * n] = a;
                spans[2 * n + 1] = b;
            }
            n++;
        }
        if (j >= plen)
            break;
        i = j + slen;
    }
    return n;
}

static crm_status scratch_reserve(crm_attribution_paths *t, size_t n)
{
    if (n <= t->scratch_cap)
        return CRM_OK;
    size_t cap = t->scratch_cap ? t->scratch_cap : 64;
    while (cap < n)
        cap *= 2;
    void *p = t->scratch;
    crm_status st = crm__realloc_array(&p, cap, 8, "path scratch");
    if (st)
        return st;
    t->scratch = p;
    t->scratch_cap = cap;
    return CRM_OK;
}

/* Add path text of plen bytes; state unchanged on failure. */
static crm_status paths_add_text(crm_attribution_paths *t, const char *path, size_t plen,
                                 const char *sep, double conv, double value, double nulls)
{
    size_t slen = strlen(sep);
    if (memchr(path, '\0', plen))
        return crm__fail(CRM_EDATA, "path contains a NUL byte");
    size_t n = split_names(path, plen, sep, slen, NULL, 0);
    /* scratch holds 2n spans (size_t) then n indices */
    size_t words = 2 * n + n / 2 + 1;
    crm_status st = scratch_reserve(t, words);
    if (st)
        return st;
    size_t *spans = (size_t *)(void *)t->scratch;
    split_names(path, plen, sep, slen, spans, n);
    uint32_t *seq = (uint32_t *)(void *)(spans + 2 * n);
    st = attr_paths_reserve(t, 1, n, n, plen + n + 64);
    if (st)
        return st;
    for (size_t i = 0; i < n; i++)
        seq[i] = attr_paths_channel(t, path + spans[2 * i], spans[2 * i + 1] - spans[2 * i]);
    attr_paths_put(t, seq, n, conv, value, nulls);
    return CRM_OK;
}

CRM_API crm_status crm_attribution_paths_add(crm_attribution_paths *t, const char *path,
                                             const char *sep, double conversions,
                                             double value, double nulls)
{
    if (!t || !path)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_add: %s is NULL",
                         t ? "path" : "t");
    if (!sep)
        sep = ">";
    if (!*sep)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_add: empty separator");
    crm_status st = attr_check_count(conversions, "path", 0, "conversions");
    if (!st)
        st = attr_check_count(value, "path", 0, "value");
    if (!st)
        st = attr_check_count(nulls, "path", 0, "nulls");
    if (st)
        return st;
    return paths_add_text(t, path, strlen(path), sep, conversions, value, nulls);
}

CRM_API crm_status crm_attribution_paths_from_arrays(
    crm_attribution_paths **out, size_t n_channels, const char *const *names,
    size_t n_rows, const uint64_t *offsets, const uint32_t *channels,
    const double *conversions, const double *value, const double *nulls)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_from_arrays: out is NULL");
    *out = NULL;
    if (!offsets || !conversions || !nulls || (!channels && n_rows && offsets[n_rows]))
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_from_arrays: NULL array");
    if (n_channels > 65535u * 65536u)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_from_arrays: too many channels");
    if (offsets[0] != 0)
        return crm__fail(CRM_EDATA, "offsets[0] = %llu, expected 0",
                         (unsigned long long)offsets[0]);
    for (size_t r = 0; r < n_rows; r++) {
        if (offsets[r + 1] < offsets[r])
            return crm__fail(CRM_EDATA, "offsets[%zu] < offsets[%zu]", r + 1, r);
        crm_status st = attr_check_count(conversions[r], "rows", r, "conversions");
        if (!st && value)
            st = attr_check_count(value[r], "rows", r, "value");
        if (!st)
            st = attr_check_count(nulls[r], "rows", r, "nulls");
        if (st)
            return st;
        for (uint64_t k = offsets[r]; k < offsets[r + 1]; k++)
            if (channels[k] >= n_channels)
                return crm__fail(CRM_EDATA, "rows[%zu]: channel %u >= n_channels %zu", r,
                                 channels[k], n_channels);
    }
    size_t name_bytes = 0;
    for (size_t c = 0; c < n_channels; c++) {
        if (names && !names[c])
            return crm__fail(CRM_EINVAL, "names[%zu] is NULL", c);
        name_bytes += (names ? strlen(names[c]) : 20) + 1;
    }
    crm_attribution_paths *t;
    crm_status st = attr_paths_alloc(&t);
    if (st)
        return st;
    size_t total = n_rows ? (size_t)offsets[n_rows] : 0;
    st = attr_paths_reserve(t, n_rows, total, n_channels, name_bytes + 64);
    if (st) {
        crm_attribution_paths_free(t);
        return st;
    }
    for (size_t c = 0; c < n_channels; c++) {
        char buf[24];
        const char *nm = buf;
        size_t len;
        if (names) {
            nm = names[c];
            len = strlen(nm);
        } else {
            len = (size_t)snprintf(buf, sizeof buf, "%zu", c);
        }
        uint32_t idx = attr_paths_channel(t, nm, len);
        if (idx != c) {
            crm_attribution_paths_free(t);
            return crm__fail(CRM_EDATA, "names[%zu] = \"%s\" repeats names[%u]", c, nm, idx);
        }
    }
    for (size_t r = 0; r < n_rows; r++)
        attr_paths_put(t, channels + offsets[r], (size_t)(offsets[r + 1] - offsets[r]),
                       conversions[r], value ? value[r] : 0.0, nulls[r]);
    *out = t;
    return CRM_OK;
}

/* ---- delimited text ------------------------------------------------------ */

/* Next field of a line [p, end): unquotes into buf (cap bytes). Returns the
 * position after the separator, or end. */
static const char *next_field(const char *p, const char *end, char fs, char *buf, size_t cap,
                              size_t *flen, bool *truncated)
{
    size_t n = 0;
    *truncated = false;
    if (p < end && *p == '"') {
        p++;
        while (p < end) {
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') {
                    if (n + 1 < cap)
                        buf[n++] = '"';
                    else
                        *truncated = true;
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (n + 1 < cap)
                buf[n++] = *p;
            else
                *truncated = true;
            p++;
        }
        while (p < end && *p != fs)
            p++;
    } else {
        while (p < end && *p != fs) {
            if (n + 1 < cap)
                buf[n++] = *p;
            else
                *truncated = true;
            p++;
        }
    }
    buf[n] = '\0';
    *flen = n;
    return p < end ? p + 1 : end;
}

static bool parse_num(const char *s, double *v)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    *v = strtod(s, &e);
    while (*e == ' ' || *e == '\t' || *e == '\r')
        e++;
    return *e == '\0';
}

CRM_API crm_status crm_attribution_paths_parse(crm_attribution_paths **out,
                                               const char *text, size_t len,
                                               char field_sep, const char *path_sep)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_parse: out is NULL");
    *out = NULL;
    if (!text && len)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_parse: text is NULL");
    if (!path_sep)
        path_sep = ">";
    if (!*path_sep || field_sep == '\0' || field_sep == '\n' || field_sep == '"')
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_parse: bad separator");
    /* longest line bounds the field buffer */
    size_t maxline = 0;
    for (size_t i = 0, s = 0; i <= len; i++)
        if (i == len || text[i] == '\n') {
            if (i - s > maxline)
                maxline = i - s;
            s = i + 1;
        }
    char *buf = NULL;
    crm_status st = crm__alloc_array((void **)&buf, maxline + 2, 1, 0, "line buffer");
    if (st)
        return st;
    crm_attribution_paths *t;
    st = attr_paths_alloc(&t);
    if (st) {
        crm__free(buf);
        return st;
    }
    size_t line = 0;
    const char *p = text, *end = text + len;
    while (p < end && st == CRM_OK) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *le = eol;
        if (le > p && le[-1] == '\r')
            le--;
        line++;
        if (line == 1 || le == p) { /* header, blank line */
            p = eol + (eol < end);
            continue;
        }
        /* fields: path first, then the numbers */
        double num[3];
        size_t nf = 0, flen;
        bool trunc;
        const char *q = next_field(p, le, field_sep, buf, maxline + 2, &flen, &trunc);
        const char *path_beg = p;
        while (q < le && nf < 4) {
            double v = 0;
            q = next_field(q, le, field_sep, buf, maxline + 2, &flen, &trunc);
            if (nf >= 3 || !parse_num(buf, &v)) {
                st = crm__fail(CRM_EDATA, "line %zu: field %zu is not a number", line, nf + 2);
                break;
            }
            num[nf++] = v;
        }
        if (st)
            break;
        if (nf < 2) {
            st = crm__fail(CRM_EDATA, "line %zu: %zu fields, expected path%c"
                           "conversions%cvalue%cnulls", line, nf + 1, field_sep,
                           field_sep, field_sep);
            break;
        }
        double conv = num[0], value = nf == 3 ? num[1] : 0.0, nulls = num[nf - 1];
        const char *names[] = { "conversions", "value", "nulls" };
        double vals[] = { conv, value, nulls };
        for (int i = 0; i < 3 && !st; i++)
            if (!isfinite(vals[i]) || vals[i] < 0)
                st = crm__fail(CRM_EDATA, "line %zu: %s = %g is not a finite value >= 0",
                               line, names[i], vals[i]);
        if (st)
            break;
        /* re-read the path field (unquoted) into buf */
        next_field(path_beg, le, field_sep, buf, maxline + 2, &flen, &trunc);
        st = paths_add_text(t, buf, flen, path_sep, conv, value, nulls);
        if (st == CRM_EDATA)
            st = crm__fail(CRM_EDATA, "line %zu: the path contains a NUL byte", line);
        p = eol + (eol < end);
    }
    crm__free(buf);
    if (st) {
        crm_attribution_paths_free(t);
        return st;
    }
    *out = t;
    return CRM_OK;
}

/* ---- merge and serialisation --------------------------------------------- */

/* Add every row of src to dst (capacity reserved for all of src). */
static crm_status paths_absorb(crm_attribution_paths *dst, const crm_attribution_paths *src)
{
    crm_status st = attr_paths_reserve(dst, src->rows.n, src->rows.pool_len, src->names.n,
                                       src->names.pool_len + 64);
    if (st)
        return st;
    uint32_t *map = NULL;
    st = crm__alloc_array((void **)&map, src->names.n + 1, 4, 0, "channel map");
    if (st)
        return st;
    size_t maxlen = 0;
    for (size_t c = 0; c < src->names.n; c++) {
        size_t len;
        const char *nm = attr_seqset_at(&src->names, c, &len);
        map[c] = attr_paths_channel(dst, nm, len - 1);
    }
    for (size_t r = 0; r < src->rows.n; r++)
        if (src->rows.off[r + 1] - src->rows.off[r] > maxlen)
            maxlen = (size_t)(src->rows.off[r + 1] - src->rows.off[r]);
    uint32_t *seq = NULL;
    st = crm__alloc_array((void **)&seq, maxlen + 1, 4, 0, "path buffer");
    if (st) {
        crm__free(map);
        return st;
    }
    for (size_t r = 0; r < src->rows.n; r++) {
        size_t len;
        const uint32_t *s = attr_seqset_at(&src->rows, r, &len);
        for (size_t i = 0; i < len; i++)
            seq[i] = map[s[i]];
        attr_paths_put(dst, seq, len, src->conv[r], src->value[r], src->nulls[r]);
    }
    dst->un_conv += src->un_conv;
    dst->un_value += src->un_value;
    dst->un_nulls += src->un_nulls;
    crm__free(seq);
    crm__free(map);
    return CRM_OK;
}

CRM_API crm_status crm_attribution_paths_merge(crm_attribution_paths **out,
                                               const crm_attribution_paths *a,
                                               const crm_attribution_paths *b)
{
    if (!out || !a || !b)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_merge: NULL argument");
    *out = NULL;
    crm_attribution_paths *t = NULL;
    crm_status st = attr_paths_alloc(&t);
    if (!st)
        st = paths_absorb(t, a);
    if (!st)
        st = paths_absorb(t, b);
    if (st) {
        crm_attribution_paths_free(t);
        return st;
    }
    *out = t;
    return CRM_OK;
}

CRM_API crm_status crm_attribution_paths_serialize(const crm_attribution_paths *t,
                                                   void **bytes, size_t *len)
{
    if (!t || !bytes || !len)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_serialize: NULL argument");
    *bytes = NULL;
    *len = 0;
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, CRM__BLOB_ATTRIBUTION_PATHS, PATHS_BLOB_VERSION);
    crm__wbuf_u64(&w, t->names.n);
    crm__wbuf_u64s(&w, t->names.off, t->names.n + 1);
    crm__wbuf_put(&w, t->names.pool, t->names.pool_len);
    crm__wbuf_u64(&w, t->rows.n);
    crm__wbuf_u64s(&w, t->rows.off, t->rows.n + 1);
    crm__wbuf_u32s(&w, (const uint32_t *)(const void *)t->rows.pool, t->rows.pool_len);
    crm__wbuf_f64s(&w, t->conv, t->rows.n);
    crm__wbuf_f64s(&w, t->value, t->rows.n);
    crm__wbuf_f64s(&w, t->nulls, t->rows.n);
    crm__wbuf_f64(&w, t->un_conv);
    crm__wbuf_f64(&w, t->un_value);
    crm__wbuf_f64(&w, t->un_nulls);
    return crm__blob_end(&w, bytes, len, "attribution paths partial");
}

CRM_API crm_status crm_attribution_paths_deserialize(crm_attribution_paths **out,
                                                     const void *bytes, size_t len)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_deserialize: out is NULL");
    *out = NULL;
    crm__rbuf r;
    uint16_t ver;
    crm_status st = crm__blob_open(&r, bytes, len, CRM__BLOB_ATTRIBUTION_PATHS,
                                   PATHS_BLOB_VERSION, &ver, "attribution paths partial");
    if (st)
        return st;
    uint64_t nn = 0, nr = 0;
    uint64_t *noff = NULL, *roff = NULL;
    char *names = NULL;
    uint32_t *seq = NULL;
    double *cols = NULL, un[3] = { 0, 0, 0 };
    crm_attribution_paths *t = NULL;
    if (!crm__rbuf_u64(&r, &nn, "channel count"))
        goto done;
    if (nn > crm__rbuf_left(&r) / 8 || nn >= 65535u * 65536u) {
        crm__rbuf_bad(&r, "channel count %llu too large", (unsigned long long)nn);
        goto done;
    }
    if ((st = crm__alloc_array((void **)&noff, nn + 1, 8, 0, "offsets")))
        goto fail;
    if (!crm__rbuf_u64s(&r, noff, nn + 1, "name offsets"))
        goto done;
    for (uint64_t i = 0; i < nn; i++)
        if (noff[i + 1] <= noff[i] || noff[0] != 0) {
            crm__rbuf_bad(&r, "name offsets not increasing at %llu", (unsigned long long)i);
            goto done;
        }
    if (noff[nn] > crm__rbuf_left(&r)) {
        crm__rbuf_bad(&r, "names exceed the payload");
        goto done;
    }
    if ((st = crm__alloc_array((void **)&names, noff[nn] + 1, 1, 0, "names")))
        goto fail;
    if (!crm__rbuf_get(&r, names, noff[nn], "names"))
        goto done;
    for (uint64_t i = 0; i < nn; i++)
        if (names[noff[i + 1] - 1] != '\0' || memchr(names + noff[i], 0, noff[i + 1] - noff[i] - 1)) {
            crm__rbuf_bad(&r, "name %llu is not one NUL-terminated string", (unsigned long long)i);
            goto done;
        }
    if (!crm__rbuf_u64(&r, &nr, "row count"))
        goto done;
    if (nr > crm__rbuf_left(&r) / 32) {
        crm__rbuf_bad(&r, "row count %llu too large", (unsigned long long)nr);
        goto done;
    }
    if ((st = crm__alloc_array((void **)&roff, nr + 1, 8, 0, "offsets")))
        goto fail;
    if (!crm__rbuf_u64s(&r, roff, nr + 1, "row offsets"))
        goto done;
    for (uint64_t i = 0; i < nr; i++)
        if (roff[i + 1] <= roff[i] || roff[0] != 0) {
            crm__rbuf_bad(&r, "row offsets not increasing at %llu", (unsigned long long)i);
            goto done;
        }
    if (roff[nr] > crm__rbuf_left(&r) / 4) {
        crm__rbuf_bad(&r, "paths exceed the payload");
        goto done;
    }
    if ((st = crm__alloc_array((void **)&seq, roff[nr] + 1, 4, 0, "paths")))
        goto fail;
    if (!crm__rbuf_u32s(&r, seq, roff[nr], "paths"))
        goto done;
    for (uint64_t i = 0; i < roff[nr]; i++)
        if (seq[i] >= nn) {
            crm__rbuf_bad(&r, "path element %llu: channel %u out of range",
                          (unsigned long long)i, seq[i]);
            goto done;
        }
    if ((st = crm__alloc_array((void **)&cols, 3 * nr + 1, 8, 0, "counts")))
        goto fail;
    if (!crm__rbuf_f64s(&r, cols, 3 * nr, "counts") || !crm__rbuf_f64s(&r, un, 3, "unattributed"))
        goto done;
    for (uint64_t i = 0; i < 3 * nr + 3; i++) {
        double v = i < 3 * nr ? cols[i] : un[i - 3 * nr];
        if (!isfinite(v) || v < 0) {
            crm__rbuf_bad(&r, "count %llu is not a finite value >= 0", (unsigned long long)i);
            goto done;
        }
    }
done:
    st = r.err ? r.err : crm__rbuf_finish(&r);
    if (st)
        goto fail;
    if ((st = attr_paths_alloc(&t)) ||
        (st = attr_paths_reserve(t, nr, roff[nr], nn, noff[nn] + 64)))
        goto fail;
    for (uint64_t i = 0; i < nn; i++)
        if (attr_paths_channel(t, names + noff[i], noff[i + 1] - noff[i] - 1) != i) {
            st = crm__fail(CRM_ESTATE, "attribution paths partial: channel name %llu repeats",
                           (unsigned long long)i);
            goto fail;
        }
    for (uint64_t i = 0; i < nr; i++)
        attr_paths_put(t, seq + roff[i], roff[i + 1] - roff[i], cols[i], cols[nr + i],
                       cols[2 * nr + i]);
    t->un_conv = un[0];
    t->un_value = un[1];
    t->un_nulls = un[2];
    *out = t;
    t = NULL;
fail:
    crm_attribution_paths_free(t);
    crm__free(noff);
    crm__free(roff);
    crm__free(names);
    crm__free(seq);
    crm__free(cols);
    return st;
}

/* ---- getters ------------------------------------------------------------- */

CRM_API size_t crm_attribution_paths_n_channels(const crm_attribution_paths *t)
{
    return t ? t->names.n : 0;
}

CRM_API const char *crm_attribution_paths_channel_name(const crm_attribution_paths *t,
                                                       size_t i)
{
    if (!t || i >= t->names.n)
        return NULL;
    size_t len;
    return attr_seqset_at(&t->names, i, &len);
}

CRM_API int64_t crm_attribution_paths_channel_index(const crm_attribution_paths *t,
                                                    const char *name)
{
    if (!t || !name)
        return -1;
    size_t len = strlen(name) + 1;
    size_t r = attr_seqset_find(&t->names, name, len, attr_hash_bytes(name, len));
    return r == SIZE_MAX ? -1 : (int64_t)r;
}

CRM_API size_t crm_attribution_paths_n_rows(const crm_attribution_paths *t)
{
    return t ? t->rows.n : 0;
}

CRM_API crm_status crm_attribution_paths_columns(const crm_attribution_paths *t,
                                                 const uint64_t **offsets,
                                                 const uint32_t **channels,
                                                 const double **conversions,
                                                 const double **value,
                                                 const double **nulls)
{
    if (!t)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_columns: t is NULL");
    if (offsets)
        *offsets = t->rows.off;
    if (channels)
        *channels = (const uint32_t *)(const void *)t->rows.pool;
    if (conversions)
        *conversions = t->conv;
    if (value)
        *value = t->value;
    if (nulls)
        *nulls = t->nulls;
    return CRM_OK;
}

CRM_API crm_status crm_attribution_paths_totals(const crm_attribution_paths *t,
                                                double *conversions, double *value,
                                                double *nulls,
                                                double *unattributed_conversions,
                                                double *unattributed_value)
{
    if (!t)
        return crm__fail(CRM_EINVAL, "crm_attribution_paths_totals: t is NULL");
    double c = 0, v = 0, n = 0;
    for (size_t r = 0; r < t->rows.n; r++) {
        c += t->conv[r];
        v += t->value[r];
        n += t->nulls[r];
    }
    if (conversions)
        *conversions = c;
    if (value)
        *value = v;
    if (nulls)
        *nulls = n;
    if (unattributed_conversions)
        *unattributed_conversions = t->un_conv;
    if (unattributed_value)
        *unattributed_value = t->un_value;
    return CRM_OK;
}
