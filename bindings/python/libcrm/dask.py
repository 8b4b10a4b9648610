"""libcrm over partitioned data with Dask: run libcrm on every partition
(``map_partitions``), combine the serialised partials in a tree (the last
step on the client), and return the same result objects as the
single-process API, equal to them (integers exactly, sums of doubles to
about 1e-12 relative).

Importing this module needs ``dask[dataframe]`` (Debian: ``python3-dask``);
``import libcrm`` does not import it. Works with any scheduler: the
threaded default, ``scheduler="sync"``, or a ``distributed.Client`` that is
active when the helpers are called.

Orders dataframes have one row per order with columns (names configurable)
``customer_id`` (non-negative integers; may also be the index), ``ts`` (Unix
seconds as integers, or ``datetime64``) and ``amount`` (integer minor
units, negative = refund), as in :func:`libcrm.profiles`.

What travels depends on the partitioning (docs/partial.md, "Scaling
model"): with customer-disjoint partitions a plain profile table (44 bytes
per customer) or only histograms and counts; otherwise a mergeable profile
table per partition (32 bytes per customer in it plus 4 per distinct
purchase day).
"""
import collections
import functools
import struct
import uuid

import numpy as np
import pandas as pd

from . import _types
from ._convert import to_day
from .partial import merge_profiles, _merge_tree, profiles_from_bytes, profiles_to_bytes
from .profiles import profiles as _build_profiles

try:
    import dask.dataframe as _dd
    import dask as _dask
    from dask import delayed as _delayed
    from dask.base import tokenize as _tokenize
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError("libcrm.dask needs dask[dataframe] (Debian: python3-dask)") from exc

ORDER_DTYPE = np.dtype(_types.Order)

#: Default number of partials combined per node of the reduction tree.
SPLIT_EVERY = 8

__all__ = ["SPLIT_EVERY", "clv_counts", "clv_loglik", "cohorts", "customer_partitioned",
           "events_credit", "funnel", "lifecycle",
           "orders_array", "partial_profiles", "path_table", "path_table_from_events",
           "profiles", "reduce_to_client", "rfm", "rfm_scores", "rfm_segment_counts",
           "summary", "tree_reduce"]


# ---- partitions to records ---------------------------------------------------

def _column(pdf, name):
    if name in pdf.columns:
        return pdf[name]
    if pdf.index.name == name:
        return pdf.index.to_series()
    raise KeyError(f"no column or index named {name!r} (columns: {list(pdf.columns)})")


def _seconds(col, name):
    values = col.values if not hasattr(col, "dt") or col.dt.tz is None \
        else col.dt.tz_convert("UTC").dt.tz_localize(None).values
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[s]").view("int64")
    if np.issubdtype(values.dtype, np.integer):
        return values
    raise TypeError(f"{name}: need Unix seconds as integers or datetime64, got {values.dtype}")


def orders_array(pdf, customer_id="customer_id", ts="ts", amount="amount"):
    """A pandas partition as a numpy array of ``libcrm.ORDER_DTYPE``.

    ``amount`` must hold integers (minor units): floats are refused rather
    than rounded silently (use :func:`libcrm.to_minor_units`).
    """
    out = np.empty(len(pdf), dtype=ORDER_DTYPE)
    if len(pdf) == 0:
        return out
    cid = _column(pdf, customer_id).values
    if not np.issubdtype(cid.dtype, np.integer):
        raise TypeError(f"{customer_id}: need integer customer ids, got {cid.dtype}")
    if np.issubdtype(cid.dtype, np.signedinteger) and (cid < 0).any():
        raise ValueError(f"{customer_id}: negative customer id")
    money = _column(pdf, amount).values
    if not np.issubdtype(money.dtype, np.integer):
        raise TypeError(f"{amount}: need integer minor units (cents), got {money.dtype}; "
                        "convert with libcrm.to_minor_units or round explicitly")
    out["customer_id"] = cid
    out["ts"] = _seconds(_column(pdf, ts), ts)
    out["amount"] = money
    return out


# ---- the reduction -------------------------------------------------------------

def _apply_chunk(pdf, chunk, kwargs):
    """A partition -> the one-row object Series holding its partial."""
    return pd.Series([chunk(pdf, **kwargs)], dtype=object)


def _unwrap_all(parts):
    return [p.iloc[0] if isinstance(p, pd.Series) else p for p in parts]


def _apply_combine(combine, *parts):
    return combine(_unwrap_all(parts))


def _map(df, chunk, name, chunk_kwargs):
    """``chunk`` on every partition: a one-object-per-partition series."""
    return df.map_partitions(_apply_chunk, chunk, chunk_kwargs, meta=(name, object),
                             enforce_metadata=False)


def _tree(mapped, combine, split_every, name):
    """``combine`` over groups of ``split_every`` partials of ``mapped``,
    level by level, until at most ``split_every`` delayed partials remain
    (the top of the tree)."""
    k = split_every or SPLIT_EVERY
    if k < 2:
        raise ValueError("split_every must be >= 2")
    token = _tokenize(mapped._name, combine, k)
    level = mapped.to_delayed(optimize_graph=True)
    depth = 0
    while len(level) > k:
        level = [_delayed(_apply_combine)(combine, *level[i:i + k],
                                          dask_key_name=f"{name}-combine-{token}-{depth}-{i}")
                 for i in range(0, len(level), k)]
        depth += 1
    return level


def _levels(df, chunk, combine, split_every, name, chunk_kwargs):
    if (split_every or SPLIT_EVERY) < 2:
        raise ValueError("split_every must be >= 2")
    return _tree(_map(df, chunk, name, chunk_kwargs), combine, split_every, name)


def _finish(top, finish, scheduler):
    parts = _dask.compute(*top, scheduler=scheduler)
    return finish(_unwrap_all(parts))


def tree_reduce(df, chunk, combine, split_every=None, name="libcrm", **chunk_kwargs):
    """Generic scale-out step: ``chunk(partition, **chunk_kwargs)`` on every
    partition (``map_partitions``), then ``combine(list_of_partials)`` over
    groups of ``split_every`` partials, level by level, up to one root.
    Returns a ``dask.delayed`` object whose value is the root partial
    (anything picklable: bytes, a result object). ``chunk`` and ``combine``
    run on the workers: module-level functions or ``functools.partial``."""
    top = _levels(df, chunk, combine, split_every, name, chunk_kwargs)
    return _delayed(_apply_combine)(combine, *top)


def reduce_to_client(df, chunk, finish, split_every=None, combine=None, scheduler=None,
                     name="libcrm", **chunk_kwargs):
    """Like :func:`tree_reduce`, but the top of the tree (at most
    ``split_every`` partials) is fetched and ``finish(list_of_partials)``
    runs here, on the client: the root is never serialised, shipped and
    loaded again. ``combine`` (default ``finish``) must return a partial;
    ``finish`` may return the final result object."""
    top = _levels(df, chunk, combine or finish, split_every, name, chunk_kwargs)
    return _finish(top, finish, scheduler)


def _profiles_chunk(pdf, asof, columns, disjoint):
    """One partition -> bytes of its profile table (mergeable unless the
    partitions are customer-disjoint)."""
    table = _build_profiles(orders_array(pdf, *columns), asof, mergeable=not disjoint)
    return profiles_to_bytes(table)


def _profiles_combine(parts, disjoint):
    """Partial bytes -> bytes of their merge."""
    tables = [profiles_from_bytes(b) for b in parts]
    return profiles_to_bytes(merge_profiles(tables, disjoint=disjoint))


def customer_partitioned(df, customer_id="customer_id"):
    """True when dask knows that no customer spans two partitions: the
    index is ``customer_id`` with known divisions (``set_index`` or
    ``read_parquet`` of sorted data)."""
    return bool(df.known_divisions and df.index.name == customer_id)


def _profiles_finish(parts, disjoint):
    """Top-level partial bytes -> the merged table, on the client."""
    return merge_profiles([profiles_from_bytes(b) for b in parts], disjoint=disjoint)


def _profiles_args(df, asof, customer_id, ts, amount, disjoint):
    if disjoint is None:
        disjoint = customer_partitioned(df, customer_id)
    disjoint = bool(disjoint)
    return disjoint, {"asof": to_day(asof), "columns": (customer_id, ts, amount),
                      "disjoint": disjoint}


def partial_profiles(df, asof, customer_id="customer_id", ts="ts", amount="amount",
                     split_every=None, disjoint=None):
    """Lazy form of :func:`profiles`: a ``dask.delayed`` whose value is the
    bytes of the merged profile table; load it with
    :func:`libcrm.partial.profiles_from_bytes`."""
    disjoint, kwargs = _profiles_args(df, asof, customer_id, ts, amount, disjoint)
    return tree_reduce(df, _profiles_chunk,
                       functools.partial(_profiles_combine, disjoint=disjoint),
                       split_every, name="libcrm-profiles", **kwargs)


def profiles(df, asof, customer_id="customer_id", ts="ts", amount="amount",
             split_every=None, disjoint=None, scheduler=None):
    """Profile table of the orders in dask dataframe ``df`` as of ``asof``:
    equal, column by column, to ``libcrm.profiles(all_orders, asof)`` on one
    machine.

    ``disjoint``: whether no customer has rows in two partitions. Then every
    partition builds a plain table (cheaper to build and ship) and the
    partials are interleaved in one pass
    (:func:`libcrm.partial.merge_disjoint`; a customer found in two
    partitions raises InvalidArgument). ``None`` (default) decides by
    :func:`customer_partitioned`; ``False`` builds mergeable partials, exact
    for any partitioning (the returned table is then mergeable).
    ``scheduler`` is passed to ``compute`` (None: the active client or
    dask's default). The last merge runs here, on the client."""
    disjoint, kwargs = _profiles_args(df, asof, customer_id, ts, amount, disjoint)
    return reduce_to_client(df, _profiles_chunk,
                            functools.partial(_profiles_finish, disjoint=disjoint),
                            split_every,
                            combine=functools.partial(_profiles_combine, disjoint=disjoint),
                            scheduler=scheduler, name="libcrm-profiles", **kwargs)


def summary(df, asof, scheduler=None, **columns):
    """Population summary of ``df`` as of ``asof``: the dict of
    :meth:`libcrm.Profiles.summary` for the whole data."""
    return profiles(df, asof, scheduler=scheduler, **columns).summary()


# ---- RFM -----------------------------------------------------------------------

def rfm(df, asof, customer_id="customer_id", ts="ts", amount="amount", split_every=None,
        disjoint=None, scheduler=None, **rfm_options):
    """RFM scores and segments of every customer of ``df``: the
    :class:`libcrm.RfmResult` that ``libcrm.rfm(all_orders, asof,
    **rfm_options)`` gives on one machine, computed from the profiles merged
    on the client (:func:`profiles`; thresholds are then exactly those of
    the whole population)."""
    from .rfm import rfm as _rfm
    table = profiles(df, asof, customer_id, ts, amount, split_every, disjoint, scheduler)
    return _rfm(table, **rfm_options)


def _plain_profiles(pdf, asof, columns):
    return _build_profiles(orders_array(pdf, *columns), asof)


def _ties_partial(thresholds, table):
    return thresholds.ties_partial(table)


def _rfm_frame(thresholds, table):
    """Scores of one partition's customers as a pandas DataFrame."""
    res = thresholds.score(table)
    frame = pd.DataFrame({name: np.asarray(getattr(res, name)) for name in
                          ("customer_id", "recency_days", "frequency", "monetary",
                           "r", "f", "m")})
    if res.segment_code is not None:
        frame["segment"] = pd.Categorical.from_codes(np.asarray(res.segment_code),
                                                     categories=res.segment_names)
    return frame


def rfm_scores(df, asof, bins=5, tie="ntile", segment_map=None, cuts=None,
               customer_id="customer_id", ts="ts", amount="amount", disjoint=None,
               scheduler=None):
    """RFM scores computed where the data lives, for customer-disjoint
    partitions (no customer in two partitions; see :func:`customer_partitioned`).

    Each partition builds its profiles; only exact value histograms travel
    (``libcrm.rfm.rfm_partial``), merged on the client into the thresholds
    of the whole population (plus a second round of tie ids when a value
    straddles a bin edge); then every partition scores its own customers.
    Returns ``(thresholds, scores)``: the :class:`libcrm.rfm.RfmThresholds`
    and a lazy dask DataFrame of ``customer_id, recency_days, frequency,
    monetary, r, f, m[, segment]`` per partition, equal row for row to
    :func:`libcrm.rfm` of all orders (rows ascending within a partition).
    ``segment_map`` None means the rfm module's default map."""
    from .rfm import DEFAULT_MAP, rfm_partial, rfm_thresholds
    if disjoint is None:
        disjoint = customer_partitioned(df, customer_id)
    if not disjoint:
        raise ValueError("rfm_scores needs customer-disjoint partitions: index the orders "
                         "by customer_id (set_index / shuffle), pass disjoint=True if they "
                         "are partitioned by customer, or use libcrm.dask.rfm")
    if segment_map is None:
        segment_map = DEFAULT_MAP
    columns = (customer_id, ts, amount)
    tables = [_delayed(_plain_profiles)(p, to_day(asof), columns)
              for p in df.to_delayed(optimize_graph=True)]
    tables = list(_dask.persist(*tables, scheduler=scheduler))
    hists = _dask.compute(*[_delayed(rfm_partial)(t) for t in tables],
                          scheduler=scheduler)
    th = rfm_thresholds(hists, bins=bins, tie=tie, segment_map=segment_map, cuts=cuts)
    if th.pending:
        shared = _delayed(th, pure=True)
        ties = _dask.compute(*[_delayed(_ties_partial)(shared, t) for t in tables],
                             scheduler=scheduler)
        th = th.with_ties(ties)
    meta = _rfm_frame(th, _build_profiles(np.empty(0, ORDER_DTYPE), to_day(asof)))
    shared = _delayed(th, pure=True)  # one copy in the graph, not one per task
    scores = _dd.from_delayed([_delayed(_rfm_frame)(shared, t) for t in tables], meta=meta,
                              verify_meta=False)
    return th, scores


# ---- RFM on record-array shards held by the workers -----------------------------

def _aligned(orders):
    """crm_order needs 8-byte alignment; arrays unpickled from a transfer
    may start anywhere in their frame: copy those (rare, one pass)."""
    if isinstance(orders, np.ndarray) and orders.ctypes.data % 8:
        return orders.copy()
    return orders


def _load_default(source):
    """An orders array as is (e.g. a future resolved on the worker), else
    a ``.npy`` path loaded with ``numpy.load``."""
    return source if isinstance(source, np.ndarray) else np.load(source)


def _shard_build(sources, load, asof):
    """Load every partition of a worker's share and aggregate it straight
    into one RfmShard (one pass over each partition's orders, a hash table
    sized for the partition)."""
    from .rfm import RfmShard
    shard = RfmShard(asof)
    for s in sources:
        shard.add(_aligned(load(s)))
    return shard


# Worker-local state of a run between its tasks, keyed by (run, share):
# the shard (built by _shard_hist, used by _shard_ties and _shard_cells,
# dropped by the latter) and the thresholds of _shard_ties. A task that
# finds nothing (a retry on another worker) rebuilds it from its inputs.
_RUNS = {}


def _stash(key, value):
    while len(_RUNS) >= 8:  # runs that failed before _shard_cells
        _RUNS.pop(next(iter(_RUNS)))
    _RUNS[key] = value
    return value


def _shard_of(run, k, sources, load, asof):
    shard = _RUNS.get((run, k, "shard"))
    return shard if shard is not None else \
        _stash((run, k, "shard"), _shard_build(sources, load, asof))


def _shard_hist(run, k, sources, load, asof):
    """Worker: build its shard (kept on the worker) and return the shard's
    round-1 blob (varints: ~2 bytes per distinct value)."""
    shard = _stash((run, k, "shard"), _shard_build(sources, load, asof))
    return shard.partial()


def _shard_ties(run, k, sources, load, asof, hists, options):
    """Worker: thresholds from every worker's round-1 blob (each worker
    builds its own: nothing goes through the client); the round-2 blob if
    a rank rule split a value, else None."""
    from .rfm import rfm_thresholds
    th = _stash((run, k, "th"), rfm_thresholds(hists, **options))
    return _shard_of(run, k, sources, load, asof).ties_partial(th) if th.pending else None


def _final_thresholds(hists, ties, options, run=None, k=None):
    from .rfm import rfm_thresholds
    th = _RUNS.pop((run, k, "th"), None) or rfm_thresholds(hists, **options)
    return th.with_ties(ties) if th.pending else th


def _shard_cells(run, k, sources, load, asof, hists, ties, options):
    """Worker: customers of its shard per (R, F, M) score cell and their
    revenue (2 x bins^3 integers: all that travels back)."""
    th = _final_thresholds(hists, ties, options, run, k)
    shard = _shard_of(run, k, sources, load, asof)
    _RUNS.pop((run, k, "shard"), None)
    return shard.cell_counts(th, revenue=True)


# The "direct" exchange. Every worker process keeps one mailbox, started
# on first use through client.run: a listening socket on the worker's host
# and a reader thread per connection. The client sends each worker its
# share of a run over a kept connection and reads the answer from it (no
# scheduler, no event loop in between: ~0.3 ms instead of 3-5 ms per
# call); the workers send each other the blobs of both rounds the same way
# (~0.1 ms instead of ~5 ms per round through Pub/Sub). A call is pickled
# and signed (HMAC-SHA256 with the mailbox's random secret, which the
# client got through dask's own comms): nothing unsigned is ever
# unpickled. Blobs are libcrm's checksummed bytes behind a fixed header,
# filed under their run's 128-bit random id, so bytes from anyone else
# cannot reach a run.
_BLOB = b"LCRX"   # worker -> worker: a round's blob
_CALL = b"LCRC"   # client -> worker: run a share (signed)
_REPLY = b"LCRR"  # worker -> client: the share's result
_HEADER = struct.Struct("<4s16sBxxxIQ")  # magic, run id, round, share, body length
_BODY_MAX = 1 << 34


def _recv(conn, n):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = conn.recv_into(view[got:])
        if not k:
            raise EOFError("rfm_segment_counts: connection closed by the peer")
        got += k
    return buf


def _sign(secret, head, body):
    import hmac
    return hmac.digest(secret, head + body, "sha256")


def _connect(address):
    import socket
    conn = socket.create_connection(address)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


class _Mailbox:
    """This worker process's end of the direct exchange."""

    def __init__(self, worker):
        import os
        import socket
        import threading
        from distributed.comm import get_address_host
        self.worker = worker
        self.secret = os.urandom(32)
        host = get_address_host(worker.address)
        self.sock = socket.create_server(
            (host, 0), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.address = self.sock.getsockname()[:2]
        self.cv = threading.Condition()
        self.inbox = collections.OrderedDict()  # (run, round, share) -> blob
        self.out = {}  # peer address -> connection
        self.send_lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="libcrm-rfm-accept").start()

    def _accept(self):
        import threading
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # pragma: no cover - the process is exiting
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True,
                             name="libcrm-rfm-read").start()

    def _read(self, conn):
        import hmac
        import socket
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            try:
                while True:
                    head = bytes(_recv(conn, _HEADER.size))
                    magic, run, rnd, k, n = _HEADER.unpack(head)
                    if magic not in (_BLOB, _CALL) or n > _BODY_MAX:
                        return  # not ours: drop the connection
                    mac = bytes(_recv(conn, 32)) if magic == _CALL else None
                    body = bytes(_recv(conn, n))
                    if magic == _BLOB:
                        self.file(run, rnd, k, body)
                    elif hmac.compare_digest(mac, _sign(self.secret, head, body)):
                        self._answer(conn, run, k, body)
                    else:
                        return
            except (OSError, EOFError, MemoryError):
                return

    def _answer(self, conn, run, k, body):
        from distributed.protocol import pickle
        try:
            out = ("ok", self._run(run, k, *pickle.loads(body)))
        except Exception as exc:  # back to the caller, as dask would
            out = ("error", exc)
        try:
            data = pickle.dumps(out)
        except Exception:
            data = pickle.dumps(("error", RuntimeError(f"{type(out[1]).__name__}: {out[1]}")))
        conn.sendall(_HEADER.pack(_REPLY, run, 0, k, len(data)) + data)

    def file(self, run, rnd, k, blob):
        with self.cv:
            self.inbox[(run, rnd, k)] = blob
            while len(self.inbox) > 4096:  # of runs that are over or never came
                self.inbox.popitem(last=False)
            self.cv.notify_all()

    def send(self, peer, run, rnd, k, blob):
        head = _HEADER.pack(_BLOB, run, rnd, k, len(blob))
        with self.send_lock:
            for attempt in (0, 1):
                conn = self.out.get(peer)
                try:
                    if conn is None:
                        conn = self.out[peer] = _connect(peer)
                    conn.sendall(head)
                    conn.sendall(blob)
                    return
                except OSError:
                    self.out.pop(peer, None)
                    if conn is not None:
                        conn.close()
                    if attempt:
                        raise

    def gather(self, run, rnd, W, timeout, k):
        """Every share's blob of round rnd of run (this one's is filed)."""
        want = [(run, rnd, j) for j in range(W)]
        with self.cv:
            if not self.cv.wait_for(lambda: all(w in self.inbox for w in want), timeout):
                have = [j for j in range(W) if want[j] in self.inbox]
                raise TimeoutError(f"rfm_segment_counts: share {k} has round-{rnd} blobs of "
                                   f"shares {have} of {W} after {timeout} s (a worker lost?)")
            return [self.inbox.pop(w) for w in want]

    def _source(self, source):
        if isinstance(source, _Key):
            try:
                return self.worker.data[source.key]
            except KeyError:  # held by another worker: fetch it
                from distributed import Future
                client = self.worker._get_client()
                return client.gather(Future(source.key, client))
        return source

    def _run(self, run, k, peers, sources, load, asof, options, thresholds, timeout):
        from .rfm import RfmShard, rfm_thresholds
        shard = RfmShard(asof)
        for s in sources:
            shard.add(_aligned(load(self._source(s))))
        W = len(peers)

        def exchange(rnd, blob):
            if W == 1:
                return [blob]
            self.file(run, rnd, k, blob)
            for j, peer in enumerate(peers):
                if j != k:
                    self.send(peer, run, rnd, k, blob)
            return self.gather(run, rnd, W, timeout, k)

        th = rfm_thresholds(exchange(1, shard.partial()), **options)
        if th.pending:
            th = th.with_ties(exchange(2, shard.ties_partial(th)))
        cells = shard.cell_counts(th, revenue=True)
        return (*cells, th if thresholds and k == 0 else None)


_MAILBOX = []


def _mailbox_of(dask_worker):
    """Run on a worker by client.run: its mailbox's address and secret."""
    if not _MAILBOX:
        _MAILBOX.append(_Mailbox(dask_worker))
    return tuple(_MAILBOX[0].address), _MAILBOX[0].secret


class _Key:
    """A future's key, resolved from the worker's memory."""
    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __reduce__(self):
        return (_Key, (self.key,))


# client side: the workers' mailboxes by (client id, worker address) with a
# weak reference to their client, and connections not in use by address
_LINKS = {}
_IDLE = collections.defaultdict(list)


def _links(client, workers):
    for key in [k for k, (ref, _, _) in _LINKS.items()
                if ref() is None or ref().status == "closed"]:
        del _LINKS[key]  # of clients closed since
    missing = [w for w in workers if (client.id, w) not in _LINKS]
    if missing:
        import weakref
        for w, (address, secret) in client.run(_mailbox_of, workers=missing).items():
            _LINKS[(client.id, w)] = (weakref.ref(client), address, secret)
    return [_LINKS[(client.id, w)][1:] for w in workers]


def _call(conn, secret, run, k, args):
    """Send share k of run its work (signed)."""
    from distributed.protocol import pickle
    body = pickle.dumps(args)
    head = _HEADER.pack(_CALL, run, 0, k, len(body))
    conn.sendall(head + _sign(secret, head, body))
    conn.sendall(body)


def _reply(conn, run, k):
    """The result of share k of run (its exception raised here)."""
    from distributed.protocol import pickle
    magic, r, _, j, n = _HEADER.unpack(bytes(_recv(conn, _HEADER.size)))
    if magic != _REPLY or r != run or j != k:
        raise RuntimeError(f"rfm_segment_counts: unexpected reply for share {k}")
    status, value = pickle.loads(bytes(_recv(conn, n)))
    if status != "ok":
        raise value
    return value


def _take(address):
    """A connection to a mailbox: an idle one still open, else a new one."""
    import socket
    idle = _IDLE[address]
    while idle:
        try:
            conn = idle.pop()
        except IndexError:  # taken by another thread meanwhile
            break
        try:
            conn.setblocking(False)
            conn.recv(1, socket.MSG_PEEK)  # returns: EOF, or bytes nobody asked for
            alive = False
        except BlockingIOError:
            alive = True  # open, nothing pending
        except OSError:
            alive = False
        if alive:
            conn.setblocking(True)
            return conn
        conn.close()
    return _connect(address)


def _direct_run(client, run, workers, shares, load, asof, options, thresholds, timeout):
    """The run on the workers' mailboxes; the per-share results."""
    from distributed import Future
    for attempt in (0, 1):
        links = _links(client, workers)
        try:
            conns = [_take(address) for address, _ in links]
            break
        except OSError:  # a mailbox gone (its worker restarted?): ask again
            for w in workers:
                _LINKS.pop((client.id, w), None)
            if attempt:
                raise
    peers = [address for address, _ in links]
    wait = 60.0 if timeout is None else timeout
    try:
        for k, ((_, secret), conn, share) in enumerate(zip(links, conns, shares)):
            conn.settimeout(timeout)
            share = [_Key(s.key) if isinstance(s, Future) else s for s in share]
            _call(conn, secret, run, k, (peers, share, load, asof, options, thresholds, wait))
        out = [_reply(conn, run, k) for k, conn in enumerate(conns)]
    except BaseException:
        for conn in conns:  # mid-reply: not reusable
            conn.close()
        for w in workers:  # a worker lost or restarted: ask again next time
            _LINKS.pop((client.id, w), None)
        raise
    for (address, _), conn in zip(links, conns):
        _IDLE[address].append(conn)
    return out


def _direct_ok(workers):
    """Plain TCP between the workers only where dask's own comms are plain
    TCP (not TLS, UCX, in-process)."""
    return all(str(w).startswith("tcp://") for w in workers)


def _graph_run(client, run, workers, shares, load, asof, options, thresholds):
    """The exchange as a task graph (three tasks per worker, blobs moved by
    the scheduler's dependency transfers); futures of the cells (and of the
    thresholds when asked)."""
    hists, ties, cells = [], [], []
    for k, (w, share) in enumerate(zip(workers, shares)):
        # placement is a preference: if a worker is lost, dask reruns its
        # tasks elsewhere (they rebuild the shard from their inputs)
        with _dask.annotate(workers=[w], allow_other_workers=True):
            hists.append(_delayed(_shard_hist, pure=False)(run, k, share, load, asof))
    for k, (w, share) in enumerate(zip(workers, shares)):
        with _dask.annotate(workers=[w], allow_other_workers=True):
            ties.append(_delayed(_shard_ties, pure=False)(run, k, share, load, asof, hists,
                                                          options))
    for k, (w, share) in enumerate(zip(workers, shares)):
        with _dask.annotate(workers=[w], allow_other_workers=True):
            cells.append(_delayed(_shard_cells, pure=False)(run, k, share, load, asof, hists,
                                                            ties, options))
    wanted = cells
    if thresholds:
        with _dask.annotate(workers=[workers[0]], allow_other_workers=True):
            wanted = cells + [_delayed(_final_thresholds, pure=False)(hists, ties, options)]
    return client.compute(wanted, optimize_graph=False)  # one graph, submitted at once


def rfm_segment_counts(client, partitions, asof, load=None, bins=5, tie="ntile",
                       segment_map=None, cuts=None, workers=None, thresholds=False,
                       timeout=None, exchange="direct"):
    """RFM segment sizes of customer-disjoint record-array partitions on a
    ``distributed.Client``: no pandas, no profile tables, no per-customer
    data leaves a worker and nothing large goes through the client
    (docs/partial.md, "RFM at speed").

    ``partitions``: one source per partition; ``load(source)`` (run on the
    workers; default: arrays and futures of arrays as they are, else
    ``numpy.load`` of a ``.npy`` path) returns its orders as a
    ``libcrm.ORDER_DTYPE`` array. No customer may have orders in two
    partitions (e.g. files bucketed by ``customer_id % P``). The partitions
    are dealt round-robin into one share per worker (``workers``: addresses,
    default all of the client's; partition k goes to ``workers[k % W]``).
    Every worker loads its partitions and aggregates them straight from the
    orders into one ``RfmShard`` (kept in the worker); the workers exchange
    their round-1 histograms (about 2 bytes per distinct value) and build
    the thresholds of the whole population each; if a rank rule splits a
    value, the same with the round-2 tie ids (1-2 bytes per id); each
    worker returns the customers and revenue per (R, F, M) score cell
    (2 x bins^3 integers), summed on the client.

    ``exchange="direct"`` (default): the run bypasses dask's scheduler and
    event loops. Every worker process keeps a mailbox (a port opened on
    the worker's host on first use, through ``client.run``: the client and
    the workers must reach it as they reach the workers for dask's own
    transfers); the client sends each worker its share over a kept
    connection, signed with the mailbox's secret (HMAC-SHA256; unsigned
    calls are never unpickled), and the workers send each other the
    checksummed blobs of both rounds the same way, filed under the run's
    random id. A lost worker makes the call fail (the others give up after
    ``timeout``, default 60 s, waiting for its blobs) instead of being
    recomputed. Workers whose dask comms are not plain TCP (TLS, UCX) get
    "graph". ``exchange="graph"``: three tasks per worker in one graph,
    the blobs moved as task dependencies through dask's comms; slower by
    the scheduling round trips, but a lost worker's tasks rerun elsewhere.

    Returns a dict ``{"customers": n, "segments": {name: customers} (None
    without segments), "revenue": {name: minor units} (None without
    segments), "r"|"f"|"m": [customers with score 1..bins]}``,
    equal to the counts of ``libcrm.rfm(all_orders, asof, bins, tie,
    segment_map, cuts)``; with ``thresholds=True`` also ``"thresholds"``:
    the :class:`libcrm.rfm.RfmThresholds` of the whole population (fetched
    from a worker: the size of the merged histograms). ``timeout``: seconds
    to wait for the counts (default: no limit; "direct" exchange: 60 s per
    run for the blobs of the other workers)."""
    from .rfm import DEFAULT_MAP, cell_summary
    if segment_map is None:
        segment_map = DEFAULT_MAP
    load = load or _load_default
    if workers is None:
        workers = sorted(client.ncores())  # asked now: the client's cached info may be stale
        if not workers:
            client.wait_for_workers(1, timeout=60)
            workers = sorted(client.ncores())
    workers = list(workers)
    if not workers:
        raise ValueError("the client has no workers")
    asof = to_day(asof)
    options = {"bins": bins, "tie": tie, "segment_map": segment_map, "cuts": cuts}

    shares = [list(partitions[i::len(workers)]) for i in range(len(workers))]
    run = uuid.uuid4()
    if exchange == "direct" and len(set(workers)) != len(workers):
        raise ValueError(f"workers must be distinct, got {workers}")
    if exchange == "direct" and not _direct_ok(workers):
        exchange = "graph"  # TLS, UCX, in-process workers: through dask's comms
    if exchange == "direct":
        parts = _direct_run(client, run.bytes, workers, shares, load, asof, options,
                            thresholds, timeout)
        th = parts[0][2]
        parts = [p[:2] for p in parts]
    elif exchange == "graph":
        futures = _graph_run(client, run.hex, workers, shares, load, asof, options,
                             thresholds)
        try:
            if timeout is not None:
                from distributed import wait
                wait(futures, timeout=timeout)
            parts = client.gather(futures)
        finally:
            for f in futures:
                f.release()
        th = parts.pop() if thresholds else None
    else:
        raise ValueError(f"exchange must be 'direct' or 'graph', not {exchange!r}")
    cells = sum((p[0] for p in parts[1:]), parts[0][0])
    revenue = [int(v) for v in parts[0][1].ravel()]  # Python ints: exact sums
    for p in parts[1:]:
        revenue = [a + int(b) for a, b in zip(revenue, p[1].ravel())]
    total = cell_summary(cells, segment_map,
                         revenue=np.array(revenue, dtype=object).reshape(cells.shape))
    if thresholds:
        total["thresholds"] = th
    return total


# ---- lifecycle ---------------------------------------------------------------

def lifecycle(df, asof, contacts=None, customer_id="customer_id", ts="ts", amount="amount",
              split_every=None, disjoint=None, scheduler=None, **params):
    """Lifecycle stages of every customer (:class:`libcrm.Lifecycle`), from
    the profiles merged on the client; equal to ``libcrm.lifecycle(all_orders,
    asof, contacts, **params)``. ``contacts`` as for :func:`libcrm.lifecycle`."""
    from .lifecycle import lifecycle as _lifecycle
    table = profiles(df, asof, customer_id, ts, amount, split_every, disjoint, scheduler)
    return _lifecycle(table, contacts=contacts, **params)


def _funnel_chunk(pdf, asof, columns, params):
    from .lifecycle import funnel_partial
    return funnel_partial(orders_array(pdf, *columns), asof, **params)


def _flatten(parts):
    """Combine step for tiny partials: just gather them into one list."""
    out = []
    for p in parts:
        out.extend(p if isinstance(p, list) else [p])
    return out


def _funnel_finish(parts):
    from .lifecycle import funnel_from_partials
    return funnel_from_partials(_flatten(parts))


def funnel(df, asof, contacts=None, customer_id="customer_id", ts="ts", amount="amount",
           split_every=None, disjoint=None, scheduler=None, **params):
    """Lifecycle funnel dict of the whole data, equal to ``libcrm.funnel``.

    With customer-disjoint partitions (``disjoint``, default
    :func:`customer_partitioned`) and no ``contacts``, every partition
    computes its own funnel counts and only those travel (the lifecycle
    module's funnel partials); otherwise the stages are computed from the
    profiles merged on the client (:func:`lifecycle`)."""
    if disjoint is None:
        disjoint = customer_partitioned(df, customer_id)
    if not disjoint or contacts is not None:
        return lifecycle(df, asof, contacts, customer_id, ts, amount, split_every, disjoint,
                         scheduler, **params).funnel()
    return reduce_to_client(df, _funnel_chunk, _funnel_finish, split_every,
                            combine=_flatten, scheduler=scheduler,
                            name="libcrm-funnel", asof=to_day(asof),
                            columns=(customer_id, ts, amount), params=params)


def _cohorts_chunk(pdf, asof, columns):
    from .lifecycle import cohorts as _cohorts
    return _cohorts(orders_array(pdf, *columns), asof).to_bytes()


def _cohorts_merge(parts):
    from .lifecycle import Cohorts
    tables = [Cohorts.from_bytes(b) for b in parts]
    return _merge_tree(tables)


def _cohorts_combine(parts):
    return _cohorts_merge(parts).to_bytes()


def cohorts(df, asof, customer_id="customer_id", ts="ts", amount="amount", split_every=None,
            scheduler=None):
    """Cohort retention table (:class:`libcrm.lifecycle.Cohorts`) of the
    whole data: cohort partials merge exactly for any partitioning."""
    return reduce_to_client(df, _cohorts_chunk, _cohorts_merge, split_every,
                            combine=_cohorts_combine, scheduler=scheduler,
                            name="libcrm-cohorts", asof=to_day(asof),
                            columns=(customer_id, ts, amount))


# ---- attribution -----------------------------------------------------------------

def _records(pdf, struct, names):
    """A partition as a numpy array of a libcrm record type, by field name."""
    dtype = np.dtype(struct)
    out = np.zeros(len(pdf), dtype=dtype)
    for field, column in names.items():
        values = _column(pdf, column)
        out[field] = _seconds(values, column) if field == "ts" else values.values
    return out


_TOUCH_FIELDS = ("customer_id", "ts", "channel", "campaign", "kind")
_CONVERSION_FIELDS = ("customer_id", "ts", "value", "weight")


def _event_records(touches, conversions):
    """Two aligned partitions as crm_touch and crm_conversion arrays."""
    t = _records(touches, _types.Touch, {f: f for f in _TOUCH_FIELDS if f in touches.columns
                                         or f == "customer_id"})
    names = {f: f for f in _CONVERSION_FIELDS if f in conversions.columns or f == "customer_id"}
    c = _records(conversions, _types.Conversion, names)
    if "weight" not in conversions.columns:
        c["weight"] = 1.0
    return t, c


def _paths_chunk(touches, conversions, journey):
    from .attribution import PathTable
    return PathTable.from_events(*_event_records(touches, conversions), **journey).to_bytes()


def _credit_chunk(touches, conversions, options):
    from .attribution import events_credit_partial
    return events_credit_partial(*_event_records(touches, conversions), **options)


def _rows_chunk(pdf, sep):
    from .attribution import PathTable
    rows = zip(pdf["path"], pdf["conversions"], pdf["value"], pdf["nulls"])
    return PathTable.from_rows(list(rows), sep=sep).to_bytes()


def _paths_merge(parts):
    from .attribution import PathTable
    tables = [PathTable.from_bytes(b) for b in parts]
    return _merge_tree(tables)


def _paths_combine(parts):
    return _paths_merge(parts).to_bytes()


def path_table(paths, sep=">", split_every=None, scheduler=None):
    """:class:`libcrm.attribution.PathTable` of a dask dataframe of path
    rows (columns ``path``, ``conversions``, ``value``, ``nulls``; any
    partitioning): partial tables merged exactly, so every model's credit
    and the Markov removal effects equal the single-process ones."""
    return reduce_to_client(paths, _rows_chunk, _paths_merge, split_every,
                            combine=_paths_combine, scheduler=scheduler,
                            name="libcrm-paths", sep=sep)


def _apply_events(touches, conversions, chunk, options):
    return pd.Series([chunk(touches, conversions, options)], dtype=object)


def _event_partials(touches, conversions, aligned, chunk, options, name):
    """``chunk`` on every pair of customer-aligned partitions."""
    if aligned:
        if touches.npartitions != conversions.npartitions:
            raise ValueError(f"aligned=True needs as many touch partitions "
                             f"({touches.npartitions}) as conversion partitions "
                             f"({conversions.npartitions})")
    elif not (touches.known_divisions and conversions.known_divisions
              and touches.index.name == "customer_id" == conversions.index.name
              and tuple(touches.divisions) == tuple(conversions.divisions)):
        raise ValueError("touches and conversions must both be indexed by customer_id with "
                         "the same known divisions (set_index('customer_id', divisions=...)), "
                         "or be bucketed alike by customer (aligned=True)")
    return _dd.map_partitions(_apply_events, touches, conversions, chunk, options,
                              meta=(name, object), enforce_metadata=False,
                              align_dataframes=not aligned)


def path_table_from_events(touches, conversions, click_window_days=30, view_window_days=1,
                           reset=True, aligned=False, split_every=None, scheduler=None):
    """:class:`libcrm.attribution.PathTable` of touch and conversion events
    (columns ``customer_id, ts, channel[, campaign, kind]`` and
    ``customer_id, ts, value[, weight]``). A journey needs all the events of
    its customer: both dataframes must be partitioned alike by customer
    (indexed by ``customer_id`` with equal known divisions, e.g. after
    ``set_index("customer_id", divisions=...)`` on both), or, with
    ``aligned=True``, partition i of both holds the same customers (files
    bucketed by a hash of the customer id, in the same order)."""
    journey = {"click_window_days": click_window_days, "view_window_days": view_window_days,
               "reset": reset}
    pairs = _event_partials(touches, conversions, aligned, _paths_chunk, journey,
                            "libcrm-paths")
    top = _tree(pairs, _paths_combine, split_every, "libcrm-paths")
    return _finish(top, _paths_merge, scheduler)


def _credit_finish(parts):
    from .attribution import events_credit_from_partials
    return events_credit_from_partials(_flatten(parts))


def events_credit(touches, conversions, aligned=False, split_every=None, scheduler=None,
                  **options):
    """Heuristic credit from events per channel and per campaign, the dict
    of ``libcrm.attribution.events_credit`` (first/last touch, linear,
    position based, last non-direct, time decay, ad-server last) for all
    events: every customer-aligned pair of partitions computes its credit
    partial (the attribution module's), the client merges them. Partitioning
    as for :func:`path_table_from_events`; ``options`` as for
    ``events_credit`` (click/view windows, reset, position, direct,
    half_life_days)."""
    pairs = _event_partials(touches, conversions, aligned, _credit_chunk, options,
                            "libcrm-credit")
    top = _tree(pairs, _flatten, split_every, "libcrm-credit")
    return _finish(top, _credit_finish, scheduler)


# ---- CLV -------------------------------------------------------------------------

def _clv_summary(pdf, period_end, unit, columns):
    from .clv import clv_summary
    return clv_summary(orders_array(pdf, *columns), period_end, unit=unit)


def _clv_counts_chunk(pdf, period_end, unit, columns):
    from .clv import clv_counts
    s = _clv_summary(pdf, period_end, unit, columns)
    return clv_counts(s.x, s.t_x, s.T).serialize()


def _clv_counts_merge(parts):
    from .clv import ClvCounts
    tables = [ClvCounts.deserialize(b) for b in parts]
    return _merge_tree(tables)


def _clv_counts_combine(parts):
    return _clv_counts_merge(parts).serialize()


def _need_disjoint(df, customer_id, disjoint, what):
    if disjoint is None:
        disjoint = customer_partitioned(df, customer_id)
    if not disjoint:
        raise ValueError(f"{what} needs customer-disjoint partitions (a customer's model "
                         "input comes from all its orders): index the orders by customer_id "
                         "(set_index / shuffle) or pass disjoint=True for data bucketed by "
                         "customer")


def clv_counts(df, period_end, unit="week", customer_id="customer_id", ts="ts",
               amount="amount", split_every=None, disjoint=None, scheduler=None):
    """The :class:`libcrm.clv.ClvCounts` of all customers (distinct
    ``(x, t_x, T)`` with counts: the sufficient statistics of BG/NBD and
    Pareto/NBD), from per-partition partials merged exactly. Needs
    customer-disjoint partitions. Fit with ``BGNBD.fit_counts(counts)``."""
    _need_disjoint(df, customer_id, disjoint, "clv_counts")
    return reduce_to_client(df, _clv_counts_chunk, _clv_counts_merge, split_every,
                            combine=_clv_counts_combine, scheduler=scheduler,
                            name="libcrm-clv-counts", period_end=to_day(period_end),
                            unit=unit, columns=(customer_id, ts, amount))


def _clv_loglik_chunk(pdf, kind, params, period_end, unit, columns):
    from .clv import BGNBD, GammaGamma, ParetoNBD
    models = {"BGNBD": BGNBD, "ParetoNBD": ParetoNBD, "GammaGamma": GammaGamma}
    model = models[kind](params, unit=unit)  # rebuilt here: C handles do not pickle
    s = _clv_summary(pdf, period_end, unit, columns)
    if len(s) == 0:
        return (0.0, {k: 0.0 for k in model.PARAMS})
    if hasattr(model, "fit_counts"):
        return model.loglik_of(s.x, s.t_x, s.T)
    return model.loglik_of(s.x, s.m_x)


def _clv_loglik_sum(parts):
    total = [0.0, {}]
    for ll, grad in _flatten(parts):
        total[0] += ll
        for k, g in grad.items():
            total[1][k] = total[1].get(k, 0.0) + g
    return total[0], total[1]


def clv_loglik(df, model, period_end, unit=None, customer_id="customer_id", ts="ts",
               amount="amount", split_every=None, disjoint=None, scheduler=None):
    """``(log-likelihood, gradient dict)`` of a CLV model at its fixed
    parameters (``libcrm.clv.BGNBD(params)``, ``ParetoNBD``, ``GammaGamma``)
    summed over all customers: each customer-disjoint partition computes its
    sum, the sums add up (equal to the single-process value to about 1e-12
    relative: only the order of the additions differs)."""
    _need_disjoint(df, customer_id, disjoint, "clv_loglik")
    unit = unit or model.unit
    return reduce_to_client(df, _clv_loglik_chunk, _clv_loglik_sum, split_every,
                            combine=_flatten, scheduler=scheduler, name="libcrm-clv-loglik",
                            kind=type(model).__name__, params=dict(model.params),
                            period_end=to_day(period_end), unit=unit,
                            columns=(customer_id, ts, amount))
