/* Frequency-cap engine persistence: snapshots (blob kind CRM__BLOB_FCAP),
 * atomic snapshot files, the append-only decision log and its replay. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcap/fcap_int.h"

#define SNAP_VERSION 6u /* 1: fixed event records, 2: blocks with an event count, 3: blocks
                           without hot/cold parts, 4: cand ids as deltas from the previous
                           one, 5: varint hot records only (not read) */
#define LOG_MAGIC UINT32_C(0x474C4346) /* "FCLG" */
#define LOG_FRAME 12u                  /* magic, payload length, CRC */

/* ---- event encoding (shared by snapshots and the log) --------------------------- */

/* t, campaign, cand, channel, cat, flags, ntags, tags */
static void put_body(crm__wbuf *w, int64_t t, uint64_t campaign, uint64_t cand, uint8_t ch,
                     uint8_t cat, uint8_t flags, const uint32_t *tags, uint32_t ntags)
{
    crm__wbuf_i64(w, t);
    crm__wbuf_u64(w, campaign);
    crm__wbuf_u64(w, cand);
    crm__wbuf_u8(w, ch);
    crm__wbuf_u8(w, cat);
    crm__wbuf_u8(w, flags);
    crm__wbuf_u32(w, ntags);
    crm__wbuf_u32s(w, tags, ntags);
}

void fcap__put_event(crm__wbuf *w, const fnew *e)
{
    crm__wbuf_u64(w, e->customer);
    put_body(w, e->t, e->campaign, e->cand, e->channel, e->cat, e->flags, e->tags, e->ntags);
}

/* Read an event body into e (tags into *tagbuf at *ntag when tagbuf != NULL,
 * else only counted into *ntag). */
static bool get_body(crm__rbuf *r, const crm_fcap *f, fnew *e, uint32_t *tagbuf, size_t *ntag)
{
    uint32_t nt;
    if (!crm__rbuf_i64(r, &e->t, "event t") || !crm__rbuf_u64(r, &e->campaign, "event campaign") ||
        !crm__rbuf_u64(r, &e->cand, "event cand_id") || !crm__rbuf_u8(r, &e->channel, "event channel") ||
        !crm__rbuf_u8(r, &e->cat, "event category") || !crm__rbuf_u8(r, &e->flags, "event flags") ||
        !crm__rbuf_u32(r, &nt, "event tag count"))
        return false;
    if (e->t < 0 || e->t > CRM_FCAP_T_MAX)
        return crm__rbuf_bad(r, "event time %lld out of range", (long long)e->t);
    if (e->campaign > CRM_FCAP_ID_MAX || (e->cand > CRM_FCAP_ID_MAX && e->cand != CRM_FCAP_NO_CAND))
        return crm__rbuf_bad(r, "event id above 2^63-1");
    if (e->channel >= f->r.n_channels || e->cat >= CRM_FCAP_CATEGORIES ||
        e->flags > (FEV_COUNTS | FEV_SENT))
        return crm__rbuf_bad(r, "event channel %u / category %u / flags %u invalid", e->channel,
                             e->cat, e->flags);
    if (nt > crm__rbuf_left(r) / 4)
        return crm__rbuf_bad(r, "%u tags need more bytes than remain", nt);
    e->ntags = nt;
    if (tagbuf) {
        e->tags = tagbuf + *ntag;
        if (!crm__rbuf_u32s(r, tagbuf + *ntag, nt, "event tags"))
            return false;
    } else {
        e->tags = NULL;
        r->off += (size_t)nt * 4;
    }
    *ntag += nt;
    return true;
}

/* ---- snapshots ------------------------------------------------------------------- */

static void store_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t load_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_rules(crm__wbuf *w, const crm_fcap *f)
{
    const crm_fcap_rules *r = &f->r;
    crm__wbuf_u32(w, r->n_channels);
    crm__wbuf_u8(w, r->week_sunday);
    crm__wbuf_u8(w, r->prefer_preferred);
    crm__wbuf_i64(w, r->sim_gap);
    crm__wbuf_u32(w, r->sim_max);
    crm__wbuf_put(w, r->capped, 4);
    crm__wbuf_put(w, r->counts, 4);
    crm__wbuf_put(w, r->requires_consent, 4);
    crm__wbuf_u32(w, (uint32_t)r->n_caps);
    for (size_t i = 0; i < r->n_caps; i++) {
        const crm_fcap_cap *k = &f->caps[i];
        crm__wbuf_i64(w, k->key);
        crm__wbuf_i64(w, k->limit);
        crm__wbuf_i64(w, k->window);
        crm__wbuf_u64(w, k->channels);
        crm__wbuf_u8(w, k->scope);
        crm__wbuf_u8(w, k->sliding);
        crm__wbuf_u8(w, k->tz_utc);
        crm__wbuf_u8(w, k->categories);
    }
    crm__wbuf_u32(w, (uint32_t)r->n_quiet);
    for (size_t i = 0; i < r->n_quiet; i++) {
        const crm_fcap_quiet *q = &f->quiet[i];
        crm__wbuf_u32(w, (uint32_t)q->start);
        crm__wbuf_u32(w, (uint32_t)q->end);
        crm__wbuf_u64(w, q->channels);
        crm__wbuf_u8(w, q->categories);
    }
}

CRM_API crm_status crm_fcap_save_range(const crm_fcap *f, uint64_t lo, uint64_t hi, void **out,
                                       size_t *out_len)
{
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!f || !out || !out_len)
        return crm__fail(CRM_EINVAL, "crm_fcap_save: NULL argument");
    if (lo > hi)
        return crm__fail(CRM_EINVAL, "crm_fcap_save_range: lo %llu > hi %llu",
                         (unsigned long long)lo, (unsigned long long)hi);
    fcref *ids = NULL;
    size_t n = 0, bytes = 0;
    crm_status s = fcap__customers_by_id(f, &ids);
    if (s)
        return s;
    for (size_t i = 0; i < f->ncust; i++)
        if (ids[i].id >= lo && ids[i].id <= hi)
            ids[n++] = ids[i];
    if (n == f->ncust) { /* everyone: the pool's live regions bound the blobs */
        bytes = f->poollen - f->garbage + 8 * n;
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t bl;
            (void)fcap__blob_at(f, ids[i].pos, &bl);
            bytes += 8 + bl;
        }
    }
    /* one allocation for the whole snapshot: rules and userdata + blobs */
    crm__wbuf w;
    crm__wbuf_init(&w);
    size_t want = 256 + f->userlen + 64 * (f->r.n_caps + f->r.n_quiet) + bytes;
    w.p = crm__malloc(want);
    if (!w.p) {
        crm__free(ids);
        return crm__fail(CRM_ENOMEM, "fcap snapshot: out of memory (%zu bytes)", want);
    }
    w.cap = want;
    crm__advise_huge(w.p, want);
    crm__blob_begin(&w, CRM__BLOB_FCAP, SNAP_VERSION);
    put_rules(&w, f);
    crm__wbuf_i64(&w, f->floor);
    crm__wbuf_u64(&w, f->seq);
    crm__wbuf_u64(&w, f->userlen);
    crm__wbuf_put(&w, f->user, f->userlen);
    crm__wbuf_u64(&w, n);
    if (!w.err) { /* customers: id, blob; room is reserved above */
        uint8_t *o = w.p + w.len;
        for (size_t i = 0; i < n; i++) {
            if (i + 8 < n)
                crm__prefetch(fcap__blob_ptr(f, ids[i + 8].pos));
            size_t bl;
            const uint8_t *b = fcap__blob_at(f, ids[i].pos, &bl);
            store_u64(o, ids[i].id);
            memcpy(o + 8, b, bl);
            o += 8 + bl;
        }
        w.len = (size_t)(o - w.p);
    }
    crm__free(ids);
    return crm__blob_end(&w, out, out_len, "fcap snapshot");
}

CRM_API crm_status crm_fcap_save(const crm_fcap *f, void **out, size_t *out_len)
{
    return crm_fcap_save_range(f, 0, UINT64_MAX, out, out_len);
}

static bool get_rules(crm__rbuf *r, crm_fcap_rules *ru, crm_fcap_cap **caps, crm_fcap_quiet **quiet)
{
    uint32_t nc, nq;
    crm_fcap_rules_init(ru, CRM_FCAP_RULES_VERSION);
    if (!crm__rbuf_u32(r, &ru->n_channels, "rules channels") ||
        !crm__rbuf_u8(r, &ru->week_sunday, "rules week_start") ||
        !crm__rbuf_u8(r, &ru->prefer_preferred, "rules prefer") ||
        !crm__rbuf_i64(r, &ru->sim_gap, "rules sim gap") ||
        !crm__rbuf_u32(r, &ru->sim_max, "rules sim max") ||
        !crm__rbuf_get(r, ru->capped, 4, "rules capped") ||
        !crm__rbuf_get(r, ru->counts, 4, "rules counts") ||
        !crm__rbuf_get(r, ru->requires_consent, 4, "rules consent") ||
        !crm__rbuf_u32(r, &nc, "rules cap count"))
        return false;
    if (nc > crm__rbuf_left(r) / 36)
        return crm__rbuf_bad(r, "%u caps need more bytes than remain", nc);
    if ((r->err = crm__alloc_array((void **)caps, (size_t)nc + 1, sizeof **caps, 1, "fcap caps")))
        return false;
    for (uint32_t i = 0; i < nc; i++) {
        crm_fcap_cap *k = &(*caps)[i];
        if (!crm__rbuf_i64(r, &k->key, "cap key") || !crm__rbuf_i64(r, &k->limit, "cap limit") ||
            !crm__rbuf_i64(r, &k->window, "cap window") ||
            !crm__rbuf_u64(r, &k->channels, "cap channels") ||
            !crm__rbuf_u8(r, &k->scope, "cap scope") || !crm__rbuf_u8(r, &k->sliding, "cap sliding") ||
            !crm__rbuf_u8(r, &k->tz_utc, "cap tz") || !crm__rbuf_u8(r, &k->categories, "cap categories"))
            return false;
    }
    if (!crm__rbuf_u32(r, &nq, "rules quiet count"))
        return false;
    if (nq > crm__rbuf_left(r) / 17)
        return crm__rbuf_bad(r, "%u quiet intervals need more bytes than remain", nq);
    if ((r->err = crm__alloc_array((void **)quiet, (size_t)nq + 1, sizeof **quiet, 1, "fcap quiet")))
        return false;
    for (uint32_t i = 0; i < nq; i++) {
        crm_fcap_quiet *q = &(*quiet)[i];
        uint32_t a, b;
        if (!crm__rbuf_u32(r, &a, "quiet start") || !crm__rbuf_u32(r, &b, "quiet end") ||
            !crm__rbuf_u64(r, &q->channels, "quiet channels") ||
            !crm__rbuf_u8(r, &q->categories, "quiet categories"))
            return false;
        q->start = (int32_t)a;
        q->end = (int32_t)b;
    }
    ru->caps = *caps;
    ru->n_caps = nc;
    ru->quiet = *quiet;
    ru->n_quiet = nq;
    return true;
}

CRM_API crm_status crm_fcap_load(crm_fcap **out, const void *data, size_t len)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_fcap_load: out is NULL");
    *out = NULL;
    if (!data)
        return crm__fail(CRM_EINVAL, "crm_fcap_load: data is NULL");
    crm__rbuf r;
    uint16_t version;
    crm_status s = crm__blob_open(&r, data, len, CRM__BLOB_FCAP, SNAP_VERSION, &version,
                                  "fcap snapshot");
    if (s)
        return s;
    if (version < SNAP_VERSION)
        return crm__fail(CRM_EVERSION, "fcap snapshot: format version %u at byte 6 is older "
                         "than version %u, the only one this libcrm reads (rebuild the state "
                         "from its history)", (unsigned)version, SNAP_VERSION);
    crm_fcap *f = NULL;
    crm_fcap_cap *caps = NULL;
    crm_fcap_quiet *quiet = NULL;
    fscratch sc = {0};
    fcref *refs = NULL;
    crm_fcap_rules ru;
    if ((s = fcap__alloc(&f)))
        return s;
    size_t at = r.off;
    if (!get_rules(&r, &ru, &caps, &quiet))
        goto fail;
    if ((s = fcap__set_rules(f, &ru)) && s != CRM_ENOMEM) {
        char why[256];
        snprintf(why, sizeof why, "%s", crm_last_error());
        s = crm__fail(CRM_ESTATE, "fcap snapshot: bad rules at byte %zu: %s", at, why);
    }
    if (s)
        goto out;
    int64_t floor;
    uint64_t seq, ulen, ncust;
    if (!crm__rbuf_i64(&r, &floor, "prune time") || !crm__rbuf_u64(&r, &seq, "sequence") ||
        !crm__rbuf_u64(&r, &ulen, "userdata length"))
        goto fail;
    if (floor < 0 || floor > CRM_FCAP_T_MAX) {
        crm__rbuf_bad(&r, "prune time %lld out of range", (long long)floor);
        goto fail;
    }
    if (ulen > crm__rbuf_left(&r)) {
        crm__rbuf_bad(&r, "userdata of %llu bytes exceeds what remains", (unsigned long long)ulen);
        goto fail;
    }
    if ((s = crm_fcap_set_userdata(f, r.p + r.off, (size_t)ulen)))
        goto out;
    r.off += (size_t)ulen;
    if (!crm__rbuf_u64(&r, &ncust, "customer count"))
        goto fail;
    if (ncust > crm__rbuf_left(&r) / 14) {
        crm__rbuf_bad(&r, "%llu customers need more bytes than remain",
                      (unsigned long long)ncust);
        goto fail;
    }
    /* customers: id, then the event blob exactly as the engine keeps it */
    if ((s = fcap__reserve_load(f, (size_t)ncust, crm__rbuf_left(&r))) ||
        (s = crm__alloc_array((void **)&refs, (size_t)ncust + 1, sizeof *refs, 0,
                              "fcap snapshot")))
        goto out;
    uint64_t prev = 0;
    for (uint64_t i = 0; i < ncust; i++) {
        uint64_t id;
        size_t idat = r.off, nev, bat;
        const char *why;
        if (crm__rbuf_left(&r) >= 8) { /* the common case without a call */
            id = load_u64(r.p + r.off);
            r.off += 8;
        } else if (!crm__rbuf_u64(&r, &id, "customer id")) {
            goto fail;
        }
        if (id > CRM_FCAP_ID_MAX || (i > 0 && id <= prev)) {
            r.off = idat;
            crm__rbuf_bad(&r, "customer %llu: id above 2^63-1 or not after customer %llu",
                          (unsigned long long)id, (unsigned long long)prev);
            goto fail;
        }
        prev = id;
        size_t bl = fcap__blob_check(f, r.p + r.off, r.len - r.off, &sc, &nev, &why, &bat);
        if (!bl) {
            if (!why) {
                s = CRM_ENOMEM;
                goto out;
            }
            r.off += bat;
            crm__rbuf_bad(&r, "customer %llu: %s", (unsigned long long)id, why);
            goto fail;
        }
        refs[i].id = id;
        if ((s = fcap__put_loaded(f, id, r.p + r.off, bl, nev, sc.ev, &refs[i].pos)))
            goto out;
        r.off += bl;
    }
    if ((s = crm__rbuf_finish(&r)))
        goto out;
    fcap__index_loaded(f, refs, (size_t)ncust);
    fcap__pool_trim(f);
    f->floor = floor;
    f->seq = seq;
    goto out;
fail:
    s = r.err ? r.err : CRM_ESTATE;
out:
    crm__free(caps);
    crm__free(quiet);
    fcap__scratch_free(&sc);
    crm__free(refs);
    if (s) {
        crm_fcap_free(f);
        return s;
    }
    *out = f;
    return CRM_OK;
}

/* ---- files ------------------------------------------------------------------------ */

static crm_status io_fail(const char *what, const char *path)
{
    return crm__fail(CRM_ESTATE, "%s %s: %s", what, path, strerror(errno));
}

static bool write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(fd, b, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        b += k;
        n -= (size_t)k;
    }
    return true;
}

CRM_API crm_status crm_fcap_save_file(const crm_fcap *f, const char *path)
{
    if (!f || !path)
        return crm__fail(CRM_EINVAL, "crm_fcap_save_file: NULL argument");
    void *bytes;
    size_t len;
    crm_status s = crm_fcap_save(f, &bytes, &len);
    if (s)
        return s;
    size_t pl = strlen(path);
    char *tmp = crm__malloc(pl + 32), *dir = crm__malloc(pl + 2);
    if (!tmp || !dir) {
        crm__free(tmp);
        crm__free(dir);
        crm_bytes_free(bytes);
        return crm__fail(CRM_ENOMEM, "crm_fcap_save_file: out of memory");
    }
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        s = io_fail("cannot create", tmp);
    } else {
        if (!write_all(fd, bytes, len))
            s = io_fail("cannot write", tmp);
        else if (fsync(fd) != 0)
            s = io_fail("cannot fsync", tmp);
        if (close(fd) != 0 && !s)
            s = io_fail("cannot close", tmp);
        if (!s && rename(tmp, path) != 0)
            s = io_fail("cannot rename to", path);
        if (s)
            unlink(tmp);
    }
    if (!s) {
        const char *slash = strrchr(path, '/');
        if (slash) {
            size_t dl = (size_t)(slash - path);
            memcpy(dir, path, dl ? dl : 1);
            dir[dl ? dl : 1] = 0;
        } else {
            strcpy(dir, ".");
        }
        int dfd = open(dir, O_RDONLY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd); /* best effort: some file systems refuse directory fsync */
            close(dfd);
        }
    }
    crm__free(tmp);
    crm__free(dir);
    crm_bytes_free(bytes);
    return s;
}

/* Read a whole file into crm__malloc'd memory. */
static crm_status read_file(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_fail("cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        crm_status s = io_fail("cannot stat", path);
        close(fd);
        return s;
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *p = crm__malloc(n + 1);
    if (!p) {
        close(fd);
        return crm__fail(CRM_ENOMEM, "cannot read %s: out of memory (%zu bytes)", path, n);
    }
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    *out = p;
    *len = got;
    return CRM_OK;
}

CRM_API crm_status crm_fcap_load_file(crm_fcap **out, const char *path)
{
    if (!out || !path)
        return crm__fail(CRM_EINVAL, "crm_fcap_load_file: NULL argument");
    *out = NULL;
    uint8_t *p;
    size_t n;
    crm_status s = read_file(path, &p, &n);
    if (s)
        return s;
    s = crm_fcap_load(out, p, n);
    crm__free(p);
    return s;
}

/* ---- the decision log --------------------------------------------------------------- */

CRM_API crm_status crm_fcap_log_attach(crm_fcap *f, const char *path, int sync)
{
    if (!f || !path)
        return crm__fail(CRM_EINVAL, "crm_fcap_log_attach: NULL argument");
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return io_fail("cannot open log", path);
    if (f->logfd >= 0)
        close(f->logfd);
    f->logfd = fd;
    f->logsync = sync != 0;
    return CRM_OK;
}

CRM_API crm_status crm_fcap_log_detach(crm_fcap *f)
{
    if (!f)
        return crm__fail(CRM_EINVAL, "crm_fcap_log_detach: engine is NULL");
    if (f->logfd < 0)
        return CRM_OK;
    int fd = f->logfd;
    f->logfd = -1;
    if (close(fd) != 0)
        return crm__fail(CRM_ESTATE, "crm_fcap_log_detach: close: %s", strerror(errno));
    return CRM_OK;
}

void fcap__log_begin(const crm_fcap *f, crm__wbuf *w, uint8_t type)
{
    uint8_t frame[LOG_FRAME] = {0};
    crm__wbuf_put(w, frame, LOG_FRAME); /* filled by fcap__log_write */
    crm__wbuf_u64(w, f->seq + 1);
    crm__wbuf_u8(w, type);
}

static void store_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

crm_status fcap__log_write(crm_fcap *f, crm__wbuf *w)
{
    if (f->logfd < 0)
        return CRM_OK;
    if (w->err)
        return crm__fail(w->err, "fcap log: cannot build a record (out of memory)");
    size_t plen = w->len - LOG_FRAME;
    if (plen > UINT32_MAX)
        return crm__fail(CRM_EOVERFLOW, "fcap log: record of %zu bytes is too large", plen);
    store_u32(w->p, LOG_MAGIC);
    store_u32(w->p + 4, (uint32_t)plen);
    store_u32(w->p + 8, crm__crc32c(0, w->p + LOG_FRAME, plen));
    off_t end = lseek(f->logfd, 0, SEEK_END);
    if (!write_all(f->logfd, w->p, w->len) || (f->logsync && fsync(f->logfd) != 0)) {
        int e = errno;
        if (end >= 0 && ftruncate(f->logfd, end) != 0) {
            /* nothing more to do: replay reports the torn record */
        }
        return crm__fail(CRM_ESTATE, "fcap log: write failed: %s", strerror(e));
    }
    return CRM_OK;
}

/* One validated log record. */
typedef struct lrec {
    uint64_t seq;
    uint8_t type;
    int64_t now;          /* prune */
    size_t first, count;  /* events (history / decide sends) in the decoded array */
} lrec;

/* Parse (and when v != NULL decode) the whole log. */
static crm_status log_parse(const crm_fcap *f, const uint8_t *p, size_t len, lrec *recs,
                            size_t *nrec, fnew *v, size_t *nev, uint32_t *tagbuf, size_t *ntag)
{
    size_t off = 0, nr = 0, ne = 0, nt = 0;
    uint64_t seq = f->seq;
    int64_t floor = f->floor;
    while (off < len) {
        if (len - off < LOG_FRAME)
            return crm__fail(CRM_ESTATE, "fcap log: truncated record header at byte %zu "
                             "(%zu bytes left, %u needed)", off, len - off, LOG_FRAME);
        if (load_u32(p + off) != LOG_MAGIC)
            return crm__fail(CRM_ESTATE, "fcap log: bad record magic at byte %zu", off);
        size_t plen = load_u32(p + off + 4);
        if (plen > len - off - LOG_FRAME)
            return crm__fail(CRM_ESTATE, "fcap log: truncated record at byte %zu (payload %zu "
                             "bytes, %zu left)", off, plen, len - off - LOG_FRAME);
        if (crm__crc32c(0, p + off + LOG_FRAME, plen) != load_u32(p + off + 8))
            return crm__fail(CRM_ESTATE, "fcap log: checksum mismatch in record at byte %zu", off);
        crm__rbuf r = {.p = p, .len = off + LOG_FRAME + plen, .off = off + LOG_FRAME,
                       .what = "fcap log"};
        lrec rec = {0};
        if (!crm__rbuf_u64(&r, &rec.seq, "record sequence") ||
            !crm__rbuf_u8(&r, &rec.type, "record type"))
            return r.err;
        bool apply = rec.seq > f->seq;
        if (apply && rec.seq != seq + 1) {
            r.off = off;
            crm__rbuf_bad(&r, "record sequence %llu does not follow %llu",
                          (unsigned long long)rec.seq, (unsigned long long)seq);
            return r.err;
        }
        if (rec.type == FLOG_PRUNE) {
            if (!crm__rbuf_i64(&r, &rec.now, "prune time"))
                return r.err;
            if (apply && (rec.now < floor || rec.now > CRM_FCAP_T_MAX)) {
                crm__rbuf_bad(&r, "prune time %lld out of order", (long long)rec.now);
                return r.err;
            }
            if (apply && rec.now > floor)
                floor = rec.now;
        } else if (rec.type == FLOG_HISTORY || rec.type == FLOG_DECIDE) {
            uint64_t n;
            if (!crm__rbuf_u64(&r, &n, "event count"))
                return r.err;
            if (n > crm__rbuf_left(&r) / 39) {
                crm__rbuf_bad(&r, "%llu events need more bytes than remain", (unsigned long long)n);
                return r.err;
            }
            rec.first = ne;
            rec.count = (size_t)n;
            for (uint64_t i = 0; i < n; i++) {
                fnew e, *d = v && apply ? &v[ne] : &e;
                if (!crm__rbuf_u64(&r, &d->customer, "event customer"))
                    return r.err;
                if (d->customer > CRM_FCAP_ID_MAX) {
                    crm__rbuf_bad(&r, "customer id above 2^63-1");
                    return r.err;
                }
                size_t before = nt;
                if (!get_body(&r, f, d, v && apply ? tagbuf : NULL, &nt))
                    return r.err;
                if (!apply)
                    nt = before;
                ne += apply;
            }
            if (!apply)
                rec.count = 0;
            if (rec.type == FLOG_DECIDE) {
                uint64_t nd;
                if (!crm__rbuf_u64(&r, &nd, "decision count"))
                    return r.err;
                if (nd > crm__rbuf_left(&r) / 21) {
                    crm__rbuf_bad(&r, "%llu decisions need more bytes than remain",
                                  (unsigned long long)nd);
                    return r.err;
                }
                r.off += (size_t)nd * 21;
            }
        } else if (rec.type == FLOG_USER) {
            uint64_t n;
            if (!crm__rbuf_u64(&r, &n, "userdata length"))
                return r.err;
            if (n > crm__rbuf_left(&r)) {
                crm__rbuf_bad(&r, "userdata of %llu bytes exceeds the record",
                              (unsigned long long)n);
                return r.err;
            }
            rec.first = r.off;
            rec.count = (size_t)n;
            r.off += (size_t)n;
        } else {
            r.off -= 1;
            crm__rbuf_bad(&r, "unknown record type %u", rec.type);
            return r.err;
        }
        if (r.off != r.len) {
            crm__rbuf_bad(&r, "%zu trailing bytes in the record", r.len - r.off);
            return r.err;
        }
        if (apply) {
            if (recs)
                recs[nr] = rec;
            nr++;
            seq = rec.seq;
        }
        off = r.len;
    }
    *nrec = nr;
    *nev = ne;
    *ntag = nt;
    return CRM_OK;
}

CRM_API crm_status crm_fcap_replay(crm_fcap *f, const void *data, size_t len)
{
    if (!f || (!data && len))
        return crm__fail(CRM_EINVAL, "crm_fcap_replay: NULL argument");
    size_t nrec, nev, ntag;
    crm_status s = log_parse(f, data, len, NULL, &nrec, NULL, &nev, NULL, &ntag);
    if (s || nrec == 0)
        return s;
    lrec *recs = NULL;
    fnew *v = NULL;
    uint32_t *tagbuf = NULL;
    void *snap = NULL;
    size_t slen;
    crm_fcap *g = NULL;
    if ((s = crm__alloc_array((void **)&recs, nrec, sizeof *recs, 0, "fcap log")) ||
        (s = crm__alloc_array((void **)&v, nev + 1, sizeof *v, 0, "fcap log")) ||
        (s = crm__alloc_array((void **)&tagbuf, ntag + 1, sizeof *tagbuf, 0, "fcap log")) ||
        (s = log_parse(f, data, len, recs, &nrec, v, &nev, tagbuf, &ntag)))
        goto out;
    /* apply to a copy, then swap: f is untouched on failure */
    if ((s = crm_fcap_save(f, &snap, &slen)) || (s = crm_fcap_load(&g, snap, slen)))
        goto out;
    for (size_t i = 0; i < nrec && !s; i++)
        s = recs[i].type == FLOG_PRUNE ? fcap__prune(g, recs[i].now, NULL)
            : recs[i].type == FLOG_USER
                ? crm_fcap_set_userdata(g, (const uint8_t *)data + recs[i].first, recs[i].count)
                : fcap__commit(g, v + recs[i].first, recs[i].count, NULL);
    if (!s) {
        crm_fcap tmp = *f;
        *f = *g;
        f->logfd = tmp.logfd;
        f->logsync = tmp.logsync;
        tmp.logfd = -1;
        *g = tmp;
    }
out:
    crm_fcap_free(g);
    crm_bytes_free(snap);
    crm__free(recs);
    crm__free(v);
    crm__free(tagbuf);
    return s;
}

CRM_API crm_status crm_fcap_replay_file(crm_fcap *f, const char *path)
{
    if (!f || !path)
        return crm__fail(CRM_EINVAL, "crm_fcap_replay_file: NULL argument");
    uint8_t *p;
    size_t n;
    crm_status s = read_file(path, &p, &n);
    if (s)
        return s;
    s = crm_fcap_replay(f, p, n);
    crm__free(p);
    return s;
}
