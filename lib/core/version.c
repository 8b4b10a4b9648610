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
    case CRM_STRUCT_RFM_OPTIONS:
        return sizeof(crm_rfm_options);
    case CRM_STRUCT_RFM_BOX:
        return sizeof(crm_rfm_box);
    case CRM_STRUCT_RFM_EXPLANATION:
        return sizeof(crm_rfm_explanation);
    case CRM_STRUCT_RFM_SEGMENT_STATS:
        return sizeof(crm_rfm_segment_stats);
    case CRM_STRUCT_SEGMENT_OPTIONS:
        return sizeof(crm_segment_options);
    /* lifecycle: */
    case CRM_STRUCT_CONTACT:
        return sizeof(crm_contact);
    case CRM_STRUCT_LIFECYCLE_OPTIONS:
        return sizeof(crm_lifecycle_options);
    case CRM_STRUCT_LIFECYCLE_EXPLANATION:
        return sizeof(crm_lifecycle_explanation);
    case CRM_STRUCT_LIFECYCLE_FUNNEL:
        return sizeof(crm_lifecycle_funnel);
    case CRM_STRUCT_LIFECYCLE_MIGRATION:
        return sizeof(crm_lifecycle_migration);
    /* clv: */
    case CRM_STRUCT_CLV_SUMMARY_OPTIONS:
        return sizeof(crm_clv_summary_options);
    case CRM_STRUCT_CLV_FIT_OPTIONS:
        return sizeof(crm_clv_fit_options);
    case CRM_STRUCT_CLV_FIT_INFO:
        return sizeof(crm_clv_fit_info);
    /* fcap: */
    case CRM_STRUCT_FCAP_CAP:
        return sizeof(crm_fcap_cap);
    case CRM_STRUCT_FCAP_QUIET:
        return sizeof(crm_fcap_quiet);
    case CRM_STRUCT_FCAP_RULES:
        return sizeof(crm_fcap_rules);
    case CRM_STRUCT_FCAP_EVENT:
        return sizeof(crm_fcap_event);
    case CRM_STRUCT_FCAP_CANDIDATE:
        return sizeof(crm_fcap_candidate);
    case CRM_STRUCT_FCAP_DECISION:
        return sizeof(crm_fcap_decision);
    /* attribution: */
    case CRM_STRUCT_TOUCH:
        return sizeof(crm_touch);
    case CRM_STRUCT_CONVERSION:
        return sizeof(crm_conversion);
    case CRM_STRUCT_ATTRIBUTION_OPTIONS:
        return sizeof(crm_attribution_options);
    case CRM_STRUCT_ATTRIBUTION_JOURNEY_OPTIONS:
        return sizeof(crm_attribution_journey_options);
    case CRM_STRUCT_ATTRIBUTION_UPLIFT_RESULT:
        return sizeof(crm_attribution_uplift_result);
    /* partial: */
    default:
        return 0;
    }
}
