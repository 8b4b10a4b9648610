/**
 * @file crm.h
 * @brief Umbrella header: includes every public libcrm header.
 */
#ifndef CRM_CRM_H
#define CRM_CRM_H

#include "common.h"
#include "profiles.h"
/* Module headers, one line under each module's marker. */
/* rfm: */
#include "rfm.h"
/* segment: */
#include "segment.h"
/* lifecycle: */
#include "lifecycle.h"
/* clv: */
#include "clv.h"
/* fcap: */
#include "fcap.h"
/* attribution: */
#include "attribution.h"
/* partial: */
#include "partial.h"

#endif /* CRM_CRM_H */
