"""Exceptions raised for libcrm status codes.

Every fallible C call returns a ``crm_status``; the binding turns a non-zero
status into the matching :class:`CrmError` subclass carrying the text of
``crm_last_error()`` (which names the offending record or byte offset).
"""


class CrmError(Exception):
    """Base class of every libcrm error; ``.status`` is the C status code."""

    status = -1


class InvalidArgument(CrmError, ValueError):
    """CRM_EINVAL: an invalid argument (NULL, bad option value, unknown id)."""

    status = 1


class OutOfMemory(CrmError, MemoryError):
    """CRM_ENOMEM: an allocation failed."""

    status = 2


class VersionError(CrmError):
    """CRM_EVERSION: unsupported struct or format version."""

    status = 3


class CrmOverflowError(CrmError, OverflowError):
    """CRM_EOVERFLOW: a size or a sum would overflow."""

    status = 4


class DataError(CrmError, ValueError):
    """CRM_EDATA: a bad input record (out-of-range time, NaN, ...)."""

    status = 5


class StateError(CrmError):
    """CRM_ESTATE: corrupted, truncated or wrong state."""

    status = 6


class RuleError(CrmError, ValueError):
    """CRM_ERULE: a malformed rule or expression."""

    status = 7


_BY_STATUS = {cls.status: cls for cls in (
    InvalidArgument, OutOfMemory, VersionError, CrmOverflowError, DataError,
    StateError, RuleError)}


def error_for(status):
    """Return the exception class for a non-zero status code."""
    return _BY_STATUS.get(status, CrmError)
