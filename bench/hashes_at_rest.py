"""Benchmark: what sealing hash values at rest costs (docs/HASHES_AT_REST.md).

Usage::

    .venv/bin/python bench/hashes_at_rest.py [--rows 200000] [--repeats 3]
        [--base-src /tmp/base/src] [--database-url URL] [--json]

Each run uses a fresh ``$DEEPSHIELD_HOME`` and database (SQLite unless ``--database-url`` names
an empty PostgreSQL database or schema; it is emptied between runs) and measures:

1. **Import**: ``bank import`` of a CSV of ``--rows`` random PDQ hashes (rows/s). With sealing,
   every row is encrypted (AES-256-GCM) and its lookup digest keyed (HMAC-SHA256).
2. **Cold start**: a fresh ``Matcher`` loading every PDQ entry from rows (no snapshot), as a
   first start or a start whose snapshot is stale does. With sealing every row is decrypted.
3. **Lookup**: median of 2,000 PDQ searches of the loaded in-memory index (unchanged by
   sealing: the index holds plain hashes in memory).
4. **Per value**: microseconds to seal, open, and key the lookup digest of one PDQ hash
   (best of 3 × 100,000 calls).

``--base-src`` names the ``src/`` of a checkout without sealing (``git worktree add /tmp/base
<commit>``); the same measurements then run against it in a child process, interleaved with
this checkout's, so both are measured on the same machine in the same run.
"""

from __future__ import annotations

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench_environment import cpu_model, interpreter  # noqa: E402

HERE = Path(__file__).resolve()
CHECKOUT_SRC = HERE.parents[1] / "src"


def _child(rows: int, database_url: str) -> dict[str, Any]:
    """One measurement in this process, with whichever ``deepshield`` is first on the path."""
    import numpy as np

    import deepshield
    from deepshield.services.access import Principal, Role
    from deepshield.services.context import ServiceContext
    from deepshield.services.spread import banks, bulk_import
    from deepshield.services.spread.live_index import Matcher
    from deepshield.settings import Settings

    with tempfile.TemporaryDirectory(prefix="ds-bench-atrest-") as folder:
        home = Path(folder) / "home"
        settings = Settings(home=home, database_url=database_url)
        ctx = ServiceContext.open(settings)
        try:
            bits = np.random.default_rng(7).integers(0, 256, size=(rows, 32), dtype=np.uint8)
            hexes = [row.tobytes().hex() for row in bits]
            hash_list = Path(folder) / "list.csv"
            hash_list.write_text("signal_type,signal_value\n" + "".join(f"pdq,{h}\n" for h in hexes))
            operator = Principal("bench", Role.ADMIN)
            banks.create_bank(ctx, "bench", "", operator)
            started = time.perf_counter()
            summary = bulk_import.import_file(ctx, "bench", hash_list, operator)
            import_s = time.perf_counter() - started
            assert summary.added == rows, summary
            matcher = Matcher(ctx.store, settings.match, snapshot_dir=None)
            started = time.perf_counter()
            matcher.refresh()
            cold_s = time.perf_counter() - started
            assert matcher.stats()["pdq"] == rows
            index = matcher._pdq
            timings = []
            for query in hexes[:2000]:
                begun = time.perf_counter()
                hits = index.search([query], settings.match.pdq_threshold)
                timings.append(time.perf_counter() - begun)
                assert hits
        finally:
            ctx.close()
            if database_url:
                _empty_postgres(database_url)
        database_bytes = sum(p.stat().st_size for p in home.glob("deepshield.db*"))
    return {"source": str(Path(deepshield.__file__).resolve().parents[1]), "rows": rows,
            "import_s": import_s, "import_rows_per_s": rows / import_s, "cold_start_s": cold_s,
            "lookup_median_ms": statistics.median(timings) * 1000, "sqlite_bytes": database_bytes}


def _empty_postgres(database_url: str) -> None:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        for table in inspect(connection).get_table_names():
            connection.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    engine.dispose()


def _run(source: Path, rows: int, database_url: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(source), **THREAD_ENV}
    command = [sys.executable, str(HERE), "--child", "--rows", str(rows)]
    if database_url:
        command += ["--database-url", database_url]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} (PYTHONPATH={source}) failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["source"]) != source.resolve():
        raise SystemExit(f"the child imported deepshield from {result['source']}, not {source}")
    return result


def _per_value_costs(samples: int = 100_000) -> dict[str, float]:
    """Microseconds per PDQ value to seal, open, and key a lookup digest, in this process."""
    import secrets
    import timeit

    sys.path.insert(0, str(CHECKOUT_SRC))
    from deepshield.store.hash_sealing import HashKeyring, plain_digest

    keyring = HashKeyring.from_data_key(secrets.token_bytes(32))
    value = secrets.token_hex(32)
    sealed = keyring.seal(value, b"bank_entries.value")
    timings = {"seal_us": lambda: keyring.seal(value, b"bank_entries.value"),
               "open_us": lambda: keyring.open(sealed, b"bank_entries.value"),
               "lookup_us": lambda: keyring.lookup(plain_digest(value))}
    return {name: min(timeit.repeat(call, number=samples, repeat=3)) / samples * 1e6
            for name, call in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--base-src", type=Path, default=None)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    database_url = args.database_url
    if args.child:
        print(json.dumps(_child(args.rows, database_url)))
        return
    sources = {"sealed": CHECKOUT_SRC}
    if args.base_src is not None:
        sources = {"plain (base)": args.base_src, **sources}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sources}
    for _ in range(args.repeats):
        for name, source in sources.items():  # interleaved: drifts in machine load hit both
            runs[name].append(_run(source, args.rows, database_url))
    summary = {name: {
        "import_rows_per_s": statistics.median(r["import_rows_per_s"] for r in results),
        "cold_start_s": statistics.median(r["cold_start_s"] for r in results),
        "lookup_median_ms": statistics.median(r["lookup_median_ms"] for r in results),
        "sqlite_bytes": statistics.median(r["sqlite_bytes"] for r in results),
    } for name, results in runs.items()}
    costs = _per_value_costs()
    backend = "postgresql" if database_url else "sqlite"
    report = {"rows": args.rows, "repeats": args.repeats, "backend": backend,
              "cpu": cpu_model(), "python": interpreter(), "per_value_us": costs, "medians": summary,
              "runs": runs}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{args.rows:,} PDQ rows, {report['backend']}, median of {args.repeats}, {report['cpu']}")
    print(f"{'':14} {'import rows/s':>14} {'cold start s':>13} {'lookup ms':>10} {'db bytes':>12}")
    for name, row in summary.items():
        print(f"{name:14} {row['import_rows_per_s']:14,.0f} {row['cold_start_s']:13.2f} "
              f"{row['lookup_median_ms']:10.3f} {row['sqlite_bytes']:12,.0f}")
    print("per PDQ value: " + ", ".join(f"{name[:-3]} {us:.2f} us" for name, us in costs.items()))


if __name__ == "__main__":
    main()
