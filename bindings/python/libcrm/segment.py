"""Rule-language segments (``crm/segment.h``).

``select(source, expression, **columns)`` evaluates an expression such as
``recency_days <= 30 and frequency >= 3 and monetary > 500000`` over a
profile table plus any extra columns and returns a boolean mask in customer
order. ``Segment`` compiles once for repeated use; ``segment_stats`` counts
members and pairwise overlaps of several masks, as a mergeable partial.

Extra columns are numpy arrays (int8..uint64, float, bool: used in place
when already contiguous and of a C type) or sequences: integers, floats
(``None`` / NaN = null) or strings (categorical; ``None`` = null). A
categorical column can also be given as ``(codes, names)`` or as a pandas
``Categorical``.
"""
import ctypes
import numbers

from . import _types
from ._arrays import np
from ._lib import P, SZ, c_status, declare_all, lib
from .errors import RuleError

declare_all({
    "crm_segment_options_init": (c_status, [ctypes.POINTER(_types.SegmentOptions), ctypes.c_uint]),
    "crm_segment_compile": (c_status, [ctypes.POINTER(P), ctypes.c_char_p, SZ, P,
                                       ctypes.POINTER(_types.SegmentOptions),
                                       ctypes.POINTER(SZ)]),
    "crm_segment_program_free": (None, [P]),
    "crm_segment_program_tests": (SZ, [P]),
    "crm_segment_env_new": (c_status, [ctypes.POINTER(P), SZ]),
    "crm_segment_env_free": (None, [P]),
    "crm_segment_env_count": (SZ, [P]),
    "crm_segment_env_bind": (c_status, [P, ctypes.c_char_p, ctypes.c_int, P]),
    "crm_segment_env_bind_categorical": (c_status, [P, ctypes.c_char_p, P,
                                                    ctypes.POINTER(ctypes.c_char_p), SZ]),
    "crm_segment_env_bind_profiles": (c_status, [P, P]),
    "crm_segment_eval": (c_status, [P, SZ, P, P]),
    "crm_segment_count": (ctypes.c_uint64, [P, SZ]),
    "crm_segment_stats_compute": (c_status, [ctypes.POINTER(P), P, SZ, SZ]),
    "crm_segment_stats_free": (None, [P]),
    "crm_segment_stats_segments": (SZ, [P]),
    "crm_segment_stats_customers": (ctypes.c_uint64, [P]),
    "crm_segment_stats_matrix": (P, [P]),
    "crm_segment_stats_merge": (c_status, [ctypes.POINTER(P), P, P]),
    "crm_segment_stats_serialize": (c_status, [ctypes.POINTER(P), ctypes.POINTER(SZ), P]),
    "crm_segment_stats_load": (c_status, [ctypes.POINTER(P), ctypes.c_char_p, SZ]),
})

_I8, _U8, _I16, _U16, _I32, _U32, _I64, _U64, _F64 = range(1, 10)
_CTYPES = {_I8: ctypes.c_int8, _U8: ctypes.c_uint8, _I16: ctypes.c_int16,
           _U16: ctypes.c_uint16, _I32: ctypes.c_int32, _U32: ctypes.c_uint32,
           _I64: ctypes.c_int64, _U64: ctypes.c_uint64, _F64: ctypes.c_double}
_NP_CODES = {("i", 1): _I8, ("u", 1): _U8, ("i", 2): _I16, ("u", 2): _U16,
             ("i", 4): _I32, ("u", 4): _U32, ("i", 8): _I64, ("u", 8): _U64,
             ("f", 8): _F64}
_NULL_CODE = 0xFFFFFFFF


def _options(max_length, max_depth):
    opt = _types.SegmentOptions()
    lib.crm_segment_options_init(ctypes.byref(opt), 1)
    if max_length is not None:
        opt.max_length = max_length
    if max_depth is not None:
        opt.max_depth = max_depth
    return opt


def _encode(expression):
    if isinstance(expression, bytes):
        return expression
    if not isinstance(expression, str):
        raise TypeError(f"an expression must be a str, not {type(expression).__name__}")
    return expression.encode("utf-8")


def _compile(text, env, opt):
    out = P()
    off = SZ()
    try:
        lib.crm_segment_compile(ctypes.byref(out), text, len(text), env,
                                ctypes.byref(opt), ctypes.byref(off))
    except RuleError as exc:
        exc.offset = off.value  # byte offset in the UTF-8 text
        raise
    return out


class _Env:
    """A C column environment plus the Python objects its columns borrow."""

    def __init__(self, n):
        self.n = n
        self._h = P()
        lib.crm_segment_env_new(ctypes.byref(self._h), n)
        self._keep = []

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_segment_env_free(h)
            self._h = None

    def bind_profiles(self, profiles):
        lib.crm_segment_env_bind_profiles(self._h, profiles._h)
        self._keep.append(profiles)

    def bind(self, name, values):
        key = name.encode("utf-8") if isinstance(name, str) else name
        col = _column(values, self.n, name)
        if col[0] == "num":
            _, code, addr, keep = col
            lib.crm_segment_env_bind(self._h, key, code, addr)
        else:
            _, addr, names, keep = col
            arr = (ctypes.c_char_p * max(1, len(names)))(*names)
            lib.crm_segment_env_bind_categorical(self._h, key, addr, arr, len(names))
        self._keep.append(keep)


def _categorical(codes, names, n, name):
    enc = [s.encode("utf-8") if isinstance(s, str) else bytes(s) for s in names]
    if len(codes) != n:
        raise ValueError(f"column {name!r} has {len(codes)} values, the table {n} customers")
    if np is not None:
        c = np.asarray(codes)
        if c.dtype.kind not in "iu":
            c = c.astype(np.int64)
        ok = (c >= 0) & (c < len(enc))
        buf = np.where(ok, c, _NULL_CODE).astype(np.uint32)
        addr = buf.__array_interface__["data"][0] if n else None
        return ("cat", addr, enc, buf)
    buf = (ctypes.c_uint32 * max(1, n))()
    for i, c in enumerate(codes):
        c = int(c)
        buf[i] = c if 0 <= c < len(enc) else _NULL_CODE
    return ("cat", ctypes.addressof(buf), enc, buf)


def _column(values, n, name):
    """('num', type code, address, keepalive) or ('cat', address, names, keepalive)."""
    if getattr(getattr(values, "dtype", None), "name", None) == "category" and \
            hasattr(values, "cat"):  # a pandas categorical Series
        values = values.cat
    if hasattr(values, "categories") and hasattr(values, "codes"):  # pandas Categorical
        return _categorical(values.codes, [str(c) for c in values.categories], n, name)
    if _is_pair(values):
        codes, names = values
        return _categorical(codes, list(names), n, name)
    if np is not None and (hasattr(values, "__array_interface__") or
                           hasattr(values, "__array__")):
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ValueError(f"column {name!r} must be one-dimensional")
        if len(arr) != n:
            raise ValueError(f"column {name!r} has {len(arr)} values, the table {n} customers")
        if arr.dtype.kind in "OUS":
            return _from_list(list(arr), n, name)
        if arr.dtype.kind == "b":
            arr = arr.view(np.uint8)
        elif arr.dtype.kind == "f" and arr.dtype.itemsize != 8:
            arr = arr.astype(np.float64)
        code = _NP_CODES.get((arr.dtype.kind, arr.dtype.itemsize))
        if code is None:
            raise TypeError(f"column {name!r}: unsupported dtype {arr.dtype}")
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        arr = np.ascontiguousarray(arr)
        addr = arr.__array_interface__["data"][0] if n else None
        return ("num", code, addr, arr)
    return _from_list(list(values), n, name)


def _missing(v):
    """None, NaN and pandas' NA / NaT are null."""
    return v is None or (isinstance(v, float) and v != v) or \
        type(v).__name__ in ("NAType", "NaTType")


def _from_list(vals, n, name):
    if len(vals) != n:
        raise ValueError(f"column {name!r} has {len(vals)} values, the table {n} customers")
    vals = [None if _missing(v) else v for v in vals]
    present = [v for v in vals if v is not None]
    if any(isinstance(v, (str, bytes)) for v in present):
        names, index, codes = [], {}, []
        for v in vals:
            if v is None:
                codes.append(-1)
                continue
            if v not in index:
                index[v] = len(names)
                names.append(v)
            codes.append(index[v])
        return _categorical(codes, names, n, name)
    if present and len(present) == n and all(isinstance(v, numbers.Integral) for v in present):
        present = [int(v) for v in present]
        lo, hi = min(present), max(present)
        if lo < -2**63 or hi > 2**64 - 1 or (lo < 0 and hi > 2**63 - 1):
            raise ValueError(f"column {name!r}: integers in [{lo}, {hi}] fit neither "
                             "int64 nor uint64")
        code = _U64 if hi > 2**63 - 1 else _I64
        vals = present
    else:
        code = _F64
        vals = [float("nan") if v is None else float(v) for v in vals]
    buf = (_CTYPES[code] * max(1, n))(*vals)
    return ("num", code, ctypes.addressof(buf), buf)


def _result_columns(source):
    """Columns of one source by the spec's field names, as
    ``(customer_ids or None, profiles or None, {name: column})``."""
    from .profiles import Profiles
    if isinstance(source, Profiles):
        return source.customer_id, source, {f: getattr(source, f) for f in _PROFILE_FIELDS}
    if hasattr(source, "segment_columns"):
        # any result exposing its columns by the spec's names (e.g. CLV)
        cols = dict(source.segment_columns())
        prof = cols.pop("__profiles__", None)
        ids = cols.get("customer_id", prof.customer_id if prof is not None else None)
        return ids, prof, cols
    if all(hasattr(source, a) for a in ("r", "f", "m", "segment_names", "customer_id")):
        # an RFM result (libcrm.rfm): profile fields it carries, scores, segment
        cols = {k: getattr(source, k) for k in
                ("customer_id", "recency_days", "frequency", "monetary", "r", "f", "m")}
        if getattr(source, "segment_code", None) is not None:
            cols["rfm_segment"] = (source.segment_code, list(source.segment_names))
        return source.customer_id, None, cols
    if hasattr(source, "stage_code") and hasattr(source, "customer_id"):
        # a lifecycle table (libcrm.lifecycle): stage and its scenario
        from .lifecycle import SCENARIOS, STAGES
        cols = {"customer_id": source.customer_id,
                "stage": (source.stage_code, list(STAGES)),
                "scenario": (source.stage_code, [SCENARIOS[s] for s in STAGES])}
        return source.customer_id, None, cols
    if hasattr(source, "keys") and hasattr(source, "__getitem__"):
        # a mapping of columns, or anything with keys() and [] (a pandas
        # DataFrame, libcrm.clv_summary(...), ...)
        cols = {k: source[k] for k in source.keys()}
        return cols.get("customer_id"), None, cols
    raise TypeError("select() needs a Profiles table, an RFM or lifecycle result, a result "
                    "with segment_columns(), a mapping of columns, or a list of these; got "
                    f"{type(source).__name__}")


_PROFILE_FIELDS = ("customer_id", "first_day", "last_day", "recency_days", "frequency",
                   "monetary", "tenure_days", "gap_avg", "purchase_days")


def _is_pair(values):
    return isinstance(values, tuple) and len(values) == 2 and \
        not isinstance(values[1], (int, float))


def _length(values):
    return len(values[0]) if _is_pair(values) else len(values)


def _take(base_ids, ids, values, null):
    """values (in ``ids`` order) reordered to ``base_ids``; customers missing
    from ``ids`` get ``null``. Returns (column, every customer found)."""
    if np is not None:
        b = np.asarray(base_ids, dtype=np.uint64)
        o = np.asarray(ids, dtype=np.uint64)
        if len(o) == 0:
            return [null] * len(b), len(b) == 0
        pos = np.minimum(np.searchsorted(o, b), len(o) - 1)
        found = o[pos] == b
        if isinstance(values, np.ndarray):
            if found.all():
                return values[pos], True
            return np.where(found, values[pos].astype(np.float64), null), False
        vals = list(values)
        return [vals[p] if f else null for p, f in zip(pos.tolist(), found.tolist())], \
            bool(found.all())
    index = {c: i for i, c in enumerate(ids)}
    vals = list(values)
    out = [vals[index[c]] if c in index else null for c in base_ids]
    return out, all(c in index for c in base_ids)


def _align(base_ids, ids, values):
    """A column of another source in the base customer order; customers it
    lacks are null (a numeric column then becomes float64 with NaN)."""
    if _is_pair(values):
        codes, names = values
        codes = np.asarray(codes).astype(np.int64) if np is not None else list(codes)
        col, _ = _take(base_ids, ids, codes, -1)
        return (col, names)
    if np is not None and hasattr(values, "__array_interface__"):
        arr = np.asarray(values)
        if arr.dtype.kind in "iubf":
            col, _ = _take(base_ids, ids, arr, np.nan)
            return col
        values = arr.tolist()
    vals = list(values)
    if any(isinstance(v, (str, bytes)) for v in vals if v is not None):
        return _take(base_ids, ids, vals, None)[0]
    col, complete = _take(base_ids, ids, vals, None)
    return col if complete else [float("nan") if v is None else float(v) for v in col]


def _same_ids(a, b):
    if len(a) != len(b):
        return False
    if np is not None:
        return bool(np.array_equal(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)))
    return list(a) == list(b)


def _source_env(source, columns):
    """Environment of a source, or of a list of sources (the first defines
    the customer table, the others are aligned to it by customer_id), plus
    extra columns (which win over the sources' columns)."""
    if isinstance(source, (list, tuple)):
        sources = list(source)
    else:
        sources = [] if source is None else [source]
    base_ids, base_prof, cols = None, None, {}
    for k, src in enumerate(sources):
        ids, prof, own = _result_columns(src)
        if k == 0:
            base_ids, base_prof, cols = ids, prof, dict(own)
            continue
        if ids is None or base_ids is None:
            n_base = len(base_ids) if base_ids is not None else \
                (_length(next(iter(cols.values()))) if cols else None)
            n_own = len(ids) if ids is not None else \
                (_length(next(iter(own.values()))) if own else None)
            if n_base is not None and n_own is not None and n_base != n_own:
                raise ValueError(f"source {k} has {n_own} rows, the first source {n_base}, "
                                 "and no customer_id to align them by")
        elif not _same_ids(base_ids, ids):
            own = {name: _align(base_ids, ids, v) for name, v in own.items()
                   if name != "customer_id"}
        for name, v in own.items():
            cols.setdefault(name, v)
    if base_prof is not None:
        for name in _PROFILE_FIELDS:  # bound from the table itself
            cols.pop(name, None)
    cols.update(columns)
    if base_prof is not None:
        n = len(base_prof)
    elif base_ids is not None:
        n = len(base_ids)
    elif cols:
        n = _length(next(iter(cols.values())))
    else:
        raise ValueError("select() needs at least one column")
    env = _Env(n)
    if base_prof is not None:
        env.bind_profiles(base_prof)
    for name, values in cols.items():
        env.bind(name, values)
    return env


def _mask(bits, n):
    if np is not None:
        raw = np.frombuffer(bits, dtype=np.uint8)
        return np.unpackbits(raw, bitorder="little")[:n].astype(bool)
    return [bool((bits[i // 64] >> (i % 64)) & 1) for i in range(n)]


def _eval(prog, env):
    words = max(1, (env.n + 63) // 64)
    bits = (ctypes.c_uint64 * words)()
    lib.crm_segment_eval(bits, words, prog, env._h)
    return _mask(bits, env.n)


class Segment:
    """A compiled expression, evaluated with :meth:`mask` over any source.

    Raises :class:`libcrm.RuleError` (with ``.offset``, the byte offset of
    the error in the UTF-8 text) for a malformed expression.
    """

    def __init__(self, expression, max_length=None, max_depth=None):
        self.expression = expression
        self._text = _encode(expression)
        self._opt = _options(max_length, max_depth)
        self._h = _compile(self._text, None, self._opt)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_segment_program_free(h)
            self._h = None

    @property
    def tests(self):
        """Number of leaf comparisons in the program."""
        return lib.crm_segment_program_tests(self._h)

    def mask(self, source=None, columns=None, **kwcolumns):
        """Boolean membership mask in customer order (see :func:`select`)."""
        env = _source_env(source, {**(columns or {}), **kwcolumns})
        return _eval(self._h, env)

    __call__ = mask

    def __repr__(self):
        return f"<libcrm.Segment {self.expression!r}>"


def select(source, expression, columns=None, max_length=None, max_depth=None, **kwcolumns):
    """Membership mask of ``expression`` over ``source`` in customer order.

    ``source``: a :class:`Profiles` table (its fields ``customer_id,
    first_day, last_day, recency_days, frequency, monetary, tenure_days,
    gap_avg, purchase_days``), any result object with a
    ``segment_columns()`` method, a mapping ``{name: column}``, or None.
    ``columns`` / keyword arguments add caller columns by name (numeric or
    categorical, see the module docs). Returns a numpy bool array (a list of
    bools without numpy). Names and types are checked before evaluating:
    :class:`libcrm.RuleError` carries ``.offset``.
    """
    text = _encode(expression)
    env = _source_env(source, {**(columns or {}), **kwcolumns})
    prog = _compile(text, env._h, _options(max_length, max_depth))
    try:
        return _eval(prog, env)
    finally:
        lib.crm_segment_program_free(prog)


def _bitset(mask):
    """uint64 words of a boolean mask (numpy array or sequence)."""
    n = len(mask)
    words = max(1, (n + 63) // 64)
    if np is not None:
        packed = np.packbits(np.asarray(mask, dtype=bool), bitorder="little")
        buf = np.zeros(words * 8, dtype=np.uint8)
        buf[:len(packed)] = packed
        return buf.view(np.uint64), n
    bits = (ctypes.c_uint64 * words)()
    for i, v in enumerate(mask):
        if v:
            bits[i // 64] |= 1 << (i % 64)
    return bits, n


class SegmentStats:
    """Member counts and pairwise overlaps of k segments: a mergeable
    partial (exact integer sums over disjoint customer partitions)."""

    def __init__(self, handle):
        self._h = P(handle)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_segment_stats_free(h)
            self._h = None

    @property
    def customers(self):
        """Customers covered (summed over merged partitions)."""
        return lib.crm_segment_stats_customers(self._h)

    @property
    def overlaps(self):
        """k x k overlap counts (numpy uint64 matrix, or a list of lists);
        the diagonal holds the segment sizes."""
        k = lib.crm_segment_stats_segments(self._h)
        addr = lib.crm_segment_stats_matrix(self._h)
        raw = (ctypes.c_uint64 * (k * k)).from_address(addr)
        if np is not None:
            return np.array(raw, dtype=np.uint64).reshape(k, k)
        return [list(raw[i * k:(i + 1) * k]) for i in range(k)]

    @property
    def sizes(self):
        """Members per segment."""
        m = self.overlaps
        return [int(m[i][i]) for i in range(len(m))]

    def merge(self, other):
        """Statistics of the union of two disjoint customer partitions."""
        out = P()
        lib.crm_segment_stats_merge(ctypes.byref(out), self._h, other._h)
        return SegmentStats(out.value)

    def to_bytes(self):
        """Versioned, checksummed serialised form."""
        buf = P()
        n = SZ()
        lib.crm_segment_stats_serialize(ctypes.byref(buf), ctypes.byref(n), self._h)
        try:
            return ctypes.string_at(buf, n.value)
        finally:
            lib.crm_bytes_free(buf)

    @classmethod
    def from_bytes(cls, data):
        """Load what :meth:`to_bytes` wrote (raises StateError if corrupted)."""
        data = bytes(data)
        out = P()
        lib.crm_segment_stats_load(ctypes.byref(out), data, len(data))
        return cls(out.value)

    def __repr__(self):
        return f"<libcrm.SegmentStats segments={len(self.sizes)} customers={self.customers}>"


def segment_stats(masks):
    """Sizes and pairwise overlaps of several membership masks of equal length."""
    masks = list(masks)
    if not masks:
        raise ValueError("segment_stats() needs at least one mask")
    sets = [_bitset(m) for m in masks]
    n = sets[0][1]
    if any(s[1] != n for s in sets):
        raise ValueError("all masks must have the same length")
    ptrs = (ctypes.c_void_p * len(sets))()
    for i, (bits, _) in enumerate(sets):
        ptrs[i] = bits.ctypes.data if np is not None else ctypes.addressof(bits)
    out = P()
    lib.crm_segment_stats_compute(ctypes.byref(out), ptrs, len(sets), n)
    return SegmentStats(out.value)
