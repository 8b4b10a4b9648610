"""Conversions shared by every module: days and exact money."""
import datetime as _dt
import decimal as _dec

_EPOCH = _dt.date(1970, 1, 1)


def to_day(value):
    """Day number (days since 1970-01-01, UTC) of a date, ISO string or int."""
    if isinstance(value, bool):
        raise TypeError("a day must be a date, an ISO 'YYYY-MM-DD' string or an int")
    if isinstance(value, int):
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc)
        return (value.date() - _EPOCH).days
    if isinstance(value, _dt.date):
        return (value - _EPOCH).days
    if isinstance(value, str):
        try:
            return (_dt.date.fromisoformat(value) - _EPOCH).days
        except ValueError:
            raise ValueError(f"not an ISO date 'YYYY-MM-DD': {value!r}") from None
    if hasattr(value, "__index__"):  # numpy integers
        return int(value)
    raise TypeError(f"a day must be a date, an ISO 'YYYY-MM-DD' string or an int, not {type(value).__name__}")


def from_day(day):
    """The ``datetime.date`` of a day number."""
    return _EPOCH + _dt.timedelta(days=int(day))


def to_minor_units(amount):
    """Exact minor units (cents) of a decimal amount: x * 100 rounded half
    away from zero, so ``to_minor_units("0.285") == 29``. Floats are taken by
    their shortest repr (0.285 means 0.285, not its binary approximation)."""
    if isinstance(amount, bool):
        raise TypeError("an amount must be a number or a decimal string")
    if isinstance(amount, int):
        return amount * 100
    if isinstance(amount, float):
        if amount != amount or amount in (float("inf"), float("-inf")):
            raise ValueError(f"amount is not finite: {amount}")
        amount = repr(amount)
    try:
        d = _dec.Decimal(amount) if not isinstance(amount, _dec.Decimal) else amount
    except _dec.InvalidOperation:
        raise ValueError(f"not a decimal amount: {amount!r}") from None
    if not d.is_finite():
        raise ValueError(f"amount is not finite: {amount!r}")
    return int((d * 100).quantize(_dec.Decimal(1), rounding=_dec.ROUND_HALF_UP))
