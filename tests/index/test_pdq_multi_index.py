import numpy as np
import pytest

from deepshield.errors import InvalidSignal
from deepshield.index import pdq_multi_index as multi_index
from deepshield.index.pdq_multi_index import PdqMultiIndex, pack_hashes, pack_hashes_fast

BYTES = 32


def _random_codes(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 256, (count, BYTES), dtype=np.uint8)


def _flip(code: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    flipped = np.unpackbits(code.copy())
    flipped[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(flipped)


def _hex(code: np.ndarray) -> str:
    return code.tobytes().hex()


def _brute_force(codes: np.ndarray, ids: np.ndarray, query: np.ndarray, threshold: int) -> dict[int, int]:
    distances = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
    return {int(i): int(d) for i, d in zip(ids, distances, strict=True) if d <= threshold}


@pytest.fixture(scope="module")
def planted():
    """20,000 random hashes plus, for each of 40 queries, copies at every distance 0..64."""
    rng = np.random.default_rng(5)
    codes = [_random_codes(rng, 20_000)]
    queries = _random_codes(rng, 40)
    for query in queries:
        codes.append(np.stack([_flip(query, bits, rng) for bits in range(0, 65)]))
    codes = np.concatenate(codes)
    ids = rng.permutation(len(codes)).astype(np.int64) * 3 + 7  # unordered, sparse ids
    return codes, ids, queries


@pytest.fixture(params=["tables-native", "tables-numpy", "scan-native", "scan-numpy"])
def layout(request, monkeypatch):
    """Both ways a base searches: the chunk tables (forced on for this small data) and the scan;
    each in C (the extension) and in numpy (the fallback where it was not built)."""
    shape, implementation = request.param.split("-")
    monkeypatch.setattr(multi_index, "TABLE_MIN_HASHES", 1_000 if shape == "tables" else 10**9)
    if implementation == "numpy":
        monkeypatch.setattr(multi_index, "_search_native", None)
    else:
        assert multi_index._search_native is not None, "the search extension is not built"
    return request.param


@pytest.mark.parametrize("threshold", [0, 10, 31, 40, 47, 60])
def test_search_finds_exactly_what_brute_force_finds(planted, threshold, layout):
    codes, ids, queries = planted
    index = PdqMultiIndex()
    index.bulk_load(ids, codes)
    hits = index.search_packed(queries, threshold)
    for position, query in enumerate(queries):
        found = {h.item_id: h.distance for h in hits if h.query_position == position}
        assert found == _brute_force(codes, ids, query, threshold)
        assert len(found) >= threshold + 1  # the planted copies at 0..threshold


def test_adds_removals_and_replacements_are_visible_at_once_and_survive_compaction(planted, layout):
    codes, ids, queries = planted
    index = PdqMultiIndex()
    index.bulk_load(ids, codes)
    query = queries[0]
    before = _brute_force(codes, ids, query, 31)
    gone = sorted(before)[:5]
    index.remove(gone)
    index.add([(10**9, _hex(query)), (10**9 + 1, _hex(queries[1]))])
    replaced = sorted(before)[5]
    fresh = _random_codes(np.random.default_rng(99), 1)[0]
    index.add([(replaced, _hex(fresh))])  # same id, now another hash
    expected = {k: v for k, v in before.items() if k not in gone and k != replaced} | {10**9: 0}

    def found() -> dict[int, int]:
        return {h.item_id: h.distance for h in index.search([_hex(query)], 31)}

    assert found() == expected
    assert len(index) == len(ids) - 5 + 2 and index.delta_size == 3
    assert replaced in index and gone[0] not in index and 10**9 in index
    index.compact()
    assert index.delta_size == 0 and len(index) == len(ids) - 5 + 2
    assert found() == expected
    assert {h.item_id for h in index.search([_hex(fresh)], 0)} == {replaced}


def test_save_and_memory_mapped_load_round_trip(tmp_path, planted, layout):
    codes, ids, queries = planted
    index = PdqMultiIndex()
    index.bulk_load(ids, codes)
    index.add([(10**9, _hex(queries[3]))])
    index.save(tmp_path / "pdq", {"change_seq": 42})
    loaded, metadata = PdqMultiIndex.load(tmp_path / "pdq")
    assert metadata == {"change_seq": 42} and len(loaded) == len(ids) + 1
    expected = {h.item_id: h.distance for h in index.search_packed(queries, 31)}
    assert {h.item_id: h.distance for h in loaded.search_packed(queries, 31)} == expected
    victim = next(iter(_brute_force(codes, ids, queries[4], 31)))
    loaded.remove([victim])  # the mapped arrays are read-only; removal must still work
    assert victim not in {h.item_id for h in loaded.search_packed(queries[4:5], 31)}
    assert not list(tmp_path.glob("*.tmp-*")) and not list(tmp_path.glob("*.old-*"))


def test_a_directory_that_is_not_an_index_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a saved PDQ index"):
        PdqMultiIndex.load(tmp_path)


def test_bad_arguments_are_refused():
    index = PdqMultiIndex()
    with pytest.raises(ValueError, match="unique"):
        index.bulk_load(np.array([1, 1]), np.zeros((2, BYTES), dtype=np.uint8))
    with pytest.raises(ValueError, match="threshold"):
        index.search_packed(np.zeros((1, BYTES), dtype=np.uint8), 256)
    assert index.search_packed(np.zeros((1, BYTES), dtype=np.uint8), 31) == []
    assert pack_hashes([]).shape == (0, BYTES)


def test_fast_packing_agrees_with_the_validating_parser():
    rng = np.random.default_rng(8)
    hexes = [_hex(code) for code in _random_codes(rng, 50)]
    hexes[3] = hexes[3].upper()
    assert np.array_equal(pack_hashes_fast(hexes), pack_hashes(hexes))
    with pytest.raises(InvalidSignal, match="hex digits"):
        pack_hashes_fast([*hexes[:2], "zz" * 32])


def test_the_development_install_built_the_search_extension():
    # Optional in setup.py so that an install without a compiler works; on a development or CI
    # machine, a missing extension means every lookup silently runs several times slower.
    assert multi_index._search_native is not None, (
        "deepshield.index._pdq_search_native is not built: run `.venv/bin/pip install -e '.[dev]'` "
        "and look for the compiler's error (a C compiler and the Python headers are needed)"
    )
    assert multi_index.SEARCH_IMPLEMENTATION == "native"


@pytest.fixture(scope="module")
def tabled_base():
    """A base over the real table threshold (150,000 hashes), with clusters of near copies: many
    rows reached through several tables, buckets of several rows, and 5,000 copies of one hash
    (buckets larger than the C search's batch of candidates)."""
    rng = np.random.default_rng(11)
    queries = _random_codes(rng, 60)
    near = np.stack([_flip(query, int(bits), rng) for query in queries for bits in rng.integers(0, 40, 30)])
    near = np.concatenate([near, np.repeat(queries[:1], 5_000, axis=0)])
    codes = np.concatenate([_random_codes(rng, 150_000 - len(near)), near])
    ids = rng.permutation(len(codes)).astype(np.int64) + 1
    index = PdqMultiIndex()
    index.bulk_load(ids, codes)
    index.remove(ids[-len(near)::7].tolist())  # tombstones among the near copies
    return index, queries


@pytest.mark.parametrize("threshold", [0, 11, 23, 31, 35, 47, 48, 70])
def test_the_c_search_gives_the_numpy_search_answers_in_the_same_order(tabled_base, threshold):
    index, queries = tabled_base
    base = index._base
    assert base.tabled and base.live < len(base.ids)
    for query in multi_index._as_words(queries):
        ids, distances = base.search_numpy(query, threshold)
        expected = list(zip(ids.tolist(), distances.tolist(), strict=True))
        assert base.search(query, threshold) == expected


def test_the_c_search_reads_ids_past_32_bits():
    rng = np.random.default_rng(12)
    codes = _random_codes(rng, 500)
    ids = np.arange(500, dtype=np.int64) + (1 << 40)
    index = PdqMultiIndex()
    index.bulk_load(ids, codes)
    assert index._base.ids.dtype == np.int64
    hits = index.search_packed(codes[7:8], 0)
    assert [(h.item_id, h.distance) for h in hits] == [((1 << 40) + 7, 0)]


def test_damaged_arrays_are_refused_not_read_past(tabled_base, monkeypatch):
    native = multi_index._search_native
    assert native is not None
    index, queries = tabled_base
    base = index._base
    query = multi_index._as_words(queries[:1])[0]
    arrays = [base.codes, base.ids, base.order, base.starts, base.alive, query]

    def search_with(position: int, replacement: np.ndarray) -> object:
        changed = list(arrays)
        changed[position] = replacement
        return native.search(*changed, 31)

    with pytest.raises(ValueError, match="do not agree"):
        search_with(0, base.codes[:-1])
    with pytest.raises(ValueError, match="do not agree"):
        search_with(4, base.alive[:-1])
    with pytest.raises(ValueError, match="do not agree"):
        search_with(5, query[:3])
    order = base.order.copy()
    order[:, :] = len(base.ids)  # every row number one past the end
    with pytest.raises(ValueError, match="damaged"):
        search_with(2, order)
    starts = base.starts.copy()
    starts[:, 1:] = len(base.ids) + 1
    with pytest.raises(ValueError, match="damaged"):
        search_with(3, starts)
    with pytest.raises(ValueError, match="threshold"):
        native.search(*arrays, 256)
    with pytest.raises(TypeError, match="C-contiguous"):
        search_with(0, base.codes[:, ::2])
