"""libcrm.clv: summary, fits, predictions and CLV against references written
here from the formulas (and the published CDNOW figures when the datasets
are present)."""
import datetime as dt
import math
import os
import random

import pytest

import libcrm

DAY = 86400
HERE = os.path.dirname(os.path.abspath(__file__))


def _datasets():
    cands = [os.environ.get("CRM_DATASETS"),
             os.path.join(HERE, "..", "..", "..", "..", "shared", "datasets"),
             os.path.join(HERE, "..", "..", "..", "..", "..", "shared", "datasets")]
    for c in cands:
        if c and os.path.isfile(os.path.join(c, "CDNOW_sample.txt")):
            return c
    return None


DATA = _datasets()
needs_data = pytest.mark.skipif(DATA is None, reason="../shared/datasets absent")


def _epoch_day(y, m, d):
    return (dt.date(y, m, d) - dt.date(1970, 1, 1)).days


def _cdnow_orders():
    rows = []
    with open(os.path.join(DATA, "CDNOW_sample.txt")) as f:
        for line in f:
            p = line.split()
            if len(p) != 5:
                continue
            ymd = p[2]
            day = _epoch_day(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
            rows.append((int(p[1]), day * DAY + 7200, round(float(p[4]) * 100)))
    return rows


def _cdnow_summary_file():
    out = []
    with open(os.path.join(DATA, "cdnow_customers_summary_with_transactions.csv")) as f:
        next(f)
        for line in f:
            i, x, tx, T, z = line.strip().split(",")
            out.append((int(i), float(x), float(tx), float(T), float(z)))
    return out


# ---- independent formulas ----------------------------------------------------

def bg_ll(p, x, tx, T):
    r, al, a, b = p
    lB = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    base = math.lgamma(r + x) - math.lgamma(r) + r * math.log(al) - lB
    A1 = base + math.lgamma(a) + math.lgamma(b + x) - math.lgamma(a + b + x) \
        - (r + x) * math.log(al + T)
    if x == 0:
        return A1
    A2 = base + math.lgamma(a + 1) + math.lgamma(b + x - 1) - math.lgamma(a + b + x) \
        - (r + x) * math.log(al + tx)
    m = max(A1, A2)
    return m + math.log(math.exp(A1 - m) + math.exp(A2 - m))


def hyp2f1(a, b, c, z):
    t = s = 1.0
    for j in range(200000):
        t *= (a + j) * (b + j) / ((c + j) * (j + 1)) * z
        s += t
        if abs(t) < 1e-17 * abs(s):
            break
    return s


def bg_ey(p, x, tx, T, t):
    r, al, a, b = p
    z = t / (al + T + t)
    br = 1 - ((al + T) / (al + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    den = 1 + (a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x) if x > 0 else 0)
    return (a + b + x - 1) / (a - 1) * br / den


def bg_palive(p, x, tx, T):
    r, al, a, b = p
    if x == 0:
        return 1.0
    return 1 / (1 + a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x))


def sim_bgnbd(seed, n, p, T0, T1):
    rng = random.Random(seed)
    r, al, a, b = p
    xs, txs, Ts = [], [], []
    for _ in range(n):
        lam = rng.gammavariate(r, 1 / al)
        pd = rng.betavariate(a, b)
        T = rng.uniform(T0, T1)
        t = x = tx = 0.0
        while True:
            t += rng.expovariate(lam)
            if t > T:
                break
            x += 1
            tx = t
            if rng.random() < pd:
                break
        xs.append(x)
        txs.append(tx)
        Ts.append(T)
    return xs, txs, Ts


PUB_BG = {"r": 0.2425982, "alpha": 4.4136842, "a": 0.7929899, "b": 2.4261667}


# ---- summary -----------------------------------------------------------------

def test_summary_hand_worked():
    orders = [(7, 10 * DAY + 100, 100), (7, 10 * DAY + 900, 50), (7, 12 * DAY, 30),
              (7, 24 * DAY, -20), (7, 30 * DAY, 80), (3, 11 * DAY, 500), (9, 40 * DAY, 9)]
    s = libcrm.clv_summary(orders, 34, unit="day")
    assert len(s) == 2 and s.unit == "day"
    assert list(s.customer_id) == [3, 7]
    assert list(s["x"]) == [0, 2] and list(s.t_x) == [0, 20] and list(s.T) == [23, 24]
    assert list(s.m_x) == [0, 55]
    w = libcrm.clv_summary(orders, dt.date(1970, 2, 4), merge_same_day=False)
    assert w.unit == "week" and list(w.x) == [0, 3]
    assert w.T[1] == pytest.approx(24 / 7, rel=1e-15)
    assert w.m_x[1] == pytest.approx((100 + 30 + 80) / 3, rel=1e-15)
    assert s.keys() == ["customer_id", "x", "t_x", "T", "m_x"]
    with pytest.raises(ValueError):
        libcrm.clv_summary(orders, 34, unit="month")
    with pytest.raises(libcrm.DataError, match=r"orders\[1\]"):
        libcrm.clv_summary([(1, DAY, 5), (1, -3, 5)], 34)


def test_summary_numpy_zero_copy():
    np = pytest.importorskip("numpy")
    a = np.array([(1, 5 * DAY, 10), (1, 9 * DAY, 30), (2, 6 * DAY, 7)], dtype=libcrm.ORDER_DTYPE)
    s = libcrm.clv_summary(a, "1970-01-15", unit="day")
    assert s.x.dtype == np.float64 and not s.x.flags.writeable
    assert list(s.x) == [1, 0] and list(s.t_x) == [4, 0] and list(s.T) == [9, 8]


@needs_data
def test_cdnow_summary_and_published_fits():
    orders = _cdnow_orders()
    s = libcrm.clv_summary(orders, "1997-09-30", unit="week")
    ref = _cdnow_summary_file()
    assert len(s) == 2357
    for i, (cid, x, tx, T, z) in enumerate(ref):
        assert s.customer_id[i] == cid and s.x[i] == x
        assert abs(s.t_x[i] - tx) <= 0.005 + 1e-9 and abs(s.T[i] - T) <= 0.005 + 1e-9
        assert abs(s.m_x[i] / 100 - z) <= 0.005 + 1e-9
    assert sum(s.x) == 2457
    assert sum(libcrm.clv_summary(orders, "1997-09-30", merge_same_day=False).x) == 2603
    # fits on the unrounded summary: published BG/NBD and Pareto/NBD figures
    bg = libcrm.BGNBD.fit(s.x, s.t_x, s.T)
    for k, v in {"r": 0.2426, "alpha": 4.4137, "a": 0.7930, "b": 2.4262}.items():
        assert bg.params[k] == pytest.approx(v, rel=2e-3)
    assert bg.loglik == pytest.approx(-9582.43, abs=0.05)
    assert bg.converged and bg.unit == "week" and all(v > 0 for v in bg.stderr.values())
    pn = libcrm.ParetoNBD.fit(s.x, s.t_x, s.T)
    for k, v in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        assert pn.params[k] == pytest.approx(v, rel=3e-3)
    assert pn.loglik == pytest.approx(-9594.98, abs=0.05)
    gg = libcrm.GammaGamma.fit([r[1] for r in ref], [r[4] for r in ref])
    for k, v in {"p": 6.2488, "q": 3.7446, "gamma": 15.4477}.items():
        assert gg.params[k] == pytest.approx(v, rel=2e-4)
    assert gg.loglik == pytest.approx(-4055.923, abs=0.002)
    assert bg.expected_purchases_new(52) == pytest.approx(1.444, abs=5e-4)


# ---- predictions -----------------------------------------------------------------

def test_bgnbd_predictions_match_formulas():
    m = libcrm.BGNBD(PUB_BG, unit="week")
    p = [PUB_BG[k] for k in ("r", "alpha", "a", "b")]
    x, tx, T = [0, 1, 26, 5], [0, 2, 30.857, 10], [31, 30, 31, 60]
    pa = m.p_alive(x, tx, T)
    ey = m.expected_purchases(52, x, tx, T)
    for i in range(4):
        assert pa[i] == pytest.approx(bg_palive(p, x[i], tx[i], T[i]), rel=1e-12)
        assert ey[i] == pytest.approx(bg_ey(p, x[i], tx[i], T[i], 52), rel=1e-9)
    assert ey[2] == pytest.approx(25.757, abs=1e-3)
    assert m.expected_purchases_new(52) == pytest.approx(bg_ey(p, 0, 0, 0, 52), rel=1e-9)
    probs = m.prob_purchases(list(range(2000)), 52)
    assert sum(probs) == pytest.approx(1, abs=1e-9)
    assert sum(k * v for k, v in enumerate(probs)) == pytest.approx(
        m.expected_purchases_new(52), rel=1e-7)
    assert m.prob_purchases(0, 52) == pytest.approx(probs[0], rel=1e-15)
    assert m.loglik is None and m.stderr is None
    ll, g = m.loglik_of(x, tx, T)
    assert ll == pytest.approx(sum(bg_ll(p, *row) for row in zip(x, tx, T)), rel=1e-12)
    assert set(g) == {"r", "alpha", "a", "b"}


def test_edge_cases_finite():
    # a = 1 and a + b < 1 with x = 0: the closed form divides by zero
    for params in ({"r": 0.5, "alpha": 3, "a": 1.0, "b": 2}, {"r": 0.5, "alpha": 3, "a": 0.3, "b": 0.4}):
        m = libcrm.BGNBD(params, unit="day")
        v = m.expected_purchases(10, [0, 3], [0, 10], [20, 20])
        assert all(math.isfinite(e) and e > 0 for e in v)
        assert math.isfinite(m.expected_purchases_new(30))


def test_heavy_buyers_recovery():
    truth = {"r": 2.0, "alpha": 0.5, "a": 0.5, "b": 20.0}
    x, tx, T = sim_bgnbd(7, 10000, [truth[k] for k in ("r", "alpha", "a", "b")], 52, 104)
    m = libcrm.BGNBD.fit(x, tx, T)
    for k, v in truth.items():
        assert m.params[k] == pytest.approx(v, rel=0.10), (k, m.params)
    assert m.iterations > 0 and m.starts_converged >= 1
    big = m.p_alive([1e5], [99.0], [100.0])
    assert 0 <= big[0] <= 1


def test_partitions_add_up():
    x, tx, T = sim_bgnbd(3, 3000, [0.5, 6.0, 0.8, 2.5], 10, 40)
    m = libcrm.ParetoNBD({"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7})
    whole, g = m.loglik_of(x, tx, T)
    a, ga = m.loglik_of(x[:1000], tx[:1000], T[:1000])
    b, gb = m.loglik_of(x[1000:], tx[1000:], T[1000:])
    assert a + b == pytest.approx(whole, rel=1e-12)
    for k in g:
        assert ga[k] + gb[k] == pytest.approx(g[k], rel=1e-10)


def test_clv_units_and_discounting():
    bg = libcrm.BGNBD(PUB_BG, unit="week")
    gg = libcrm.GammaGamma({"p": 6.25, "q": 3.74, "gamma": 15.44})
    x, tx, T, mx = [0, 2, 26], [0, 30.43, 30.857], [38.86, 38.86, 31], [0, 2235, 4000]
    spend = gg.expected_spend(x, mx)
    assert spend[1] == pytest.approx(6.25 * (15.44 + 2 * 2235) / (6.25 * 2 + 3.74 - 1), rel=1e-14)
    v0 = libcrm.clv(bg, gg, x, tx, T, mx, horizon=52, discount_rate=0.0, unit="week")
    ey = bg.expected_purchases(52, x, tx, T)
    for i in range(3):
        assert v0[i] == pytest.approx(spend[i] * ey[i], rel=1e-12)
    # the same horizon in days, undiscounted, is the same value
    vd = libcrm.clv(bg, gg, x, tx, T, mx, horizon=364, discount_rate=0.0, unit="day")
    for i in range(3):
        assert vd[i] == pytest.approx(v0[i], rel=1e-12)
    # 12 periods of 30.4375 days at 1 % per period, by differences of E[Y]
    per = 30.4375 / 7
    vm = libcrm.clv(bg, gg, x, tx, T, mx, horizon=12, discount_rate=0.01, unit=30.4375)
    for i in range(3):
        prev = want = 0.0
        for k in range(1, 13):
            e = bg.expected_purchases(k * per, [x[i]], [tx[i]], [T[i]])[0]
            want += (e - prev) / 1.01 ** k
            prev = e
        assert vm[i] == pytest.approx(spend[i] * want, rel=1e-12)
    with pytest.raises(TypeError):
        libcrm.clv(bg, bg, x, tx, T, mx, 52, 0.01)
    with pytest.raises(ValueError):
        libcrm.clv(bg, gg, x, tx, T, mx, 52, 0.01, unit="fortnight")
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.clv(bg, gg, x, tx, T, mx, 52, -2)


def test_errors():
    with pytest.raises(libcrm.DataError, match="identified"):
        libcrm.ParetoNBD.fit([1, 0], [1, 0], [2, 3])
    with pytest.raises(libcrm.DataError, match="no customer has a repeat"):
        libcrm.BGNBD.fit([0, 0], [0, 0], [5, 6])
    with pytest.raises(libcrm.DataError, match=r"t_x\[1\]"):
        libcrm.BGNBD.fit([1, 2], [1, 9], [5, 6])
    with pytest.raises(ValueError, match="values"):
        libcrm.BGNBD.fit([1, 2], [1], [5, 6])
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.ParetoNBD.fit([1, 2], [1, 2], [5, 6], starts=99)
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.BGNBD({"r": -1, "alpha": 1, "a": 1, "b": 1})
    with pytest.raises(libcrm.DataError, match=r"m_x\[0\]"):
        libcrm.GammaGamma.fit([1, 2, 3], [-5, 1, 2])


def test_numpy_columns():
    np = pytest.importorskip("numpy")
    m = libcrm.BGNBD(PUB_BG)
    x = np.array([0.0, 2.0, 26.0])
    tx = np.array([0.0, 30.43, 30.857])
    T = np.array([38.86, 38.86, 31.0])
    pa = m.p_alive(x, tx, T)
    assert isinstance(pa, np.ndarray) and pa.shape == (3,)
    assert pa[0] == 1.0
    ints = m.p_alive([0, 2, 26], [0, 30.43, 30.857], [38.86, 38.86, 31])
    assert list(ints) == list(pa)


def test_counts_partials_merge_and_fit():
    x, tx, T = sim_bgnbd(5, 6000, [0.6, 4.0, 0.8, 3.0], 1, 30)
    T = [math.ceil(v * 7) / 7 for v in T]
    tx = [math.floor(v * 7) / 7 if xi > 0 else 0.0 for v, xi in zip(tx, x)]
    whole = libcrm.clv_counts(x, tx, T)
    parts = [libcrm.clv_counts(x[a:b], tx[a:b], T[a:b]) for a, b in ((0, 2000), (2000, 6000))]
    loaded = [libcrm.ClvCounts.deserialize(bytes(p)) for p in parts]
    merged = loaded[1].merge(loaded[0])
    assert merged.customers == 6000 and len(merged) == len(whole) < 6000
    assert list(merged.n) == list(whole.n) and list(merged.T) == list(whole.T)
    rows = libcrm.BGNBD.fit(x, tx, T)
    cnt = libcrm.BGNBD.fit_counts(merged)
    assert cnt.loglik == pytest.approx(rows.loglik, rel=1e-9)
    for k in rows.params:
        assert cnt.params[k] == pytest.approx(rows.params[k], rel=2e-4)
    data = bytearray(bytes(whole))
    data[30] ^= 1
    with pytest.raises(libcrm.StateError):
        libcrm.ClvCounts.deserialize(data)


def test_fit_from_summary_object():
    # orders laid out from simulated BG/NBD customers (days)
    rng = random.Random(3)
    xs, txs, Ts = sim_bgnbd(9, 3000, [0.6, 20.0, 0.8, 3.0], 30, 300)
    end = 19400
    orders = []
    for cid, (x, tx, T) in enumerate(zip(xs, txs, Ts), 1):
        first = end - int(T)
        days = sorted({first + int(tx)} | {first + rng.randrange(0, int(tx) + 1)
                                          for _ in range(int(x) - 1)} | {first}) if x else [first]
        nu = rng.gammavariate(3.0, 1 / 15.0)   # customer spend level (Gamma-Gamma)
        for d in days:
            orders.append((cid, d * DAY + 3600, round(rng.gammavariate(6.0, 1 / nu) * 100)))
    s = libcrm.clv_summary(orders, end, unit="day")
    a = libcrm.BGNBD.fit(s)
    b = libcrm.BGNBD.fit(s.x, s.t_x, s.T, unit="day")
    assert a.unit == "day" and a.params == b.params
    g = libcrm.GammaGamma.fit(s)
    assert g.params == libcrm.GammaGamma.fit(s.x, s.m_x).params
