/*
 * fcap_decide: the CSV/JSON front end of the frequency-cap engine
 * (specs/fcap.md, "INPUT FILES" and "OUTPUT").
 *
 * usage: fcap_decide RULES.json CANDIDATES.csv [HISTORY.csv|-] [OUT.csv|-] [--expect FILE]
 * Writes one row per candidate, sorted by cand_id:
 *   cand_id,customer_id,t,rank,decision,channel,reason,retry_at,detail
 * --expect compares the output with FILE and exits 1 when they differ.
 *
 * The rules JSON is parsed with jansson (Debian libjansson-dev) here, in the
 * example only: the library itself takes plain structs with integer ids.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm.h"

#define MAXCH 64
static const char *const CATS[4] = {"promo", "content", "trigger", "service"};

/* ---- names ------------------------------------------------------------------ */

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static long name_find(const names *t, const char *s)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i], s))
            return (long)i;
    return -1;
}

static long name_add(names *t, const char *s)
{
    long i = name_find(t, s);
    if (i >= 0)
        return i;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
        if (!t->v) {
            perror("fcap_decide");
            exit(2);
        }
    }
    t->v[t->n] = strdup(s);
    return (long)t->n++;
}

static names channels, tags, cap_ids;

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "fcap_decide: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(2);
}

static long cat_of(const char *s)
{
    for (long i = 0; i < 4; i++)
        if (!strcmp(CATS[i], s))
            return i;
    return -1;
}

/* ---- rules ------------------------------------------------------------------ */

static uint64_t mask_of(json_t *list, int is_cat, const char *what)
{
    if (!list)
        return is_cat ? CRM_FCAP_ALL_CATEGORIES : CRM_FCAP_ALL_CHANNELS;
    uint64_t m = 0;
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        const char *s = json_string_value(x);
        long k = s ? (is_cat ? cat_of(s) : name_find(&channels, s)) : -1;
        if (k < 0)
            die("%s: unknown name %s", what, s ? s : "(not a string)");
        m |= UINT64_C(1) << k;
    }
    return m;
}

static int32_t hhmm(json_t *v, const char *what)
{
    const char *s = json_string_value(v);
    int h, m;
    char tail;
    if (!s || sscanf(s, "%d:%d%c", &h, &m, &tail) != 2 || h < 0 || m < 0 || m > 59 ||
        h * 60 + m > 24 * 60)
        die("%s: %s is not HH:MM", what, s ? s : "(missing)");
    return (int32_t)(h * 3600 + m * 60);
}

static crm_fcap *engine_from_json(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        fprintf(stderr, "fcap_decide: %s:%d: %s\n", path, jerr.line, jerr.text);
        exit(2);
    }
    crm_fcap_rules r;
    crm_fcap_rules_init(&r, CRM_FCAP_RULES_VERSION);
    json_t *chs = json_object_get(root, "channels");
    if (chs) {
        size_t i;
        json_t *x;
        json_array_foreach(chs, i, x) name_add(&channels, json_string_value(x) ? json_string_value(x) : "?");
    } else {
        static const char *const def[] = {"email", "sms", "push", "telegram", "viber",
                                          "whatsapp", "social_ads", "call"};
        for (int i = 0; i < 8; i++)
            name_add(&channels, def[i]);
    }
    r.n_channels = (uint32_t)channels.n;
    json_t *cats = json_object_get(root, "categories");
    const char *cname;
    json_t *cflags;
    json_object_foreach(cats, cname, cflags) {
        long c = cat_of(cname);
        if (c < 0)
            die("categories: unknown category %s%s", cname, "");
        json_t *v;
        if ((v = json_object_get(cflags, "capped")))
            r.capped[c] = json_is_true(v);
        if ((v = json_object_get(cflags, "counts")))
            r.counts[c] = json_is_true(v);
        if ((v = json_object_get(cflags, "requires_consent")))
            r.requires_consent[c] = json_is_true(v);
    }
    json_t *caps = json_object_get(root, "caps");
    size_t ncap = json_array_size(caps);
    crm_fcap_cap *cv = calloc(ncap + 1, sizeof *cv);
    for (size_t i = 0; i < ncap; i++) {
        json_t *c = json_array_get(caps, i);
        crm_fcap_cap *k = &cv[i];
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *scope = json_string_value(json_object_get(c, "scope"));
        name_add(&cap_ids, id ? id : "?");
        static const char *const scopes[] = {"global", "channel", "campaign", "category", "tag"};
        k->scope = 255;
        for (uint8_t s = 0; s < 5; s++)
            if (scope && !strcmp(scope, scopes[s]))
                k->scope = s;
        json_t *key = json_object_get(c, "key");
        const char *ks = json_string_value(key);
        k->key = CRM_FCAP_KEY_ANY;
        if (k->scope != CRM_FCAP_SCOPE_GLOBAL && !(ks && !strcmp(ks, "*"))) {
            if (k->scope == CRM_FCAP_SCOPE_CAMPAIGN)
                k->key = ks ? strtoll(ks, NULL, 10) : (int64_t)json_integer_value(key);
            else if (k->scope == CRM_FCAP_SCOPE_CHANNEL)
                k->key = ks ? name_find(&channels, ks) : -2;
            else if (k->scope == CRM_FCAP_SCOPE_CATEGORY)
                k->key = ks ? cat_of(ks) : -2;
            else if (k->scope == CRM_FCAP_SCOPE_TAG)
                k->key = ks ? name_add(&tags, ks) : -2;
            if (k->key == -1 || k->key == -2)
                die("caps %s: unknown key %s", id ? id : "?", ks ? ks : "(missing)");
        }
        k->limit = json_integer_value(json_object_get(c, "limit"));
        if (!json_is_integer(json_object_get(c, "limit")))
            k->limit = -1; /* the library reports it */
        json_t *sl = json_object_get(c, "sliding");
        k->sliding = sl ? json_is_true(sl) : 1;
        json_t *w = json_object_get(c, "window");
        k->window = json_is_string(w) && !strcmp(json_string_value(w), "month")
                        ? CRM_FCAP_WINDOW_MONTH
                        : (json_is_integer(w) ? json_integer_value(w) : -1);
        const char *tz = json_string_value(json_object_get(c, "tz"));
        k->tz_utc = tz && !strcmp(tz, "utc");
        k->channels = mask_of(json_object_get(c, "channels"), 0, "caps channels");
        k->categories = (uint8_t)mask_of(json_object_get(c, "categories"), 1, "caps categories");
    }
    r.caps = cv;
    r.n_caps = ncap;
    json_t *qs = json_object_get(root, "quiet_hours");
    size_t nq = json_array_size(qs);
    crm_fcap_quiet *qv = calloc(nq + 1, sizeof *qv);
    for (size_t i = 0; i < nq; i++) {
        json_t *q = json_array_get(qs, i);
        qv[i].start = hhmm(json_object_get(q, "start"), "quiet_hours start");
        qv[i].end = hhmm(json_object_get(q, "end"), "quiet_hours end");
        qv[i].channels = mask_of(json_object_get(q, "channels"), 0, "quiet_hours channels");
        qv[i].categories = (uint8_t)mask_of(json_object_get(q, "categories"), 1, "quiet_hours categories");
    }
    r.quiet = qv;
    r.n_quiet = nq;
    json_t *sim = json_object_get(root, "simultaneous");
    if (sim) {
        r.sim_gap = json_integer_value(json_object_get(sim, "gap"));
        r.sim_max = (uint32_t)json_integer_value(json_object_get(sim, "max_channels"));
    }
    r.prefer_preferred = json_is_true(json_object_get(root, "prefer_preferred_channel"));
    const char *ws = json_string_value(json_object_get(root, "week_start"));
    r.week_sunday = ws && !strcmp(ws, "sunday");
    crm_fcap *f = NULL;
    if (crm_fcap_new(&f, &r) != CRM_OK)
        die("rules %s: %s", path, crm_last_error());
    free(cv);
    free(qv);
    json_decref(root);
    return f;
}

/* ---- CSV ---------------------------------------------------------------------- */

typedef struct table {
    char **cell; /* rows * cols, row 0 = header */
    size_t rows, cols;
} table;

/* Split one line into fields (double quotes allowed, no embedded newlines). */
static size_t split(char *line, char **out, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *start = p, *w = p;
        if (*p == '"') {
            start = w = ++p;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"')
                    p++;
                *w++ = *p++;
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',')
                p++;
            w = p;
        }
        char sep = *p;
        *w = 0;
        if (n < max)
            out[n++] = start;
        if (sep != ',')
            break;
        p++;
    }
    return n;
}

static table read_csv(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        die("cannot open %s: %s", path, strerror(errno));
    table t = {0};
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, fp)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue;
        char *f[64];
        size_t n = split(line, f, 64);
        if (t.rows == 0)
            t.cols = n;
        if ((t.rows + 1) * t.cols > cap) {
            cap = cap ? cap * 2 : 1024;
            while (cap < (t.rows + 1) * t.cols)
                cap *= 2;
            t.cell = realloc(t.cell, cap * sizeof *t.cell);
        }
        for (size_t j = 0; j < t.cols; j++)
            t.cell[t.rows * t.cols + j] = strdup(j < n ? f[j] : "");
        t.rows++;
    }
    free(line);
    fclose(fp);
    if (t.rows == 0)
        die("%s: empty file%s", path, "");
    return t;
}

static void free_table(table *t)
{
    for (size_t i = 0; i < t->rows * t->cols; i++)
        free(t->cell[i]);
    free(t->cell);
}

static void free_names(names *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
}

static long col(const table *t, const char *name, int required, const char *path)
{
    for (size_t j = 0; j < t->cols; j++)
        if (!strcmp(t->cell[j], name))
            return (long)j;
    if (required)
        die("%s: no column %s", path, name);
    return -1;
}

static const char *cell(const table *t, size_t r, long c)
{
    return c < 0 ? "" : t->cell[r * t->cols + (size_t)c];
}

/* '|' list of names -> ids appended to *v (tags) or channel ids. */
static uint32_t put_tags(const char *s, uint32_t **v, size_t *n, size_t *cap)
{
    uint32_t k = 0;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save, *tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 256;
            *v = realloc(*v, *cap * sizeof **v);
        }
        (*v)[(*n)++] = (uint32_t)name_add(&tags, tok);
        k++;
    }
    return k;
}

static long channel_of(const char *s, const char *what, const char *id)
{
    long c = name_find(&channels, s);
    if (c < 0) {
        fprintf(stderr, "fcap_decide: %s %s: unknown channel %s\n", what, id, s);
        exit(2);
    }
    return c;
}

/* ---- main --------------------------------------------------------------------- */

typedef struct outrow {
    uint64_t cand_id;
    size_t idx;
} outrow;

static int cmp_out(const void *a, const void *b)
{
    uint64_t x = ((const outrow *)a)->cand_id, y = ((const outrow *)b)->cand_id;
    return (x > y) - (x < y);
}

static const char *reason(uint8_t code, uint16_t arg, char *buf)
{
    switch (code) {
    case CRM_FCAP_OK: return "OK";
    case CRM_FCAP_ALREADY_SENT: return "ALREADY_SENT";
    case CRM_FCAP_NO_CONSENT: return "NO_CONSENT";
    case CRM_FCAP_QUIET_HOURS: return "QUIET_HOURS";
    case CRM_FCAP_SIMULTANEOUS: return "SIMULTANEOUS";
    case CRM_FCAP_OUTRANKED_SIMULTANEOUS: return "OUTRANKED:SIMULTANEOUS";
    case CRM_FCAP_CAP: snprintf(buf, 128, "CAP:%s", cap_ids.v[arg]); return buf;
    case CRM_FCAP_OUTRANKED_CAP: snprintf(buf, 128, "OUTRANKED:%s", cap_ids.v[arg]); return buf;
    default: return "?";
    }
}

int main(int argc, char **argv)
{
    const char *pos[4] = {NULL, NULL, "-", "-"}, *expect = NULL;
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--expect") && i + 1 < argc)
            expect = argv[++i];
        else if (np < 4)
            pos[np++] = argv[i];
    }
    if (np < 2) {
        fputs("usage: fcap_decide RULES.json CANDIDATES.csv [HISTORY.csv|-] [OUT.csv|-] "
              "[--expect FILE]\n", stderr);
        return 2;
    }
    crm_fcap *f = engine_from_json(pos[0]);
    uint32_t *tv = NULL;
    size_t nt = 0, tcap = 0;
    if (strcmp(pos[2], "-")) {
        table h = read_csv(pos[2]);
        long cc = col(&h, "customer_id", 1, pos[2]), ct = col(&h, "t", 1, pos[2]),
             ch = col(&h, "channel", 1, pos[2]), cp = col(&h, "campaign_id", 1, pos[2]),
             cg = col(&h, "category", 1, pos[2]), ctg = col(&h, "tags", 0, pos[2]),
             cn = col(&h, "counts", 0, pos[2]), ci = col(&h, "cand_id", 0, pos[2]);
        size_t n = h.rows - 1;
        crm_fcap_event *ev = calloc(n + 1, sizeof *ev);
        for (size_t r = 1; r <= n; r++) {
            crm_fcap_event *e = &ev[r - 1];
            char id[32];
            snprintf(id, sizeof id, "row %zu", r);
            e->customer_id = strtoull(cell(&h, r, cc), NULL, 10);
            e->t = strtoll(cell(&h, r, ct), NULL, 10);
            e->channel = (uint8_t)channel_of(cell(&h, r, ch), "history", id);
            e->campaign_id = strtoull(cell(&h, r, cp), NULL, 10);
            long k = cat_of(cell(&h, r, cg));
            e->category = (uint8_t)(k < 0 ? 9 : k); /* 9: the library names the row */
            e->counts = (int8_t)(*cell(&h, r, cn) ? atoi(cell(&h, r, cn)) : -1);
            e->cand_id = *cell(&h, r, ci) ? strtoull(cell(&h, r, ci), NULL, 10) : CRM_FCAP_NO_CAND;
            e->tag_off = (uint32_t)nt;
            e->tag_n = put_tags(cell(&h, r, ctg), &tv, &nt, &tcap);
        }
        if (crm_fcap_add_history(f, ev, n, tv, nt) != CRM_OK)
            die("history %s: %s", pos[2], crm_last_error());
        free(ev);
        free_table(&h);
    }
    table c = read_csv(pos[1]);
    const char *p = pos[1];
    long kid = col(&c, "cand_id", 1, p), kcu = col(&c, "customer_id", 1, p),
         kt = col(&c, "t", 1, p), kcp = col(&c, "campaign_id", 1, p),
         kcg = col(&c, "category", 1, p), kpr = col(&c, "priority", 1, p),
         kv = col(&c, "value", 1, p), kch = col(&c, "channels", 1, p),
         koff = col(&c, "utc_offset_min", 0, p), kcs = col(&c, "consent", 0, p),
         kpf = col(&c, "preferred", 0, p), ktg = col(&c, "tags", 0, p),
         kov = col(&c, "override", 0, p);
    size_t n = c.rows - 1;
    crm_fcap_candidate *cv = calloc(n + 1, sizeof *cv);
    nt = 0;
    for (size_t r = 1; r <= n; r++) {
        crm_fcap_candidate *k = &cv[r - 1];
        const char *id = cell(&c, r, kid);
        k->cand_id = strtoull(id, NULL, 10);
        k->customer_id = strtoull(cell(&c, r, kcu), NULL, 10);
        k->t = strtoll(cell(&c, r, kt), NULL, 10);
        k->campaign_id = strtoull(cell(&c, r, kcp), NULL, 10);
        long cat = cat_of(cell(&c, r, kcg));
        k->category = (uint8_t)(cat < 0 ? 9 : cat);
        k->priority = strtoll(cell(&c, r, kpr), NULL, 10);
        k->value = strtod(cell(&c, r, kv), NULL); /* the spec's comparison: strtod */
        k->utc_offset_min = (int32_t)atoi(cell(&c, r, koff));
        const char *cs = kcs < 0 ? "*" : cell(&c, r, kcs);
        if (!strcmp(cs, "*")) {
            k->consent = CRM_FCAP_ALL_CHANNELS;
        } else {
            char buf[1024];
            snprintf(buf, sizeof buf, "%s", cs);
            for (char *save, *tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save))
                k->consent |= UINT64_C(1) << channel_of(tok, "candidate", id);
        }
        const char *pf = cell(&c, r, kpf);
        k->preferred = (int16_t)(*pf ? channel_of(pf, "candidate", id) : -1);
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", cell(&c, r, kch));
        for (char *save, *tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
            if (k->n_channels == CRM_FCAP_MAX_TRIES)
                die("candidate %s: more than 15 channels%s", id, "");
            k->channels[k->n_channels++] = (uint8_t)channel_of(tok, "candidate", id);
        }
        k->override = (uint8_t)atoi(cell(&c, r, kov));
        k->tag_off = (uint32_t)nt;
        k->tag_n = put_tags(cell(&c, r, ktg), &tv, &nt, &tcap);
    }
    crm_fcap_decision *d = calloc(n + 1, sizeof *d);
    if (crm_fcap_decide(f, cv, n, tv, nt, d) != CRM_OK)
        die("candidates %s: %s", p, crm_last_error());
    outrow *o = calloc(n + 1, sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = (outrow){cv[i].cand_id, i};
    qsort(o, n, sizeof *o, cmp_out);
    char *text = NULL;
    size_t tlen = 0;
    FILE *out = open_memstream(&text, &tlen);
    fputs("cand_id,customer_id,t,rank,decision,channel,reason,retry_at,detail\n", out);
    for (size_t i = 0; i < n; i++) {
        const crm_fcap_decision *x = &d[o[i].idx];
        const crm_fcap_candidate *k = &cv[o[i].idx];
        char rb[128], retry[32] = "";
        if (x->retry_at != CRM_FCAP_NEVER)
            snprintf(retry, sizeof retry, "%lld", (long long)x->retry_at);
        fprintf(out, "%llu,%llu,%lld,%u,%s,%s,%s,%s,", (unsigned long long)k->cand_id,
                (unsigned long long)k->customer_id, (long long)k->t, x->rank,
                x->send ? "SEND" : "REJECT", x->send ? channels.v[x->channel] : "",
                x->send ? "" : reason(x->reason, x->reason_arg, rb), retry);
        for (unsigned j = 0; j < x->n_tried; j++)
            fprintf(out, "%s%s:%s", j ? ";" : "", channels.v[x->tried[j]],
                    reason(x->detail[j], x->detail_arg[j], rb));
        fputc('\n', out);
    }
    fclose(out);
    if (strcmp(pos[3], "-")) {
        FILE *w = fopen(pos[3], "w");
        if (!w || fwrite(text, 1, tlen, w) != tlen || fclose(w) != 0)
            die("cannot write %s: %s", pos[3], strerror(errno));
    } else if (!expect) {
        fwrite(text, 1, tlen, stdout);
    }
    int rc = 0;
    if (expect) {
        FILE *e = fopen(expect, "r");
        if (!e)
            die("cannot open %s: %s", expect, strerror(errno));
        char *want = calloc(1, tlen + 2);
        size_t got = fread(want, 1, tlen + 1, e);
        fclose(e);
        rc = got != tlen || memcmp(want, text, tlen) != 0;
        fprintf(stderr, "fcap_decide: %zu decisions %s %s\n", n, rc ? "DIFFER from" : "match",
                expect);
        if (rc)
            fwrite(text, 1, tlen, stdout);
        free(want);
    }
    free(text);
    free(o);
    free(d);
    free(cv);
    free(tv);
    free_table(&c);
    free_names(&channels);
    free_names(&tags);
    free_names(&cap_ids);
    crm_fcap_free(f);
    return rc;
}
