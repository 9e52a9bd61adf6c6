"""The keys a listing has seen, exactly, in about a quarter of the memory of a dict.

A listing must remember every key it handed over until the release decision: which stored
numbers it saw, and whether an item repeats one already listed. A `dict[str, int]` costs
about 110 bytes per key (the string object and the table entry); a sync of an account with
200,000 numbers would hold 22 MB for it. `SeenKeys` keeps the keys' UTF-8 bytes end to end
in one `bytearray`, the end offsets and pass numbers in arrays, and an open-addressing table
of indexes: about 30 bytes per key, and exact (keys are compared byte for byte, never only
by hash). It is not thread-safe; a listing is iterated by one thread.
"""

from __future__ import annotations

from array import array

_MIN_SLOTS = 1024
_MAX_PASS = 255


class SeenKeys:
    """A map from key (str) to the listing pass that last saw it (1..255)."""

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("I")  # end of key i in _blob; key i starts at _ends[i - 1]
        self._passes = array("B")
        self._slots = array("i", [-1]) * _MIN_SLOTS  # index of a key, or -1 when empty
        self._mask = _MIN_SLOTS - 1

    def __len__(self) -> int:
        return len(self._ends)

    def __contains__(self, key: str) -> bool:
        return self._index(key.encode("utf-8", "surrogatepass"), hash(key))[1] >= 0

    def get(self, key: str) -> int | None:
        """The pass that last saw `key`, or None if no pass did."""
        index = self._index(key.encode("utf-8", "surrogatepass"), hash(key))[1]
        return self._passes[index] if index >= 0 else None

    def mark(self, key: str, listing_pass: int) -> int | None:
        """Record that `listing_pass` saw `key`; returns the pass that saw it before, if any."""
        if not 1 <= listing_pass <= _MAX_PASS:
            raise ValueError(f"pass {listing_pass} out of range 1..{_MAX_PASS}")
        data = key.encode("utf-8", "surrogatepass")
        slot, index = self._index(data, hash(key))
        if index >= 0:
            before = self._passes[index]
            self._passes[index] = listing_pass
            return before
        self._slots[slot] = len(self._ends)
        self._blob += data
        self._ends.append(len(self._blob))
        self._passes.append(listing_pass)
        if 2 * len(self._ends) > len(self._slots):
            self._grow()
        return None

    def _index(self, data: bytes, key_hash: int) -> tuple[int, int]:
        """(slot, index) of the key; index -1 and the free slot to use when it is absent."""
        slots, ends, blob, mask = self._slots, self._ends, self._blob, self._mask
        slot = key_hash & mask
        while True:
            index = slots[slot]
            if index < 0:
                return slot, -1
            end = ends[index]
            start = ends[index - 1] if index else 0
            if end - start == len(data) and blob[start:end] == data:
                return slot, index
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        size = len(self._slots) * 2
        self._slots = array("i", [-1]) * size
        self._mask = size - 1
        blob, ends, slots, mask = self._blob, self._ends, self._slots, self._mask
        start = 0
        for index, end in enumerate(ends):
            slot = hash(blob[start:end].decode("utf-8", "surrogatepass")) & mask
            while slots[slot] >= 0:
                slot = (slot + 1) & mask
            slots[slot] = index
            start = end
