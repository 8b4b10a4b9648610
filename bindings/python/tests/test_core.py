import ctypes

import pytest

import libcrm
from libcrm import _types, errors
from libcrm._lib import lib


def test_version_matches_library():
    assert libcrm.version() == libcrm.__version__
    major, minor, patch = (int(x) for x in libcrm.version().split("."))
    assert lib.crm_version_number() == major * 10000 + minor * 100 + patch


def test_struct_sizes_match_mirrors():
    for sid, mirror in _types.STRUCT_IDS.items():
        assert lib.crm_struct_size(sid) == ctypes.sizeof(mirror)
    assert ctypes.sizeof(_types.Order) == 24
    assert lib.crm_struct_size(9999) == 0


def test_status_names():
    assert "CRM_EDATA" in libcrm.status_str(5)
    assert libcrm.status_str(99) == "unknown status"


@pytest.mark.parametrize("status,cls", [(1, errors.InvalidArgument), (2, errors.OutOfMemory),
                                        (3, errors.VersionError), (4, errors.CrmOverflowError),
                                        (5, errors.DataError), (6, errors.StateError),
                                        (7, errors.RuleError), (42, errors.CrmError)])
def test_error_table(status, cls):
    assert errors.error_for(status) is cls
    assert issubclass(cls, libcrm.CrmError)


def test_set_allocator_rejects_incomplete_hooks():
    bad = _types.Allocator()
    with pytest.raises(libcrm.InvalidArgument, match="non-NULL"):
        lib.crm_set_allocator(ctypes.byref(bad))
    lib.crm_set_allocator(None)  # restore malloc/free: no error


@pytest.mark.parametrize("value,want", [("0.285", 29), ("-0.285", -29), (0.285, 29), ("1.005", 101),
                                        (12, 1200), ("0.004", 0), ("0.005", 1), ("-0.005", -1),
                                        ("19.99", 1999)])
def test_to_minor_units_rounds_half_away_from_zero(value, want):
    assert libcrm.to_minor_units(value) == want


@pytest.mark.parametrize("bad", ["abc", float("nan"), float("inf"), "Infinity"])
def test_to_minor_units_rejects(bad):
    with pytest.raises(ValueError):
        libcrm.to_minor_units(bad)


def test_days():
    import datetime as dt
    assert libcrm.to_day("1970-01-02") == 1
    assert libcrm.to_day(dt.date(2026, 11, 22)) == 20779
    assert libcrm.to_day(17) == 17
    assert libcrm.from_day(20779) == dt.date(2026, 11, 22)
    with pytest.raises(ValueError):
        libcrm.to_day("2026-13-01")
    with pytest.raises(TypeError):
        libcrm.to_day(1.5)
