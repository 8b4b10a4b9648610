"""Record input (numpy zero-copy or Python sequences) and result columns
(read-only numpy views that keep the owning handle alive, or lists)."""
import ctypes

try:
    import numpy as np
except ImportError:  # numpy is optional
    np = None


def dtype_of(struct):
    """numpy structured dtype equal to a ctypes struct, or None without numpy."""
    return None if np is None else np.dtype(struct)


def as_records(obj, struct):
    """Return ``(address, count, keepalive)`` for an array of ``struct``.

    numpy arrays of exactly ``np.dtype(struct)`` that are C-contiguous are
    used in place (zero-copy, read-only arrays too); any other sequence of
    tuples is converted into a ctypes array.
    """
    if hasattr(obj, "__array_interface__") and np is not None:
        arr = obj
        want = np.dtype(struct)
        if arr.dtype != want:
            raise TypeError(f"need a numpy array of dtype {want}, got {arr.dtype}")
        if arr.ndim != 1 or not arr.flags.c_contiguous:
            raise TypeError("need a 1-D C-contiguous numpy array (use np.ascontiguousarray)")
        return arr.__array_interface__["data"][0], len(arr), arr
    rows = list(obj)
    buf = (struct * len(rows))()
    for i, row in enumerate(rows):
        try:
            buf[i] = struct(*row)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"row {i}: cannot make a {struct.__name__} from {row!r}: {exc}") from None
    return ctypes.addressof(buf), len(rows), buf


def column(owner, address, ctype, count, nan_to_none=False):
    """A result column: read-only numpy view keeping ``owner`` alive, or a list."""
    if count == 0 or not address:
        return np.zeros(0, dtype=np.dtype(ctype)) if np is not None else []
    raw = (ctype * count).from_address(address)
    if np is None:
        values = list(raw)
        if nan_to_none:
            values = [None if v != v else v for v in values]
        return values
    raw._owner = owner  # the view's base chain keeps the C result alive
    view = np.frombuffer(raw, dtype=np.dtype(ctype))
    view.flags.writeable = False
    return view
