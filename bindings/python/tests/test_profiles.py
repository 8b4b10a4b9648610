"""libcrm.profiles against a reference written from the spec."""
import math
import random

import pytest

import libcrm
from libcrm import _arrays
from libcrm.profiles import is_null

DAY = 86400


def reference(orders, asof):
    """Spec, section "Input and profiles", the obvious way."""
    rows = {}
    for cid, ts, amount in orders:
        if ts // DAY > asof:
            continue
        r = rows.setdefault(cid, {"monetary": 0, "days": []})
        r["monetary"] += amount
        if amount >= 0:
            r["days"].append(ts // DAY)
    out = []
    for cid in sorted(rows):
        days = sorted(rows[cid]["days"])
        if not days:
            continue
        distinct = sorted(set(days))
        f = len(days)
        out.append({
            "customer_id": cid, "first_day": days[0], "last_day": days[-1],
            "recency_days": asof - days[-1], "frequency": f,
            "monetary": rows[cid]["monetary"], "tenure_days": asof - days[0],
            "gap_avg": (days[-1] - days[0]) / (f - 1) if f >= 2 else None,
            "purchase_days": len(distinct),
            "prev_day": distinct[-2] if len(distinct) >= 2 else -1,
            "last_day_orders": days.count(days[-1]),
            "second_day": days[1] if f >= 2 else -1,
        })
    return out


def random_orders(rng, customers, per):
    orders = []
    for _ in range(customers):
        cid = rng.getrandbits(rng.choice([8, 20, 64]))
        t = rng.randrange(0, 400) * DAY
        for _ in range(rng.randint(1, per)):
            t += rng.randrange(0, 30) * DAY + rng.randrange(DAY)
            amount = -rng.randint(1, 900) if rng.random() < 0.06 else rng.randint(0, 50000)
            orders.append((cid, t, amount))
    rng.shuffle(orders)
    return orders


def rows_of(p):
    names = ["customer_id", "first_day", "last_day", "recency_days", "frequency", "monetary",
             "tenure_days", "gap_avg", "purchase_days", "prev_day", "last_day_orders",
             "second_day"]
    out = []
    for i in range(len(p)):
        row = {}
        for n in names:
            v = getattr(p, n)[i]
            row[n] = None if n == "gap_avg" and is_null(v) else (float(v) if n == "gap_avg" else int(v))
        out.append(row)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_matches_reference_lists(seed):
    rng = random.Random(seed)
    orders = random_orders(rng, 300, 9)
    asof = rng.randrange(200, 900)
    assert rows_of(libcrm.profiles(orders, asof)) == reference(orders, asof)


@pytest.mark.parametrize("seed", range(3))
def test_matches_reference_numpy(seed):
    np = pytest.importorskip("numpy")
    rng = random.Random(100 + seed)
    orders = random_orders(rng, 500, 6)
    arr = np.array(orders, dtype=libcrm.ORDER_DTYPE)
    arr.flags.writeable = False  # read-only input is fine: it is never written
    p = libcrm.profiles(arr, 700)
    assert rows_of(p) == reference(orders, 700)
    assert isinstance(p.frequency, np.ndarray) and not p.frequency.flags.writeable


def test_hand_worked_summary():
    orders = [(7, 10 * DAY, 500), (7, 40 * DAY, 200), (7, 50 * DAY, -300), (7, 70 * DAY, 1000),
              (3, 90 * DAY, 250), (3, 101 * DAY, 9999), (9, 20 * DAY, -100)]
    p = libcrm.profiles(orders, "1970-04-11")  # day 100
    assert list(p.customer_id) == [3, 7]
    s = p.summary()
    # revenue 250 + 1400 = 1650 over 2 customers and 4 orders; customer 7
    # lived 60 days
    assert s["customers"] == 2 and s["orders"] == 4 and s["revenue"] == 1650
    assert s["arpu"] == 825 and s["mean_frequency"] == 2 and s["average_check"] == 412.5
    assert s["mean_lifetime"] == 60 and s["repeaters"] == 1


def test_empty_summary_is_null():
    s = libcrm.profiles([], 0).summary()
    assert s["customers"] == 0
    assert all(s[k] is None for k in ("arpu", "mean_frequency", "average_check", "mean_lifetime"))


def test_refund_only_customer_has_no_profile():
    p = libcrm.profiles([(5, DAY, -10)], 3)
    assert len(p) == 0
    with pytest.raises(libcrm.InvalidArgument):
        p.find(5)


@pytest.mark.parametrize("seed", range(4))
def test_merge_random_partitions_equals_whole(seed):
    rng = random.Random(seed)
    orders = random_orders(rng, 200, 8)
    parts = [[] for _ in range(rng.randint(1, 5))]
    for o in orders:
        rng.choice(parts).append(o)
    acc = None
    for part in parts:
        p = libcrm.profiles(part, 600, mergeable=True)
        acc = p if acc is None else acc.merge(p)
    whole = libcrm.profiles(orders, 600, mergeable=True)
    assert rows_of(acc) == rows_of(whole)
    assert acc.summary() == whole.summary()


def test_errors_name_the_record():
    with pytest.raises(libcrm.DataError, match=r"orders\[1\]\.ts"):
        libcrm.profiles([(1, DAY, 1), (2, -5, 1)], 3)
    with pytest.raises(libcrm.InvalidArgument, match="asof"):
        libcrm.profiles([(1, DAY, 1)], -1)
    with pytest.raises(libcrm.CrmOverflowError, match=r"orders\[1\]"):
        libcrm.profiles([(1, DAY, 2**63 - 1), (1, DAY, 1)], 3)
    with pytest.raises(libcrm.InvalidArgument, match="mergeable"):
        libcrm.profiles([(1, DAY, 1)], 3).merge(libcrm.profiles([(1, DAY, 1)], 3))
    with pytest.raises(TypeError, match="row 0"):
        libcrm.profiles([("x", 1)], 3)


def test_numpy_input_checked():
    np = pytest.importorskip("numpy")
    with pytest.raises(TypeError, match="dtype"):
        libcrm.profiles(np.zeros(3, dtype=np.int64), 3)
    arr = np.zeros(6, dtype=libcrm.ORDER_DTYPE)[::2]
    with pytest.raises(TypeError, match="contiguous"):
        libcrm.profiles(arr, 3)


def test_columns_keep_table_alive():
    np = pytest.importorskip("numpy")
    col = libcrm.profiles([(1, DAY, 5), (2, 2 * DAY, 7)], 3).monetary
    import gc
    gc.collect()
    assert list(col) == [5, 7]  # the freed-too-early table would show garbage under ASan
    with pytest.raises(ValueError):
        col[0] = 1


def test_lists_without_numpy(monkeypatch):
    monkeypatch.setattr(_arrays, "np", None)
    p = libcrm.profiles([(1, DAY, 5), (1, 3 * DAY, 7), (2, 2 * DAY, 1)], 3)
    assert p.customer_id == [1, 2] and p.gap_avg[0] == 2.0 and p.gap_avg[1] is None
    assert math.isclose(p.summary()["arpu"], 6.5)
