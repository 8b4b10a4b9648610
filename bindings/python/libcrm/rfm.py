"""RFM scores, named RFM segments, map lint and migration matrices
(``crm/rfm.h``; semantics in specs/segmentation.md)."""
import ctypes
import math

from . import _types
from ._arrays import as_records, column
from ._convert import to_day
from ._lib import P, SZ, c_status, declare_all, lib
from .errors import InvalidArgument
from .profiles import Profiles, profiles as _build_profiles

_P_OPT = ctypes.POINTER(_types.RfmOptions)
declare_all({
    "crm_rfm_options_init": (c_status, [_P_OPT, ctypes.c_uint]),
    "crm_rfm_options_frozen": (c_status, [P, _P_OPT]),
    "crm_rfm_score": (c_status, [ctypes.POINTER(P), P, _P_OPT]),
    "crm_rfm_score_columns": (c_status, [ctypes.POINTER(P), P, P, P, P, SZ, _P_OPT]),
    "crm_rfm_score_orders": (c_status, [ctypes.POINTER(P), P, SZ, ctypes.c_int64, _P_OPT]),
    "crm_rfm_free": (None, [P]),
    "crm_rfm_count": (SZ, [P]),
    "crm_rfm_bins": (ctypes.c_uint32, [P]),
    "crm_rfm_asof": (ctypes.c_int64, [P]),
    **{f"crm_rfm_{c}": (P, [P]) for c in (
        "customer_id", "recency_days", "frequency", "monetary", "r", "f", "m", "segment",
        "result_map")},
    "crm_rfm_segment_count": (SZ, [P]),
    "crm_rfm_segment_name": (ctypes.c_char_p, [P, SZ]),
    "crm_rfm_cuts": (P, [P, ctypes.c_int, ctypes.POINTER(SZ)]),
    "crm_rfm_explain": (c_status, [P, SZ, ctypes.c_int, ctypes.POINTER(_types.RfmExplanation)]),
    "crm_rfm_segment_summary": (c_status, [P, SZ, ctypes.POINTER(_types.RfmSegmentStats)]),
    "crm_rfm_map_new": (c_status, [ctypes.POINTER(P), ctypes.c_uint32,
                                   ctypes.POINTER(_types.RfmBox), SZ]),
    "crm_rfm_map_builtin": (c_status, [ctypes.POINTER(P), ctypes.c_char_p]),
    "crm_rfm_map_free": (None, [P]),
    "crm_rfm_map_bins": (ctypes.c_uint32, [P]),
    "crm_rfm_map_labels": (SZ, [P]),
    "crm_rfm_map_label": (ctypes.c_char_p, [P, SZ]),
    "crm_rfm_map_cells": (P, [P]),
    "crm_rfm_map_lint": (c_status, [P, ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(SZ)]),
    "crm_rfm_migration_new": (c_status, [ctypes.POINTER(P), P, P]),
    "crm_rfm_migration_free": (None, [P]),
    "crm_rfm_migration_rows": (SZ, [P]),
    "crm_rfm_migration_cols": (SZ, [P]),
    "crm_rfm_migration_row_label": (ctypes.c_char_p, [P, SZ]),
    "crm_rfm_migration_col_label": (ctypes.c_char_p, [P, SZ]),
    "crm_rfm_migration_counts": (P, [P]),
    "crm_rfm_migration_rates": (P, [P]),
    "crm_rfm_partial_new": (c_status, [ctypes.POINTER(P), P]),
    "crm_rfm_partial_ties": (c_status, [ctypes.POINTER(P), P, P]),
    "crm_rfm_partial_merge": (c_status, [ctypes.POINTER(P), P, P]),
    "crm_rfm_partial_serialize": (c_status, [ctypes.POINTER(P), ctypes.POINTER(SZ), P]),
    "crm_rfm_partial_deserialize": (c_status, [ctypes.POINTER(P), ctypes.c_char_p, SZ]),
    "crm_rfm_partial_free": (None, [P]),
    "crm_rfm_partial_count": (ctypes.c_uint64, [P]),
    "crm_rfm_thresholds_new": (c_status, [ctypes.POINTER(P), P, P, _P_OPT]),
    "crm_rfm_thresholds_pending": (SZ, [P]),
    "crm_rfm_thresholds_free": (None, [P]),
    "crm_rfm_score_thresholds": (c_status, [ctypes.POINTER(P), P, P]),
    "crm_rfm_shard_new": (c_status, [ctypes.POINTER(P), ctypes.c_int64]),
    "crm_rfm_shard_add": (c_status, [P, P, SZ]),
    "crm_rfm_shard_free": (None, [P]),
    "crm_rfm_shard_count": (SZ, [P]),
    "crm_rfm_shard_partial": (c_status, [ctypes.POINTER(P), P]),
    "crm_rfm_shard_ties": (c_status, [ctypes.POINTER(P), P, P]),
    "crm_rfm_shard_score": (c_status, [ctypes.POINTER(P), P, P]),
    "crm_rfm_shard_cells": (c_status, [P, P, SZ, P, P]),
})

TIES = {"ntile": 0, "qcut_rank": 1, "rfm_r": 2}
BUILTIN_MAPS = ("rf10", "rfm11", "rfm10")
DIMS = ("r", "f", "m")
_RULE_NAMES = {0: "ntile", 1: "qcut_rank", 2: "rfm_r", 3: "cuts"}


class _DefaultMap(str):
    """The default ``segment_map``: ``rf10`` when ``bins == 5``, none otherwise
    (naming ``"rf10"`` explicitly with another ``bins`` is an error)."""

    __slots__ = ()


DEFAULT_MAP = _DefaultMap("rf10")


class _Map:
    """Owns a C segment map for the duration of a call."""

    def __init__(self, segment_map, bins):
        self.h = P()
        if isinstance(segment_map, str):
            lib.crm_rfm_map_builtin(ctypes.byref(self.h), segment_map.encode())
            return
        boxes = list(segment_map)
        arr = (_types.RfmBox * len(boxes))()
        self._names = []
        for i, box in enumerate(boxes):
            try:
                name, rlo, rhi, flo, fhi, mlo, mhi = box
            except (TypeError, ValueError):
                raise TypeError(f"segment_map[{i}]: need (name, rlo, rhi, flo, fhi, mlo, mhi), "
                                f"got {box!r}") from None
            bounds = [rlo, rhi, flo, fhi, mlo, mhi]
            if any(not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 255
                   for v in bounds):
                raise ValueError(f"segment_map[{i}]: bounds must be small ints, got {bounds}")
            enc = str(name).encode()
            self._names.append(enc)
            arr[i] = _types.RfmBox(enc, *bounds)
        lib.crm_rfm_map_new(ctypes.byref(self.h), bins, arr, len(boxes))

    def close(self):
        if self.h.value:
            lib.crm_rfm_map_free(self.h)
            self.h = P()

    def labels(self):
        return [lib.crm_rfm_map_label(self.h, i).decode()
                for i in range(lib.crm_rfm_map_labels(self.h))]


def _cut_array(values, dim):
    vals = [int(v) for v in values]
    if any(b < a for a, b in zip(vals, vals[1:])):
        raise ValueError(f"cuts[{dim!r}] must be non-decreasing, got {vals}")
    return (ctypes.c_int64 * max(len(vals), 1))(*vals), len(vals)


def _options(bins, tie, cuts, map_handle, no_segments):
    opt = _types.RfmOptions()
    lib.crm_rfm_options_init(ctypes.byref(opt), 1)
    opt.bins = bins
    if tie not in TIES:
        raise ValueError(f"tie must be one of {sorted(TIES)}, got {tie!r}")
    opt.tie = TIES[tie]
    opt.no_segments = 1 if no_segments else 0
    opt.map = map_handle
    keep = []
    if cuts is not None:
        if isinstance(cuts, dict):
            items = cuts.items()
        else:
            items = zip(DIMS, cuts)
        for dim, values in items:
            dim = {"recency": "r", "frequency": "f", "monetary": "m"}.get(dim, dim)
            if dim not in DIMS:
                raise ValueError(f"cuts: unknown dimension {dim!r} (use r, f, m)")
            if values is None:
                continue
            arr, n = _cut_array(values, dim)
            keep.append(arr)
            setattr(opt, f"{dim}_cuts", ctypes.addressof(arr))
            setattr(opt, f"n_{dim}_cuts", n)
    return opt, keep


def _null(v):
    return None if isinstance(v, float) and math.isnan(v) else v


class RfmResult:
    """Scores of every customer, in ascending ``customer_id`` order.

    Columns (read-only numpy arrays sharing the C result's memory, or lists
    without numpy): ``customer_id, recency_days, frequency, monetary, r, f,
    m`` and ``segment_code``; ``segment`` is the list of segment names
    (None when the result has no segments), ``segment_names`` the labels.
    """

    _COLS = (("customer_id", ctypes.c_uint64), ("recency_days", ctypes.c_int32),
             ("frequency", ctypes.c_uint32), ("monetary", ctypes.c_int64),
             ("r", ctypes.c_uint8), ("f", ctypes.c_uint8), ("m", ctypes.c_uint8))

    def __init__(self, handle):
        self._h = P(handle)
        n = lib.crm_rfm_count(self._h)
        for name, ctype in self._COLS:
            setattr(self, name, column(self, getattr(lib, f"crm_rfm_{name}")(self._h), ctype, n))
        self.segment_names = [lib.crm_rfm_segment_name(self._h, i).decode()
                              for i in range(lib.crm_rfm_segment_count(self._h))]
        seg = lib.crm_rfm_segment(self._h)
        if seg:
            self.segment_code = column(self, seg, ctypes.c_uint16, n)
            names = self.segment_names
            self.segment = [names[c] for c in self.segment_code]
        else:
            self.segment_code = None
            self.segment = None

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_rfm_free(h)
            self._h = None

    def __len__(self):
        return lib.crm_rfm_count(self._h)

    @property
    def bins(self):
        """Score levels per dimension."""
        return lib.crm_rfm_bins(self._h)

    @property
    def asof(self):
        """Snapshot day (None for customer-level columns)."""
        d = lib.crm_rfm_asof(self._h)
        return None if d < 0 else d

    @property
    def thresholds(self):
        """Cut points used per dimension, ``{"r": [...], "f": [...], "m": [...]}``:
        a key x scores 1 + #{cuts <= x} (R on -recency_days). See crm_rfm_cuts()."""
        out = {}
        for d, name in enumerate(DIMS):
            n = SZ()
            addr = lib.crm_rfm_cuts(self._h, d, ctypes.byref(n))
            out[name] = list((ctypes.c_int64 * n.value).from_address(addr)) if n.value else []
        return out

    def summary(self):
        """One dict per segment label (empty segments included): ``segment,
        customers, share, orders, revenue, mean_recency, mean_frequency,
        mean_monetary``; nulls are None. Raises InvalidArgument without segments."""
        rows = []
        count = lib.crm_rfm_segment_count(self._h)
        if count == 0:
            lib.crm_rfm_segment_summary(self._h, 0, ctypes.byref(_types.RfmSegmentStats(version=1)))
        for code in range(count):
            s = _types.RfmSegmentStats(version=1)
            lib.crm_rfm_segment_summary(self._h, code, ctypes.byref(s))
            rows.append({"segment": self.segment_names[code], "customers": s.customers,
                         "share": _null(s.share), "orders": s.orders, "revenue": s.revenue,
                         "mean_recency": _null(s.mean_recency),
                         "mean_frequency": _null(s.mean_frequency),
                         "mean_monetary": _null(s.mean_monetary)})
        return rows

    def row_of(self, customer_id):
        """Row index of a customer (raises KeyError when absent)."""
        ids = self.customer_id
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if ids[mid] < customer_id:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(self) or ids[lo] != customer_id:
            raise KeyError(customer_id)
        return lo

    def explain(self, customer_id, dim):
        """Why a customer got its score in ``dim`` ("r", "f" or "m"): dict of
        score, bin, rule, value, key, rank, count, rank_lo, rank_hi, lo, hi
        (lo / hi None when open-ended)."""
        if dim not in DIMS:
            raise ValueError(f"dim must be one of {DIMS}, got {dim!r}")
        e = _types.RfmExplanation(version=1)
        lib.crm_rfm_explain(self._h, self.row_of(customer_id), DIMS.index(dim), ctypes.byref(e))
        out = {k: getattr(e, k) for k, _ in _types.RfmExplanation._fields_ if k != "version"}
        out["rule"] = _RULE_NAMES.get(e.rule, e.rule)
        out["lo"] = None if e.lo == -2**63 else e.lo
        out["hi"] = None if e.hi == 2**63 - 1 else e.hi
        return out

    def segment_columns(self):
        """Columns by the rule language's names, for :func:`libcrm.select`:
        ``r, f, m``, ``rfm_segment`` (codes and names) and the profile
        fields (the whole table when scored from one)."""
        cols = {"r": self.r, "f": self.f, "m": self.m}
        if self.segment_code is not None:
            cols["rfm_segment"] = (self.segment_code, self.segment_names)
        prof = getattr(self, "_profiles", None)
        if prof is not None:
            cols["__profiles__"] = prof
        else:
            cols.update(customer_id=self.customer_id, recency_days=self.recency_days,
                        frequency=self.frequency, monetary=self.monetary)
        return cols

    def __repr__(self):
        return f"<libcrm.RfmResult customers={len(self)} bins={self.bins} asof={self.asof}>"


def _map_for(segment_map, bins):
    """(_Map or None, no_segments) for a segment_map argument."""
    if segment_map is None:
        return None, True
    if isinstance(segment_map, _DefaultMap):
        return None, False
    return _Map(segment_map, bins), False


def _score(source, asof, bins, tie, segment_map, cuts, frozen_from=None):
    """Score a Profiles table or a dict of customer columns."""
    if isinstance(source, dict):
        return _score_columns(source, bins, tie, segment_map, cuts)
    if not isinstance(source, Profiles):
        if asof is None:
            raise ValueError("asof is required when scoring orders")
        if frozen_from is None:  # the fast path: no profile table
            return _score_orders(source, to_day(asof), bins, tie, segment_map, cuts)
        source = _build_profiles(source, asof)
    elif asof is not None and to_day(asof) != source.asof:
        raise ValueError(f"asof {to_day(asof)} differs from the profiles' asof {source.asof}")
    out = P()
    if frozen_from is not None:
        opt = _types.RfmOptions()
        lib.crm_rfm_options_frozen(frozen_from._h, ctypes.byref(opt))
        lib.crm_rfm_score(ctypes.byref(out), source._h, ctypes.byref(opt))
        return RfmResult(out.value)
    m, none = _map_for(segment_map, bins)
    try:
        opt, keep = _options(bins, tie, cuts, m.h if m else None, none)
        lib.crm_rfm_score(ctypes.byref(out), source._h, ctypes.byref(opt))
        del keep
    finally:
        if m:
            m.close()
    res = RfmResult(out.value)
    res._profiles = source
    return res


def _score_orders(orders, asof, bins, tie, segment_map, cuts):
    addr, n, keep_orders = as_records(orders, _types.Order)
    m, none = _map_for(segment_map, bins)
    out = P()
    try:
        opt, keep = _options(bins, tie, cuts, m.h if m else None, none)
        lib.crm_rfm_score_orders(ctypes.byref(out), addr, n, asof, ctypes.byref(opt))
        del keep, keep_orders
    finally:
        if m:
            m.close()
    return RfmResult(out.value)


def _score_columns(cols, bins, tie, segment_map, cuts):
    names = ("customer_id", "recency_days", "frequency", "monetary")
    missing = [k for k in names if k not in cols]
    if missing:
        raise ValueError(f"customer columns need {names}; missing {missing}")
    n = len(cols["customer_id"])
    types = (ctypes.c_uint64, ctypes.c_int32, ctypes.c_uint32, ctypes.c_int64)
    arrays = []
    for k, t in zip(names, types):
        if len(cols[k]) != n:
            raise ValueError(f"column {k} has {len(cols[k])} values, customer_id has {n}")
        arrays.append((t * max(n, 1))(*[int(v) for v in cols[k]]))
    m, none = _map_for(segment_map, bins)
    out = P()
    try:
        opt, keep = _options(bins, tie, cuts, m.h if m else None, none)
        lib.crm_rfm_score_columns(ctypes.byref(out), *[ctypes.addressof(a) for a in arrays], n,
                                  ctypes.byref(opt))
        del keep
    finally:
        if m:
            m.close()
    return RfmResult(out.value)


def rfm(orders_or_profiles, asof=None, bins=5, tie="ntile", segment_map=DEFAULT_MAP, cuts=None):
    """RFM scores and named segments of every customer.

    ``orders_or_profiles``: orders (numpy ``ORDER_DTYPE`` array or
    ``(customer_id, ts, amount)`` tuples; ``asof`` required), a
    :class:`Profiles` table, or a dict of customer-level columns
    ``customer_id`` (ascending), ``recency_days``, ``frequency``, ``monetary``.
    ``tie``: ``"ntile"`` (default), ``"qcut_rank"`` or ``"rfm_r"``.
    ``segment_map``: ``"rf10"`` (default; no segments when ``bins != 5``),
    ``"rfm11"``, ``"rfm10"``, a list of ``(name, rlo, rhi, flo, fhi, mlo,
    mhi)`` boxes (first match wins, else "Others"), or None for no segments.
    ``cuts``: ``{"r": [...], "f": [...], "m": [...]}`` (or a 3-tuple, None
    entries keep the rule) of explicit cut points; R cuts are on
    -recency_days, M cuts in minor units.
    """
    return _score(orders_or_profiles, asof, bins, tie, segment_map, cuts)


def rfm_lint(segment_map, bins=5):
    """Lint a segment map over its bins^3 cells: dict with ``unreachable``
    and ``shadowed`` (segment names) and ``others_cells`` ((r, f, m) tuples
    that fall to "Others")."""
    if isinstance(segment_map, str) and bins != 5:
        raise InvalidArgument(f"rfm_lint: the built-in map {segment_map!r} is defined for "
                              f"bins=5 only, not {bins}")
    m = _Map(segment_map, bins)
    try:
        labels = m.labels()
        status = (ctypes.c_uint8 * max(len(labels), 1))()
        others = SZ()
        lib.crm_rfm_map_lint(m.h, status, ctypes.byref(others))
        n = lib.crm_rfm_map_bins(m.h)
        cells = (ctypes.c_uint16 * (n ** 3)).from_address(lib.crm_rfm_map_cells(m.h))
        has_others = others.value > 0
        named = len(labels) - (1 if has_others else 0)
        others_cells = [(r, f, mm) for r in range(1, n + 1) for f in range(1, n + 1)
                        for mm in range(1, n + 1)
                        if cells[((r - 1) * n + (f - 1)) * n + (mm - 1)] == named]
        return {"unreachable": [labels[i] for i in range(named) if status[i] == 1],
                "shadowed": [labels[i] for i in range(named) if status[i] == 2],
                "others_cells": others_cells}
    finally:
        m.close()


# ---- migration -------------------------------------------------------------

def _rfm_migration(orders, from_day, to_day_, mode, **options):
    """by="rfm": segment at ``from`` (rows, + "(none)") x segment at ``to``."""
    unknown = set(options) - {"bins", "tie", "segment_map", "cuts"}
    if unknown:
        raise TypeError(f"migration(by='rfm'): unknown options {sorted(unknown)}")
    bins = options.get("bins", 5)
    tie = options.get("tie", "ntile")
    smap = options.get("segment_map", DEFAULT_MAP)
    cuts = options.get("cuts")
    src = _build_profiles(orders, from_day)
    dst = _build_profiles(orders, to_day_)
    a = _score(src, None, bins, tie, smap, cuts)
    b = _score(dst, None, bins, tie, smap, cuts, frozen_from=a if mode == "frozen" else None)
    out = P()
    lib.crm_rfm_migration_new(ctypes.byref(out), a._h, b._h)
    try:
        rows, cols = lib.crm_rfm_migration_rows(out), lib.crm_rfm_migration_cols(out)
        row_labels = [lib.crm_rfm_migration_row_label(out, i).decode() for i in range(rows)]
        col_labels = [lib.crm_rfm_migration_col_label(out, j).decode() for j in range(cols)]
        flat = list((ctypes.c_uint64 * (rows * cols)).from_address(
            lib.crm_rfm_migration_counts(out)))
        counts = [flat[i * cols:(i + 1) * cols] for i in range(rows)]
    finally:
        lib.crm_rfm_migration_free(out)
    return row_labels, col_labels, counts


def _lifecycle_migration(orders, from_day, to_day_, mode, **options):
    """by="lifecycle": stages (crm/lifecycle.h). Stages have no population
    thresholds, so "frozen" and "relative" agree. Options (``contacts``,
    ``new_days``, ...) go to :func:`libcrm.lifecycle.migration_table`."""
    import importlib  # on use (no import cycle); libcrm.lifecycle is also a function
    table = importlib.import_module(__package__ + ".lifecycle").migration_table(orders, from_day, to_day_, **options)
    return table["rows"], table["columns"], table["counts"]


#: ``by`` -> function(orders, from_day, to_day, mode, **options) returning
#: ``(row_labels, col_labels, counts)``. Other modules register theirs with
#: :func:`register_migration`.
MIGRATION_BY = {"rfm": _rfm_migration, "lifecycle": _lifecycle_migration}


def register_migration(by, fn):
    """Make ``migration(..., by=by)`` call ``fn(orders, from_day, to_day,
    mode, **options)``, which returns ``(row_labels, col_labels, counts)``."""
    MIGRATION_BY[by] = fn


def migration(orders, from_asof, to_asof, by="rfm", mode="relative", **rfm_options):
    """Migration matrix between two snapshots of the same orders.

    Rows: label at ``from_asof`` (plus ``"(none)"`` for customers without a
    profile then), columns: label at ``to_asof``, cells: customers of the
    ``to`` population. ``mode``: ``"relative"`` (each snapshot scored on its
    own population) or ``"frozen"`` (the ``from`` thresholds applied at
    ``to``). Options (``bins``, ``tie``, ``segment_map``, ``cuts``) go to
    :func:`rfm`. Returns ``(row_labels, col_labels, counts)``, counts a list
    of rows; :func:`migration_rates` gives the row-normalised rates.
    """
    if mode not in ("relative", "frozen"):
        raise ValueError(f"mode must be 'relative' or 'frozen', got {mode!r}")
    if by not in MIGRATION_BY:
        raise ValueError(f"by must be one of {sorted(MIGRATION_BY)}, got {by!r}")
    f, t = to_day(from_asof), to_day(to_asof)
    if t < f:
        raise ValueError(f"to_asof ({t}) is before from_asof ({f})")
    return MIGRATION_BY[by](orders, f, t, mode, **rfm_options)


def migration_rates(counts):
    """Row-normalised rates of a counts matrix; an empty row is all None."""
    out = []
    for row in counts:
        total = sum(row)
        out.append([c / total if total else None for c in row])
    return out


# ---- scale-out: partials ----------------------------------------------------

class _Partial:
    """Owns a C crm_rfm_partial."""

    def __init__(self, handle):
        self.h = P(handle)

    def __del__(self):
        if getattr(self, "h", None) is not None and self.h.value:
            lib.crm_rfm_partial_free(self.h)
            self.h = None

    @classmethod
    def load(cls, blob):
        blob = bytes(blob)
        out = P()
        lib.crm_rfm_partial_deserialize(ctypes.byref(out), blob, len(blob))
        return cls(out.value)

    def to_bytes(self):
        buf, n = P(), SZ()
        lib.crm_rfm_partial_serialize(ctypes.byref(buf), ctypes.byref(n), self.h)
        try:
            return ctypes.string_at(buf, n.value)
        finally:
            lib.crm_bytes_free(buf)


def _merge_blobs(blobs):
    """Merged _Partial of serialised partials (at least one)."""
    parts = [_Partial.load(b) for b in blobs]
    if not parts:
        raise ValueError("no partials")
    acc = parts[0]
    for nxt in parts[1:]:
        out = P()
        lib.crm_rfm_partial_merge(ctypes.byref(out), acc.h, nxt.h)
        acc = _Partial(out.value)
    return acc


def _profiles_of(orders_or_profiles, asof):
    if isinstance(orders_or_profiles, Profiles):
        return orders_or_profiles
    if asof is None:
        raise ValueError("asof is required when passing orders")
    return _build_profiles(orders_or_profiles, asof)


def rfm_partial(orders_or_profiles, asof=None):
    """Round-1 partial (bytes) of one customer-disjoint partition: exact
    histograms of recency, frequency and monetary. Merge them with
    :func:`rfm_thresholds`."""
    prof = _profiles_of(orders_or_profiles, asof)
    out = P()
    lib.crm_rfm_partial_new(ctypes.byref(out), prof._h)
    return _Partial(out.value).to_bytes()


class RfmThresholds:
    """Thresholds of the whole population, finalised from the merged
    partials of every partition (picklable: it is rebuilt from the merged
    bytes and the options).

    ``pending``: rank boundaries that still need round 2 (a value split over
    two bins): then collect ``ties_partial(profiles)`` from every partition
    and call ``with_ties(blobs)``. ``score(profiles)`` scores one partition
    exactly as :func:`rfm` scores the whole population.
    """

    def __init__(self, hist, ties=None, bins=5, tie="ntile", segment_map=DEFAULT_MAP, cuts=None):
        # hist / ties: bytes, or already loaded _Partial handles (no copy)
        self._hist = hist if isinstance(hist, _Partial) else _Partial.load(hist)
        self._ties = None if ties is None else \
            ties if isinstance(ties, _Partial) else _Partial.load(ties)
        self._opts = (bins, tie, segment_map, cuts)
        m, none = _map_for(segment_map, bins)
        out = P()
        try:
            opt, keep = _options(bins, tie, cuts, m.h if m else None, none)
            lib.crm_rfm_thresholds_new(ctypes.byref(out), self._hist.h,
                                       self._ties.h if self._ties else None, ctypes.byref(opt))
            del keep
        finally:
            if m:
                m.close()
        self._h = P(out.value)

    @property
    def bins(self):
        """Score levels per dimension."""
        return self._opts[0]

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_rfm_thresholds_free(h)
            self._h = None

    def __reduce__(self):  # the merged partials travel as bytes
        return (RfmThresholds, (self._hist.to_bytes(),
                                None if self._ties is None else self._ties.to_bytes(),
                                *self._opts))

    @property
    def pending(self):
        """Boundaries waiting for the round-2 ties partials (0: ready to score)."""
        return lib.crm_rfm_thresholds_pending(self._h)

    @property
    def customers(self):
        """Customers of the whole population."""
        return lib.crm_rfm_partial_count(self._hist.h)

    def ties_partial(self, orders_or_profiles, asof=None):
        """Round-2 partial (bytes) of one partition."""
        prof = _profiles_of(orders_or_profiles, asof)
        out = P()
        lib.crm_rfm_partial_ties(ctypes.byref(out), prof._h, self._h)
        return _Partial(out.value).to_bytes()

    def with_ties(self, blobs):
        """Thresholds completed by the round-2 partials of every partition."""
        return RfmThresholds(self._hist, _merge_blobs(blobs), *self._opts)

    def score(self, orders_or_profiles, asof=None):
        """Scores of one partition (an :class:`RfmResult`)."""
        prof = _profiles_of(orders_or_profiles, asof)
        out = P()
        lib.crm_rfm_score_thresholds(ctypes.byref(out), prof._h, self._h)
        res = RfmResult(out.value)
        res._profiles = prof
        return res


def rfm_thresholds(blobs, bins=5, tie="ntile", segment_map=DEFAULT_MAP, cuts=None):
    """Merge round-1 partials (bytes from :func:`rfm_partial`, one per
    customer-disjoint partition) into :class:`RfmThresholds` of the whole."""
    return RfmThresholds(_merge_blobs(blobs), None, bins, tie, segment_map, cuts)


class RfmShard:
    """Recency, frequency and monetary of the customers of one or more
    customer-disjoint partitions, aggregated straight from their orders
    (``crm_rfm_shard``): the fast worker side of partitioned scoring, no
    profile table. ``add(orders)`` once per partition (one pass, a hash
    table sized for the partition); ``partial()`` is the round-1 blob for
    :func:`rfm_thresholds`, ``ties_partial(th)`` the round-2 blob for
    ``th.with_ties``, ``score(th)`` the customers' scores, equal to
    :func:`rfm` of all orders. No customer may have orders in two
    partitions. Stays where it is built (not picklable)."""

    def __init__(self, asof):
        out = P()
        lib.crm_rfm_shard_new(ctypes.byref(out), to_day(asof))
        self._h = P(out.value)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_rfm_shard_free(h)
            self._h = None

    def __reduce__(self):
        raise TypeError("an RfmShard stays in the process that built it: ship its "
                        "partial() bytes instead")

    def add(self, orders):
        """Aggregate one partition's orders (records, e.g. ``ORDER_DTYPE``);
        returns self."""
        addr, n, keep = as_records(orders, _types.Order)
        lib.crm_rfm_shard_add(self._h, addr, n)
        del keep
        return self

    def __len__(self):
        return lib.crm_rfm_shard_count(self._h)

    def partial(self):
        """Round-1 partial (bytes) of the shard's customers."""
        out = P()
        lib.crm_rfm_shard_partial(ctypes.byref(out), self._h)
        return _Partial(out.value).to_bytes()

    def ties_partial(self, thresholds):
        """Round-2 partial (bytes) for pending ``thresholds``."""
        out = P()
        lib.crm_rfm_shard_ties(ctypes.byref(out), self._h, thresholds._h)
        return _Partial(out.value).to_bytes()

    def score(self, thresholds):
        """Scores of the shard's customers (an :class:`RfmResult`, ascending ids)."""
        out = P()
        lib.crm_rfm_shard_score(ctypes.byref(out), self._h, thresholds._h)
        return RfmResult(out.value)

    def cell_counts(self, thresholds, revenue=False):
        """Customers per (R, F, M) score cell: a numpy uint64 array of shape
        (bins, bins, bins) indexed [R - 1, F - 1, M - 1]; with
        ``revenue=True`` the pair (counts, int64 sums of monetary per cell).
        No per-customer result is built (see :func:`cell_summary`)."""
        import numpy as np
        bins = thresholds.bins
        cells = np.zeros(bins ** 3, np.uint64)
        rev = np.zeros(bins ** 3, np.int64) if revenue else None
        lib.crm_rfm_shard_cells(cells.ctypes.data, rev.ctypes.data if revenue else None,
                                cells.size, self._h, thresholds._h)
        cells = cells.reshape(bins, bins, bins)
        return (cells, rev.reshape(bins, bins, bins)) if revenue else cells


def rfm_shard(asof, partitions=()):
    """An :class:`RfmShard` with every orders array of ``partitions`` added."""
    shard = RfmShard(asof)
    for orders in partitions:
        shard.add(orders)
    return shard


def cell_summary(cells, segment_map=DEFAULT_MAP, revenue=None):
    """Counts from customers per (R, F, M) cell (``RfmShard.cell_counts``,
    summed over shards): ``{"customers": n, "r"|"f"|"m": [customers with
    score 1..bins], "segments": {name: customers} or None}``, segments by
    ``segment_map`` (as in :func:`rfm`; the default is ``rf10`` for 5 bins,
    none otherwise); with ``revenue`` (the per-cell sums) also
    ``"revenue": {name: minor units}``. Exact integers."""
    import numpy as np
    cells = np.asarray(cells, dtype=np.uint64)
    bins = cells.shape[0]
    if cells.shape != (bins, bins, bins):
        raise ValueError(f"need a (bins, bins, bins) array, got shape {cells.shape}")
    out = {"customers": int(cells.sum())}
    for axis, dim in enumerate(DIMS):
        other = tuple(a for a in range(3) if a != axis)
        out[dim] = [int(v) for v in cells.sum(axis=other)]
    if isinstance(segment_map, _DefaultMap) and bins != 5:
        segment_map = None
    if segment_map is None:
        out["segments"] = None
        if revenue is not None:
            out["revenue"] = None
        return out
    m = _Map(str(segment_map) if isinstance(segment_map, _DefaultMap) else segment_map, bins)
    try:
        labels = m.labels()
        codes = np.array(column(None, lib.crm_rfm_map_cells(m.h), ctypes.c_uint16, bins ** 3))
    finally:
        m.close()
    seg = np.zeros(len(labels), np.uint64)
    np.add.at(seg, codes, cells.ravel())
    out["segments"] = {name: int(c) for name, c in zip(labels, seg)}
    if revenue is not None:
        rev = [0] * len(labels)  # Python ints: no silent wrap-around
        for code, v in zip(codes.tolist(), np.asarray(revenue).ravel().tolist()):
            rev[code] += v
        out["revenue"] = dict(zip(labels, rev))
    return out
