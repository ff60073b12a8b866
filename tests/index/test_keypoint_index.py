"""``KeypointIndex``: the stored sets that share the most descriptors with a query's."""

from __future__ import annotations

import numpy as np

from deepshield.index.keypoint_index import KeypointIndex


def _descriptors(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 32), dtype=np.uint8)


def _flip_bits(descriptors: np.ndarray, bits: int, seed: int) -> np.ndarray:
    noisy = descriptors.copy()
    rng = np.random.default_rng(seed)
    for row in noisy:
        for bit in rng.choice(256, bits, replace=False):
            row[bit // 8] ^= 1 << (bit % 8)
    return noisy


def test_the_set_sharing_most_descriptors_comes_first_and_few_votes_are_dropped():
    index = KeypointIndex()
    assert index.candidates(_descriptors(1, 10), limit=4, min_votes=1) == []  # empty: nothing
    index.add([(7, _descriptors(7, 100)), (8, _descriptors(8, 100)), (9, np.zeros((0, 32), np.uint8))])
    index.add([(11, _descriptors(11, 100))])
    assert len(index) == 300
    # 40 of set 8's descriptors, 20 bits off each (a copy), and 12 of set 11's, 30 bits off.
    query = np.concatenate([_flip_bits(_descriptors(8, 100)[:40], 20, 1),
                            _flip_bits(_descriptors(11, 100)[50:62], 30, 2), _descriptors(99, 50)])
    assert index.candidates(query, limit=4, min_votes=8) == [(8, 40), (11, 12)]
    assert index.candidates(query, limit=1, min_votes=8) == [(8, 40)]
    assert index.candidates(query, limit=4, min_votes=20) == [(8, 40)]
    # Random descriptors are about 128 bits from everything: beyond the match limit, no votes.
    assert index.candidates(_descriptors(98, 200), limit=4, min_votes=1) == []


def test_past_its_flat_size_the_index_becomes_an_inverted_file_and_still_finds_the_set():
    index = KeypointIndex(flat_max=5_000)
    index.add((number, _descriptors(number, 160)) for number in range(30))  # 4,800: still flat
    assert not index.inverted
    index.add((number, _descriptors(number, 160)) for number in range(30, 60))  # 9,600
    assert index.inverted and len(index) == 9_600
    index.add([(60, _descriptors(60, 160))])  # added to the trained file
    for wanted in (3, 45, 60):
        query = np.concatenate([_flip_bits(_descriptors(wanted, 160)[:60], 12, wanted), _descriptors(97, 40)])
        found = index.candidates(query, limit=4, min_votes=8)
        assert found and found[0][0] == wanted and found[0][1] >= 30, found
    assert index.candidates(_descriptors(98, 200), limit=4, min_votes=1) == []
