"""Rejected items in a form every database stores: nothing a provider sends can fail a page.

A rejected item is kept with its payload as received, but some of what a provider may send
cannot be stored as it is: PostgreSQL refuses NUL in text, no database's UTF-8 holds a lone
UTF-16 surrogate (`"\\ud800"` in JSON without its pair; MariaDB's JSON check refuses it even
escaped), and an absurdly long item would outgrow what one statement may carry. So:

- in the payload, the external id and the reason, each NUL and lone surrogate is replaced by
  its JSON escape written out as text (`\\u0000`, `\\ud800`: six visible characters), and
  the reason says how many were;
- a payload that is JSON `null` (a `null` element in `data`) is stored as JSON `null`, not
  as a missing value;
- a payload of more than `MAX_PAYLOAD_CHARACTERS` of JSON is stored as its first
  `PAYLOAD_HEAD_CHARACTERS` (in `{"truncated_payload": {"characters": N, "head": "..."}}`),
  and the reason says so; the external id is cut to its column's 255 characters;
- any API key in them is scrubbed (`syncer.secrets.scrub`); a payload whose key cannot be
  scrubbed out of it (see there) is withheld.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON

from syncer.records import Rejection
from syncer.secrets import scrub

MAX_PAYLOAD_CHARACTERS = 64 * 1024
PAYLOAD_HEAD_CHARACTERS = 4096
EXTERNAL_ID_LENGTH = 255
MAX_REASON_CHARACTERS = 4000
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class StorableRejection:
    external_id: str | None
    reason: str
    payload: Any


def storable_rejection(rejection: Rejection) -> StorableRejection:
    """The `rejected_records` values of `rejection`, storable on every database."""
    notes: list[str] = []
    escaped = 0
    payload, count = storable_json(rejection.payload)
    escaped += count
    external_id = None
    if rejection.external_id is not None:
        external_id, count = escape_unstorable(scrub(rejection.external_id))
        escaped += count
        external_id = external_id[:EXTERNAL_ID_LENGTH]
    reason, count = escape_unstorable(scrub(rejection.reason))
    escaped += count
    if escaped:
        notes.append(
            f"{escaped} character(s) no database can store (NUL, lone UTF-16 surrogates) "
            "are stored as their \\uXXXX escape written out"
        )
    payload, cut = _bounded(payload)
    if cut:
        notes.append(cut)
    if notes:
        reason = f"{reason} [{'; '.join(notes)}]"
    if len(reason) > MAX_REASON_CHARACTERS:
        reason = reason[: MAX_REASON_CHARACTERS - 1] + "…"
    return StorableRejection(external_id, reason, JSON.NULL if payload is None else payload)


def escape_unstorable(text: str) -> tuple[str, int]:
    """`text` with each NUL and lone surrogate written out as its `\\uXXXX` escape, and how
    many there were."""
    count = 0

    def escape(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"\\u{ord(match[0]):04x}"

    return _UNSTORABLE.sub(escape, text), count


def storable_json(value: Any) -> tuple[Any, int]:
    """A JSON value (as parsed) with every string, keys included, made storable; and how many
    characters were escaped."""
    if isinstance(value, str):
        return escape_unstorable(value)
    if isinstance(value, dict):
        total = 0
        result = {}
        for key, item in value.items():
            safe_key, count = storable_json(str(key))
            safe_item, item_count = storable_json(item)
            result[safe_key] = safe_item
            total += count + item_count
        return result, total
    if isinstance(value, list):
        items = [storable_json(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    return value, 0


def _bounded(payload: Any) -> tuple[Any, str | None]:
    """The payload cut to `MAX_PAYLOAD_CHARACTERS` of JSON and scrubbed of keys (as one JSON
    text: one pass); and a note when it was changed."""
    from syncer.store.engine import dump_json_exact

    text = dump_json_exact(payload)
    if len(text) > MAX_PAYLOAD_CHARACTERS:
        head = scrub(text[:PAYLOAD_HEAD_CHARACTERS])
        note = (
            f"the payload, {len(text)} characters of JSON, is stored cut to its first "
            f"{PAYLOAD_HEAD_CHARACTERS}"
        )
        return {"truncated_payload": {"characters": len(text), "head": head}}, note
    scrubbed = scrub(text)
    if scrubbed == text:
        return payload, None
    try:
        return json.loads(scrubbed, parse_float=Decimal), "an API key in the payload is hidden"
    except ValueError:
        return {"withheld_payload": "it held an API key"}, "the payload held an API key"
