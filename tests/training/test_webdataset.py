"""WebDataset reading tar shards from an ais:// bucket through the S3 API (pipe: URLs with the aws
CLI, and s3fs streams) and through its own ais:// URLs (our ais CLI, native API); shards and
samples shuffled, several DataLoader workers."""

from __future__ import annotations

import pytest

pytest.importorskip("webdataset", reason="the training clients: run `make test-training`")

from tests.training.conftest import SAMPLES, SHARDS, Dataset, Mesh, run_example


@pytest.mark.parametrize("source", ["pipe", "fsspec", "ais"])
def test_webdataset_reads_shuffled_shards_with_workers(mesh: Mesh, dataset: Dataset, source: str) -> None:
    report, _ = run_example("webdataset/train_wds.py", "--endpoint", mesh.url, "--bucket", dataset.bucket,
                            "--source", source, "--shards", str(SHARDS), "--workers", "4", "--epochs", "2")
    assert report["unique"] == SAMPLES  # every shard read, each once an epoch (checksums checked by the example)
    assert report["samples"] == 2 * SAMPLES
    assert report["epoch_orders_differ"]  # shuffled anew each epoch
    keys = report["first_keys"]
    assert keys != sorted(keys) or keys[0] != "sample-000000"  # not in the order they were written
    assert report["loss_last"] < report["loss_first"]
