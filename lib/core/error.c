/* Per-thread last-error message and status names. */
#include <stdarg.h>
#include <stdio.h>

#include "core/core.h"

#define CRM__ERRBUF 512

/* A fixed per-thread buffer, so ENOMEM can still be reported. */
static _Thread_local char last_error[CRM__ERRBUF];

crm_status crm__fail(crm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

CRM_API const char *crm_last_error(void)
{
    return last_error;
}

CRM_API const char *crm_status_str(crm_status status)
{
    static const char *const names[] = {
        [CRM_OK] = "CRM_OK: success",
        [CRM_EINVAL] = "CRM_EINVAL: invalid argument",
        [CRM_ENOMEM] = "CRM_ENOMEM: out of memory",
        [CRM_EVERSION] = "CRM_EVERSION: unsupported version",
        [CRM_EOVERFLOW] = "CRM_EOVERFLOW: size or sum overflow",
        [CRM_EDATA] = "CRM_EDATA: bad input record",
        [CRM_ESTATE] = "CRM_ESTATE: corrupted, truncated or wrong state",
        [CRM_ERULE] = "CRM_ERULE: malformed rule or expression",
    };
    if (status < 0 || (size_t)status >= CRM__ARRAY_LEN(names) || !names[status])
        return "unknown status";
    return names[status];
}
