"""The keys of numbers, and which stored number a rejected item can be proved to stand for.

A rejected item still protects its number from being released, but only when its key names a
stored number beyond doubt: a near match (the same digits at the end, a number written the
human way) would let one bad item shield another number, or a trailing newline let a stored
number go. So a raw key is read in one way only:

1. Unicode NFKC (full-width `＋４４…` becomes `+44…`; other scripts' digits stay what they are);
2. surrounding whitespace (a trailing newline) is framing and is dropped; nothing inside is;
3. what is left must be a valid key, whole: `+` and 2 to 15 ASCII digits for an E.164
   number (TryVox's key), printable ASCII without spaces, at most 64 characters, for a
   Ringyo `id`.

A rejected item whose key cannot be read this way gets no key, and a listing holding one
releases nothing (see `Listing`). A valid record's key must already be in this form, so a
stored key and a rejected item's key compare as whole strings.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
RINGYO_ID = re.compile(r"[!-~]{1,64}")
# The same rules for pydantic (whose patterns are anchored regexes).
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
RINGYO_ID_PATTERN = r"^[!-~]{1,64}$"


def e164_key(raw: Any) -> str | None:
    """The E.164 number `raw` names beyond doubt (see the module doc), or None."""
    return _read(raw, E164)


def ringyo_id_key(raw: Any) -> str | None:
    """The Ringyo id `raw` names beyond doubt (see the module doc), or None."""
    return _read(raw, RINGYO_ID)


def _read(raw: Any, rule: re.Pattern[str]) -> str | None:
    if not isinstance(raw, str) or len(raw) > 1024:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    return text if rule.fullmatch(text) else None
