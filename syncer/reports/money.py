"""Money in reports: exact while computed, rounded only when written out, by one rule.

Amounts are `Decimal` (fee totals, setup fees: exact sums of the `NUMERIC(18,6)` columns) or
`Fraction` (accruals: fee x time held / length of the month, an exact rational number).
Nothing in between is ever a float. The rounding rule, applied only when rendering:

- **table**: two decimals, rounded half away from zero (`ROUND_HALF_UP`: 0.125 -> 0.13,
  -0.125 -> -0.13), with thousands separators (on the statement's page a negative amount has
  a real minus sign, and a difference carries its sign either way: `+9.79`, `−0.61`);
- **JSON and CSV**: a decimal string with at least two decimals. An amount with at most six
  decimals (the scale of the money columns: every fee total and setup fee) is written
  exactly ("1234.50", "0.0075"); an accrual share with more is rounded half away from zero
  to six decimals.

Every figure is rounded on its own, so a rounded total can differ from the sum of its
rounded rows by a cent in a table (by a micro-unit in JSON); the unrounded figures add up
exactly. Where a table must add up as printed (the statement's attribution of a month's
change), `footed` rounds its rows so that they do: each row is rounded as above, then the
cents still missing or extra are given, one each, to the rows whose own rounding moved them
furthest the other way (the largest-remainder method), so no row moves by more than a cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

Amount = Decimal | Fraction

TABLE_PLACES = 2
EXACT_PLACES = 6
MINUS = "\N{MINUS SIGN}"  # as wide as a digit and a plus, unlike the hyphen


def rounded(amount: Amount, places: int) -> Decimal:
    """`amount` rounded half away from zero to `places` decimals."""
    scaled = Fraction(amount) * 10**places
    whole = int(abs(scaled) + Fraction(1, 2))  # int() truncates: floor for non-negatives
    return Decimal(-whole if scaled < 0 else whole).scaleb(-places)


def table_money(amount: Amount | None) -> str:
    """For a table: `1,234.50`; an unknown amount (unpriced numbers only) is `—`."""
    if amount is None:
        return "—"
    return f"{rounded(amount, TABLE_PLACES):,.2f}"


def page_money(amount: Amount) -> str:
    """For a page people read: `1,234.50`, a negative amount `−1,234.50` (a real minus)."""
    value = rounded(amount, TABLE_PLACES)
    return f"{MINUS}{-value:,.2f}" if value < 0 else f"{value:,.2f}"


def signed_money(amount: Amount, places: int = TABLE_PLACES) -> str:
    """A difference for people: `+1,234.50`, `−7.94`, `0.00`; it reads without colour."""
    value = rounded(amount, places)
    if value > 0:
        return f"+{value:,.{places}f}"
    if value < 0:
        return f"{MINUS}{-value:,.{places}f}"
    return f"{value:,.{places}f}"


def money_string(amount: Amount | None) -> str | None:
    """For JSON and CSV: `"1234.50"`, exact up to six decimals (see the module doc)."""
    if amount is None:
        return None
    value = rounded(amount, EXACT_PLACES).normalize()
    if value.as_tuple().exponent > -TABLE_PLACES:  # type: ignore[operator]
        value = value.quantize(Decimal(1).scaleb(-TABLE_PLACES))
    return f"{value:f}"


def footed(parts: Sequence[Amount], total: Amount, places: int = TABLE_PLACES) -> list[Decimal]:
    """`parts` rounded to `places` so that they add up to `total` rounded (see the module
    doc). A part that is exactly zero stays zero while any other part can take the cent."""
    shown = [rounded(part, places) for part in parts]
    unit = Fraction(1, 10**places)
    missing = round((Fraction(rounded(total, places)) - sum(map(Fraction, shown))) / unit)
    if not missing or not parts:
        return shown
    step = 1 if missing > 0 else -1
    # how far rounding moved each part away from the direction the cents must go
    remainders = [
        (Fraction(part) - Fraction(value)) * step for part, value in zip(parts, shown, strict=True)
    ]
    order = sorted(
        range(len(parts)),
        key=lambda i: (Fraction(parts[i]) == 0, -remainders[i], i),
    )
    for index in (order * abs(missing))[: abs(missing)]:
        shown[index] += Decimal(step).scaleb(-places)
    return shown
