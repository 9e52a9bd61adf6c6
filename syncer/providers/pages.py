"""A provider's page as it arrived: each item's JSON exactly as sent, its key, the paging.

Comparing before normalising starts here. A page body is decoded once in compiled code
(msgspec) into the raw bytes of each item (`msgspec.Raw`, no parsing of the item itself) and
once more into each item's key field; `fingerprint` then hashes each item's bytes, salted with
everything else the stored state depends on (the mapping's version, a fee schedule). An item
whose fingerprint is stored for the account maps to the state already stored, so it needs no
validation and no write.

A body msgspec cannot read as the expected shape (JSON it refuses, such as a `NaN` the
standard library accepts, or a field of the wrong type) is parsed with the standard library
instead (`parse_float=Decimal`): its items are then `parsed` values, without fingerprints,
validated one by one; the paging fields go through the same checks either way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

# Bump when the mapping from a provider's item to a stored state changes (validation rules,
# normalisation, field choices): every stored fingerprint then misses once, and the items are
# validated and compared by content hash (which alone decides whether a version is written).
MAPPING_VERSION = 1

Envelope = TypeVar("Envelope", bound=msgspec.Struct)


@dataclass(frozen=True)
class RawPage:
    """One page: its items (raw JSON bytes, or parsed values on the slow path) and their keys.

    Both `raw` and `parsed` are None when the body had no `data` list (`is_object`: whether
    the body was a JSON object at all); the provider's paginator says which was wrong.

    `keys[i]` is item i's key field as decoded (any JSON value; None when absent), used only
    to match an unchanged item with the stored number; the mapping decides the real key.
    `fields` holds the paging fields as parsed JSON values.
    """

    raw: Sequence[bytes] | None
    parsed: list[Any] | None
    keys: list[Any]
    fields: dict[str, Any]
    is_object: bool = True

    @property
    def size(self) -> int:
        return len(self.raw) if self.raw is not None else len(self.parsed or ())


class PageDecoder:
    """Decodes a provider's page body: `data` as raw items, `key_field` of each, and the
    paging `fields` (each as parsed JSON); see the module doc for the slow path."""

    def __init__(self, key_field: str, fields: Sequence[str]) -> None:
        self.key_field = key_field
        self.fields = tuple(fields)
        envelope = msgspec.defstruct(
            "Envelope",
            [("data", list[msgspec.Raw]), *((name, Any, None) for name in self.fields)],
        )
        key_item = msgspec.defstruct("KeyItem", [(key_field, Any, None)])
        keys = msgspec.defstruct("Keys", [("data", list[key_item])])  # type: ignore[valid-type]
        self._envelope: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
            envelope, float_hook=Decimal
        )
        self._keys: msgspec.json.Decoder[Any] = msgspec.json.Decoder(keys)

    def decode(self, body: bytes) -> RawPage:
        """The page; raises `ValueError` when the body is not JSON at all."""
        try:
            envelope = self._envelope.decode(body)
            key_items = self._keys.decode(body).data
        except (msgspec.ValidationError, msgspec.DecodeError):
            return self._decode_slowly(body)
        key = self.key_field
        return RawPage(
            raw=envelope.data,
            parsed=None,
            keys=[getattr(item, key) for item in key_items],
            fields={name: getattr(envelope, name) for name in self.fields},
        )

    def _decode_slowly(self, body: bytes) -> RawPage:
        parsed = json.loads(body, parse_float=Decimal, parse_constant=Decimal)
        if not isinstance(parsed, dict):
            return RawPage(None, None, [], {}, is_object=False)
        data = parsed.get("data")
        items = data if isinstance(data, list) else None
        keys = [
            item.get(self.key_field) if isinstance(item, dict) else None for item in items or ()
        ]
        return RawPage(None, items, keys, {name: parsed.get(name) for name in self.fields})


def fingerprinter(*salt: str) -> Callable[[Sequence[bytes]], list[bytes]]:
    """A function giving the 16-byte fingerprint of each raw item, salted with `salt` (the
    provider, the account's fee schedule...) and `MAPPING_VERSION`."""
    key = hashlib.blake2b(
        "\x1f".join([str(MAPPING_VERSION), *salt]).encode(), digest_size=32
    ).digest()
    seed = hashlib.blake2b(key=key, digest_size=16)

    def fingerprints(items: Sequence[bytes]) -> list[bytes]:
        out = []
        for item in items:
            digest = seed.copy()
            digest.update(item)
            out.append(digest.digest())
        return out

    return fingerprints


def compiled(
    decoder: msgspec.json.Decoder[list[Envelope]], items: Sequence[bytes]
) -> list[Envelope]:
    """The items decoded and checked in one call over `[item, item, ...]`; raises
    `msgspec.ValidationError`/`DecodeError` when any one of them does not fit."""
    return decoder.decode(b"[" + b",".join(items) + b"]")


def parse_item(item: bytes) -> Any:
    """One raw item parsed as the slow path parses it (exact Decimals, `NaN` accepted)."""
    return json.loads(bytes(item), parse_float=Decimal, parse_constant=Decimal)


def check_storable(*texts: str | None) -> None:
    """Raise `ValueError` for text a database cannot store (a NUL); the precise path then
    rejects the item with its reason. (A lone surrogate never gets here: msgspec refuses
    the page, which is then read by the standard library.)"""
    for text in texts:
        if text is not None and "\x00" in text:
            raise ValueError("a NUL character")
