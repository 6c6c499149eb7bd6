"""PyTorch through the aistore SDK's own datasets (aistore.pytorch) into DataLoaders with workers."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the training clients: run `make test-training`")

from tests.training.conftest import SAMPLES, Dataset, Mesh, run_example


@pytest.mark.parametrize("reader", ["shards", "map", "iter"])
def test_aistore_pytorch_dataset_trains_with_workers(mesh: Mesh, dataset: Dataset, reader: str) -> None:
    """AISShardReader over tar shards, AISMapDataset and AISIterDataset over sample objects, 4 workers:
    every sample arrives once an epoch, matches its checksum (the example checks each), and the loss falls."""
    report, _ = run_example("pytorch/train_torch.py", "--endpoint", mesh.url, "--bucket", dataset.bucket,
                            "--dataset", reader, "--workers", "4", "--epochs", "2")
    assert report["unique"] == SAMPLES
    assert report["samples"] == 2 * SAMPLES
    assert report["loss_last"] < report["loss_first"]
