"""WebDataset reading tar shards from an ais:// bucket through aismesh's S3 API.

    python examples/webdataset/train_wds.py --endpoint http://127.0.0.1:8080 --bucket train --source pipe

``--source`` picks how a shard is opened:
- ``pipe``: WebDataset's own ``pipe:`` URLs running the aws CLI,
  ``pipe:aws s3 cp --endpoint-url http://HOST:PORT/s3 s3://BUCKET/shards/shard-000000.tar -``;
- ``fsspec``: s3fs (``fsspec.filesystem("s3", endpoint_url=...)``) opens each shard, and
  WebDataset's pipeline stages expand the stream into samples;
- ``ais``: WebDataset's own ``ais://BUCKET/shards/...`` URLs, which run ``ais get URL -``: our
  ``ais`` CLI (from aismesh) over the native API, with the endpoint from ``AIS_ENDPOINT``;
- ``local``: the same shards from a directory (``--local DIR``), the local-disk baseline.

Shards are shuffled, split over the DataLoader's workers, samples shuffled in a buffer, every
sample checked against the SHA-256 it carries, and a tiny model trains for a few steps.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import webdataset as wds

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from make_dataset import verify


def shard_names(args: argparse.Namespace) -> list[str]:
    if args.source == "local":
        return sorted(os.path.join(args.local, "shards", n) for n in os.listdir(os.path.join(args.local, "shards")))
    return [f"shards/shard-{i:06d}.tar" for i in range(args.shards)]


def pipe_urls(endpoint: str, bucket: str, names: list[str]) -> list[str]:
    """WebDataset pipe: URLs that stream each shard through the aws CLI."""
    s3 = shlex.quote(endpoint.rstrip("/") + "/s3")
    return [f"pipe:aws s3 cp --only-show-errors --endpoint-url {s3} s3://{bucket}/{n} -" for n in names]


def fsspec_opener(endpoint: str) -> Any:
    """A pipeline stage that opens each shard URL with s3fs (fsspec)."""
    def open_shards(src: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        import fsspec

        fs = fsspec.filesystem("s3", endpoint_url=endpoint.rstrip("/") + "/s3", key=os.environ.get(
            "AWS_ACCESS_KEY_ID", "any"), secret=os.environ.get("AWS_SECRET_ACCESS_KEY", "any"))
        for sample in src:
            with fs.open(sample["url"], "rb", block_size=8 << 20) as stream:
                yield dict(sample, stream=stream)
    return open_shards


def decode(sample: tuple[bytes, bytes, bytes, str]) -> tuple[np.ndarray, int, str]:
    npy, cls, checksum, key = sample
    verify(npy, checksum)
    return np.load(io.BytesIO(npy)), int(cls), key


def make_dataset(args: argparse.Namespace) -> wds.DataPipeline:
    names = shard_names(args)
    if args.source == "fsspec":
        urls = [f"s3://{args.bucket}/{n}" for n in names]
        opener = [fsspec_opener(args.endpoint), wds.tariterators.tar_file_expander, wds.tariterators.group_by_keys]
    else:
        if args.source == "pipe":
            urls = pipe_urls(args.endpoint, args.bucket, names)
        elif args.source == "ais":
            os.environ["AIS_ENDPOINT"] = args.endpoint  # read by the ais CLI that webdataset runs
            urls = [f"ais://{args.bucket}/{n}" for n in names]
        else:
            urls = names
        opener = [wds.tarfile_to_samples()]
    return wds.DataPipeline(
        wds.SimpleShardList(urls),
        wds.detshuffle(len(urls), seed=args.seed),  # shard order: the same in every worker, new each epoch
        wds.split_by_worker,
        *opener,
        wds.shuffle(128),  # sample order, in a buffer
        wds.to_tuple("npy", "cls", "sha256", "__key__"),
        wds.map(decode),
        wds.batched(args.batch),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description="train a tiny model on WebDataset shards in ais://BUCKET")
    ap.add_argument("--endpoint", default=os.environ.get("AIS_ENDPOINT", "http://127.0.0.1:8080"))
    ap.add_argument("--bucket", default="train")
    ap.add_argument("--shards", type=int, default=8, help="how many shards/shard-NNNNNN.tar there are")
    ap.add_argument("--source", choices=["pipe", "fsspec", "ais", "local"], default="pipe")
    ap.add_argument("--local", metavar="DIR", help="for --source local: the directory make_dataset.py --local wrote")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "any")  # the aws CLI signs; the mesh accepts any key by default
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "any")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    loader = wds.WebLoader(make_dataset(args), batch_size=None, num_workers=args.workers)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses: list[float] = []
    seen: set[str] = set()
    orders: list[list[str]] = []
    samples = 0
    started = time.monotonic()
    for _ in range(args.epochs):
        order: list[str] = []
        for images, labels, keys in loader:
            x = torch.from_numpy(np.stack(images)).float() / 255.0
            loss = torch.nn.functional.cross_entropy(model(x), torch.as_tensor(labels))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(round(loss.item(), 4))
            seen.update(keys)
            order.extend(keys)
            samples += len(keys)
        orders.append(order)
    elapsed = time.monotonic() - started
    print(json.dumps({"source": args.source, "workers": args.workers, "samples": samples, "unique": len(seen),
                      "samples_per_s": round(samples / elapsed, 1), "loss_first": losses[0], "loss_last": losses[-1],
                      "epoch_orders_differ": len({tuple(o) for o in orders}) == len(orders),
                      "first_keys": orders[0][:5]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
