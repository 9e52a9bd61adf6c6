"""The compact set of listed keys is exact: it answers like a dict, whatever the keys."""

from __future__ import annotations

import random

import pytest

from syncer.providers.seen import SeenKeys


def test_marks_and_answers_like_a_dict() -> None:
    rng = random.Random(6)
    seen, reference = SeenKeys(), {}
    keys = [f"+1415{rng.randrange(10**7):07d}" for _ in range(20_000)]
    keys += [f"pn_{rng.randrange(16**12):012x}" for _ in range(5_000)]
    keys += ["", "ünïcødé", "a" * 64, "pn_1\x00x", "lone \ud800 surrogate"]
    for listing_pass in (1, 2):
        for key in rng.sample(keys, len(keys)):
            assert seen.mark(key, listing_pass) == reference.get(key)
            reference[key] = listing_pass
    assert len(seen) == len(reference)
    for key in [*keys, "+14150000000x", "absent", "pn_", "+1415"]:
        assert (key in seen) == (key in reference)
        assert seen.get(key) == reference.get(key)


def test_keys_that_are_prefixes_of_others_stay_distinct() -> None:
    seen = SeenKeys()
    assert seen.mark("pn_12", 1) is None
    assert "pn_1" not in seen
    assert "pn_123" not in seen
    assert seen.mark("pn_1", 1) is None
    assert len(seen) == 2


def test_pass_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        SeenKeys().mark("k", 0)
