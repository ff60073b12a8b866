import numpy as np

from deepshield.index import ExactIndex, PdqIndex


def _random_hashes(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(count)]


def _flip_bits(hex_hash: str, bits: int) -> str:
    value = int(hex_hash, 16)
    for bit in range(bits):
        value ^= 1 << (bit * 7 % 256)
    return f"{value:064x}"


def test_search_is_inclusive_at_the_threshold_and_exclusive_beyond_it():
    index = PdqIndex()
    stored = _random_hashes(1, 1)[0]
    index.add([(7, stored)])
    assert [(h.item_id, h.distance) for h in index.search([_flip_bits(stored, 31)], 31)] == [(7, 31)]
    assert index.search([_flip_bits(stored, 32)], 31) == []


def test_search_returns_exactly_what_brute_force_finds():
    stored = _random_hashes(2000, 2)
    index = PdqIndex()
    index.add(enumerate(stored))
    queries = [_flip_bits(stored[i], i % 40) for i in range(0, 2000, 50)] + _random_hashes(20, 3)
    hits = {(h.query_position, h.item_id, h.distance) for h in index.search(queries, 31)}
    expected = set()
    for position, query in enumerate(queries):
        for item_id, value in enumerate(stored):
            distance = (int(query, 16) ^ int(value, 16)).bit_count()
            if distance <= 31:
                expected.add((position, item_id, distance))
    assert hits == expected
    assert expected  # the planted near-duplicates are there to be found


def test_removed_items_stop_matching_and_readding_an_id_replaces_it():
    first, second = _random_hashes(2, 4)
    index = PdqIndex()
    index.add([(1, first), (2, second)])
    index.remove([1, 99])
    assert len(index) == 1
    assert index.search([first], 31) == []
    index.add([(2, first)])
    assert [(h.item_id, h.distance) for h in index.search([first], 0)] == [(2, 0)]
    assert index.search([second], 31) == []


def test_exact_index_maps_values_to_every_holder_and_forgets_removed_ones():
    index = ExactIndex()
    index.add([(1, "aa"), (2, "aa"), (3, "bb")])
    assert index.lookup("aa") == {1, 2}
    index.remove([1, 3])
    assert index.lookup("aa") == {2}
    assert index.lookup("bb") == set()
    assert len(index) == 1
