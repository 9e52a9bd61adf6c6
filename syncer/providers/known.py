"""The fingerprints stored for an account's live numbers, compact and exact.

A listing checks every item's fingerprint against them, and after a complete listing the ones
never found are the live numbers it may not have shown. A `set[bytes]` costs about 120 bytes
a fingerprint (an object and a hash-table slot each); here each is one 128-bit integer in a
sorted list, searched with the C `bisect`, plus one byte saying whether it was found: about
60 bytes, and all 128 bits compared.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

_FINGERPRINT_BYTES = 16


class KnownFingerprints:
    """A fixed set of 16-byte fingerprints, each of which can be found (taken) once."""

    def __init__(self, fingerprints: Iterable[bytes] = ()) -> None:
        """`fingerprints` in any order."""
        values = [int.from_bytes(fingerprint, "big") for fingerprint in fingerprints]
        values.sort()  # in place: no second list of a fingerprint per number
        if any(map(int.__eq__, values, values[1:])):  # the same fingerprint twice
            values = sorted(set(values))
        self._values = values
        self._taken = bytearray(len(values))

    @classmethod
    def from_bytes(cls, packed: bytes | bytearray) -> KnownFingerprints:
        """From fingerprints written end to end (16 bytes each)."""
        if len(packed) % _FINGERPRINT_BYTES:
            raise ValueError("fingerprints are 16 bytes")
        view = memoryview(packed)
        return cls(
            view[start : start + _FINGERPRINT_BYTES].tobytes()
            for start in range(0, len(packed), _FINGERPRINT_BYTES)
        )

    def __len__(self) -> int:
        return len(self._values)

    def take(self, fingerprint: bytes) -> bool:
        """True the first time `fingerprint` is found among these; False when it is not one
        of them, or was taken before."""
        value = int.from_bytes(fingerprint, "big")
        values = self._values
        index = bisect_left(values, value)
        if index == len(values) or values[index] != value or self._taken[index]:
            return False
        self._taken[index] = 1
        return True

    def take_all(self, fingerprints: Sequence[bytes], eligible: Sequence[bool]) -> list[int]:
        """`take` each eligible fingerprint; returns the indexes of those not taken (not
        eligible, not known, or taken before): one call per page."""
        values, taken, size = self._values, self._taken, len(self._values)
        misses = []
        for index, fingerprint in enumerate(fingerprints):
            if eligible[index]:
                value = int.from_bytes(fingerprint, "big")
                found = bisect_left(values, value)
                if found < size and values[found] == value and not taken[found]:
                    taken[found] = 1
                    continue
            misses.append(index)
        return misses

    def discard(self, fingerprint: bytes) -> None:
        """Mark `fingerprint` found, if it is one of these."""
        value = int.from_bytes(fingerprint, "big")
        index = bisect_left(self._values, value)
        if index < len(self._values) and self._values[index] == value:
            self._taken[index] = 1

    def remaining(self) -> int:
        """How many were never found."""
        return self._taken.count(0)

    def untaken(self) -> set[bytes]:
        """The fingerprints never found."""
        return {
            value.to_bytes(_FINGERPRINT_BYTES, "big")
            for value, taken in zip(self._values, self._taken, strict=True)
            if not taken
        }
