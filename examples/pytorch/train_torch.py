"""PyTorch reading aismesh through the aistore SDK's own datasets, into a DataLoader with workers.

    python examples/pytorch/train_torch.py --endpoint http://127.0.0.1:8080 --bucket train --workers 8

``--dataset`` picks the SDK's reader:
- ``shards`` (default): ``AISShardReader`` over the tar shards under ``shards/``;
- ``map``: ``AISMapDataset`` over the one-object-a-sample objects under ``samples/``;
- ``iter``: ``AISIterDataset`` over the same objects.

Every sample is checked against the SHA-256 it carries; then a tiny model trains for a few
steps. One JSON line tells what was read, how fast, and the loss.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from typing import Any

import numpy as np
import torch
from aistore.pytorch import AISIterDataset, AISMapDataset, AISShardReader
from aistore.sdk import Client
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from make_dataset import open_sample_object, verify


def collate_shard_samples(batch: list[tuple[str, dict[str, bytes]]]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """AISShardReader yields (key, {ext: bytes}); check and decode in the worker."""
    images, labels, keys = [], [], []
    for key, content in batch:
        verify(content["npy"], content["sha256"])
        images.append(np.load(io.BytesIO(content["npy"])))
        labels.append(int(content["cls"]))
        keys.append(key)
    return torch.from_numpy(np.stack(images)), torch.tensor(labels), keys


def collate_sample_objects(batch: list[tuple[str, bytes]]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """AISMapDataset / AISIterDataset yield (object name, bytes); the label is the bright row."""
    images = [open_sample_object(data) for _, data in batch]
    labels = [int(np.argmax(img.sum(axis=1))) for img in images]
    return torch.from_numpy(np.stack(images)), torch.tensor(labels), [name for name, _ in batch]


def make_loader(client: Client, bucket: str, dataset: str, workers: int, batch: int,
                persistent: bool = False) -> DataLoader[Any]:
    bck = client.bucket(bucket)
    more = {"persistent_workers": persistent} if workers else {}
    if dataset == "shards":
        return DataLoader(AISShardReader(bucket_list=bck, prefix_map={bck: "shards/"}), batch_size=batch,
                          num_workers=workers, collate_fn=collate_shard_samples, **more)
    if dataset == "map":
        return DataLoader(AISMapDataset(bck, prefix_map={bck: "samples/"}), batch_size=batch, shuffle=True,
                          num_workers=workers, collate_fn=collate_sample_objects, **more)
    return DataLoader(AISIterDataset(bck, prefix_map={bck: "samples/"}), batch_size=batch, num_workers=workers,
                      collate_fn=collate_sample_objects, **more)


def main() -> int:
    ap = argparse.ArgumentParser(description="train a tiny model on ais://BUCKET through aistore.pytorch")
    ap.add_argument("--endpoint", default=os.environ.get("AIS_ENDPOINT", "http://127.0.0.1:8080"))
    ap.add_argument("--bucket", default="train")
    ap.add_argument("--dataset", choices=["shards", "map", "iter"], default="shards")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()

    loader = make_loader(Client(args.endpoint), args.bucket, args.dataset, args.workers, args.batch)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses: list[float] = []
    seen: set[str] = set()
    samples = 0
    started = time.monotonic()
    for _ in range(args.epochs):
        for images, labels, keys in loader:
            loss = torch.nn.functional.cross_entropy(model(images.float() / 255.0), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(round(loss.item(), 4))
            seen.update(keys)
            samples += len(keys)
    elapsed = time.monotonic() - started
    print(json.dumps({"dataset": args.dataset, "workers": args.workers, "samples": samples, "unique": len(seen),
                      "samples_per_s": round(samples / elapsed, 1), "loss_first": losses[0],
                      "loss_last": losses[-1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
