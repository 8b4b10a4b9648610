"""libcrm over partitioned data with Dask: run libcrm on every partition
(``DataFrame.reduction``, i.e. a ``map_partitions`` followed by a tree
reduction), combine the serialised partials pairwise in a tree, and return
the same result objects as the single-process API, equal to them exactly.

Importing this module needs ``dask[dataframe]`` (Debian: ``python3-dask``);
``import libcrm`` does not import it. Works with any scheduler: the
threaded default, ``scheduler="sync"``, or a ``distributed.Client`` that is
active when the helpers are called.

Orders dataframes have one row per order with columns (names configurable)
``customer_id`` (non-negative integers; may also be the index), ``ts`` (Unix
seconds as integers, or ``datetime64``) and ``amount`` (integer minor
units, negative = refund), as in :func:`libcrm.profiles`.

What is shipped between workers is a mergeable profile table per partition
(docs/partial.md, "Scaling model"): about 32 bytes per customer plus 4 bytes
per distinct purchase day of the customers in that partition.
"""
import numpy as np
import pandas as pd

from . import _types
from ._convert import to_day
from .partial import merge_profiles, profiles_from_bytes, profiles_to_bytes
from .profiles import profiles as _build_profiles

try:
    import dask.dataframe  # noqa: F401  (the helpers take dask dataframes)
    from dask import delayed as _delayed
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError("libcrm.dask needs dask[dataframe] (Debian: python3-dask)") from exc

ORDER_DTYPE = np.dtype(_types.Order)

#: Default number of partials combined per node of the reduction tree.
SPLIT_EVERY = 8

__all__ = ["SPLIT_EVERY", "orders_array", "partial_profiles", "profiles", "summary",
           "tree_reduce"]


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

def _one(value):
    """Wrap a partial as the one-row Series a partition maps to."""
    return pd.Series([value], dtype=object)


def _unwrap(parts):
    return [p.iloc[0] if isinstance(p, pd.Series) else p for p in parts]


def tree_reduce(df, chunk, combine, split_every=None, name="libcrm", **chunk_kwargs):
    """Generic scale-out step: ``chunk(partition, **chunk_kwargs)`` on every
    partition (``map_partitions``), then ``combine(list_of_partials)`` over
    groups of ``split_every`` partials, level by level, up to one root.
    Returns a ``dask.delayed`` object whose value is the root partial
    (anything picklable: bytes, a result object)."""
    k = split_every or SPLIT_EVERY
    if k < 2:
        raise ValueError("split_every must be >= 2")
    mapped = df.map_partitions(lambda pdf: _one(chunk(pdf, **chunk_kwargs)),
                               meta=(name, object), enforce_metadata=False)
    level = mapped.to_delayed(optimize_graph=True)
    unwrap_combine = _delayed(lambda *parts: combine(_unwrap(parts)), pure=True)
    depth = 0
    while len(level) > 1 or depth == 0:
        level = [unwrap_combine(*level[i:i + k], dask_key_name=f"{name}-combine-{depth}-{i}")
                 for i in range(0, len(level), k)]
        depth += 1
    return level[0]


def _profiles_chunk(pdf, asof, columns):
    """One partition -> bytes of its mergeable profile table."""
    table = _build_profiles(orders_array(pdf, *columns), asof, mergeable=True)
    return profiles_to_bytes(table)


def _profiles_combine(parts):
    """Partial bytes -> bytes of their merge."""
    return profiles_to_bytes(merge_profiles([profiles_from_bytes(b) for b in parts]))


def partial_profiles(df, asof, customer_id="customer_id", ts="ts", amount="amount",
                     split_every=None):
    """Lazy form of :func:`profiles`: a ``dask.delayed`` whose value is the
    bytes of the merged (mergeable) profile table; load it with
    :func:`libcrm.partial.profiles_from_bytes`."""
    return tree_reduce(df, _profiles_chunk, _profiles_combine, split_every,
                       name="libcrm-profiles", asof=to_day(asof),
                       columns=(customer_id, ts, amount))


def profiles(df, asof, customer_id="customer_id", ts="ts", amount="amount",
             split_every=None, scheduler=None):
    """Profile table of the orders in dask dataframe ``df`` as of ``asof``:
    equal, column by column, to ``libcrm.profiles(all_orders, asof)`` on one
    machine (the returned table is mergeable). ``scheduler`` is passed to
    ``compute`` (None: the active client or dask's default)."""
    data = partial_profiles(df, asof, customer_id, ts, amount, split_every)
    return profiles_from_bytes(data.compute(scheduler=scheduler))


def summary(df, asof, scheduler=None, **columns):
    """Population summary of ``df`` as of ``asof``: the dict of
    :meth:`libcrm.Profiles.summary` for the whole data."""
    return profiles(df, asof, scheduler=scheduler, **columns).summary()
