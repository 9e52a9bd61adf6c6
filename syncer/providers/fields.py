"""Validated field types shared by the provider payload models.

Each type checks one documented promise of the providers' pages (an E.164 number, a two-letter
country, a non-negative fee sent as a JSON number, an ISO 8601 time) and nothing more, so a
record that breaks it is rejected with a precise reason instead of stored wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictStr, ValidationError

from syncer.records import MONEY_SCALE

E164 = Annotated[StrictStr, Field(pattern=r"^\+[1-9][0-9]{1,14}$")]
# The same rules for msgspec's compiled checks (Python's `re`: `$` would also match before a
# final newline, so the end is `\Z`). Country and currency are upper-cased after the check,
# which accepts only ASCII letters: stricter than the models, never laxer (an item the
# compiled check refuses takes the precise path).
E164_COMPILED = r"^\+[1-9][0-9]{1,14}\Z"
COUNTRY_COMPILED = r"^[A-Za-z]{2}\Z"
CURRENCY_COMPILED = r"^[A-Za-z]{3}\Z"
Key = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Text = Annotated[StrictStr, Field(max_length=255)]


def _country(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Country = Annotated[StrictStr, BeforeValidator(_country), Field(pattern=r"^[A-Z]{2}$")]
Currency = Annotated[StrictStr, BeforeValidator(_country), Field(pattern=r"^[A-Z]{3}$")]


def _fee(value: Any) -> Any:
    """A fee must arrive as a JSON number (parsed to Decimal or int), never as a string."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValueError(f"must be a JSON number, got {type(value).__name__} {value!r}")
    return Decimal(value)


def check_fee(value: Decimal) -> Decimal:
    """Finite, below a trillion, and no finer than the columns store (so nothing is rounded)."""
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if abs(value) >= MAX_FEE:
        raise ValueError(f"{value} is not a plausible fee")
    if value != value.quantize(Decimal(1).scaleb(-MONEY_SCALE)):
        raise ValueError(f"has more than {MONEY_SCALE} decimal places: {value}")
    return value


MAX_FEE = Decimal(10) ** 12
Fee = Annotated[Decimal, BeforeValidator(_fee), AfterValidator(check_fee), Field(ge=0)]


def parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 string, got {type(value).__name__} {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]


def describe(error: ValidationError) -> str:
    """A rejection reason: every failed field with what was wrong and what was received."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "record"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            parts.append(f"{where}: required field is missing")
        elif item["type"] in ("model_type", "dict_type"):
            parts.append(f"{where}: must be an object, got {_short(item.get('input'))}")
        elif "got" in message:
            parts.append(f"{where}: {message}")
        else:
            parts.append(f"{where}: {message} (got {_short(item.get('input'))})")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"
