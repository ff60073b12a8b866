"""Benchmark: finding the source of a suspect file in the reference library (``find_sources``, issue 16).

Usage::

    .venv/bin/python bench/source_search.py [--split evaluation|tuning] [--count 60] [--unrelated 240]
        [--jobs 2] [--json OUT]

A real installation in a temporary ``$DEEPSHIELD_HOME`` (SQLite), set up as an operator would:
a bank ``reference-library`` named by ``Settings.sources.reference_banks``, and a temporary
reference-library folder (``Settings.sources.library``) holding ``--count`` source pictures of the
split (two thirds photos of ``shared/data/photos``, one identity each, one third LFW portraits of
``shared/data/faces/real``; evenly spread over the sorted lists), each written there as a PNG of the
pixels ``bench/forensics.py``'s ``load`` gives and banked with its hash set under its file name, as
``deepshield bank add reference-library FILE --case NAME --hash-set`` does (``hash_file``,
``banks.signals_of_media``, ``banks.add_signals``). Every third source is also registered in the
content registry (``content_registry.register_media``, its own item id).

The suspects are made with ``bench/forensics.py``'s functions and reposted by its ``repost``:
*typical* (a crop keeping 90-100 % of each side, scale 0.5-0.9, a tone change, JPEG 60-85) or
*harsh* (scale 0.3-0.5, JPEG 35-55), one in five mirrored; the JPEG file itself is searched:

* **photos, region replaced**: each library photo with an ellipse cut from another library photo
  (``region_edit``; feathered or Poisson-blended, in turn), then a typical and a harsh repost;
* **portraits, face replaced**: each library portrait with the face of another library portrait
  (``face_edit``), the same way. The pasted-in picture (the donor) is in the library too: it may
  rightly be a candidate, and is counted apart;
* **unedited reposts**: a typical repost of each source;
* **exact copies**: the registered sources' own files (digests; library and registry);
* **unrelated**: a repost of pictures not in the library: the rest of the split, then pictures of
  the other split (never one sharing an identity with a source). Any candidate is false.

Each suspect is searched twice, with an admin principal, on the same store and matcher: once
without the library folder (``sources.library`` unset: no reference file is reachable, so only
the matcher's hashes search it, exact digests and PDQ with every query form: the anchor, "PDQ
path") and once with it (hashes and ORB local features). Reported per group: whether the true
source is a candidate on each path and which signal found it in the full search, its rank, the
donor and any other candidates, the registry's finds; CPU time per search (``process_time``; one
thread) on each path, and their paired difference (what the features add). The feature index is
read on a first warm-up search, timed apart. A default run (60 sources, 440 suspects) takes about
40 s on 2 cores; the feature search's cost grows with the library (a brute-force index).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_environment import pin_one_thread, use_checkout_sources

THREAD_ENV = pin_one_thread()  # before numpy or OpenCV load
use_checkout_sources()

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections import Counter  # noqa: E402
from multiprocessing import Pool  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import forensics  # noqa: E402
from bench_environment import cpu_model, interpreter, print_results_table  # noqa: E402
from deepshield.errors import DeepShieldError  # noqa: E402
from deepshield.services.access import Principal, Role  # noqa: E402
from deepshield.services.context import ServiceContext  # noqa: E402
from deepshield.services.spread import banks as bank_service  # noqa: E402
from deepshield.services.spread import content_registry  # noqa: E402
from deepshield.services.spread.hashing import hash_file  # noqa: E402
from deepshield.services.verify import source_search  # noqa: E402
from deepshield.settings import Settings, SourceSettings  # noqa: E402

cv2.setNumThreads(1)
OPERATOR = Principal("bench:source_search", Role.ADMIN)
BANK = "reference-library"
HASH_SIGNALS = {"md5", "sha256", "pdq", "vpdq"}
#: Every REGISTER_EVERY-th library source is also registered in the content registry.
REGISTER_EVERY = 3
EDITED = {"photos": "photos, region replaced", "faces": "portraits, face replaced"}
UNEDITED = {"photos": "photos, unedited repost", "faces": "portraits, unedited repost"}
GROUPS = (f"{EDITED['photos']}, typical", f"{EDITED['photos']}, harsh", f"{EDITED['faces']}, typical",
          f"{EDITED['faces']}, harsh", UNEDITED["photos"], UNEDITED["faces"], "exact copies (registered)",
          "unrelated (not in library)")
#: Rows adding up groups: (title, the groups' common start or end).
TOTALS = ((f"{EDITED['photos']}, all", EDITED["photos"]), (f"{EDITED['faces']}, all", EDITED["faces"]),
          ("unedited reposts, all", "unedited repost"))


# ------------------------------------------------------------------------------------- the set


def reference_name(family: str, index: int, path: str) -> str:
    """The source's file name in the library, also its case reference (letters, digits, _ . / -)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(path).stem)[:60]
    return f"{family}/{index:03d}-{stem}.png"


def spread(items: list[Any], count: int) -> list[Any]:
    if count >= len(items):
        return list(items)
    return [items[i] for i in sorted(set(np.linspace(0, len(items) - 1, count).round().astype(int)))]


def one_per_identity(paths: list[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for path in paths:
        if forensics.identity(path) not in seen:
            seen.add(forensics.identity(path))
            kept.append(path)
    return kept


def choose(split: str, count: int, unrelated: int
           ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], Counter]:
    """(family, path) of the library's sources and of the unrelated pictures, and where those came from."""
    photos, faces = forensics.pictures(split)
    n_photos = round(count * 2 / 3)
    library = [("photos", p) for p in spread(one_per_identity(photos), n_photos)]
    library += [("faces", f) for f in spread(faces, count - len(library))]
    taken = {forensics.identity(path) for _, path in library}
    other_split = "tuning" if split == "evaluation" else "evaluation"
    other_photos, other_faces = forensics.pictures(other_split)
    rest = [("photos", p) for p in photos if forensics.identity(p) not in taken]
    rest += [("faces", f) for f in faces if forensics.identity(f) not in taken]
    others = [("photos", p) for p in other_photos] + [("faces", f) for f in other_faces]
    others = [item for item in others if forensics.identity(item[1]) not in taken]
    chosen = rest[:unrelated]
    if len(chosen) < unrelated:
        chosen += [others[i] for i in spread(list(range(len(others))), unrelated - len(chosen))]
    origin = Counter(split if forensics.split_of(path) == split else other_split for _, path in chosen)
    return library, chosen, origin


def jobs_for(library: list[tuple[str, str, str]], unrelated: list[tuple[str, str]]) -> list[dict]:
    """One job per suspect: ``library`` holds (family, path, reference name)."""
    jobs: list[dict] = []
    for family in ("photos", "faces"):
        members = [(path, name) for fam, path, name in library if fam == family]
        for index, (path, name) in enumerate(members):
            others = [m for m in members if forensics.identity(m[0]) != forensics.identity(path)]
            donor_path, donor_name = others[(index + index % 7) % len(others)] if others else (None, None)
            seed = zlib.crc32(path.encode())
            if donor_path is not None:
                for strength in ("typical", "harsh"):
                    jobs.append({"group": f"{EDITED[family]}, {strength}", "family": family, "path": path,
                                 "source": name, "donor_path": donor_path, "donor": donor_name,
                                 "blend": ("feathered", "poisson")[index % 2], "harsh": strength == "harsh",
                                 "seed": [seed, 1, len(jobs)]})
            jobs.append({"group": UNEDITED[family], "family": family, "path": path, "source": name,
                         "seed": [seed, 2, len(jobs)]})
    for count, (family, path) in enumerate(unrelated):
        jobs.append({"group": "unrelated (not in library)", "family": family, "path": path, "source": None,
                     "seed": [16, count]})
    return jobs


def reposted_jpeg(rgb: np.ndarray, rng: np.random.Generator, harsh: bool) -> bytes:
    """``forensics.repost`` of ``rgb``: the JPEG file it encodes, not its decoded pixels."""
    encoded: list[bytes] = []
    plain = forensics.jpeg

    def capture(pixels: np.ndarray, quality: int) -> np.ndarray:
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]),
                                [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        encoded.append(data.tobytes())
        return plain(pixels, quality)

    forensics.jpeg = capture
    try:
        forensics.repost(rgb, np.zeros(rgb.shape[:2], np.uint8), rng, harsh=harsh)
    finally:
        forensics.jpeg = plain
    return encoded[-1]


def build(job: dict) -> bytes:
    rng = np.random.default_rng(job["seed"])
    picture = forensics.load(job["path"])
    if "donor_path" in job:
        edit = forensics.face_edit if job["family"] == "faces" else forensics.region_edit
        picture, _ = edit(picture, forensics.load(job["donor_path"]), rng, job["blend"])
    return reposted_jpeg(picture, rng, job.get("harsh", False))


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    assert ok
    path.write_bytes(data.tobytes())


# ----------------------------------------------------------------------------------- the store


def bank_library(ctx: ServiceContext, folder: Path, chosen: list[tuple[str, str]]
                 ) -> tuple[list[tuple[str, str, str]], dict[str, str], list[str]]:
    """Write and bank each source; (family, path, name) of those banked, registry item ids by
    name, and the refusals."""
    bank_service.create_bank(ctx, BANK, "benchmark: known source pictures", OPERATOR)
    banked, items, refused = [], {}, []
    for index, (family, path) in enumerate(chosen):
        name = reference_name(family, index, path)
        file = folder / name
        write_png(file, forensics.load(path))
        try:
            media = hash_file(file, ctx.settings.limits, hash_set=True,
                              seconds_per_video_hash=ctx.settings.seconds_per_video_hash)
            signals = bank_service.signals_of_media(media, ctx.settings.match.pdq_min_quality)
            bank_service.add_signals(ctx, BANK, signals, origin=bank_service.Origin.HELPLINE, case_ref=name,
                                     principal=OPERATOR)
        except DeepShieldError as error:
            refused.append(f"{name}: {error.detail}")
            file.unlink()
            continue
        banked.append((family, path, name))
        if len(banked) % REGISTER_EVERY == 1:
            item_id = f"item-{index:04d}"
            content_registry.register_media(ctx, item_id, file.read_bytes(), OPERATOR)
            items[name] = item_id
    return banked, items, refused


def search(ctx: ServiceContext, data: bytes) -> tuple[source_search.SourceSearch | None, float, str | None]:
    start = time.process_time()
    try:
        found = source_search.find_sources(ctx, data, principal=OPERATOR, limit=source_search.MAX_CANDIDATES)
    except DeepShieldError as error:
        return None, time.process_time() - start, error.detail
    return found, time.process_time() - start, None


def judge(job: dict, found: source_search.SourceSearch | None, item_of: dict[str, str]) -> dict:
    """Where the true source (its library reference, or its registry item) ranks, by which signals,
    and which other candidates came."""
    source, item, donor = job["source"], item_of.get(job["source"] or ""), job.get("donor")
    donor_item = item_of.get(donor or "")
    out: dict[str, Any] = {"rank": None, "signals": [], "registry": False, "donor": False, "others": []}
    for candidate in found.candidates if found else ():
        if candidate.corpus == source_search.REFERENCE_LIBRARY and candidate.reference == source:
            out["signals"] = sorted({s.signal for s in candidate.signals})
            out["inliers"] = max((s.inliers or 0 for s in candidate.signals), default=0)
        elif candidate.corpus == source_search.CONTENT_REGISTRY and item is not None \
                and candidate.item_id == item:
            out["registry"] = True
        elif (candidate.corpus == source_search.REFERENCE_LIBRARY and donor is not None
              and candidate.reference == donor) \
                or (donor_item is not None and candidate.item_id == donor_item):
            out["donor"] = True
            continue
        else:
            out["others"].append(candidate.reference or f"registry:{candidate.item_id}")
            continue
        out["rank"] = candidate.rank if out["rank"] is None else min(out["rank"], candidate.rank)
    out["found"] = bool(out["signals"])
    out["by_hash"] = bool(HASH_SIGNALS & set(out["signals"]))
    out["by_features"] = "keypoints" in out["signals"]
    return out


# ----------------------------------------------------------------------------------- reporting


def summarise(records: list[dict]) -> dict:
    summary: dict[str, dict] = {}
    totals = dict(TOTALS)
    for group in (*GROUPS, *totals):
        part = totals.get(group)
        items = [r for r in records if r["group"] == group
                 or (part is not None and (r["group"].startswith(part) or r["group"].endswith(part)))]
        if not items:
            continue
        related = items[0]["source"] is not None
        ranks = [r["full"]["rank"] for r in items if r["full"]["rank"] is not None]
        registered = [r for r in items if r["registered"]]
        inliers = [r["full"]["inliers"] for r in items if r["full"].get("inliers")]
        summary[group] = {
            "suspects": len(items),
            "errors": sum(r["error"] is not None for r in items),
            "pdq_path": sum(r["pdq"]["found"] for r in items) if related else None,
            "features": sum(r["full"]["by_features"] for r in items) if related else None,
            "hash_in_full": sum(r["full"]["by_hash"] for r in items) if related else None,
            "either": sum(r["full"]["found"] for r in items) if related else None,
            "features_only": sum(r["full"]["by_features"] and not r["full"]["by_hash"] for r in items)
            if related else None,
            "rank_1": sum(rank == 1 for rank in ranks) if related else None,
            "top_5": sum(rank <= source_search.DEFAULT_CANDIDATES for rank in ranks) if related else None,
            "donor": sum(r["full"]["donor"] for r in items),
            "false_pdq": sum(bool(r["pdq"]["others"]) for r in items),
            "false_full": sum(bool(r["full"]["others"]) for r in items),
            "false_candidates_full": sum(len(r["full"]["others"]) for r in items),
            "registered": len(registered),
            "registry_found": sum(r["full"]["registry"] for r in registered),
            "median_inliers": float(np.median(inliers)) if inliers else None,
        }
    return summary


def ms(values: list[float]) -> dict:
    array = 1000 * np.asarray(values)
    return {"median": float(np.median(array)), "p95": float(np.percentile(array, 95)), "n": len(values)}


def print_table(summary: dict, head: list[str], footer: list[str]) -> None:
    def fraction(found: int | None, total: int) -> str | None:
        return None if found is None else f"{found}/{total}"

    rows = []
    for group, entry in summary.items():
        n = entry["suspects"]
        rows.append({"group": group, "n": n,
                     "pdq": fraction(entry["pdq_path"], n), "features": fraction(entry["features"], n),
                     "only": fraction(entry["features_only"], n),
                     "either": fraction(entry["either"], n), "rank1": fraction(entry["rank_1"], n),
                     "inliers": entry["median_inliers"],
                     "donor": entry["donor"] if "replaced" in group else None,
                     "false": f"{entry['false_pdq']} / {entry['false_full']}",
                     "registry": fraction(entry["registry_found"], entry["registered"])
                     if entry["registered"] else None})
    cols = [("suspects", "group", "{}"), ("n", "n", "{}"), ("PDQ path", "pdq", "{}"),
            ("features", "features", "{}"), ("feat. only", "only", "{}"), ("either", "either", "{}"),
            ("rank 1", "rank1", "{}"), ("inliers", "inliers", "{:.0f}"), ("donor", "donor", "{}"),
            ("false PDQ/full", "false", "{}"), ("registry", "registry", "{}")]
    print_results_table(head, cols, rows, title="find_sources: is the true source a candidate?",
                        left=("suspects",), width=160, footer=footer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("evaluation", "tuning"), default="evaluation")
    parser.add_argument("--count", type=int, default=60,
                        help="source pictures in the library (60: 40 photos, 20 portraits); 3 suspects each")
    parser.add_argument("--unrelated", type=int, default=240, help="unrelated pictures searched (240)")
    parser.add_argument("--jobs", type=int, default=2, help="processes that make the suspects (2)")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    began = time.perf_counter()
    load_before = os.getloadavg()
    head = [f"{cpu_model()}, {os.cpu_count()} CPUs; {interpreter()}, OpenCV {cv2.__version__}; "
            f"split {args.split}; threads {THREAD_ENV['OMP_NUM_THREADS']}; load average at start "
            f"{load_before[0]:.2f}"]

    chosen, unrelated, unrelated_origin = choose(args.split, args.count, args.unrelated)
    with tempfile.TemporaryDirectory(prefix="ds-bench-source_search-") as temp:
        home, folder = Path(temp) / "home", Path(temp) / "library"
        home.mkdir()
        folder.mkdir()
        settings = Settings(home=home, sources=SourceSettings(reference_banks=(BANK,), library=folder))
        ctx = ServiceContext.open(settings)
        # The anchor: the same store and matcher, no reachable reference file (hashes only).
        pdq_ctx = ServiceContext(settings=settings.with_overrides(sources=SourceSettings(
            reference_banks=(BANK,), library=None)), store=ctx.store, matcher=ctx.matcher)
        try:
            start = time.perf_counter()
            library, item_of, refused = bank_library(ctx, folder, chosen)
            banking_s = time.perf_counter() - start
            jobs = jobs_for(library, unrelated)
            start = time.perf_counter()
            with Pool(args.jobs) as pool:
                suspects = pool.map(build, jobs, chunksize=4)
            building_s = time.perf_counter() - start
            for family, _path, name in library:
                if name in item_of:
                    jobs.append({"group": "exact copies (registered)", "family": family, "source": name})
                    suspects.append((folder / name).read_bytes())

            # Warm-up: the first full search reads every reference file into the feature index.
            start, cpu = time.perf_counter(), time.process_time()
            warm = [search(ctx, suspects[-1])[0]]
            while warm[-1] is not None and not warm[-1].features_complete and len(warm) < 20:
                warm.append(search(ctx, suspects[-1])[0])
            index_s, index_cpu_s = time.perf_counter() - start, time.process_time() - cpu
            search(pdq_ctx, suspects[-1])
            indexed = len(source_search.reference_features(ctx))

            records = []
            times: dict[str, list[float]] = {"pdq": [], "full": [], "features_added": []}
            start = time.perf_counter()
            for number, (job, data) in enumerate(zip(jobs, suspects, strict=True)):
                runs = {}
                for path_name in (("pdq", "full") if number % 2 == 0 else ("full", "pdq")):
                    runs[path_name] = search(pdq_ctx if path_name == "pdq" else ctx, data)
                error = runs["full"][2] or runs["pdq"][2]
                if error is None:
                    times["pdq"].append(runs["pdq"][1])
                    times["full"].append(runs["full"][1])
                    times["features_added"].append(runs["full"][1] - runs["pdq"][1])
                records.append({"group": job["group"], "family": job["family"], "source": job["source"],
                                "picture": job.get("path"), "donor": job.get("donor"), "bytes": len(data),
                                "registered": job["source"] in item_of, "error": error,
                                "features_complete": bool(runs["full"][0]
                                                          and runs["full"][0].features_complete),
                                "pdq": judge(job, runs["pdq"][0], item_of),
                                "full": judge(job, runs["full"][0], item_of)})
            searching_s = time.perf_counter() - start
        finally:
            pdq_ctx.read_audit.close()
            ctx.close()

    summary = summarise(records)
    timing = {name: ms(values) for name, values in times.items()}
    mismatch = sum(r["pdq"]["found"] != r["full"]["by_hash"] for r in records if r["source"])
    falses = Counter(name for r in records for name in r["full"]["others"])
    load_after = os.getloadavg()
    families = Counter(family for family, _, _ in library)
    head.append(f"library: {len(library)} references in bank {BANK} ({families['photos']} photos, "
                f"{families['faces']} portraits), each with its hash set; "
                f"{len(item_of)} also in the content registry; {indexed} in the feature index "
                f"(read in {index_s:.1f} s, {index_cpu_s:.1f} s CPU, {len(warm)} warm-up search(es))")
    head.append(f"unrelated: {len(unrelated)} pictures not in the library ({dict(unrelated_origin)}); "
                f"{len(records)} suspects, each searched on both paths")
    footer = [
        f"CPU per search (one thread), median / p95: PDQ path {timing['pdq']['median']:.0f} / "
        f"{timing['pdq']['p95']:.0f} ms; full (hashes + features) {timing['full']['median']:.0f} / "
        f"{timing['full']['p95']:.0f} ms; what the features add (paired) "
        f"{timing['features_added']['median']:.0f} / {timing['features_added']['p95']:.0f} ms",
        "PDQ path: the true source is a candidate with the library folder unset (digests and PDQ, every "
        "query form); features: found by local features in the full search (feat. only: and by no hash); "
        "either: a candidate of the full search; rank 1: the true source (or its registry item) first; "
        "inliers: median of the source's feature inliers",
        "donor: suspects with the pasted-in picture a candidate; false: suspects with any candidate that is "
        "neither the true source (nor its registry item) nor the donor, on the PDQ path / the full search; "
        "registry: the source's registry item a candidate, of the suspects whose source is registered",
        f"hash signal in the full search differs from the PDQ path for {mismatch} suspect(s); search errors: "
        f"{sum(r['error'] is not None for r in records)}; feature index incomplete on "
        f"{sum(not r['features_complete'] for r in records)} search(es)",
        f"false candidates (full search): {dict(falses.most_common(10)) or 'none'}",
        f"refused at banking: {refused or 'none'}",
        f"banking {banking_s:.0f} s, suspects made in {building_s:.0f} s ({args.jobs} processes), searches "
        f"{searching_s:.0f} s, total {time.perf_counter() - began:.0f} s; load average at end "
        f"{load_after[0]:.2f}",
    ]
    print_table(summary, head, footer)
    if args.json:
        report = {"split": args.split, "count": args.count, "library": len(library),
                  "registered": len(item_of),
                  "unrelated_origin": dict(unrelated_origin), "summary": summary, "cpu_ms": timing,
                  "feature_index_s": index_s, "records": records,
                  "load_average": {"start": load_before, "end": load_after}}
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)


if __name__ == "__main__":
    main()
