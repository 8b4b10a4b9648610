"""libcrm: CRM analytics core (profiles, RFM, lifecycle, CLV, frequency caps,
attribution) through ctypes. numpy is optional: with it, record arrays are
read in place and result columns are zero-copy read-only arrays."""
from . import _types
from ._arrays import dtype_of
from ._convert import from_day, to_day, to_minor_units
from ._lib import lib as _lib
from .errors import (CrmError, CrmOverflowError, DataError, InvalidArgument,
                     OutOfMemory, RuleError, StateError, VersionError)
from .profiles import Profiles, profiles
# Module imports, one block under each marker (extend __all__ there too).
# rfm:
from .rfm import (RfmResult, RfmThresholds, migration, migration_rates, register_migration,
                  rfm, rfm_lint, rfm_partial, rfm_shard, rfm_thresholds, RfmShard,
                  cell_summary)
# segment:
from .segment import Segment, SegmentStats, segment_stats, select
# lifecycle:
from .lifecycle import (CONTACT_DTYPE, STAGES, SCENARIOS, Cohorts, Lifecycle, cohort_retention,
                        cohorts, funnel, lifecycle)
# clv:
from .clv import (BGNBD, ClvCounts, ClvSummary, GammaGamma, ParetoNBD, clv, clv_counts,
                  clv_summary)
# fcap:
from .fcap import FrequencyCap, fcap_decide_csv
# attribution:
from .attribution import (CONVERSION_DTYPE, MODELS, TOUCH_DTYPE, MarkovResult, PathTable,
                          events_credit, events_credit_from_partials, events_credit_partial,
                          in_control, outcomes, uplift)
# partial (dask helpers are NOT imported here: libcrm.dask imports dask):
from . import partial  # also makes Profiles picklable (Dask ships tables)
from .partial import profiles_from_bytes, profiles_to_bytes

#: numpy structured dtype of ``crm_order`` (None without numpy).
ORDER_DTYPE = dtype_of(_types.Order)

__version__ = _lib.crm_version_string().decode()


def version():
    """Version string of the loaded C library."""
    return _lib.crm_version_string().decode()


def status_str(status):
    """Name and description of a C status code."""
    return _lib.crm_status_str(status).decode()


__all__ = ["ORDER_DTYPE", "CrmError", "CrmOverflowError", "DataError",
           "InvalidArgument", "OutOfMemory", "Profiles", "RuleError",
           "StateError", "VersionError", "from_day", "profiles",
           "status_str", "to_day", "to_minor_units", "version"]
# rfm:
__all__ += ["RfmResult", "RfmThresholds", "migration", "migration_rates",
            "register_migration", "rfm", "rfm_lint", "rfm_partial", "rfm_shard", "rfm_thresholds", "cell_summary",
            "RfmShard"]
# segment:
__all__ += ["Segment", "SegmentStats", "segment_stats", "select"]
# lifecycle:
__all__ += ["CONTACT_DTYPE", "Cohorts", "Lifecycle", "SCENARIOS", "STAGES", "cohort_retention",
            "cohorts", "funnel", "lifecycle"]
# clv:
__all__ += ["BGNBD", "ClvCounts", "ClvSummary", "GammaGamma", "ParetoNBD", "clv",
            "clv_counts", "clv_summary"]
# fcap:
__all__ += ["FrequencyCap", "fcap_decide_csv"]
# attribution:
__all__ += ["CONVERSION_DTYPE", "MODELS", "MarkovResult", "PathTable", "TOUCH_DTYPE",
            "events_credit", "events_credit_from_partials", "events_credit_partial",
            "in_control", "outcomes", "uplift"]
# partial:
__all__ += ["partial", "profiles_from_bytes", "profiles_to_bytes"]
