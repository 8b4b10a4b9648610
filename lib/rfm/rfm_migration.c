/*
 * Segment migration between two snapshots (specs/segmentation.md,
 * "Migration between two snapshots"): population = customers at `to`,
 * rows = segment at `from` plus "(none)", columns = segment at `to`.
 */
#include <math.h>

#include "rfm/rfm_internal.h"

struct crm_rfm_migration {
    size_t rows, cols;
    crm__rfm_name *labels; /* cols labels, then "(none)" */
    uint64_t *counts;
    double *rates;
};

static const char NONE_LABEL[] = "(none)";

CRM_API void crm_rfm_migration_free(crm_rfm_migration *mig)
{
    if (!mig)
        return;
    crm__free(mig->labels);
    crm__free(mig->counts);
    crm__free(mig->rates);
    crm__free(mig);
}

static crm_status same_labels(const crm_rfm_map *a, const crm_rfm_map *b)
{
    if (a->nlabels != b->nlabels)
        return crm__fail(CRM_EINVAL,
                         "crm_rfm_migration_new: from has %zu segment labels, to has %zu",
                         a->nlabels, b->nlabels);
    for (size_t l = 0; l < a->nlabels; l++)
        if (strcmp(a->names[l], b->names[l]))
            return crm__fail(CRM_EINVAL,
                             "crm_rfm_migration_new: segment label %zu differs (\"%s\" vs "
                             "\"%s\")",
                             l, a->names[l], b->names[l]);
    return CRM_OK;
}

static void count_cells(crm_rfm_migration *m, const crm_rfm_result *from,
                        const crm_rfm_result *to)
{
    size_t none = m->rows - 1, i = 0;
    for (size_t t = 0; t < to->n; t++) {
        uint64_t id = to->id[t];
        while (i < from->n && from->id[i] < id)
            i++;
        size_t row = (i < from->n && from->id[i] == id) ? from->seg[i] : none;
        m->counts[row * m->cols + to->seg[t]]++;
    }
    for (size_t r = 0; r < m->rows; r++) {
        uint64_t total = 0;
        for (size_t c = 0; c < m->cols; c++)
            total += m->counts[r * m->cols + c];
        for (size_t c = 0; c < m->cols; c++)
            m->rates[r * m->cols + c] =
                total ? (double)m->counts[r * m->cols + c] / (double)total : NAN;
    }
}

CRM_API crm_status crm_rfm_migration_new(crm_rfm_migration **out, const crm_rfm_result *from,
                                         const crm_rfm_result *to)
{
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_rfm_migration_new: out is NULL");
    *out = NULL;
    if (!from || !to)
        return crm__fail(CRM_EINVAL, "crm_rfm_migration_new: %s is NULL", from ? "to" : "from");
    if (!from->map || !to->map)
        return crm__fail(CRM_EINVAL, "crm_rfm_migration_new: result %s has no segments",
                         from->map ? "to" : "from");
    if (from->asof >= 0 && to->asof >= 0 && to->asof < from->asof)
        return crm__fail(CRM_EINVAL,
                         "crm_rfm_migration_new: to (day %lld) is before from (day %lld)",
                         (long long)to->asof, (long long)from->asof);
    crm_status st = same_labels(from->map, to->map);
    if (st)
        return st;
    crm_rfm_migration *m = crm__malloc(sizeof *m);
    if (!m)
        return crm__fail(CRM_ENOMEM, "crm_rfm_migration_new: cannot allocate the matrix");
    memset(m, 0, sizeof *m);
    m->cols = to->map->nlabels;
    m->rows = m->cols + 1;
    size_t cells = m->rows * m->cols;
    st = crm__alloc_array((void **)&m->labels, m->rows, sizeof *m->labels, 0,
                          "rfm migration labels");
    if (!st)
        st = crm__alloc_array((void **)&m->counts, cells, sizeof *m->counts, 1,
                              "rfm migration counts");
    if (!st)
        st = crm__alloc_array((void **)&m->rates, cells, sizeof *m->rates, 0,
                              "rfm migration rates");
    if (st) {
        crm_rfm_migration_free(m);
        return st;
    }
    memcpy(m->labels, to->map->names, m->cols * sizeof *m->labels);
    memcpy(m->labels[m->cols], NONE_LABEL, sizeof NONE_LABEL);
    count_cells(m, from, to);
    *out = m;
    return CRM_OK;
}

CRM_API size_t crm_rfm_migration_rows(const crm_rfm_migration *mig)
{
    return mig ? mig->rows : 0;
}

CRM_API size_t crm_rfm_migration_cols(const crm_rfm_migration *mig)
{
    return mig ? mig->cols : 0;
}

CRM_API const char *crm_rfm_migration_row_label(const crm_rfm_migration *mig, size_t i)
{
    return mig && i < mig->rows ? mig->labels[i] : NULL;
}

CRM_API const char *crm_rfm_migration_col_label(const crm_rfm_migration *mig, size_t j)
{
    return mig && j < mig->cols ? mig->labels[j] : NULL;
}

CRM_API const uint64_t *crm_rfm_migration_counts(const crm_rfm_migration *mig)
{
    return mig ? mig->counts : NULL;
}

CRM_API const double *crm_rfm_migration_rates(const crm_rfm_migration *mig)
{
    return mig ? mig->rates : NULL;
}
