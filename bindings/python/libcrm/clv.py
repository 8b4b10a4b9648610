"""Churn and lifetime value: BG/NBD, Pareto/NBD, Gamma-Gamma (``crm/clv.h``).

Times are in an explicit unit, ``"day"`` or ``"week"``: the summary is built
in one, fits record it, and :func:`clv` converts horizons given in another
unit. Data columns are plain sequences or numpy arrays (float64 C-contiguous
arrays are read in place); results are numpy arrays (lists without numpy).
"""
import ctypes
import math

from . import _types
from ._arrays import as_records, column, np
from ._convert import to_day
from ._lib import P, SZ, c_status, declare_all, lib

_D = ctypes.c_double
_PD = ctypes.POINTER(ctypes.c_double)

declare_all({
    "crm_clv_summary_options_init": (c_status, [ctypes.POINTER(_types.ClvSummaryOptions),
                                                ctypes.c_uint]),
    "crm_clv_summary_build": (c_status, [ctypes.POINTER(P), P, SZ, ctypes.c_int64,
                                         ctypes.POINTER(_types.ClvSummaryOptions)]),
    "crm_clv_summary_free": (None, [P]),
    "crm_clv_summary_count": (SZ, [P]),
    "crm_clv_summary_unit": (ctypes.c_uint32, [P]),
    "crm_clv_summary_customer_id": (P, [P]),
    "crm_clv_summary_x": (P, [P]),
    "crm_clv_summary_t_x": (P, [P]),
    "crm_clv_summary_tenure": (P, [P]),
    "crm_clv_summary_m_x": (P, [P]),
    "crm_clv_fit_options_init": (c_status, [ctypes.POINTER(_types.ClvFitOptions), ctypes.c_uint]),
    "crm_clv_fit": (c_status, [ctypes.POINTER(P), ctypes.c_int, P, P, P, SZ,
                               ctypes.POINTER(_types.ClvFitOptions)]),
    "crm_clv_fit_spend": (c_status, [ctypes.POINTER(P), P, P, SZ,
                                     ctypes.POINTER(_types.ClvFitOptions)]),
    "crm_clv_model_new": (c_status, [ctypes.POINTER(P), ctypes.c_int, _PD, ctypes.c_uint32]),
    "crm_clv_model_free": (None, [P]),
    "crm_clv_model_info": (c_status, [P, ctypes.POINTER(_types.ClvFitInfo)]),
    "crm_clv_loglik": (c_status, [_PD, _PD, ctypes.c_int, _PD, P, P, P, SZ]),
    "crm_clv_p_alive": (c_status, [P, P, P, P, P, SZ]),
    "crm_clv_expected_purchases": (c_status, [P, P, _D, P, P, P, SZ]),
    "crm_clv_expected_purchases_new": (c_status, [P, P, P, SZ]),
    "crm_clv_prob_purchases": (c_status, [P, P, _D, P, SZ]),
    "crm_clv_expected_spend": (c_status, [P, P, P, P, SZ]),
    "crm_clv_value": (c_status, [P, P, P, P, P, P, P, SZ, _D, _D, _D]),
    "crm_clv_counts_build": (c_status, [ctypes.POINTER(P), P, P, P, SZ]),
    "crm_clv_counts_merge": (c_status, [ctypes.POINTER(P), P, P]),
    "crm_clv_counts_serialize": (c_status, [P, ctypes.POINTER(P), ctypes.POINTER(SZ)]),
    "crm_clv_counts_deserialize": (c_status, [ctypes.POINTER(P), ctypes.c_char_p, SZ]),
    "crm_clv_counts_free": (None, [P]),
    "crm_clv_counts_rows": (SZ, [P]),
    "crm_clv_counts_customers": (ctypes.c_uint64, [P]),
    "crm_clv_counts_x": (P, [P]),
    "crm_clv_counts_t_x": (P, [P]),
    "crm_clv_counts_tenure": (P, [P]),
    "crm_clv_counts_n": (P, [P]),
    "crm_clv_fit_counts": (c_status, [ctypes.POINTER(P), ctypes.c_int, P,
                                      ctypes.POINTER(_types.ClvFitOptions)]),
})

BGNBD_KIND, PARETO_NBD_KIND, GAMMA_GAMMA_KIND = 1, 2, 3
_UNITS = {"day": 1, "week": 7}


def _unit_code(unit):
    try:
        return _UNITS[unit]
    except (KeyError, TypeError):
        raise ValueError(f"unit must be 'day' or 'week', not {unit!r}") from None


def _unit_days(unit):
    """Length in days of a horizon unit: 'day', 'week' or a positive number of days."""
    if isinstance(unit, str):
        return float(_unit_code(unit))
    days = float(unit)
    if not days > 0 or math.isinf(days):
        raise ValueError(f"unit must be 'day', 'week' or a positive number of days, not {unit!r}")
    return days


def _doubles(values, name):
    """(address, count, keepalive) of a float64 column, zero-copy when possible."""
    if np is not None:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1:
            arr = arr.reshape(-1)
        arr = np.ascontiguousarray(arr)
        return arr.__array_interface__["data"][0] if len(arr) else None, len(arr), arr
    vals = [float(v) for v in values]
    buf = (ctypes.c_double * max(len(vals), 1))(*vals)
    return ctypes.addressof(buf), len(vals), buf


def _columns(names, *cols):
    out, n = [], None
    for name, col in zip(names, cols):
        addr, k, keep = _doubles(col, name)
        if n is not None and k != n:
            raise ValueError(f"{name} has {k} values, {names[0]} has {n}")
        n = k
        out.append((addr, keep))
    return n, out


def _result(n):
    if np is not None:
        arr = np.empty(n, dtype=np.float64)
        return arr, (arr.__array_interface__["data"][0] if n else None)
    buf = (ctypes.c_double * max(n, 1))()
    return buf, ctypes.addressof(buf)


def _finish(buf, n):
    return buf if np is not None else list(buf)[:n]


class ClvSummary:
    """Per-customer model input (ascending ``customer_id``): columns
    ``customer_id, x, t_x, T, m_x`` as attributes or ``s["x"]``; ``unit`` is
    ``'day'`` or ``'week'``. ``m_x`` is in minor units, 0 where x = 0."""

    COLUMNS = ("customer_id", "x", "t_x", "T", "m_x")

    def __init__(self, handle):
        self._h = ctypes.c_void_p(handle)
        n = lib.crm_clv_summary_count(self._h)
        self.customer_id = column(self, lib.crm_clv_summary_customer_id(self._h),
                                  ctypes.c_uint64, n)
        for name in self.COLUMNS[1:]:
            cname = "tenure" if name == "T" else name
            addr = getattr(lib, f"crm_clv_summary_{cname}")(self._h)
            setattr(self, name, column(self, addr, ctypes.c_double, n))
        self.unit = {1: "day", 7: "week"}[lib.crm_clv_summary_unit(self._h)]

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_clv_summary_free(h)
            self._h = None

    def __len__(self):
        return lib.crm_clv_summary_count(self._h)

    def __getitem__(self, name):
        if name not in self.COLUMNS:
            raise KeyError(name)
        return getattr(self, name)

    def keys(self):
        """Column names."""
        return list(self.COLUMNS)

    def __repr__(self):
        return f"<libcrm.ClvSummary customers={len(self)} unit={self.unit}>"


def clv_summary(orders, period_end, unit="week", merge_same_day=True):
    """Model input from orders: per customer ``x`` (repeat purchase
    occasions), ``t_x`` and ``T`` in ``unit`` ('day' or 'week'), ``m_x``
    (mean repeat amount, minor units). ``orders`` as for
    :func:`libcrm.profiles`; ``period_end``: date, ISO string or day number
    (orders after it are ignored). ``merge_same_day``: one occasion per UTC
    day (the CDNOW convention)."""
    addr, n, keep = as_records(orders, _types.Order)
    opt = _types.ClvSummaryOptions()
    lib.crm_clv_summary_options_init(ctypes.byref(opt), 1)
    opt.unit = _unit_code(unit)
    opt.merge_same_day = 1 if merge_same_day else 0
    out = P()
    lib.crm_clv_summary_build(ctypes.byref(out), addr, n, to_day(period_end), ctypes.byref(opt))
    del keep
    return ClvSummary(out.value)


class ClvCounts:
    """Compressed purchase data (scale-out partial): distinct ``(x, t_x, T)``
    rows with customer counts ``n``, ascending. Build per partition with
    :func:`clv_counts`, ship ``bytes(counts)`` (or ``.serialize()``), load with
    :meth:`deserialize`, combine with :meth:`merge` (exact), fit with
    ``BGNBD.fit_counts`` / ``ParetoNBD.fit_counts``."""

    def __init__(self, handle):
        self._h = ctypes.c_void_p(handle)
        k = lib.crm_clv_counts_rows(self._h)
        self.x = column(self, lib.crm_clv_counts_x(self._h), ctypes.c_double, k)
        self.t_x = column(self, lib.crm_clv_counts_t_x(self._h), ctypes.c_double, k)
        self.T = column(self, lib.crm_clv_counts_tenure(self._h), ctypes.c_double, k)
        self.n = column(self, lib.crm_clv_counts_n(self._h), ctypes.c_uint64, k)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_clv_counts_free(h)
            self._h = None

    def __len__(self):
        return lib.crm_clv_counts_rows(self._h)

    @property
    def customers(self):
        """Total customers (sum of ``n``)."""
        return lib.crm_clv_counts_customers(self._h)

    def merge(self, other):
        """Counts of the union of both tables' customers."""
        out = P()
        lib.crm_clv_counts_merge(ctypes.byref(out), self._h, other._h)
        return ClvCounts(out.value)

    def serialize(self):
        """Versioned, checksummed bytes."""
        buf, n = P(), SZ()
        lib.crm_clv_counts_serialize(self._h, ctypes.byref(buf), ctypes.byref(n))
        try:
            return ctypes.string_at(buf.value, n.value)
        finally:
            lib.crm_bytes_free(buf)

    __bytes__ = serialize

    @classmethod
    def deserialize(cls, data):
        """Load bytes from :meth:`serialize` (StateError when corrupted)."""
        data = bytes(data)
        out = P()
        lib.crm_clv_counts_deserialize(ctypes.byref(out), data, len(data))
        return cls(out.value)

    def __repr__(self):
        return f"<libcrm.ClvCounts rows={len(self)} customers={self.customers}>"


def clv_counts(x, t_x, T):
    """Compress per-customer ``(x, t_x, T)`` into a :class:`ClvCounts`."""
    n, cols = _columns(("x", "t_x", "T"), x, t_x, T)
    out = P()
    lib.crm_clv_counts_build(ctypes.byref(out), cols[0][0], cols[1][0], cols[2][0], n)
    return ClvCounts(out.value)


class _Model:
    KIND = 0
    PARAMS = ()

    def __init__(self, params, unit="week"):
        """A model from known parameters (dict or sequence in PARAMS order)."""
        if isinstance(params, dict):
            params = [params[k] for k in self.PARAMS]
        vals = (ctypes.c_double * 4)(*[float(v) for v in params])
        out = P()
        lib.crm_clv_model_new(ctypes.byref(out), self.KIND, vals, _unit_code(unit))
        self._set(out.value)

    def _set(self, handle):
        self._h = ctypes.c_void_p(handle)
        fi = _types.ClvFitInfo(version=1)
        lib.crm_clv_model_info(self._h, ctypes.byref(fi))
        k = len(self.PARAMS)
        self.params = {name: fi.params[i] for i, name in enumerate(self.PARAMS)}
        self.stderr = {name: fi.se[i] for i, name in enumerate(self.PARAMS)} if fi.fitted else None
        self.loglik = fi.loglik if fi.fitted else None
        self.iterations = fi.iterations
        self.evaluations = fi.evaluations
        self.starts = fi.starts
        self.starts_converged = fi.starts_converged
        self.converged = bool(fi.fitted)
        self.n = fi.n
        self.grad_max = fi.grad_max
        self.unit = {1: "day", 7: "week"}[fi.unit]
        self._k = k

    @classmethod
    def _from_handle(cls, handle):
        self = cls.__new__(cls)
        self._set(handle)
        return self

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_clv_model_free(h)
            self._h = None

    def __repr__(self):
        ps = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        ll = f", loglik={self.loglik:.6f}" if self.loglik is not None else ""
        return f"<libcrm.{type(self).__name__} {ps}{ll} unit={self.unit}>"


def _fit_options(unit, starts, max_iter, gtol):
    opt = _types.ClvFitOptions()
    lib.crm_clv_fit_options_init(ctypes.byref(opt), 1)
    opt.unit = _unit_code(unit)
    if starts is not None:
        opt.starts = int(starts)
    if max_iter is not None:
        opt.max_iter = int(max_iter)
    if gtol is not None:
        opt.gtol = float(gtol)
    return opt


class _PurchaseModel(_Model):
    @classmethod
    def fit(cls, x, t_x=None, T=None, unit="week", starts=None, max_iter=None, gtol=None):
        """Maximum-likelihood fit on per-customer (x, t_x, T) in ``unit``, or
        on a :class:`ClvSummary` passed alone (its unit is used).
        Raises :class:`libcrm.DataError` when no start converges (the message
        says why); never returns start values or NaN."""
        if t_x is None and T is None and isinstance(x, ClvSummary):
            x, t_x, T, unit = x.x, x.t_x, x.T, x.unit
        n, cols = _columns(("x", "t_x", "T"), x, t_x, T)
        opt = _fit_options(unit, starts, max_iter, gtol)
        out = P()
        lib.crm_clv_fit(ctypes.byref(out), cls.KIND, cols[0][0], cols[1][0], cols[2][0], n,
                        ctypes.byref(opt))
        return cls._from_handle(out.value)

    @classmethod
    def fit_counts(cls, counts, unit="week", starts=None, max_iter=None, gtol=None):
        """The same fit on a :class:`ClvCounts` (merged partition partials)."""
        opt = _fit_options(unit, starts, max_iter, gtol)
        out = P()
        lib.crm_clv_fit_counts(ctypes.byref(out), cls.KIND, counts._h, ctypes.byref(opt))
        return cls._from_handle(out.value)

    def loglik_of(self, x, t_x, T):
        """(log-likelihood, gradient dict) of these parameters summed over
        the given customers: partitions add up to the whole."""
        n, cols = _columns(("x", "t_x", "T"), x, t_x, T)
        return _loglik(self, n, [c[0] for c in cols])

    def p_alive(self, x, t_x, T):
        """P(alive at T | x, t_x, T) per customer (the lifecycle module's
        probability-mode input)."""
        n, cols = _columns(("x", "t_x", "T"), x, t_x, T)
        buf, addr = _result(n)
        lib.crm_clv_p_alive(addr, self._h, cols[0][0], cols[1][0], cols[2][0], n)
        return _finish(buf, n)

    def expected_purchases(self, t, x, t_x, T):
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` units."""
        n, cols = _columns(("x", "t_x", "T"), x, t_x, T)
        buf, addr = _result(n)
        lib.crm_clv_expected_purchases(addr, self._h, float(t), cols[0][0], cols[1][0],
                                       cols[2][0], n)
        return _finish(buf, n)

    def expected_purchases_new(self, t):
        """E[X(t)] of a new customer; ``t`` scalar or sequence."""
        scalar = not hasattr(t, "__len__")
        n, cols = _columns(("t",), [t] if scalar else t)
        buf, addr = _result(n)
        lib.crm_clv_expected_purchases_new(addr, self._h, cols[0][0], n)
        res = _finish(buf, n)
        return float(res[0]) if scalar else res

    def prob_purchases(self, n, t):
        """P(X(t) = n) for a new customer; ``n`` scalar or sequence."""
        scalar = not hasattr(n, "__len__")
        k, cols = _columns(("n",), [n] if scalar else n)
        buf, addr = _result(k)
        lib.crm_clv_prob_purchases(addr, self._h, float(t), cols[0][0], k)
        res = _finish(buf, k)
        return float(res[0]) if scalar else res


class BGNBD(_PurchaseModel):
    """BG/NBD (Fader, Hardie & Lee 2005): ``params`` r, alpha, a, b."""

    KIND = BGNBD_KIND
    PARAMS = ("r", "alpha", "a", "b")


class ParetoNBD(_PurchaseModel):
    """Pareto/NBD (Schmittlein et al. 1987): ``params`` r, alpha, s, beta."""

    KIND = PARETO_NBD_KIND
    PARAMS = ("r", "alpha", "s", "beta")


class GammaGamma(_Model):
    """Gamma-Gamma spend model (Fader & Hardie 2013): ``params`` p, q, gamma."""

    KIND = GAMMA_GAMMA_KIND
    PARAMS = ("p", "q", "gamma")

    @classmethod
    def fit(cls, x, m_x=None, starts=None, max_iter=None, gtol=None):
        """Fit on the customers with x > 0 and m_x > 0 (full density of m_x);
        ``x`` may be a :class:`ClvSummary` passed alone."""
        if m_x is None and isinstance(x, ClvSummary):
            x, m_x = x.x, x.m_x
        n, cols = _columns(("x", "m_x"), x, m_x)
        opt = _fit_options("week", starts, max_iter, gtol)
        out = P()
        lib.crm_clv_fit_spend(ctypes.byref(out), cols[0][0], cols[1][0], n, ctypes.byref(opt))
        return cls._from_handle(out.value)

    def loglik_of(self, x, m_x):
        """(log-likelihood, gradient dict) summed over the given customers."""
        n, cols = _columns(("x", "m_x"), x, m_x)
        return _loglik(self, n, [cols[0][0], cols[1][0], None])

    def expected_spend(self, x, m_x):
        """E[M | x, m_x] per customer (population mean where x = 0)."""
        n, cols = _columns(("x", "m_x"), x, m_x)
        buf, addr = _result(n)
        lib.crm_clv_expected_spend(addr, self._h, cols[0][0], cols[1][0], n)
        return _finish(buf, n)


def _loglik(model, n, addrs):
    ll = ctypes.c_double()
    g = (ctypes.c_double * 4)()
    p = (ctypes.c_double * 4)(*[model.params[k] for k in model.PARAMS])
    lib.crm_clv_loglik(ctypes.byref(ll), g, model.KIND, p, addrs[0], addrs[1], addrs[2], n)
    return ll.value, {k: g[i] for i, k in enumerate(model.PARAMS)}


def clv(model, spend_model, x, t_x, T, m_x, horizon, discount_rate, unit="week"):
    """Customer lifetime value per customer (minor units).

    ``horizon`` is counted in ``unit`` periods ('day', 'week' or a number of
    days, e.g. 30.4375 for an average month) and ``discount_rate`` applies
    per such period; purchases come from ``model`` (BG/NBD or Pareto/NBD, in
    its own time unit, converted here) and the spend per purchase from
    ``spend_model`` (Gamma-Gamma)."""
    if not isinstance(spend_model, GammaGamma):
        raise TypeError("spend_model must be a libcrm.GammaGamma model")
    if not isinstance(model, _PurchaseModel):
        raise TypeError("model must be a libcrm.BGNBD or libcrm.ParetoNBD model")
    period = _unit_days(unit) / _UNITS[model.unit]
    n, cols = _columns(("x", "t_x", "T", "m_x"), x, t_x, T, m_x)
    buf, addr = _result(n)
    lib.crm_clv_value(addr, model._h, spend_model._h, cols[0][0], cols[1][0], cols[2][0],
                      cols[3][0], n, float(horizon) * period, period, float(discount_rate))
    return _finish(buf, n)
