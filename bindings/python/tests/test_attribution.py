"""Python binding of the attribution module: hand-worked values, an
independent pure-Python Markov reference, merge == whole, pickling, events,
control groups and errors."""
import math
import os
import pickle
import random

import pytest

import libcrm
from libcrm import PathTable

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "datasets",
                    "channelattribution_paths.csv")
DATA_ALT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "shared",
                        "datasets", "channelattribution_paths.csv")


def close(a, b, rel=1e-12):
    assert abs(a - b) <= rel * max(1.0, abs(b)), (a, b)


def test_heuristics_by_hand():
    t = PathTable.from_rows([("A > B > B > C", 4, 40, 1), (["B", "C"], 2, 20, 0), ("A", 1, 10, 5)])
    r = t.attribute(models=("first_touch", "last_touch", "linear", "position_based"))
    close(r["first_touch"]["A"][0], 5)
    close(r["last_touch"]["C"][1], 60)
    close(r["linear"]["B"][0], 2 + 1)
    close(r["position_based"]["B"][0], 4 * 0.2 + 1)
    r = t.attribute(models="position_based", position=(0.3, 0.6, 0.1))
    close(r["position_based"]["B"][0], 4 * 0.6 + 1)
    lnd = t.credit("last_non_direct", direct="C")
    close(lnd["B"][0], 6)
    assert t.channels == ["A", "B", "C"]
    assert len(t) == 3
    assert t.totals()["conversions"] == 7


def _ref_markov(rows, removed=None):
    """P(conversion) of the first-order chain by value iteration in Python
    (pure reference, independent of the library)."""
    start, tr = {}, {}
    for path, conv, _value, nulls in rows:
        seq = []
        for c in path:
            if not seq or seq[-1] != c:
                seq.append(c)
        w = conv + nulls
        start[seq[0]] = start.get(seq[0], 0) + w
        for a, b in zip(seq, seq[1:]):
            tr.setdefault(a, {})[b] = tr.setdefault(a, {}).get(b, 0) + w
        d = tr.setdefault(seq[-1], {})
        d["(conv)"] = d.get("(conv)", 0) + conv
        d["(null)"] = d.get("(null)", 0) + nulls
    x = {s: 0.0 for s in tr}
    for _ in range(5000):
        for s, d in tr.items():
            if s == removed:
                continue
            tot = sum(d.values())
            x[s] = sum(w / tot * (1.0 if t == "(conv)" else 0.0 if t == "(null)" or t == removed
                                  else x[t]) for t, w in d.items())
    tot = sum(start.values())
    return sum(w / tot * (0.0 if s == removed else x[s]) for s, w in start.items())


def test_markov_against_python_reference():
    rnd = random.Random(5)
    rows = []
    for _ in range(40):
        path = [rnd.choice("abcd") for _ in range(rnd.randint(1, 6))]
        rows.append((path, rnd.randint(0, 4), 0.0, rnd.randint(1, 6)))
    t = PathTable.from_rows(rows)
    m = t.markov()
    p = _ref_markov(rows)
    close(m.p_conversion, p, 1e-12)
    conv = sum(r[1] for r in rows)
    close(m.p_conversion, conv / (conv + sum(r[3] for r in rows)))
    for ch in "abcd":
        if ch in m.removal_effects:
            close(m.removal_effects[ch], 1 - _ref_markov(rows, ch) / p, 1e-9)
    close(sum(c for c, _ in m.credit.values()), conv)
    assert m.states[:3] == ["(start)", "(conversion)", "(null)"]
    for frm, d in m.transition_matrix.items():
        close(sum(d.values()), 1.0)
    assert m.stderr is None
    assert t.markov(order=3, threads=2).removal_effects == t.markov(order=3).removal_effects
    b = t.markov(order=2, bootstrap=5, seed=3)
    assert set(b.stderr) == {"removal_effects", "value_removal_effects", "conversions", "value"}
    assert b.stderr["removal_effects"] == t.markov(order=2, bootstrap=5, seed=3).stderr["removal_effects"]


def test_merge_pickle_and_partials():
    rnd = random.Random(9)
    rows = [([rnd.choice("xyz") for _ in range(rnd.randint(1, 5))], rnd.randint(0, 3),
             rnd.random() * 10, rnd.randint(0, 5)) for _ in range(50)]
    whole = PathTable.from_rows(rows)
    a = PathTable.from_rows(rows[:20])
    b = PathTable.from_bytes(PathTable.from_rows(rows[20:]).to_bytes())
    merged = pickle.loads(pickle.dumps(b.merge(a)))
    for model in ("linear", "markov", "shapley", "shapley_cr"):
        w, m = whole.credit(model), merged.credit(model)
        for ch in w:
            close(m[ch][0], w[ch][0], 1e-9)
            close(m[ch][1], w[ch][1], 1e-9)
    with pytest.raises(libcrm.StateError):
        PathTable.from_bytes(b"CRMB garbage")


def test_csv_and_errors(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("path,conv,value,null\na > b,1,2.5,3\nb,0,0,4\n")
    t = PathTable.read_csv(str(f))
    assert t.totals()["nulls"] == 7
    assert t.rows()[0] == (("a", "b"), 1.0, 2.5, 3.0)
    with pytest.raises(libcrm.DataError, match="line 2"):
        PathTable.parse("p;c;v;n\na;1;x;3\n")
    with pytest.raises(libcrm.DataError):
        PathTable.from_rows([("a", float("nan"), 0, 0)])
    with pytest.raises(ValueError):
        t.credit("nope")
    with pytest.raises(libcrm.InvalidArgument):
        t.credit("time_decay")
    with pytest.raises(ValueError):
        t.credit("last_non_direct", direct="zzz")


@pytest.mark.skipif(not (os.path.exists(DATA) or os.path.exists(DATA_ALT)),
                    reason="shared datasets not present")
def test_channelattribution_sample():
    t = PathTable.read_csv(DATA if os.path.exists(DATA) else DATA_ALT)
    tot = t.totals()
    assert tot["conversions"] == 19785
    close(tot["value"], 74802.97158721)
    for k in (1, 2, 3):
        m = t.markov(order=k)
        close(m.p_conversion, 19785 / (19785 + 68602))
        assert all(0 <= v <= 1 for v in m.removal_effects.values())
    assert t.choose_order(max_order=4, criterion="bic") in (1, 2, 3, 4)


def test_first_order_data_selects_order_1():
    rnd = random.Random(1)
    P = {"a": "bbbcd", "b": "acc", "c": "da", "d": "ab"}
    rows = []
    for _ in range(8000):
        s, path = rnd.choice("abcd"), []
        while True:
            path.append(s)
            u = rnd.random()
            if u < 0.12:
                rows.append((path, 1, 1.0, 0))
                break
            if u < 0.3:
                rows.append((path, 0, 0.0, 1))
                break
            s = rnd.choice(P[s])
    t = PathTable.from_rows(rows)
    assert t.choose_order(4, "heldout") == 1
    assert t.choose_order(4, "bic") == 1
    k, scores = t.order_scores(3, "bic")
    assert k == 1 and len(scores) == 3


def test_events():
    day = 86400
    T0 = 1_700_000_000
    touches = [(1, T0 - 10 * day, 8, 80, 1), (1, T0 - day // 2, 9, 90, 0),
               (1, T0 - 2 * day, 7, 70, 0), (2, T0 - 31 * day, 8, 80, 1), (3, T0, 9, 90, 0)]
    convs = [(1, T0, 100.0, 1.0), (2, T0, 50.0)]
    r = libcrm.events_credit(touches, convs)
    assert r["unattributed"] == (1.0, 50.0)
    assert r["channel"]["first_touch"][8] == (1.0, 100.0)
    assert r["campaign"]["ad_server_last"][80] == (1.0, 100.0)
    w8, w9 = 2 ** (-10 / 7), 2 ** (-0.5 / 7)
    close(r["channel"]["time_decay"][9][0], w9 / (w8 + w9))
    t = PathTable.from_events(touches, convs)
    assert sorted(t.rows()) == [(("8", "9"), 1.0, 100.0, 0.0), (("9",), 0.0, 0.0, 1.0)]
    camp = PathTable.from_events(touches, convs, by_campaign=True)
    assert (("80", "90"), 1.0, 100.0, 0.0) in camp.rows()
    inf = PathTable.from_events(touches, convs, click_window_days=None, view_window_days=None)
    assert (("8", "7", "9"), 1.0, 100.0, 0.0) in inf.rows()
    with pytest.raises(libcrm.DataError, match=r"touches\[0\].kind"):
        libcrm.events_credit([(1, T0, 1, 1, 5)], [])
    np = pytest.importorskip("numpy")
    arr = np.zeros(len(touches), dtype=libcrm.TOUCH_DTYPE)
    for i, (c, ts, ch, cp, k) in enumerate(touches):
        arr[i]["customer_id"], arr[i]["ts"], arr[i]["channel"] = c, ts, ch
        arr[i]["campaign"], arr[i]["kind"] = cp, k
    carr = np.zeros(2, dtype=libcrm.CONVERSION_DTYPE)
    carr["customer_id"] = [1, 2]
    carr["ts"] = T0
    carr["value"] = [100.0, 50.0]
    carr["weight"] = 1.0
    assert libcrm.events_credit(arr, carr) == r


def _sm64(z):
    m = (1 << 64) - 1
    z = (z + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def test_control_groups_and_uplift():
    ids = list(range(1000, 6000, 7))
    flags = list(libcrm.in_control(ids, 42, 0.2))
    want = [(_sm64(i ^ _sm64(42)) >> 11) * 2.0 ** -53 < 0.2 for i in ids]
    assert flags == want
    a = [1, 0, 1, 1, 0, 1, 0, 1]
    b = [0, 0, 1, 0, 0, 1, 0]
    u = libcrm.uplift(a, b, [12.5, 0, 3, 44, 7.25, 0, 19, 3.5], [0, 2, 0, 11, 5, 0, 0])
    close(u["p_value"], 0.21436592652401248, 1e-9)
    close(u["ci95"][0], -0.22238982100426918, 1e-9)
    close(u["incremental_conversions"], 8 * (5 / 8 - 2 / 7))
    assert "incremental_revenue" in u
    day = 86400
    conv, val = libcrm.outcomes([10, 20], [(10, 61 * day, 5.0, 1.0), (20, 59 * day, 3.0, 1.0)],
                                stop_ts=0)
    assert list(conv) == [1.0, 0.0] and list(val) == [5.0, 0.0]
    with pytest.raises(libcrm.DataError):
        libcrm.uplift([1, float("nan")], [0, 1])
    assert math.isnan(libcrm.uplift([1, 1], [0, 0])["relative_lift"])


def test_events_credit_partials():
    rnd = random.Random(4)
    day = 86400
    touches = [(rnd.randint(1, 40), 1_600_000_000 + rnd.randint(0, 60) * day, rnd.randint(1, 5),
                rnd.randint(10, 20), rnd.randint(0, 1)) for _ in range(300)]
    convs = [(rnd.randint(1, 45), 1_600_000_000 + rnd.randint(0, 60) * day, rnd.random() * 9)
             for _ in range(80)]
    whole = libcrm.events_credit(touches, convs, view_window_days=5)
    parts = [libcrm.events_credit_partial([t for t in touches if t[0] % 3 == k],
                                          [c for c in convs if c[0] % 3 == k], view_window_days=5)
             for k in range(3)]
    merged = libcrm.events_credit_from_partials(parts)
    for by in ("channel", "campaign"):
        for model, per in whole[by].items():
            for i, (c, v) in per.items():
                close(merged[by][model][i][0], c)
                close(merged[by][model][i][1], v)
    close(merged["unattributed"][0], whole["unattributed"][0])
