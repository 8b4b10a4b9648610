"""Multi-touch attribution, exact Markov removal effects, Shapley values and
control-group uplift (``crm/attribution.h``; semantics:
specs/attribution.md).

A :class:`PathTable` holds distinct channel paths with their conversions,
value and null (non-converting) counts. Build it from ChannelAttribution's
CSV (:meth:`PathTable.read_csv`), from rows (:meth:`PathTable.from_rows`) or
from touch/conversion events (:meth:`PathTable.from_events`). Tables merge
exactly (:meth:`PathTable.merge`) and serialise (:meth:`PathTable.to_bytes`),
so partitions can be reduced separately (Dask) and combined.
"""
import ctypes

from . import _types
from ._arrays import as_records, dtype_of
from ._lib import P, SZ, c_status, declare_all, lib

_C = ctypes
_PD = _C.POINTER(_C.c_double)
_PO = _C.POINTER(_types.AttributionOptions)
_PJ = _C.POINTER(_types.JourneyOptions)

declare_all({
    "crm_attribution_options_init": (c_status, [_PO, _C.c_uint]),
    "crm_attribution_journey_options_init": (c_status, [_PJ, _C.c_uint]),
    "crm_attribution_paths_new": (c_status, [_C.POINTER(P)]),
    "crm_attribution_paths_free": (None, [P]),
    "crm_attribution_paths_add": (c_status, [P, _C.c_char_p, _C.c_char_p, _C.c_double,
                                             _C.c_double, _C.c_double]),
    "crm_attribution_paths_from_arrays": (c_status, [_C.POINTER(P), SZ, P, SZ, P, P, P, P, P]),
    "crm_attribution_paths_parse": (c_status, [_C.POINTER(P), _C.c_char_p, SZ, _C.c_char,
                                               _C.c_char_p]),
    "crm_attribution_paths_from_events": (c_status, [_C.POINTER(P), P, SZ, P, SZ, _PJ]),
    "crm_attribution_paths_merge": (c_status, [_C.POINTER(P), P, P]),
    "crm_attribution_paths_serialize": (c_status, [P, _C.POINTER(P), _C.POINTER(SZ)]),
    "crm_attribution_paths_deserialize": (c_status, [_C.POINTER(P), _C.c_char_p, SZ]),
    "crm_attribution_paths_n_channels": (SZ, [P]),
    "crm_attribution_paths_channel_name": (_C.c_char_p, [P, SZ]),
    "crm_attribution_paths_channel_index": (_C.c_int64, [P, _C.c_char_p]),
    "crm_attribution_paths_n_rows": (SZ, [P]),
    "crm_attribution_paths_columns": (c_status, [P, _C.POINTER(P), _C.POINTER(P),
                                                 _C.POINTER(P), _C.POINTER(P), _C.POINTER(P)]),
    "crm_attribution_paths_totals": (c_status, [P, _PD, _PD, _PD, _PD, _PD]),
    "crm_attribution_paths_credit": (c_status, [P, _C.c_int, _PO, _PD, _PD]),
    "crm_attribution_markov_fit": (c_status, [_C.POINTER(P), P, _PO]),
    "crm_attribution_markov_free": (None, [P]),
    "crm_attribution_markov_p_conversion": (_C.c_double, [P]),
    "crm_attribution_markov_expected_value": (_C.c_double, [P]),
    "crm_attribution_markov_array": (_PD, [P, _C.c_int, _C.POINTER(SZ)]),
    "crm_attribution_markov_n_states": (SZ, [P]),
    "crm_attribution_markov_state_name": (_C.c_char_p, [P, SZ]),
    "crm_attribution_markov_transitions": (c_status, [P, _C.POINTER(SZ), _C.POINTER(P),
                                                      _C.POINTER(P), _C.POINTER(P)]),
    "crm_attribution_choose_order": (c_status, [P, _C.c_uint32, _C.c_int,
                                                _C.POINTER(_C.c_uint32), _PD]),
    "crm_attribution_events_credit": (c_status, [_C.POINTER(P), P, SZ, P, SZ, _PJ, _PO]),
    "crm_attribution_credit_free": (None, [P]),
    "crm_attribution_credit_ids": (_C.POINTER(_C.c_uint32), [P, _C.c_int, _C.POINTER(SZ)]),
    "crm_attribution_credit_get": (c_status, [P, _C.c_int, _C.c_int, _C.POINTER(_PD),
                                              _C.POINTER(_PD)]),
    "crm_attribution_credit_unattributed": (c_status, [P, _PD, _PD]),
    "crm_attribution_credit_merge": (c_status, [_C.POINTER(P), P, P]),
    "crm_attribution_credit_serialize": (c_status, [P, _C.POINTER(P), _C.POINTER(SZ)]),
    "crm_attribution_credit_deserialize": (c_status, [_C.POINTER(P), _C.c_char_p, SZ]),
    "crm_attribution_in_control": (c_status, [P, SZ, _C.c_uint64, _C.c_double, P]),
    "crm_attribution_uplift": (c_status, [P, SZ, P, SZ, _C.POINTER(_types.UpliftResult)]),
    "crm_attribution_outcomes": (c_status, [P, SZ, P, SZ, _C.c_int64, _C.c_uint32,
                                            _C.c_int64, P, P]),
})

#: Model names and their C codes (``enum crm_attribution_model``).
MODELS = {"first_touch": 1, "last_touch": 2, "linear": 3, "position_based": 4,
          "last_non_direct": 5, "time_decay": 6, "ad_server_last": 7, "markov": 8,
          "shapley": 9, "shapley_cr": 10}
_EVENT_MODELS = ("first_touch", "last_touch", "linear", "position_based", "last_non_direct",
                 "time_decay", "ad_server_last")
_INFINITE = 0xFFFFFFFF

#: numpy structured dtypes of ``crm_touch`` and ``crm_conversion`` (None without numpy).
TOUCH_DTYPE = dtype_of(_types.Touch)
CONVERSION_DTYPE = dtype_of(_types.Conversion)


def _options(order=1, position=(0.4, 0.2, 0.4), direct=-1, half_life_days=7.0,
             ordered=False, keep_self_loops=False, max_step=None, bootstrap=0, seed=1,
             threads=1):
    o = _types.AttributionOptions()
    lib.crm_attribution_options_init(_C.byref(o), 2)
    o.order = int(order)
    o.position_first, o.position_middle, o.position_last = (float(x) for x in position)
    o.direct_channel = int(direct)
    o.half_life_days = float(half_life_days)
    o.ordered = int(bool(ordered))
    o.keep_self_loops = int(bool(keep_self_loops))
    o.max_step = int(max_step or 0)
    o.bootstrap = int(bootstrap)
    o.seed = int(seed)
    o.threads = int(threads)
    return o


def _journey_options(click_window_days, view_window_days, reset, by_campaign=False):
    j = _types.JourneyOptions()
    lib.crm_attribution_journey_options_init(_C.byref(j), 2)
    j.by_campaign = int(bool(by_campaign))
    j.click_window_days = _INFINITE if click_window_days is None else int(click_window_days)
    j.view_window_days = _INFINITE if view_window_days is None else int(view_window_days)
    j.no_reset = 0 if reset else 1
    return j


def _touches(touches):
    rows = touches
    if not hasattr(touches, "__array_interface__"):
        rows = [tuple(t)[:5] for t in touches]
    return as_records(rows, _types.Touch)


def _conversions(conversions):
    rows = conversions
    if not hasattr(conversions, "__array_interface__"):
        rows = [tuple(c) if len(c) >= 4 else tuple(c) + (1.0,) for c in conversions]
    return as_records(rows, _types.Conversion)


def _doubles(values):
    """(address, count, keepalive) of float64 data, zero-copy for numpy."""
    if hasattr(values, "__array_interface__"):
        import numpy as np
        arr = np.ascontiguousarray(values, dtype=np.float64)
        return arr.__array_interface__["data"][0], len(arr), arr
    vals = [float(v) for v in values]
    buf = (_C.c_double * len(vals))(*vals)
    return _C.addressof(buf), len(vals), buf


def _u64s(values):
    if hasattr(values, "__array_interface__"):
        import numpy as np
        arr = np.ascontiguousarray(values, dtype=np.uint64)
        return arr.__array_interface__["data"][0], len(arr), arr
    vals = [int(v) for v in values]
    buf = (_C.c_uint64 * len(vals))(*vals)
    return _C.addressof(buf), len(vals), buf


class PathTable:
    """Distinct channel paths with conversions, value and null counts."""

    __slots__ = ("_h",)

    def __init__(self, _handle=None):
        if _handle is None:
            h = P()
            lib.crm_attribution_paths_new(_C.byref(h))
            _handle = h
        self._h = _handle

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_attribution_paths_free(h)
            self._h = None

    # ---- construction ----------------------------------------------------

    @classmethod
    def parse(cls, text, sep=">", field_sep=None):
        """Parse CSV text or bytes (header line first); ``field_sep`` is
        guessed from the header (``;`` if present, else ``,``) when None."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        if field_sep is None:
            header = data.split(b"\n", 1)[0]
            field_sep = ";" if b";" in header else ","
        h = P()
        lib.crm_attribution_paths_parse(_C.byref(h), data, len(data),
                                        field_sep.encode()[:1], sep.encode())
        return cls(h)

    @classmethod
    def read_csv(cls, path, sep=">", field_sep=None):
        """Read ChannelAttribution's ``path;conversions;value;nulls`` file
        (``;``- or ``,``-separated, with a header line)."""
        with open(path, "rb") as f:
            return cls.parse(f.read(), sep=sep, field_sep=field_sep)

    @classmethod
    def from_rows(cls, rows, sep=">"):
        """Rows ``(path, conversions, value, nulls)`` (or ``(path,
        conversions, nulls)``); ``path`` is text joined by ``sep`` or a
        sequence of channel names."""
        t = cls()
        bsep = sep.encode()
        for i, r in enumerate(rows):
            if len(r) == 4:
                path, conv, value, nulls = r
            elif len(r) == 3:
                path, conv, nulls = r
                value = 0.0
            else:
                raise ValueError(f"row {i}: need (path, conversions, value, nulls)")
            if not isinstance(path, (str, bytes)):
                path = sep.join(path)
            if isinstance(path, str):
                path = path.encode()
            lib.crm_attribution_paths_add(t._h, path, bsep, float(conv), float(value),
                                          float(nulls))
        return t

    @classmethod
    def from_events(cls, touches, conversions, click_window_days=30, view_window_days=1,
                    reset=True, by_campaign=False):
        """Journeys from events: ``touches`` as a ``TOUCH_DTYPE`` array or
        tuples ``(customer_id, ts, channel, campaign, kind)`` (kind 0 view,
        1 click), ``conversions`` as a ``CONVERSION_DTYPE`` array or tuples
        ``(customer_id, ts, value[, weight])``. A window of None is infinite.
        Channel names are the decimal channel ids (campaign ids with
        ``by_campaign``, so every model credits campaigns)."""
        ta, tn, tk = _touches(touches)
        ca, cn, ck = _conversions(conversions)
        j = _journey_options(click_window_days, view_window_days, reset, by_campaign)
        h = P()
        lib.crm_attribution_paths_from_events(_C.byref(h), ta, tn, ca, cn, _C.byref(j))
        del tk, ck
        return cls(h)

    def merge(self, other):
        """A new table equal to the one built from both tables' data."""
        h = P()
        lib.crm_attribution_paths_merge(_C.byref(h), self._h, other._h)
        return PathTable(h)

    def to_bytes(self):
        """Serialised partial (versioned, checksummed)."""
        buf, n = P(), SZ()
        lib.crm_attribution_paths_serialize(self._h, _C.byref(buf), _C.byref(n))
        try:
            return _C.string_at(buf, n.value)
        finally:
            lib.crm_bytes_free(buf)

    @classmethod
    def from_bytes(cls, data):
        """Load a table written by :meth:`to_bytes`."""
        data = bytes(data)
        h = P()
        lib.crm_attribution_paths_deserialize(_C.byref(h), data, len(data))
        return cls(h)

    def __reduce__(self):
        return (PathTable.from_bytes, (self.to_bytes(),))

    # ---- contents --------------------------------------------------------

    @property
    def channels(self):
        """Channel names in table order."""
        n = lib.crm_attribution_paths_n_channels(self._h)
        return [lib.crm_attribution_paths_channel_name(self._h, i).decode() for i in range(n)]

    def __len__(self):
        return lib.crm_attribution_paths_n_rows(self._h)

    def totals(self):
        """Dict of conversions, value and nulls of the non-empty paths and
        the unattributed (empty-path) conversions and value."""
        v = [_C.c_double() for _ in range(5)]
        lib.crm_attribution_paths_totals(self._h, *[_C.byref(x) for x in v])
        keys = ("conversions", "value", "nulls", "unattributed_conversions",
                "unattributed_value")
        return {k: x.value for k, x in zip(keys, v)}

    def rows(self):
        """List of ``(channel names tuple, conversions, value, nulls)``."""
        off, ch, cv, val, nl = P(), P(), P(), P(), P()
        lib.crm_attribution_paths_columns(self._h, *[_C.byref(x) for x in (off, ch, cv, val, nl)])
        n = len(self)
        if n == 0:
            return []
        names = self.channels
        offs = (_C.c_uint64 * (n + 1)).from_address(off.value)
        chans = (_C.c_uint32 * offs[n]).from_address(ch.value) if offs[n] else []
        c = (_C.c_double * n).from_address(cv.value)
        v = (_C.c_double * n).from_address(val.value)
        u = (_C.c_double * n).from_address(nl.value)
        return [(tuple(names[chans[k]] for k in range(offs[r], offs[r + 1])), c[r], v[r], u[r])
                for r in range(n)]

    def _direct(self, direct):
        if direct is None:
            return -1
        i = lib.crm_attribution_paths_channel_index(self._h, str(direct).encode())
        if i < 0:
            raise ValueError(f"direct channel {direct!r} is not in the table")
        return i

    # ---- models ----------------------------------------------------------

    def credit(self, model, **kw):
        """``{channel: (conversions, value)}`` under one model."""
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
        kw["direct"] = self._direct(kw.get("direct"))
        o = _options(**kw)
        n = lib.crm_attribution_paths_n_channels(self._h)
        c = (_C.c_double * max(n, 1))()
        v = (_C.c_double * max(n, 1))()
        lib.crm_attribution_paths_credit(self._h, MODELS[model], _C.byref(o), c, v)
        return {name: (c[i], v[i]) for i, name in enumerate(self.channels)}

    def attribute(self, models=("first_touch", "last_touch", "linear", "position_based",
                                "markov", "shapley", "shapley_cr"),
                  order=1, position=(0.4, 0.2, 0.4), direct=None, half_life_days=7,
                  ordered=False, max_step=None):
        """``{model: {channel: (conversions, value)}}`` for several models.
        time_decay and ad_server_last need events (:func:`events_credit`)."""
        if isinstance(models, str):
            models = (models,)
        return {m: self.credit(m, order=order, position=position, direct=direct,
                               half_life_days=half_life_days, ordered=ordered,
                               max_step=max_step)
                for m in models}

    def markov(self, order=1, max_step=None, keep_self_loops=False, bootstrap=0, seed=1,
               threads=1):
        """Fit the removal-effect Markov model exactly; see :class:`MarkovResult`.
        ``bootstrap`` > 0 adds seeded bootstrap standard errors; ``threads``
        splits the per-channel removal solves."""
        o = _options(order=order, max_step=max_step, keep_self_loops=keep_self_loops,
                     bootstrap=bootstrap, seed=seed, threads=threads)
        h = P()
        lib.crm_attribution_markov_fit(_C.byref(h), self._h, _C.byref(o))
        try:
            return MarkovResult(h, self.channels, bootstrap > 0)
        finally:
            lib.crm_attribution_markov_free(h)

    def order_scores(self, max_order=4, criterion="heldout"):
        """``(chosen order, [score per order 1..max_order])``: held-out
        log-likelihood (higher is better) or BIC (lower is better)."""
        crit = {"bic": 1, "heldout": 2}.get(criterion)
        if crit is None:
            raise ValueError("criterion must be 'heldout' or 'bic'")
        k = _C.c_uint32()
        scores = (_C.c_double * max(int(max_order), 1))()
        lib.crm_attribution_choose_order(self._h, int(max_order), crit, _C.byref(k), scores)
        return k.value, list(scores)[:int(max_order)]

    def choose_order(self, max_order=4, criterion="heldout"):
        """The Markov order 1..max_order chosen by held-out likelihood (or BIC)."""
        return self.order_scores(max_order, criterion)[0]


class MarkovResult:
    """Result of :meth:`PathTable.markov` (plain Python values, copied out).

    Attributes: ``p_conversion``, ``expected_value``, ``removal_effects``,
    ``value_removal_effects``, ``credit`` (``{channel: (conversions,
    value)}``), ``states`` (names, 0 = "(start)", 1 = "(conversion)",
    2 = "(null)"), ``transition_matrix`` (``{from: {to: probability}}`` by
    state name) and ``stderr`` (None without bootstrap, else a dict of
    ``removal_effects``, ``value_removal_effects``, ``conversions``,
    ``value`` per channel).
    """

    def __init__(self, h, channels, with_se):
        self.p_conversion = lib.crm_attribution_markov_p_conversion(h)
        self.expected_value = lib.crm_attribution_markov_expected_value(h)
        n = len(channels)

        def arr(which):
            p = lib.crm_attribution_markov_array(h, which, None)
            return {channels[i]: p[i] for i in range(n)}

        self.removal_effects = arr(1)
        self.value_removal_effects = arr(2)
        conv, val = arr(3), arr(4)
        self.credit = {c: (conv[c], val[c]) for c in channels}
        self.stderr = None
        if with_se:
            self.stderr = {"removal_effects": arr(5), "value_removal_effects": arr(6),
                           "conversions": arr(7), "value": arr(8)}
        ns = lib.crm_attribution_markov_n_states(h)
        self.states = [lib.crm_attribution_markov_state_name(h, i).decode() for i in range(ns)]
        nt, fr, to, pr = SZ(), P(), P(), P()
        lib.crm_attribution_markov_transitions(h, _C.byref(nt), _C.byref(fr), _C.byref(to),
                                               _C.byref(pr))
        m = {}
        if nt.value:
            f = (_C.c_uint32 * nt.value).from_address(fr.value)
            t = (_C.c_uint32 * nt.value).from_address(to.value)
            p = (_C.c_double * nt.value).from_address(pr.value)
            for i in range(nt.value):
                m.setdefault(self.states[f[i]], {})[self.states[t[i]]] = p[i]
        self.transition_matrix = m

    def __repr__(self):
        return (f"MarkovResult(p_conversion={self.p_conversion:.6g}, "
                f"removal_effects={self.removal_effects})")


def _events_handle(touches, conversions, click_window_days, view_window_days, reset,
                   position, direct, half_life_days):
    ta, tn, tk = _touches(touches)
    ca, cn, ck = _conversions(conversions)
    j = _journey_options(click_window_days, view_window_days, reset)
    o = _options(position=position, direct=-1 if direct is None else int(direct),
                 half_life_days=half_life_days)
    h = P()
    lib.crm_attribution_events_credit(_C.byref(h), ta, tn, ca, cn, _C.byref(j), _C.byref(o))
    del tk, ck
    return h


def _credit_dict(h):
    out = {}
    for by, key in ((0, "channel"), (1, "campaign")):
        n = SZ()
        ids = lib.crm_attribution_credit_ids(h, by, _C.byref(n))
        idl = [ids[i] for i in range(n.value)]
        per = {}
        for m in _EVENT_MODELS:
            c, v = _PD(), _PD()
            lib.crm_attribution_credit_get(h, MODELS[m], by, _C.byref(c), _C.byref(v))
            per[m] = {idl[i]: (c[i], v[i]) for i in range(n.value)}
        out[key] = per
    uc, uv = _C.c_double(), _C.c_double()
    lib.crm_attribution_credit_unattributed(h, _C.byref(uc), _C.byref(uv))
    out["unattributed"] = (uc.value, uv.value)
    return out


def events_credit(touches, conversions, click_window_days=30, view_window_days=1, reset=True,
                  position=(0.4, 0.2, 0.4), direct=None, half_life_days=7):
    """Heuristic credit from events per channel and per campaign:
    ``{"channel": {model: {id: (conversions, value)}}, "campaign": {...},
    "unattributed": (conversions, value)}`` for the models first_touch,
    last_touch, linear, position_based, last_non_direct, time_decay and
    ad_server_last. ``direct`` is a channel id."""
    h = _events_handle(touches, conversions, click_window_days, view_window_days, reset,
                       position, direct, half_life_days)
    try:
        return _credit_dict(h)
    finally:
        lib.crm_attribution_credit_free(h)


def events_credit_partial(touches, conversions, click_window_days=30, view_window_days=1,
                          reset=True, position=(0.4, 0.2, 0.4), direct=None, half_life_days=7):
    """:func:`events_credit` of one customer-disjoint partition, serialised."""
    h = _events_handle(touches, conversions, click_window_days, view_window_days, reset,
                       position, direct, half_life_days)
    buf, n = P(), SZ()
    try:
        lib.crm_attribution_credit_serialize(h, _C.byref(buf), _C.byref(n))
        try:
            return _C.string_at(buf, n.value)
        finally:
            lib.crm_bytes_free(buf)
    finally:
        lib.crm_attribution_credit_free(h)


def events_credit_from_partials(blobs):
    """Merge :func:`events_credit_partial` results into the credit of the whole."""
    acc = None
    try:
        for blob in blobs:
            blob = bytes(blob)
            h = P()
            lib.crm_attribution_credit_deserialize(_C.byref(h), blob, len(blob))
            if acc is None:
                acc = h
                continue
            m = P()
            try:
                lib.crm_attribution_credit_merge(_C.byref(m), acc, h)
            finally:
                lib.crm_attribution_credit_free(h)
            lib.crm_attribution_credit_free(acc)
            acc = m
        if acc is None:
            raise ValueError("no partials")
        return _credit_dict(acc)
    finally:
        if acc is not None:
            lib.crm_attribution_credit_free(acc)


def in_control(customer_ids, salt, fraction):
    """Deterministic control-group flags (numpy bool array, or a list):
    ``splitmix64(id ^ splitmix64(salt)) >> 11`` scaled to [0, 1) < fraction."""
    a, n, keep = _u64s(customer_ids)
    out = (_C.c_uint8 * max(n, 1))()
    lib.crm_attribution_in_control(a, n, int(salt) & 0xFFFFFFFFFFFFFFFF, float(fraction), out)
    del keep
    try:
        import numpy as np
        return np.frombuffer(out, dtype=np.uint8)[:n].astype(bool)
    except ImportError:
        return [bool(out[i]) for i in range(n)]


def outcomes(customer_ids, conversions, stop_ts, washout_days=60, end_ts=2**62):
    """Per-customer ``(converted, value)`` lists/arrays over the measurement
    window ``[stop_ts + washout_days, end_ts)``."""
    a, n, keep = _u64s(customer_ids)
    ca, cn, ck = _conversions(conversions)
    conv = (_C.c_double * max(n, 1))()
    val = (_C.c_double * max(n, 1))()
    lib.crm_attribution_outcomes(a, n, ca, cn, int(stop_ts), int(washout_days), int(end_ts),
                                 conv, val)
    del keep, ck
    try:
        import numpy as np
        return (np.frombuffer(conv, dtype=np.float64)[:n].copy(),
                np.frombuffer(val, dtype=np.float64)[:n].copy())
    except ImportError:
        return list(conv)[:n], list(val)[:n]


def _welch(test, control):
    ta, tn, tk = _doubles(test)
    ca, cn, ck = _doubles(control)
    r = _types.UpliftResult()
    r.version = 1
    lib.crm_attribution_uplift(ta, tn, ca, cn, _C.byref(r))
    del tk, ck
    return {"n_test": r.n_test, "n_control": r.n_control, "mean_test": r.mean_test,
            "mean_control": r.mean_control, "lift": r.lift, "relative_lift": r.relative_lift,
            "ci95": (r.ci_low, r.ci_high), "p_value": r.p_value, "df": r.df,
            "incremental": r.incremental}


def uplift(test_outcomes, control_outcomes, test_revenue=None, control_revenue=None):
    """Welch comparison of per-customer outcomes (e.g. converted 0/1) of the
    test and control groups: means, absolute and relative lift, 95 % CI,
    two-sided p-value, ``incremental_conversions`` = lift x test customers;
    with revenue per customer also ``revenue`` (the same statistics) and
    ``incremental_revenue``."""
    out = _welch(test_outcomes, control_outcomes)
    out["incremental_conversions"] = out["incremental"]
    if test_revenue is not None and control_revenue is not None:
        rev = _welch(test_revenue, control_revenue)
        out["revenue"] = rev
        out["incremental_revenue"] = rev["incremental"]
    return out
