"""Which faults a simulated provider injects, and the spec grammar to ask for them.

Spec grammar (`syncer simulate --faults`, `POST /_sim/faults`): groups separated by `;`,
each `[provider:]key=value,key=value`. A group without a provider applies to both; later
groups override earlier ones for the same key. Example:

    latency_ms=50,rate_limit_every=10;tryvox:drift_after_page=2

Rates are shares between 0 and 1; counts are whole numbers; flags take true/false (or 1/0,
yes/no). An unknown provider or key, or a bad value, raises `ValueError` naming it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from syncer.provider_facts import PROVIDERS

_RATE, _COUNT, _FLAG = "rate", "count", "flag"
# key -> (kind, smallest allowed count, may be unset)
_KEYS: dict[str, tuple[str, int, bool]] = {
    "latency_ms": (_COUNT, 0, False),
    "rate_limit_every": (_COUNT, 1, True),
    "retry_after": (_COUNT, 0, False),
    "error_rate": (_RATE, 0, False),
    "drop_rate": (_RATE, 0, False),
    "truncate_rate": (_RATE, 0, False),
    "drift_after_page": (_COUNT, 1, True),
    "drift_count": (_COUNT, 1, False),
    "cursor_ttl_requests": (_COUNT, 0, True),
    "cursor_expire_once": (_FLAG, 0, False),
    "malformed_rate": (_RATE, 0, False),
    "fail_after": (_COUNT, 0, True),
}
FAULT_KEYS = tuple(_KEYS)
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_UNSET = ("none", "off", "")


@dataclass(frozen=True)
class Faults:
    """The faults of one provider; the defaults inject nothing.

    - `latency_ms`: sleep before answering every API request.
    - `rate_limit_every` N: every Nth authenticated API request gets 429 with
      `Retry-After: retry_after` (seconds), pausing its key. Requests with that key during
      the pause get 429 too; those arriving more than 0.1 s after the 429 was sent (so not
      merely in flight already) are counted as early retries.
    - `error_rate`, `drop_rate`, `truncate_rate`: shares of API requests answered 500/502/503
      (in turn), closed without a response, or answered 200 with the JSON cut in half.
    - `drift_after_page` K, `drift_count` M: once per account, right after serving its page K,
      M new numbers are bought (TryVox lists them first, so later pages shift).
    - `cursor_ttl_requests` N: a Ringyo cursor dies once N more requests of its account have
      arrived after the one that issued it. `cursor_expire_once`: the first cursor-bearing
      request after the faults are set is refused as invalid_cursor.
    - `malformed_rate`: share of records served malformed, chosen per record from the seed.
    - `fail_after` N: every API request after the Nth answers 503.

    Counters (every Nth, after the Nth, once) start when the faults are set.
    """

    latency_ms: int = 0
    rate_limit_every: int | None = None
    retry_after: int = 1
    error_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    drift_after_page: int | None = None
    drift_count: int = 5
    cursor_ttl_requests: int | None = None
    cursor_expire_once: bool = False
    malformed_rate: float = 0.0
    fail_after: int | None = None

    def __post_init__(self) -> None:
        for key, (kind, minimum, optional) in _KEYS.items():
            _check(key, getattr(self, key), kind, minimum, optional)

    def to_spec(self) -> str:
        """The non-default settings in spec form (`""` when nothing is injected)."""
        default = Faults()
        return ",".join(
            f"{key}={_format(getattr(self, key))}"
            for key in _KEYS
            if getattr(self, key) != getattr(default, key)
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def no_faults() -> dict[str, Faults]:
    return {provider: Faults() for provider in PROVIDERS}


def parse_faults(spec: str) -> dict[str, Faults]:
    """Both providers' faults from a spec (see the module doc); a blank spec injects none."""
    settings: dict[str, dict[str, Any]] = {provider: {} for provider in PROVIDERS}
    for group in spec.split(";"):
        providers, body = _split_provider(group)
        for pair in body.split(","):
            if not pair.strip():
                continue
            key, value = _parse_pair(pair)
            for provider in providers:
                settings[provider][key] = value
    return {provider: dataclasses.replace(Faults(), **settings[provider]) for provider in PROVIDERS}


def spec_of(faults: dict[str, Faults]) -> str:
    """A spec that `parse_faults` turns back into `faults`."""
    return ";".join(
        f"{provider}:{faults[provider].to_spec()}"
        for provider in PROVIDERS
        if provider in faults and faults[provider].to_spec()
    )


def _split_provider(group: str) -> tuple[tuple[str, ...], str]:
    head, colon, rest = group.partition(":")
    if not colon or "=" in head:
        return PROVIDERS, group
    provider = head.strip().lower()
    if provider not in PROVIDERS:
        raise ValueError(
            f"unknown provider {provider!r} in fault spec group {group.strip()!r} "
            f"(use {' or '.join(p + ':' for p in PROVIDERS)})"
        )
    return (provider,), rest


def _parse_pair(pair: str) -> tuple[str, Any]:
    key, equals, raw = (part.strip() for part in pair.partition("="))
    if key not in _KEYS:
        raise ValueError(f"unknown fault {key!r}; known faults: {', '.join(_KEYS)}")
    if not equals:
        raise ValueError(f"fault {key!r} needs a value, as in {key}=...")
    kind, minimum, optional = _KEYS[key]
    value = _parse_value(key, raw, kind, minimum, optional)
    _check(key, value, kind, minimum, optional)
    return key, value


def _parse_value(key: str, raw: str, kind: str, minimum: int, optional: bool) -> Any:
    text = raw.lower()
    if optional and text in _UNSET:
        return None
    try:
        if kind == _FLAG:
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError
        return float(raw) if kind == _RATE else int(raw)
    except ValueError:
        raise ValueError(f"fault {key!r} {_expected(kind, minimum)}, got {raw!r}") from None


def _check(key: str, value: Any, kind: str, minimum: int, optional: bool) -> None:
    if value is None and optional:
        return
    if kind == _FLAG:
        valid = isinstance(value, bool)
    elif kind == _RATE:
        valid = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
    else:
        valid = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if not valid:
        raise ValueError(f"fault {key!r} {_expected(kind, minimum)}, got {value!r}")


def _expected(kind: str, minimum: int) -> str:
    if kind == _FLAG:
        return "must be true or false"
    if kind == _RATE:
        return "must be a share between 0 and 1"
    return f"must be a whole number >= {minimum}"


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)
