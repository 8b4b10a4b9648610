"""ctypes mirrors of the public C structs (checked against the library's
``crm_struct_size()`` at import)."""
import ctypes


class Order(ctypes.Structure):
    """``crm_order``: one order or refund row (24 bytes, frozen)."""

    _fields_ = [("customer_id", ctypes.c_uint64),
                ("ts", ctypes.c_int64),
                ("amount", ctypes.c_int64)]


class ProfilesOptions(ctypes.Structure):
    """``crm_profiles_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint),
                ("mergeable", ctypes.c_uint32)]


class PopulationSummary(ctypes.Structure):
    """``crm_population_summary`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint),
                ("valid", ctypes.c_uint32),
                ("customers", ctypes.c_uint64),
                ("orders", ctypes.c_uint64),
                ("revenue", ctypes.c_int64),
                ("arpu", ctypes.c_double),
                ("mean_frequency", ctypes.c_double),
                ("average_check", ctypes.c_double),
                ("mean_lifetime", ctypes.c_double),
                ("repeaters", ctypes.c_uint64)]


class Allocator(ctypes.Structure):
    """``crm_allocator`` (only its size is checked; Python never sets hooks)."""

    _fields_ = [("malloc_fn", ctypes.c_void_p),
                ("realloc_fn", ctypes.c_void_p),
                ("free_fn", ctypes.c_void_p),
                ("ctx", ctypes.c_void_p)]


# enum crm_struct_id -> mirror
STRUCT_IDS = {1: Order, 2: Allocator, 3: ProfilesOptions, 4: PopulationSummary}
# Modules with their own mirrors register them under their marker, e.g.
# STRUCT_IDS.update({10: RfmOptions}); mirrors may live in the module's file.
# rfm + segment:
# lifecycle:
# clv:
class ClvSummaryOptions(ctypes.Structure):
    """``crm_clv_summary_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("unit", ctypes.c_uint32),
                ("merge_same_day", ctypes.c_uint32)]


class ClvFitOptions(ctypes.Structure):
    """``crm_clv_fit_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("unit", ctypes.c_uint32),
                ("starts", ctypes.c_uint32), ("max_iter", ctypes.c_uint32),
                ("gtol", ctypes.c_double)]


class ClvFitInfo(ctypes.Structure):
    """``crm_clv_fit_info`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("kind", ctypes.c_int32),
                ("unit", ctypes.c_uint32), ("nparams", ctypes.c_uint32),
                ("fitted", ctypes.c_uint32), ("iterations", ctypes.c_uint32),
                ("evaluations", ctypes.c_uint32), ("starts", ctypes.c_uint32),
                ("starts_converged", ctypes.c_uint32), ("_pad", ctypes.c_uint32),
                ("n", ctypes.c_uint64), ("loglik", ctypes.c_double),
                ("grad_max", ctypes.c_double), ("params", ctypes.c_double * 4),
                ("se", ctypes.c_double * 4)]


STRUCT_IDS.update({30: ClvSummaryOptions, 31: ClvFitOptions, 32: ClvFitInfo})
# fcap:
# attribution:
# partial:
