/* Internal layout of the rfm module's handles. Not installed. */
#ifndef CRM_RFM_INTERNAL_H
#define CRM_RFM_INTERNAL_H

#include "core/core.h"
#include "crm/rfm.h"

typedef char crm__rfm_name[CRM_RFM_NAME_MAX + 1];

struct crm_rfm_map {
    uint32_t bins;
    size_t nbox;
    crm_rfm_box *boxes;    /* names point into `names` */
    uint16_t *box_label;   /* label code of each box */
    size_t nnames;         /* distinct names */
    size_t nlabels;        /* nnames + 1 when some cell is "Others" */
    crm__rfm_name *names;  /* nlabels entries ("Others" last if present) */
    uint16_t *cells;       /* bins^3 label codes */
    size_t others;         /* cells falling to "Others" */
    uint8_t *lint;         /* CRM_RFM_LINT_* per label */
};

/* Deep copy of a map (NULL in, NULL out with CRM_OK). */
crm_status crm__rfm_map_copy(crm_rfm_map **out, const crm_rfm_map *map);
/* The default map for `bins`: rf10 when bins == 5, else *out = NULL. */
crm_status crm__rfm_map_default(crm_rfm_map **out, uint32_t bins);

struct crm_rfm_result {
    size_t n;
    uint32_t bins;
    int64_t asof;
    uint64_t *id;
    int32_t *rec;
    uint32_t *freq;
    int64_t *mon;
    uint8_t *score[3];
    uint16_t *seg;               /* NULL without segments */
    crm_rfm_map *map;            /* owned copy, NULL without segments */
    uint32_t rule[3];            /* crm_rfm_tie or CRM_RFM_RULE_CUTS */
    int64_t *acut[3];            /* ascending cuts on the key scale (value rules) */
    size_t nacut[3];
    int64_t *cuts[3];            /* public cuts (R on -recency_days) */
    size_t ncuts[3];
    crm_rfm_segment_stats *stats; /* one per label */
};

#endif
