"""Scale-out benchmark: libcrm on a Dask LocalCluster of W worker processes
against one process, same data, same results (checked).

The orders are generated inside the workers, partition by partition
(seeded numpy), and persisted there, as if read from a partitioned store;
the single-process run gets the same partitions concatenated into one
in-memory record array. Two layouts:

  by-customer    partition k holds the customers with id % P == k (hash
                 partitioning by customer): plain partials, interleaved
  chronological  partition k is the k-th time slice; every customer spans
                 partitions: mergeable partials (day lists), exact merge

Timed (best of --reps, wall clock on the client): single process =
(a) libcrm.profiles(all, asof) vs libcrm.dask.profiles(ddf, asof); (b) RFM
segment sizes: libcrm.rfm(all, asof) + counts vs, on customer-partitioned
data, libcrm.dask.rfm_scores (histograms travel, scores stay on the
workers) + a distributed value_counts, else libcrm.dask.rfm (profiles merged
on the client). Dask times include graph construction, the pandas -> record
conversion in the workers, partial serialisation, transfer and merging.

usage: bench_dask.py [--orders 2e7] [--customers 1e6] [--workers 2]
                     [--partitions 8] [--reps 2] [--layout both]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                "bindings", "python"))
import libcrm  # noqa: E402
import libcrm.dask as ldk  # noqa: E402
from libcrm.partial import profiles_to_bytes  # noqa: E402

DAY = 86400
DAYS = 730


def make_partition(k, parts, orders, customers, layout, seed=12345):
    """Orders of partition k as a pandas DataFrame (chronological inside)."""
    import pandas as pd
    rng = np.random.default_rng(seed + k)
    n = orders // parts + (1 if k < orders % parts else 0)
    if layout == "by-customer":
        per = customers // parts
        cid = rng.integers(0, per, n, dtype=np.uint64) * np.uint64(parts) + np.uint64(k)
        ts = np.sort(rng.integers(0, DAYS * DAY, n))
    else:
        cid = rng.integers(0, customers, n, dtype=np.uint64)
        lo, hi = DAYS * DAY * k // parts, DAYS * DAY * (k + 1) // parts
        ts = np.sort(rng.integers(lo, hi, n))
    amount = rng.integers(100, 20000, n)
    amount[rng.random(n) < 0.03] *= -1
    return pd.DataFrame({"customer_id": cid, "ts": ts, "amount": amount})


def partial_size(pdf, asof, disjoint):
    """Bytes of the partial of one partition and its customer count."""
    import pandas as pd
    table = libcrm.profiles(ldk.orders_array(pdf), asof, mergeable=not disjoint)
    return pd.DataFrame({"bytes": [len(profiles_to_bytes(table))], "customers": [len(table)]})


def segment_counts_one(rec, asof):
    """One process: RFM of all orders, customers per segment."""
    res = libcrm.rfm(rec, asof)
    counts = np.bincount(np.asarray(res.segment_code), minlength=len(res.segment_names))
    return res, dict(zip(res.segment_names, counts.tolist()))


def segment_counts_dask(ddf, asof, disjoint):
    """Dask: customer-disjoint data is scored on the workers (histogram
    partials); otherwise RFM of the profiles merged on the client."""
    if disjoint:
        _, scores = ldk.rfm_scores(ddf, asof, disjoint=True)
        counts = scores["segment"].value_counts().compute()
        return None, {str(k): int(v) for k, v in counts.items() if v}
    res = ldk.rfm(ddf, asof, disjoint=False)
    counts = np.bincount(np.asarray(res.segment_code), minlength=len(res.segment_names))
    return res, dict(zip(res.segment_names, counts.tolist()))


def best_of(reps, fn):
    best, out = float("inf"), None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=float, default=2e7)
    ap.add_argument("--customers", type=float, default=1e6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--split-every", type=int, default=None)
    ap.add_argument("--layout", default="both", choices=["both", "by-customer", "chronological"])
    a = ap.parse_args()
    orders, customers, parts = int(a.orders), int(a.customers), a.partitions

    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster, wait

    # distributed's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536:
    # glibc then unmaps every freed buffer and each partition page-faults
    # its working memory in again (measured: 2x slower chunks). libcrm's
    # buffers are large and short-lived; let glibc keep them.
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 1 << 30})
    if os.environ.get("BENCH_MMAP_THRESHOLD"):
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_":
                         int(os.environ["BENCH_MMAP_THRESHOLD"])})
    cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40,
                           memory_limit=0)
    client = Client(cluster)
    layouts = ["by-customer", "chronological"] if a.layout == "both" else [a.layout]
    asof = DAYS
    print(f"libcrm {libcrm.version()}: {orders:.3g} orders, {customers:.3g} customers, "
          f"{parts} partitions, {a.workers} worker processes x 1 thread, "
          f"{os.cpu_count()} CPUs; best of {a.reps}")
    for layout in layouts:
        meta = make_partition(0, parts, 0, customers, layout)
        ddf = dd.from_delayed([dask.delayed(make_partition)(k, parts, orders, customers, layout)
                               for k in range(parts)], meta=meta, verify_meta=False)
        ddf = ddf.persist()
        wait(ddf)
        client.rebalance(ddf)  # as many partitions on each worker
        local = [make_partition(k, parts, orders, customers, layout) for k in range(parts)]
        rec = np.concatenate([ldk.orders_array(p) for p in local])
        del local
        t1, want = best_of(a.reps, lambda: libcrm.profiles(rec, asof))
        disjoint = layout == "by-customer"
        tw, got = best_of(a.reps, lambda: ldk.profiles(ddf, asof, disjoint=disjoint,
                                                       split_every=a.split_every))
        for name in ("customer_id", "frequency", "monetary", "last_day", "purchase_days"):
            assert np.array_equal(getattr(got, name), getattr(want, name)), name
        assert got.summary() == want.summary()
        r1, (_, c1) = best_of(a.reps, lambda: segment_counts_one(rec, asof))
        rw, (_, cw) = best_of(a.reps, lambda: segment_counts_dask(ddf, asof, disjoint))
        assert {k: v for k, v in c1.items() if v} == cw, (c1, cw)
        # what crosses the network: one partial per partition
        sizes = ddf.map_partitions(partial_size, asof, disjoint,
                                   meta={"bytes": "i8", "customers": "i8"}).compute()
        shipped = int(sizes["bytes"].sum())
        per_cust = shipped / max(1, int(sizes["customers"].sum()))
        print(f"{layout:>13}: profiles: one process {t1:.3f} s "
              f"({t1 / orders * 1e9:.1f} ns/order), Dask {tw:.3f} s "
              f"({tw / orders * 1e9:.1f} ns/order), {t1 / tw:.2f}x; "
              f"RFM segments: one process {r1:.3f} s, Dask {rw:.3f} s "
              f"({'scored on the workers' if disjoint else 'scored on the client'}), "
              f"{r1 / rw:.2f}x; partials {shipped / 1e6:.1f} MB = {per_cust:.1f} B per "
              f"customer-in-partition, {shipped / orders:.1f} B per order; "
              f"{len(want)} customers; load average {os.getloadavg()[0]:.1f}")
        del ddf, rec
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
