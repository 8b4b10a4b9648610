/* Allocator hooks, checked array allocation, versioned struct helpers. */
/* madvise(MADV_HUGEPAGE) is not in strict C11 + POSIX headers. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/core.h"

static void *default_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *default_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void default_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static crm_allocator hooks = { default_malloc, default_realloc, default_free, NULL };

CRM_API crm_status crm_set_allocator(const crm_allocator *allocator)
{
    if (allocator == NULL) {
        hooks = (crm_allocator){ default_malloc, default_realloc, default_free, NULL };
        return CRM_OK;
    }
    if (!allocator->malloc_fn || !allocator->realloc_fn || !allocator->free_fn)
        return crm__fail(CRM_EINVAL, "crm_set_allocator: every hook must be non-NULL");
    hooks = *allocator;
    return CRM_OK;
}

void *crm__malloc(size_t size)
{
    return hooks.malloc_fn(hooks.ctx, size ? size : 1);
}

void *crm__realloc(void *ptr, size_t size)
{
    return hooks.realloc_fn(hooks.ctx, ptr, size ? size : 1);
}

void crm__free(void *ptr)
{
    if (ptr)
        hooks.free_fn(hooks.ctx, ptr);
}

/* n * size in bytes, or a CRM_EOVERFLOW failure naming `what`. */
static crm_status checked_bytes(size_t n, size_t size, const char *what, size_t *bytes)
{
    if (!crm__mul_size(n, size, bytes) || *bytes > (size_t)PTRDIFF_MAX)
        return crm__fail(CRM_EOVERFLOW, "%s: %zu x %zu bytes overflows", what, n, size);
    return CRM_OK;
}

crm_status crm__alloc_array(void **out, size_t n, size_t size, int zero,
                            const char *what)
{
    size_t bytes;
    *out = NULL;
    crm_status s = checked_bytes(n, size, what, &bytes);
    if (s)
        return s;
    void *p = crm__malloc(bytes);
    if (!p)
        return crm__fail(CRM_ENOMEM, "%s: cannot allocate %zu bytes", what, bytes);
    if (zero)
        memset(p, 0, bytes);
    *out = p;
    return CRM_OK;
}

#define HUGE_PAGE ((uintptr_t)2 << 20)

void crm__advise_huge(void *ptr, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    /* the whole pages of the block, not only its aligned 2 MiB interior:
     * advice over part of a mapping splits it, and a split mapping can no
     * longer grow by mremap (realloc then copies it, faulting every 4 KiB
     * page of the copy). Below 2 MiB no huge page fits: no advice. */
    long page = sysconf(_SC_PAGESIZE);
    if (!ptr || page <= 0 || bytes < HUGE_PAGE)
        return;
    uintptr_t pg = (uintptr_t)page;
    uintptr_t lo = (uintptr_t)ptr & ~(pg - 1);
    uintptr_t hi = ((uintptr_t)ptr + bytes + pg - 1) & ~(pg - 1);
    (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)ptr;
    (void)bytes;
#endif
}

void crm__advise_discard(void *ptr, size_t bytes)
{
#ifdef MADV_DONTNEED
    long page = sysconf(_SC_PAGESIZE);
    if (!ptr || page <= 0)
        return;
    uintptr_t lo = ((uintptr_t)ptr + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t hi = ((uintptr_t)ptr + bytes) & ~((uintptr_t)page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
    (void)ptr;
    (void)bytes;
#endif
}

void crm__advise_random(void *ptr, size_t bytes)
{
    if (bytes >= 2 * HUGE_PAGE)
        crm__advise_huge(ptr, bytes);
}

crm_status crm__realloc_array(void **ptr, size_t n, size_t size, const char *what)
{
    size_t bytes;
    crm_status s = checked_bytes(n, size, what, &bytes);
    if (s)
        return s;
    void *p = crm__realloc(*ptr, bytes);
    if (!p)
        return crm__fail(CRM_ENOMEM, "%s: cannot allocate %zu bytes", what, bytes);
    *ptr = p;
    return CRM_OK;
}

crm_status crm__check_version(unsigned version, unsigned max_version,
                              const char *type_name)
{
    if (version == 0 || version > max_version)
        return crm__fail(CRM_EVERSION, "%s.version %u not in 1..%u", type_name,
                         version, max_version);
    return CRM_OK;
}

crm_status crm__options_init(void *opt, unsigned version, const void *defaults,
                             const size_t *sizes, unsigned max_version,
                             const char *type_name)
{
    if (!opt)
        return crm__fail(CRM_EINVAL, "%s_init: opt is NULL", type_name);
    crm_status s = crm__check_version(version, max_version, type_name);
    if (s)
        return s;
    if (defaults)
        memcpy(opt, defaults, sizes[version]);
    else
        memset(opt, 0, sizes[version]);
    *(unsigned *)opt = version;
    return CRM_OK;
}

crm_status crm__options_resolve(void *out, const void *in, const size_t *sizes,
                                unsigned max_version, const char *type_name)
{
    if (in == NULL)
        return CRM_OK;
    unsigned v = *(const unsigned *)in;
    crm_status s = crm__check_version(v, max_version, type_name);
    if (s)
        return s;
    memcpy(out, in, sizes[v]);
    *(unsigned *)out = max_version;
    return CRM_OK;
}

crm_status crm__versioned_out(void *out, const void *full, const size_t *sizes,
                              unsigned max_version, const char *type_name)
{
    unsigned v = *(const unsigned *)out;
    crm_status s = crm__check_version(v, max_version, type_name);
    if (s)
        return s;
    memcpy(out, full, sizes[v]);
    *(unsigned *)out = v;
    return CRM_OK;
}
