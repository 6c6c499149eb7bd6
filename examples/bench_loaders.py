"""Samples per second of the PyTorch and WebDataset paths, from aismesh and from local disk.

    python examples/make_dataset.py --endpoint http://127.0.0.1:8080 --bucket bench --samples 4096 --shards 32
    python examples/make_dataset.py --local /tmp/bench-data --samples 4096 --shards 32
    python examples/bench_loaders.py --endpoint http://127.0.0.1:8080 --bucket bench --local /tmp/bench-data

Each path runs a DataLoader with ``--workers`` workers (persistent) for ``--epochs`` epochs after
one warm-up epoch (worker start-up and imports are not counted), decoding and checking every
sample against its SHA-256, with no model: what is measured is the data path. The local rows read
the same files from disk and are the ceiling. One JSON line a path, then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import webdataset as wds
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "pytorch"), os.path.join(HERE, "webdataset")]
from train_torch import collate_sample_objects, collate_shard_samples, make_loader  # noqa: E402
from train_wds import make_dataset as make_wds  # noqa: E402


class LocalShards(IterableDataset):  # type: ignore[type-arg]
    """The tar shards from disk, split over workers, yielded as AISShardReader yields them."""

    def __init__(self, root: str) -> None:
        self.paths = sorted(os.path.join(root, "shards", n) for n in os.listdir(os.path.join(root, "shards")))

    def __iter__(self) -> Iterator[tuple[str, dict[str, bytes]]]:
        info = get_worker_info()
        mine = self.paths[info.id::info.num_workers] if info else self.paths
        for path in mine:
            samples: dict[str, dict[str, bytes]] = {}
            with tarfile.open(path, "r:") as tar:
                for m in tar.getmembers():
                    stem, ext = m.name.rsplit(".", 1)
                    f = tar.extractfile(m)
                    assert f is not None
                    samples.setdefault(stem, {})[ext] = f.read()
            yield from samples.items()


class LocalSamples(Dataset):  # type: ignore[type-arg]
    """The one-object-a-sample files from disk, as AISMapDataset yields them."""

    def __init__(self, root: str) -> None:
        d = os.path.join(root, "samples")
        self.paths = sorted(os.path.join(d, n) for n in os.listdir(d))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[str, bytes]:
        with open(self.paths[i], "rb") as f:
            return self.paths[i], f.read()


def run(name: str, make: Callable[[], Any], epochs: int) -> dict[str, Any]:
    loader = make()
    count = lambda: sum(len(batch[-1]) for batch in loader)  # noqa: E731  (keys are the last field)
    warm = count()
    started = time.monotonic()
    n = sum(count() for _ in range(epochs))
    elapsed = time.monotonic() - started
    return {"path": name, "samples_per_epoch": warm, "samples": n, "seconds": round(elapsed, 2),
            "samples_per_s": round(n / elapsed, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", default=os.environ.get("AIS_ENDPOINT", "http://127.0.0.1:8080"))
    ap.add_argument("--bucket", default="bench")
    ap.add_argument("--local", required=True, metavar="DIR", help="the same data set, from make_dataset.py --local")
    ap.add_argument("--shards", type=int, default=32)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated path names to run")
    args = ap.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "any")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "any")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from aistore.sdk import Client

    w, b = args.workers, args.batch

    def loader(ds: Any, collate: Any, shuffle: bool = False) -> DataLoader[Any]:
        return DataLoader(ds, batch_size=b, num_workers=w, collate_fn=collate, shuffle=shuffle,
                          persistent_workers=True)

    def wds_loader(source: str) -> Any:
        ns = argparse.Namespace(endpoint=args.endpoint, bucket=args.bucket, shards=args.shards, source=source,
                                local=args.local, batch=b, seed=0)
        return wds.WebLoader(make_wds(ns), batch_size=None, num_workers=w, persistent_workers=True)

    client = Client(args.endpoint)
    paths: dict[str, Callable[[], Any]] = {
        "pytorch AISShardReader (aismesh)": lambda: make_loader(client, args.bucket, "shards", w, b, persistent=True),
        "pytorch tar shards (local disk)": lambda: loader(LocalShards(args.local), collate_shard_samples),
        "pytorch AISMapDataset (aismesh)": lambda: make_loader(client, args.bucket, "map", w, b, persistent=True),
        "pytorch map, a file a sample (local disk)": lambda: loader(LocalSamples(args.local), collate_sample_objects,
                                                                    shuffle=True),
        "webdataset pipe:aws s3 cp (aismesh)": lambda: wds_loader("pipe"),
        "webdataset s3fs (aismesh)": lambda: wds_loader("fsspec"),
        "webdataset ais:// URLs, ais CLI (aismesh)": lambda: wds_loader("ais"),
        "webdataset tar files (local disk)": lambda: wds_loader("local"),
    }
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    results = []
    for name, make in paths.items():
        if only and not any(o in name for o in only):
            continue
        r = run(name, make, args.epochs)
        print(json.dumps(r), flush=True)
        results.append(r)
    print(f"\n| path ({w} workers, batch {b}) | samples/s |\n|---|---:|")
    for r in results:
        print(f"| {r['path']} | {r['samples_per_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
