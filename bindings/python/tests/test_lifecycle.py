"""libcrm.lifecycle / funnel / cohort_retention against a reference written
from the spec (section "Lifecycle stages") with exact fractions."""
import datetime as dt
import random
from fractions import Fraction

import pytest

import libcrm
from libcrm.lifecycle import (NONE_ROW, Cohorts, cohort_from_partials, cohort_partial,
                              funnel_from_partials, funnel_partial, migration_from_partials,
                              migration_partial, migration_table)

DAY = 86400
STAGES = ["lead", "new", "churned_new", "active", "loyal", "at_risk", "churned", "reactivated"]


def ref_stages(orders, asof, contacts=(), new_days=90, loyal_f=4, at_risk_k=2, churn_k=4,
               min_gap_days=7, p_alive=None, p_at_risk=0.5, p_churned=0.2):
    """{customer_id: (stage, money, days)} from the spec, the obvious way."""
    days, money, rows = {}, {}, set()
    for cid, ts, amount in orders:
        if ts // DAY > asof:
            continue
        rows.add(cid)
        money[cid] = money.get(cid, 0) + amount
        if amount >= 0:
            days.setdefault(cid, []).append(ts // DAY)
    out = {}
    for cid, d in days.items():
        d.sort()
        f, r = len(d), asof - d[-1]

        def gap_eff(ds):
            return max(Fraction(ds[-1] - ds[0], len(ds) - 1), Fraction(min_gap_days))

        if f == 1:
            stage = "new" if r <= new_days else "churned_new"
        else:
            g = gap_eff(d)
            if p_alive is not None:
                p = p_alive[cid]
                good = p >= p_at_risk
                bad = "churned" if p < p_churned else "at_risk"
            else:
                good = r <= Fraction(at_risk_k) * g
                bad = "at_risk" if r <= Fraction(churn_k) * g else "churned"
            if not good:
                stage = bad
            else:
                stage = "loyal" if f >= loyal_f else "active"
                before = [x for x in d if x < d[-1]]
                if before:
                    gap = d[-1] - before[-1]
                    limit = new_days if len(before) == 1 else Fraction(churn_k) * gap_eff(before)
                    if gap > limit:
                        stage = "reactivated"
        out[cid] = (stage, money[cid], d)
    created = {}
    for cid, ts in contacts:
        created[cid] = min(created.get(cid, ts // DAY), ts // DAY)
    for cid, day in created.items():
        if day <= asof and cid not in out:
            out[cid] = ("lead", 0, [])
    return out


def random_data(rng, customers=250, contacts=80, span=600):
    orders = []
    for _ in range(customers):
        cid = rng.getrandbits(rng.choice([10, 40, 64]))
        t = rng.randrange(0, span) * DAY
        for _ in range(rng.randint(1, 9)):
            t += rng.choice([0, 0, rng.randrange(0, 120)]) * DAY + rng.randrange(DAY)
            amount = -rng.randint(1, 900) if rng.random() < 0.08 else rng.randint(0, 50000)
            orders.append((cid, t, amount))
    ids = [o[0] for o in orders]
    cons = [(rng.choice(ids) if rng.random() < 0.5 else rng.getrandbits(30),
             rng.randrange(0, span + 200) * DAY + rng.randrange(DAY)) for _ in range(contacts)]
    rng.shuffle(orders)
    return orders, cons


PARAMS = [{}, {"new_days": 30, "loyal_f": 2, "at_risk_k": 1, "churn_k": 3, "min_gap_days": 0},
          {"new_days": 120, "loyal_f": 6, "at_risk_k": 1.5, "churn_k": 2.5, "min_gap_days": 14}]


@pytest.mark.parametrize("seed", range(8))
def test_stages_match_reference(seed):
    rng = random.Random(seed)
    orders, contacts = random_data(rng)
    params = PARAMS[seed % len(PARAMS)]
    asof = rng.randrange(100, 900)
    res = libcrm.lifecycle(orders, asof, contacts=contacts, **params)
    ref = ref_stages(orders, asof, contacts, **params)
    assert [int(c) for c in res.customer_id] == sorted(ref)
    assert res.stage == [ref[c][0] for c in sorted(ref)]
    assert res.scenario == [libcrm.SCENARIOS[ref[c][0]] for c in sorted(ref)]
    f = libcrm.funnel(orders, asof, contacts=contacts, **params)
    for s in STAGES:
        assert f["customers"][s] == sum(1 for v in ref.values() if v[0] == s)
        assert f["revenue"][s] == sum(v[1] for v in ref.values() if v[0] == s)
    nd = params.get("new_days", 90)
    base = [v for v in ref.values() if v[2] and v[2][0] <= asof - nd]
    hits = [v for v in base if len(v[2]) >= 2 and v[2][1] - v[2][0] <= nd]
    assert f["conversion_base"] == len(base) and f["conversion_hits"] == len(hits)
    want = len(hits) / len(base) if base else None
    assert f["second_purchase_conversion"] == want


@pytest.mark.parametrize("seed", range(4))
def test_p_alive_dict_and_column(seed):
    rng = random.Random(50 + seed)
    orders, _ = random_data(rng, contacts=0)
    prof = libcrm.profiles(orders, 700)
    p = {int(c): rng.choice([0.0, 0.2, 0.5, rng.random()]) for c in prof.customer_id}
    ref = ref_stages(orders, 700, p_alive=p)
    by_dict = libcrm.lifecycle(orders, 700, p_alive=p)
    assert by_dict.stage == [ref[c][0] for c in sorted(ref)]
    column = [p[int(c)] for c in prof.customer_id]
    assert libcrm.lifecycle(prof, p_alive=column).stage == by_dict.stage
    try:
        import pandas as pd
    except ImportError:
        return
    series = pd.Series(p).sample(frac=1.0, random_state=seed)  # keyed by id, any order
    assert libcrm.lifecycle(orders, 700, p_alive=series).stage == by_dict.stage


def test_hand_worked_boundaries():
    a = 1000
    orders = [(1, (a - 90) * DAY, 5),                              # new (recency = NEW_DAYS)
              (2, (a - 91) * DAY, 5),                              # churned_new
              (3, (a - 30) * DAY, 5), (3, (a - 20) * DAY, 5),      # r = 2 * gap: active
              (4, (a - 31) * DAY, 5), (4, (a - 21) * DAY, 5),      # at_risk
              (5, (a - 50) * DAY, 5), (5, (a - 40) * DAY, 5),      # r = 4 * gap: at_risk
              (6, (a - 51) * DAY, 5), (6, (a - 41) * DAY, 5),      # churned
              (7, (a - 100) * DAY, 5), (7, (a - 9) * DAY, 5),      # comeback 91: reactivated
              (8, (a - 5) * DAY, -5),                              # refunds only: lead if contact
              ] + [(9, (a - k) * DAY, 5) for k in (16, 12, 8, 4)]  # f = 4 = LOYAL_F: loyal
    res = libcrm.lifecycle(orders, a, contacts=[(8, 0), (10, (a + 1) * DAY), (11, "1970-01-02")])
    got = dict(zip((int(c) for c in res.customer_id), res.stage))
    assert got == {1: "new", 2: "churned_new", 3: "active", 4: "at_risk", 5: "at_risk",
                   6: "churned", 7: "reactivated", 8: "lead", 9: "loyal", 11: "lead"}
    e = res.explain(7)
    assert e["stage"] == "reactivated" and e["comeback_gap"] == 91
    assert e["comeback_threshold"] == 90 and e["orders_before"] == 1
    assert e["scenario"] == "re-engagement" and "churn threshold" in e["rule"]
    e = res.explain(3)
    assert e["gap_eff"] == 10 and e["at_risk_days"] == 20 and e["churn_days"] == 40
    assert e["recency_days"] == 20 and e["p_alive"] is None
    e = res.explain(11)
    assert e["stage"] == "lead" and e["created_day"] == 1 and e["recency_days"] is None
    assert res.stage_of(6) == "churned"
    with pytest.raises(libcrm.InvalidArgument):
        res.stage_of(10)
    f = res.funnel()
    assert f["customers"]["lead"] == 2 and f["revenue"]["lead"] == 0
    assert f["scenario"]["new"] == "onboarding / second purchase"


def test_numpy_inputs():
    np = pytest.importorskip("numpy")
    rng = random.Random(7)
    orders, contacts = random_data(rng)
    arr = np.array(orders, dtype=libcrm.ORDER_DTYPE)
    carr = np.array(contacts, dtype=libcrm.CONTACT_DTYPE)
    a = libcrm.lifecycle(arr, 650, contacts=carr)
    b = libcrm.lifecycle(orders, 650, contacts=contacts)
    assert a.stage == b.stage
    assert isinstance(a.stage_code, np.ndarray) and not a.stage_code.flags.writeable
    prof = libcrm.profiles(arr, 650)
    p = np.linspace(0, 1, len(prof))
    libcrm.lifecycle(prof, p_alive=p)


def test_cohort_retention_hand_worked():
    d = lambda s: (dt.date.fromisoformat(s) - dt.date(1970, 1, 1)).days * DAY  # noqa: E731
    orders = [(1, d("2024-01-31"), 10), (1, d("2024-02-01"), 10), (1, d("2024-03-15"), 10),
              (2, d("2024-01-31"), 10), (2, d("2024-02-10"), -10),
              (3, d("2024-02-01"), -10), (3, d("2024-03-15"), 10),
              (4, d("2024-03-21"), 10)]
    labels, matrix = libcrm.cohort_retention(orders, "2024-03-20")
    assert labels == ["2024-01", "2024-03"]
    assert matrix == [[1.0, 0.5, 0.5], [1.0, None, None]]
    c = libcrm.cohorts(orders, "2024-03-20")
    assert c.sizes == [2, 1] and c.active == [[2, 1, 1], [1, 0, 0]]


def ref_cohorts(orders, asof):
    def month(day):
        x = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        return x.year * 12 + x.month - 1
    months = {}
    for cid, ts, amount in orders:
        if amount >= 0 and ts // DAY <= asof:
            months.setdefault(cid, set()).add(month(ts // DAY))
    am = month(asof)
    cohorts = sorted({min(m) for m in months.values()})
    if not cohorts:
        return [], []
    width = am - cohorts[0] + 1
    matrix = []
    for c in cohorts:
        members = [m for m in months.values() if min(m) == c]
        matrix.append([sum(1 for m in members if c + k in m) / len(members) if c + k <= am else None
                       for k in range(width)])
    return [f"{c // 12:04d}-{c % 12 + 1:02d}" for c in cohorts], matrix


@pytest.mark.parametrize("seed", range(5))
def test_cohorts_match_reference(seed):
    rng = random.Random(200 + seed)
    orders, _ = random_data(rng, span=900)
    asof = rng.randrange(300, 1200)
    labels, matrix = libcrm.cohort_retention(orders, asof)
    want_labels, want = ref_cohorts(orders, asof)
    assert labels == want_labels
    assert len(matrix) == len(want)
    for row, wrow in zip(matrix, want):
        assert len(row) == len(wrow)
        for v, w in zip(row, wrow):
            assert (v is None) == (w is None) and (w is None or abs(v - w) <= 1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_partials_merge_equals_whole(seed):
    rng = random.Random(300 + seed)
    orders, contacts = random_data(rng)
    parts = rng.randint(1, 4)
    # cohorts: any partitioning of the order rows (customers split), an empty part too
    rows = [[] for _ in range(parts + 1)]
    for o in orders:
        rows[rng.randrange(parts)].append(o)
    whole = libcrm.cohorts(orders, 700)
    merged = cohort_from_partials([cohort_partial(p, 700) for p in rows])
    assert merged.labels == whole.labels and merged.active == whole.active
    assert Cohorts.from_bytes(whole.to_bytes()).matrix == whole.matrix
    # funnel and migration: customer-disjoint partitions
    by_customer = [([o for o in orders if o[0] % parts == k],
                    [c for c in contacts if c[0] % parts == k]) for k in range(parts)]
    f = funnel_from_partials([funnel_partial(o, 700, contacts=c) for o, c in by_customer])
    assert f == libcrm.funnel(orders, 700, contacts=contacts)
    m = migration_from_partials([migration_partial(o, 400, 700, contacts=c)
                                 for o, c in by_customer])
    assert m == migration_table(orders, 400, 700, contacts=contacts)


def test_migration_table_hand_worked():
    orders = [(1, 100 * DAY, 1), (2, 100 * DAY, 1), (2, 280 * DAY, 1), (3, 250 * DAY, 1)]
    m = migration_table(orders, 150, 300, contacts=[(4, 120 * DAY), (5, 250 * DAY)])
    assert m["rows"][-1] == NONE_ROW and m["columns"] == STAGES
    counts = {(m["rows"][r], m["columns"][c]): v for r, row in enumerate(m["counts"])
              for c, v in enumerate(row) if v}
    assert counts == {("new", "churned_new"): 1, ("new", "reactivated"): 1,
                      (NONE_ROW, "new"): 1, ("lead", "lead"): 1, (NONE_ROW, "lead"): 1}
    assert m["rates"][STAGES.index("new")][STAGES.index("reactivated")] == 0.5
    assert m["rates"][STAGES.index("loyal")] == [None] * 8
    with pytest.raises(libcrm.InvalidArgument):
        migration_table(orders, 300, 150)


def test_errors():
    orders = [(1, 10 * DAY, 5), (1, 12 * DAY, 5)]
    with pytest.raises(libcrm.InvalidArgument, match="loyal_f"):
        libcrm.lifecycle(orders, 20, loyal_f=1)
    with pytest.raises(libcrm.InvalidArgument, match="churn_k"):
        libcrm.lifecycle(orders, 20, at_risk_k=5, churn_k=4)
    with pytest.raises(libcrm.DataError, match=r"p_alive\[0\]"):
        libcrm.lifecycle(orders, 20, p_alive=[float("nan")])
    with pytest.raises(ValueError, match="p_alive has 2 values"):
        libcrm.lifecycle(orders, 20, p_alive=[0.5, 0.5])
    with pytest.raises(ValueError, match="customer 1"):
        libcrm.lifecycle(orders, 20, p_alive={})
    with pytest.raises(libcrm.DataError, match=r"contacts\[1\]"):
        libcrm.lifecycle(orders, 20, contacts=[(2, 0), (3, -1)])
    with pytest.raises(ValueError):
        libcrm.lifecycle(orders, 20, new_days=-1)
    with pytest.raises(TypeError):
        libcrm.lifecycle(orders)
    with pytest.raises(libcrm.StateError):
        Cohorts.from_bytes(b"CRMB" + bytes(30))
    blob = bytearray(cohort_partial(orders, 20))
    blob[-1] ^= 0xFF
    with pytest.raises(libcrm.StateError, match="checksum"):
        Cohorts.from_bytes(bytes(blob))
    blob = bytearray(funnel_partial(orders, 20))
    blob[6] = 9
    with pytest.raises(libcrm.VersionError):
        funnel_from_partials([bytes(blob)])
    with pytest.raises(libcrm.InvalidArgument, match="params"):
        funnel_from_partials([funnel_partial(orders, 20), funnel_partial(orders, 20, new_days=3)])


def test_migration_by_lifecycle():
    if not hasattr(libcrm, "migration"):
        pytest.skip("libcrm.migration (rfm binding) not present")
    orders = [(1, 100 * DAY, 1), (2, 100 * DAY, 1), (2, 280 * DAY, 1), (3, 250 * DAY, 1)]
    contacts = [(4, 120 * DAY), (5, 250 * DAY)]
    rows, cols, counts = libcrm.migration(orders, 150, 300, by="lifecycle", contacts=contacts)
    want = migration_table(orders, 150, 300, contacts=contacts)
    assert rows == STAGES + [NONE_ROW] and cols == STAGES and counts == want["counts"]
    assert counts[STAGES.index("new")][STAGES.index("reactivated")] == 1
    frozen = libcrm.migration(orders, 150, 300, by="lifecycle", mode="frozen", contacts=contacts)
    assert frozen == (rows, cols, counts)


def test_p_alive_from_clv_module():
    """The documented pipeline: P(alive) from a BG/NBD model drives the
    at_risk / churned split (frequency >= 2 only)."""
    if not hasattr(libcrm, "BGNBD"):
        pytest.skip("clv binding not present")
    rng = random.Random(77)
    orders, _ = random_data(rng, customers=400, contacts=0, span=500)
    asof = 800
    s = libcrm.clv_summary(orders, asof, unit="week")
    # the published CDNOW parameters (Fader, Hardie & Lee 2005): no fit needed
    model = libcrm.BGNBD({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, unit="week")
    p = dict(zip((int(c) for c in s["customer_id"]), model.p_alive(s["x"], s["t_x"], s["T"])))
    res = libcrm.lifecycle(orders, asof, p_alive=p)
    ref = ref_stages(orders, asof, p_alive=p)
    assert res.stage == [ref[c][0] for c in sorted(ref)]
    e = res.explain(next(c for c in sorted(ref) if len(ref[c][2]) >= 2))
    assert e["p_alive"] is not None and e["p_at_risk"] == 0.5
