"""Number plans, regions and TryVox's fee table: what makes generated numbers look real.

Each country has a few *blocks*: a number type (local, mobile, toll_free), the national
digits a number starts with, how many digits follow, and the region such numbers belong to.
US and CA numbers follow the NANP (`+1 NPA NXX XXXX`, N in 2-9); the others use real
national prefixes (London 20, Berlin 30, German mobiles 15x, Indian mobiles 9x, ...). Every
number has a region: both pages document `region` as a string, not as nullable.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple


@dataclass(frozen=True)
class Block:
    """Numbers of one type and region: `+<calling_code><prefix><rest digits>`."""

    number_type: str
    prefix: str
    rest: int
    region: str
    weight: int


@dataclass(frozen=True)
class Country:
    """A country's calling code, its share of the world, and its number blocks."""

    code: str
    calling_code: str
    weight: int
    blocks: tuple[Block, ...]


def _nanp(npas: dict[str, str], weight: int) -> tuple[Block, ...]:
    """NANP local blocks: the area code is the prefix; the exchange is drawn in `draw_e164`."""
    return tuple(Block("local", npa, 7, region, weight) for npa, region in npas.items())


_US_LOCAL = {
    "212": "NY", "718": "NY", "415": "CA", "213": "CA", "408": "CA", "619": "CA",
    "312": "IL", "713": "TX", "512": "TX", "214": "TX", "305": "FL", "407": "FL",
    "206": "WA", "617": "MA", "404": "GA", "303": "CO", "702": "NV", "602": "AZ",
    "503": "OR", "612": "MN", "215": "PA", "704": "NC", "615": "TN", "801": "UT",
}  # fmt: skip
_CA_LOCAL = {
    "416": "ON", "647": "ON", "613": "ON", "604": "BC", "778": "BC",
    "514": "QC", "438": "QC", "403": "AB", "587": "AB", "204": "MB",
}  # fmt: skip
# Toll-free numbers are national, but both providers still report a region (the one they
# were registered in), as Ringyo's own example does for a +1 800 number.
_US_TOLL_FREE = {
    "800": "CA", "833": "NY", "844": "TX", "855": "FL", "866": "IL", "877": "WA", "888": "GA",
}  # fmt: skip

COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        "1",
        50,
        _nanp(_US_LOCAL, 7)
        + tuple(Block("toll_free", p, 7, r, 4) for p, r in _US_TOLL_FREE.items()),
    ),
    Country("CA", "1", 8, _nanp(_CA_LOCAL, 1)),
    Country(
        "GB",
        "44",
        12,
        (
            Block("local", "20", 8, "England", 30),
            Block("local", "161", 7, "England", 8),
            Block("local", "131", 7, "Scotland", 6),
            Block("local", "2920", 6, "Wales", 4),
            Block("mobile", "74", 8, "England", 14),
            Block("mobile", "77", 8, "England", 14),
            Block("mobile", "79", 8, "Scotland", 10),
            Block("toll_free", "800", 7, "England", 8),
        ),
    ),
    Country(
        "DE",
        "49",
        8,
        (
            Block("local", "30", 8, "Berlin", 25),
            Block("local", "89", 8, "Bavaria", 12),
            Block("local", "40", 8, "Hamburg", 10),
            Block("mobile", "151", 8, "Berlin", 18),
            Block("mobile", "157", 8, "Bavaria", 14),
            Block("mobile", "160", 7, "Hesse", 10),
            Block("toll_free", "800", 7, "Hesse", 5),
        ),
    ),
    Country(
        "FR",
        "33",
        6,
        (
            Block("local", "1", 8, "Île-de-France", 30),
            Block("local", "4", 8, "Auvergne-Rhône-Alpes", 15),
            Block("mobile", "6", 8, "Île-de-France", 25),
            Block("mobile", "7", 8, "Provence-Alpes-Côte d'Azur", 20),
            Block("toll_free", "800", 6, "Île-de-France", 5),
        ),
    ),
    Country(
        "IN",
        "91",
        8,
        (
            Block("local", "22", 8, "Maharashtra", 12),
            Block("local", "80", 8, "Karnataka", 10),
            Block("local", "11", 8, "Delhi", 10),
            Block("mobile", "98", 8, "Maharashtra", 25),
            Block("mobile", "97", 8, "Karnataka", 20),
            Block("mobile", "99", 8, "Delhi", 20),
        ),
    ),
    Country(
        "AU",
        "61",
        8,
        (
            Block("local", "2", 8, "NSW", 20),
            Block("local", "3", 8, "VIC", 14),
            Block("local", "7", 8, "QLD", 8),
            Block("mobile", "4", 8, "NSW", 45),
            Block("toll_free", "1800", 6, "NSW", 10),
        ),
    ),
)

# TryVox's price list: (monthly_fee, setup_fee) in USD by (country, type).
FEES: dict[tuple[str, str], tuple[Decimal, Decimal]] = {
    (country, number_type): (Decimal(monthly), Decimal(setup))
    for country, number_type, monthly, setup in (
        ("US", "local", "1.15", "0.00"),
        ("US", "toll_free", "2.00", "1.00"),
        ("CA", "local", "1.15", "0.00"),
        ("GB", "local", "1.50", "0.00"),
        ("GB", "mobile", "3.00", "0.00"),
        ("GB", "toll_free", "2.50", "5.00"),
        ("DE", "local", "2.00", "0.00"),
        ("DE", "mobile", "3.50", "0.00"),
        ("DE", "toll_free", "4.00", "10.00"),
        ("FR", "local", "1.75", "0.00"),
        ("FR", "mobile", "3.25", "0.00"),
        ("FR", "toll_free", "3.75", "5.00"),
        ("IN", "local", "2.50", "0.00"),
        ("IN", "mobile", "3.00", "0.00"),
        ("AU", "local", "2.20", "0.00"),
        ("AU", "mobile", "4.00", "0.00"),
        ("AU", "toll_free", "6.00", "15.00"),
    )
}


def fees_for(country: str, number_type: str) -> tuple[Decimal, Decimal]:
    """TryVox's (monthly, setup) fee for a number; unlisted combinations cost 1.00/0.00."""
    return FEES.get((country, number_type), (Decimal("1.00"), Decimal("0.00")))


class DrawnNumber(NamedTuple):
    """A freshly drawn number with where it is, what kind it is and TryVox's price for it."""

    e164: str
    country: str
    region: str
    number_type: str
    monthly_fee: Decimal
    setup_fee: Decimal


class _Draw(NamedTuple):
    """A block flattened for drawing: `+<code><prefix>` and the range of the digits after."""

    head: str
    country: str
    region: str
    number_type: str
    nanp: bool
    digits: int
    low: int
    span: int
    fees: tuple[Decimal, Decimal]


def _flatten() -> tuple[list[_Draw], list[float]]:
    """Every block with its share of the whole world (country share x block share)."""
    draws, cumulative, total = [], [], 0.0
    for country in COUNTRIES:
        block_total = sum(block.weight for block in country.blocks)
        for block in country.blocks:
            # Local numbers do not start with 0 after the area code.
            low = 10 ** (block.rest - 1) if block.number_type == "local" else 0
            draws.append(
                _Draw(
                    f"+{country.calling_code}{block.prefix}",
                    country.code,
                    block.region,
                    block.number_type,
                    country.calling_code == "1",
                    block.rest,
                    low,
                    10**block.rest - low,
                    fees_for(country.code, block.number_type),
                )
            )
            total += country.weight * block.weight / block_total
            cumulative.append(total)
    return draws, cumulative


_DRAWS, _DRAW_CUMULATIVE = _flatten()


def draw_number(rng: random.Random) -> DrawnNumber:
    """A random plausible number; the caller redraws when it is already taken.

    Hot path (hundreds of thousands per world): one `random()` per choice, no `choices()`.
    """
    draw = _DRAWS[bisect.bisect_right(_DRAW_CUMULATIVE, rng.random() * _DRAW_CUMULATIVE[-1])]
    if draw.nanp:  # NPA NXX XXXX: the exchange starts with 2-9 and is never N11
        exchange = 200 + int(rng.random() * 800)
        if exchange % 100 == 11:
            exchange += 10
        tail = f"{exchange}{int(rng.random() * 10_000):04d}"
    else:
        tail = f"{draw.low + int(rng.random() * draw.span):0{draw.digits}d}"
    monthly, setup = draw.fees
    return DrawnNumber(
        draw.head + tail, draw.country, draw.region, draw.number_type, monthly, setup
    )


def human_format(e164: str) -> str:
    """How a person would write the number: `+1 (415) 555-0100`, `+44 20 7946 0958`.

    Used for the `bad_e164` malformation: not E.164 any more, but every digit is still there.
    """
    digits = e164.removeprefix("+")
    if digits.startswith("1") and len(digits) == 11:
        return f"+1 ({digits[1:4]}) {digits[4:7]}-{digits[7:]}"
    for country in COUNTRIES:
        if digits.startswith(country.calling_code):
            national = digits[len(country.calling_code) :]
            groups = [national[i : i + 4] for i in range(0, len(national), 4)]
            return f"+{country.calling_code} " + " ".join(groups)
    return digits
