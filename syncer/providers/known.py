"""The fingerprints stored for an account's live numbers, in 17 bytes per number.

A listing checks every item's fingerprint against them, and after a complete listing the ones
never found are the live numbers it may not have shown. A `set[bytes]` of 200,000
fingerprints costs about 20 MB (an object and a hash-table slot each); here they are two
sorted arrays of 64-bit halves and one byte of "found" per fingerprint, searched with the C
`bisect`. Comparisons are exact on all 128 bits.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable

_FINGERPRINT_BYTES = 16


class KnownFingerprints:
    """A fixed set of 16-byte fingerprints, each of which can be found (taken) once."""

    def __init__(self, fingerprints: Iterable[bytes] = ()) -> None:
        """`fingerprints` in any order; in ascending byte order (`ORDER BY` a binary column)
        they are taken as they come, without a sort."""
        self._high = high = array("Q")
        self._low = low = array("Q")
        previous = (-1, -1)
        ordered = True
        for fingerprint in fingerprints:
            if len(fingerprint) != _FINGERPRINT_BYTES:
                raise ValueError("fingerprints are 16 bytes")
            pair = (int.from_bytes(fingerprint[:8], "big"), int.from_bytes(fingerprint[8:], "big"))
            if pair <= previous:
                ordered = False
            previous = pair
            high.append(pair[0])
            low.append(pair[1])
        if not ordered:
            pairs = sorted(set(zip(high, low, strict=True)))
            self._high = array("Q", [pair[0] for pair in pairs])
            self._low = array("Q", [pair[1] for pair in pairs])
        self._taken = bytearray(len(self._high))

    def __len__(self) -> int:
        return len(self._taken)

    def take(self, fingerprint: bytes) -> bool:
        """True the first time `fingerprint` is found among these; False when it is not one
        of them, or was taken before."""
        index = self._index(fingerprint)
        if index < 0 or self._taken[index]:
            return False
        self._taken[index] = 1
        return True

    def discard(self, fingerprint: bytes) -> None:
        """Mark `fingerprint` found, if it is one of these."""
        index = self._index(fingerprint)
        if index >= 0:
            self._taken[index] = 1

    def remaining(self) -> int:
        """How many were never found."""
        return self._taken.count(0)

    def untaken(self) -> set[bytes]:
        """The fingerprints never found."""
        high, low = self._high, self._low
        return {
            high[i].to_bytes(8, "big") + low[i].to_bytes(8, "big")
            for i, taken in enumerate(self._taken)
            if not taken
        }

    def _index(self, fingerprint: bytes) -> int:
        high = int.from_bytes(fingerprint[:8], "big")
        low = int.from_bytes(fingerprint[8:], "big")
        highs, lows = self._high, self._low
        index = bisect_left(highs, high)
        size = len(highs)
        while index < size and highs[index] == high:  # more than one only by a 64-bit fluke
            if lows[index] == low:
                return index
            index += 1
        return -1
