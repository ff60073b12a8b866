"""Benchmark: ``deepshield scan`` over an archive against a 1M-hash bank, here and on Ray (issue 17).

Usage::

    .venv/bin/python bench/scan.py [--files 20000] [--bank-size 1000000] [--planted 300]
        [--corrupt 60] [--anchor-files 2000] [--memory-files 5000] [--reposts-files 2000]
        [--modes plain,local,local-reposts,ray1,ray2]
        [--work DIR] [--json]

**Archive** (built once into ``--work``, default ``$TMPDIR/deepshield-bench-scan``, and reused):
``--files`` files made from the real photos in ``shared/data/photos`` (a generated fallback where
that folder is absent). 40 photos are "banked" (a victim's 1080p copy of each is in the bank);
``--planted`` files are copies of them as a platform would hold them (resized, re-encoded at
JPEG 70-95, some cropped by up to 3 % or mirrored); the others come from the remaining photos,
cropped to 60-100 %, resized mostly to 1920x1080 (85 %), else 1280x720 or 2560x1440, JPEG
70-95. ``--corrupt`` files are truncated JPEGs and text files.

**Bank:** the 40 banked photos' hashes (PDQ, MD5, SHA-256) and random PDQ hashes up to
``--bank-size``, bulk-imported into a fresh SQLite installation.

**Rows, side by side in one run:**

* ``plain loop`` (the anchor): ``Image.open(path).convert("RGB")``, ``pdqhash.compute`` and a
  faiss ``IndexBinaryFlat`` range search (distance <= 31) over the same PDQ hashes, in this
  process, over a random sample of ``--anchor-files`` files (it is a rate);
* ``scan local``: ``deepshield scan LISTING --out OUT.jsonl --no-reposts`` in a subprocess: the
  file's own PDQ hash and its 8 dihedral forms, MD5 and SHA-256, as the anchor (which has no
  dihedral forms nor digests) plus those;
* ``scan local-reposts``: the same with ``--reposts`` (the upload-time repost queries) over the
  first ``--reposts-files`` files, to show their cost per file;
* ``scan ray1`` / ``scan ray2``: ``deepshield scan ... --no-reposts --ray ADDRESS`` against a local Ray
  cluster started here with ``ray start``: a head with one CPU, then a head and a second node
  with one CPU each.

Each scan row reports wall time, CPU seconds (the scan process, or every process of the Ray
cluster), files per wall second and per CPU second, and peak memory (the scan process's, or
the largest Ray worker's resident set, sampled every 0.2 s). Recall counts planted copies
matched to their own banked entry; a false match is any other file matching anything. The
memory check runs ``ray2`` again on the first ``--memory-files`` files, to show the worker's
peak does not grow with the archive.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_environment import cpu_model, import_random_pdq_bank, print_results_table, shared_data_dir

DEEPSHIELD = Path(sys.executable).with_name("deepshield")
BANKED_PHOTOS = 40
PDQ_THRESHOLD = 31
_ARCHIVE_FORMAT = 3


# ---------------------------------------------------------------------------------- the archive

def _source_photos() -> list[Path]:
    folder = shared_data_dir() / "photos"
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*")
                  if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"))


def _load(source: str | int) -> Any:
    from PIL import Image, ImageOps

    if isinstance(source, int):  # the generated fallback: a smooth random photo-like picture
        rng = np.random.default_rng(source)
        small = rng.integers(0, 256, (18, 32, 3), dtype=np.uint8)
        return Image.fromarray(small).resize((1920, 1080), Image.BICUBIC)
    with Image.open(source) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((4000, 4000))
        return image


def _fit(image: Any, width: int, height: int) -> Any:
    """``image`` cut to the aspect of ``width``×``height`` (centre) and resized to it."""
    from PIL import Image

    aspect = width / height
    w, h = image.size
    if w / h > aspect:
        cut = round(h * aspect)
        image = image.crop(((w - cut) // 2, 0, (w - cut) // 2 + cut, h))
    else:
        cut = round(w / aspect)
        image = image.crop((0, (h - cut) // 2, w, (h - cut) // 2 + cut))
    return image.resize((width, height), Image.LANCZOS)


def _banked_copy(source: str | int) -> bytes:
    """The victim's own copy of a banked photo: 1920x1080 JPEG 95."""
    buffer = io.BytesIO()
    _fit(_load(source), 1920, 1080).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def _make_file(task: tuple[int, str, str | int, int]) -> tuple[int, bytes]:
    """One archive file: (number, bytes). ``kind`` is planted, other or corrupt."""
    from PIL import Image, ImageOps

    number, kind, source, seed = task
    rng = random.Random(seed)
    if kind == "corrupt":
        if rng.random() < 0.5:
            return number, f"not an image {number}\n".encode() * 10
        image = _fit(_load(source), 1280, 720)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        data = buffer.getvalue()
        return number, data[: rng.randint(200, len(data) // 2)]
    if kind == "planted":
        with Image.open(io.BytesIO(_banked_copy(source))) as banked:
            image = banked.convert("RGB")
        if rng.random() < 0.3:
            keep = rng.uniform(0.97, 1.0)
            w, h = image.size
            image = image.crop((0, 0, round(w * keep), round(h * keep)))
        if rng.random() < 0.15:
            image = ImageOps.mirror(image)
        scale = rng.choice([1.0, 0.75, 0.5, 0.667])
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    else:
        image = _load(source)
        keep = rng.uniform(0.6, 1.0)
        w, h = image.size
        cw, ch = round(w * keep), round(h * keep)
        left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
        image = image.crop((left, top, left + cw, top + ch))
        size = rng.choices([(1920, 1080), (1280, 720), (2560, 1440)], weights=[85, 10, 5])[0]
        image = _fit(image, *size)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=rng.randint(70, 95))
    return number, buffer.getvalue()


def _pdq_forms(source: str | int) -> np.ndarray:
    """The 8 dihedral PDQ hashes ((8, 32) uint8) of a source as the victim's 1080p copy."""
    from deepshield.signals.pdq import pdq_dihedral_from_pixels

    pixels = np.asarray(_fit(_load(source), 1920, 1080))
    hashes = pdq_dihedral_from_pixels(pixels)
    return np.stack([np.frombuffer(bytes.fromhex(pdq_hash.hex), dtype=np.uint8) for _, pdq_hash in hashes])


def _banked_and_others(order: list[str | int]) -> tuple[list[str | int], list[str | int]]:
    """40 banked photos, and the photos that are none of them. The shared photos hold near
    copies of each other (the PDQ test set's bridge in many edits, one picture in several
    formats): a photo within 64 bits of a banked one, in any rotation or flip, is neither
    banked nor used for unrelated files, so a match on an unrelated file is a false match."""
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        forms = list(pool.map(_pdq_forms, order, chunksize=4))
    banked: list[int] = []
    near_banked: set[int] = set()
    for position, form in enumerate(forms):
        if position in near_banked:
            continue
        if len(banked) < BANKED_PHOTOS:
            banked.append(position)
            for other in range(len(forms)):
                distances = np.unpackbits(forms[other] ^ form[0], axis=1).sum(axis=1)
                if distances.min() <= 64:
                    near_banked.add(other)
    return [order[p] for p in banked], [order[p] for p in range(len(order)) if p not in near_banked]


def build_archive(work: Path, files: int, planted: int, corrupt: int) -> dict[str, Any]:
    """The archive and its truth (``truth.json``: content id -> banked photo number or None),
    built once per parameter set."""
    params = {"format": _ARCHIVE_FORMAT, "files": files, "planted": planted, "corrupt": corrupt}
    manifest = work / "archive.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("params") == params:
        return json.loads(manifest.read_text())
    sources: list[str | int] = [str(path) for path in _source_photos()]
    fallback = not sources
    if fallback:
        sources = list(range(200))
    order = sorted(sources, key=lambda s: hashlib.sha256(str(s).encode()).hexdigest())
    banked, others = _banked_and_others(order)
    rng = random.Random(17)
    tasks = []
    truth: dict[str, int | None] = {}
    for number in range(files):
        if number < planted:
            kind, source, banked_number = "planted", banked[number % len(banked)], number % len(banked)
        elif number < planted + corrupt:
            kind, source, banked_number = "corrupt", rng.choice(others), None
        else:
            kind, source, banked_number = "other", rng.choice(others), None
        tasks.append((number, kind, source, rng.randrange(1 << 30)))
        truth[f"f{number:07d}.jpg"] = banked_number
    rng.shuffle(tasks)  # planted and corrupt files spread through the archive
    archive = work / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for done, (number, data) in enumerate(pool.map(_make_file, tasks, chunksize=16), start=1):
            (archive / f"f{number:07d}.jpg").write_bytes(data)
            if done % 1000 == 0:
                print(f"  archive: {done:,}/{files:,} files ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr)
    banked_files = work / "banked"
    banked_files.mkdir(exist_ok=True)
    for number, source in enumerate(banked):
        (banked_files / f"banked-{number:03d}.jpg").write_bytes(_banked_copy(source))
    listing = work / "listing.jsonl"
    names = sorted(truth)
    listing.write_text("".join(json.dumps({"content_id": name, "path": f"archive/{name}"}) + "\n"
                               for name in names))
    info = {"params": params, "truth": truth, "fallback": fallback, "sources": len(sources),
            "bytes": sum((archive / name).stat().st_size for name in names)}
    manifest.write_text(json.dumps(info))
    return info


def sub_listing(work: Path, count: int) -> Path:
    """A listing of the archive's first ``count`` files (for the memory check)."""
    lines = (work / "listing.jsonl").read_text().splitlines(keepends=True)[:count]
    path = work / f"listing-{count}.jsonl"
    path.write_text("".join(lines))
    return path


# ---------------------------------------------------------------------------------- the bank

def build_bank(work: Path, bank_size: int) -> tuple[Path, np.ndarray, dict[int, int]]:
    """A DeepShield home with bank "victims" (the banked photos) and "load" (random PDQ
    hashes up to ``bank_size``); returns the home, every PDQ hash as (n, 32) uint8 codes, and
    {banked photo number: its PDQ entry id}."""
    home = work / f"home-{bank_size}"
    saved = home / "bench-bank.json"
    codes_path = home / "pdq-codes.npy"
    if saved.exists() and codes_path.exists():
        return home, np.load(codes_path), {int(k): v for k, v in json.loads(saved.read_text()).items()}
    from deepshield.media import MediaLimits
    from deepshield.services.access import Principal, Role
    from deepshield.services.context import ServiceContext
    from deepshield.services.spread import banks
    from deepshield.services.spread.hashing import hash_media
    from deepshield.settings import Settings

    home.mkdir(parents=True, exist_ok=True)
    ctx = ServiceContext.open(Settings(home=home))
    operator = Principal("bench", Role.ADMIN)
    entries: dict[int, int] = {}
    real: list[bytes] = []
    try:
        banks.create_bank(ctx, "victims", "", operator)
        for path in sorted((work / "banked").iterdir()):
            added = banks.add_media(ctx, "victims", path.read_bytes(), "victim_device", "C-1", operator)
            pdq = next(entry for entry in added if entry.signal_type == "pdq")
            entries[int(path.stem.split("-")[1])] = pdq.id
            real.append(bytes.fromhex(hash_media(path.read_bytes(), MediaLimits()).pdq.hex))
        random_count = bank_size - len(real)
        rng = np.random.default_rng(7)
        codes = rng.integers(0, 256, (random_count, 32), dtype=np.uint8)
        import_random_pdq_bank(ctx, "load", codes, operator)
    finally:
        ctx.close()
    all_codes = np.concatenate([np.frombuffer(b"".join(real), dtype=np.uint8).reshape(-1, 32), codes])
    np.save(codes_path, all_codes)
    saved.write_text(json.dumps(entries))
    return home, all_codes, entries


# ---------------------------------------------------------------------------------- the rows

def run_plain_loop(work: Path, names: list[str], codes: np.ndarray) -> dict[str, Any]:
    """The anchor: Pillow + pdqhash + a faiss flat range search, file after file, here."""
    import faiss
    import pdqhash
    from PIL import Image

    index = faiss.IndexBinaryFlat(256)
    index.add(np.ascontiguousarray(codes))
    matched = errors = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for name in names:
        try:
            with Image.open(work / "archive" / name) as image:
                pixels = np.asarray(image.convert("RGB"))
            bits, _quality = pdqhash.compute(pixels)
            query = np.packbits(bits.astype(np.uint8))[None, :]
            limits, _, _ = index.range_search(query, PDQ_THRESHOLD + 1)
            matched += bool(limits[1] - limits[0])
        except Exception:  # the anchor's own error handling: count and go on
            errors += 1
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"row": "plain loop (anchor)", "files": len(names), "wall_s": wall, "cpu_s": cpu,
            "matched": matched, "errors": errors, "peak_mb": None}  # it shares the bench's process


class _Sampler(threading.Thread):
    """CPU seconds and the largest resident set of a set of processes, sampled every 0.2 s."""

    def __init__(self, pids: Any) -> None:
        super().__init__(daemon=True)
        self._pids = pids  # a callable giving the pids to watch now
        self.cpu: dict[int, float] = {}
        self.peak_rss: dict[int, int] = {}
        self.titles: dict[int, str] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(0.2)

    def sample(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        for pid in self._pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                status = Path(f"/proc/{pid}/status").read_text()
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            self.cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
            rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), rss)
            self.titles[pid] = title

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


def run_scan(label: str, work: Path, home: Path, listing: Path, ray_cluster: Any = None, *,
             reposts: bool = False) -> dict[str, Any]:
    """``deepshield scan`` in a subprocess (``--no-reposts`` unless ``reposts``); its rows and costs."""
    out = work / f"out-{label}.jsonl"
    for leftover in (out, out.with_name(out.name + ".scan.json")):
        leftover.unlink(missing_ok=True)
    command = [str(DEEPSHIELD), "scan", str(listing), "--out", str(out), "--json",
               "--reposts" if reposts else "--no-reposts"]
    if ray_cluster is not None:
        command += ["--ray", ray_cluster.address]
    env = {**os.environ, "DEEPSHIELD_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env.pop("DEEPSHIELD_DATABASE_URL", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cluster_sampler = _Sampler(ray_cluster.processes) if ray_cluster is not None else None
    if cluster_sampler is not None:
        cluster_sampler.sample()
        cpu_before = dict(cluster_sampler.cpu)
        cluster_sampler.start()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    driver_sampler = _Sampler(lambda: [process.pid])
    driver_sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    driver_sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"{label}: deepshield scan failed ({process.returncode}):\n{stderr[-3000:]}")
    summary = json.loads(stdout)
    driver_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    driver_peak_mb = max(driver_sampler.peak_rss.values(), default=0) / 1024
    row: dict[str, Any] = {"row": f"scan {label}", "files": summary["files"], "wall_s": wall,
                           "scan_s": summary["seconds"], "driver_cpu_s": driver_cpu, "summary": summary,
                           "out": out, "driver_peak_mb": driver_peak_mb}
    if cluster_sampler is None:
        row["cpu_s"], row["peak_mb"] = driver_cpu, driver_peak_mb
    else:
        cluster_sampler.stop()
        worker_cpu = sum(cpu - cpu_before.get(pid, 0.0) for pid, cpu in cluster_sampler.cpu.items())
        workers = {pid: rss for pid, rss in cluster_sampler.peak_rss.items()
                   if cluster_sampler.titles.get(pid, "").startswith("ray::")
                   and "Agent" not in cluster_sampler.titles[pid]}
        row["cluster_cpu_s"] = worker_cpu
        row["cpu_s"] = worker_cpu + driver_cpu
        row["peak_mb"] = max(workers.values(), default=0) / 1024
        row["workers_seen"] = len(workers)
    return row


def judge(row: dict[str, Any], truth: dict[str, int | None], entries: dict[int, int]) -> None:
    """Recall of planted copies (matched to their own banked entry) and false matches."""
    found = missed = false = 0
    for line in Path(row["out"]).read_text().splitlines():
        result = json.loads(line)
        banked = truth[result["content_id"]]
        matched_ids = {match["entry_id"] for match in result["matches"]}
        if banked is None:
            false += bool(matched_ids)
        elif entries[banked] in matched_ids:
            found += 1
        else:
            missed += 1
        if banked is not None and matched_ids - {entries[banked]} - _digest_ids(result):
            false += 1
    row.update(planted_found=found, planted_missed=missed, false_matches=false)


def _digest_ids(result: dict[str, Any]) -> set[int]:
    """A planted copy also matches its photo's MD5/SHA-256 entries only if byte-identical."""
    return {match["entry_id"] for match in result["matches"] if match["signal_type"] in ("md5", "sha256")}


# ---------------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--bank-size", type=int, default=1_000_000)
    parser.add_argument("--planted", type=int, default=300)
    parser.add_argument("--corrupt", type=int, default=60)
    parser.add_argument("--anchor-files", type=int, default=2000)
    parser.add_argument("--memory-files", type=int, default=5000)
    parser.add_argument("--reposts-files", type=int, default=2000)
    parser.add_argument("--modes", default="plain,local,local-reposts,ray1,ray2")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "deepshield-bench-scan")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    modes = args.modes.split(",")
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    print(f"building the archive ({args.files:,} files) and the bank ({args.bank_size:,} hashes) in {work}",
          file=sys.stderr)
    info = build_archive(work, args.files, args.planted, args.corrupt)
    home, codes, entries = build_bank(work, args.bank_size)
    truth = info["truth"]
    names = sorted(truth)
    rows: list[dict[str, Any]] = []
    if "plain" in modes:
        sample = sorted(random.Random(5).sample(names, min(args.anchor_files, len(names))))
        print(f"plain loop over {len(sample):,} files", file=sys.stderr)
        rows.append(run_plain_loop(work, sample, codes))
    listing = work / "listing.jsonl"
    if "local" in modes:
        print("scan local", file=sys.stderr)
        rows.append(run_scan("local", work, home, listing))
    if "local-reposts" in modes:
        print(f"scan local --reposts on the first {args.reposts_files:,} files", file=sys.stderr)
        first = sub_listing(work, args.reposts_files)
        rows.append(run_scan("local-reposts", work, home, first, reposts=True))
    from ray_cluster import local_ray_cluster

    store = 1_000_000_000
    for label, nodes in (("ray1", 1), ("ray2", 2)):
        if label not in modes:
            continue
        with local_ray_cluster(nodes=nodes, object_store_bytes=store) as cluster:
            print(f"scan {label}", file=sys.stderr)
            rows.append(run_scan(label, work, home, listing, cluster))
            if label == "ray2" and args.memory_files and args.memory_files < len(names):
                small = sub_listing(work, args.memory_files)
                print(f"scan {label} on the first {args.memory_files:,} files (memory check)",
                      file=sys.stderr)
                rows.append(run_scan(f"{label}-{args.memory_files}", work, home, small, cluster))
    if not rows:
        print("built; no --modes to run", file=sys.stderr)
        return 0
    for row in rows:
        row["files_per_wall_s"] = row["files"] / row["wall_s"]
        row["files_per_cpu_s"] = row["files"] / row["cpu_s"] if row["cpu_s"] else 0.0
        if "out" in row:
            judge(row, truth, entries)
    by_row = {row["row"]: row for row in rows}
    anchor = by_row.get("plain loop (anchor)")
    local = by_row.get("scan local")
    for row in rows:
        row["cpu_rate_vs_anchor"] = row["files_per_cpu_s"] / anchor["files_per_cpu_s"] if anchor else None
        row["wall_rate_vs_local"] = row["files_per_wall_s"] / local["files_per_wall_s"] if local else None
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(), "cores": os.cpu_count(),
        "load_before": os.getloadavg(), "archive": {k: v for k, v in info.items() if k != "truth"},
        "bank_size": args.bank_size,
        "rows": [{k: v for k, v in row.items() if k != "out"} for row in rows],
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    head = [f"{report['date']} · {report['cpu']} · {report['cores']} cores · "
            f"load {report['load_before'][0]:.2f} · "
            f"archive {args.files:,} files ({info['bytes'] / 1e9:.2f} GB"
            f"{', generated fallback' if info['fallback'] else ''}) · bank {args.bank_size:,} PDQ hashes"]
    for row in rows:
        for key in ("planted_found", "false_matches", "cpu_rate_vs_anchor", "wall_rate_vs_local"):
            row.setdefault(key, None)
    cols = [("row", "row", "{}"), ("files", "files", "{:,}"), ("wall s", "wall_s", "{:.1f}"),
            ("CPU s", "cpu_s", "{:.1f}"), ("files/wall-s", "files_per_wall_s", "{:.1f}"),
            ("files/CPU-s", "files_per_cpu_s", "{:.1f}"),
            ("x anchor CPU rate", "cpu_rate_vs_anchor", "{:.2f}"),
            ("x local wall rate", "wall_rate_vs_local", "{:.2f}"), ("peak MB (worker)", "peak_mb", "{:.0f}"),
            ("planted found", "planted_found", "{}"), ("false", "false_matches", "{}")]
    ray1, ray2 = by_row.get("scan ray1"), by_row.get("scan ray2")
    footer = [f"planted copies: {args.planted}; ray2 / ray1 files per wall second: "
              f"{ray2['files_per_wall_s'] / ray1['files_per_wall_s']:.2f}" if ray1 and ray2 else
              f"planted copies: {args.planted}"]
    print_results_table(head, cols, rows, title="deepshield scan", left=("row",), width=160, footer=footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
