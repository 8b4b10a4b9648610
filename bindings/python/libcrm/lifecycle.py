"""Lifecycle stages, scenarios, funnel, stage migration and cohort retention
(``crm/lifecycle.h``; semantics: specs/segmentation.md, "Lifecycle stages").

Every aggregate also has a partial form for scale-out: ``*_partial(...)``
returns serialised bytes built from one partition, ``*_from_partials(blobs)``
merges them into the result of the whole. Funnel and migration partials add
up over customer-disjoint partitions; cohort partials merge exactly however
the orders are partitioned.
"""
import ctypes
import datetime as _dt

from . import _types
from ._arrays import as_records, column
from ._convert import to_day
from ._lib import P, SZ, c_status, declare_all, lib
from .profiles import Profiles, profiles as _build_profiles

_C = ctypes
_PF = _C.POINTER(_types.LifecycleFunnel)
_PM = _C.POINTER(_types.LifecycleMigration)

declare_all({
    "crm_lifecycle_options_init": (c_status, [_C.POINTER(_types.LifecycleOptions), _C.c_uint]),
    "crm_lifecycle_stage_name": (_C.c_char_p, [_C.c_int]),
    "crm_lifecycle_scenario_name": (_C.c_char_p, [_C.c_int]),
    "crm_lifecycle_rule_text": (_C.c_char_p, [_C.c_int]),
    "crm_lifecycle_build": (c_status, [_C.POINTER(P), P, P, SZ, P,
                                       _C.POINTER(_types.LifecycleOptions)]),
    "crm_lifecycle_free": (None, [P]),
    "crm_lifecycle_count": (SZ, [P]),
    "crm_lifecycle_asof": (_C.c_int64, [P]),
    "crm_lifecycle_customer_id": (P, [P]),
    "crm_lifecycle_stage": (P, [P]),
    "crm_lifecycle_find": (c_status, [P, _C.c_uint64, _C.POINTER(SZ)]),
    "crm_lifecycle_explain": (c_status, [P, _C.c_uint64,
                                         _C.POINTER(_types.LifecycleExplanation)]),
    "crm_lifecycle_get_funnel": (c_status, [P, _PF]),
    "crm_lifecycle_funnel_merge": (c_status, [_PF, _PF, _PF]),
    "crm_lifecycle_funnel_serialize": (c_status, [_PF, _C.POINTER(P), _C.POINTER(SZ)]),
    "crm_lifecycle_funnel_load": (c_status, [_C.c_char_p, SZ, _PF]),
    "crm_lifecycle_get_migration": (c_status, [P, P, _PM]),
    "crm_lifecycle_migration_merge": (c_status, [_PM, _PM, _PM]),
    "crm_lifecycle_migration_serialize": (c_status, [_PM, _C.POINTER(P), _C.POINTER(SZ)]),
    "crm_lifecycle_migration_load": (c_status, [_C.c_char_p, SZ, _PM]),
    "crm_lifecycle_cohorts_build": (c_status, [_C.POINTER(P), P, SZ, _C.c_int64]),
    "crm_lifecycle_cohorts_merge": (c_status, [_C.POINTER(P), P, P]),
    "crm_lifecycle_cohorts_serialize": (c_status, [P, _C.POINTER(P), _C.POINTER(SZ)]),
    "crm_lifecycle_cohorts_load": (c_status, [_C.POINTER(P), _C.c_char_p, SZ]),
    "crm_lifecycle_cohorts_free": (None, [P]),
    "crm_lifecycle_cohorts_asof": (_C.c_int64, [P]),
    "crm_lifecycle_cohorts_rows": (SZ, [P]),
    "crm_lifecycle_cohorts_columns": (SZ, [P]),
    "crm_lifecycle_cohorts_month": (P, [P]),
    "crm_lifecycle_cohorts_size": (P, [P]),
    "crm_lifecycle_cohorts_active": (P, [P]),
    "crm_lifecycle_cohorts_share": (P, [P]),
})

#: Stage names in the order of the spec's stage table (= C stage codes).
STAGES = tuple(lib.crm_lifecycle_stage_name(s).decode() for s in range(8))
#: Recommended scenario of each stage.
SCENARIOS = {s: lib.crm_lifecycle_scenario_name(i).decode() for i, s in enumerate(STAGES)}
#: Row label of customers with neither a profile nor a lead at ``from``.
NONE_ROW = "(none)"

try:
    import numpy as _np
except ImportError:  # numpy is optional
    _np = None

#: numpy structured dtype of ``crm_contact`` (None without numpy).
CONTACT_DTYPE = None if _np is None else _np.dtype(_types.Contact)

_PARAMS = ("new_days", "loyal_f", "at_risk_k", "churn_k", "min_gap_days", "p_at_risk",
           "p_churned")


def _options(new_days=90, loyal_f=4, at_risk_k=2, churn_k=4, min_gap_days=7, p_at_risk=0.5,
             p_churned=0.2):
    opt = _types.LifecycleOptions()
    lib.crm_lifecycle_options_init(_C.byref(opt), 1)
    for name, value in (("new_days", new_days), ("loyal_f", loyal_f),
                        ("min_gap_days", min_gap_days)):
        if isinstance(value, bool) or int(value) != value or not 0 <= value < 2**32:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        setattr(opt, name, int(value))
    opt.at_risk_k, opt.churn_k = float(at_risk_k), float(churn_k)
    opt.p_at_risk, opt.p_churned = float(p_at_risk), float(p_churned)
    return opt


def _ts(value):
    """Unix seconds of a contact's creation: int seconds, date (its midnight
    UTC), datetime or ISO date string."""
    if isinstance(value, bool):
        raise TypeError("created must be Unix seconds, a date, a datetime or an ISO string")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return int(value.timestamp())
    if isinstance(value, (_dt.date, str)):
        return to_day(value) * 86400
    return int(value)


def _contacts(contacts):
    if contacts is None:
        return None, 0, None
    if hasattr(contacts, "__array_interface__") and _np is not None:
        return as_records(contacts, _types.Contact)
    rows = [(int(cid), _ts(created)) for cid, created in contacts]
    return as_records(rows, _types.Contact)


def _profiles_of(orders, asof):
    if isinstance(orders, Profiles):
        if asof is not None and to_day(asof) != orders.asof:
            raise ValueError(f"asof {asof!r} differs from the profile table's day {orders.asof}")
        return orders
    if asof is None:
        raise TypeError("asof is required with orders")
    return _build_profiles(orders, asof)


def _p_alive(p_alive, prof):
    """(address, keepalive) of a double column aligned with the profile rows."""
    if p_alive is None:
        return None, None
    n = len(prof)
    if hasattr(p_alive, "index") and hasattr(p_alive, "items") and hasattr(p_alive, "to_dict"):
        p_alive = {int(k): v for k, v in p_alive.items()}  # pandas Series keyed by customer id
    if isinstance(p_alive, dict):
        values = []
        for cid, f in zip(prof.customer_id, prof.frequency):
            if int(cid) in p_alive:
                values.append(float(p_alive[int(cid)]))
            elif f >= 2:
                raise ValueError(f"p_alive has no value for customer {int(cid)} "
                                 "(frequency >= 2)")
            else:
                values.append(1.0)  # not used: P(alive) applies to frequency >= 2 only
        p_alive = values
    if hasattr(p_alive, "__array_interface__") and _np is not None:
        arr = _np.ascontiguousarray(p_alive, dtype=_np.float64)
    else:
        arr = (_C.c_double * len(p_alive))(*[float(v) for v in p_alive])
    if len(arr) != n:
        raise ValueError(f"p_alive has {len(arr)} values; the profile table has {n} customers "
                         "(align it with profiles(...).customer_id, or pass a dict)")
    addr = arr.__array_interface__["data"][0] if _np is not None and isinstance(arr, _np.ndarray) \
        else _C.addressof(arr)
    return addr, arr


def _explanation_dict(e):
    def num(v):
        return None if v != v else v

    def day(v):
        return None if v < 0 else v

    return {
        "customer_id": e.customer_id, "stage": STAGES[e.stage],
        "scenario": SCENARIOS[STAGES[e.stage]], "rule": lib.crm_lifecycle_rule_text(e.rule).decode(),
        "rule_code": e.rule, "asof": e.asof, "created_day": day(e.created_day),
        "frequency": e.frequency, "recency_days": day(e.recency_days),
        "first_day": day(e.first_day), "last_day": day(e.last_day), "prev_day": day(e.prev_day),
        "new_days": e.new_days, "loyal_f": e.loyal_f, "min_gap_days": e.min_gap_days,
        "gap_avg": num(e.gap_avg), "gap_eff": num(e.gap_eff),
        "at_risk_days": num(e.at_risk_days), "churn_days": num(e.churn_days),
        "p_alive": num(e.p_alive), "p_at_risk": num(e.p_at_risk), "p_churned": num(e.p_churned),
        "comeback_gap": day(e.comeback_gap), "orders_before": e.orders_before,
        "comeback_threshold": num(e.comeback_threshold),
    }


def _funnel_dict(f):
    return {
        "asof": f.asof,
        "stages": list(STAGES),
        "scenario": dict(SCENARIOS),
        "customers": {s: f.customers[i] for i, s in enumerate(STAGES)},
        "revenue": {s: f.revenue[i] for i, s in enumerate(STAGES)},
        "conversion_base": f.conversion_base,
        "conversion_hits": f.conversion_hits,
        "second_purchase_conversion": f.second_purchase_conversion if f.valid & 1 else None,
    }


def _migration_dict(m):
    rows = list(STAGES) + [NONE_ROW]
    return {
        "from": m.from_asof, "to": m.to_asof, "rows": rows, "columns": list(STAGES),
        "counts": [[m.counts[r][c] for c in range(8)] for r in range(9)],
        "rates": [[m.rates[r][c] if m.valid_rows >> r & 1 else None for c in range(8)]
                  for r in range(9)],
    }


def _to_bytes(fn, obj):
    buf, n = P(), SZ()
    fn(obj, _C.byref(buf), _C.byref(n))
    try:
        return _C.string_at(buf.value, n.value)
    finally:
        lib.crm_bytes_free(buf)


class Lifecycle:
    """Stage of every customer with a profile and of every lead, ascending
    ``customer_id``. ``customer_id`` and ``stage_code`` are columns
    (read-only numpy arrays, or lists); ``stage`` and ``scenario`` are lists
    of names."""

    def __init__(self, handle):
        self._h = P(handle)
        n = lib.crm_lifecycle_count(self._h)
        self.customer_id = column(self, lib.crm_lifecycle_customer_id(self._h), _C.c_uint64, n)
        self.stage_code = column(self, lib.crm_lifecycle_stage(self._h), _C.c_uint8, n)
        self._stage = None

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_lifecycle_free(h)
            self._h = None

    def __len__(self):
        return lib.crm_lifecycle_count(self._h)

    @property
    def asof(self):
        """The snapshot day number."""
        return lib.crm_lifecycle_asof(self._h)

    @property
    def stage(self):
        """Stage name per row."""
        if self._stage is None:
            self._stage = [STAGES[c] for c in self.stage_code]
        return self._stage

    @property
    def scenario(self):
        """Recommended scenario per row."""
        return [SCENARIOS[s] for s in self.stage]

    def stage_of(self, customer_id):
        """Stage name of one customer; raises InvalidArgument when absent."""
        row = SZ()
        lib.crm_lifecycle_find(self._h, customer_id, _C.byref(row))
        return STAGES[self.stage_code[row.value]]

    def explain(self, customer_id):
        """Why a customer has its stage: a dict with the stage, scenario, the
        rule that fired (``rule``, text with parameter names), the inputs
        (frequency, recency_days, first/last/prev day, gap_avg) and the
        thresholds that applied (gap_eff, at_risk_days, churn_days, P(alive)
        thresholds, comeback_gap vs comeback_threshold). Values that do not
        apply are None."""
        e = _types.LifecycleExplanation(version=1)
        lib.crm_lifecycle_explain(self._h, customer_id, _C.byref(e))
        return _explanation_dict(e)

    def _funnel(self):
        f = _types.LifecycleFunnel(version=1)
        lib.crm_lifecycle_get_funnel(self._h, _C.byref(f))
        return f

    def funnel(self):
        """Funnel dict (see :func:`funnel`)."""
        return _funnel_dict(self._funnel())

    def funnel_partial(self):
        """Serialised funnel counts of this (customer-disjoint) partition."""
        f = self._funnel()
        return _to_bytes(lib.crm_lifecycle_funnel_serialize, _C.byref(f))

    def migration_from(self, earlier):
        """Migration dict from the stage table ``earlier`` to this one."""
        return _migration_dict(self._migration(earlier))

    def _migration(self, earlier):
        m = _types.LifecycleMigration(version=1)
        lib.crm_lifecycle_get_migration(earlier._h, self._h, _C.byref(m))
        return m

    def __repr__(self):
        return f"<libcrm.Lifecycle customers={len(self)} asof={self.asof}>"


def lifecycle(orders, asof=None, contacts=None, new_days=90, loyal_f=4, at_risk_k=2, churn_k=4,
              min_gap_days=7, p_alive=None, p_at_risk=0.5, p_churned=0.2):
    """Lifecycle stage of every customer as of day ``asof``.

    ``orders``: as for :func:`libcrm.profiles` (numpy ``ORDER_DTYPE`` array or
    ``(customer_id, ts, amount)`` tuples), or an already built
    :class:`libcrm.Profiles` (then ``asof`` may be omitted). ``contacts``:
    known contacts ``(customer_id, created)`` (created: Unix seconds, date,
    datetime or ISO string) or a ``CONTACT_DTYPE`` array; those created on or
    before ``asof`` without a profile are leads. ``p_alive``: P(alive) per
    profile row (aligned with ``profiles(...).customer_id``), a dict
    ``{customer_id: p}`` or a pandas Series indexed by customer id; customers with frequency >= 2 then get at_risk /
    churned from ``p_at_risk`` / ``p_churned`` instead of their cadence.
    """
    prof = _profiles_of(orders, asof)
    opt = _options(new_days, loyal_f, at_risk_k, churn_k, min_gap_days, p_at_risk, p_churned)
    caddr, cn, ckeep = _contacts(contacts)
    paddr, pkeep = _p_alive(p_alive, prof)
    out = P()
    lib.crm_lifecycle_build(_C.byref(out), prof._h, caddr, cn, paddr, _C.byref(opt))
    del ckeep, pkeep
    return Lifecycle(out.value)


def funnel(orders, asof=None, contacts=None, **params):
    """Funnel and KPIs at ``asof``: a dict with ``stages`` (names in table
    order), ``scenario``, ``customers`` and ``revenue`` (minor units, net of
    refunds; leads 0) per stage, ``conversion_base`` (customers whose first
    order is on or before asof - new_days), ``conversion_hits`` (of those,
    second order within new_days) and ``second_purchase_conversion`` (None
    when the base is empty). ``params``: as for :func:`lifecycle`."""
    return lifecycle(orders, asof, contacts, **params).funnel()


def funnel_partial(orders, asof=None, contacts=None, **params):
    """Serialised funnel counts of one customer-disjoint partition."""
    return lifecycle(orders, asof, contacts, **params).funnel_partial()


def funnel_from_partials(blobs):
    """Merge funnel partials (bytes) into the funnel dict of the whole."""
    acc = None
    for b in blobs:
        f = _types.LifecycleFunnel()
        lib.crm_lifecycle_funnel_load(bytes(b), len(b), _C.byref(f))
        if acc is None:
            acc = f
        else:
            lib.crm_lifecycle_funnel_merge(_C.byref(acc), _C.byref(f), _C.byref(acc))
    if acc is None:
        raise ValueError("no funnel partials")
    return _funnel_dict(acc)


def migration_table(orders, from_asof, to_asof, contacts=None, **params):
    """Stage migration between two days: a dict with ``rows`` (stages at
    ``from`` in table order, then "(none)" for customers with neither a
    profile nor a lead at ``from``), ``columns`` (stages at ``to``),
    ``counts`` and row-normalised ``rates`` (None for empty rows), over the
    population at ``to``."""
    a = lifecycle(orders, from_asof, contacts, **params)
    b = lifecycle(orders, to_asof, contacts, **params)
    return b.migration_from(a)


def migration_partial(orders, from_asof, to_asof, contacts=None, **params):
    """Serialised migration counts of one customer-disjoint partition."""
    a = lifecycle(orders, from_asof, contacts, **params)
    b = lifecycle(orders, to_asof, contacts, **params)
    m = b._migration(a)
    return _to_bytes(lib.crm_lifecycle_migration_serialize, _C.byref(m))


def migration_from_partials(blobs):
    """Merge migration partials (bytes) into the migration dict of the whole."""
    acc = None
    for b in blobs:
        m = _types.LifecycleMigration()
        lib.crm_lifecycle_migration_load(bytes(b), len(b), _C.byref(m))
        if acc is None:
            acc = m
        else:
            lib.crm_lifecycle_migration_merge(_C.byref(acc), _C.byref(m), _C.byref(acc))
    if acc is None:
        raise ValueError("no migration partials")
    return _migration_dict(acc)


def _month_label(m):
    return f"{1970 + m // 12:04d}-{m % 12 + 1:02d}"


class Cohorts:
    """Cohort retention table (and exact partial): ``labels`` ("YYYY-MM" of
    each first-order month), ``sizes``, ``active`` (customers per cell) and
    ``matrix`` (shares; None after the asof month)."""

    def __init__(self, handle):
        self._h = P(handle)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_lifecycle_cohorts_free(h)
            self._h = None

    @property
    def asof(self):
        """The snapshot day number."""
        return lib.crm_lifecycle_cohorts_asof(self._h)

    def _shape(self):
        return lib.crm_lifecycle_cohorts_rows(self._h), lib.crm_lifecycle_cohorts_columns(self._h)

    @property
    def labels(self):
        """Cohort month labels, ascending."""
        rows, _ = self._shape()
        months = column(self, lib.crm_lifecycle_cohorts_month(self._h), _C.c_int32, rows)
        return [_month_label(int(m)) for m in months]

    @property
    def sizes(self):
        """Customers per cohort."""
        rows, _ = self._shape()
        return [int(v) for v in column(self, lib.crm_lifecycle_cohorts_size(self._h),
                                       _C.c_uint64, rows)]

    def _grid(self, getter, ctype, convert):
        rows, cols = self._shape()
        flat = list(column(self, getter(self._h), ctype, rows * cols))
        return [[convert(v) for v in flat[r * cols:(r + 1) * cols]] for r in range(rows)]

    @property
    def active(self):
        """Customers of cohort r with an order in month k (list of rows)."""
        return self._grid(lib.crm_lifecycle_cohorts_active, _C.c_uint64, int)

    @property
    def matrix(self):
        """Retention shares (list of rows; None after the asof month)."""
        return self._grid(lib.crm_lifecycle_cohorts_share, _C.c_double,
                          lambda v: None if v is None or v != v else float(v))

    def to_bytes(self):
        """Serialised partial (versioned, checksummed)."""
        return _to_bytes(lib.crm_lifecycle_cohorts_serialize, self._h)

    @classmethod
    def from_bytes(cls, data):
        """Load a partial written by :meth:`to_bytes`."""
        out = P()
        lib.crm_lifecycle_cohorts_load(_C.byref(out), bytes(data), len(data))
        return cls(out.value)

    def merge(self, other):
        """Exact table of the union of both partials' orders."""
        out = P()
        lib.crm_lifecycle_cohorts_merge(_C.byref(out), self._h, other._h)
        return Cohorts(out.value)

    def __repr__(self):
        rows, cols = self._shape()
        return f"<libcrm.Cohorts cohorts={rows} months={cols} asof={self.asof}>"


def cohorts(orders, asof):
    """The :class:`Cohorts` table of ``orders`` (as for :func:`libcrm.profiles`)."""
    addr, n, keep = as_records(orders, _types.Order)
    out = P()
    lib.crm_lifecycle_cohorts_build(_C.byref(out), addr, n, to_day(asof))
    del keep
    return Cohorts(out.value)


def cohort_retention(orders, asof):
    """Cohort retention by first-order month: ``(cohort_labels, matrix)``
    with labels "YYYY-MM" and matrix[r][k] = share of cohort r with a
    non-refund order in its k-th month after the first (None after the asof
    month)."""
    c = cohorts(orders, asof)
    return c.labels, c.matrix


def cohort_partial(orders, asof):
    """Serialised cohort partial of one partition (any partitioning)."""
    return cohorts(orders, asof).to_bytes()


def cohort_from_partials(blobs):
    """Merge cohort partials (bytes) into the :class:`Cohorts` of the whole."""
    acc = None
    for b in blobs:
        c = Cohorts.from_bytes(b)
        acc = c if acc is None else acc.merge(c)
    if acc is None:
        raise ValueError("no cohort partials")
    return acc


def _migration_by_stage(orders, from_day, to_day, mode, contacts=None, **params):
    """``libcrm.migration(..., by="lifecycle")``: ``(row_labels, col_labels,
    counts)`` with rows = stages at ``from`` then "(none)", columns = stages
    at ``to``. Stage rules have fixed parameters (no population-relative
    thresholds), so ``mode="relative"`` and ``"frozen"`` give the same matrix.
    ``contacts`` and the stage parameters are those of :func:`lifecycle`."""
    del mode
    m = migration_table(orders, from_day, to_day, contacts=contacts, **params)
    return m["rows"], m["columns"], m["counts"]


try:  # the rfm module owns libcrm.migration and offers a hook for other labels
    from .rfm import register_migration as _register_migration
except ImportError:  # pragma: no cover - rfm binding not present
    _register_migration = None
if _register_migration is not None:
    _register_migration("lifecycle", _migration_by_stage)
