"""Loading libcrm and declaring the C prototypes.

Lookup order: ``$LIBCRM_LIBRARY`` (a full path), ``libcrm.so.1`` next to this
package, then the system loader (``find_library('crm')``, ``libcrm.so.1``).
"""
import ctypes
import ctypes.util
import os

from . import _types
from .errors import error_for


class c_status(ctypes.c_int):
    """Return type of crm_status functions. A distinct subclass (ctypes hands
    it to errcheck as an object, not an int) so that only these get the
    status check: a plain ``ctypes.c_int`` result such as
    crm_profiles_is_mergeable's 1 must not be taken for an error code."""


P = ctypes.c_void_p          # opaque handles and raw arrays
SZ = ctypes.c_size_t


def _load():
    tried = []
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.environ.get("LIBCRM_LIBRARY"),
                 os.path.join(here, "libcrm.so.1"),
                 ctypes.util.find_library("crm"),
                 "libcrm.so.1"):
        if not cand:
            continue
        try:
            return ctypes.CDLL(cand)
        except OSError as exc:
            tried.append(f"{cand}: {exc}")
    raise ImportError("libcrm shared library not found; set LIBCRM_LIBRARY to "
                      "its full path. Tried:\n  " + "\n  ".join(tried))


lib = _load()


def _check(status, func, args):
    status = status.value
    if status:
        msg = lib.crm_last_error().decode("utf-8", "replace")
        raise error_for(status)(f"{func.__name__}: {msg}")
    return args


def _declare(name, restype, argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes
    if restype is c_status:
        fn.errcheck = _check
    return fn


def declare_all(table):
    """Declare ``{name: (restype, [argtypes])}``; used by every module."""
    for name, (restype, argtypes) in table.items():
        _declare(name, restype, argtypes)


declare_all({
    "crm_status_str": (ctypes.c_char_p, [ctypes.c_int]),
    "crm_last_error": (ctypes.c_char_p, []),
    "crm_set_allocator": (c_status, [P]),
    "crm_version_number": (ctypes.c_uint, []),
    "crm_version_string": (ctypes.c_char_p, []),
    "crm_struct_size": (SZ, [ctypes.c_int]),
    "crm_bytes_free": (None, [P]),
    # profiles
    "crm_profiles_options_init": (c_status, [ctypes.POINTER(_types.ProfilesOptions), ctypes.c_uint]),
    "crm_profiles_build": (c_status, [ctypes.POINTER(P), P, SZ, ctypes.c_int64,
                                      ctypes.POINTER(_types.ProfilesOptions)]),
    "crm_profiles_merge": (c_status, [ctypes.POINTER(P), P, P]),
    "crm_profiles_free": (None, [P]),
    "crm_profiles_count": (SZ, [P]),
    "crm_profiles_asof": (ctypes.c_int64, [P]),
    "crm_profiles_is_mergeable": (ctypes.c_int, [P]),
    "crm_profiles_summary": (c_status, [P, ctypes.POINTER(_types.PopulationSummary)]),
    "crm_profiles_find": (c_status, [P, ctypes.c_uint64, ctypes.POINTER(SZ)]),
    **{f"crm_profiles_{col}": (P, [P]) for col in (
        "customer_id", "first_day", "last_day", "recency_days", "frequency",
        "monetary", "tenure_days", "gap_avg", "purchase_days", "prev_day",
        "last_day_orders", "second_day")},
})


def _check_abi():
    major = lib.crm_version_number() // 10000
    if major != 1:
        raise ImportError(f"libcrm major version {major} loaded; this binding needs 1")
    for sid, mirror in _types.STRUCT_IDS.items():
        size = lib.crm_struct_size(sid)
        if size != ctypes.sizeof(mirror):
            raise ImportError(f"libcrm struct {mirror.__name__}: library size {size} "
                              f"!= binding size {ctypes.sizeof(mirror)}")


_check_abi()
