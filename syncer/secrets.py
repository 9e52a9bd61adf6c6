"""The one scrubber: an API key leaves syncer in no form a provider may echo it back in.

Every text that leaves the process or lands in a table passes through `scrub`: log lines,
`sync_runs.error` (and so `status` and `report runs`), error messages on stderr, provider
error bodies. The keys are registered once (`register_secrets`: the sync and the daemon at
start, and every HTTP client for its own key), so no caller has to know which key to hide.

For every registered key, `scrub` replaces with `***`:

- the key itself;
- the key with any of its characters escaped, in any mix: JSON `\\uXXXX` (hex digits in
  either case) and `\\/`, percent-encoding `%XX` (either case; also `%25XX`, encoded twice),
  `+` for a space, HTML `&#NN;` / `&#xHH;`. So a JSON-escaped, a partly or a fully
  percent-encoded key are all found;
- the key in base64, standard or URL-safe, with or without padding, at each of the three
  byte offsets it can start at: so also inside the base64 of `user:key` that HTTP Basic
  auth sends. The whole base64 run holding it is replaced.

A text in which a key still shows once decoded (JSON escapes, percent-encoding, HTML
entities, base64 runs; up to four times over) is replaced whole by `WITHHELD`: the last line of
defence for encodings combined in ways the patterns do not cover.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import threading
from collections.abc import Iterable, Iterator
from urllib.parse import unquote_plus

MASK = "***"
WITHHELD = "[text withheld: it held an API key in an encoded form]"
MIN_SECRET_LENGTH = 4
# The base64 form is looked for only when the part of it fixed by the key alone is this long
# (shorter runs would match ordinary text).
MIN_BASE64_CORE = 8
DECODE_ROUNDS = 4

_lock = threading.Lock()
_secrets: set[str] = set()
# The patterns of the registered keys, compiled at the first text to scrub after a key was
# registered (compiling them takes a tenth of a second or more; a run that goes well may
# never scrub anything): (the keys they cover, spellings, base64 forms).
_Patterns = tuple[frozenset[str], tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]
_compiled: _Patterns = (frozenset(), (), ())

_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_B64_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_=-")
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([\\/\"]))")


def register_secrets(values: Iterable[str]) -> None:
    """Values that must never leave the process, in any form (API keys)."""
    new = {value for value in values if len(value) >= MIN_SECRET_LENGTH} - _secrets
    if not new:
        return
    with _lock:
        _secrets.update(new)


def _patterns() -> _Patterns:
    """The compiled patterns of every key registered so far (keys are only ever added)."""
    global _compiled
    compiled = _compiled
    if len(compiled[0]) == len(_secrets):
        return compiled
    with _lock:
        secrets = frozenset(_secrets)
        if _compiled[0] != secrets:
            # Longest first: a key that contains another is replaced whole.
            ordered = sorted(secrets, key=len, reverse=True)
            _compiled = (
                secrets,
                tuple(re.compile(_spelled(secret)) for secret in ordered),
                tuple(pattern for secret in ordered for pattern in _base64_patterns(secret)),
            )
        return _compiled


def registered() -> frozenset[str]:
    return frozenset(_secrets)


def scrub(text: str) -> str:
    """`text` with every registered key, in every form of the module doc, hidden."""
    if not text or not _secrets:
        return text
    covered, spellings, base64_forms = _patterns()
    for pattern in spellings:
        text = pattern.sub(MASK, text)
    for pattern in base64_forms:
        text = _mask_base64_run(pattern, text)
    secrets = tuple(covered)
    if any(secret in view for view in _decoded_views(text) for secret in secrets):
        return WITHHELD
    return text


# -- the patterns --------------------------------------------------------------------------


def _base64_patterns(secret: str) -> Iterator[re.Pattern[str]]:
    data = secret.encode("utf-8", "surrogatepass")
    cores = {core for offset in range(3) for core in _base64_cores(data, offset)}
    for core in sorted(cores):
        if len(core) >= MIN_BASE64_CORE:
            yield re.compile(_spelled(core))


def _mask_base64_run(pattern: re.Pattern[str], text: str) -> str:
    """`text` with each run of base64 characters that holds a match of `pattern` masked
    whole (its edge characters carry bits of the key too)."""
    parts: list[str] = []
    done = 0
    for match in pattern.finditer(text):
        start, end = match.start(), match.end()
        if start < done:
            continue
        while start > done and text[start - 1] in _B64_CHARACTERS:
            start -= 1
        while end < len(text) and text[end] in _B64_CHARACTERS:
            end += 1
        parts += [text[done:start], MASK]
        done = end
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def _spelled(text: str) -> str:
    """A regex matching `text` with any of its characters escaped (see the module doc)."""
    return "".join(_character(char) for char in text)


def _character(char: str) -> str:
    code = ord(char)
    forms = [re.escape(char)]
    if code <= 0xFFFF:
        forms.append(r"\\u" + _any_case(f"{code:04x}"))
    if char == "/":
        forms.append(r"\\/")
    if char == " ":
        forms.append(r"\+")
    if code < 0x80:
        forms.append("%(?:25)?" + _any_case(f"{code:02x}"))
    forms.append(f"&#0*{code};")
    forms.append("&#[xX]0*" + _any_case(f"{code:x}") + ";")
    return "(?:" + "|".join(forms) + ")"


def _any_case(hex_digits: str) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in hex_digits)


def _base64_cores(data: bytes, offset: int) -> Iterator[str]:
    """The base64 characters fixed by `data` alone when it starts `offset` bytes into a
    3-byte group, whatever comes before or after it (standard and URL-safe alphabets)."""
    encoded = base64.b64encode(bytes(offset) + data).decode("ascii").rstrip("=")
    total = offset + len(data)
    first = (0, 2, 3)[offset]
    last = 4 * (total // 3) + (0, 1, 2)[total % 3]
    core = encoded[first:last]
    yield core
    yield core.translate(str.maketrans("+/", "-_"))


# -- the last line of defence ----------------------------------------------------------------


def _decoded_views(text: str) -> Iterator[str]:
    """`text`, and what it reads as once decoded (JSON escapes, percent, HTML; up to
    `DECODE_ROUNDS` times over), plus every base64 run in those."""
    views = [text]
    current = text
    for _ in range(DECODE_ROUNDS):
        decoded = html.unescape(unquote_plus(_json_unescape(current)))
        if decoded == current:
            break
        views.append(decoded)
        current = decoded
    yield from views
    for view in views:
        for run in _B64_RUN.findall(view):
            plain = _b64decode(run)
            if plain is not None:
                yield plain


def _json_unescape(text: str) -> str:
    return _JSON_ESCAPE.sub(lambda m: m[2] or chr(int(m[1], 16)), text)


def _b64decode(run: str) -> str | None:
    data = run.rstrip("=")
    padded = data + "=" * (-len(data) % 4)
    try:
        raw = base64.b64decode(padded.translate(str.maketrans("-_", "+/")), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("latin-1")
