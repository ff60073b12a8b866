"""The scan pipeline on a Ray cluster, as Ray Data stages. The only module that imports Ray.

The stages are the plain functions of :mod:`deepshield.services.spread.scan`:

- **read**: the listing's items become a dataset of blocks of ``BATCH_FILES`` files;
- **hash** (``map_batches``, one CPU per task): each worker reads its files from the path it
  was given (a shared filesystem, or one machine), decodes and fingerprints them;
- **match** (``map_batches``): against the :class:`~deepshield.services.spread.scan_index.ScanIndex`,
  whose arrays were put in Ray's object store **once** by the driver. A worker maps them
  zero-copy from its node's shared memory on its first batch and keeps them for the next;
- **write**: the driver takes result blocks as they finish and appends them to the journal,
  exactly as the local mode does (``scan.scan_archive``).

Ray Data fuses the hash and match stages into one task per block. A task whose worker dies
(killed, out of memory, a node lost) is run again elsewhere (Ray Data retries a task after a
system failure without limit); the driver only ever sees the
result of a task that completed, so no file is lost or counted twice.

Every node needs DeepShield installed (``pip install 'deepshield[ray]'``) and the archive's
files at the paths the listing gives. The watermark keys (with ``--detect-labels``) travel
in the object store to the workers: run scans on the operator's own cluster.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np

from deepshield.errors import InvalidRequest
from deepshield.services.spread.scan import (
    BATCH_FILES,
    Runner,
    ScanItem,
    ScanOptions,
    hash_item,
    match_hashed,
)
from deepshield.services.spread.scan_index import ScanIndex

_INSTALL_HINT = "pip install 'deepshield[ray]'"


def require_ray() -> None:
    """Raise ``InvalidRequest`` saying how to install Ray, where it is not installed."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise InvalidRequest(f"scanning on Ray needs the Ray extra, which is not installed here: "
                             f"{_INSTALL_HINT} (the local mode needs nothing more)") from exc


def ray_runner(address: str) -> Runner:
    """A runner for ``scan_archive`` that connects to the Ray cluster at ``address`` (``auto``:
    the cluster this machine belongs to, started with ``ray start``) and runs the pipeline there."""
    require_ray()
    return partial(_run_on_ray, address)


def cluster_cpus(address: str) -> int:
    """The CPUs of the cluster at ``address`` (connects if not yet connected)."""
    _connect(address)
    import ray

    return int(ray.cluster_resources().get("CPU", 0))


def _connect(address: str) -> None:
    import ray

    if ray.is_initialized():
        return
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InvalidRequest(f"cannot reach a Ray cluster at {address!r}: {exc}. Start one with "
                             "`ray start --head`, or give its address (HOST:PORT)") from exc


def _run_on_ray(address: str, items: Sequence[ScanItem], options: ScanOptions, index: ScanIndex
                ) -> Iterator[list[dict[str, Any]]]:
    if not items:
        return
    # Ray prints the cluster's notes (a worker died and its task is run again...) on this
    # process's stdout, where the CLI writes its --json answer: they go to stderr instead.
    with contextlib.redirect_stdout(sys.stderr):
        yield from _pipeline(address, items, options, index)


def _pipeline(address: str, items: Sequence[ScanItem], options: ScanOptions, index: ScanIndex
              ) -> Iterator[list[dict[str, Any]]]:
    _connect(address)
    import ray
    import ray.data

    # Ray Data's own bars and start/finish notes would interleave with the CLI's bar.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the CLI draws its own bar, from the rows written
    context.print_on_execution_start = False
    # Ray Data reserves part of the cluster for each operator's outputs. On a small cluster that
    # left one hashing task running at a time (2 CPUs: 1.1x the speed of 1, measured); this
    # pipeline has a single operator after the read, with tiny outputs, so nothing is reserved.
    context.op_resource_reservation_enabled = False
    index_ref = ray.put(index.arrays())
    options_ref = ray.put(options)
    records = [{"position": item.position, "content_id": item.content_id, "path": item.path,
                "location": item.location} for item in items]
    dataset = ray.data.from_items(records, override_num_blocks=math.ceil(len(records) / BATCH_FILES))
    dataset = dataset.map_batches(partial(_hash_stage, options_ref=options_ref), batch_size=BATCH_FILES,
                                  batch_format="numpy", num_cpus=1)
    dataset = dataset.map_batches(partial(_match_stage, index_ref=index_ref), batch_size=BATCH_FILES,
                                  batch_format="numpy", num_cpus=1)
    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            yield [json.loads(text) for text in batch["row"]]
    finally:
        ray.shutdown()  # the objects (the index) go with the driver: nothing stays on the cluster


# Worker side: what a worker process keeps between its tasks (the index, mapped once).
_HELD: dict[str, Any] = {}


def _held(ref: Any) -> Any:
    import ray

    key = ref.hex()
    if key not in _HELD:
        _HELD.clear()  # another scan's objects: let them go
        _HELD[key] = ray.get(ref)
    return _HELD[key]


def _hash_stage(batch: dict[str, np.ndarray], *, options_ref: Any) -> dict[str, np.ndarray]:
    import ray

    options: ScanOptions = ray.get(options_ref)
    columns = zip(batch["position"], batch["content_id"], batch["path"], batch["location"], strict=True)
    items = [ScanItem(int(position), str(content_id), str(path), str(location))
             for position, content_id, path, location in columns]
    hashed = [json.dumps(hash_item(item, options)) for item in items]
    return {"hashed": np.asarray(hashed, dtype=object)}


def _match_stage(batch: dict[str, np.ndarray], *, index_ref: Any) -> dict[str, np.ndarray]:
    index = _held_index(index_ref)
    rows = [json.dumps(match_hashed(json.loads(text), index)) for text in batch["hashed"]]
    return {"row": np.asarray(rows, dtype=object)}


def _held_index(index_ref: Any) -> ScanIndex:
    arrays = _held(index_ref)
    key = f"index:{index_ref.hex()}"
    if key not in _HELD:
        _HELD[key] = ScanIndex.from_arrays(arrays)
    return _HELD[key]


__all__ = ["cluster_cpus", "ray_runner", "require_ray"]
