"""libcrm.select / Segment / segment_stats against references written here."""
import math
import random
from fractions import Fraction

import pytest

import libcrm
from libcrm import _arrays

DAY = 86400


def _orders(seed, n_orders=3000, n_customers=400, asof=20000):
    rnd = random.Random(seed)
    rows = []
    for _ in range(n_orders):
        cid = rnd.randrange(1, n_customers)
        day = asof - rnd.randrange(0, 400) + (5 if rnd.random() < 0.05 else 0)
        amount = rnd.choice([rnd.randrange(0, 1200000), -rnd.randrange(1, 50000)])
        rows.append((cid, day * DAY + rnd.randrange(DAY), amount))
    return rows


def _profile_fields(orders, asof):
    """recency_days, frequency, monetary, tenure_days per customer (spec)."""
    acc = {}
    for cid, ts, amount in orders:
        if ts // DAY > asof:
            continue
        a = acc.setdefault(cid, {"m": 0, "days": []})
        a["m"] += amount
        if amount >= 0:
            a["days"].append(ts // DAY)
    out = []
    for cid in sorted(acc):
        d = acc[cid]["days"]
        if d:
            out.append({"customer_id": cid, "recency_days": asof - max(d), "frequency": len(d),
                        "monetary": acc[cid]["m"], "tenure_days": asof - min(d)})
    return out


def _as_list(mask):
    return [bool(x) for x in mask]


def test_spec_example_over_profiles():
    orders = _orders(1)
    prof = libcrm.profiles(orders, 20000)
    ref = _profile_fields(orders, 20000)
    got = _as_list(libcrm.select(prof, "recency_days <= 30 and frequency >= 3 and monetary > 500000"))
    want = [r["recency_days"] <= 30 and r["frequency"] >= 3 and r["monetary"] > 500000 for r in ref]
    assert got == want
    assert 0 < sum(want) < len(want)
    got = _as_list(libcrm.select(prof, "not (tenure_days < 14) and customer_id between 10 and 200"))
    want = [not r["tenure_days"] < 14 and 10 <= r["customer_id"] <= 200 for r in ref]
    assert got == want


def test_extra_columns_and_categoricals():
    orders = _orders(2)
    prof = libcrm.profiles(orders, 20000)
    ref = _profile_fields(orders, 20000)
    n = len(ref)
    rnd = random.Random(5)
    r = [rnd.randint(1, 5) for _ in range(n)]
    seg = [rnd.choice(["champions", "at_risk", "Champions", None]) for _ in range(n)]
    clv = [rnd.choice([None, 0.5, 12.25, 100.0]) for _ in range(n)]
    got = _as_list(libcrm.select(prof, 'rfm_segment = "champions" or not (r >= 4)',
                                 r=r, rfm_segment=seg))
    assert got == [s == "champions" or not x >= 4 for s, x in zip(seg, r)]
    got = _as_list(libcrm.select(prof, "rfm_segment != champions and clv > 1",
                                 rfm_segment=seg, clv=clv))
    # null (None) is unequal to everything; comparisons with null are false
    assert got == [s != "champions" and c is not None and c > 1 for s, c in zip(seg, clv)]
    stage_codes = [rnd.randrange(0, 5) for _ in range(n)]  # 4 = no name: null
    names = ["new", "active", "at_risk", "churned"]
    got = _as_list(libcrm.select(prof, "stage in (at_risk, churned) and frequency >= 2",
                                 columns={"stage": (stage_codes, names)}))
    assert got == [c in (2, 3) and p["frequency"] >= 2 for c, p in zip(stage_codes, ref)]
    got = _as_list(libcrm.select(prof, "stage not in (at_risk, churned)",
                                 stage=(stage_codes, names)))
    assert got == [c not in (2, 3) for c in stage_codes]


def test_mapping_source_without_profiles():
    cols = {"x": [1, 2, 3, 1, 2, 3, -1, 0], "y": [0.5, None, 2.5, 1.0, 0.1, 3.0, 7.0, -0.0]}
    assert _as_list(libcrm.select(cols, "x in (1, 2)")) == [1, 1, 0, 1, 1, 0, 0, 0]
    assert _as_list(libcrm.select(cols, "x between 0 and 2")) == [1, 1, 0, 1, 1, 0, 0, 1]
    assert _as_list(libcrm.select(cols, "y != 2.5")) == [1, 1, 0, 1, 1, 1, 1, 1]
    assert _as_list(libcrm.select(cols, "y >= 0")) == [1, 0, 1, 1, 1, 1, 1, 1]
    assert _as_list(libcrm.select(None, "z > 2.5", z=[2, 3, 2, 3])) == [0, 1, 0, 1]
    # exact decimals on integer columns
    big = {"m": [500000, 500001, 499999, -200]}
    assert _as_list(libcrm.select(big, "m > 500000.5")) == [0, 1, 0, 0]
    assert _as_list(libcrm.select(big, "m <= 500000.0")) == [1, 0, 1, 1]
    assert _as_list(libcrm.select(big, "m between -200.5 and -199.5")) == [0, 0, 0, 1]
    u = {"id": [2**64 - 1, 2**63, 5]}
    assert _as_list(libcrm.select(u, "id > 9223372036854775807")) == [1, 1, 0]
    with pytest.raises(ValueError):
        libcrm.select({"v": [-1, 2**64 - 1]}, "v > 0")
    with pytest.raises(ValueError):
        libcrm.select({"a": [1, 2], "b": [1, 2, 3]}, "a > 0")


def test_numpy_columns_every_dtype():
    np = pytest.importorskip("numpy")
    rnd = np.random.default_rng(3)
    n = 1000
    for dt in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
               np.uint64, np.float64, np.float32):
        info = np.iinfo(dt) if np.issubdtype(dt, np.integer) else None
        if info is not None:
            v = rnd.integers(info.min, info.max, size=n, dtype=dt, endpoint=True)
            v[:4] = [info.min, info.max, 0, 1]
            lo, hi = int(info.min) // 3, int(info.max) // 3
        else:
            v = rnd.normal(0, 100, size=n).astype(dt)
            v[:3] = np.nan
            lo, hi = -50, 70
        m = libcrm.select({"v": v}, f"v between {lo} and {hi} or v = 1")
        assert m.dtype == bool and m.shape == (n,)
        with np.errstate(invalid="ignore"):
            vv = v.astype(np.float64) if info is None else v.astype(object)
            want = [(lo <= x <= hi) or x == 1 for x in vv]
        assert list(m) == want, dt
    b = np.array([True, False, True])
    assert list(libcrm.select({"flag": b}, "flag = 1")) == [True, False, True]
    # a strided view is copied, not misread
    base = np.arange(20, dtype=np.int64)
    assert list(libcrm.select({"x": base[::2]}, "x >= 10")) == [False] * 5 + [True] * 5
    # strings in a numpy array are categorical
    s = np.array(["a", "b", "a"])
    assert list(libcrm.select({"s": s}, "s = a")) == [True, False, True]


def test_without_numpy(monkeypatch):
    monkeypatch.setattr("libcrm.segment.np", None)
    monkeypatch.setattr(_arrays, "np", None)
    m = libcrm.select({"x": [1, 5, 9]}, "x >= 5")
    assert m == [False, True, True]
    st = libcrm.segment_stats([[True, False, True], [True, True, False]])
    assert st.overlaps == [[2, 1], [1, 2]]


def test_rule_errors_carry_offsets():
    cols = {"r": [1, 2], "stage": ["a", "b"]}
    with pytest.raises(libcrm.RuleError) as e:
        libcrm.select(cols, "r >= 4 and")
    assert e.value.offset == 10
    assert "byte 10: expected a field name, 'not' or '('" in str(e.value)
    with pytest.raises(libcrm.RuleError) as e:
        libcrm.select(cols, "recency <= 30")
    assert e.value.offset == 0 and "unknown field 'recency'" in str(e.value)
    with pytest.raises(libcrm.RuleError) as e:
        libcrm.select(cols, "stage > 3")
    assert e.value.offset == 6 and "categorical" in str(e.value)
    with pytest.raises(libcrm.RuleError) as e:
        libcrm.Segment("stage = 'é")  # offsets count UTF-8 bytes
    assert e.value.offset == len("stage = 'é".encode())
    with pytest.raises(libcrm.RuleError) as e:
        libcrm.Segment("((r = 1))", max_depth=1)
    assert e.value.offset == 1 and "max_depth 1" in str(e.value)
    with pytest.raises(libcrm.RuleError):
        libcrm.Segment("r = 1 or r = 2", max_length=6)
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.Segment("r = 1", max_depth=0)
    with pytest.raises(TypeError):
        libcrm.Segment(42)
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.select({"and": [1]}, "x = 1")  # a keyword is no field name
    with pytest.raises(TypeError):
        libcrm.select(42, "x = 1")


def test_compiled_segment_reused():
    seg = libcrm.Segment("x > 1 and not y in ('a', b)")
    assert seg.tests == 2
    assert _as_list(seg.mask({"x": [1, 2, 3], "y": ["a", "c", "b"]})) == [0, 1, 0]
    assert _as_list(seg({"x": [5, 0], "y": ["z", "z"]})) == [1, 0]
    with pytest.raises(libcrm.RuleError):
        seg.mask({"x": [1]})  # y unbound
    assert "x > 1" in repr(seg)


def test_stats_and_partials():
    rnd = random.Random(9)
    n, k = 1000, 4
    masks = [[rnd.random() < p for _ in range(n)] for p in (0.1, 0.5, 0.9, 0.0)]
    whole = libcrm.segment_stats(masks)
    ov = [[int(x) for x in row] for row in whole.overlaps]
    for i in range(k):
        for j in range(k):
            assert ov[i][j] == sum(a and b for a, b in zip(masks[i], masks[j]))
    assert whole.sizes == [sum(m) for m in masks]
    assert whole.customers == n
    # partitions of customers (not at word boundaries): sums merge exactly
    cut = 333
    a = libcrm.segment_stats([m[:cut] for m in masks])
    b = libcrm.segment_stats([m[cut:] for m in masks])
    merged = libcrm.SegmentStats.from_bytes(a.to_bytes()).merge(
        libcrm.SegmentStats.from_bytes(b.to_bytes()))
    assert [[int(x) for x in row] for row in merged.overlaps] == ov
    assert merged.customers == n
    blob = bytearray(a.to_bytes())
    blob[20] ^= 1
    with pytest.raises(libcrm.StateError):
        libcrm.SegmentStats.from_bytes(bytes(blob))
    with pytest.raises(libcrm.InvalidArgument):
        a.merge(libcrm.segment_stats([masks[0][:cut]]))
    with pytest.raises(ValueError):
        libcrm.segment_stats([[True], [True, False]])
    with pytest.raises(ValueError):
        libcrm.segment_stats([])
    assert "segments=4" in repr(whole)


# ---- random expressions against a Fraction-exact reference ------------------

def _rand_expr(rnd, depth, cols):
    if depth == 0 or rnd.random() < 0.35:
        name = rnd.choice(sorted(cols))
        kind = cols[name]
        if kind == "cat":
            vals = [rnd.choice(["gold", "silver", "tin", "none"]) for _ in range(rnd.randint(1, 3))]
            if rnd.random() < 0.5:
                op = rnd.choice(["=", "!="])
                text = f"{name} {op} '{vals[0]}'"
                return text, (lambda row, n=name, v=vals[0], op=op:
                              (row[n] == v) if op == "=" else (row[n] != v))
            neg = rnd.random() < 0.5
            text = f"{name} {'not ' if neg else ''}in ({', '.join(vals)})"
            return text, (lambda row, n=name, vs=tuple(vals), neg=neg: (row[n] in vs) != neg)
        lit = rnd.choice(["0", "1", "-1", "2.5", "-0.75", "3", "10", "100.25", "7"])
        val = Fraction(lit)

        def cmpf(x, op, v):
            if x is None:
                return op == "!="
            x = Fraction(x) if kind == "int" else x
            v = v if kind == "int" else float(v)
            return {"=": x == v, "!=": x != v, "<": x < v, "<=": x <= v,
                    ">": x > v, ">=": x >= v}[op]
        if rnd.random() < 0.2:
            lit2 = rnd.choice(["2", "5.5", "-3"])
            neg = rnd.random() < 0.5
            text = f"{name} {'not ' if neg else ''}between {lit} and {lit2}"
            return text, (lambda row, n=name, a=val, b=Fraction(lit2), neg=neg:
                          (cmpf(row[n], ">=", a) and cmpf(row[n], "<=", b)) != neg)
        op = rnd.choice(["=", "!=", "<", "<=", ">", ">="])
        return f"{name} {op} {lit}", (lambda row, n=name, op=op, v=val: cmpf(row[n], op, v))
    kind = rnd.choice(["and", "or", "not"])
    if kind == "not":
        t, f = _rand_expr(rnd, depth - 1, cols)
        return f"not ({t})", (lambda row, f=f: not f(row))
    t1, f1 = _rand_expr(rnd, depth - 1, cols)
    t2, f2 = _rand_expr(rnd, depth - 1, cols)
    if kind == "and":
        return f"({t1}) and ({t2})", (lambda row, a=f1, b=f2: a(row) and b(row))
    return f"({t1}) or ({t2})", (lambda row, a=f1, b=f2: a(row) or b(row))


def test_random_expressions_against_reference():
    rnd = random.Random(11)
    n = 300
    data = {
        "i": [rnd.randint(-12, 12) for _ in range(n)],
        "f": [rnd.choice([None, rnd.uniform(-5, 12), 2.5, -0.75]) for _ in range(n)],
        "tier": [rnd.choice(["gold", "silver", "tin", None]) for _ in range(n)],
    }
    kinds = {"i": "int", "f": "float", "tier": "cat"}
    rows = [{k: data[k][j] for k in data} for j in range(n)]
    for _ in range(200):
        text, f = _rand_expr(rnd, rnd.randint(0, 4), kinds)
        got = _as_list(libcrm.select(data, text))
        want = [bool(f(r)) for r in rows]
        assert got == want, text


def test_segment_columns_protocol():
    class Result:
        def segment_columns(self):
            return {"r": [5, 1, 4], "segment": ["champions", "lost", "loyal"]}
    assert _as_list(libcrm.select(Result(), "r >= 4 and segment != lost")) == [1, 0, 1]
    assert not any(math.isnan(x) for x in [0.0])


# ---- results of other modules, bound by the spec's names ---------------------

def test_rfm_result_and_lifecycle_sources():
    if not hasattr(libcrm, "rfm") or not hasattr(libcrm, "lifecycle"):
        pytest.skip("rfm / lifecycle bindings not available")
    orders = _orders(21, n_orders=4000, n_customers=600)
    prof = libcrm.profiles(orders, 20000)
    ref = _profile_fields(orders, 20000)
    res = libcrm.rfm(prof)
    life = libcrm.lifecycle(prof)
    r = [int(x) for x in res.r]
    seg = list(res.segment)
    stage = list(life.stage)
    assert len(r) == len(ref) == len(stage)
    got = _as_list(libcrm.select(res, 'rfm_segment = "champions" or not (r >= 4)'))
    assert got == [s == "champions" or not x >= 4 for s, x in zip(seg, r)]
    assert 0 < sum(got) < len(got)
    got = _as_list(libcrm.select(res, "recency_days <= 30 and f >= 3 and m between 2 and 4"))
    assert got == [p["recency_days"] <= 30 and f >= 3 and 2 <= m <= 4
                   for p, f, m in zip(ref, res.f, res.m)]
    got = _as_list(libcrm.select(life, "stage in (at_risk, churned) or scenario = 'retention'"))
    assert got == [s in ("at_risk", "churned") or s == "active" for s in stage]
    # several sources: profile fields, scores and stages together
    expr = "stage in (at_risk, churned) and r >= 3 and tenure_days > 100 and rfm_segment != lost"
    got = _as_list(libcrm.select([prof, res, life], expr))
    want = [st in ("at_risk", "churned") and x >= 3 and p["tenure_days"] > 100 and sg != "lost"
            for st, x, p, sg in zip(stage, r, ref, seg)]
    assert got == want and any(want)
    assert _as_list(libcrm.select([life, res, prof], expr)) == want


def test_sources_aligned_by_customer_id():
    if not hasattr(libcrm, "lifecycle"):
        pytest.skip("lifecycle binding not available")
    orders = _orders(22, n_orders=500, n_customers=100)
    prof = libcrm.profiles(orders, 20000)
    ref = _profile_fields(orders, 20000)
    known = {r["customer_id"] for r in ref}
    leads = [(c, 19000 * DAY) for c in (100000, 100001, 100002)]
    life = libcrm.lifecycle(prof, contacts=leads)
    ids = [int(c) for c in life.customer_id]
    assert len(ids) == len(ref) + 3
    # the lifecycle table (with leads) as base: profile fields of leads are null
    got = _as_list(libcrm.select([life, prof], "stage = lead or frequency >= 3"))
    freq = {r["customer_id"]: r["frequency"] for r in ref}
    want = [c not in known or freq[c] >= 3 for c in ids]
    assert got == want
    got = _as_list(libcrm.select([life, prof], "not frequency >= 3"))
    assert got == [c not in known or not freq[c] >= 3 for c in ids]
    # profiles as base: leads are not rows
    got = _as_list(libcrm.select([prof, life], "stage = lead"))
    assert got == [False] * len(ref)
    # a caller mapping with its own customer_id, in another order
    rnd = random.Random(4)
    sub = [r["customer_id"] for r in ref]
    rnd.shuffle(sub)
    sub = sorted(sub[: len(sub) // 2])
    score = {c: rnd.randint(0, 9) for c in sub}
    got = _as_list(libcrm.select([prof, {"customer_id": sub, "score": [score[c] for c in sub]}],
                                 "score >= 5"))
    assert got == [r["customer_id"] in score and score[r["customer_id"]] >= 5 for r in ref]
    with pytest.raises(ValueError):
        libcrm.select([prof, {"x": [1, 2]}], "x > 1")


def test_pandas_frames_and_categoricals():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({
        "customer_id": [1, 2, 3, 4],
        "score": pd.array([1, None, 3, 4], dtype="Int64"),
        "tier": pd.Categorical(["gold", "tin", None, "gold"]),
        "spend": [1.5, float("nan"), 3.0, 10.0],
        "plan": ["a", "b", None, "a"],
    })
    assert _as_list(libcrm.select(df, "tier = gold and spend > 2")) == [0, 0, 0, 1]
    assert _as_list(libcrm.select(df, "score >= 3 or plan = b")) == [0, 1, 1, 1]
    assert _as_list(libcrm.select(df, "tier != gold")) == [0, 1, 1, 0]  # null is unequal
    assert _as_list(libcrm.select(None, "c in (x, y)",
                                  c=pd.Series(["x", "z", "y"], dtype="category"))) == [1, 0, 1]
    np = pytest.importorskip("numpy")
    big = [np.int64(2**62), np.int64(2**62 + 1)]  # numpy ints stay exact
    assert _as_list(libcrm.select({"v": big}, "v > 4611686018427387904")) == [0, 1]


def test_clv_outputs_as_columns():
    if not hasattr(libcrm, "clv_summary"):
        pytest.skip("clv binding not available")
    orders = _orders(23, n_orders=3000, n_customers=300)
    prof = libcrm.profiles(orders, 20000)
    ref = {r["customer_id"]: r for r in _profile_fields(orders, 20000)}
    summ = libcrm.clv_summary(orders, 20000, unit="day")
    ids = [int(c) for c in summ.customer_id]
    x = [float(v) for v in summ.x]
    # a ClvSummary is a source (keys() and []), aligned to the profiles by customer_id
    got = _as_list(libcrm.select([prof, summ], "x >= 2 and frequency >= 3"))
    xs = dict(zip(ids, x))
    want = [c in xs and xs[c] >= 2 and ref[c]["frequency"] >= 3 for c in sorted(ref)]
    assert got == want and any(want)
    # model outputs as a column source with its own customer_id
    try:
        model = libcrm.BGNBD.fit(summ.x, summ.t_x, summ.T, unit="day")
    except libcrm.DataError:
        pytest.skip("BG/NBD fit did not converge on this synthetic sample")
    p = [float(v) for v in model.p_alive(summ.x, summ.t_x, summ.T)]
    pa = dict(zip(ids, p))
    got = _as_list(libcrm.select([prof, {"customer_id": ids, "p_alive": p}],
                                 "p_alive < 0.5 or monetary > 1000000"))
    want = [(c in pa and pa[c] < 0.5) or ref[c]["monetary"] > 1000000 for c in sorted(ref)]
    assert got == want

