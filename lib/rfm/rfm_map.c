/*
 * Segment maps (specs/segmentation.md, "Named RFM segments"): ordered boxes,
 * first match wins, "Others" for uncovered cells; built-in maps; lint.
 */
#include <stdlib.h>

#include "rfm/rfm_internal.h"

#define B(name, rl, rh, fl, fh, ml, mh) { name, rl, rh, fl, fh, ml, mh, { 0, 0 } }

static const crm_rfm_box rf10[] = {
    B("hibernating", 1, 2, 1, 2, 1, 5),
    B("at_risk", 1, 2, 3, 4, 1, 5),
    B("cant_lose", 1, 2, 5, 5, 1, 5),
    B("about_to_sleep", 3, 3, 1, 2, 1, 5),
    B("need_attention", 3, 3, 3, 3, 1, 5),
    B("loyal_customers", 3, 4, 4, 5, 1, 5),
    B("promising", 4, 4, 1, 1, 1, 5),
    B("new_customers", 5, 5, 1, 1, 1, 5),
    B("potential_loyalists", 4, 5, 2, 3, 1, 5),
    B("champions", 5, 5, 4, 5, 1, 5),
};

static const crm_rfm_box rfm11[] = {
    B("Champions", 4, 5, 4, 5, 4, 5),
    B("Loyal Customers", 2, 5, 3, 5, 3, 5),
    B("Potential Loyalist", 3, 5, 1, 3, 1, 3),
    B("New Customers", 4, 5, 1, 1, 1, 1),
    B("Promising", 3, 4, 1, 1, 1, 1),
    B("Need Attention", 2, 3, 2, 3, 2, 3),
    B("About To Sleep", 2, 3, 1, 2, 1, 2),
    B("At Risk", 1, 2, 2, 5, 2, 5),
    B("Can't Lose Them", 1, 1, 4, 5, 4, 5),
    B("Hibernating", 1, 2, 1, 2, 1, 2),
    B("Lost", 1, 2, 1, 2, 1, 2),
};

static const crm_rfm_box rfm10[] = {
    B("Champions", 5, 5, 5, 5, 5, 5),
    B("Potential Loyalist", 3, 5, 3, 5, 2, 5),
    B("Loyal Customers", 2, 4, 2, 4, 2, 4),
    B("Promising", 3, 4, 1, 3, 3, 5),
    B("New Customers", 4, 5, 1, 3, 1, 5),
    B("Can't Lose Them", 1, 2, 3, 4, 4, 5),
    B("At Risk", 1, 2, 2, 5, 4, 5),
    B("Need Attention", 1, 3, 3, 5, 3, 5),
    B("About To Sleep", 2, 3, 1, 3, 1, 4),
    B("Lost", 1, 1, 1, 5, 1, 5),
};

#undef B

static const struct {
    const char *name;
    const crm_rfm_box *boxes;
    size_t n;
} builtin[] = {
    { "rf10", rf10, CRM__ARRAY_LEN(rf10) },
    { "rfm11", rfm11, CRM__ARRAY_LEN(rfm11) },
    { "rfm10", rfm10, CRM__ARRAY_LEN(rfm10) },
};

static const char OTHERS[] = "Others";

CRM_API void crm_rfm_map_free(crm_rfm_map *map)
{
    if (!map)
        return;
    crm__free(map->boxes);
    crm__free(map->box_label);
    crm__free(map->names);
    crm__free(map->cells);
    crm__free(map->lint);
    crm__free(map);
}

static crm_status check_box(const crm_rfm_box *b, size_t i, uint32_t bins)
{
    if (!b->name)
        return crm__fail(CRM_EINVAL, "crm_rfm_map_new: boxes[%zu].name is NULL", i);
    size_t len = strlen(b->name);
    if (len == 0 || len > CRM_RFM_NAME_MAX)
        return crm__fail(CRM_EINVAL,
                         "crm_rfm_map_new: boxes[%zu].name has %zu bytes, not 1..%d", i,
                         len, CRM_RFM_NAME_MAX);
    if (!strcmp(b->name, OTHERS))
        return crm__fail(CRM_EINVAL,
                         "crm_rfm_map_new: boxes[%zu].name \"Others\" is reserved", i);
    const uint8_t lo[3] = { b->r_lo, b->f_lo, b->m_lo }, hi[3] = { b->r_hi, b->f_hi, b->m_hi };
    static const char dim[3] = { 'r', 'f', 'm' };
    for (int d = 0; d < 3; d++)
        if (lo[d] < 1 || hi[d] > bins || lo[d] > hi[d])
            return crm__fail(CRM_EINVAL,
                             "crm_rfm_map_new: boxes[%zu] (%s): %c bounds %u..%u not within 1..%u",
                             i, b->name, dim[d], lo[d], hi[d], bins);
    return CRM_OK;
}

static int box_has(const crm_rfm_box *b, unsigned r, unsigned f, unsigned m)
{
    return r >= b->r_lo && r <= b->r_hi && f >= b->f_lo && f <= b->f_hi && m >= b->m_lo &&
           m <= b->m_hi;
}

/* Label codes of boxes, cell table, Others count and lint. */
static void map_analyse(crm_rfm_map *p, uint8_t *covered)
{
    uint32_t N = p->bins;
    size_t ncell = (size_t)N * N * N;
    uint16_t others = (uint16_t)p->nnames;
    /* covered[name * ncell + cell]: some box of that name contains the cell */
    for (size_t c = 0; c < ncell; c++) {
        unsigned r = (unsigned)(c / (N * N)) + 1, f = (unsigned)(c / N % N) + 1,
                 m = (unsigned)(c % N) + 1;
        p->cells[c] = others;
        for (size_t k = 0; k < p->nbox; k++) {
            if (!box_has(&p->boxes[k], r, f, m))
                continue;
            if (p->cells[c] == others)
                p->cells[c] = p->box_label[k];
            covered[(size_t)p->box_label[k] * ncell + c] = 1;
        }
        p->others += p->cells[c] == others;
    }
    for (size_t l = 0; l < p->nnames; l++) {
        size_t cov = 0, won = 0;
        for (size_t c = 0; c < ncell; c++) {
            cov += covered[l * ncell + c];
            won += covered[l * ncell + c] && p->cells[c] == l;
        }
        p->lint[l] = won == 0 ? CRM_RFM_LINT_UNREACHABLE
                              : (won < cov ? CRM_RFM_LINT_SHADOWED : CRM_RFM_LINT_OK);
    }
}

CRM_API crm_status crm_rfm_map_new(crm_rfm_map **out, uint32_t bins,
                                   const crm_rfm_box *boxes, size_t n)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_map_new: out is NULL");
    *out = NULL;
    if (!boxes)
        return crm__fail(CRM_EINVAL, "crm_rfm_map_new: boxes is NULL");
    if (bins < CRM_RFM_BINS_MIN || bins > CRM_RFM_BINS_MAX)
        return crm__fail(CRM_EINVAL, "crm_rfm_map_new: bins = %u is outside %d..%d", bins,
                         CRM_RFM_BINS_MIN, CRM_RFM_BINS_MAX);
    if (n == 0 || n > CRM_RFM_BOXES_MAX)
        return crm__fail(CRM_EINVAL, "crm_rfm_map_new: n = %zu boxes is outside 1..%d", n,
                         CRM_RFM_BOXES_MAX);
    for (size_t i = 0; i < n; i++) {
        crm_status st = check_box(&boxes[i], i, bins);
        if (st)
            return st;
    }
    crm_rfm_map *p = crm__malloc(sizeof *p);
    if (!p)
        return crm__fail(CRM_ENOMEM, "crm_rfm_map_new: cannot allocate the map");
    memset(p, 0, sizeof *p);
    p->bins = bins;
    p->nbox = n;
    size_t ncell = (size_t)bins * bins * bins;
    uint8_t *covered = NULL;
    crm_status st = crm__alloc_array((void **)&p->boxes, n, sizeof *p->boxes, 0, "rfm map boxes");
    if (!st)
        st = crm__alloc_array((void **)&p->box_label, n, sizeof *p->box_label, 0,
                              "rfm map boxes");
    if (!st)
        st = crm__alloc_array((void **)&p->names, n + 1, sizeof *p->names, 1, "rfm map names");
    if (!st)
        st = crm__alloc_array((void **)&p->cells, ncell, sizeof *p->cells, 0, "rfm map cells");
    if (!st)
        st = crm__alloc_array((void **)&p->lint, n + 1, sizeof *p->lint, 1, "rfm map lint");
    if (!st)
        st = crm__alloc_array((void **)&covered, n * ncell, 1, 1, "rfm map lint cells");
    if (st) {
        crm_rfm_map_free(p);
        return st;
    }
    for (size_t i = 0; i < n; i++) {
        size_t l = 0;
        while (l < p->nnames && strcmp(p->names[l], boxes[i].name))
            l++;
        if (l == p->nnames)
            memcpy(p->names[p->nnames++], boxes[i].name, strlen(boxes[i].name) + 1);
        p->box_label[i] = (uint16_t)l;
        p->boxes[i] = boxes[i];
        p->boxes[i].name = p->names[l];
        memset(p->boxes[i]._pad, 0, sizeof p->boxes[i]._pad);
    }
    map_analyse(p, covered);
    crm__free(covered);
    p->nlabels = p->nnames;
    if (p->others)
        memcpy(p->names[p->nlabels++], OTHERS, sizeof OTHERS);
    *out = p;
    return CRM_OK;
}

CRM_API crm_status crm_rfm_map_builtin(crm_rfm_map **out, const char *name)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_map_builtin: out is NULL");
    *out = NULL;
    if (!name)
        return crm__fail(CRM_EINVAL, "crm_rfm_map_builtin: name is NULL");
    for (size_t i = 0; i < CRM__ARRAY_LEN(builtin); i++)
        if (!strcmp(name, builtin[i].name))
            return crm_rfm_map_new(out, 5, builtin[i].boxes, builtin[i].n);
    return crm__fail(CRM_EINVAL,
                     "crm_rfm_map_builtin: unknown map \"%.64s\" (rf10, rfm11, rfm10)", name);
}

crm_status crm__rfm_map_copy(crm_rfm_map **out, const crm_rfm_map *map)
{
    *out = NULL;
    return map ? crm_rfm_map_new(out, map->bins, map->boxes, map->nbox) : CRM_OK;
}

crm_status crm__rfm_map_default(crm_rfm_map **out, uint32_t bins)
{
    *out = NULL;
    return bins == 5 ? crm_rfm_map_builtin(out, "rf10") : CRM_OK;
}

CRM_API uint32_t crm_rfm_map_bins(const crm_rfm_map *map)
{
    return map ? map->bins : 0;
}

CRM_API size_t crm_rfm_map_labels(const crm_rfm_map *map)
{
    return map ? map->nlabels : 0;
}

CRM_API const char *crm_rfm_map_label(const crm_rfm_map *map, size_t code)
{
    return map && code < map->nlabels ? map->names[code] : NULL;
}

CRM_API const uint16_t *crm_rfm_map_cells(const crm_rfm_map *map)
{
    return map ? map->cells : NULL;
}

CRM_API crm_status crm_rfm_map_lint(const crm_rfm_map *map, uint8_t *status,
                                    size_t *others_cells)
{
    if (!map || !status || !others_cells)
        return crm__fail(CRM_EINVAL, "crm_rfm_map_lint: %s is NULL",
                         !map ? "map" : (!status ? "status" : "others_cells"));
    memcpy(status, map->lint, map->nlabels);
    *others_cells = map->others;
    return CRM_OK;
}
