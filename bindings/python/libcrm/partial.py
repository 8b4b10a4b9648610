"""Partial aggregates as bytes (``crm/partial.h``): the wire form that lets
libcrm run per partition on Dask, Spark or a job per shard, with results
equal to one machine's.

Importing this module also makes :class:`libcrm.Profiles` picklable (through
these bytes), which is how Dask and ``multiprocessing`` ship tables between
processes.
"""
import copyreg
import ctypes

from ._lib import P, SZ, c_status, declare_all, lib
from .profiles import Profiles

declare_all({
    "crm_profiles_serialize": (c_status, [ctypes.POINTER(P), ctypes.POINTER(SZ), P]),
    "crm_profiles_deserialize": (c_status, [ctypes.POINTER(P), ctypes.c_char_p, SZ]),
    "crm_profiles_merge_disjoint": (c_status, [ctypes.POINTER(P), ctypes.POINTER(P), SZ]),
})

#: Format version of profile tables written by this library (it reads 1..this).
PROFILES_BLOB_VERSION = 1


def take_bytes(fill):
    """Call ``fill(byref(ptr), byref(len))`` (a C function handing out a
    libcrm byte buffer) and return the buffer as ``bytes``, freeing it."""
    out, n = P(), SZ()
    fill(ctypes.byref(out), ctypes.byref(n))
    try:
        return ctypes.string_at(out.value, n.value)
    finally:
        lib.crm_bytes_free(out)


def profiles_to_bytes(table):
    """Serialise a :class:`Profiles` table (mergeable or not) to ``bytes``:
    versioned, checksummed, little-endian whatever the host."""
    if not isinstance(table, Profiles):
        raise TypeError(f"need a libcrm.Profiles, not {type(table).__name__}")
    return take_bytes(lambda out, n: lib.crm_profiles_serialize(out, n, table._h))


def profiles_from_bytes(data):
    """Load a :class:`Profiles` table from :func:`profiles_to_bytes` output.

    Raises :class:`libcrm.StateError` for truncated, corrupted or
    inconsistent bytes (the message names the byte offset or row) and
    :class:`libcrm.VersionError` for bytes of a newer format version.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"need bytes, not {type(data).__name__}")
    out = P()
    lib.crm_profiles_deserialize(ctypes.byref(out), data, len(data))
    return Profiles(out.value)


def merge_disjoint(tables):
    """Table of customer-disjoint partitions in one pass (plain or mergeable
    tables; a customer with a profile in two of them raises
    InvalidArgument). Mergeable when every input is."""
    tables = list(tables)
    if not tables:
        raise ValueError("merge_disjoint needs at least one table")
    handles = (P * len(tables))(*[t._h.value for t in tables])
    out = P()
    lib.crm_profiles_merge_disjoint(ctypes.byref(out), handles, len(tables))
    return Profiles(out.value)


def merge_profiles(tables, disjoint=False):
    """Merge of several tables: exact for mergeable tables (a balanced tree
    of pairwise merges); with ``disjoint=True`` the tables come from
    customer-disjoint partitions and need not be mergeable
    (:func:`merge_disjoint`)."""
    tables = list(tables)
    if not tables:
        raise ValueError("merge_profiles needs at least one table")
    if disjoint:
        return merge_disjoint(tables)
    return _merge_tree(tables)


def _merge_tree(tables):
    """Merge a non-empty list of partial tables (anything with ``a.merge(b)``)
    as a balanced tree of pairwise merges, neighbours first, so the order of
    the partitions is kept and the depth is log2(len(tables))."""
    while len(tables) > 1:
        merged = [a.merge(b) for a, b in zip(tables[0::2], tables[1::2])]
        if len(tables) % 2:
            merged.append(tables[-1])
        tables = merged
    return tables[0]


copyreg.pickle(Profiles, lambda t: (profiles_from_bytes, (profiles_to_bytes(t),)))

__all__ = ["PROFILES_BLOB_VERSION", "merge_disjoint", "merge_profiles", "profiles_from_bytes",
           "profiles_to_bytes", "take_bytes"]
