"""pydantic's validation errors, read once into plain problems that callers put in words.

The config turns them into "account 'x': key: message" lines; a provider's record into a
rejection reason. Both want the same reading: where (the path of keys), what kind of error,
pydantic's message without its "Value error, " prefix (the text our validators raised), and
the value received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    """One failed field. `kind` is pydantic's error type (`missing`, `extra_forbidden`,
    `literal_error`, `value_error`, ...); `input` is the value received (None when missing)."""

    loc: tuple[int | str, ...]
    kind: str
    message: str
    input: Any = None


def field_problems(error: ValidationError) -> list[Problem]:
    """Every failed field of `error`, in pydantic's order."""
    return [
        Problem(
            loc=tuple(item["loc"]),
            kind=item["type"],
            message=str(item["msg"]).removeprefix("Value error, "),
            input=item.get("input"),
        )
        for item in error.errors(include_url=False)
    ]


def dotted(loc: Sequence[int | str], whole: str) -> str:
    """A path of keys joined with dots (`filters.status`), or `whole` when it is empty."""
    return ".".join(str(part) for part in loc) or whole
