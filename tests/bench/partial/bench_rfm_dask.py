"""RFM at speed on Dask: libcrm.dask.rfm_segment_counts on a LocalCluster of
W worker processes x 1 thread against libcrm.rfm in one process, same data,
same counts (checked). See docs/partial.md, "RFM at speed".

Data: P customer-disjoint partitions (customers with id % P == k), each a
.npy file of libcrm.ORDER_DTYPE records written once into --cache (seeded;
chronological inside a partition). Both sides read the same files.

Timed (best of --reps, run in turns, wall clock on the client; cluster start-up and
worker imports are NOT included, the cluster is warmed by one run first):
  compute  one process, two ways: libcrm.rfm(all, asof) + segment counts
           (crm_rfm_score_orders over one array), and the shard path run
           serially over the partition arrays (RfmShard, no Dask); the
           speed-up is against the faster of the two. Dask: orders already
           in worker memory (futures of the partitions), rfm_segment_counts.
  load+compute  same, including reading the .npy files (page cache warm):
           one process np.load of every file (into one array for rfm);
           Dask: every worker np.loads its own partitions.

usage: bench_rfm_dask.py [--orders 2e7] [--customers 1e6] [--partitions 32]
                         [--workers 2] [--reps 5] [--cache DIR]
                         [--exchange direct|graph] [--worker-profiler on|off]

--worker-profiler off: distributed.worker.profile.enabled False (the
workers' statistical profiler samples every 10 ms on the event loop: on
this 2-CPU host it preempts the busy task threads, 5-10 ms per run).
"""
import argparse
import ctypes
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                "bindings", "python"))
import libcrm  # noqa: E402
import libcrm.dask as ldk  # noqa: E402

DAY = 86400
DAYS = 730
MALLOC_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def make_partition(k, parts, orders, customers, seed=12345):
    """Orders of customer bucket k (id % parts == k) as ORDER_DTYPE records."""
    rng = np.random.default_rng(seed + k)
    n = orders // parts + (1 if k < orders % parts else 0)
    out = np.empty(n, libcrm.ORDER_DTYPE)
    per = customers // parts
    out["customer_id"] = rng.integers(0, per, n, dtype=np.uint64) * np.uint64(parts) + np.uint64(k)
    out["ts"] = np.sort(rng.integers(0, DAYS * DAY, n))
    amount = rng.integers(100, 20000, n)
    amount[rng.random(n) < 0.03] *= -1
    out["amount"] = amount
    return out


def ensure_files(cache, parts, orders, customers):
    d = os.path.join(cache, f"o{orders}-c{customers}-p{parts}")
    os.makedirs(d, exist_ok=True)
    paths = [os.path.join(d, f"part-{k:04d}.npy") for k in range(parts)]
    for k, p in enumerate(paths):
        if not os.path.exists(p):
            np.save(p + ".tmp.npy", make_partition(k, parts, orders, customers))
            os.replace(p + ".tmp.npy", p)
    return paths


def load_all(paths):
    """One process: every file into one array."""
    arrays = [np.load(p, mmap_mode="r") for p in paths]
    out = np.empty(sum(len(a) for a in arrays), libcrm.ORDER_DTYPE)
    i = 0
    for a in arrays:
        out[i:i + len(a)] = a
        i += len(a)
    return out


def counts_one(rec, asof):
    """One process, one array: libcrm.rfm (crm_rfm_score_orders) + counts."""
    res = libcrm.rfm(rec, asof)
    c = np.bincount(np.asarray(res.segment_code), minlength=len(res.segment_names))
    return {n: int(v) for n, v in zip(res.segment_names, c)}, \
        [int(v) for v in np.bincount(np.asarray(res.r), minlength=6)[1:]]


def counts_shard(arrays, asof):
    """One process, the partitioned protocol run serially over the
    customer-disjoint partition arrays (one RfmShard, no Dask)."""
    from libcrm.rfm import cell_summary, rfm_thresholds
    shard = libcrm.rfm_shard(asof, arrays)
    th = rfm_thresholds([shard.partial()])
    if th.pending:
        th = th.with_ties([shard.ties_partial(th)])
    got = cell_summary(shard.cell_counts(th))
    return got["segments"], got["r"]


def interleaved(reps, fns):
    """(best, median, last result) of each function, run in turns."""
    times = [[] for _ in fns]
    out = [None] * len(fns)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            out[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return [(min(t), sorted(t)[len(t) // 2], o) for t, o in zip(times, out)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=float, default=2e7)
    ap.add_argument("--customers", type=float, default=1e6)
    ap.add_argument("--partitions", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cache", default="/tmp/libcrm-bench-rfm")
    ap.add_argument("--exchange", default="direct", choices=("direct", "graph"))
    ap.add_argument("--worker-profiler", default="on", choices=("on", "off"))
    a = ap.parse_args()
    orders, customers, parts = int(a.orders), int(a.customers), a.partitions
    paths = ensure_files(a.cache, parts, orders, customers)

    import dask
    from distributed import Client, LocalCluster, wait
    # glibc: keep freed memory and serve large blocks from the heap, so a
    # run does not page-fault its buffers in again (docs/partial.md, "Worker
    # memory"); the same settings for the workers and for this process,
    # which runs the one-process side
    for var in MALLOC_SETTINGS:
        dask.config.set({f"distributed.nanny.pre-spawn-environ.{var}": 1 << 30})
    if a.worker_profiler == "off":
        dask.config.set({"distributed.worker.profile.enabled": False})
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40, memory_limit=0)
    client = Client(cluster)
    workers = sorted(client.ncores())
    asof = DAYS
    print(f"libcrm {libcrm.version()}: {orders:.3g} orders, {customers:.3g} customers, "
          f"{parts} partitions (.npy), {a.workers} worker processes x 1 thread, "
          f"{os.cpu_count()} CPUs; exchange {a.exchange}; worker profiler {a.worker_profiler}; "
          f"best (median) of {a.reps}; "
          f"load average before {os.getloadavg()[0]:.2f}")

    # warm-up: imports on the workers, page cache of the files
    ldk.rfm_segment_counts(client, paths, asof, workers=workers, exchange=a.exchange)
    rec = load_all(paths)
    want = counts_one(rec, asof)

    def dask_files():
        return ldk.rfm_segment_counts(client, paths, asof, workers=workers, exchange=a.exchange)

    held = [client.submit(np.load, p, workers=[workers[k % len(workers)]],
                          allow_other_workers=False, pure=False) for k, p in enumerate(paths)]
    wait(held)

    def dask_held():
        return ldk.rfm_segment_counts(client, held, asof, workers=workers, exchange=a.exchange)

    arrays = [np.load(p) for p in paths]
    # interleaved (one repetition of each in turn): a change of the
    # machine's load during the run hits every variant alike
    (c1, c1m, got1), (cs, csm, gots), (cw, cwm, gotw) = interleaved(a.reps, [
        lambda: counts_one(rec, asof), lambda: counts_shard(arrays, asof), dask_held])
    (l1, l1m, _), (ls, lsm, _), (lw, lwm, gotl) = interleaved(a.reps, [
        lambda: counts_one(load_all(paths), asof),
        lambda: counts_shard([np.load(p) for p in paths], asof), dask_files])
    for got in (gotw, gotl):
        assert got["segments"] == want[0], (got["segments"], want[0])
        assert got["r"] == want[1]
    assert got1 == want and gots == want
    load = os.getloadavg()
    for what, one, onem, sh, shm, dk, dkm in (("compute", c1, c1m, cs, csm, cw, cwm),
                                              ("load+compute", l1, l1m, ls, lsm, lw, lwm)):
        base, basem = min(one, sh), min(onem, shm)
        print(f"{what + ':':<14}one process: rfm(all orders) {one:.3f} s (median {onem:.3f}, "
              f"{one / orders * 1e9:.1f} ns/order), shard path serially {sh:.3f} s (median "
              f"{shm:.3f}); Dask {dk:.3f} s (median {dkm:.3f}, {dk / orders * 1e9:.1f} "
              f"ns/order); speed-up vs the faster one-process path {base / dk:.2f}x "
              f"(medians {basem / dkm:.2f}x)")
    print(f"{gotw['customers']} customers; counts equal; load average after "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
