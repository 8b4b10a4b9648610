"""libcrm.rfm / rfm_lint / migration against references written from the spec."""
import csv
import datetime as dt
import math
import os
import random
from fractions import Fraction

import pytest

import libcrm

DAY = 86400
DATASETS = [os.path.join(os.path.dirname(__file__), *up, "shared", "datasets")
            for up in ((os.pardir,) * 4, (os.pardir,) * 5)]


# ---- reference (spec, "RFM scores 1..N"), the obvious way --------------------

def ref_profiles(orders, asof):
    rows = {}
    for cid, ts, amount in orders:
        if ts // DAY > asof:
            continue
        r = rows.setdefault(cid, {"m": 0, "days": []})
        r["m"] += amount
        if amount >= 0:
            r["days"].append(ts // DAY)
    out = {}
    for cid in sorted(rows):
        d = rows[cid]["days"]
        if d:
            out[cid] = (asof - max(d), len(d), rows[cid]["m"])
    return out


def ref_bins(keys, n_bins, tie):
    """keys: list of (key, customer_id) in customer order -> bins per position."""
    n = len(keys)
    order = sorted(range(n), key=lambda i: (keys[i][0], keys[i][1]))
    out = [0] * n
    if tie == "rfm_r":
        xs = sorted(k for k, _ in keys)
        ts = []
        for j in range(1, n_bins):
            h = Fraction((n - 1) * j, n_bins)
            fl = math.floor(h)
            q = xs[fl] + (h - fl) * ((xs[fl + 1] - xs[fl]) if h > fl else 0)
            ts.append(q + 1)
        lower = [Fraction(xs[0])] + ts
        upper = ts + [Fraction(xs[-1] + 1)]
        for i, (x, _) in enumerate(keys):
            out[i] = next(b + 1 for b in range(n_bins) if lower[b] <= x < upper[b])
        return out
    for rank0, i in enumerate(order):
        r = rank0 + 1
        if tie == "ntile":
            L, S, k = -(-n // n_bins), n // n_bins, n % n_bins
            T = L * k
            out[i] = (r + L - 1) // L if r <= T else (r - T + S - 1) // S + k
        else:
            out[i] = 1 if n == 1 else max(1, -(-n_bins * (r - 1) // (n - 1)))
    return out


def ref_scores(prof, n_bins, tie):
    ids = list(prof)
    rec = [(-prof[c][0] if tie == "ntile" else prof[c][0], c) for c in ids]
    r = ref_bins(rec, n_bins, tie)
    if tie != "ntile":
        r = [n_bins + 1 - b for b in r]
    f = ref_bins([(prof[c][1], c) for c in ids], n_bins, tie)
    m = ref_bins([(prof[c][2], c) for c in ids], n_bins, tie)
    return ids, r, f, m


RF10 = [("hibernating", 1, 2, 1, 2, 1, 5), ("at_risk", 1, 2, 3, 4, 1, 5),
        ("cant_lose", 1, 2, 5, 5, 1, 5), ("about_to_sleep", 3, 3, 1, 2, 1, 5),
        ("need_attention", 3, 3, 3, 3, 1, 5), ("loyal_customers", 3, 4, 4, 5, 1, 5),
        ("promising", 4, 4, 1, 1, 1, 5), ("new_customers", 5, 5, 1, 1, 1, 5),
        ("potential_loyalists", 4, 5, 2, 3, 1, 5), ("champions", 5, 5, 4, 5, 1, 5)]
RFM11 = [("Champions", 4, 5, 4, 5, 4, 5), ("Loyal Customers", 2, 5, 3, 5, 3, 5),
         ("Potential Loyalist", 3, 5, 1, 3, 1, 3), ("New Customers", 4, 5, 1, 1, 1, 1),
         ("Promising", 3, 4, 1, 1, 1, 1), ("Need Attention", 2, 3, 2, 3, 2, 3),
         ("About To Sleep", 2, 3, 1, 2, 1, 2), ("At Risk", 1, 2, 2, 5, 2, 5),
         ("Can't Lose Them", 1, 1, 4, 5, 4, 5), ("Hibernating", 1, 2, 1, 2, 1, 2),
         ("Lost", 1, 2, 1, 2, 1, 2)]


def ref_segment(boxes, r, f, m):
    for name, rl, rh, fl, fh, ml, mh in boxes:
        if rl <= r <= rh and fl <= f <= fh and ml <= m <= mh:
            return name
    return "Others"


def random_orders(rng, customers, per=8):
    orders = []
    for _ in range(customers):
        cid = rng.getrandbits(rng.choice([10, 40, 64]))
        t = rng.randrange(0, 300) * DAY
        for _ in range(rng.randint(1, per)):
            t += rng.randrange(0, 40) * DAY + rng.randrange(DAY)
            amount = -rng.randint(1, 900) if rng.random() < 0.06 else rng.randrange(0, 30) * 250
            orders.append((cid, t, amount))
    rng.shuffle(orders)
    return orders


# ---- scores ---------------------------------------------------------------

@pytest.mark.parametrize("tie", ["ntile", "qcut_rank", "rfm_r"])
@pytest.mark.parametrize("seed", range(3))
def test_scores_match_reference(tie, seed):
    rng = random.Random(seed)
    orders = random_orders(rng, rng.randint(1, 250))
    asof = 600
    prof = ref_profiles(orders, asof)
    for bins in (2, 3, 5, 7, 10):
        res = libcrm.rfm(orders, asof=asof, bins=bins, tie=tie)
        ids, r, f, m = ref_scores(prof, bins, tie)
        assert [int(x) for x in res.customer_id] == ids
        assert [int(x) for x in res.r] == r
        assert [int(x) for x in res.f] == f
        assert [int(x) for x in res.m] == m
        if bins == 5:
            assert res.segment == [ref_segment(RF10, *s) for s in zip(r, f, m)]
        else:
            assert res.segment is None


def test_hand_worked_ntile_ties():
    # frequencies 3 1 1 2 5 1 4 of customers 1..7 (all on day 0 except counts)
    orders = []
    for cid, freq in zip(range(1, 8), (3, 1, 1, 2, 5, 1, 4)):
        orders += [(cid, 0, 100)] * freq
    res = libcrm.rfm(orders, asof=0)
    # len 7, N 5: L 2, S 1, k 2: ranks 1-2 -> 1, 3-4 -> 2, then 3, 4, 5
    assert list(res.f) == [3, 1, 1, 2, 5, 2, 4]
    assert res.thresholds["f"] == [2, 3, 4, 5]
    e = res.explain(6, "f")
    assert (e["score"], e["rank"], e["rank_lo"], e["rank_hi"], e["rule"]) == (2, 3, 3, 4, "ntile")


def test_single_customer_edge():
    for tie, want in (("ntile", 1), ("qcut_rank", 5), ("rfm_r", 5)):
        res = libcrm.rfm([(9, 0, 1)], asof=3, tie=tie)
        assert (int(res.r[0]), int(res.f[0]), int(res.m[0])) == (want, 1, 1)


def test_cuts_and_frozen_options():
    orders = [(1, 0, 100), (2, 5 * DAY, 900), (3, 9 * DAY, 5000), (3, 9 * DAY, 5000)]
    res = libcrm.rfm(orders, asof=10, cuts={"r": [-7, -3], "m": [500, 1000, 1000]})
    # -recency: -10, -5, -1 -> 1 + #{cuts <= x}
    assert list(res.r) == [1, 2, 3]
    assert list(res.m) == [1, 2, 4]
    assert res.thresholds["r"] == [-7, -3]
    assert res.explain(2, "r")["lo"] == -7 and res.explain(2, "r")["hi"] == -4
    assert res.explain(3, "r")["hi"] is None
    with pytest.raises(ValueError):
        libcrm.rfm(orders, asof=10, cuts={"m": [5, 3]})
    with pytest.raises(ValueError):
        libcrm.rfm(orders, asof=10, cuts={"x": [5]})


def test_numpy_zero_copy_and_profiles_input():
    np = pytest.importorskip("numpy")
    rng = random.Random(4)
    orders = random_orders(rng, 200)
    arr = np.array(orders, dtype=libcrm.ORDER_DTYPE)
    p = libcrm.profiles(arr, 500)
    a = libcrm.rfm(p, tie="qcut_rank")
    b = libcrm.rfm(orders, asof=500, tie="qcut_rank")
    assert a.r.dtype == np.uint8 and not a.r.flags.writeable
    assert np.array_equal(a.r, b.r) and np.array_equal(a.m, b.m)
    assert a.segment == b.segment
    with pytest.raises(ValueError):
        libcrm.rfm(p, asof=499)
    r = a.r
    del a
    assert len(r) == len(p)  # the view keeps the result alive


def test_customer_columns_and_partition_independence():
    rng = random.Random(8)
    orders = random_orders(rng, 300)
    half = len(orders) // 2
    pa = libcrm.profiles(orders[:half], 500, mergeable=True)
    pb = libcrm.profiles(orders[half:], 500, mergeable=True)
    merged = libcrm.rfm(pa.merge(pb), tie="rfm_r", segment_map="rfm11")
    whole = libcrm.rfm(list(reversed(orders)), asof=500, tie="rfm_r", segment_map="rfm11")
    assert list(merged.r) == list(whole.r) and merged.segment == whole.segment
    assert merged.thresholds == whole.thresholds
    cols = {"customer_id": list(whole.customer_id), "recency_days": list(whole.recency_days),
            "frequency": list(whole.frequency), "monetary": list(whole.monetary)}
    c = libcrm.rfm(cols, tie="rfm_r", segment_map="rfm11")
    assert c.asof is None and c.segment == whole.segment


def test_summary_matches_brute_force():
    rng = random.Random(2)
    orders = random_orders(rng, 300)
    res = libcrm.rfm(orders, asof=500, segment_map=RFM11)
    rows = res.summary()
    assert [r["segment"] for r in rows] == [b[0] for b in RFM11] + ["Others"]
    n = len(res)
    for row in rows:
        members = [i for i in range(n) if res.segment[i] == row["segment"]]
        assert row["customers"] == len(members)
        assert row["orders"] == sum(int(res.frequency[i]) for i in members)
        assert row["revenue"] == sum(int(res.monetary[i]) for i in members)
        assert row["share"] == pytest.approx(len(members) / n, rel=1e-15)
        if members:
            assert row["mean_recency"] == pytest.approx(
                sum(int(res.recency_days[i]) for i in members) / len(members), rel=1e-12)
        else:
            assert row["mean_recency"] is None and row["mean_monetary"] is None


def test_builtin_map_needs_five_bins():
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.rfm([(1, 0, 1)], asof=0, bins=4, segment_map="rf10")
    assert libcrm.rfm([(1, 0, 1)], asof=0, bins=4).segment is None
    assert libcrm.rfm([(1, 0, 1)], asof=0, segment_map=None).segment is None
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.rfm([(1, 0, 1)], asof=0, segment_map=None).summary()
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.rfm([(1, 0, 1)], asof=0, segment_map="nope")
    with pytest.raises(ValueError):
        libcrm.rfm([(1, 0, 1)], asof=0, tie="median")
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.rfm([(1, 0, 1)], asof=0, bins=11)
    with pytest.raises(ValueError):
        libcrm.rfm([(1, 0, 1)])


# ---- lint -------------------------------------------------------------------

def ref_lint(boxes, n):
    cells = {}
    for r in range(1, n + 1):
        for f in range(1, n + 1):
            for m in range(1, n + 1):
                cells[(r, f, m)] = ref_segment(boxes, r, f, m)
    names = list(dict.fromkeys(b[0] for b in boxes))
    unreachable, shadowed = [], []
    for name in names:
        cov = {c for c in cells if any(b[0] == name and b[1] <= c[0] <= b[2] and
                                       b[3] <= c[1] <= b[4] and b[5] <= c[2] <= b[6]
                                       for b in boxes)}
        won = {c for c in cov if cells[c] == name}
        if not won:
            unreachable.append(name)
        elif won != cov:
            shadowed.append(name)
    return {"unreachable": unreachable, "shadowed": shadowed,
            "others_cells": sorted(c for c, v in cells.items() if v == "Others")}


def test_lint_published_figures():
    lint = libcrm.rfm_lint("rfm11")
    assert len(lint["unreachable"]) == 4  # spec: four unreachable segments
    assert len(lint["others_cells"]) == 36  # and 36 of 125 cells in "Others"
    assert lint == ref_lint(RFM11, 5)
    assert libcrm.rfm_lint("rf10") == {"unreachable": [], "shadowed": [], "others_cells": []}
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.rfm_lint("rf10", bins=4)


def test_lint_custom_maps():
    rng = random.Random(5)
    for _ in range(20):
        n = rng.randint(2, 6)
        boxes = []
        for k in range(rng.randint(1, 8)):
            b = [f"s{rng.randint(0, 4)}"]
            for _d in range(3):
                lo = rng.randint(1, n)
                b += [lo, rng.randint(lo, n)]
            boxes.append(tuple(b))
        assert libcrm.rfm_lint(boxes, bins=n) == ref_lint(boxes, n)
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.rfm_lint([("a", 1, 6, 1, 5, 1, 5)])
    with pytest.raises(libcrm.InvalidArgument):
        libcrm.rfm_lint([("Others", 1, 1, 1, 1, 1, 1)])
    with pytest.raises(TypeError):
        libcrm.rfm_lint([("a", 1, 2)])


# ---- migration ----------------------------------------------------------------

def ref_frozen_cuts(keys, n_bins, tie):
    """Spec, edge conventions: cut above bin b = largest value in bins 1..b
    (empty bin: previous one's; a split value belongs to its first customer's
    bin); returned as ascending cut points c = u + 1 on the key scale."""
    bins = ref_bins(keys, n_bins, tie)
    if tie == "rfm_r":
        xs = sorted(k for k, _ in keys)
        n = len(xs)
        cuts = []
        for j in range(1, n_bins):
            h = Fraction((n - 1) * j, n_bins)
            fl = math.floor(h)
            q = xs[fl] + (h - fl) * ((xs[fl + 1] - xs[fl]) if h > fl else 0)
            cuts.append(math.ceil(q + 1))
        return cuts
    first_bin = {}
    for i in sorted(range(len(keys)), key=lambda i: keys[i]):
        first_bin.setdefault(keys[i][0], bins[i])
    cuts, u = [], None
    for b in range(1, n_bins):
        own = [v for v, fb in first_bin.items() if fb == b]
        if own:
            u = max(own)
        cuts.append(u + 1)
    return cuts


def ref_migration(orders, a, b, mode, tie="ntile"):
    pa, pb = ref_profiles(orders, a), ref_profiles(orders, b)
    ida, ra, fa, ma = ref_scores(pa, 5, tie)
    seg_a = {c: ref_segment(RF10, *s) for c, s in zip(ida, zip(ra, fa, ma))}
    if mode == "relative":
        idb, rb, fb, mb = ref_scores(pb, 5, tie)
    else:
        rev = tie != "ntile"
        rkeys = [(pa[c][0] if rev else -pa[c][0], c) for c in ida]
        rc = ref_frozen_cuts(rkeys, 5, tie)
        fc = ref_frozen_cuts([(pa[c][1], c) for c in ida], 5, tie)
        mc = ref_frozen_cuts([(pa[c][2], c) for c in ida], 5, tie)
        score = lambda cuts, x: min(5, 1 + sum(1 for c in cuts if c <= x))
        idb = list(pb)
        if rev:  # bin on recency ascending, reversed
            rb = [6 - score(rc, pb[c][0]) for c in idb]
        else:
            rb = [score(rc, -pb[c][0]) for c in idb]
        fb = [score(fc, pb[c][1]) for c in idb]
        mb = [score(mc, pb[c][2]) for c in idb]
    labels = [b_[0] for b_ in RF10]
    rows = labels + ["(none)"]
    counts = [[0] * len(labels) for _ in rows]
    for c, s in zip(idb, zip(rb, fb, mb)):
        counts[rows.index(seg_a.get(c, "(none)"))][labels.index(ref_segment(RF10, *s))] += 1
    return rows, labels, counts


@pytest.mark.parametrize("mode", ["relative", "frozen"])
@pytest.mark.parametrize("tie", ["ntile", "qcut_rank", "rfm_r"])
def test_migration_matches_reference(mode, tie):
    rng = random.Random(hash((mode, tie)) & 0xFFFF)
    orders = random_orders(rng, 300)
    got = libcrm.migration(orders, 350, "1971-07-19", mode=mode, tie=tie)
    assert got == ref_migration(orders, 350, 564, mode, tie)
    rates = libcrm.migration_rates(got[2])
    for row, counts in zip(rates, got[2]):
        if sum(counts):
            assert sum(row) == pytest.approx(1.0)
        else:
            assert row == [None] * len(counts)


def test_migration_errors_and_registry():
    orders = [(1, 0, 5), (2, 3 * DAY, 7)]
    with pytest.raises(ValueError):
        libcrm.migration(orders, 5, 4)
    with pytest.raises(ValueError):
        libcrm.migration(orders, 1, 4, mode="sticky")
    with pytest.raises(ValueError):
        libcrm.migration(orders, 1, 4, by="nope")
    with pytest.raises(TypeError):
        libcrm.migration(orders, 1, 4, colour="red")
    rows, cols, counts = libcrm.migration(orders, 1, 4, segment_map="rfm11", tie="rfm_r")
    assert rows[-1] == "(none)" and cols == [b[0] for b in RFM11] + ["Others"]
    assert sum(map(sum, counts)) == 2 and sum(counts[-1]) == 1
    libcrm.register_migration("echo", lambda o, f, t, mode, **kw: (["a"], ["b"], [[f + t]]))
    assert libcrm.migration(orders, 1, 4, by="echo") == (["a"], ["b"], [[5]])


# ---- the R package rfm 0.3.0: published test figures --------------------------

def dataset(name):
    for d in DATASETS:
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    pytest.skip(f"{name} not available")


def test_r_package_champions():
    rows = list(csv.DictReader(open(dataset("rfm_data_orders.csv"), newline="")))
    assert len(rows) == 4906
    names = sorted({r["customer_id"] for r in rows})
    ids = {n: i + 1 for i, n in enumerate(names)}
    epoch = dt.date(1970, 1, 1)
    orders = [(ids[r["customer_id"]], (dt.date.fromisoformat(r["order_date"]) - epoch).days * DAY,
               int(r["revenue"])) for r in rows]
    test_map = [("Champions", 4, 5, 4, 5, 4, 5), ("Loyal Customers", 2, 5, 3, 5, 3, 5),
                ("Potential Loyalist", 3, 5, 1, 3, 1, 3), ("New Customers", 4, 5, 1, 1, 1, 1),
                ("Promising", 3, 4, 1, 1, 1, 1), ("Need Attention", 2, 3, 2, 3, 2, 3),
                ("About To Sleep", 2, 3, 1, 2, 1, 2), ("At Risk", 1, 2, 2, 5, 2, 5),
                ("Can't Lose Them", 1, 1, 4, 5, 4, 5), ("Lost", 1, 2, 1, 2, 1, 2)]
    res = libcrm.rfm(orders, asof="2006-12-31", tie="rfm_r", segment_map=test_map)
    champ = res.summary()[0]
    assert (champ["segment"], champ["customers"], champ["orders"], champ["revenue"]) == \
        ("Champions", 158, 1234, 120178)
    assert sum(r["orders"] for r in res.summary()) == 4906


# ---- scale-out ------------------------------------------------------------------

@pytest.mark.parametrize("tie", ["ntile", "qcut_rank", "rfm_r"])
@pytest.mark.parametrize("parts", [1, 3, 4])
def test_partials_equal_whole(tie, parts):
    import pickle
    rng = random.Random(parts * 7 + len(tie))
    orders = random_orders(rng, 400)
    whole = libcrm.rfm(orders, asof=600, tie=tie, segment_map="rfm11")
    chunks = [[o for o in orders if o[0] % parts == i] for i in range(parts)]
    profs = [libcrm.profiles(c, 600) for c in chunks]
    th = libcrm.rfm_thresholds([libcrm.rfm_partial(p) for p in profs], tie=tie,
                               segment_map="rfm11")
    assert th.customers == len(whole)
    if th.pending:
        th = th.with_ties([th.ties_partial(p) for p in profs])
    th = pickle.loads(pickle.dumps(th))  # shipped to the workers
    assert th.pending == 0
    got = {}
    for p in profs:
        res = th.score(p)
        assert res.thresholds == whole.thresholds
        for i, cid in enumerate(res.customer_id):
            got[int(cid)] = (int(res.r[i]), int(res.f[i]), int(res.m[i]), res.segment[i])
    want = {int(c): (int(whole.r[i]), int(whole.f[i]), int(whole.m[i]), whole.segment[i])
            for i, c in enumerate(whole.customer_id)}
    assert got == want


def test_partial_errors():
    blob = libcrm.rfm_partial([(1, 0, 5), (2, 0, 5)], asof=3)
    with pytest.raises(libcrm.StateError):
        libcrm.rfm_thresholds([blob[:-1]])
    with pytest.raises(ValueError):
        libcrm.rfm_thresholds([])
    with pytest.raises(ValueError):
        libcrm.rfm_partial([(1, 0, 5)])
    th = libcrm.rfm_thresholds([blob])
    assert th.pending > 0  # two customers tied on every value: ntile splits them
    with pytest.raises(libcrm.InvalidArgument):
        th.score(libcrm.profiles([(1, 0, 5)], 3))


@pytest.mark.parametrize("tie", ["ntile", "qcut_rank", "rfm_r"])
@pytest.mark.parametrize("bins", [3, 5])
def test_shards_straight_from_orders_equal_whole(tie, bins):
    import pickle
    rng = random.Random(bins * 11 + len(tie))
    orders = random_orders(rng, 500)
    whole = libcrm.rfm(orders, asof=600, tie=tie, bins=bins)
    # 7 customer-disjoint partitions (one empty) dealt to 3 shards
    chunks = [[o for o in orders if o[0] % 6 == i] for i in range(6)] + [[]]
    shards = [libcrm.rfm_shard(600, chunks[k::3]) for k in range(3)]
    assert sum(len(s) for s in shards) == len(whole)
    th = libcrm.rfm_thresholds([s.partial() for s in shards], tie=tie, bins=bins)
    if th.pending:
        th = th.with_ties([s.ties_partial(th) for s in shards])
    th = pickle.loads(pickle.dumps(th))
    want = {int(c): (int(whole.r[i]), int(whole.f[i]), int(whole.m[i]))
            for i, c in enumerate(whole.customer_id)}
    got, cells, revenue = {}, 0, 0
    for s in shards:
        res = s.score(th)
        assert res.thresholds == whole.thresholds
        for i, cid in enumerate(res.customer_id):
            got[int(cid)] = (int(res.r[i]), int(res.f[i]), int(res.m[i]))
        c, rev = s.cell_counts(th, revenue=True)
        assert (c == s.cell_counts(th)).all()
        cells, revenue = cells + c, revenue + rev
    assert got == want
    # counts from the summed cells == brute-force counts of the whole
    summary = libcrm.cell_summary(cells, revenue=revenue)
    assert summary["customers"] == len(whole)
    for d in ("r", "f", "m"):
        col = [int(x) for x in getattr(whole, d)]
        assert summary[d] == [col.count(k) for k in range(1, bins + 1)], d
    if bins == 5:
        assert summary["segments"] == {n: list(whole.segment).count(n)
                                       for n in whole.segment_names}
        want_rev = {n: 0 for n in whole.segment_names}
        for seg, mon in zip(whole.segment, whole.monetary):
            want_rev[seg] += int(mon)
        assert summary["revenue"] == want_rev
    else:
        assert summary["segments"] is None and summary["revenue"] is None
    named = libcrm.cell_summary(cells, segment_map=None)
    assert named["segments"] is None


def test_shard_errors():
    shard = libcrm.RfmShard("1970-01-11")
    shard.add([(1, 9 * DAY, 100), (3, 10 * DAY, 500)]).add([])
    assert len(shard) == 2
    with pytest.raises(libcrm.DataError, match=r"orders\[1\]"):
        shard.add([(7, 0, 1), (8, -1, 5)])
    assert len(shard) == 2  # a failed add changes nothing
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(shard)
    th = libcrm.rfm_thresholds([shard.partial()], tie="rfm_r")
    shard.add([(3, 2 * DAY, 5)])  # customer 3 again: not customer-disjoint
    with pytest.raises(libcrm.InvalidArgument):
        shard.score(th)  # 3 customers, thresholds of 2
    th = libcrm.rfm_thresholds([shard.partial()], tie="rfm_r")
    with pytest.raises(libcrm.DataError, match="customer 3"):
        shard.score(th)
    with pytest.raises(ValueError):
        libcrm.cell_summary([[1, 2], [3, 4]])


def test_select_over_rfm_result():
    rng = random.Random(12)
    orders = random_orders(rng, 200)
    res = libcrm.rfm(orders, asof=500)
    mask = libcrm.select(res, 'rfm_segment = "champions" or (r >= 4 and frequency >= 3)')
    want = [s == "champions" or (int(r) >= 4 and int(f) >= 3)
            for s, r, f in zip(res.segment, res.r, res.frequency)]
    assert [bool(x) for x in mask] == want
    cols = {k: list(v) for k, v in (("customer_id", res.customer_id),
                                     ("recency_days", res.recency_days),
                                     ("frequency", res.frequency), ("monetary", res.monetary))}
    res2 = libcrm.rfm(cols)
    mask2 = libcrm.select(res2, "m = 5 and recency_days < 60")
    assert [bool(x) for x in mask2] == [int(m) == 5 and int(d) < 60
                                         for m, d in zip(res2.m, res2.recency_days)]


def test_migration_by_lifecycle():
    rng = random.Random(13)
    orders = random_orders(rng, 150)
    rows, cols, counts = libcrm.migration(orders, 300, 500, by="lifecycle")
    import importlib
    table = importlib.import_module("libcrm.lifecycle").migration_table(orders, 300, 500)
    assert (rows, cols, counts) == (table["rows"], table["columns"], table["counts"])
    assert rows[-1] == "(none)"
    # population at `to`: every customer with a profile at day 500 (no contacts)
    assert sum(map(sum, counts)) == len(libcrm.profiles(orders, 500))
    assert libcrm.migration(orders, 300, 500, by="lifecycle", mode="frozen")[2] == counts
