"""Validated field types shared by the provider payload models.

Each type checks one documented promise of the providers' pages (an E.164 number, a two-letter
country, a non-negative fee sent as a JSON number, an ISO 8601 time) and what the database
can store (text no longer than its column, without a NUL or a lone UTF-16 surrogate), so a
record that breaks either is rejected with a precise reason instead of stored wrong, or
failing its whole page in the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictStr, ValidationError

from syncer.providers.keys import E164_PATTERN, RINGYO_ID_PATTERN
from syncer.records import check_fee

# The lengths of the columns the text fields land in (`syncer.store.models`; a test checks).
FRIENDLY_NAME_LENGTH = 255
REGION_LENGTH = 100
NUMBER_TYPE_LENGTH = 32
ASSIGNED_TO_LENGTH = 255


def _storable(value: str) -> str:
    """Text every database can store: PostgreSQL refuses NUL, UTF-8 (all three) a lone
    surrogate (`"\\ud800"` in JSON without its pair)."""
    if "\x00" in value:
        raise ValueError("holds a NUL character, which the database cannot store")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds a lone UTF-16 surrogate, which the database cannot store") from None
    return value


Storable = AfterValidator(_storable)

# The same rules for msgspec's compiled checks (Python's `re`: `$` would also match before a
# final newline, so the end is `\Z`). Country and currency are upper-cased after the check,
# which accepts only ASCII letters; a NUL is looked for after it. Stricter than the models,
# never laxer: an item the compiled check refuses takes the precise path.
E164_COMPILED = E164_PATTERN.removesuffix("$") + "\\Z"
RINGYO_ID_COMPILED = RINGYO_ID_PATTERN.removesuffix("$") + "\\Z"
COUNTRY_COMPILED = r"^[A-Za-z]{2}\Z"
CURRENCY_COMPILED = r"^[A-Za-z]{3}\Z"
E164 = Annotated[StrictStr, Field(pattern=E164_PATTERN)]
Key = Annotated[StrictStr, Field(pattern=RINGYO_ID_PATTERN)]
Text = Annotated[StrictStr, Field(max_length=FRIENDLY_NAME_LENGTH), Storable]
Region = Annotated[StrictStr, Field(max_length=REGION_LENGTH), Storable]
NumberType = Annotated[StrictStr, Field(max_length=NUMBER_TYPE_LENGTH), Storable]
Assignee = Annotated[StrictStr, Field(max_length=ASSIGNED_TO_LENGTH), Storable]


def _country(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Country = Annotated[StrictStr, BeforeValidator(_country), Field(pattern=r"^[A-Z]{2}$")]
Currency = Annotated[StrictStr, BeforeValidator(_country), Field(pattern=r"^[A-Z]{3}$")]


def _fee(value: Any) -> Any:
    """A fee must arrive as a JSON number (parsed to Decimal or int), never as a string."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValueError(f"must be a JSON number, got {type(value).__name__} {value!r}")
    return Decimal(value)


# Finite, non-negative, below `MAX_FEE` and no finer than the columns store: so every
# database keeps it exactly (see `records.check_fee`).
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
