#!/usr/bin/env python3
"""libcrm on Dask: RFM segments, the lifecycle funnel and Markov attribution
of a partitioned data set, computed on a LocalCluster of 2 worker processes
and, for comparison, in one process; prints the tables, checks that both
agree, and reports the wall times.

The data set is generated into a directory as files partitioned by
customer (a hash of customer_id: what a warehouse export sharded by
customer looks like): orders-NNN, touches-NNN and conversions-NNN, as
Parquet when pyarrow or fastparquet is installed, else CSV.

RFM takes libcrm's fastest paths on both sides, reading the files
included: on Dask libcrm.dask.rfm_segment_counts (every worker reads its
files and aggregates them straight into an RfmShard; only histograms, tie
ids and cell counts travel), in one process the same shard path run
serially over the files (faster than libcrm.rfm over one concatenated
array: no per-customer sort). The funnel and attribution use the
dataframe helpers of libcrm.dask.

usage: dask_rfm.py [--orders 2e6] [--customers 1e5] [--partitions 8]
                   [--workers 2] [--dir DIR] [--keep]
Needs python3-dask and python3-distributed; libcrm found as in
docs/python.md (LIBCRM_LIBRARY or an installed libcrm.so.1).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bindings", "python"))
import libcrm  # noqa: E402
import libcrm.dask as ldk  # noqa: E402
from libcrm.attribution import PathTable  # noqa: E402

DAY = 86400
START = 19000          # 2022-01-08
DAYS = 540
CHANNELS = 6


def parquet_engine():
    for name in ("pyarrow", "fastparquet"):
        try:
            __import__(name)
            return name
        except ImportError:
            pass
    return None


def generate(directory, orders, customers, parts, fmt, seed=7):
    """Write the partitioned data set; returns the file pattern per table."""
    rng = np.random.default_rng(seed)
    cid = rng.integers(1, customers + 1, orders).astype(np.uint64)
    # customers buy at their own pace: the day of each order is drawn around
    # a customer-specific activity window
    start = (cid * np.uint64(2654435761) % np.uint64(DAYS)).astype(np.int64)
    day = START + np.minimum(start + rng.integers(0, 240, orders), DAYS)
    ts = day * DAY + rng.integers(0, DAY, orders)
    amount = rng.lognormal(8, 1, orders).astype(np.int64) + 100
    amount[rng.random(orders) < 0.03] *= -1
    o = pd.DataFrame({"customer_id": cid, "ts": ts, "amount": amount}).sort_values("ts")
    # journeys: a few touches per buyer before some of its orders
    n_t = orders // 2
    tc = rng.choice(cid, n_t)
    t = pd.DataFrame({"customer_id": tc, "ts": rng.integers(START, START + DAYS, n_t) * DAY,
                      "channel": (rng.zipf(1.6, n_t) % CHANNELS + 1).astype(np.uint32),
                      "campaign": rng.integers(1, 20, n_t).astype(np.uint32),
                      "kind": (rng.random(n_t) < 0.7).astype(np.uint8)})
    n_c = orders // 6
    c = pd.DataFrame({"customer_id": rng.choice(tc, n_c),
                      "ts": rng.integers(START + 20, START + DAYS, n_c) * DAY,
                      "value": rng.lognormal(8, 1, n_c).round(2), "weight": 1.0})
    os.makedirs(directory, exist_ok=True)
    for name, frame in (("orders", o), ("touches", t), ("conversions", c)):
        bucket = (frame["customer_id"].values * np.uint64(0x9E3779B97F4A7C15) >> np.uint64(40)) \
            % np.uint64(parts)
        for k in range(parts):
            part = frame[bucket == k]
            path = os.path.join(directory, f"{name}-{k:03d}.{fmt}")
            if fmt == "csv":
                part.to_csv(path, index=False)
            else:
                part.to_parquet(path, index=False)
    return {name: os.path.join(directory, f"{name}-*.{fmt}")
            for name in ("orders", "touches", "conversions")}


def read_all(pattern, fmt):
    """One process: every file of a table into one pandas DataFrame."""
    import glob
    files = sorted(glob.glob(pattern))
    reader = pd.read_csv if fmt == "csv" else pd.read_parquet
    return pd.concat([reader(f) for f in files], ignore_index=True)


def read_dask(pattern, fmt):
    """Dask: one partition per file, in file order (same buckets for every table)."""
    import dask.dataframe as dd
    if fmt == "csv":
        return dd.read_csv(pattern, blocksize=None)
    return dd.read_parquet(pattern)


def segment_table(rfm):
    total = rfm["customers"] or 1
    lines = [f"  {'segment':<22} {'customers':>10} {'share':>7} {'revenue':>16}"]
    for name, n in rfm["segments"].items():
        lines.append(f"  {name:<22} {n:>10} {n / total:>7.1%} "
                     f"{rfm['revenue'][name] / 100:>16,.2f}")
    return "\n".join(lines)


def load_orders(path):
    """One orders file as a libcrm.ORDER_DTYPE array (run on a worker by
    rfm_segment_counts, in the client for the one-process run)."""
    reader = pd.read_csv if path.endswith(".csv") else pd.read_parquet
    return ldk.orders_array(reader(path))


def rfm_counts_one_process(order_files, asof):
    """RFM segment sizes and revenue in one process, the fastest way libcrm
    has: every file aggregated straight into one RfmShard (one pass per
    file, no profile table, no concatenation), thresholds, cell counts."""
    shard = libcrm.RfmShard(asof)
    for path in order_files:
        shard.add(load_orders(path))
    th = libcrm.rfm_thresholds([shard.partial()])
    if th.pending:
        th = th.with_ties([shard.ties_partial(th)])
    cells, revenue = shard.cell_counts(th, revenue=True)
    return libcrm.cell_summary(cells, revenue=revenue)


def one_process(files, fmt, asof, steps):
    import glob
    t0 = time.perf_counter()
    rfm = rfm_counts_one_process(sorted(glob.glob(files["orders"])), asof)
    steps["rfm (read + compute)"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    orders = ldk.orders_array(read_all(files["orders"], fmt))
    funnel = libcrm.funnel(orders, asof)
    steps["funnel (read + compute)"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    touches = read_all(files["touches"], fmt)
    conversions = read_all(files["conversions"], fmt)
    t = np.zeros(len(touches), dtype=libcrm.attribution.TOUCH_DTYPE)
    for f in ("customer_id", "ts", "channel", "campaign", "kind"):
        t[f] = touches[f].values
    c = np.zeros(len(conversions), dtype=libcrm.attribution.CONVERSION_DTYPE)
    for f in ("customer_id", "ts", "value", "weight"):
        c[f] = conversions[f].values
    markov = PathTable.from_events(t, c).markov()
    steps["attribution"] = time.perf_counter() - t1
    return time.perf_counter() - t0, (rfm, funnel, markov)


def on_dask(client, files, fmt, asof, steps):
    import glob
    from distributed import wait
    t0 = time.perf_counter()
    # RFM at speed: each worker reads its files and aggregates them straight
    # into one shard; only histograms, tie ids and cell counts travel
    rfm = ldk.rfm_segment_counts(client, sorted(glob.glob(files["orders"])), asof,
                                 load=load_orders)
    steps["rfm (read + compute)"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    orders = read_dask(files["orders"], fmt).persist()  # read once, kept on the workers
    wait(orders)
    # files are buckets of customers: the partitions are customer-disjoint
    funnel = ldk.funnel(orders, asof, disjoint=True)
    steps["funnel (read + compute)"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    paths = ldk.path_table_from_events(read_dask(files["touches"], fmt),
                                       read_dask(files["conversions"], fmt), aligned=True)
    markov = paths.markov()
    steps["attribution"] = time.perf_counter() - t1
    return time.perf_counter() - t0, (rfm, funnel, markov)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=float, default=2e6)
    ap.add_argument("--customers", type=float, default=1e5)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default=None,
                    help="data directory (default: a temporary one); files of a previous "
                         "run with --keep and the same --partitions are reused")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    a = ap.parse_args()

    import dask
    from distributed import Client, LocalCluster

    fmt = "parquet" if parquet_engine() else "csv"
    directory = a.dir or tempfile.mkdtemp(prefix="libcrm-dask-")
    asof = START + DAYS
    try:
        t0 = time.perf_counter()
        import glob
        files = {name: os.path.join(directory, f"{name}-*.{fmt}")
                 for name in ("orders", "touches", "conversions")}
        if a.dir and all(len(glob.glob(p)) == a.partitions for p in files.values()):
            print(f"data: reusing the files under {directory}")
        else:
            files = generate(directory, int(a.orders), int(a.customers), a.partitions, fmt)
        print(f"data: {int(a.orders):,} orders of {int(a.customers):,} customers in "
              f"{a.partitions} {fmt.upper()} partitions per table under {directory} "
              f"({time.perf_counter() - t0:.1f} s to generate)")

        # Workers keep freed memory (distributed's default trims it at once,
        # and every partition then page-faults its buffers in again).
        # Large blocks come from the heap and stay there (distributed's nanny
        # sets MALLOC_TRIM_THRESHOLD_=65536, which also stops glibc from
        # raising its mmap threshold: every big buffer would be page-faulted in
        # again, for every task).
        for var in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
            dask.config.set({f"distributed.nanny.pre-spawn-environ.{var}": 1 << 30})
        with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=40) as cluster, \
                Client(cluster) as client:
            client.wait_for_workers(a.workers)
            # worker start-up is not timed: imports, the exchange actors
            # (one warm-up RFM run on the first files)
            import glob
            ldk.rfm_segment_counts(client, sorted(glob.glob(files["orders"]))[:a.workers],
                                   asof, load=load_orders)
            steps_d, steps_1 = {}, {}
            t_dask, (rfm_d, funnel_d, markov_d) = on_dask(client, files, fmt, asof, steps_d)
        t_one, (rfm, funnel, markov) = one_process(files, fmt, asof, steps_1)

        print(f"\nRFM segments as of {libcrm.from_day(asof)}:")
        print(segment_table(rfm_d))
        print("\nLifecycle funnel:")
        for stage in funnel_d["stages"]:
            print(f"  {stage:<12} {funnel_d['customers'][stage]:>10} "
                  f"{funnel_d['revenue'][stage] / 100:>16,.2f}  {funnel_d['scenario'][stage]}")
        conv = funnel_d["second_purchase_conversion"]
        print(f"  second-purchase conversion: {'n/a' if conv is None else f'{conv:.1%}'}")
        print("\nMarkov attribution (order 1): channel, removal effect, credited conversions")
        for ch in sorted(markov_d.removal_effects, key=lambda c: -markov_d.credit[c][0]):
            print(f"  channel {ch:<4} {markov_d.removal_effects[ch]:>8.4f} "
                  f"{markov_d.credit[ch][0]:>12.2f}")

        same = (rfm_d == rfm and funnel_d == funnel
                and all(abs(markov_d.removal_effects[k] - markov.removal_effects[k])
                        <= 1e-12 * max(1.0, abs(markov.removal_effects[k]))
                        for k in markov.removal_effects))
        print(f"\nDask ({a.workers} worker processes): {t_dask:.2f} s; one process: "
              f"{t_one:.2f} s; speed-up {t_one / t_dask:.2f}x (reading the files included); "
              f"results {'identical' if same else 'DIFFER'}")
        for step in steps_d:
            print(f"  {step:<24} Dask {steps_d[step]:7.2f} s   one process "
                  f"{steps_1[step]:7.2f} s   speed-up {steps_1[step] / steps_d[step]:.2f}x")
        return 0 if same else 1
    finally:
        if not a.keep and a.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
