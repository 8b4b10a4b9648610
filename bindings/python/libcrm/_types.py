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


class SegmentOptions(ctypes.Structure):
    """``crm_segment_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint),
                ("max_length", ctypes.c_uint32),
                ("max_depth", ctypes.c_uint32)]


STRUCT_IDS.update({15: SegmentOptions})
# lifecycle:
# clv:
# fcap:
# attribution:
# partial:
