"""libcrm.dask and libcrm.partial: results over random partitionings (a
customer's rows in several partitions, empty partitions, one huge
partition, deep and shallow reduction trees) equal the single-process API,
exactly; the same on a real LocalCluster of 2 worker processes; partial
bytes round-trip, pickle, and refuse damaged or newer-format input."""
import pickle
import random
import struct

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
dask = pytest.importorskip("dask")

import libcrm  # noqa: E402
import libcrm.dask as ldk  # noqa: E402
from libcrm.partial import (merge_profiles, profiles_from_bytes,  # noqa: E402
                            profiles_to_bytes)

DAY = 86400
COLUMNS = ["customer_id", "first_day", "last_day", "recency_days", "frequency", "monetary",
           "tenure_days", "gap_avg", "purchase_days", "prev_day", "last_day_orders",
           "second_day"]


def random_orders(seed, n=3000, customers=400):
    """Orders of `customers` customers (some refund-only), several per day."""
    rng = np.random.default_rng(seed)
    cid = rng.integers(1, customers + 1, n).astype(np.uint64) * np.uint64(2654435761)
    day = rng.integers(0, 300, n)
    refund = (rng.random(n) < 0.07) | (cid % np.uint64(13) == 0)
    amount = np.where(refund, -rng.integers(1, 900, n), rng.integers(0, 50000, n))
    return pd.DataFrame({"customer_id": cid, "ts": day * DAY + rng.integers(0, DAY, n),
                         "amount": amount.astype(np.int64)})


def single_process(df, asof):
    return libcrm.profiles(ldk.orders_array(df), asof)


def assert_same_table(got, want):
    assert len(got) == len(want)
    assert got.asof == want.asof
    for name in COLUMNS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b, equal_nan=(name == "gap_avg")), name
    assert got.summary() == want.summary()


def partitioned(df, rng, kind):
    """A dask dataframe over `df` split in one of several adversarial ways."""
    meta = df.iloc[:0]
    if kind == "shuffled":          # every customer spread over partitions
        shuffled = df.sample(frac=1.0, random_state=rng.randrange(1 << 30))
        return dd.from_pandas(shuffled, npartitions=rng.randint(2, 9), sort=False)
    if kind == "huge":              # one partition with everything, others empty
        parts = [meta] * rng.randint(1, 4) + [df] + [meta] * rng.randint(0, 3)
    elif kind == "ragged":          # random cut points, some partitions empty
        cuts = sorted(rng.randint(0, len(df)) for _ in range(rng.randint(1, 12)))
        cuts = [0] + cuts + [len(df)]
        parts = [df.iloc[a:b] for a, b in zip(cuts, cuts[1:])]
    else:
        raise ValueError(kind)
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=meta)


@pytest.mark.parametrize("kind", ["shuffled", "huge", "ragged"])
@pytest.mark.parametrize("seed", range(4))
def test_profiles_equal_single_process(kind, seed):
    rng = random.Random(seed * 31 + len(kind))
    df = random_orders(seed)
    asof = rng.randint(100, 320)
    ddf = partitioned(df, rng, kind)
    got = ldk.profiles(ddf, asof, split_every=rng.choice([2, 3, 8]), scheduler="sync")
    want = single_process(df, asof)
    assert_same_table(got, want)
    assert got.mergeable
    assert ldk.summary(ddf, asof, scheduler="sync") == want.summary()


def test_threaded_scheduler_and_deep_tree():
    df = random_orders(11, n=5000)
    ddf = dd.from_pandas(df, npartitions=17)
    got = ldk.profiles(ddf, "1970-10-01", split_every=2, scheduler="threads")
    assert_same_table(got, single_process(df, libcrm.to_day("1970-10-01")))


def test_lazy_partial_and_column_options():
    df = random_orders(5).rename(columns={"customer_id": "cust", "ts": "when",
                                          "amount": "cents"})
    ddf = dd.from_pandas(df, npartitions=4)
    lazy = ldk.partial_profiles(ddf, 250, customer_id="cust", ts="when", amount="cents")
    table = profiles_from_bytes(lazy.compute(scheduler="sync"))
    want = libcrm.profiles(ldk.orders_array(df, "cust", "when", "cents"), 250)
    assert_same_table(table, want)


def test_orders_array_conversions():
    df = pd.DataFrame({"customer_id": np.array([3, 1], dtype=np.int64),
                       "ts": pd.to_datetime(["1970-01-02 00:00:05", "1970-01-05"]),
                       "amount": np.array([250, -10], dtype=np.int32)})
    rec = ldk.orders_array(df)
    assert rec.dtype == libcrm.ORDER_DTYPE
    assert rec.tolist() == [(3, DAY + 5, 250), (1, 4 * DAY, -10)]
    # timezone-aware times are converted to UTC
    aware = df.assign(ts=df["ts"].dt.tz_localize("Europe/Moscow"))
    assert ldk.orders_array(aware)["ts"].tolist() == [DAY + 5 - 3 * 3600, 4 * DAY - 3 * 3600]
    # the customer id may be the index
    assert ldk.orders_array(df.set_index("customer_id")).tolist() == rec.tolist()
    with pytest.raises(TypeError, match="minor units"):
        ldk.orders_array(df.assign(amount=[2.5, 1.0]))
    with pytest.raises(ValueError, match="negative"):
        ldk.orders_array(df.assign(customer_id=[-1, 2]))
    with pytest.raises(KeyError, match="nope"):
        ldk.orders_array(df, ts="nope")
    assert len(ldk.orders_array(df.iloc[:0])) == 0


def test_bad_record_raises_with_its_index():
    df = random_orders(3, n=200)
    df.loc[150, "ts"] = -5
    with pytest.raises(libcrm.DataError, match=r"orders\[\d+\]\.ts = -5"):
        ldk.profiles(dd.from_pandas(df, npartitions=3), 200, scheduler="sync")
    with pytest.raises(ValueError):
        ldk.profiles(dd.from_pandas(df, npartitions=3), 200, split_every=1)


# ---- partial bytes -----------------------------------------------------------------

def test_bytes_round_trip_pickle_and_merge():
    df = random_orders(8)
    whole = single_process(df, 280)
    for mergeable in (False, True):
        table = libcrm.profiles(ldk.orders_array(df), 280, mergeable=mergeable)
        data = profiles_to_bytes(table)
        assert data[:4] == b"CRMB"
        back = profiles_from_bytes(bytearray(data))
        assert back.mergeable == mergeable
        assert_same_table(back, whole)
        assert_same_table(pickle.loads(pickle.dumps(table)), whole)
    parts = [libcrm.profiles(ldk.orders_array(df.iloc[i::5]), 280, mergeable=True)
             for i in range(5)]
    loaded = [profiles_from_bytes(profiles_to_bytes(p)) for p in parts]
    assert_same_table(merge_profiles(loaded), whole)
    with pytest.raises(ValueError):
        merge_profiles([])
    with pytest.raises(TypeError):
        profiles_to_bytes(b"not a table")
    with pytest.raises(TypeError):
        profiles_from_bytes("text")


def crc32c(data):
    c = 0xffffffff
    for byte in data:
        c ^= byte
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 & -(c & 1))
    return c ^ 0xffffffff


def test_damaged_and_newer_bytes_are_refused():
    data = profiles_to_bytes(single_process(random_orders(2, n=60, customers=9), 200))
    for cut in (0, 10, 16, len(data) // 2, len(data) - 1):
        with pytest.raises(libcrm.StateError, match="truncated"):
            profiles_from_bytes(data[:cut])
    flipped = bytearray(data)
    flipped[40] ^= 0x10
    with pytest.raises(libcrm.StateError, match="checksum"):
        profiles_from_bytes(bytes(flipped))
    newer = bytearray(data)
    newer[6:8] = struct.pack("<H", 2)
    newer[-4:] = struct.pack("<I", crc32c(newer[:-4]))
    with pytest.raises(libcrm.VersionError, match="version 2"):
        profiles_from_bytes(bytes(newer))


# ---- a real cluster: 2 worker processes ----------------------------------------

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_local_cluster_of_two_processes(client):
    assert len(client.scheduler_info()["workers"]) == 2
    df = random_orders(21, n=20000, customers=3000)
    ddf = dd.from_pandas(df.sample(frac=1.0, random_state=4), npartitions=6, sort=False)
    got = ldk.profiles(ddf, 300, split_every=2)
    assert_same_table(got, single_process(df, 300))
    # a table computed on a worker travels back by pickle (through the bytes)
    remote = client.submit(lambda t: t, got).result()
    assert_same_table(remote, got)
