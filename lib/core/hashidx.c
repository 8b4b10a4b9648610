/* u64 key -> row index map (see core.h). */
#include "core/core.h"

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n && c < ((size_t)1 << (sizeof(size_t) * 8 - 2)))
        c <<= 1;
    return c;
}

crm_status crm__u64idx_init(crm__u64idx *m, size_t expected)
{
    size_t cap = pow2_at_least(expected > SIZE_MAX / 2 ? SIZE_MAX / 2 : expected * 2);
    void *b;
    crm_status s = crm__alloc_array(&b, cap, sizeof(uint32_t), 0, "hash index");
    if (s)
        return s;
    crm__advise_random(b, cap * sizeof(uint32_t)); /* before the first touch */
    memset(b, 0, cap * sizeof(uint32_t));
    m->bucket = b;
    m->mask = cap - 1;
    m->count = 0;
    return CRM_OK;
}

void crm__u64idx_free(crm__u64idx *m)
{
    crm__free(m->bucket);
    m->bucket = NULL;
    m->mask = 0;
    m->count = 0;
}

crm_status crm__u64idx_grow(crm__u64idx *m, const void *rows, size_t stride)
{
    size_t cap = (m->mask + 1) * 2;
    if (m->count >= UINT32_MAX - 1 || cap > (size_t)UINT32_MAX * 2)
        return crm__fail(CRM_EOVERFLOW, "hash index: more than %u keys", UINT32_MAX - 2);
    void *b;
    crm_status s = crm__alloc_array(&b, cap, sizeof(uint32_t), 0, "hash index");
    if (s)
        return s;
    crm__advise_random(b, cap * sizeof(uint32_t));
    memset(b, 0, cap * sizeof(uint32_t));
    crm__free(m->bucket);
    m->bucket = b;
    m->mask = cap - 1;
    for (size_t r = 0; r < m->count; r++) {
        size_t i = crm__u64idx_home(m, *crm__u64idx_key(rows, stride, r));
        while (m->bucket[i])
            i = (i + 1) & m->mask;
        m->bucket[i] = (uint32_t)(r + 1);
    }
    return CRM_OK;
}
