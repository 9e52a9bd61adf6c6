"""The fingerprints stored for an account's live numbers, each found at most once.

A listing checks every item's fingerprint against them, and after a complete listing the ones
never found are the live numbers it may not have shown. They are kept as one `set` of the
fingerprints not found yet (16-byte `bytes`, compared whole: all 128 bits), from which each
one found is removed: a look-up is one hash probe, and a page whose items are all known (the
common case: nothing changed) is taken in two C calls (`take_all`). A sorted list searched
with `bisect` takes about half the memory but some 15 times the time (each search a chain of
cache misses through 200,000 scattered integers), which an unchanged re-sync pays per item.

The listing takes them as its pages are compared (in the thread that compares ahead) while the
engine discards the ones its writes matched: every change to the set is one atomic step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class KnownFingerprints:
    """A fixed set of 16-byte fingerprints, each of which can be found (taken) once."""

    def __init__(self, fingerprints: Iterable[bytes] = ()) -> None:
        """`fingerprints` in any order (the same one twice counts once)."""
        self._untaken: set[bytes] = {bytes(fingerprint) for fingerprint in fingerprints}
        self._size = len(self._untaken)

    @classmethod
    def adopt(cls, fingerprints: set[bytes]) -> KnownFingerprints:
        """These, keeping `fingerprints` itself (no copy: the caller lets go of the set)."""
        known = cls()
        known._untaken = fingerprints
        known._size = len(fingerprints)
        return known

    def __len__(self) -> int:
        return self._size

    def take(self, fingerprint: bytes) -> bool:
        """True the first time `fingerprint` is found among these; False when it is not one
        of them, or was taken before."""
        try:
            self._untaken.remove(fingerprint)  # one atomic step: `discard` may run meanwhile
        except KeyError:
            return False
        return True

    def take_all(self, fingerprints: Sequence[bytes], eligible: Sequence[bool]) -> list[int]:
        """`take` each eligible fingerprint, in order; returns the indexes of those not taken
        (not eligible, not known, or taken before, also earlier in `fingerprints`): one call
        per page."""
        untaken = self._untaken
        if all(eligible):
            found = untaken.intersection(fingerprints)
            if len(found) == len(fingerprints):  # each known, not taken, and only once here
                untaken.difference_update(found)
                return []
        misses = []
        for index, fingerprint in enumerate(fingerprints):
            if eligible[index]:
                try:
                    untaken.remove(fingerprint)  # atomic, as in `take`
                    continue
                except KeyError:
                    pass
            misses.append(index)
        return misses

    def discard(self, fingerprint: bytes) -> None:
        """Mark `fingerprint` found, if it is one of these."""
        self._untaken.discard(fingerprint)

    def remaining(self) -> int:
        """How many were never found."""
        return len(self._untaken)

    def untaken(self) -> set[bytes]:
        """The fingerprints never found."""
        return set(self._untaken)
