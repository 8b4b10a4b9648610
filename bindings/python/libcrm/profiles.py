"""Per-customer purchase profiles (``crm/profiles.h``)."""
import ctypes
import math

from . import _types
from ._arrays import as_records, column
from ._convert import to_day
from ._lib import P, SZ, lib

_COLUMNS = (  # name, ctype
    ("customer_id", ctypes.c_uint64), ("first_day", ctypes.c_int32),
    ("last_day", ctypes.c_int32), ("recency_days", ctypes.c_int32),
    ("frequency", ctypes.c_uint32), ("monetary", ctypes.c_int64),
    ("tenure_days", ctypes.c_int32), ("gap_avg", ctypes.c_double),
    ("purchase_days", ctypes.c_uint32), ("prev_day", ctypes.c_int32),
    ("last_day_orders", ctypes.c_uint32), ("second_day", ctypes.c_int32),
)

_SUMMARY_RATIOS = (("arpu", 1), ("mean_frequency", 2), ("average_check", 4),
                   ("mean_lifetime", 8))


class Profiles:
    """An immutable profile table: one row per customer with a non-refund
    order on or before ``asof``, in ascending ``customer_id`` order.

    Columns are attributes (read-only numpy arrays sharing the C table's
    memory, or lists without numpy): ``customer_id, first_day, last_day,
    recency_days, frequency, monetary, tenure_days, gap_avg (NaN / None when
    frequency < 2), purchase_days, prev_day, last_day_orders, second_day``.
    """

    def __init__(self, handle):
        self._h = ctypes.c_void_p(handle)
        n = lib.crm_profiles_count(self._h)
        for name, ctype in _COLUMNS:
            addr = getattr(lib, f"crm_profiles_{name}")(self._h)
            setattr(self, name, column(self, addr, ctype, n, nan_to_none=(name == "gap_avg")))

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_profiles_free(h)
            self._h = None

    def __len__(self):
        return lib.crm_profiles_count(self._h)

    @property
    def asof(self):
        """The snapshot day number."""
        return lib.crm_profiles_asof(self._h)

    @property
    def mergeable(self):
        """True when built with ``mergeable=True`` (or merged)."""
        return bool(lib.crm_profiles_is_mergeable(self._h))

    def summary(self):
        """Population summary as a dict; ratios with a zero denominator are None."""
        s = _types.PopulationSummary(version=1)
        lib.crm_profiles_summary(self._h, ctypes.byref(s))
        out = {k: getattr(s, k) for k in ("customers", "orders", "revenue", "repeaters")}
        for name, bit in _SUMMARY_RATIOS:
            out[name] = getattr(s, name) if s.valid & bit else None
        return out

    def find(self, customer_id):
        """Row index of a customer; raises InvalidArgument when absent."""
        row = SZ()
        lib.crm_profiles_find(self._h, customer_id, ctypes.byref(row))
        return row.value

    def merge(self, other):
        """Exact table of the union of both tables' orders (both mergeable)."""
        out = P()
        lib.crm_profiles_merge(ctypes.byref(out), self._h, other._h)
        return Profiles(out.value)

    def __repr__(self):
        return f"<libcrm.Profiles customers={len(self)} asof={self.asof}>"


def profiles(orders, asof, mergeable=False):
    """Build the profile table of ``orders`` as of day ``asof``.

    ``orders``: a numpy array of ``ORDER_DTYPE`` (used in place) or any
    sequence of ``(customer_id, ts, amount)`` tuples (ts in Unix seconds UTC,
    amount in minor units, negative = refund). ``asof``: a ``datetime.date``,
    an ISO ``'YYYY-MM-DD'`` string or a day number.
    """
    addr, n, keep = as_records(orders, _types.Order)
    opt = _types.ProfilesOptions()
    lib.crm_profiles_options_init(ctypes.byref(opt), 1)
    opt.mergeable = 1 if mergeable else 0
    out = P()
    lib.crm_profiles_build(ctypes.byref(out), addr, n, to_day(asof), ctypes.byref(opt))
    del keep
    return Profiles(out.value)


def is_null(value):
    """True for the null of a float column (NaN in numpy, None in lists)."""
    return value is None or (isinstance(value, float) and math.isnan(value))
