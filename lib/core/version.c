/* Library version and public struct sizes. */
#include "core/core.h"
#include "crm/crm.h"

#ifndef CRM_PROJECT_VERSION
#error "CRM_PROJECT_VERSION must come from meson"
#endif

CRM_API unsigned crm_version_number(void)
{
    return CRM_VERSION_NUMBER;
}

CRM_API const char *crm_version_string(void)
{
    return CRM_PROJECT_VERSION;
}

CRM_API size_t crm_struct_size(int id)
{
    switch (id) {
    case CRM_STRUCT_ORDER:
        return sizeof(crm_order);
    case CRM_STRUCT_ALLOCATOR:
        return sizeof(crm_allocator);
    case CRM_STRUCT_PROFILES_OPTIONS:
        return sizeof(crm_profiles_options);
    case CRM_STRUCT_POPULATION_SUMMARY:
        return sizeof(crm_population_summary);
    /* rfm + segment: */
    /* lifecycle: */
    /* clv: */
    case CRM_STRUCT_CLV_SUMMARY_OPTIONS:
        return sizeof(crm_clv_summary_options);
    case CRM_STRUCT_CLV_FIT_OPTIONS:
        return sizeof(crm_clv_fit_options);
    case CRM_STRUCT_CLV_FIT_INFO:
        return sizeof(crm_clv_fit_info);
    /* fcap: */
    /* attribution: */
    /* partial: */
    default:
        return 0;
    }
}
