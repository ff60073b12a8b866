"""Benchmark: exact PDQ lookup at 1M and 10M hashes, ours against HMA's index and brute force.

Usage::

    .venv/bin/python bench/pdq_lookup.py [--sizes 1000000,10000000] [--queries 1000]
        [--data random,real] [--methods ours,ours-numpy,faiss-flat,hma] [--json]

Methods, each built and queried in its own fresh process (so its resident memory is its own):

* ``ours`` -- ``deepshield.index.PdqMultiIndex``: multi-index hashing over 12 chunks of 21 bits,
  exact at the threshold, searched by its C extension (``deepshield.index._pdq_search_native``).
  Also measured: save, memory-mapped cold load, and how long an add and a withdrawal take to
  become visible.
* ``ours-numpy`` -- the same index searched by its numpy fallback (an install without a C
  compiler): the before of the extension, side by side.
* ``faiss-flat`` -- faiss ``IndexBinaryFlat`` range search: brute force, exact.
* ``hma`` -- python-threatexchange's ``PDQIndex`` (faiss ``IndexBinaryMultiHash``), the
  index HMA serves from. Bench-only: ``.venv/bin/pip install threatexchange``.

Data, generated from a seed, so every process rebuilds the very same hashes:

* ``random`` -- uniformly random 256-bit hashes.
* ``real`` -- hashes of real photos, which are clustered: PDQ hashes of crops, flips, scales
  and re-encodings of ``shared/data/photos`` (the 8 dihedral hashes of each), then filled up
  to the size by copies of those with 32-96 random bit positions flipped, so the clustering of real
  hashes carries over to millions. Without the shared photos, generated images are used and
  the report says so.

Queries: half are planted -- each has 1-3 copies in the index at random distances 0..31 and one
at 32..40 (must not match) -- and half are fresh, unrelated to anything planted. The ground
truth is faiss's brute-force range search over all queries; recall is the share of true
(query, item) pairs a method returns, and "extra" counts pairs it returns that are not true.

Timing: single-thread (OMP/faiss pinned to 1), one query per call, CPU and wall time per lookup.
"""

from __future__ import annotations

import os

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench_environment import (  # noqa: E402
    cpu_model,
    interpreter,
    package_version,
    shared_data_dir,
    use_checkout_sources,
)

use_checkout_sources()

THRESHOLD = 31
SEED = 20261126
METHODS = ("ours", "ours-numpy", "faiss-flat", "hma")
INSTALL_HMA = ".venv/bin/pip install threatexchange"


# ---------------------------------------------------------------------------- data


def _real_pool(seed: int) -> tuple[np.ndarray, str]:
    """PDQ hashes (dihedral, 8 each) of crops, scales and re-encodings of real photos."""
    import io

    import pdqhash
    from PIL import Image, ImageOps

    photos = shared_data_dir() / "photos"
    paths = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng = np.random.default_rng(seed)
    images: list[Image.Image] = []
    source = f"{len(paths)} photos from {photos}"
    for path in paths:
        try:
            with Image.open(path) as raw:
                image = ImageOps.exif_transpose(raw).convert("RGB")
                image.thumbnail((768, 768))
                images.append(image)
        except Exception:
            continue
    if not images:
        from watermark import generated_image

        images = [Image.fromarray(generated_image(640, 480, seed=i)) for i in range(60)]
        source = f"GENERATED images ({photos} not found)"
    hashes = []
    for image in images:
        w, h = image.size
        for _ in range(8):  # crops at random positions and sizes, some re-encoded
            f = rng.uniform(0.6, 1.0)
            cw, ch = int(w * f), int(h * f)
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            variant = image.crop((x, y, x + cw, y + ch))
            if rng.random() < 0.5:
                buffer = io.BytesIO()
                variant.save(buffer, "JPEG", quality=int(rng.integers(40, 95)))
                variant = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
            vectors, _ = pdqhash.compute_dihedral(np.asarray(variant))
            hashes.extend(np.packbits(np.asarray(v, dtype=np.uint8)) for v in vectors)
    return np.unique(np.stack(hashes), axis=0), f"{len(images)} images: {source}"


def _flip_random_bits(codes: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row of ``codes`` with ``counts[i]`` distinct random bits flipped."""
    out = codes.copy()
    bits = np.unpackbits(out, axis=1)
    for count in np.unique(counts):
        rows = np.flatnonzero(counts == count)
        if count == 0 or not len(rows):
            continue
        # Distinct positions per row: the first ``count`` of a random permutation of 0..255.
        positions = np.argsort(rng.random((len(rows), 256)), axis=1)[:, :count]
        bits[rows[:, None], positions] ^= 1
    return np.packbits(bits, axis=1)


def _flip_about(codes: np.ndarray, low: int, high: int, rng: np.random.Generator) -> np.ndarray:
    """Each row with ``low..high`` random bit positions flipped (a repeat flips once): fast."""
    draws = rng.integers(low, high + 1, len(codes))
    positions = rng.integers(0, 256, (len(codes), high))
    mask = np.zeros((len(codes), 256), dtype=bool)
    rows = np.repeat(np.arange(len(codes)), high).reshape(len(codes), high)
    keep = np.arange(high)[None, :] < draws[:, None]
    mask[rows[keep], positions[keep]] = True
    return codes ^ np.packbits(mask, axis=1)


def load_pool(pool_file: str) -> tuple[np.ndarray, str]:
    with np.load(pool_file) as saved:
        return saved["pool"], str(saved["note"])


def make_data(kind: str, size: int, queries: int, pool_file: str = "") -> dict[str, Any]:
    """Index contents (ids, codes) and queries, identical in every process for the same args."""
    rng = np.random.default_rng([SEED, size, queries, 0 if kind == "random" else 1])
    planted_queries = queries // 2
    if kind == "random":
        base = rng.integers(0, 256, (size, 32), dtype=np.uint8)
        query_codes = rng.integers(0, 256, (queries, 32), dtype=np.uint8)
        note = "uniformly random hashes"
    else:
        pool, note = load_pool(pool_file) if pool_file else _real_pool(SEED)
        picks = rng.integers(0, len(pool), size)
        base = np.empty((size, 32), dtype=np.uint8)
        step = 1_000_000
        for start in range(0, size, step):  # in slices, to bound the unpacked-bits memory
            part = picks[start:start + step]
            base[start:start + len(part)] = _flip_about(pool[part], 32, 96, rng)
        base[: min(len(pool), size)] = pool[: min(len(pool), size)]  # the real hashes themselves
        query_codes = _flip_random_bits(pool[rng.integers(0, len(pool), queries)],
                                        rng.integers(0, 48, queries), rng)
        note = f"real photo hashes ({note}; {len(pool)} distinct) and bit-flipped copies of them"
    # Plant near-duplicates of the first half of the queries at random rows.
    plants = []
    for q in range(planted_queries):
        distances = [*rng.integers(0, THRESHOLD + 1, int(rng.integers(1, 4))), int(rng.integers(32, 41))]
        for distance in distances:
            plants.append((q, distance))
    rows = rng.choice(size, len(plants), replace=False)
    planted = _flip_random_bits(query_codes[[q for q, _ in plants]],
                                np.asarray([d for _, d in plants]), rng)
    base[rows] = planted
    ids = rng.permutation(size).astype(np.int64) + 1  # ids are not in row order
    return {"ids": ids, "codes": base, "queries": query_codes, "note": note}


# ---------------------------------------------------------------------------- methods


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _time_lookups(lookup: Any, queries: np.ndarray) -> tuple[list[set[int]], list[float], list[float]]:
    found, wall, cpu = [], [], []
    for query in queries:
        w0, c0 = time.perf_counter(), time.process_time()
        ids = lookup(query)
        wall.append((time.perf_counter() - w0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        found.append(set(ids))
    return found, wall, cpu


def run_method(method: str, kind: str, size: int, queries: int, pool_file: str, out: str) -> None:
    """In a fresh process: build one method's index, time lookups, write results to ``out``."""
    import faiss

    faiss.omp_set_num_threads(1)
    if method.startswith("ours"):
        from deepshield.index import PdqMultiIndex, pdq_multi_index

        if method == "ours-numpy":
            pdq_multi_index._search_native = None
        elif pdq_multi_index._search_native is None:
            raise SystemExit("the search extension is not built: run `make .venv/.installed`")
    elif method == "hma":
        from threatexchange.signal_type.pdq.pdq_index import PDQIndex
    rss_start = _rss_bytes()  # the interpreter and the method's libraries
    data = make_data(kind, size, queries, pool_file)
    ids, codes, query_codes = data["ids"], data["codes"], data["queries"]
    result: dict[str, Any] = {"method": method}
    t0 = time.perf_counter()
    if method.startswith("ours"):
        index = PdqMultiIndex()
        index.bulk_load(ids, codes)

        def lookup(query: np.ndarray) -> list[int]:
            return [hit.item_id for hit in index.search_packed(query[None, :], THRESHOLD)]
    elif method == "faiss-flat":
        flat = faiss.IndexBinaryFlat(256)
        flat.add(codes)

        def lookup(query: np.ndarray) -> list[int]:
            _, _, labels = flat.range_search(query[None, :], THRESHOLD + 1)
            return ids[labels].tolist()
    else:
        hexes = [row.tobytes().hex() for row in codes]
        hma = PDQIndex(zip(hexes, ids.tolist(), strict=True))
        del hexes

        def lookup(query: np.ndarray) -> list[int]:
            return [m.metadata for m in hma.query(query.tobytes().hex())]
    result["build_s"] = time.perf_counter() - t0
    # What stays resident once the generated input is dropped: the index, plus the harness's
    # queries and (for faiss-flat, which stores no ids) the id column.
    del codes
    data["codes"] = None
    if method != "faiss-flat":
        del ids
        data["ids"] = None
    result["index_rss_bytes"] = _rss_bytes() - rss_start
    result["process_rss_bytes"] = _rss_bytes()
    lookup(query_codes[0])  # warm-up
    found, wall, cpu = _time_lookups(lookup, query_codes)
    result.update(found=[sorted(f) for f in found], wall_ms=wall, cpu_ms=cpu,
                  peak_rss_bytes=_peak_rss_bytes())
    if method == "ours":
        result.update(_ours_extras(index, query_codes))
    Path(out).write_text(json.dumps(result))


def _ours_extras(index: Any, query_codes: np.ndarray) -> dict[str, Any]:
    """Save, memory-mapped cold load, and add/withdraw-to-visible for our index."""
    from deepshield.index import PdqMultiIndex

    extras: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        t0 = time.perf_counter()
        index.save(Path(tmp) / "pdq", {"change_seq": 0})
        extras["save_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded, _ = PdqMultiIndex.load(Path(tmp) / "pdq")
        loaded.search_packed(query_codes[:1], THRESHOLD)
        extras["mmap_load_and_first_query_s"] = time.perf_counter() - t0
        del loaded
    # Add, then withdraw, one new hash: time until a lookup sees it (and then stops seeing it).
    query = query_codes[-1]
    t0 = time.perf_counter()
    index.add([(-1, query.tobytes().hex())])
    visible = any(h.item_id == -1 for h in index.search_packed(query[None, :], THRESHOLD))
    extras["add_to_visible_ms"] = (time.perf_counter() - t0) * 1e3 if visible else None
    t0 = time.perf_counter()
    index.remove([-1])
    gone = not any(h.item_id == -1 for h in index.search_packed(query[None, :], THRESHOLD))
    extras["withdraw_to_invisible_ms"] = (time.perf_counter() - t0) * 1e3 if gone else None
    extras["index_array_bytes"] = index.memory_bytes()
    return extras


def ground_truth(kind: str, size: int, queries: int, pool_file: str) -> tuple[list[set[int]], str]:
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    data = make_data(kind, size, queries, pool_file)
    flat = faiss.IndexBinaryFlat(256)
    flat.add(data["codes"])
    limits, _, labels = flat.range_search(data["queries"], THRESHOLD + 1)
    ids = data["ids"]
    return [set(ids[labels[limits[i]:limits[i + 1]]].tolist()) for i in range(queries)], data["note"]


# ---------------------------------------------------------------------------- driver


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def measure(kind: str, size: int, queries: int, methods: list[str], pool_file: str) -> dict[str, Any]:
    truth, note = ground_truth(kind, size, queries, pool_file)
    true_pairs = sum(len(t) for t in truth)
    report: dict[str, Any] = {"data": kind, "size": size, "queries": queries, "note": note,
                              "true_pairs": true_pairs, "methods": {}}
    context = multiprocessing.get_context("spawn")
    for method in methods:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            out = handle.name
        print(f"  {kind} {size:,}: {method} ...", file=sys.stderr, flush=True)
        process = context.Process(target=run_method, args=(method, kind, size, queries, pool_file, out))
        process.start()
        process.join()
        if process.exitcode != 0:
            report["methods"][method] = {"error": f"exit code {process.exitcode}"}
            continue
        result = json.loads(Path(out).read_text())
        Path(out).unlink()
        found = [set(f) for f in result.pop("found")]
        hits = sum(len(f & t) for f, t in zip(found, truth, strict=True))
        extra = sum(len(f - t) for f, t in zip(found, truth, strict=True))
        wall, cpu = result.pop("wall_ms"), result.pop("cpu_ms")
        result.update(
            recall=hits / true_pairs if true_pairs else 1.0, extra_pairs=extra,
            median_ms=_percentile(cpu, 50), p99_ms=_percentile(cpu, 99),
            wall_median_ms=_percentile(wall, 50), wall_p99_ms=_percentile(wall, 99),
        )
        report["methods"][method] = result
    flat = report["methods"].get("faiss-flat", {})
    for result in report["methods"].values():
        if "median_ms" in result and flat.get("median_ms"):
            result["speedup_vs_flat"] = flat["median_ms"] / result["median_ms"]
    ours, fallback = report["methods"].get("ours", {}), report["methods"].get("ours-numpy", {})
    if ours.get("median_ms") and fallback.get("median_ms"):
        ours["speedup_vs_numpy"] = fallback["median_ms"] / ours["median_ms"]
    return report


def _available(methods: list[str]) -> tuple[list[str], dict[str, str]]:
    kept, skipped = [], {}
    for method in methods:
        if method == "hma":
            try:
                import threatexchange  # noqa: F401
            except ImportError:
                skipped[method] = f"python-threatexchange is not installed ({INSTALL_HMA})"
                continue
        kept.append(method)
    return kept, skipped


def print_report(report: dict[str, Any]) -> None:
    print(f"# PDQ lookup at ≤{THRESHOLD}, one core  ({report['date_utc']}, {report['machine']['cpu']})")
    for skipped, why in report["skipped"].items():
        print(f"skipped {skipped}: {why}")
    for run in report["runs"]:
        print(f"\n## {run['data']} data, {run['size']:,} hashes, {run['queries']} queries "
              f"({run['true_pairs']} true pairs); {run['note']}")
        print("| method | recall | extra | median ms | p99 ms | × flat | build s | index RSS MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in run["methods"].items():
            if "error" in r:
                print(f"| {name} | {r['error']} |||||||")
                continue
            print(f"| {name} | {r['recall']:.4f} | {r['extra_pairs']} | {r['median_ms']:.2f} | "
                  f"{r['p99_ms']:.2f} | {r.get('speedup_vs_flat', float('nan')):.1f} | "
                  f"{r['build_s']:.1f} | {r['index_rss_bytes'] / 1e6:.0f} |")
        ours = run["methods"].get("ours", {})
        if "speedup_vs_numpy" in ours:
            print(f"ours (C search) against ours-numpy (the fallback): "
                  f"{ours['speedup_vs_numpy']:.1f}x at the median")
        if "save_s" in ours:
            print(f"ours: arrays {ours['index_array_bytes'] / 1e6:.0f} MB, process peak "
                  f"{ours['peak_rss_bytes'] / 1e6:.0f} MB; save {ours['save_s']:.1f} s, mmap load + first "
                  f"query {ours['mmap_load_and_first_query_s']:.2f} s; add→visible "
                  f"{ours['add_to_visible_ms']:.2f} ms, "
                  f"withdraw→gone {ours['withdraw_to_invisible_ms']:.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--data", default="random,real")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    methods, skipped = _available([m for m in args.methods.split(",") if m])
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods: {', '.join(unknown)}")
    report: dict[str, Any] = {
        "benchmark": "pdq-lookup",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "faiss": package_version("faiss-cpu"), "numpy": np.__version__,
                    "threatexchange": package_version("threatexchange"), "threads": THREAD_ENV},
        "skipped": skipped,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        pool_file = ""
        if "real" in args.data.split(","):
            print("hashing crops and variants of the real photos ...", file=sys.stderr, flush=True)
            pool, note = _real_pool(SEED)
            pool_file = str(Path(tmp) / "pool.npz")
            np.savez(pool_file, pool=pool, note=np.asarray(note))
        for kind in args.data.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                report["runs"].append(measure(kind, size, args.queries, methods, pool_file))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
